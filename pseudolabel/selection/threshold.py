"""Fixed confidence threshold, optionally capped per class or balanced across classes."""

from __future__ import annotations

import numpy as np


def select_by_threshold(probs: np.ndarray, config, *, round: int, share: float | None = None):
    """Take rows whose top probability is strictly above ``config.threshold``.

    With ``config.max_per_class`` each class keeps at most that many rows, the most confident
    first. With ``config.balance`` every class is cut to the count of the class with the fewest
    rows above the threshold, so the selection never tilts towards one class (and is empty while
    any class has none).
    """
    from . import Selection, top_by_confidence

    n_classes = probs.shape[1]
    confidence = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    passing = np.flatnonzero(confidence > config.threshold)
    counts = np.bincount(predicted[passing], minlength=n_classes)
    cap = int(counts.max())
    if config.max_per_class is not None:
        cap = min(cap, config.max_per_class)
    if config.balance:
        cap = min(cap, int(counts.min()))
    kept = [
        top_by_confidence(passing[predicted[passing] == c], confidence, cap) for c in range(n_classes)
    ]
    return Selection.from_indices(probs, np.concatenate(kept) if kept else np.zeros(0, np.int64))
