"""Tier 0-1: the teacher's stages over synthetic arrays, and the curriculum loop with a fake learner."""

import json

import numpy as np
import pandas as pd
import pytest

from pseudolabel.config import Config
from pseudolabel.data import load_inputs
from pseudolabel.loop import run_rounds
from pseudolabel.state import RunState
from pseudolabel.teacher import Teacher, TeacherInput
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors, description_weight, name_sentences
from pseudolabel.teacher.linear import LinearSelfTraining

from .conftest import FakeEmbedder, FakeLearner


def blobs(n_per_class: int, seed: int, spread: float = 0.35):
    """Two well-separated clusters in 8 dimensions, unit length, and their classes."""
    rng = np.random.default_rng(seed)
    centers = np.eye(8)[:2]
    y = np.repeat([0, 1], n_per_class)
    x = centers[y] + spread * rng.normal(size=(len(y), 8)) / np.sqrt(8)
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


def noisy_student(y: np.ndarray, wrong: float, seed: int) -> np.ndarray:
    """Confident probabilities that are wrong on a ``wrong`` share of the rows."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < wrong
    pred = np.where(flip, 1 - y, y)
    return np.where(pred[:, None] == np.arange(2), 0.9, 0.1)


def config(**teacher):
    return Config.from_dict({"teacher": {"views": ["linear"], "spaces": ["pretrained"], **teacher}})


def test_linear_view_fixes_a_student_that_the_feature_space_contradicts():
    gold_x, gold_y = blobs(5, 0)
    pool_x, pool_y = blobs(200, 1)
    student = noisy_student(pool_y, 0.3, 2)
    inp = TeacherInput(round=0, n_classes=2, gold=gold_y, probs={"student": student},
                       spaces={"pretrained": (gold_x, pool_x)}, share=0.5)
    out = Teacher(config(student_view=False)).run(inp)
    student_acc = np.mean(student.argmax(1) == pool_y)
    assert student_acc < 0.75
    assert np.mean(out.views["linear:pretrained"].argmax(1) == pool_y) > 0.95
    assert np.mean(out.probs.argmax(1) == pool_y) > 0.95, "the teacher is better than the student"
    assert out.state["combine"]["weights"]["student"] == 0.0
    # With the student's view in, the combination still beats the student alone.
    out = Teacher(config(student_view=True)).run(inp)
    assert np.mean(out.probs.argmax(1) == pool_y) > student_acc + 0.1


def test_linear_self_training_shares_one_set_of_pseudo_labels_between_spaces():
    gold_x, gold_y = blobs(4, 0)
    pool_x, pool_y = blobs(60, 1)
    seen = []

    def combine(views):
        seen.append(sorted(views))
        return np.mean([np.asarray(v) for v in views.values()], axis=0)

    stage = LinearSelfTraining(inner_rounds=3)
    views = stage.run({"a": (gold_x, pool_x), "b": (gold_x[:, ::-1], pool_x[:, ::-1])}, gold_y, 2,
                      {"student": noisy_student(pool_y, 0.2, 3)}, combine)
    assert sorted(views) == ["linear:a", "linear:b"]
    assert seen == [["linear:a", "linear:b", "student"]] * 3, "each inner round asks the combined teacher"
    assert all(v.shape == (120, 2) and np.allclose(v.sum(1), 1) for v in views.values())
    assert stage.state_["inner_rounds"] == 3


def test_description_view_counts_as_much_as_it_labels_the_gold_rows():
    gold_x, gold_y = blobs(6, 0)
    pool_x, pool_y = blobs(50, 1)
    right = class_vectors(np.eye(8)[:2], np.array([0, 1]), 2)
    swapped = class_vectors(np.eye(8)[:2], np.array([1, 0]), 2)
    view = DescriptionView(right).fit(gold_x, gold_y)
    assert view.gold_accuracy_ == 1.0 and np.mean(view.predict_proba(pool_x).argmax(1) == pool_y) > 0.95
    base = dict(round=0, n_classes=2, gold=gold_y, probs={"student": noisy_student(pool_y, 0.3, 5)},
                spaces={"pretrained": (gold_x, pool_x)}, share=0.5)
    cfg = Config.from_dict({"teacher": {"views": ["descriptions"], "student_view": True}})
    good = Teacher(cfg).run(TeacherInput(**base, descriptions=right))
    bad = Teacher(cfg).run(TeacherInput(**base, descriptions=swapped))
    assert good.state["descriptions"]["weight"] == pytest.approx(1.0)
    assert bad.state["descriptions"]["weight"] == 0.0, "descriptions that contradict the gold rows count for nothing"
    assert np.mean(good.probs.argmax(1) == pool_y) > np.mean(bad.probs.argmax(1) == pool_y)
    json.dumps(good.state)  # the fitted state goes into teacher.json


def test_description_weight_shrinks_only_when_the_gold_rows_show_the_view_labels_worse():
    # 12 of 20 right: the interval reaches 78%, above a linear head's 75%: counts fully
    assert description_weight(0.6, 20, 0.75, 2) == (1.0, pytest.approx(0.781, abs=1e-3))
    # the same share of 770 rows is evidence: weighed by the interval's top, (0.634 - 1/77) / (0.84 - 1/77)
    weight, upper = description_weight(0.6, 770, 0.84, 77)
    assert upper == pytest.approx(0.634, abs=1e-3) and weight == pytest.approx((upper - 1 / 77) / (0.84 - 1 / 77))
    assert description_weight(0.0, 20, 0.75, 2)[0] == 0.0, "a view wrong on every gold row counts for nothing"
    assert description_weight(0.9, 20, 0.5, 2)[0] == 1.0, "a head at chance cannot outweigh it"
    # one gold row per class: no cross-validated head to compare with, and the view must not vanish
    assert description_weight(1.0, 4, float("nan"), 4)[0] == 1.0
    assert description_weight(0.0, 40, float("nan"), 2)[0] == 0.0


def test_description_temperature_is_fitted_on_the_gold_rows():
    gold_x, gold_y = blobs(20, 0, spread=0.9)
    vectors = class_vectors(np.eye(8)[:2], np.array([0, 1]), 2)
    view = DescriptionView(vectors).fit(gold_x, gold_y)
    sims = gold_x @ vectors.T
    for t in (view.temperature_ * 0.5, view.temperature_ * 2):  # a minimum of the gold log-likelihood
        z = sims / t
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        fitted = view.predict_proba(gold_x)
        assert -np.log(fitted[np.arange(40), gold_y]).mean() <= -np.log(p[np.arange(40), gold_y]).mean() + 1e-6


# -- the curriculum loop with a fake learner -------------------------------------------------------------

LABELED = pd.DataFrame({"text": ["l0", "l1", "l2", "l3"], "label": ["a", "b", "a", "b"]})


def curriculum_run(tmp_path, n_pool=12, eval=None, **overrides):
    rng = np.random.default_rng(0)
    gold = np.array(["a", "b"] * (n_pool // 2))
    pool = pd.DataFrame({"text": [f"p{i}" for i in range(n_pool)], "label": gold})
    conf = 0.6 + 0.35 * rng.random(n_pool)
    table = {f"p{i}": ([c, 1 - c] if g == "a" else [1 - c, c]) for i, (c, g) in enumerate(zip(conf, gold))}
    table.update({t: [0.5, 0.5] for t in LABELED.text})
    if eval is not None:
        table.update({t: ([0.7, 0.3] if lab == "a" else [0.3, 0.7]) for t, lab in zip(eval.text, eval.label)})
    vectors = {t: ([1.0, 0.1] if lab == "a" else [0.1, 1.0]) for t, lab in zip(LABELED.text, LABELED.label)}
    vectors.update({f"p{i}": ([1.0, 0.2] if g == "a" else [0.2, 1.0]) for i, g in enumerate(gold)})
    values = {"output_dir": str(tmp_path / "run"), "loop": {"max_rounds": 3},
              "teacher": {"inner_rounds": 2, "neighbours": 10}, **overrides}
    cfg = Config.from_dict(values)
    inputs = load_inputs(LABELED, pool, eval, label_descriptions=None)
    state = RunState(cfg.output_dir)
    state.open(cfg, inputs.fingerprint(), inputs.label_set)
    return inputs, FakeLearner(table), FakeEmbedder(vectors), state, cfg


def test_curriculum_relabels_the_whole_pool_and_ends_on_all_of_it(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path)
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert [r["stop"] for r in rounds] == [None, None, None, "max_rounds"]
    assert [len(texts) - 4 for texts, _ in learner.fits] == [0, 4, 8, 12], "a third, two thirds, then all"
    pool_scored = [p for p in learner.predicted if p and p[0].startswith("p")]
    assert pool_scored == [[f"p{i}" for i in range(12)]] * 3, "each teacher relabels the whole pool"
    for r in range(3):
        folder = state.round_dir(r)
        teacher = json.loads((folder / "teacher.json").read_text())
        assert set(teacher) >= {"linear", "combine", "neighbours", "select"}
        assert teacher["select"]["share"] == pytest.approx((r + 1) / 3)
        last = r == 2  # teacher.neighbour_rounds: last smooths only the teacher whose picks are the whole pool
        assert (teacher["neighbours"].get("k") == 10) == last and ("skipped" in teacher["neighbours"]) != last
        assert np.load(folder / "teacher_probs.npy").shape == (12, 2)
        assert set(rounds[r]["view_accuracy"]) == {"student", "linear:student", "linear:pretrained"} | (
            {"combined"} if last else set())
    assert json.loads((state.round_dir(2) / "teacher.json").read_text())["neighbours"]["n_reference"] == 12
    assert not (state.round_dir(3) / "teacher.json").exists(), "the last round labels nothing"
    assert rounds[2]["pseudo_precision"] == 1.0 and rounds[2]["n_selected"] == 12
    assert not list(state.root.glob(".tmp-*")), "scratch files of the pool's scores are removed"


def test_pretrained_embeddings_are_computed_once_per_run_and_kept(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path)
    run_rounds(inputs, learner, state, cfg, embedder=embedder, max_new_rounds=2)
    assert embedder.embedded == [["l0", "l1", "l2", "l3"], [f"p{i}" for i in range(12)]]
    assert np.load(state.root / "embeddings" / "pretrained-pool.npy").shape == (12, 2)
    fresh = FakeEmbedder(embedder.table)  # a resumed run, in a new process
    run_rounds(inputs, FakeLearner(learner.table), state, cfg, embedder=fresh)
    assert fresh.embedded == [], "read back from the run folder"


def test_descriptions_enter_the_teacher_and_the_fingerprint(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path)
    described = load_inputs(LABELED, pd.DataFrame({"text": inputs.pool_texts.take(np.arange(12))}),
                            label_descriptions={"a": ["about a"], "b": ["about b"]})
    plain = load_inputs(LABELED, pd.DataFrame({"text": inputs.pool_texts.take(np.arange(12))}))
    assert described.fingerprint() != plain.fingerprint()
    embedder.table.update({"about a": np.array([1.0, 0.0]), "about b": np.array([0.0, 1.0])})
    cfg = Config.from_dict({**cfg.to_dict(), "output_dir": str(tmp_path / "described"), "loop": {"max_rounds": 1},
                            "train": {**cfg.to_dict()["train"], "description_rows": True}})
    state = RunState(cfg.output_dir)
    state.open(cfg, described.fingerprint(), described.label_set)
    run_rounds(described, learner, state, cfg, embedder=embedder)
    teacher = json.loads((state.round_dir(0) / "teacher.json").read_text())
    assert teacher["descriptions"]["gold_accuracy"] == 1.0 and teacher["descriptions"]["weight"] > 0
    assert ["about a", "about b"] in embedder.embedded
    texts, labels = learner.fits[-1]
    assert texts[4:6] == ["about a", "about b"] and labels[4:6] == [0, 1], "each sentence trains as a row of its class"


def test_descriptions_count_with_one_gold_row_per_class(tmp_path):
    """No linear head can be cross-validated on one row per class; the view must still vote."""
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path)
    one_each = load_inputs(LABELED.iloc[:2], pd.DataFrame({"text": inputs.pool_texts.take(np.arange(12))}),
                           label_descriptions={"a": ["about a"], "b": ["about b"]})
    embedder.table.update({"about a": np.array([1.0, 0.0]), "about b": np.array([0.0, 1.0])})
    cfg = Config.from_dict({**cfg.to_dict(), "output_dir": str(tmp_path / "one"), "loop": {"max_rounds": 1}})
    state = RunState(cfg.output_dir)
    state.open(cfg, one_each.fingerprint(), one_each.label_set)
    run_rounds(one_each, learner, state, cfg, embedder=embedder)
    teacher = json.loads((state.round_dir(0) / "teacher.json").read_text())
    assert teacher["descriptions"]["weight"] == 1.0
    assert teacher["combine"]["weights"]["descriptions"] == 1.0


def test_description_rows_are_off_by_default(tmp_path):
    """On SST-2 they cost 7.4 points on the mean (docs/benchmarks.md): a teacher view only, unless asked."""
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path, loop={"max_rounds": 1})
    assert cfg.train.description_rows is False
    described = load_inputs(LABELED, pd.DataFrame({"text": inputs.pool_texts.take(np.arange(12))}),
                            label_descriptions={"a": ["about a"], "b": ["about b"]})
    embedder.table.update({"about a": np.array([1.0, 0.0]), "about b": np.array([0.0, 1.0])})
    state = RunState(str(tmp_path / "off"))
    state.open(cfg, described.fingerprint(), described.label_set)
    run_rounds(described, learner, state, cfg, embedder=embedder)
    assert not any("about" in t for texts, _ in learner.fits for t in texts)
    assert json.loads((state.round_dir(0) / "teacher.json").read_text())["descriptions"]["weight"] > 0, "still a view"


def test_class_names_in_a_template_are_a_view_without_descriptions_never_rows(tmp_path):
    assert name_sentences(["card_arrival", "Sci/Tech"]) == ["This sentence is card arrival.", "This sentence is Sci/Tech."]
    assert name_sentences([0, 1]) is None, "integer labels have no names to read"
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path, teacher={"class_names": True}, loop={"max_rounds": 1})
    embedder.table.update({"This sentence is a.": np.array([1.0, 0.0]), "This sentence is b.": np.array([0.0, 1.0])})
    run_rounds(inputs, learner, state, cfg, embedder=embedder)
    teacher = json.loads((state.round_dir(0) / "teacher.json").read_text())
    assert teacher["descriptions"]["gold_accuracy"] == 1.0 and teacher["descriptions"]["weight"] > 0
    assert not any(t.startswith("This sentence") for texts, _ in learner.fits for t in texts)
    off = curriculum_run(tmp_path / "off", loop={"max_rounds": 1})
    run_rounds(*off[:2], *off[3:], embedder=off[2])
    assert not json.loads((off[3].round_dir(0) / "teacher.json").read_text()).get("descriptions"), "off by default"


def test_init_previous_starts_each_student_from_the_last_round(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(
        tmp_path, train={"init": "previous"}, teacher={"views": [], "student_view": True})
    run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert [a["init_from"] for a in learner.fit_args] == [None] + [
        str(state.round_dir(r) / "model") for r in range(3)]


def test_macro_f1_can_choose_the_final_round(tmp_path):
    # Eval: e0 is class a, e1-e3 class b. Round 0 predicts everything b (accuracy 0.75, macro-F1
    # 0.43); round 1 gets e0 right and e1 wrong (accuracy 0.75 again, macro-F1 0.73). A tie in
    # accuracy goes to the earlier round.
    class Shifting(FakeLearner):
        def predict_proba(self, texts, out=None):
            probs = super().predict_proba(texts, out)
            for i, t in enumerate(texts):
                if t.startswith("e"):
                    later = self.n > 4
                    probs[i] = [0.9, 0.1] if later and t in ("e0", "e1") else [0.1, 0.9]
            return probs

    eval_frame = pd.DataFrame({"text": ["e0", "e1", "e2", "e3"], "label": ["a", "b", "b", "b"]})
    for metric, best in (("accuracy", 0), ("macro_f1", 1)):
        inputs, learner, embedder, state, cfg = curriculum_run(
            tmp_path / metric, teacher={"views": [], "student_view": True}, loop={"max_rounds": 1, "metric": metric})
        inputs = load_inputs(LABELED, pd.DataFrame({"text": inputs.pool_texts.take(np.arange(12))}), eval_frame)
        table = {**learner.table, **{t: [0.5, 0.5] for t in eval_frame.text}}
        state = RunState(cfg.output_dir)
        state.open(cfg, inputs.fingerprint(), inputs.label_set, overwrite=True)
        run_rounds(inputs, Shifting(table), state, cfg, embedder=embedder)
        assert json.loads((state.root / "final" / "final.json").read_text())["round"] == best, metric


def test_rank_weights_rank_each_pick_within_its_class_over_the_whole_pool():
    from pseudolabel.teacher.targets import build_targets, class_rank

    pool = np.array([[0.99, 0.01], [0.90, 0.10], [0.80, 0.20], [0.70, 0.30],  # class 0: sure rows
                     [0.45, 0.55], [0.40, 0.60]])  # class 1: every row less sure than any of class 0
    labels = pool.argmax(axis=1)
    w = class_rank(pool.max(axis=1), labels, pool)
    # each class on its own scale: its surest row weighs 1, whatever its confidence
    assert w.tolist() == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.5, 1.0])
    # picks (a subset) are ranked among the whole pool, not among themselves
    picked = np.array([1, 5])
    t = build_targets(pool[picked], labels[picked], pseudo_weight="rank", pool_probs=pool)
    assert t.weights.tolist() == pytest.approx([0.75, 1.0])
    assert build_targets(pool[picked], labels[picked], pseudo_weight="none").weights.tolist() == [1.0, 1.0]


# -- the lexical view ------------------------------------------------------------------------------


def worded(y: np.ndarray, seed: int, signal: float) -> list[str]:
    """Texts of filler words; a ``signal`` share of them also carries its class's own word."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(40)]
    return [" ".join(list(rng.choice(filler, 6)) + ([("alpha", "beta")[c]] if rng.random() < signal else []))
            for c in y]


def lexical_input(signal: float, seed: int = 1):
    """An embedding space that confuses the classes (spread 2.5) and texts that may name them."""
    from pseudolabel.teacher.lexical import lexical_space

    gold_x, gold_y = blobs(10, seed, spread=2.5)
    pool_x, pool_y = blobs(300, seed + 1, spread=2.5)
    lexical = lexical_space(worded(gold_y, seed + 2, signal), worded(pool_y, seed + 3, signal))
    student = np.full((len(pool_y), 2), 0.5)
    inp = TeacherInput(round=0, n_classes=2, gold=gold_y, probs={"student": student}, share=0.5,
                       spaces={"pretrained": (gold_x, pool_x), "lexical": lexical})
    return inp, pool_y


def test_lexical_view_joins_at_a_stacked_weight_where_the_words_say_the_class():
    inp, pool_y = lexical_input(signal=0.9)
    without = Teacher(config()).run(inp)
    out = Teacher(config(views=["lexical", "linear"])).run(inp)
    state = out.state["lexical"]
    assert state["weight"] > 0 and out.state["combine"]["weights"]["linear:lexical"] == state["weight"]
    assert state["held_out_gold_accuracy"][str(state["weight"])] > state["held_out_gold_accuracy"]["0.0"]
    before, after = np.mean(without.probs.argmax(1) == pool_y), np.mean(out.probs.argmax(1) == pool_y)
    assert before < 0.85 and after > before + 0.05, (before, after)


def test_lexical_view_that_says_nothing_weighs_zero_and_leaves_the_teacher_as_it_was():
    inp, pool_y = lexical_input(signal=0.0)
    without = Teacher(config()).run(inp)
    out = Teacher(config(views=["lexical", "linear"])).run(inp)
    assert out.state["lexical"]["weight"] == 0.0
    assert "linear:lexical" not in out.views
    np.testing.assert_array_equal(out.probs, without.probs)
    np.testing.assert_array_equal(out.picks.indices, without.picks.indices)


def test_lexical_view_is_judged_only_in_spaces_no_gold_label_shaped():
    inp, _ = lexical_input(signal=0.9)
    student_only = TeacherInput(round=0, n_classes=2, gold=inp.gold, probs=inp.probs, share=0.5,
                                spaces={"student": inp.spaces["pretrained"], "lexical": inp.spaces["lexical"]})
    out = Teacher(config(views=["lexical", "linear"], spaces=["student"])).run(student_only)
    assert out.state["lexical"]["weight"] == 0.0 and "skipped" in out.state["lexical"]
    assert Teacher(config(views=["lexical", "linear"])).run(inp).state["lexical"]["weight"] > 0


def test_stacked_weight_follows_the_held_out_gold_rows():
    from pseudolabel.teacher.lexical import StackedWeight

    gold = np.array([0, 1] * 20)
    right = np.where(np.arange(2) == gold[:, None], 0.8, 0.2)
    coin = np.full((40, 2), 0.5)
    overconfident = np.where(np.arange(2) == gold[:, None], 0.999, 0.001)
    overconfident[:8] = overconfident[:8, ::-1]  # 80% right, and sure of its mistakes
    assert StackedWeight().fit({0.0: coin, 1.0: right}, right, gold).weight_ == 1.0
    assert StackedWeight().fit({0.0: right, 1.0: coin}, right, gold).weight_ == 0.0
    assert StackedWeight().fit({0.0: right, 0.25: right, 1.0: right}, right, gold).weight_ == 0.0, \
        "a tie keeps the smaller weight"
    flat = 0.6 * overconfident + 0.4 * coin  # only softer, not more right: softening is free for every teacher
    assert StackedWeight().fit({0.0: overconfident, 1.0: flat}, right, gold).weight_ == 0.0
    assert StackedWeight().fit({0.0: coin, 1.0: right}, coin, gold).weight_ == 0.0, "a lexical head at chance"
    with pytest.raises(ValueError, match="weight 0"):
        StackedWeight().fit({1.0: right}, right, gold)


def test_lexical_stage_must_come_before_the_linear_stage():
    from pseudolabel.errors import ConfigError

    with pytest.raises(ConfigError, match="'lexical' before 'linear'"):
        Config.from_dict({"teacher": {"views": ["linear", "lexical"]}})
    with pytest.raises(ConfigError, match="'lexical' before 'linear'"):
        Config.from_dict({"teacher": {"views": ["descriptions", "lexical"]}})
    assert Config.from_dict({"teacher": {"views": ["descriptions", "lexical", "linear"]}}).teacher.views[-1] == "linear"


def test_lexical_weight_is_decided_before_the_linear_heads_which_then_self_train_once(monkeypatch):
    from pseudolabel.teacher import linear

    inp, _ = lexical_input(signal=0.9)
    full_size = []  # the linear stage's runs on every gold row (the cross-fitting's leave a fold out)
    original = linear.LinearSelfTraining.run

    def counted(self, spaces, gold, n_classes, fixed, combine):
        if len(gold) == len(inp.gold):
            full_size.append(sorted(spaces))
        return original(self, spaces, gold, n_classes, fixed, combine)

    monkeypatch.setattr(linear.LinearSelfTraining, "run", counted)
    out = Teacher(config(views=["lexical", "linear"])).run(inp)
    assert out.state["lexical"]["weight"] > 0
    assert full_size == [["lexical", "pretrained"]], "one run of the linear heads, with the TF-IDF space among them"
    assert out.state["linear"]["spaces"] == ["lexical", "pretrained"]


def test_curriculum_run_with_the_lexical_view_records_its_weight(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path, teacher={"inner_rounds": 2,
                                                                             "views": ["lexical", "linear"]})
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert rounds[-1]["stop"] == "max_rounds"
    for r in range(3):
        teacher = json.loads((state.round_dir(r) / "teacher.json").read_text())
        assert teacher["lexical"]["weight"] in (0.0, 0.125, 0.25, 0.5, 1.0)
        assert teacher["lexical"]["n_features"] >= 1


# -- the held-out view: cross-fitted students -------------------------------------------------------------


class MarkingLearner:
    """Scores every text as a one-hot of the index of its latest fit, so a row's probabilities
    say which student labeled it; records what each fit trained on."""

    def __init__(self, n_classes: int):
        self.n_classes, self.fits = n_classes, []

    def fit(self, texts, labels, *, seed, init_from=None, weights=None, soft_targets=None, desc="train", warm_rows=None):
        self.fits.append({"texts": list(texts), "labels": list(labels), "weights": weights, "seed": seed,
                          "warm_rows": warm_rows, "init_from": init_from})
        return {}

    def score(self, texts, **_):
        return np.tile(np.eye(self.n_classes)[len(self.fits) - 1], (len(list(texts)), 1)), None


class Texts(list):
    def subset(self, rows):
        return Texts(self[i] for i in rows)


def test_cross_fitted_students_label_only_rows_they_never_trained_on():
    from pseudolabel.held_out import cross_fitted_probs

    gold, picks = ["g0", "g1"], [f"p{i}" for i in range(8)]
    pick_labels = np.array([0, 1] * 4)
    pool = Texts([f"p{i}" for i in range(10)])  # p8 and p9 were not picked
    learner = MarkingLearner(2)
    fit_args = {"labels": np.concatenate([[0, 1], pick_labels]), "weights": np.arange(10.0),
                "warm_rows": np.arange(2)}
    out = cross_fitted_probs(learner, gold + picks, fit_args, 2, np.arange(8), pool, 2, folds=2, seeds=[3, 4],
                             init_from="prev")
    assert len(learner.fits) == 2 and [f["seed"] for f in learner.fits] == [3, 4]
    for f, fit in enumerate(learner.fits):
        assert fit["texts"][:2] == gold and list(fit["warm_rows"]) == [0, 1] and fit["init_from"] == "prev"
        trained = set(fit["texts"][2:])
        assert len(trained) == 4 and sorted(fit["labels"][2:]) == [0, 0, 1, 1], "half of each class"
        assert list(fit["weights"]) == [0.0, 1.0] + [float(2 + int(t[1:])) for t in fit["texts"][2:]], "rows keep their weights"
        labeled_by_this_one = {pool[i] for i in range(8) if out[i].argmax() == f and out[i].max() == 1}
        assert labeled_by_this_one == set(picks) - trained, "each student labels exactly the fold it never saw"
    np.testing.assert_allclose(out[8:], 0.5), "rows no teacher picked: the mean of every student"


def test_held_out_view_weighs_as_much_as_the_views_before_it_together():
    gold_x, gold_y = blobs(5, 0)
    pool_x, pool_y = blobs(50, 1)
    held = noisy_student(pool_y, 0.0, 3)
    inp = TeacherInput(round=0, n_classes=2, gold=gold_y, probs={"student": noisy_student(pool_y, 0.3, 2)},
                       spaces={"pretrained": (gold_x, pool_x)}, share=1.0, held_out=held)
    out = Teacher(config(views=["linear", "held_out"])).run(inp)
    weights = out.state["combine"]["weights"]
    assert weights["held_out"] == out.state["held_out"]["weight"] == 1.0 and weights["student"] == 0.0
    np.testing.assert_allclose(out.probs, (out.views["linear:pretrained"] + held) / 2)
    out = Teacher(config(views=["linear", "held_out"], student_view=True)).run(inp)
    assert out.state["combine"]["weights"]["held_out"] == 2.0, "the student and the linear head"
    inp.held_out = None
    out = Teacher(config(views=["linear", "held_out"])).run(inp)
    assert "held_out" not in out.views and "skipped" in out.state["held_out"]


def test_held_out_stage_must_come_last():
    from pseudolabel.errors import ConfigError

    with pytest.raises(ConfigError, match="'held_out' last"):
        Config.from_dict({"teacher": {"views": ["held_out", "linear"]}})
    with pytest.raises(ConfigError, match="held_out_folds"):
        Config.from_dict({"teacher": {"views": ["linear", "held_out"], "held_out_folds": 1}})


def test_curriculum_run_trains_cross_fitted_students_for_the_last_teacher_only(tmp_path):
    inputs, learner, embedder, state, cfg = curriculum_run(
        tmp_path, teacher={"inner_rounds": 2, "views": ["linear", "held_out"], "held_out_folds": 2})
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert rounds[-1]["stop"] == "max_rounds"
    # rounds 0 and 1 one student each; round 2 its own, then two cross-fitted students; round 3 one
    assert [len(texts) - 4 for texts, _ in learner.fits] == [0, 4, 8, 4, 4, 12]
    own = set(learner.fits[2][0][4:])
    assert set(learner.fits[3][0][4:]) | set(learner.fits[4][0][4:]) == own
    assert not set(learner.fits[3][0][4:]) & set(learner.fits[4][0][4:]), "two disjoint halves of the round's picks"
    assert json.loads((state.round_dir(2) / "model" / "fake.json").read_text())["n"] == 12, "the round saves its own student"
    assert not list(state.root.glob(".tmp-*")), "the view's scratch file is removed with the round's others"
    for r in range(3):
        teacher = json.loads((state.round_dir(r) / "teacher.json").read_text())
        assert ("weight" in teacher["held_out"]) == (r == 2)
        assert ("held_out_seconds" in rounds[r]) == (r == 2)
    assert json.loads((state.round_dir(2) / "teacher.json").read_text())["combine"]["weights"]["held_out"] == 2.0
    assert "held_out" in rounds[2]["view_accuracy"]


def test_cross_fitted_students_wait_for_the_patience_check(tmp_path):
    """A round that stops on patience trains no cross-fitted student (they train after its own
    student has been evaluated, not before)."""
    evaluation = pd.DataFrame({"text": ["e0", "e1"], "label": ["a", "b"]})
    inputs, learner, embedder, state, cfg = curriculum_run(
        tmp_path, eval=evaluation, loop={"max_rounds": 3, "patience": 2},
        teacher={"inner_rounds": 2, "views": ["linear", "held_out"], "held_out_folds": 2})
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert [r["stop"] for r in rounds] == [None, None, "patience"], "the fake's eval accuracy never rises"
    assert [len(texts) - 4 for texts, _ in learner.fits] == [0, 4, 8], "no student beyond the rounds' own"
    assert "held_out_seconds" not in rounds[2]


def test_final_students_train_the_last_round_from_several_seeds_and_keep_their_mean(tmp_path):
    """train.final_students: K students of the final round on the same rows, seeds the round's own
    first, merged into a running mean; earlier rounds train one student each."""
    from pseudolabel.loop import round_seed

    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path, train={"final_students": 3})
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert [len(texts) - 4 for texts, _ in learner.fits] == [0, 4, 8, 12, 12, 12]
    assert learner.fits[3] == learner.fits[4] == learner.fits[5], "the same rows and labels"
    assert [a["seed"] for a in learner.fit_args[3:]] == [round_seed(0, 3), round_seed(0, 1004), round_seed(0, 1005)]
    assert [list(a["weights"]) for a in learner.fit_args[3:4]] == [list(learner.fit_args[5]["weights"])]
    assert [share for _, share in learner.merges] == [1 / 2, 1 / 3]
    assert rounds[3]["final_students"] == 3 and "final_students" not in rounds[2]
    inputs, learner, embedder, state, cfg = curriculum_run(tmp_path / "one")
    rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder)
    assert len(learner.fits) == 4 and learner.fit_args[3]["seed"] == round_seed(0, 3)
    assert not hasattr(learner, "merges") and "final_students" not in rounds[3]
