"""What each trusted pool row is trained on: the teacher's label, its probabilities, and a weight.

USB's split: selection decides *which* rows to trust; this stage decides *what target* they
get. ``hard``: the teacher's most probable class (the trainer smooths it by
``train.label_smoothing``). ``soft``: the teacher's whole probability vector, sharpened
(``soft_temperature`` < 1) or flattened (> 1). ``pseudo_weight: confidence`` scales each row's
loss by the teacher's confidence in its label (gold rows weigh 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainTargets:
    """Targets of the rows a round's teacher picked, in the order of its picks.

    Attributes
    ----------
    labels : ndarray of int64
        The teacher's class for each row.
    confidence : ndarray of float64
        The teacher's probability of that class.
    probs : ndarray of float64
        ``(n, n_classes)``: the teacher's probabilities (the soft target after ``soft_temperature``).
    weights : ndarray of float64
        Loss weight of each row.
    """

    labels: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray
    weights: np.ndarray


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)``: the same ranking, sharper for T < 1, flatter for T > 1."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def build_targets(probs: np.ndarray, labels: np.ndarray, *, soft_temperature: float = 1.0,
                  pseudo_weight: str = "none") -> TrainTargets:
    """Targets for picked rows from the teacher's probabilities ``probs`` (one row per pick).

    ``labels`` are the classes the selection gave them (the teacher's argmax).
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confidence = probs[np.arange(len(labels)), labels] if len(labels) else np.zeros(0)
    if pseudo_weight == "confidence":
        weights = confidence.copy()
    elif pseudo_weight == "none":
        weights = np.ones(len(labels))
    else:
        raise ValueError(f"pseudo_weight must be 'none' or 'confidence', got {pseudo_weight!r}")
    soft = sharpen(probs, soft_temperature) if len(labels) else probs
    return TrainTargets(labels, confidence, soft, weights)
