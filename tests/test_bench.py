"""The accuracy benchmark's plumbing, on synthetic data: splits, the TF-IDF peer, the report."""

import sys

import numpy as np
import pandas as pd
import pytest

from .conftest import REPO

sys.path.insert(0, str(REPO / "experiments"))
import bench_accuracy as bench  # noqa: E402


def synthetic(n_per_class=40):
    words = {0: "goal match team player coach", 1: "chip phone software laptop app"}
    rng = np.random.default_rng(0)
    rows = [{"text": " ".join(rng.choice(words[c].split(), 4)) + f" r{i}", "label": c}
            for c in (0, 1) for i in range(n_per_class)]
    return pd.DataFrame(rows)


def test_split_follows_the_protocol():
    train = synthetic()
    labeled, pool = bench.split(train, "ag_news", seed=1, pool_size=None)
    assert labeled["label"].value_counts().to_dict() == {0: 10, 1: 10}
    assert len(pool) == len(train) - 20 and not set(labeled["text"]) & set(pool["text"])
    _, small = bench.split(train, "sst2", seed=1, pool_size=30)
    assert len(small) == 30
    again, _ = bench.split(train, "ag_news", seed=1, pool_size=None)
    pd.testing.assert_frame_equal(labeled, again)
    five, rest = bench.split(train, "ag_news", seed=1, pool_size=None, per_class=5)  # --labels-per-class 5
    assert five["label"].value_counts().to_dict() == {0: 5, 1: 5} and len(rest) == len(train) - 10


def test_tfidf_peer_learns_the_easy_task():
    train, test = synthetic(), synthetic(10)
    labeled, pool = bench.split(train, "ag_news", seed=0, pool_size=None)
    pred = bench.run_sklearn(labeled, pool, test, seed=0)
    assert bench.scores(test, pred, 2)["accuracy"] > 0.8


def test_frozen_embedding_peer_learns_the_easy_task():
    """Issue 12's floor for round 0: a logistic regression on the bundled MiniLM's frozen sentence embeddings."""
    train, test = synthetic(), synthetic(10)
    labeled, _ = bench.split(train, "ag_news", seed=0, pool_size=None)
    pred = bench.run_frozen(labeled, test, ["train.mixed_precision=no"])
    assert len(pred) == len(test) and bench.scores(test, pred, 2)["accuracy"] > 0.8


def test_report_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    results = pd.DataFrame([
        {"dataset": "sst2", "method": m, "seed": s, "accuracy": a, "macro_f1": a - 0.01, "seconds": 5.0}
        for m, a in (("pseudolabel", 0.7), ("supervised", 0.6), ("ceiling", 0.9)) for s in (0, 1)])
    rounds = pd.DataFrame([{"dataset": "sst2", "seed": s, "round": r, "n_selected": 10 * r, "n_pseudo_total": r,
                            "pseudo_precision": 0.9, "test_accuracy": 0.6 + r / 10, "wall_seconds": 1.0}
                           for s in (0, 1) for r in range(3)])
    env = {"commit": "abc1234", "machine": "x86_64, 2 cores, no GPU", "torch": "t", "transformers": "t",
           "scikit-learn": "s", "wall_minutes": 1.0}
    bench.report(results, rounds, env, ["--seeds", "0", "1"], tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| sst2 | pseudolabel |  | 70.0 ± 0.0 | 69.0 ± 0.0 | 2 |" in text, "an older results.csv has no labels"
    bench.report(results.assign(labels=20), rounds, env, ["--seeds", "0", "1"], tmp_path)
    assert "| sst2 | pseudolabel | 20 | 70.0 ± 0.0 | 69.0 ± 0.0 | 2 |" in (tmp_path / "report.md").read_text()
    assert "Commit `abc1234`, x86_64, 2 cores, no GPU" in text and "strategy: curriculum" in text
    assert "10 gold labels per class" in text
    bench.report(results, rounds, env, ["--labels-per-class", "30"], tmp_path, labels_per_class=30)
    assert "30 gold labels per class" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "sst2.png").stat().st_size > 10_000


def test_variant_and_set_parse_and_fail_early():
    name, overrides = bench.parse_variant("uniform:selection.prior=uniform, train.label_smoothing=0")
    assert name == "uniform" and overrides == ["selection.prior=uniform", "train.label_smoothing=0"]
    assert bench.settings(overrides)["selection"]["prior"] == "uniform"
    name, overrides = bench.parse_variant("lex:teacher.views=[descriptions,lexical,linear],loop.max_rounds=2")
    assert overrides == ["teacher.views=[descriptions,lexical,linear]", "loop.max_rounds=2"], "a list keeps its commas"
    assert bench.settings(overrides)["teacher"]["views"] == ["descriptions", "lexical", "linear"]
    with pytest.raises(SystemExit, match="expected NAME"):
        bench.parse_variant("selection.prior=uniform")
    from pseudolabel.errors import ConfigError

    with pytest.raises(ConfigError, match="selection.magic"):
        bench.parse_variant("bad:selection.magic=1")


def test_pseudolabel_arm_returns_the_final_models_predictions(tiny_bert, tmp_path):
    """The arm reuses the final round's test predictions from the per-round scoring: they must be
    exactly what the saved final model predicts."""
    from pseudolabel import SelfTrainer

    train, test = synthetic(), synthetic(6)
    labeled, pool = bench.split(train, "ag_news", seed=0, pool_size=None)
    overrides = [f"model.name={tiny_bert}", "train.mixed_precision=no", "train.min_steps=2", "train.max_steps=4", "train.max_steps_per_class=0",
                 "train.batch_size=4", "loop.max_rounds=1", "teacher.inner_rounds=2"]
    per_round = []
    pred = bench.run_pseudolabel(labeled, pool, test, 2, 0, tmp_path / "run", rounds_out=per_round, overrides=overrides)
    assert [r["round"] for r in per_round] == [0, 1] and per_round[0]["n_selected"] > 0
    again = SelfTrainer.from_run(tmp_path / "run").predict(test["text"].tolist())
    np.testing.assert_array_equal(pred, again)
    assert per_round[-1]["test_accuracy"] == bench.scores(test, pred, 2)["accuracy"]


def test_class_names_reach_the_teacher_as_a_user_with_string_labels_would_give_them(tiny_bert, tmp_path):
    """The frames' labels are ids, so teacher.class_names gets the dataset's names from the benchmark."""
    import json

    train = synthetic()
    labeled, pool = bench.split(train, "ag_news", seed=0, pool_size=None)
    overrides = [f"model.name={tiny_bert}", "train.mixed_precision=no", "train.min_steps=2", "train.max_steps=4",
                 "train.max_steps_per_class=0", "train.batch_size=4", "loop.max_rounds=1", "teacher.inner_rounds=2"]
    for on in (True, False):
        out = tmp_path / str(on)
        bench.run_pseudolabel(labeled, pool, synthetic(6), 2, 0, out, names=["sports", "tech"],
                              overrides=overrides + [f"teacher.class_names={str(on).lower()}"])
        teacher = json.loads((out / "rounds" / "round_000" / "teacher.json").read_text())
        assert bool(teacher["descriptions"]) is on


def test_the_library_default_is_the_benchmark_default_and_the_demo_default():
    """What a user's SelfTrainer() / make run-round gets is what the benchmark measures."""
    from pseudolabel import Config, load_config

    def recipe(config):
        values = config.to_dict()
        for key in ("output_dir", "seed", "data"):  # where and on what it runs, not how
            values.pop(key)
        return values

    assert recipe(load_config(REPO / "experiments" / "bench_accuracy.yaml")) == recipe(Config())
    assert recipe(load_config(REPO / "experiments" / "ag_news_1k.yaml")) == recipe(Config())
    assert Config().selection.strategy == "curriculum", "the fixed threshold is a choice, not the default"


def test_descriptions_of_every_benchmark_dataset_name_every_class():
    import json

    from pseudolabel.data import LabelSet, load_descriptions

    shared = REPO.parent / "shared" / "datasets"
    for name in bench.DATASETS:
        names = json.loads((shared / name / "labels.json").read_text()) if shared.is_dir() else None
        described = bench.descriptions_for(name, REPO / "experiments" / "descriptions", names) if names else None
        if described is None:
            pytest.skip("../shared/datasets is not beside the repository")
        d = load_descriptions(described, LabelSet(tuple(range(len(names)))))
        assert set(d.classes.tolist()) == set(range(len(names))) and len(d.sentences) >= 2 * len(names)


def test_a_report_never_names_a_folder_of_the_machine(tmp_path):
    shown = bench.shown_command("bench_accuracy.py", ["--data", "../shared/datasets", "--out", str(tmp_path / "runs" / "x")])
    assert shown == "python experiments/bench_accuracy.py --data ../shared/datasets --out runs/x"
    assert str(tmp_path) not in shown


def test_review_sizes_parse_and_fail_early():
    assert bench.review_sizes(None) == {}
    assert bench.review_sizes([]) == {"ag_news": 20, "sst2": 20, "banking77": 154}
    assert bench.review_sizes(["8", "banking77=77"]) == {"ag_news": 8, "sst2": 8, "banking77": 77}
    for bad in ("imdb=3", "sst2=0", "many"):
        with pytest.raises(SystemExit, match="--review"):
            bench.review_sizes([bad])


def test_review_arms_continue_the_same_round_0_with_the_pools_gold_labels(tiny_bert, tmp_path):
    """pseudolabel+review adds review's picks, pseudolabel+random as many random pool rows, both
    after one shared round 0, each labeled by the pool's hidden gold label."""
    from pseudolabel import SelfTrainer
    from pseudolabel.state import RunState

    train, test = synthetic(), synthetic(6)
    labeled, pool = bench.split(train, "ag_news", seed=0, pool_size=None)
    pool.loc[pool.index[:3], "text"] = labeled["text"].iloc[:3].to_numpy()  # pool rows that repeat gold texts
    overrides = [f"model.name={tiny_bert}", "train.mixed_precision=no", "train.min_steps=2", "train.max_steps=4", "train.max_steps_per_class=0",
                 "train.batch_size=4", "loop.max_rounds=2", "teacher.inner_rounds=2"]
    arms = bench.run_reviewed(labeled, pool, test, 2, 0, tmp_path / "r", 6, overrides=overrides)
    added = {}
    for arm in ("review", "random"):
        got = arms[arm]
        assert got["added"] == 6 and [r["round"] for r in got["rounds"]] == [0, 1, 2]
        extra = RunState(tmp_path / "r" / arm).extra_labels()
        rows = extra["pool_row"].to_numpy()
        assert len(set(rows)) == 6 and not set(rows) & {0, 1, 2}, "never a row that is gold already"
        assert extra["label"].tolist() == pool["label"].to_numpy()[rows].tolist()
        added[arm] = set(rows)
        history = SelfTrainer.from_run(tmp_path / "r" / arm).history_
        assert history["n_review_labels"].tolist() == [0, 6, 6]
        np.testing.assert_array_equal(got["pred"], SelfTrainer.from_run(tmp_path / "r" / arm).predict(
            test["text"].tolist()))
    assert added["review"] != added["random"]
    assert arms["review"]["rounds"][0] == arms["random"]["rounds"][0], "one round 0 for both arms"


def test_a_rerun_keeps_the_finished_rows_and_refuses_a_different_benchmark(tmp_path, monkeypatch, caplog):
    """A benchmark stopped half-way (full disk, Ctrl-C) is finished by the same command, not restarted."""
    import json

    data = tmp_path / "data" / "ag_news"
    data.mkdir(parents=True)
    synthetic().to_parquet(data / "train.parquet")
    synthetic(10).to_parquet(data / "test.parquet")
    (data / "labels.json").write_text(json.dumps(["sports", "tech"]))
    monkeypatch.setattr(bench, "git_commit", lambda: "abc1234")
    out = tmp_path / "out"
    args = ["--data", str(tmp_path / "data"), "--datasets", "ag_news", "--methods", "sklearn", "--out", str(out)]
    bench.main(args + ["--seeds", "0"])
    first = pd.read_csv(out / "results.csv")
    calls = []
    real = bench.run_sklearn
    monkeypatch.setattr(bench, "run_sklearn", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    with caplog.at_level("INFO", logger="bench"):
        bench.main(args + ["--seeds", "0", "1"])
    assert calls == [1], "only the unfinished seed runs again"
    assert "finished earlier, kept" in caplog.text
    again = pd.read_csv(out / "results.csv")
    assert again["seed"].tolist() == [0, 1]
    pd.testing.assert_frame_equal(again.iloc[:1], first)
    with pytest.raises(SystemExit) as stop:
        bench.main(args + ["--seeds", "0", "1", "--set", "loop.max_rounds=1"])
    assert stop.value.code == 2 and "set: [] -> ['loop.max_rounds=1']" in caplog.text
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), again)  # nothing written is lost
    bench.main(args + ["--seeds", "1", "--set", "loop.max_rounds=1", "--overwrite"])
    assert pd.read_csv(out / "results.csv")["seed"].tolist() == [1]


def test_a_data_set_outside_the_protocol_runs_from_its_folder(tmp_path, monkeypatch):
    """The default is judged on data sets beyond the three: any folder of train/test files with string labels."""
    folder = tmp_path / "data" / "tickets"
    folder.mkdir(parents=True)
    names = {0: "sports", 1: "tech"}
    synthetic().assign(label=lambda f: f["label"].map(names)).to_csv(folder / "train.csv", index=False)
    synthetic(10).assign(label=lambda f: f["label"].map(names)).to_json(folder / "test.jsonl", orient="records", lines=True)
    train, test, got = bench.load_dataset("tickets", str(tmp_path / "data"))
    assert got == ["sports", "tech"] and train["label"].tolist() == synthetic()["label"].tolist()
    labeled, pool = bench.split(train, "tickets", seed=0, pool_size=None)
    assert len(labeled) == 20 and len(pool) == len(train) - 20  # the rest of train, under DEFAULT_POOL
    monkeypatch.setattr(bench, "DEFAULT_POOL", 30)
    assert len(bench.split(train, "tickets", seed=0, pool_size=None)[1]) == 30  # a large train split is drawn down
    monkeypatch.setattr(bench, "git_commit", lambda: "abc1234")
    out = tmp_path / "out"
    bench.main(["--data", str(tmp_path / "data"), "--datasets", "tickets", "--methods", "sklearn", "--seeds", "0",
                "--out", str(out)])
    assert pd.read_csv(out / "results.csv")["accuracy"].iloc[0] > 0.8


@pytest.mark.parametrize("mess, message", [
    (lambda f: None, "no folder"),
    (lambda f: f.mkdir() or synthetic().to_parquet(f / "train.parquet"), "no test.parquet, test.csv or test.jsonl"),
    (lambda f: f.mkdir() or [synthetic().rename(columns={"text": "body"}).to_parquet(f / f"{s}.parquet")
                             for s in ("train", "test")], "no column 'text'"),
    (lambda f: f.mkdir() or [synthetic().assign(label=lambda d: d["label"] + 3).to_parquet(f / f"{s}.parquet")
                             for s in ("train", "test")], "integer labels must be 0..K-1"),
])
def test_a_data_set_that_cannot_be_read_is_a_usage_error_before_any_run(tmp_path, capsys, mess, message):
    mess(tmp_path / "tickets")
    with pytest.raises(SystemExit) as stop:
        bench.main(["--data", str(tmp_path), "--datasets", "tickets", "--methods", "sklearn", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_descriptions_are_checked_for_every_data_set_before_any_run(tmp_path, capsys):
    data = tmp_path / "tickets"
    data.mkdir()
    for s in ("train", "test"):
        synthetic().assign(label=lambda f: f["label"].map({0: "sports", 1: "tech"})).to_parquet(data / f"{s}.parquet")
    (tmp_path / "desc").mkdir()
    args = ["--data", str(tmp_path), "--datasets", "tickets", "--methods", "sklearn", "pseudolabel+desc",
            "--descriptions", str(tmp_path / "desc"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        bench.main(args)
    assert "no tickets.yaml" in capsys.readouterr().err
    (tmp_path / "desc" / "tickets.yaml").write_text("sports: [A match report.]\n")
    with pytest.raises(SystemExit):
        bench.main(args)
    assert "no description of the classes ['tech']" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_a_hub_data_set_is_read_by_its_class_label_and_a_labeled_test_split(monkeypatch):
    """``--data hf --datasets NAME``: the ClassLabel column, the first text column, and validation when the
    test split's labels are hidden (-1, as GLUE's). The Hub is out of reach here, so load_dataset is replaced."""
    import datasets

    features = datasets.Features({"idx": datasets.Value("int32"), "sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    def part(labels):
        return datasets.Dataset.from_dict({"idx": list(range(len(labels))), "sentence": [f"s{i}" for i in labels],
                                           "label": labels}, features=features)
    hub = datasets.DatasetDict(train=part([0, 1, 1]), test=part([-1, -1]), validation=part([1, 0]))
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a: asked.append(a) or hub)
    train, test, names = bench.load_dataset("someone/reviews:plain", "hf")
    assert asked == [("someone/reviews", "plain")] and names == ["neg", "pos"]
    assert train["label"].tolist() == [0, 1, 1] and test["label"].tolist() == [1, 0]  # validation, not test
    assert train.columns.tolist() == ["text", "label"] and train["text"].tolist() == ["s0", "s1", "s1"]
