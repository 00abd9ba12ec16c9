"""Curriculum to the whole pool (Cascante-Bonilla et al., "Curriculum Labeling", AAAI 2021).

Each round's teacher relabels the whole pool and the next student trains on a growing,
class-balanced share of it, most confident first: with ``loop.max_rounds = R``, the student of
round ``r`` sees ``r / R`` of the pool, so the last one trains on all of it. Early students learn
from the few rows the teacher is surest of; each, better than the last, feeds a teacher that
labels a larger share. How the share is split between classes is
:func:`pseudolabel.teacher.quota.class_quota`.
"""

from __future__ import annotations

import numpy as np


def curriculum_share(round: int, max_rounds: int) -> float:
    """Share of the pool that round ``round``'s teacher picks for the next student: ``(round + 1) / max_rounds``."""
    return min(1.0, (round + 1) / max(max_rounds, 1))


def select_curriculum(probs: np.ndarray, config, *, round: int, share: float | None = None):
    """The most confident ``share`` of the rows, split between classes by ``config.prior``.

    ``share`` defaults to ``config.fraction`` when the caller runs no curriculum.
    """
    from ..teacher.quota import balanced_take
    from . import Selection, top_by_confidence

    taken = balanced_take(probs, config.fraction if share is None else share, prior=config.prior)
    if config.max_per_class is not None:
        labels, confidence = probs[taken].argmax(axis=1), probs.max(axis=1)
        taken = np.concatenate([top_by_confidence(taken[labels == c], confidence, config.max_per_class)
                                for c in range(probs.shape[1])])
    return Selection.from_indices(probs, taken)
