"""Tier 1: the round loop with a fake learner: termination, accumulate vs relabel, resume."""

import json

import numpy as np
import pandas as pd
import pytest

from pseudolabel.config import Config
from pseudolabel.data import load_inputs
from pseudolabel.errors import RunStateError
from pseudolabel.loop import run_rounds
from pseudolabel.state import RunState

from .conftest import FakeEmbedder, FakeLearner

LABELED = pd.DataFrame({"text": ["l0", "l1", "l2", "l3"], "label": ["a", "b", "a", "b"]})
EVAL = pd.DataFrame({"text": ["e0", "e1"], "label": ["a", "b"]})


def setup(tmp_path, pool_probs, *, sharpen=0.0, gold=None, extra_table=None, **overrides):
    pool = pd.DataFrame({"text": [f"p{i}" for i in range(len(pool_probs))]})
    if gold is not None:
        pool["label"] = gold
    table = {t: [0.5, 0.5] for t in LABELED.text}
    table.update({"e0": [0.8, 0.2], "e1": [0.3, 0.7]})
    table.update({f"p{i}": p for i, p in enumerate(pool_probs)})
    table.update(extra_table or {})
    # the selection rule alone (no teacher views), rows kept across rounds: what these tests are about
    values = {"output_dir": str(tmp_path / "run"),
              "selection": {"strategy": "threshold", "threshold": 0.7, "mode": "accumulate"},
              "teacher": {"views": [], "student_view": True}}
    for key, value in overrides.items():
        section, name = key.split("__")
        values.setdefault(section, {})[name] = value
    config = Config.from_dict(values)
    inputs = load_inputs(LABELED, pool, EVAL)
    state = RunState(config.output_dir)
    state.open(config, inputs.fingerprint(), inputs.label_set)
    return inputs, FakeLearner(table, sharpen=sharpen), state, config


def test_max_rounds_zero_is_supervised_only(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.99, 0.01]] * 3, loop__max_rounds=0)
    rounds = run_rounds(inputs, learner, state, config)
    assert [r["stop"] for r in rounds] == ["max_rounds"]
    assert learner.fits[0][0] == list(LABELED.text)
    assert all(not any(t.startswith("p") for t in texts) for texts in learner.predicted), "pool never labeled"
    assert json.loads((state.root / "final" / "final.json").read_text())["round"] == 0


def test_no_change_when_nothing_passes(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.7, 0.3], [0.4, 0.6]])
    rounds = run_rounds(inputs, learner, state, config)
    assert len(rounds) == 1 and rounds[0]["stop"] == "no_change" and rounds[0]["n_selected"] == 0


def test_all_labeled_trains_once_more_then_stops(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.9, 0.1], [0.2, 0.8]], loop__max_rounds=5)
    rounds = run_rounds(inputs, learner, state, config)
    assert [r["stop"] for r in rounds] == [None, "all_labeled"]
    assert learner.fits[1][0] == list(LABELED.text) + ["p0", "p1"]
    assert learner.fits[1][1] == [0, 1, 0, 1, 0, 1]


# With sharpen=0.085 and threshold 0.7, a [0.35, 0.65] row passes only once the learner has
# trained on 5 rows, [0.36, 0.64] on 6, [0.3666, 0.6334] on 7; [0.5, 0.5] never.
GRADED = [[0.95, 0.05], [0.35, 0.65], [0.36, 0.64], [0.3666, 0.6334], [0.5, 0.5]]


def test_accumulate_grows_and_never_relabels(tmp_path):
    probs = GRADED[:2] + GRADED[-1:]
    inputs, learner, state, config = setup(tmp_path, probs, sharpen=0.085, loop__max_rounds=4)
    rounds = run_rounds(inputs, learner, state, config)
    assert [r["n_selected"] for r in rounds] == [1, 1, 0]
    assert rounds[-1]["stop"] == "no_change"
    assert [r["n_pseudo_total"] for r in rounds] == [0, 1, 2]
    assert learner.predicted[-1] == ["p2"], "taken rows are not labeled again"
    taken = state.selections(range(3))
    assert taken["pool_row"].tolist() == [0, 1] and taken["round"].tolist() == [0, 1]


def test_relabel_uses_only_the_latest_selection_and_stops_when_it_repeats(tmp_path):
    probs = GRADED[:2] + GRADED[-1:]
    inputs, learner, state, config = setup(tmp_path, probs, sharpen=0.085, loop__max_rounds=6,
                                           selection__mode="relabel")
    rounds = run_rounds(inputs, learner, state, config)
    assert learner.predicted[1] == ["p0", "p1", "p2"], "the whole pool is labeled every round"
    assert learner.fits[1][0] == list(LABELED.text) + ["p0"]
    assert learner.fits[2][0] == list(LABELED.text) + ["p0", "p1"]
    assert rounds[-1]["stop"] == "no_change"


def test_patience_stops_and_final_is_best_round(tmp_path):
    # Eval gets worse once the pseudo-labels arrive: e0 flips to class b after any pseudo row.
    class Worsening(FakeLearner):
        def predict_proba(self, texts, out=None):
            out = super().predict_proba(texts, out)
            if self.n > len(LABELED):
                out[[i for i, t in enumerate(texts) if t == "e0"]] = [0.1, 0.9]
            return out

    probs = [[0.99, 0.01], [0.98, 0.02], [0.97, 0.03]]
    inputs, _, state, config = setup(tmp_path, probs, loop__max_rounds=5, loop__patience=1,
                                     selection__max_per_class=1)
    learner = Worsening(_.table)
    rounds = run_rounds(inputs, learner, state, config)
    assert [r["eval_accuracy"] for r in rounds] == [1.0, 0.5]
    assert rounds[-1]["stop"] == "patience" and rounds[-1]["eval_change"] == -0.5
    final = json.loads((state.root / "final" / "final.json").read_text())
    assert final["round"] == 0 and "best eval_accuracy" in final["reason"]


def test_labeled_duplicates_in_pool_are_never_pseudo_labeled(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.99, 0.01]] * 2, loop__max_rounds=1,
                                           extra_table={"l0": [0.99, 0.01]})
    pool = pd.DataFrame({"text": ["p0", "l0", "p1"]})
    inputs = load_inputs(LABELED, pool, EVAL)
    assert inputs.n_pool_overlap == 1
    config.output_dir = str(tmp_path / "dup")
    state = RunState(config.output_dir)
    state.open(config, inputs.fingerprint(), inputs.label_set)
    rounds = run_rounds(inputs, learner, state, config)
    assert rounds[0]["n_candidates"] == 2
    assert state.selections(range(1))["text"].tolist() == ["p0", "p1"]


def test_pseudo_precision_against_hidden_gold(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]],
                                           gold=["a", "b", "b"], loop__max_rounds=1)
    rounds = run_rounds(inputs, learner, state, config)
    assert rounds[0]["pseudo_precision"] == pytest.approx(2 / 3)
    assert all(len(texts) == 7 for texts, _ in learner.fits[1:]), "gold pool labels never reach training"
    assert learner.fits[1][1][4:] == [0, 0, 1]


def test_resume_from_disk_equals_one_uninterrupted_run(tmp_path):
    kw = dict(sharpen=0.085, loop__max_rounds=6)
    probs = GRADED
    inputs, learner, state, config = setup(tmp_path / "a", probs, **kw)
    whole = run_rounds(inputs, learner, state, config)

    inputs, learner, state, config = setup(tmp_path / "b", probs, **kw)
    steps = 0
    while True:  # a new learner each call, as a new process would have
        learner = FakeLearner(learner.table, sharpen=0.085)
        rounds = run_rounds(inputs, learner, state, config, max_new_rounds=1)
        steps += 1
        if rounds[-1]["stop"]:
            break
    assert steps == len(whole) == 5
    assert [r["n_selected"] for r in whole] == [1, 1, 1, 1, 0]
    drop = ["train_seconds", "label_seconds", "teacher_seconds", "wall_seconds"]
    a = pd.read_csv(tmp_path / "a" / "run" / "history.csv").drop(columns=drop)
    b = pd.read_csv(tmp_path / "b" / "run" / "history.csv").drop(columns=drop)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(RunState(tmp_path / "a" / "run").selections(range(len(whole))),
                                  state.selections(range(len(whole))))
    # Once finished, another call runs nothing.
    learner = FakeLearner(learner.table)
    assert len(run_rounds(inputs, learner, state, config, max_new_rounds=1)) == len(whole)
    assert learner.fits == []


def test_half_written_round_is_discarded_and_redone(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.95, 0.05], [0.25, 0.75]], loop__max_rounds=2)
    run_rounds(inputs, learner, state, config, max_new_rounds=1)
    partial = state.root / "rounds" / ".tmp-round_001"
    (partial / "model").mkdir(parents=True)
    (partial / "metrics.json").write_text("{trunc")
    state.open(config, inputs.fingerprint(), inputs.label_set)  # what a restarted process does
    assert not partial.exists()
    assert len(state.finished_rounds()) == 1


def test_run_folder_belongs_to_one_config_and_data(tmp_path):
    inputs, learner, state, config = setup(tmp_path, [[0.95, 0.05]])
    run_rounds(inputs, learner, state, config)
    before = sorted(p.name for p in state.root.iterdir())
    changed = Config.from_dict({**config.to_dict(), "seed": 1})
    with pytest.raises(RunStateError, match=r"different config \(seed: 0 -> 1\)"):
        RunState(config.output_dir).open(changed, inputs.fingerprint(), inputs.label_set)
    with pytest.raises(RunStateError, match="different data"):
        RunState(config.output_dir).open(config, "0" * 64, inputs.label_set)
    assert sorted(p.name for p in state.root.iterdir()) == before
    RunState(config.output_dir).open(changed, inputs.fingerprint(), inputs.label_set, overwrite=True)
    assert not (state.root / "rounds" / "round_000").exists()
    assert "seed: 1" in (state.root / "config.yaml").read_text()


def test_a_folder_that_is_not_a_run_is_never_overwritten(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    inputs = load_inputs(LABELED, pd.DataFrame({"text": ["p0"]}), EVAL)
    for overwrite in (False, True):
        with pytest.raises(RunStateError, match="not a pseudolabel run"):
            RunState(tmp_path / "mine").open(Config(), inputs.fingerprint(), inputs.label_set, overwrite=overwrite)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_confidence_weights_reach_the_student(tmp_path):
    probs = [[0.95, 0.05], [0.8, 0.2], [0.1, 0.9]]
    inputs, learner, state, config = setup(tmp_path, probs, loop__max_rounds=1, train__pseudo_weight="confidence",
                                           train__gold_weight=1.0)
    run_rounds(inputs, learner, state, config)
    # Pseudo-labeled rows are weighted by their confidence, gold rows by 1.
    assert learner.weights.tolist() == pytest.approx([1, 1, 1, 1, 0.95, 0.8, 0.9])


def test_rank_weights_reach_the_student(tmp_path):
    probs = [[0.95, 0.05], [0.8, 0.2], [0.1, 0.9]]
    inputs, learner, state, config = setup(tmp_path, probs, loop__max_rounds=1, train__pseudo_weight="rank",
                                           train__gold_weight=1.0)
    run_rounds(inputs, learner, state, config)
    # each pick ranked among the pool rows of its class: p1 is class 0's less sure of two rows
    saved = pd.read_parquet(state.round_dir(0) / "pseudo_labels.parquet")
    assert dict(zip(saved["pool_row"], saved["weight"])) == pytest.approx({0: 1.0, 1: 0.5, 2: 1.0})
    assert learner.weights.tolist() == pytest.approx([1, 1, 1, 1] + saved["weight"].tolist())
    # a warmed head is probed on the four gold rows in every round, never on the teacher's picks
    assert [args["warm_rows"].tolist() for args in learner.fit_args] == [[0, 1, 2, 3]] * 2


def test_gold_weight_counts_the_gold_rows_more_in_the_final_student_only(tmp_path):
    probs = [[0.95, 0.05], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]]
    inputs, learner, state, config = setup(tmp_path, probs, loop__max_rounds=2, train__gold_weight=4.0,
                                           selection__strategy="curriculum", selection__mode="relabel")
    run_rounds(inputs, learner, state, config)
    assert len(learner.fit_args) == 3
    # round 0 trains on the gold rows alone, unweighted: a weight on all of them would only rescale the loss
    assert learner.fit_args[0]["weights"] is None
    for r, gold_weight in ((1, 1.0), (2, 4.0)):  # round 1's student feeds a teacher; round 2's is the final model
        saved = pd.read_parquet(state.round_dir(r - 1) / "pseudo_labels.parquet")
        assert learner.fit_args[r]["weights"].tolist() == pytest.approx([gold_weight] * 4 + saved["weight"].tolist())


def test_soft_targets_are_the_teachers_probabilities_sharpened(tmp_path):
    probs = [[0.8, 0.2], [0.25, 0.75]]
    inputs, learner, state, config = setup(tmp_path, probs, loop__max_rounds=1, train__targets="soft",
                                           train__soft_temperature=0.5, train__label_smoothing=0.1)
    run_rounds(inputs, learner, state, config)
    q = learner.soft_targets
    assert q.shape == (6, 2) and np.allclose(q.sum(1), 1)
    assert np.allclose(q[:4], [[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95]])
    assert q[4].tolist() == pytest.approx([0.64 / 0.68, 0.04 / 0.68])  # 0.8**2, 0.2**2, renormalised
    saved = pd.read_parquet(state.round_dir(0) / "pseudo_labels.parquet")
    assert np.allclose(np.stack(saved["probs"]), q[4:]), "the file holds the targets the student trained on"
    assert saved["confidence"].tolist() == pytest.approx([0.8, 0.75]), "confidence is the teacher's, unsharpened"


def test_a_picked_row_labeled_by_a_person_trains_once_with_their_label(tmp_path):
    """Round 0's teacher took p0 as 'a'; a person then labels p0 'b' (review / add-labels): round 1
    trains on p0 once, as gold 'b', never also as the pseudo-label 'a'."""
    inputs, learner, state, config = setup(tmp_path, [[0.9, 0.1], [0.95, 0.05], [0.2, 0.8]], loop__max_rounds=2)
    run_rounds(inputs, learner, state, config, max_new_rounds=1)
    assert sorted(state.selections(range(1))["text"]) == ["p0", "p1", "p2"]
    inputs = inputs.with_gold(np.array([0]), ["b"])
    run_rounds(inputs, learner, state, config, max_new_rounds=1)
    texts, labels = learner.fits[1]
    assert texts.count("p0") == 1 and labels[texts.index("p0")] == 1
    assert sorted(texts) == sorted(list(LABELED.text) + ["p0", "p1", "p2"])
