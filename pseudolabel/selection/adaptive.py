"""Per-class thresholds that follow each class's learning status (FreeMatch, adapted to rounds)."""

from __future__ import annotations

import numpy as np


def adaptive_thresholds(probs: np.ndarray, config) -> np.ndarray:
    """One threshold per class, from the model's own confidence on the candidates.

    FreeMatch (Wang et al., 2023) sets a global threshold to the mean top probability the
    model gives unlabeled data and scales it per class by that class's mean probability, so a
    class the model is still unsure of gets a lower bar and the bars rise as training makes
    the model confident. Here the means are taken over the whole pool once per round instead of
    as moving averages over mini-batches. ``config.threshold`` is an upper bound on every
    class's bar, so a confident model still takes the rows a fixed threshold would.
    """
    n_classes = probs.shape[1]
    global_bar = float(probs.max(axis=1).mean())
    class_mass = probs.mean(axis=0)
    bars = class_mass / class_mass.max() * global_bar
    # Never below chance: a bar under 1/n_classes would take rows the model barely prefers.
    return np.clip(bars, 1.0 / n_classes, config.threshold)


def select_adaptive(probs: np.ndarray, config, *, round: int):
    """Rows whose top probability is strictly above their predicted class's adaptive bar.

    ``max_per_class`` caps each class (most confident first) like in the fixed threshold.
    """
    from . import Selection, top_by_confidence

    n, n_classes = probs.shape
    bars = adaptive_thresholds(probs, config)
    confidence = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    passing = np.flatnonzero(confidence > bars[predicted])
    cap = len(passing) if config.max_per_class is None else config.max_per_class
    kept = [top_by_confidence(passing[predicted[passing] == c], confidence, cap) for c in range(n_classes)]
    return Selection.from_indices(probs, np.concatenate(kept))
