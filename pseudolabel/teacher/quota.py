"""Class-balanced shares of a probability matrix: the rule behind the curriculum and the inner rounds.

When a share of the pool is taken, how many rows may each class take? By default, that share
of the rows predicted as it (``prior="predicted"``, the per-class percentile of Curriculum
Labeling): a class gets as many as the teacher believes it has. ``prior="uniform"`` gives every
class the same number instead, which corrects a teacher that over-predicts a class, but fills
the rare classes of an unbalanced pool with wrong labels.

Measured on AG News seed 0 (the teacher of round 0: the fine-tuned student plus self-trained
linear heads; 10 gold labels per class; pool accuracy of the teacher): on the balanced pool,
uniform 84.6, predicted 83.6; on the same pool cut to 55/25/12/8%, uniform 72.7, predicted
85.8. A prior estimated by expectation-maximisation (Saerens et al., 2002) was also tried: 68.2
and 84.0, unstable on the balanced pool because the heads' probabilities are overconfident.
The default must not break on unbalanced data, so it is ``predicted``.
"""

from __future__ import annotations

import numpy as np

from ..selection import top_by_confidence

PRIORS = ("predicted", "uniform")


def per_class(probs: np.ndarray) -> np.ndarray:
    """How many rows predict each class (the argmax of ``probs``)."""
    return np.bincount(np.asarray(probs).argmax(axis=1), minlength=np.shape(probs)[1])


def class_quota(probs: np.ndarray, share: float, *, prior: str = "predicted") -> np.ndarray:
    """How many rows each class may take when ``share`` of the ``n`` rows are taken.

    ``prior`` sets each class's part of ``share * n``: ``"predicted"`` the share of rows
    predicted as it, ``"uniform"`` ``1 / n_classes``. A class never takes more rows than are
    predicted as it.
    """
    n, n_classes = probs.shape
    predicted = per_class(probs)
    if prior == "uniform":
        parts = np.full(n_classes, 1.0 / n_classes)
    elif prior == "predicted":
        parts = predicted / max(n, 1)
    else:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    return np.minimum(np.round(share * n * parts).astype(np.int64), predicted)


def balanced_take(probs: np.ndarray, share: float, *, prior: str = "predicted") -> np.ndarray:
    """Row indices (ascending) of the most confident rows of each class, within :func:`class_quota`.

    Rows are ranked by the probability of their predicted class; ties go to the lower row. A
    share of 1 or more takes every row: at full coverage there is nothing left to choose.
    """
    probs = np.asarray(probs)
    if not len(probs) or share >= 1:
        return np.arange(len(probs), dtype=np.int64)
    predicted, confidence = probs.argmax(axis=1), probs.max(axis=1)
    kept = []
    for c, k in enumerate(class_quota(probs, share, prior=prior)):
        kept.append(top_by_confidence(np.flatnonzero(predicted == c), confidence, k))
    return np.sort(np.concatenate(kept)).astype(np.int64)
