"""Selection strategies: which pool rows to trust, given the model's class probabilities.

A strategy is a pure function ``fn(probs, config, *, round) -> Selection`` over a numpy array of
shape ``(n_rows, n_classes)`` with at least one row (:func:`select` answers an empty matrix
itself); it never sees texts, models or files. One that sets the attribute
``needs_mc_dropout`` also gets ``uncertainty=`` (a BALD score per row from dropout passes). Adding one is one module in
this package plus one line in :data:`STRATEGIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .adaptive import select_adaptive
from .calibrated import select_calibrated
from .threshold import select_by_threshold
from .topk import select_top_k
from .uncertainty import select_uncertainty


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


STRATEGIES = {
    "threshold": select_by_threshold,
    "topk": select_top_k,
    "adaptive": select_adaptive,
    "calibrated": select_calibrated,
    "uncertainty": select_uncertainty,
}


def needs_mc_dropout(config) -> bool:
    """Whether the strategy wants Monte-Carlo dropout scores (the loop then runs extra passes)."""
    return getattr(STRATEGIES[config.strategy], "needs_mc_dropout", False)


def select(probs: np.ndarray, config, *, round: int, uncertainty: np.ndarray | None = None) -> Selection:
    """Run the strategy named by ``config.strategy`` on ``probs``.

    ``uncertainty`` (one score per row, lower = more certain) reaches only strategies that
    declare ``needs_mc_dropout``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be a 2-d array (rows, classes), got shape {probs.shape}")
    if probs.shape[0] == 0 or probs.shape[1] == 0:  # nothing to choose from: no strategy is asked
        return Selection.from_indices(probs, np.zeros(0, np.int64))
    fn = STRATEGIES[config.strategy]
    if needs_mc_dropout(config):
        return fn(probs, config, round=round, uncertainty=uncertainty)
    return fn(probs, config, round=round)
