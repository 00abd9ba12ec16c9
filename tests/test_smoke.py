"""Smoke: the real bundled MiniLM on the 1k AG News subset in data/, rounds 0 and 1, through the CLI."""

import json

import pandas as pd
import pytest
import transformers

from pseudolabel.cli import main

from .conftest import REPO

pytestmark = pytest.mark.slow


def test_minilm_two_rounds_on_the_1k_subset(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    run = tmp_path / "run"
    args = ["run", "--config", "experiments/ag_news_1k.yaml", "--set", f"output_dir={run}",
            "--set", "loop.max_rounds=1", "train.min_steps=60", "train.max_steps=100"]
    assert main(args) == 0
    assert "run finished after round 1" in capsys.readouterr().out

    for name in ("config.yaml", "run.json", "labels.json", "history.csv", "final/final.json",
                 "final/model.safetensors", "final/tokenizer.json", "final/config.json"):
        assert (run / name).is_file(), name
    for r in (0, 1):
        d = run / "rounds" / f"round_{r:03d}"
        assert (d / "model" / "model.safetensors").is_file() and (d / "metrics.json").is_file()
        taken = pd.read_parquet(d / "pseudo_labels.parquet")
        assert list(taken.columns) == ["pool_row", "text", "label", "confidence", "round", "probs", "weight"]
    history = pd.read_csv(run / "history.csv")
    assert history["round"].tolist() == [0, 1]
    first = history.iloc[0]  # one round after round 0: its teacher labels the whole pool
    assert first["n_selected"] == 700 and first["pseudo_precision"] > 0.75, first.to_dict()
    assert history.iloc[1]["n_pseudo_total"] == first["n_selected"]

    # Held-back rows of the subset: the 200 eval rows, 25% each class.
    assert history["eval_accuracy"].max() > 0.6, history[["round", "eval_accuracy"]]
    clf = transformers.pipeline("text-classification", model=str(run / "final"))
    assert clf("Stocks fell on Wall Street as oil prices rose")[0]["label"] in {"World", "Sports", "Business", "Sci/Tech"}

    assert main(["evaluate", "--run", str(run), "--input", "data/ag_news_1k/eval.csv", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    final_round = json.loads((run / "final" / "final.json").read_text())["round"]
    assert report["accuracy"] == pytest.approx(history["eval_accuracy"][final_round], abs=0.011)
