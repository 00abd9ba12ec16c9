"""Class-balanced top-k: the same number of most confident rows for every class, every round."""

from __future__ import annotations

import numpy as np


def per_class_quota(n_candidates: int, n_classes: int, config) -> int:
    """Rows per class this round: ``fraction`` of the candidates shared equally, capped by ``max_per_class``."""
    k = int(round(config.fraction * n_candidates / max(n_classes, 1)))
    if config.max_per_class is not None:
        k = min(k, config.max_per_class)
    return max(k, 1) if n_candidates else 0


def select_top_k(probs: np.ndarray, config, *, round: int, share: float | None = None):
    """For each class, the ``k`` rows predicted as that class with the highest probability of it.

    ``k`` is :func:`per_class_quota`. No class can flood the selection however skewed the
    model's confidence is: a class the model rarely predicts gives what it has, and none of
    the other classes' rows. No absolute threshold is involved, so an underconfident model
    (a small encoder trained on a few labels) still starts self-training with its best rows.
    """
    from . import Selection, top_by_confidence

    n, n_classes = probs.shape
    k = per_class_quota(n, n_classes, config)
    confidence = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    kept = [top_by_confidence(np.flatnonzero(predicted == c), confidence, k) for c in range(n_classes)]
    return Selection.from_indices(probs, np.concatenate(kept))
