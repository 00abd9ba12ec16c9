"""What each trusted pool row is trained on: the teacher's label, its probabilities, and a weight.

USB's split: selection decides *which* rows to trust; this stage decides *what target* they
get. ``hard``: the teacher's most probable class (the trainer smooths it by
``train.label_smoothing``). ``soft``: the teacher's whole probability vector, sharpened
(``soft_temperature`` < 1) or flattened (> 1). ``pseudo_weight: rank`` (the default) scales
each row's loss by its rank among the rows the teacher gives the same class (see
:func:`class_rank`); ``confidence`` by the teacher's confidence in its label. Gold rows weigh 1.
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


def class_rank(confidence: np.ndarray, labels: np.ndarray, pool_probs: np.ndarray) -> np.ndarray:
    """Each pick's rank within its class: the share of the pool rows the teacher gives that class
    (its argmax over ``pool_probs``) whose confidence is at most the pick's, in (0, 1].

    The surest row of every class weighs 1 and its least sure about ``1 / n_c``, whatever the
    class's typical confidence: the teacher's raw confidences sit near 1 on most rows (AG News:
    0.98 on the rows it labels right, 0.88 on those it labels wrong), so weighting by them
    barely changes anything, while the rank follows the curriculum's own order.
    """
    pool_probs = np.asarray(pool_probs, dtype=np.float64)
    pool_labels, pool_confidence = pool_probs.argmax(axis=1), pool_probs.max(axis=1)
    weights = np.ones(len(labels))
    for c in np.unique(labels):
        mine = labels == c
        ranked = np.sort(pool_confidence[pool_labels == c])
        if len(ranked):  # a pick whose class no pool row has as argmax keeps weight 1
            weights[mine] = np.maximum(np.searchsorted(ranked, confidence[mine], side="right"), 1) / len(ranked)
    return weights


def build_targets(probs: np.ndarray, labels: np.ndarray, *, soft_temperature: float = 1.0,
                  pseudo_weight: str = "none", pool_probs: np.ndarray | None = None) -> TrainTargets:
    """Targets for picked rows from the teacher's probabilities ``probs`` (one row per pick).

    ``labels`` are the classes the selection gave them (the teacher's argmax). ``pool_probs``:
    the teacher's probabilities over every candidate, which ``pseudo_weight: rank`` ranks the
    picks among.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confidence = probs[np.arange(len(labels)), labels] if len(labels) else np.zeros(0)
    if pseudo_weight == "confidence":
        weights = confidence.copy()
    elif pseudo_weight == "rank":
        weights = class_rank(confidence, labels, probs if pool_probs is None else pool_probs)
    elif pseudo_weight == "none":
        weights = np.ones(len(labels))
    else:
        raise ValueError(f"pseudo_weight must be 'none', 'confidence' or 'rank', got {pseudo_weight!r}")
    soft = sharpen(probs, soft_temperature) if len(labels) else probs
    return TrainTargets(labels, confidence, soft, weights)
