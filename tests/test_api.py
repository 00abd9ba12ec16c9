"""Tier 2: the real from_pretrained path with a tiny random BERT: API, run folder, pipeline, CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import transformers

from pseudolabel import ConfigError, DataError, SelfTrainer
from pseudolabel.cli import main
from pseudolabel.trainer import Trainer, make_accelerator

from .conftest import topic_frame

FAST = {"train": {"epochs": 2, "min_steps": 1, "max_steps": None, "batch_size": 8, "learning_rate": 1e-3,
                  "mixed_precision": "no"},
        "model": {"max_length": 32}, "teacher": {"inner_rounds": 2}}


def test_tiny_bert_tokenizer_is_real(tiny_bert):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    ids = tok("the team won the football match")["input_ids"]
    assert tok.unk_token_id not in ids


def test_fit_predict_and_run_folder(tiny_bert, tmp_path):
    labeled, pool, dev = topic_frame(8, 0), topic_frame(20, 1).drop(columns="label"), topic_frame(6, 2)
    out = tmp_path / "run"
    st = SelfTrainer(model=str(tiny_bert), max_rounds=2, output_dir=out, seed=0, config=FAST)
    assert st.fit(labeled, pool, eval=dev) is st
    assert st.n_rounds_ == len(st.history_) - 1 >= 1
    assert st.termination_condition_ in {"max_rounds", "no_change", "all_labeled"}
    assert list(st.classes_) == ["sports", "tech"]
    pred = st.predict(["the striker scored a goal", "the laptop has a new chip"])
    assert set(pred) <= {"sports", "tech"}
    proba = st.predict_proba(["the striker scored a goal"])
    assert proba.shape == (1, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert set(st.pseudo_labels_.columns) == {"pool_row", "text", "label", "confidence", "round", "probs", "weight"}

    for r in range(len(st.history_)):
        d = out / "rounds" / f"round_{r:03d}"
        assert (d / "model" / "model.safetensors").is_file() and (d / "model" / "tokenizer.json").is_file()
        assert (d / "pseudo_labels.parquet").is_file() and json.loads((d / "metrics.json").read_text())["round"] == r
    history = pd.read_csv(out / "history.csv")
    for col in ("round", "n_labeled", "n_pseudo_total", "n_selected", "selection_rate", "eval_accuracy",
                "eval_macro_f1", "wall_seconds", "selected_sports", "selected_tech"):
        assert col in history.columns
    assert (out / "config.yaml").is_file() and (out / "run.json").is_file()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt")), "safetensors only"

    clf = transformers.pipeline("text-classification", model=str(out / "final"))
    assert clf("the player scored twice")[0]["label"] in {"sports", "tech"}


def test_integer_labels_and_supervised_baseline(tiny_bert, tmp_path):
    labeled = topic_frame(6, 0, labels=(10, 20)).rename(columns={"text": "question", "label": "topic"})
    pool = topic_frame(5, 1).rename(columns={"text": "question"}).drop(columns="label")
    st = SelfTrainer(model=str(tiny_bert), max_rounds=0, output_dir=tmp_path / "r", config=FAST)
    st.fit(labeled, pool, text_column="question", label_column="topic")
    assert st.n_rounds_ == 0 and st.termination_condition_ == "max_rounds" and len(st.pseudo_labels_) == 0
    pred = st.predict(["the coach praised the striker"])
    assert pred[0] in (10, 20) and isinstance(pred[0], int)


def test_same_seed_same_run(tiny_bert, tmp_path):
    labeled, pool = topic_frame(6, 0), topic_frame(10, 1)
    runs = [SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=tmp_path / f"r{i}", seed=3, config=FAST)
            .fit(labeled, pool) for i in range(2)]
    pd.testing.assert_frame_equal(runs[0].pseudo_labels_, runs[1].pseudo_labels_)
    timings = ["train_seconds", "label_seconds", "teacher_seconds", "wall_seconds"]
    pd.testing.assert_frame_equal(runs[0].history_.drop(columns=timings), runs[1].history_.drop(columns=timings))
    texts = pool["text"].tolist()
    np.testing.assert_array_equal(runs[0].predict_proba(texts), runs[1].predict_proba(texts))


def test_bf16_labels_agree_with_float32(tiny_bert, tmp_path):
    from pseudolabel.config import TrainConfig

    texts = topic_frame(30, 4)["text"].tolist()
    probs = {}
    for precision in ("no", "bf16"):
        t = Trainer(str(tiny_bert), ["a", "b"], config=TrainConfig(mixed_precision=precision, eval_batch_size=7),
                    max_length=32, accelerator=make_accelerator())
        t.fit(texts[:10], np.array([0, 1] * 5), seed=0)
        probs[precision] = t.predict_proba(texts)
    assert np.abs(probs["no"] - probs["bf16"]).max() < 0.05


def test_bad_input_writes_nothing(tiny_bert, tmp_path):
    out = tmp_path / "run"
    labeled, pool = topic_frame(4, 0), topic_frame(4, 1)
    with pytest.raises(DataError, match="no column 'txt'; the columns are: text, label"):
        SelfTrainer(model=str(tiny_bert), output_dir=out, config=FAST).fit(labeled, pool, text_column="txt")
    with pytest.raises(ConfigError, match="selection.threshold"):
        SelfTrainer(model=str(tiny_bert), output_dir=out, threshold=1.5).fit(labeled, pool)
    with pytest.raises(ConfigError, match="model.name .*not the alias 'minilm', a local model folder"):
        SelfTrainer(model=str(tmp_path / "no-model"), output_dir=out).fit(labeled, pool)
    (tmp_path / "cfg-only").mkdir()
    (tmp_path / "cfg-only" / "config.json").write_text((tiny_bert / "config.json").read_text())
    with pytest.raises(ConfigError, match="no .safetensors weights in the folder"):
        SelfTrainer(model=str(tmp_path / "cfg-only"), output_dir=out).fit(labeled, pool)
    (tmp_path / "cfg-only" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ConfigError, match="found pytorch_model.bin: pickled weights are never loaded"):
        SelfTrainer(model=str(tmp_path / "cfg-only"), output_dir=out).fit(labeled, pool)
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        SelfTrainer(model=str(tmp_path / "empty-model"), output_dir=out).fit(labeled, pool)
    assert not out.exists()


def test_cli_end_to_end(tiny_bert, tmp_path, capsys, monkeypatch):
    # No output_dir in the config: the run goes to runs/default under the working directory, and
    # the next call finds it there (not in a new temporary folder each time).
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    topic_frame(8, 0).to_csv(data / "lab.csv", index=False)
    topic_frame(12, 1).to_json(data / "pool.jsonl", orient="records", lines=True)
    topic_frame(6, 2).to_parquet(data / "dev.parquet")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
data: {{labeled: {data / 'lab.csv'}, unlabeled: {data / 'pool.jsonl'}, eval: {data / 'dev.parquet'}}}
model: {{name: {tiny_bert}, max_length: 32}}
train: {{epochs: 2, min_steps: 1, max_steps: null, batch_size: 8, learning_rate: 1.0e-3, mixed_precision: "no"}}
teacher: {{inner_rounds: 2}}
loop: {{max_rounds: 1}}
""")
    assert main(["run-round", "--config", str(cfg)]) == 0
    assert "round 0 done; run again" in capsys.readouterr().out
    assert main(["run-round", "--config", str(cfg)]) == 0
    assert "run finished after round 1" in capsys.readouterr().out
    assert main(["run-round", "--config", str(cfg)]) == 0
    assert "all rounds are done" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "runs" / "default" / "rounds").iterdir()) == ["round_000", "round_001"]

    assert main(["run-round", "--config", str(cfg), "--set", "seed=5"]) == 2
    assert "belongs to a different config (seed: 0 -> 5)" in capsys.readouterr().err

    out = tmp_path / "pred.csv"
    assert main(["predict", "--run", str(tmp_path / "runs" / "default"), "--input", str(data / "dev.parquet"),
                 "--output", str(out)]) == 0
    assert f"wrote 12 predictions to {out}" in capsys.readouterr().out
    pred = pd.read_csv(out)
    assert len(pred) == 12 and set(pred["prediction"]) <= {"sports", "tech"} and "confidence" in pred

    assert main(["evaluate", "--run", str(tmp_path / "runs" / "default"), "--input", str(data / "dev.parquet"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == {"sports", "tech"} and len(report["confusion_matrix"]["rows_true_cols_pred"]) == 2
    assert main(["evaluate", "--run", str(tmp_path / "runs" / "default"), "--input", str(data / "dev.parquet")]) == 0
    assert "confusion matrix" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["run", "--config", "missing.yaml"], "config file not found: missing.yaml"),
    (["run", "--config", "experiments/ag_news_1k.yaml", "--set", "train.epochz=3"], "unknown config key 'train.epochz'"),
    (["run", "--config", "experiments/ag_news_1k.yaml", "--set", "selection.threshold=2"], "selection.threshold"),
    (["run", "--config", "experiments/ag_news_1k.yaml", "--set", "data.labeled=nope.csv"], "labeled: file not found: nope.csv"),
    (["predict", "--run", "no-such-run", "--input", "x.csv", "--output", "y.csv"], "no-such-run: not a pseudolabel run"),
    (["predict", "--run", "r", "--input", "x.csv", "--output", "y.txt"], "unsupported file type '.txt'"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys, monkeypatch, tmp_path):
    from .conftest import REPO

    monkeypatch.chdir(REPO)
    assert main(["-q"] + args + (["--set", f"output_dir={tmp_path / 'o'}"] if args[0] == "run" else [])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pseudolabel: error: ") and message in err
    assert not (tmp_path / "o").exists()


def test_config_settings_are_not_overridden_by_constructor_defaults(tmp_path):
    cfg = {"model": {"name": "some/model"}, "selection": {"threshold": 0.7}, "loop": {"max_rounds": 5}, "seed": 4,
           "output_dir": str(tmp_path / "r")}
    resolved = SelfTrainer(config=cfg)._resolve_config()
    assert (resolved.model.name, resolved.selection.threshold, resolved.loop.max_rounds, resolved.seed) == (
        "some/model", 0.7, 5, 4)
    explicit = SelfTrainer(model="other", threshold=0.8, max_rounds=1, seed=2, config=cfg)._resolve_config()
    assert (explicit.model.name, explicit.selection.threshold, explicit.loop.max_rounds, explicit.seed) == (
        "other", 0.8, 1, 2)


def test_label_descriptions_are_checked_before_anything_is_written(tiny_bert, tmp_path):
    labeled, pool = topic_frame(6, 0), topic_frame(10, 1).drop(columns="label")
    out = tmp_path / "r"
    cases = [
        ({"sports": ["a game"], "tech": ["a chip"], "food": ["a meal"]}, "'food' is not a class of the labeled data"),
        ({"sports": ["a game"]}, r"no description for class\(es\) \['tech'\]"),
        ({"sports": ["a game", "  "], "tech": ["a chip"]}, "class 'sports', sentence 1: empty"),
        ({"sports": ["a game"], "tech": [3]}, "class 'tech', sentence 0: not a string"),
        (["a game"], "expected a mapping of each class"),
    ]
    for descriptions, message in cases:
        with pytest.raises(DataError, match=message):
            SelfTrainer(model=str(tiny_bert), output_dir=out, config=FAST).fit(labeled, pool,
                                                                               label_descriptions=descriptions)
    assert not out.exists()
    path = tmp_path / "d.json"  # JSON keys are strings: integer labels still match
    path.write_text(json.dumps({"10": ["a game"], "20": ["a chip"]}))
    ints = topic_frame(6, 0, labels=(10, 20))
    st = SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=out, config=FAST)
    st.fit(ints, pool, label_descriptions=path)
    teacher = json.loads((out / "rounds" / "round_000" / "teacher.json").read_text())
    assert 0 <= teacher["descriptions"]["weight"] <= 1
    with pytest.raises(Exception, match="different data"):  # the descriptions are part of the fingerprint
        SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=out, config=FAST).fit(
            ints, pool, label_descriptions={10: ["a match"], 20: ["a chip"]})


def test_tensorboard_gets_each_steps_loss_and_each_rounds_metrics(tiny_bert, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    labeled, pool, dev = topic_frame(6, 0), topic_frame(10, 1), topic_frame(4, 2)
    config = {**FAST, "train": {**FAST["train"], "log_with": ["tensorboard"]}}
    st = SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=tmp_path / "r", config=config)
    st.fit(labeled, pool, eval=dev)
    events = [p for p in (tmp_path / "r" / "logs").rglob("events.out.tfevents.*")]
    assert events, "tensorboard wrote its event file in the run folder"
    tags = set()
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
        if "eval_accuracy" in acc.Tags()["scalars"]:
            assert [e.step for e in acc.Scalars("eval_accuracy")] == [0, 1]
            assert acc.Scalars("eval_accuracy")[-1].value == pytest.approx(st.history_["eval_accuracy"].iloc[-1])
    assert {"round_0/loss", "round_1/loss", "eval_accuracy", "pseudo_precision", "view_accuracy/student"} <= tags
    with pytest.raises(ConfigError, match="train.log_with"):
        SelfTrainer(config={"train": {"log_with": ["tensorbored"]}})._resolve_config()
