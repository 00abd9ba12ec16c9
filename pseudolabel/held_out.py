"""Cross-fitted students: a fine-tuned prediction of every candidate from a student that never trained on it.

The round's own student repeats its pseudo-labels on the rows it trained on, so the teacher
leaves its probabilities out. In the round whose teacher labels the whole pool (``teacher.views``
ending in ``held_out``), :func:`cross_fitted_probs` splits the round's picks into
``teacher.held_out_folds`` class-balanced folds and trains one extra student per fold on the
gold rows and the other folds' picks; each labels its own fold, and the rows no teacher picked
get the mean of all of them. The teacher's ``held_out`` stage
(:func:`pseudolabel.teacher.add_held_out`) mixes that view into its combination.

Each student trains like the round's own (same rows but a fold, targets, weights and step rule),
so the view costs ``held_out_folds`` more fits and about one more pass over the pool.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pick_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold of each pick: every class's picks shuffled and dealt round-robin, so each fold
    holds about ``1 / folds`` of every class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        out[rows] = np.arange(len(rows)) % folds
    return out


def cross_fitted_probs(learner, texts: Sequence[str], fit_args: dict, n_gold: int, pick_positions: np.ndarray,
                       pool, n_classes: int, *, folds: int, seeds: Sequence[int], init_from: str | None = None,
                       desc: str = "held_out", out: np.ndarray | None = None) -> np.ndarray:
    """Each candidate's probabilities from students that never trained on it.

    ``texts`` and the arrays of ``fit_args`` (``labels``, and ``weights`` / ``soft_targets`` when
    given) are the round's training rows, the ``n_gold`` gold rows first, then the picks;
    ``pick_positions[i]`` is pick ``i``'s position among the candidates ``pool`` (-1 when it is
    not a candidate). Student ``f`` (seed ``seeds[f]``) trains on the gold rows and every pick not
    in fold ``f`` and scores fold ``f``'s candidates and the unpicked ones. Returns an
    ``(len(pool), n_classes)`` float32 array (``out`` when given: a memory-mapped scratch file
    for a pool of millions); the learner is left holding the last student.
    """
    pick_positions = np.asarray(pick_positions, dtype=np.int64)
    labels = np.asarray(fit_args["labels"])
    fold = pick_folds(labels[n_gold:], folds, seeds[0])
    unpicked = np.ones(len(pool), dtype=bool)
    unpicked[pick_positions[pick_positions >= 0]] = False
    rest = np.flatnonzero(unpicked)
    if out is None:
        out = np.zeros((len(pool), n_classes), dtype=np.float32)
    out[:] = 0
    for f in range(folds):
        keep = np.concatenate([np.arange(n_gold), n_gold + np.flatnonzero(fold != f)])
        args = {key: (value if key == "warm_rows" else np.asarray(value)[keep]) for key, value in fit_args.items()}
        learner.fit([texts[i] for i in keep], seed=seeds[f], init_from=init_from, desc=f"{desc}_{f}", **args)
        mine = pick_positions[(fold == f) & (pick_positions >= 0)]
        probs = np.asarray(learner.score(pool.subset(np.concatenate([mine, rest])))[0], dtype=np.float32)
        out[mine] = probs[:len(mine)]
        out[rest] += probs[len(mine):] / folds
    return out
