"""report.png and the tables it draws, from run folders written by hand."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pseudolabel.config import Config
from pseudolabel.errors import RunStateError
from pseudolabel.report import MANY_CLASSES, draw_report, report_data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_run(root: Path, classes: list[str], *, n_rounds: int = 3, eval: bool = True, gold: bool = True,
                  final_round: int | None = 1, seed: int = 0) -> dict:
    """A run folder as the loop writes it, with known numbers; returns them for the assertions.

    Rounds 0 .. n_rounds-1 select pool rows; the last round stops before labeling, as a
    ``max_rounds`` stop does, so it has no selection. ``final_round=None`` leaves the run
    unfinished (no ``final/``, no stop).
    """
    rng = np.random.default_rng(seed)
    k = len(classes)
    root.mkdir(parents=True)
    config = Config(output_dir=str(root))
    config.data.eval = "data/intents/eval.csv" if eval else None
    (root / "config.yaml").write_text(config.to_yaml())
    (root / "labels.json").write_text(json.dumps({"classes": classes}))
    (root / "run.json").write_text(json.dumps({"config": config.to_dict(), "data_fingerprint": "f1ng3rpr1nt",
                                               "environment": {}}))
    truth = {"accuracy": [], "macro_f1": [], "selected": [], "precision": [], "confusion": {}}
    n_labeled, n_pseudo = 4 * k, 0
    for r in range(n_rounds + 1):
        last = r == n_rounds
        m = {"round": r, "n_labeled": n_labeled, "n_pseudo_total": n_pseudo, "future_key": {"nested": [1, 2]}}
        if eval:
            m["eval_accuracy"], m["eval_macro_f1"] = 0.6 + 0.07 * r + 0.01 * rng.random(), 0.5 + 0.08 * r
            cells = rng.integers(0, 3, size=(k, k)) * (rng.random((k, k)) < 4 / k) + np.diag(rng.integers(5, 20, size=k))
            m["eval_confusion_matrix"] = cells.tolist()
            truth["accuracy"].append(m["eval_accuracy"])
            truth["macro_f1"].append(m["eval_macro_f1"])
            truth["confusion"][r] = m["eval_confusion_matrix"]
        counts = np.zeros(k, dtype=int) if last and final_round is not None else rng.integers(1, 6, size=k) + r
        if k > MANY_CLASSES and counts.any():
            counts[:3] = 0  # some intents starve: the picture should say how many
        rows = int(counts.sum())
        if not (last and final_round is not None):
            m["n_candidates"] = 1000
            m["selected_per_class"] = dict(zip(classes, counts.tolist()))
            if gold and rows:
                m["pseudo_precision"] = 0.95 - 0.1 * r
        truth["selected"].append(counts.tolist())
        truth["precision"].append(m.get("pseudo_precision", np.nan))
        m.update(n_selected=rows, stop="max_rounds" if last and final_round is not None else None)
        labels = np.repeat(classes, counts)
        probs = rng.dirichlet(np.ones(k), size=rows)
        frame = pd.DataFrame({"pool_row": rng.permutation(5000)[:rows], "text": [f"text {i}" for i in range(rows)],
                              "label": labels, "confidence": rng.uniform(0.9, 1.0, size=rows),
                              "round": np.full(rows, r), "probs": list(probs)})
        folder = root / "rounds" / f"round_{r:03d}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "fake.json").write_text("{}")  # a model folder, in the loop tests' fake format
        frame.to_parquet(folder / "pseudo_labels.parquet", index=False)
        (folder / "metrics.json").write_text(json.dumps(m))
        n_pseudo += rows
        if last and final_round is None:
            break
    if final_round is not None:
        shutil.copytree(root / "rounds" / f"round_{final_round:03d}" / "model", root / "final")
        reason = "best eval_accuracy" if eval else "last round (no eval split, so no round could be compared)"
        (root / "final" / "final.json").write_text(json.dumps({"round": final_round, "reason": reason}))
    return truth


def assert_png(path: Path) -> tuple[int, int]:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width, channels = matplotlib.image.imread(path).shape
    assert channels in (3, 4) and width >= 1000 and height >= 700
    return height, width


@pytest.mark.parametrize("k", [2, 77])
def test_tables_are_the_numbers_on_disk(tmp_path, k):
    classes = [f"intent_{i:02d}" for i in range(k)]
    truth = synthetic_run(tmp_path / "run", classes, final_round=1)
    data = report_data(tmp_path / "run")
    assert data.classes == classes and data.rounds.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(data.eval_accuracy, truth["accuracy"])
    np.testing.assert_allclose(data.eval_macro_f1, truth["macro_f1"])
    assert data.selected.loc[1].tolist() == truth["selected"][1] and data.selected.columns.tolist() == classes
    assert data.selected.loc[3].tolist() == [0] * k  # the stopping round labeled nothing
    np.testing.assert_allclose(data.pseudo_precision[:3], truth["precision"][:3])
    assert np.isnan(data.pseudo_precision[3])
    assert [len(data.confidence[r]) for r in range(4)] == [sum(row) for row in truth["selected"]]
    # the final model's matrix, not the last round's
    assert data.confusion_round == 1 and data.confusion.tolist() == truth["confusion"][1]
    assert data.final_round == 1 and data.final_reason == "best eval_accuracy"


def test_unfinished_run_shows_its_last_round(tmp_path):
    truth = synthetic_run(tmp_path / "run", ["neg", "pos"], n_rounds=2, final_round=None)
    data = report_data(tmp_path / "run")
    assert data.final_round is None and data.rounds.tolist() == [0, 1, 2]
    assert data.confusion_round == 2 and data.confusion.tolist() == truth["confusion"][2]


def test_without_eval_or_pool_gold_the_tables_say_unknown(tmp_path):
    synthetic_run(tmp_path / "run", ["neg", "pos"], eval=False, gold=False, final_round=3)
    data = report_data(tmp_path / "run")
    assert not data.has_eval and not data.has_precision and data.confusion is None
    assert np.isnan(data.eval_accuracy).all() and data.selected.to_numpy().sum() > 0


def test_a_run_from_before_the_confusion_matrix_still_draws(tmp_path):
    synthetic_run(tmp_path / "run", ["neg", "pos"], final_round=1)
    path = tmp_path / "run" / "rounds" / "round_001" / "metrics.json"
    metrics = json.loads(path.read_text())
    del metrics["eval_confusion_matrix"]
    path.write_text(json.dumps(metrics))
    data = report_data(tmp_path / "run")
    assert data.has_eval and data.confusion is None and data.confusion_round == 1
    assert draw_report(tmp_path / "run") == [tmp_path / "run" / "report.png"]


@pytest.mark.parametrize("k, eval, gold", [(2, True, True), (2, False, False), (77, True, True), (77, True, False)])
def test_report_png_is_a_whole_picture(tmp_path, k, eval, gold):
    synthetic_run(tmp_path / "run", [f"class {i}" for i in range(k)], eval=eval, gold=gold)
    assert draw_report(tmp_path / "run") == [tmp_path / "run" / "report.png"]
    assert_png(tmp_path / "run" / "report.png")
    assert not list((tmp_path / "run").glob(".tmp-*"))


def test_report_png_is_replaced_not_appended(tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, ["neg", "pos"], final_round=None)
    draw_report(run)
    first = (run / "report.png").read_bytes()
    shutil.copytree(run / "rounds" / "round_000" / "model", run / "final")
    (run / "final" / "final.json").write_text(json.dumps({"round": 0, "reason": "best eval_accuracy"}))
    draw_report(run)
    assert (run / "report.png").read_bytes() != first  # the title and the final-round marker changed
    assert_png(run / "report.png")


def test_without_matplotlib_one_warning_and_no_picture(tmp_path, monkeypatch, caplog):
    synthetic_run(tmp_path / "run", ["neg", "pos"])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with caplog.at_level(logging.WARNING, logger="pseudolabel.report"):
        assert draw_report(tmp_path / "run") == []
    assert len(caplog.records) == 1 and "pip install matplotlib" in caplog.records[0].getMessage()
    assert not (tmp_path / "run" / "report.png").exists()


def test_not_a_run_or_no_round_is_a_clear_error(tmp_path):
    with pytest.raises(RunStateError, match="not a pseudolabel run"):
        draw_report(tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["a", "b"]}))
    (tmp_path / "rounds").mkdir()
    with pytest.raises(RunStateError, match="no finished round yet"):
        draw_report(tmp_path)
