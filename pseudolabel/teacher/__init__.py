"""The teacher: which pool rows the next student trains on, and with which targets.

A short pipeline of named stages over numpy arrays, run once per round after the round's
student has scored the pool; it never sees texts, models or files:

1. **views**: probability views of the candidates. The student's own probabilities come in;
   each stage named in ``teacher.views`` adds its own (:data:`VIEW_STAGES`):
   ``descriptions`` (zero-shot, from label descriptions), ``lexical`` (whether, and at which
   weight stacked on the gold rows, a TF-IDF head joins the linear heads, :mod:`.lexical`) and
   ``linear`` (self-trained linear heads in the student's features, the pretrained encoder's
   sentence embeddings and, if the lexical stage weighed it above 0, the TF-IDF space);
   ``held_out`` (last, in the last teacher only): fine-tuned students' predictions on the rows
   they never trained on (:func:`add_held_out`, trained by :mod:`pseudolabel.held_out`).
2. **combine**: one probability matrix, the weighted mean of the views (:mod:`.combine`),
   in the last round then moved towards each candidate's nearest neighbours' in the
   pretrained space (``teacher.neighbours``, ``teacher.neighbour_rounds``, :mod:`.neighbours`).
3. **select**: the rows to trust (``selection.strategy``, :mod:`pseudolabel.selection`).
4. **targets**: what each trusted row is trained on (:mod:`.targets`).

Every stage's fitted state goes into the round folder as ``teacher.json``; a new idea is a
new stage and one line in :data:`VIEW_STAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..selection import Selection, select
from .combine import weighted_mean
from .descriptions import DescriptionView, description_weight
from .lexical import StackedWeight, cross_fitted_teachers
from .linear import LinearSelfTraining
from .neighbours import NeighbourSmoothing, rows_moved
from .targets import TrainTargets, build_targets


@dataclass
class TeacherInput:
    """What the round loop hands the teacher; every array is row-aligned with the candidates.

    Attributes
    ----------
    round : int
        The round whose student scored the candidates.
    n_classes : int
    gold : ndarray of int64
        Class index of each gold row.
    probs : dict
        Probability views of the candidates, ``(n, n_classes)`` each; at least ``"student"``.
    spaces : dict
        Feature spaces: name -> ``(gold rows' features, candidates' features)``; e.g.
        ``"student"`` (the round's model), ``"pretrained"`` (the encoder before any training) and
        ``"lexical"`` (TF-IDF of the texts, ``scipy.sparse``).
    descriptions : ndarray or None
        ``(n_classes, dim)`` unit vectors of the label descriptions in the ``"pretrained"`` space.
    held_out : ndarray or None
        ``(n, n_classes)``: each candidate's probabilities from fine-tuned students that never
        trained on it (:mod:`pseudolabel.held_out`); only in a round that trains them.
    share : float or None
        The curriculum's share of the pool for the next round (see
        :func:`pseudolabel.selection.curriculum.curriculum_share`).
    seed : int
    """

    round: int
    n_classes: int
    gold: np.ndarray
    probs: dict[str, np.ndarray]
    spaces: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    descriptions: np.ndarray | None = None
    share: float | None = None
    seed: int = 0
    held_out: np.ndarray | None = None


@dataclass
class TeacherOutput:
    """The teacher's answer: picks (indices into the candidates), their targets, and what it saw."""

    picks: Selection
    targets: TrainTargets
    probs: np.ndarray
    views: dict[str, np.ndarray]
    state: dict


def add_descriptions(views: dict, weights: dict, inp: TeacherInput, config) -> dict:
    """The ``descriptions`` stage: a zero-shot view, weighted by its accuracy on the gold rows.

    Its weight (:func:`.descriptions.description_weight`) compares how far above chance it
    labels the gold rows with a linear head's cross-validated accuracy on the same rows in the
    same space: "is saying what the classes mean worth as much as the labels themselves?"
    """
    if inp.descriptions is None or "pretrained" not in inp.spaces:
        return {}
    gold_x, pool_x = inp.spaces["pretrained"]
    view = DescriptionView(inp.descriptions).fit(gold_x, inp.gold)
    views["descriptions"] = view.predict_proba(pool_x)
    linear = cross_validated_accuracy(gold_x, inp.gold, C=config.teacher.linear_c, seed=inp.seed)
    weight, upper = description_weight(view.gold_accuracy_, len(inp.gold), linear, inp.n_classes)
    weights["descriptions"] = weight
    return {"temperature": view.temperature_, "gold_accuracy": view.gold_accuracy_,
            "gold_accuracy_upper": upper, "linear_cv_accuracy": linear, "weight": weight}


def fixed_views(views: dict, weights: dict) -> dict:
    """The views the linear heads' inner rounds do not change: every view but theirs, of positive weight."""
    return {name: v for name, v in views.items() if not name.startswith("linear:") and weights.get(name, 1.0) > 0}


def configured_spaces(inp: TeacherInput, config) -> dict:
    """The feature spaces of ``teacher.spaces`` that the round scored, in that order."""
    return {name: inp.spaces[name] for name in config.teacher.spaces if name in inp.spaces}


def add_linear(views: dict, weights: dict, inp: TeacherInput, config) -> dict:
    """The ``linear`` stage: self-trained linear heads in every feature space (:mod:`.linear`).

    The spaces are ``teacher.spaces``, and the TF-IDF space last when the ``lexical`` stage gave it
    a positive weight.
    """
    spaces = configured_spaces(inp, config)
    if weights.get("linear:lexical", 0) > 0 and "lexical" in inp.spaces:
        spaces["lexical"] = inp.spaces["lexical"]
    if not spaces:
        return {}
    stage = LinearSelfTraining(inner_rounds=config.teacher.inner_rounds, C=config.teacher.linear_c,
                               prior=config.selection.prior, seed=inp.seed)
    fixed = fixed_views(views, weights)
    views.update(stage.run(spaces, inp.gold, inp.n_classes, fixed, lambda v: weighted_mean(v, weights)))
    return stage.state_


def add_lexical(views: dict, weights: dict, inp: TeacherInput, config) -> dict:
    """The ``lexical`` stage: the weight at which a TF-IDF head joins the linear heads, stacked on the gold rows.

    For each weight of :data:`.lexical.GRID`, the linear stage in the spaces no gold label shaped
    (:data:`UNTRAINED_SPACES`) runs without each fold of the gold rows and its teacher scores
    that fold (cross-fitting, :func:`.lexical.cross_fitted_teachers`); the weight is the one
    whose teacher best predicts the held-out gold rows (:class:`.lexical.StackedWeight`). A
    positive weight goes into ``weights["linear:lexical"]``, and the ``linear`` stage, which runs
    next, self-trains a head in the TF-IDF space with the others; at 0 the teacher is unchanged.
    It needs only the views the linear heads do not change, so it runs before ``linear``, and the
    linear heads' inner rounds run once.
    """
    if "lexical" not in inp.spaces:
        return {}
    if weights.get("student", 0) > 0:
        return {"weight": 0.0, "skipped": "the student's own view has no held-out gold probabilities"}
    if np.bincount(inp.gold, minlength=inp.n_classes).min() < 2:
        return {"weight": 0.0, "skipped": "a class has fewer than two gold rows to hold out"}
    dense = configured_spaces(inp, config)
    fixed = fixed_views(views, weights)
    fixed_gold = {}
    if "descriptions" in fixed:  # zero-shot: it never saw a gold label
        gold_x = inp.spaces["pretrained"][0]
        fixed_gold["descriptions"] = DescriptionView(inp.descriptions).fit(gold_x, inp.gold).predict_proba(gold_x)
    # Only spaces whose features never saw a gold label can judge on held-out gold rows: the
    # student was fine-tuned on every one of them (its head there scored 90% of AG News's gold
    # rows "held out" while labeling the pool 85% right), so it would always vote for weight 0.
    unseen = {name: dense[name] for name in UNTRAINED_SPACES if name in dense}
    if not unseen:
        return {"weight": 0.0, "skipped": f"no space untouched by the gold rows among {sorted(dense)}"}
    teachers, lexical_gold = cross_fitted_teachers(unseen, inp.spaces["lexical"], inp.gold, inp.n_classes, fixed,
                                                   fixed_gold, weights, C=config.teacher.linear_c,
                                                   prior=config.selection.prior, seed=inp.seed)
    stacked = StackedWeight().fit(teachers, lexical_gold, inp.gold)
    state = {"weight": stacked.weight_, "p_value": stacked.p_value_,
             "log_likelihood": {str(w): ll for w, ll in stacked.log_likelihood_.items()},
             "held_out_gold_accuracy": {str(w): float(np.mean(p.argmax(axis=1) == inp.gold))
                                        for w, p in teachers.items()},
             "lexical_held_out_gold_accuracy": float(np.mean(lexical_gold.argmax(axis=1) == inp.gold)),
             "n_features": int(inp.spaces["lexical"][0].shape[1])}
    if stacked.weight_ > 0:
        weights["linear:lexical"] = stacked.weight_
    return state


def add_held_out(views: dict, weights: dict, inp: TeacherInput, config) -> dict:
    """The ``held_out`` stage: the cross-fitted students' predictions (:mod:`pseudolabel.held_out`).

    The round's own student repeats its pseudo-labels on the rows it trained on (weight 0), but a
    student that never saw a row predicts it as a fine-tuned model would a new text: a view none
    of the linear heads is. It weighs as much as every view before it together (the weight
    measured, docs/benchmarks.md) and comes last, so it stays out of the linear heads' inner rounds.
    """
    if inp.held_out is None:
        return {"skipped": "no cross-fitted students this round (they train only for the last teacher, "
                           "on the picks of the one before)"}
    weight = float(sum(weights.get(name, 1.0) for name in views if weights.get(name, 1.0) > 0))
    views["held_out"] = np.asarray(inp.held_out)
    weights["held_out"] = weight
    return {"weight": weight, "folds": config.teacher.held_out_folds}


def smooth_by_neighbours(combined: np.ndarray, views: dict, inp: TeacherInput, config) -> tuple[np.ndarray, dict]:
    """The combination moved towards each candidate's nearest neighbours' (:mod:`.neighbours`).

    Neighbours are found in the ``"pretrained"`` space, which no pseudo-label has shaped. The
    combination before smoothing is kept as the view ``"combined"`` (weight 0: reported, never
    voted) so that a run with hidden pool labels shows what the smoothing changed. With
    ``teacher.neighbour_rounds: last`` only the last round's teacher is smoothed. ``moved``
    reports how many rows changed class on balance (the class shares the smoothing shifted).
    """
    if not config.teacher.smooths:
        return combined, {}
    if not config.teacher.smooths_round(inp.round, config.loop.max_rounds):
        return combined, {"skipped": f"round {inp.round} is not the last (teacher.neighbour_rounds: last)"}
    k, weight = config.teacher.neighbours, config.teacher.neighbour_weight
    if "pretrained" not in inp.spaces:
        return combined, {"skipped": "no pretrained space to find neighbours in"}
    if len(combined) < 2:
        return combined, {"skipped": "fewer than two candidates"}
    smoothing = NeighbourSmoothing(k=k, weight=weight, seed=inp.seed).fit(inp.spaces["pretrained"][1])
    smoothed = smoothing.transform(combined)
    views["combined"] = combined
    changed = float(np.mean(smoothed.argmax(axis=1) != combined.argmax(axis=1)))
    return smoothed, {"k": smoothing.neighbours_.shape[1], "weight": weight, "space": "pretrained",
                      "n_reference": smoothing.n_reference_, "changed": changed,
                      "moved": rows_moved(combined, smoothed)}


UNTRAINED_SPACES = ("pretrained",)
"""Feature spaces no gold label has shaped: the only ones the lexical stage's cross-fitting uses."""


VIEW_STAGES: dict[str, Callable] = {
    "descriptions": add_descriptions,
    "lexical": add_lexical,
    "linear": add_linear,
    "held_out": add_held_out,
}
"""Stages that add probability views, by the name ``teacher.views`` uses; they run in that order."""


class Teacher:
    """Runs the stages named by a :class:`~pseudolabel.config.Config` on one round's scores."""

    def __init__(self, config):
        self.config = config

    def run(self, inp: TeacherInput) -> TeacherOutput:
        cfg = self.config
        views = {name: np.asarray(p) for name, p in inp.probs.items()}
        weights = {name: 1.0 for name in views}
        if "student" in views and not cfg.teacher.student_view:
            weights["student"] = 0.0
        state: dict = {"round": inp.round}
        for name in cfg.teacher.views:
            state[name] = VIEW_STAGES[name](views, weights, inp, cfg)
        combined = weighted_mean(views, weights)
        state["combine"] = {"weights": {name: weights.get(name, 1.0) for name in views}}
        combined, state["neighbours"] = smooth_by_neighbours(combined, views, inp, cfg)
        picks = select(combined, cfg.selection, round=inp.round, share=inp.share)
        state["select"] = {"strategy": cfg.selection.strategy, "share": inp.share, "n_picked": len(picks),
                           "per_class": np.bincount(picks.labels, minlength=inp.n_classes).tolist()}
        targets = build_targets(combined[picks.indices], picks.labels, soft_temperature=cfg.train.soft_temperature,
                                pseudo_weight=cfg.train.pseudo_weight, pool_probs=combined)
        return TeacherOutput(picks, targets, combined, views, state)


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, *, C: float, seed: int, folds: int = 5) -> float:
    """Accuracy of a logistic regression on ``(x, y)`` by stratified k-fold (k <= the smallest class)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    k = min(folds, int(np.bincount(np.asarray(y)).min()))
    if k < 2:
        return float("nan")
    pred = cross_val_predict(LogisticRegression(C=C, max_iter=1000), np.asarray(x, dtype=np.float32), y,
                             cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    return float(np.mean(pred == y))
