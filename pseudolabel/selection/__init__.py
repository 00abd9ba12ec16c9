"""Selection strategies: which pool rows to trust, given the teacher's class probabilities.

A strategy is a pure function ``fn(probs, config, *, round, share) -> Selection`` over a numpy
array of shape ``(n_rows, n_classes)`` with at least one row (:func:`select` answers an empty
matrix itself); it never sees texts, models or files. ``share`` is the curriculum's share of the
pool for the next round (strategies that do not follow a curriculum ignore it). Adding one is
one module in this package plus one line in :data:`STRATEGIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Selection:
    """Rows chosen from a probability matrix.

    Attributes
    ----------
    indices : ndarray of int64
        Row positions into the probability matrix, unique and ascending.
    labels : ndarray of int64
        The class index given to each chosen row.
    confidence : ndarray of float64
        The probability of that class for each chosen row.
    """

    indices: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @classmethod
    def from_indices(cls, probs: np.ndarray, indices: np.ndarray) -> "Selection":
        """Label each chosen row with its most probable class."""
        indices = np.sort(np.asarray(indices, dtype=np.int64))
        labels = probs[indices].argmax(axis=1).astype(np.int64) if len(indices) else np.zeros(0, np.int64)
        confidence = probs[indices, labels].astype(np.float64) if len(indices) else np.zeros(0)
        return cls(indices, labels, confidence)


def top_by_confidence(candidates: np.ndarray, confidence: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates of highest confidence; ties go to the lower row index."""
    order = np.lexsort((candidates, -confidence[candidates]))
    return candidates[order[:k]]


from .curriculum import select_curriculum  # noqa: E402 - they import Selection from here
from .threshold import select_by_threshold  # noqa: E402
from .topk import select_top_k  # noqa: E402

STRATEGIES = {
    "curriculum": select_curriculum,
    "threshold": select_by_threshold,
    "topk": select_top_k,
}


def select(probs: np.ndarray, config, *, round: int, share: float | None = None) -> Selection:
    """Run the strategy named by ``config.strategy`` on ``probs``."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be a 2-d array (rows, classes), got shape {probs.shape}")
    if probs.shape[0] == 0 or probs.shape[1] == 0:  # nothing to choose from: no strategy is asked
        return Selection.from_indices(probs, np.zeros(0, np.int64))
    return STRATEGIES[config.strategy](probs, config, round=round, share=share)
