"""Tier 0: typed config loading, unknown keys, --set overrides with type checks."""

import pytest

from pseudolabel.config import Config, load_config
from pseudolabel.errors import ConfigError

from .conftest import REPO


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_shipped_config_loads_and_roundtrips():
    cfg = load_config(REPO / "experiments" / "ag_news_1k.yaml")
    assert cfg.model.name == "minilm" and cfg.train.learning_rate == 1e-4
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("text, key", [
    ("seeed: 1\n", "seeed"),
    ("train:\n  epoch: 3\n", "train.epoch"),
    ("selection:\n  treshold: 0.5\n", "selection.treshold"),
])
def test_unknown_key_is_named(tmp_path, text, key):
    with pytest.raises(ConfigError, match=f"unknown config key '{key}'"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("override, message", [
    ("train.epochs=three", "'train.epochs': got 'three', expected int"),
    ("train.epochs=2.5", "'train.epochs': got 2.5, expected int"),
    ("selection.threshold=1.0", "'selection.threshold': got 1.0, expected a number in \\(0, 1\\)"),
    ("selection.threshold=0", "'selection.threshold': got 0.0"),
    ("selection.mode=both", "expected one of accumulate, relabel"),
    ("selection.strategy=magic", "expected one of curriculum, threshold, topk"),
    ("loop.max_rounds=-1", "'loop.max_rounds': got -1"),
    ("train.final_students=0", "'train.final_students': got 0, expected an integer >= 1"),
    ("model.trust_remote_code=yes please", "expected bool"),
    ("nosuch.key=1", "unknown config key 'nosuch'"),
    ("train", "expected key.sub=value"),
])
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "experiments" / "ag_news_1k.yaml", [override])


def test_overrides_are_typed():
    cfg = load_config(REPO / "experiments" / "ag_news_1k.yaml",
                      ["train.max_steps=null", "selection.threshold=0.75", "train.learning_rate=3e-5",
                       "loop.patience=2", "data.eval=other.csv"])
    assert cfg.train.max_steps is None and cfg.selection.threshold == 0.75
    assert cfg.train.learning_rate == pytest.approx(3e-5) and cfg.loop.patience == 2
    assert cfg.data.eval == "other.csv"
    # YAML 1.1 reads a bare `no` as false: `train.mixed_precision=no` still means no mixed precision
    assert load_config(REPO / "experiments" / "ag_news_1k.yaml", ["train.mixed_precision=no"]).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="expected one of no, bf16, fp16"):
        load_config(REPO / "experiments" / "ag_news_1k.yaml", ["train.mixed_precision=yes"])


def test_unreadable_configs(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="section 'train' must be a mapping"):
        load_config(write(tmp_path, "train: 3\n"))
    # safe_load: a python object tag is refused, never executed
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "seed: !!python/object/apply:os.system ['echo hi']\n"))


def test_a_teacher_without_the_students_view_needs_the_linear_heads():
    from pseudolabel.config import Config

    for teacher in ({"student_view": False, "views": ["descriptions"]}, {"student_view": False, "spaces": []}):
        with pytest.raises(ConfigError, match="'teacher.student_view'.*the linear heads are the teacher"):
            Config.from_dict({"teacher": teacher})
    assert Config.from_dict({"teacher": {"student_view": False}}).teacher.student_view is False
