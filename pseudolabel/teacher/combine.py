"""Combine the teacher's probability views into one: a weighted mean, each view counting as much as it is worth."""

from __future__ import annotations

import numpy as np


def weighted_mean(views: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """The mean of the probability views, each weighted by ``weights[name]`` (1 when absent).

    Views of weight 0 are left out; with no view of positive weight, raises ``ValueError``.
    Rows still sum to one.
    """
    weights = weights or {}
    used = [(name, float(weights.get(name, 1.0))) for name in views if float(weights.get(name, 1.0)) > 0]
    if not used:
        raise ValueError(f"no probability view has a positive weight among {sorted(views)}")
    total = sum(w for _, w in used)
    out = np.zeros(np.shape(views[used[0][0]]), dtype=np.float64)
    for name, w in used:
        out += (w / total) * np.asarray(views[name], dtype=np.float64)
    return out
