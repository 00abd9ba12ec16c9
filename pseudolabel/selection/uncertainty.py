"""Uncertainty-aware selection with Monte-Carlo dropout (UST, Mukherjee & Awadallah, 2020).

The loop labels the candidates with ``selection.mc_passes`` stochastic forward passes (dropout
on) and hands this strategy the mean probabilities and each row's BALD score: the mutual
information between the prediction and the model's weights, high where the passes disagree.
Rows the model labels the same way whatever dropout does are the ones to trust.
"""

from __future__ import annotations

import numpy as np

NEEDS_MC_DROPOUT = True


def bald(passes: np.ndarray) -> np.ndarray:
    """BALD per row from ``(n_passes, n_rows, n_classes)`` probabilities: H(mean) - mean(H)."""
    p = np.clip(passes, 1e-12, 1.0)
    mean = p.mean(axis=0)
    entropy_of_mean = -(mean * np.log(mean)).sum(axis=1)
    mean_entropy = -(p * np.log(p)).sum(axis=2).mean(axis=0)
    return np.maximum(entropy_of_mean - mean_entropy, 0.0)


def select_uncertainty(probs: np.ndarray, config, *, round: int, uncertainty: np.ndarray | None = None):
    """Class-balanced: per class, the ``k`` rows predicted as it with the lowest BALD.

    ``probs`` are the mean over the dropout passes and ``k`` is
    :func:`~pseudolabel.selection.topk.per_class_quota` (``fraction`` of the candidates shared
    between the classes, capped by ``max_per_class``). Ties in BALD go to the more confident row.
    Without MC-dropout scores (``uncertainty=None``) it ranks by confidence alone, like ``topk``.
    """
    from . import Selection
    from .topk import per_class_quota

    n, n_classes = probs.shape
    score = np.zeros(n) if uncertainty is None else np.asarray(uncertainty, dtype=np.float64)
    k = per_class_quota(n, n_classes, config)
    confidence = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    kept = []
    for c in range(n_classes):
        rows = np.flatnonzero(predicted == c)
        kept.append(rows[np.lexsort((rows, -confidence[rows], score[rows]))][:k])
    return Selection.from_indices(probs, np.concatenate(kept))


select_uncertainty.needs_mc_dropout = NEEDS_MC_DROPOUT
