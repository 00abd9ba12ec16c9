"""Typed run configuration: dataclasses loaded from YAML, ``--set`` overrides, validation."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from .errors import ConfigError


@dataclass
class DataConfig:
    """Where the labeled, unlabeled and evaluation tables are, and which columns to read.

    Paths are relative to the working directory. ``unlabeled`` may carry the label column: it is
    then hidden from training and used only to report pseudo-label precision.
    ``label_descriptions``: a YAML or JSON file mapping each class to sentences saying what it
    means. ``extra_labeled``: a filled ``pseudolabel review`` file (``pool_row``, ``label``);
    its rows join the gold rows from the next round on (it may change between rounds).
    """

    labeled: Optional[str] = None
    unlabeled: Optional[str] = None
    eval: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"
    label_descriptions: Optional[str] = None
    extra_labeled: Optional[str] = None


@dataclass
class ModelConfig:
    """The pretrained encoder: ``"minilm"`` (bundled), a Hugging Face model id, or a local folder."""

    name: str = "minilm"
    max_length: int = 128
    trust_remote_code: bool = False

    def validate(self) -> None:
        _check(self.max_length >= 8, "model.max_length", self.max_length, "an integer >= 8")


@dataclass
class TrainConfig:
    """How each round's student is fine-tuned.

    A student trains ``epochs`` passes over its rows, but never fewer than ``min_steps`` nor
    more than ``max_steps`` optimizer steps, a cap that rises to ``max_steps_per_class`` steps
    per class when there are many classes: a few dozen gold rows still get enough steps to fit
    a new head, a pool of millions still costs a bounded round, and a student of 77 classes is
    not stopped before it has seen each class often enough (600 steps are under one pass over a
    10k pool). ``log_with``: accelerate
    experiment trackers (``tensorboard``, ``wandb``, ``mlflow``, ...) that receive each step's
    loss and each round's metrics; they log into the run folder's ``logs/``.
    ``description_rows``: with label descriptions, each of their sentences also trains every
    student as a labeled row of its class (SetFit's use of them). Off: on SST-2 it raised round
    0 but lowered the mean of the final models (docs/benchmarks.md).
    ``pseudo_weight``: ``rank`` (the default) weighs each pseudo-labeled row by its rank among
    the pool rows the teacher gives its class, so the least sure part of the whole-pool round
    counts less; it raised every data set's mean (docs/benchmarks.md).
    ``gold_weight``: the loss weight of each gold row when the final student trains beside the
    last teacher's pseudo-labels (earlier students and round 0 weigh them 1). 4 (the default)
    raised Banking77 by a point on every seed and left AG News and SST-2 within a seed's noise
    (docs/benchmarks.md).
    ``final_students``: the final student is the weight mean of that many students trained from
    different seeds on the same rows (:mod:`pseudolabel.soup`); 1 (the default) trains one.
    ``head``: ``mean_pooling`` (the default), a linear head on the mean of the token states
    (:mod:`pseudolabel.mean_pooling`), warmed from a logistic regression on the gold rows' frozen
    features before each fresh student is fine-tuned; it raised every data set's mean over
    ``native``, the encoder's own ``AutoModelForSequenceClassification`` head (BERT's reads the
    first token). Its saved models load with ``trust_remote_code=True``.
    """

    epochs: int = 15
    min_steps: int = 150
    max_steps: Optional[int] = 600
    max_steps_per_class: int = 24
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    freeze_embeddings: bool = True
    init: Literal["pretrained", "previous"] = "pretrained"
    label_smoothing: float = 0.1
    pseudo_weight: Literal["none", "confidence", "rank"] = "rank"
    head: Literal["native", "mean_pooling"] = "mean_pooling"
    description_rows: bool = False
    gold_weight: float = 4.0
    targets: Literal["hard", "soft"] = "hard"
    soft_temperature: float = 1.0
    final_students: int = 1
    log_with: list = field(default_factory=list)

    def validate(self) -> None:
        _check(self.epochs >= 1, "train.epochs", self.epochs, "an integer >= 1")
        _check(self.min_steps >= 1, "train.min_steps", self.min_steps, "an integer >= 1")
        _check(
            self.max_steps is None or self.max_steps >= self.min_steps,
            "train.max_steps", self.max_steps, f"null or an integer >= train.min_steps ({self.min_steps})",
        )
        _check(self.max_steps_per_class >= 0, "train.max_steps_per_class", self.max_steps_per_class,
               "an integer >= 0")
        _check(self.batch_size >= 1, "train.batch_size", self.batch_size, "an integer >= 1")
        _check(self.eval_batch_size >= 1, "train.eval_batch_size", self.eval_batch_size, "an integer >= 1")
        _check(self.learning_rate > 0, "train.learning_rate", self.learning_rate, "a number > 0")
        _check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "a number >= 0")
        _check(0 <= self.warmup_ratio < 1, "train.warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        _check(self.gold_weight > 0, "train.gold_weight", self.gold_weight, "a number > 0")
        _check(self.final_students >= 1, "train.final_students", self.final_students, "an integer >= 1")
        _check(self.soft_temperature > 0, "train.soft_temperature", self.soft_temperature, "a number > 0")
        _check(0 <= self.label_smoothing < 1, "train.label_smoothing", self.label_smoothing, "a number in [0, 1)")
        from accelerate.utils import LoggerType

        known = sorted(t.value for t in LoggerType)
        for name in self.log_with:
            _check(name in known, "train.log_with", self.log_with, "a list of accelerate trackers: " + ", ".join(known))

    def steps(self, n_rows: int, n_classes: int = 1) -> int:
        """Optimizer steps for a student trained on ``n_rows`` rows of ``n_classes`` classes."""
        steps = max(self.epochs * math.ceil(n_rows / self.batch_size), self.min_steps)
        if self.max_steps is None:
            return steps
        return min(steps, max(self.max_steps, self.max_steps_per_class * n_classes))


@dataclass
class SelectionConfig:
    """Which pool rows are trusted each round, and how they join the training set.

    ``curriculum`` (the default) relabels the whole pool every round and takes a growing share
    of it, to all of it in the last round; ``topk`` takes ``fraction`` of the pool per round;
    ``threshold`` takes rows whose top probability passes ``threshold``.
    """

    strategy: str = "curriculum"
    prior: Literal["predicted", "uniform"] = "predicted"
    threshold: float = 0.9
    fraction: float = 0.1
    max_per_class: Optional[int] = None
    balance: bool = False
    mode: Literal["accumulate", "relabel"] = "relabel"

    def validate(self) -> None:
        from .selection import STRATEGIES

        _check(
            self.strategy in STRATEGIES, "selection.strategy", self.strategy,
            "one of " + ", ".join(sorted(STRATEGIES)),
        )
        _check(0 < self.threshold < 1, "selection.threshold", self.threshold, "a number in (0, 1)")
        _check(0 < self.fraction <= 1, "selection.fraction", self.fraction, "a number in (0, 1]")
        _check(
            self.max_per_class is None or self.max_per_class >= 1,
            "selection.max_per_class", self.max_per_class, "null or an integer >= 1",
        )
        _check(not (self.strategy == "curriculum" and self.mode == "accumulate"), "selection.mode", self.mode,
               "'relabel' with selection.strategy 'curriculum' (each round relabels the whole pool)")


@dataclass
class TeacherConfig:
    """The teacher between two students (:mod:`pseudolabel.teacher`).

    ``views`` are the stages that add probability views of the pool, in order:
    ``descriptions`` (zero-shot, when ``data.label_descriptions`` is given) and ``linear``
    (``inner_rounds`` rounds of self-training of a logistic regression of strength ``linear_c``
    in each feature space of ``spaces``: ``student``, the round's model's own mean-pooled
    features; ``pretrained``, the encoder's sentence embeddings before any training).
    ``lexical`` (before ``linear``): a TF-IDF head of the texts joins the linear heads, at the
    weight of {0, 1/4, 1} that best predicts gold rows held out by cross-fitting (not a default:
    see docs/benchmarks.md, "A lexical view (TF-IDF)").
    ``student_view``: whether the student's own probabilities join the combination; off by
    default (the linear head in its features carries it; see docs/benchmarks.md).
    ``class_names``: without label descriptions, string class names in the template "This
    sentence is {name}." serve as descriptions (a view only, never training rows).
    ``neighbours``: after the views are combined, each candidate's probabilities move
    ``neighbour_weight`` of the way to the mean of its ``neighbours`` nearest candidates' in the
    pretrained encoder's sentence embeddings (:mod:`pseudolabel.teacher.neighbours`); 0 turns
    it off. ``neighbour_rounds``: ``last`` (the default) smooths only the last round's teacher,
    the one whose picks are the whole pool, so the smoothing changes labels and not which rows
    the curriculum takes first; ``all`` smooths every round's (it lost 2 points on an AG News
    seed end to end, a class's share shrinking round after round). Both measured in
    docs/benchmarks.md.
    ``held_out`` (last in ``views``; not a default): in the round whose teacher labels the whole
    pool, ``held_out_folds`` extra students each train without one class-balanced fold of the
    round's picks and label it (:mod:`pseudolabel.held_out`), so every candidate gets a fine-tuned
    prediction from a student that never trained on it; that view weighs as much as the views
    before it together.
    """

    views: list = field(default_factory=lambda: ["descriptions", "linear"])
    spaces: list = field(default_factory=lambda: ["student", "pretrained"])
    inner_rounds: int = 10
    linear_c: float = 10.0
    student_view: bool = False
    class_names: bool = False
    neighbours: int = 10
    neighbour_weight: float = 0.5
    neighbour_rounds: str = "last"
    held_out_folds: int = 2

    @property
    def smooths(self) -> bool:
        """Whether the neighbour smoothing is on (``neighbours`` and ``neighbour_weight`` above 0)."""
        return self.neighbours > 0 and self.neighbour_weight > 0

    @staticmethod
    def last_teacher(round: int, max_rounds: int) -> bool:
        """Whether round ``round``'s teacher (of ``max_rounds``) is the last: the one whose labels
        the final student trains on."""
        return round + 1 == max_rounds

    def smooths_round(self, round: int, max_rounds: int) -> bool:
        """Whether round ``round``'s teacher (of ``max_rounds``) is smoothed (``neighbour_rounds``)."""
        return self.smooths and (self.neighbour_rounds == "all" or self.last_teacher(round, max_rounds))

    def held_out_round(self, round: int, max_rounds: int) -> bool:
        """Whether round ``round`` (of ``max_rounds``) trains the cross-fitted students of the
        ``held_out`` view: only the last teacher's."""
        return "held_out" in self.views and self.last_teacher(round, max_rounds)

    def validate(self) -> None:
        from .teacher import VIEW_STAGES

        for name in self.views:
            _check(name in VIEW_STAGES, "teacher.views", self.views, "a list of " + ", ".join(sorted(VIEW_STAGES)))
        _check("lexical" not in self.views or ("linear" in self.views
                                                and self.views.index("lexical") < self.views.index("linear")),
               "teacher.views", self.views, "'lexical' before 'linear' (the lexical stage weighs the TF-IDF head "
               "that the linear stage then self-trains with the others)")
        _check("held_out" not in self.views or self.views[-1] == "held_out", "teacher.views", self.views,
               "'held_out' last (the cross-fitted students' view weighs as much as the views before it together, "
               "and stays out of the linear heads' inner rounds)")
        _check(self.held_out_folds >= 2, "teacher.held_out_folds",
               self.held_out_folds, "an integer >= 2")
        for name in self.spaces:
            _check(name in SPACES, "teacher.spaces", self.spaces, "a list of " + ", ".join(SPACES))
        _check(self.inner_rounds >= 1, "teacher.inner_rounds", self.inner_rounds, "an integer >= 1")
        _check(self.linear_c > 0, "teacher.linear_c", self.linear_c, "a number > 0")
        _check(self.neighbours >= 0, "teacher.neighbours", self.neighbours, "an integer >= 0 (0: off)")
        _check(0 <= self.neighbour_weight <= 1, "teacher.neighbour_weight", self.neighbour_weight, "a number in [0, 1]")
        _check(self.neighbour_rounds in NEIGHBOUR_ROUNDS, "teacher.neighbour_rounds", self.neighbour_rounds,
               "one of " + ", ".join(NEIGHBOUR_ROUNDS))
        _check(self.student_view or ("linear" in self.views and bool(self.spaces)), "teacher.student_view",
               self.student_view, "true, unless teacher.views has 'linear' with at least one space "
               "(without the student's view, the linear heads are the teacher)")


SPACES = ("student", "pretrained")
NEIGHBOUR_ROUNDS = ("last", "all")


@dataclass
class LoopConfig:
    """When the rounds stop. ``max_rounds=0`` is exactly the supervised baseline."""

    max_rounds: int = 3
    patience: Optional[int] = None
    metric: Literal["accuracy", "macro_f1"] = "accuracy"

    def validate(self) -> None:
        _check(self.max_rounds >= 0, "loop.max_rounds", self.max_rounds, "an integer >= 0")
        _check(
            self.patience is None or self.patience >= 1,
            "loop.patience", self.patience, "null or an integer >= 1",
        )


@dataclass
class Config:
    """The whole resolved configuration of a run; written as ``config.yaml`` into the run folder."""

    output_dir: str = "runs/default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)

    def validate(self) -> "Config":
        """Check every value's range; raise :class:`ConfigError` naming the first bad key."""
        _check(bool(str(self.output_dir).strip()), "output_dir", self.output_dir, "a folder path")
        for section in (self.model, self.train, self.selection, self.teacher, self.loop):
            section.validate()
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, *, where: str = "config") -> "Config":
        """Build from nested dicts; an unknown key or a wrong type raises :class:`ConfigError`."""
        config = _build(cls, values, prefix="", where=where)
        try:
            return config.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML config and apply ``key.sub=value`` overrides, each type-checked."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}: {exc})".splitlines()[0]) from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(values).__name__}")
    for item in overrides:
        apply_override(values, item)
    return Config.from_dict(values, where=str(path))


def apply_override(values: dict, item: str) -> None:
    """Set ``a.b=value`` inside nested ``values``; the value is parsed as YAML (``null``, ``3``, ``0.5``)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key.sub=value")
    parts = key.strip().split(".")
    target = values
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {item!r}: {part!r} is not a section")
    try:
        target[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        target[parts[-1]] = raw


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key!r}: got {value!r}, expected {expected}")


def _build(cls: type, values: Any, *, prefix: str, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: section {prefix.rstrip('.') or 'top level'!r} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown config key {prefix + str(unknown[0])!r}; "
            f"known keys{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, raw in values.items():
        kwargs[name] = _coerce(hints[name], raw, key=prefix + name, where=where)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, *, key: str, where: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=key + ".", where=where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key=key, where=where)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value is False and "no" in choices:
            value = "no"  # YAML 1.1 reads a bare `no` (mixed_precision: no) as false
        if value not in choices:
            raise ConfigError(f"{where}: config key {key!r}: got {value!r}, expected one of {', '.join(map(str, choices))}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 5e-5 as a string
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{where}: config key {key!r}: got {value!r}, expected a list of names, e.g. [a, b]")
    raise ConfigError(f"{where}: config key {key!r}: got {value!r}, expected {getattr(hint, '__name__', hint)}")
