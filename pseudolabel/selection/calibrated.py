"""Target precision on calibrated probabilities: ask for 95% correct pseudo-labels, not for p > 0.9.

A fine-tuned encoder's raw probabilities say little about how often it is right (a small
model trained on a few labels is underconfident, a large one overconfident). Temperature
scaling (Guo et al., 2017) fits one number ``T`` so that ``softmax(logits / T)`` matches the
observed accuracy; the loop fits it on the gold rows by cross-fitting (see
:func:`pseudolabel.loop.calibrate`), inside the label budget, and rescales the probabilities
before this strategy sees them.
"""

from __future__ import annotations

import numpy as np

TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)``: the same ranking, sharper for T < 1, flatter for T > 1."""
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (grid over 0.05-20)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("temperature scaling needs at least one labeled row")
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        z = logp / t
        z -= z.max(axis=1, keepdims=True)
        nll = -(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(axis=1))).mean()
        if nll < best_nll - 1e-12:
            best, best_nll = float(t), nll
    return best


def select_calibrated(probs: np.ndarray, config, *, round: int):
    """Per class, the largest set of most confident rows whose expected precision >= target.

    With calibrated probabilities the mean confidence of a set of rows estimates the share of
    them that are labeled correctly. For each class, rows predicted as it are taken in order of
    confidence while the running mean stays at or above ``config.target_precision``; then
    ``max_per_class`` caps the count.
    """
    from . import Selection

    n, n_classes = probs.shape
    confidence = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    kept = []
    for c in range(n_classes):
        rows = np.flatnonzero(predicted == c)
        rows = rows[np.lexsort((rows, -confidence[rows]))]
        running = np.cumsum(confidence[rows]) / np.arange(1, len(rows) + 1)
        k = int(np.sum(running >= config.target_precision))  # running mean never rises
        if config.max_per_class is not None:
            k = min(k, config.max_per_class)
        kept.append(rows[:k])
    return Selection.from_indices(probs, np.concatenate(kept))
