"""Typed run configuration: dataclasses loaded from YAML, ``--set`` overrides, validation."""

from __future__ import annotations

import dataclasses
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
    """

    labeled: Optional[str] = None
    unlabeled: Optional[str] = None
    eval: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"


@dataclass
class ModelConfig:
    """The pretrained encoder: ``"minilm"`` (bundled), a Hugging Face model id, or a local folder.

    ``tapt_steps`` > 0 first trains it with masked-language modelling on the pool (TAPT).
    """

    name: str = "minilm"
    max_length: int = 128
    trust_remote_code: bool = False
    tapt_steps: int = 0
    tapt_learning_rate: float = 1e-4

    def validate(self) -> None:
        _check(self.max_length >= 8, "model.max_length", self.max_length, "an integer >= 8")
        _check(self.tapt_steps >= 0, "model.tapt_steps", self.tapt_steps, "an integer >= 0 (0 = off)")
        _check(self.tapt_learning_rate > 0, "model.tapt_learning_rate", self.tapt_learning_rate, "a number > 0")


@dataclass
class TrainConfig:
    """How each round's student is fine-tuned."""

    epochs: int = 10
    max_steps: Optional[int] = None
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    init: Literal["pretrained", "previous"] = "pretrained"
    label_smoothing: float = 0.0
    pseudo_weight: Literal["none", "confidence"] = "none"
    targets: Literal["hard", "soft"] = "hard"
    augment: float = 0.0
    soft_temperature: float = 1.0

    def validate(self) -> None:
        _check(self.epochs >= 1, "train.epochs", self.epochs, "an integer >= 1")
        _check(
            self.max_steps is None or self.max_steps >= 1,
            "train.max_steps", self.max_steps, "null or an integer >= 1",
        )
        _check(self.batch_size >= 1, "train.batch_size", self.batch_size, "an integer >= 1")
        _check(self.eval_batch_size >= 1, "train.eval_batch_size", self.eval_batch_size, "an integer >= 1")
        _check(self.learning_rate > 0, "train.learning_rate", self.learning_rate, "a number > 0")
        _check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "a number >= 0")
        _check(0 <= self.warmup_ratio < 1, "train.warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        _check(0 <= self.augment < 1, "train.augment", self.augment, "a number in [0, 1): the share of words changed")
        _check(self.soft_temperature > 0, "train.soft_temperature", self.soft_temperature, "a number > 0")
        _check(0 <= self.label_smoothing < 1, "train.label_smoothing", self.label_smoothing, "a number in [0, 1)")


@dataclass
class SelectionConfig:
    """Which pool rows are trusted each round, and how they join the training set."""

    strategy: str = "threshold"
    threshold: float = 0.9
    fraction: float = 0.1
    target_precision: float = 0.95
    max_per_class: Optional[int] = None
    balance: bool = False
    mode: Literal["accumulate", "relabel"] = "accumulate"
    agreement: Literal["none", "knn"] = "none"
    knn_k: int = 10
    mc_passes: int = 8

    def validate(self) -> None:
        from .selection import STRATEGIES

        _check(
            self.strategy in STRATEGIES, "selection.strategy", self.strategy,
            "one of " + ", ".join(sorted(STRATEGIES)),
        )
        _check(0 < self.threshold < 1, "selection.threshold", self.threshold, "a number in (0, 1)")
        _check(0 < self.fraction <= 1, "selection.fraction", self.fraction, "a number in (0, 1]")
        _check(0 < self.target_precision < 1, "selection.target_precision", self.target_precision,
               "a number in (0, 1)")
        _check(self.mc_passes >= 2, "selection.mc_passes", self.mc_passes, "an integer >= 2")
        _check(self.knn_k >= 1, "selection.knn_k", self.knn_k, "an integer >= 1")
        _check(
            self.max_per_class is None or self.max_per_class >= 1,
            "selection.max_per_class", self.max_per_class, "null or an integer >= 1",
        )


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
    loop: LoopConfig = field(default_factory=LoopConfig)

    def validate(self) -> "Config":
        """Check every value's range; raise :class:`ConfigError` naming the first bad key."""
        _check(bool(str(self.output_dir).strip()), "output_dir", self.output_dir, "a folder path")
        for section in (self.model, self.train, self.selection, self.loop):
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
    raise ConfigError(f"{where}: config key {key!r}: got {value!r}, expected {getattr(hint, '__name__', hint)}")
