"""People in the loop: the rows review proposes, the checks on a filled file, and the round after."""

import json

import numpy as np
import pandas as pd
import pytest

from pseudolabel import DataError, SelfTrainer
from pseudolabel.cli import main
from pseudolabel.data import LabelSet, TextColumn
from pseudolabel.review import check_new_labels, pick_rows

from .conftest import topic_frame
from .test_api import FAST


def scene(n=120, seed=0):
    """Three classes; confidence falls with the row index; rows come in near-identical pairs in
    embedding space (2i and 2i+1, of one class)."""
    rng = np.random.default_rng(seed)
    cls = (np.arange(n) // 2) % 3
    conf = np.linspace(0.95, 0.4, n)
    probs = np.repeat(((1 - conf) / 2)[:, None], 3, axis=1)
    probs[np.arange(n), cls] = conf  # the teacher's class is cls for every row
    base = rng.normal(size=(n // 2, 16))
    emb = np.repeat(base, 2, axis=0) + 1e-3 * rng.normal(size=(n, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return probs, np.zeros(n), emb, cls


def test_picks_are_class_balanced_unsure_spread_and_never_gold():
    probs, disagreement, emb, cls = scene()
    blocked = np.zeros(len(probs), dtype=bool)
    blocked[[115, 117, 119]] = True  # the least sure row of each class is gold already
    picks = pick_rows(probs, disagreement, emb, 12, blocked=blocked)
    assert len(picks) == len(set(picks)) == 12
    assert np.bincount(cls[picks], minlength=3).tolist() == [4, 4, 4]
    assert not np.isin(picks, [115, 117, 119]).any()
    assert probs[picks].max(axis=1).mean() < probs.max(axis=1).mean() - 0.1, "the least sure rows"
    assert len(set(picks // 2)) == 12, "never both rows of a near-identical pair"
    disagreement[[0, 2, 4]] = 1.0  # confident rows the views disagree on come first
    assert np.isin([0, 2, 4], pick_rows(probs, disagreement, emb, 6)).all()


def test_typical_picks_are_cluster_centres_of_the_unsure_half_not_outliers():
    probs, disagreement, emb, cls = scene()
    picks = pick_rows(probs, disagreement, emb, 12, strategy="typical", blocked=np.isin(np.arange(120), [115, 117]))
    assert len(picks) == len(set(picks)) == 12 and np.bincount(cls[picks], minlength=3).tolist() == [4, 4, 4]
    assert not np.isin(picks, [115, 117]).any() and (picks >= 60).all(), "from the less sure half, never gold"
    np.testing.assert_array_equal(picks, pick_rows(probs, disagreement, emb, 12, strategy="typical",
                                                   blocked=np.isin(np.arange(120), [115, 117])))
    # one class: 64 sure rows, then as unsure 4 outliers (rows 64-67) and two dense groups of 30
    rng = np.random.default_rng(1)
    groups = np.repeat(np.eye(16)[:2], 30, axis=0) + 0.05 * rng.normal(size=(60, 16))
    x = np.vstack([rng.normal(size=(64, 16)), np.eye(16)[4:8], groups])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    probs = np.vstack([np.tile([0.9, 0.1], (64, 1)), np.tile([0.6, 0.4], (64, 1))])
    typical = pick_rows(probs, np.zeros(128), x, 2, strategy="typical")
    assert sorted((typical - 68) // 30) == [0, 1], "one row from the middle of each group"
    assert np.isin(pick_rows(probs, np.zeros(128), x, 2), np.arange(64, 68)).any(), "farthest points take an outlier"
    with pytest.raises(DataError, match="strategy 'magic'"):
        pick_rows(probs, np.zeros(128), x, 2, strategy="magic")


def test_a_class_with_few_candidates_leaves_its_share_to_the_others():
    probs, disagreement, emb, cls = scene()
    blocked = (cls == 2) & (np.arange(len(cls)) > 5)  # class 2 has 2 candidates left (rows 4 and 5)
    picks = pick_rows(probs, disagreement, emb, 12, blocked=blocked)
    assert len(picks) == 12 and np.bincount(cls[picks], minlength=3).tolist() == [5, 5, 2]


def test_a_filled_file_is_checked_row_by_row():
    pool = TextColumn(__import__("datasets").Dataset.from_dict({"text": [f"t{i}" for i in range(10)]}), "text")
    labels = LabelSet(("sports", "tech"))
    good = pd.DataFrame({"pool_row": [3, 5], "text": ["t3", "t5"], "label": ["tech", "sports"]})
    assert check_new_labels(good, pool, labels, np.array([1]), name="f.csv")["label"].tolist() == ["tech", "sports"]
    for frame, message in [
        (good.assign(label=["tech", "food"]), "row 1: class 'food' has no labeled example"),
        (good.assign(label=["tech", " "]), "column 'label', row 1: label is missing"),
        (good.assign(pool_row=[3, 10]), r"row 1: 10 is not a row of the pool \(0 to 9\)"),
        (good.assign(pool_row=[3, 1]), "pool row 1 is gold already"),
        (good.assign(pool_row=[3, 3]), "pool row 3 is labeled more than once"),
        (good.assign(text=["t3", "t6"]), "column 'text', row 1: not the text of pool row 5"),
        (good.drop(columns="label"), "no column 'label'"),
    ]:
        with pytest.raises(DataError, match=message):
            check_new_labels(frame, pool, labels, np.array([1]), name="f.csv")
    ints = LabelSet((10, 20))  # a csv gives '10' where the classes are integers
    assert check_new_labels(good.assign(label=["10", "20"]), pool, ints, np.array([]), name="f")["label"].tolist() \
        == [10, 20]


def test_review_add_labels_and_the_next_round_trains_with_them(tiny_bert, tmp_path, capsys):
    labeled, pool = topic_frame(6, 0), topic_frame(15, 1)
    labeled.to_csv(tmp_path / "lab.csv", index=False)
    pool.to_csv(tmp_path / "pool.csv", index=False)  # its label column stays hidden: gold for the "person"
    out = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
output_dir: {out}
data: {{labeled: {tmp_path / 'lab.csv'}, unlabeled: {tmp_path / 'pool.csv'}}}
model: {{name: {tiny_bert}, max_length: 32}}
train: {{epochs: 2, min_steps: 1, max_steps: null, batch_size: 8, learning_rate: 1.0e-3, mixed_precision: "no"}}
teacher: {{inner_rounds: 2}}
loop: {{max_rounds: 2}}
""")
    assert main(["run-round", "--config", str(cfg)]) == 0
    asked_path = tmp_path / "to_label.csv"
    assert main(["review", "--run", str(out), "--n", "6", "--output", str(asked_path)]) == 0
    assert "wrote 6 rows to label" in capsys.readouterr().out
    asked = pd.read_csv(asked_path, keep_default_na=False)
    assert list(asked.columns) == ["pool_row", "text", "guess", "guess_confidence", "label"]
    assert len(asked) == 6 and asked["pool_row"].is_unique and (asked["label"] == "").all()
    typical_path = tmp_path / "typical.csv"
    assert main(["review", "--run", str(out), "--n", "6", "--strategy", "typical", "--output", str(typical_path)]) == 0
    capsys.readouterr()
    typical = pd.read_csv(typical_path, keep_default_na=False)
    assert len(typical) == 6 and set(typical["pool_row"]) != set(asked["pool_row"]), "the other pick rule"
    filled = asked.assign(label=pool["label"].to_numpy()[asked["pool_row"]])  # the pool's gold stands in
    path = tmp_path / "filled.csv"
    filled.to_csv(path, index=False)
    bad = tmp_path / "bad.csv"
    filled.assign(label=["food"] + filled["label"].tolist()[1:]).to_csv(bad, index=False)
    assert main(["add-labels", "--run", str(out), "--input", str(bad)]) == 2
    assert "row 0: class 'food' has no labeled example" in capsys.readouterr().err
    assert not (out / "extra_labels.parquet").exists(), "nothing changed"
    assert main(["add-labels", "--run", str(out), "--input", str(path)]) == 0
    assert "added 6 gold labels" in capsys.readouterr().out
    assert main(["add-labels", "--run", str(out), "--input", str(path)]) == 2
    assert "is gold already" in capsys.readouterr().err
    assert main(["run-round", "--config", str(cfg)]) == 0
    r1 = json.loads((out / "rounds" / "round_001" / "metrics.json").read_text())
    assert r1["n_labeled"] == len(labeled) + 6 and r1["n_review_labels"] == 6
    taken = pd.read_parquet(out / "rounds" / "round_001" / "pseudo_labels.parquet")
    assert not set(taken["pool_row"]) & set(asked["pool_row"]), "a row labeled by a person is never pseudo-labeled"
    again = SelfTrainer.from_run(out, finished=False).review(6)
    assert not set(again["pool_row"]) & set(asked["pool_row"]), "review never proposes a gold row"
    extra = pd.read_parquet(out / "extra_labels.parquet")
    assert list(extra.columns) == ["pool_row", "label", "source", "added"] and len(extra) == 6


def test_review_on_a_run_made_in_memory_says_where_it_can_be_called(tiny_bert, tmp_path):
    labeled, pool = topic_frame(6, 0), topic_frame(10, 1).drop(columns="label")
    st = SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=tmp_path / "r", config=FAST)
    st.fit(labeled, pool, max_new_rounds=1)
    assert len(st.review(4)) == 4  # the SelfTrainer that ran fit() has the pool
    with pytest.raises(Exception, match="passed to fit\\(\\) in memory"):
        SelfTrainer.from_run(tmp_path / "r", finished=False).review(4)
