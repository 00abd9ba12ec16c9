"""Tier 0: neighbour smoothing of the teacher (:mod:`pseudolabel.teacher.neighbours`) on synthetic arrays."""

import json

import numpy as np
import pytest

from pseudolabel.config import Config
from pseudolabel.errors import ConfigError
from pseudolabel.selection.curriculum import curriculum_share
from pseudolabel.teacher import Teacher, TeacherInput
from pseudolabel.teacher.neighbours import NeighbourSmoothing

from .test_teacher import blobs, noisy_student


def unsure_where_wrong(y: np.ndarray, wrong: float, seed: int, *, of_class: int | None = None) -> np.ndarray:
    """Probabilities 0.9 sure where right and 0.65 sure on a ``wrong`` share of rows (of class
    ``of_class`` only, if given), where wrong."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < wrong
    if of_class is not None:
        flip &= y == of_class
    pred = np.where(flip, 1 - y, y)
    sure = np.where(flip, 0.65, 0.9)[:, None]
    return np.where(pred[:, None] == np.arange(2), sure, 1 - sure)


def test_a_row_the_teacher_got_wrong_takes_its_neighbours_class():
    x, y = blobs(100, 0)
    probs = unsure_where_wrong(y, 0.2, 1)  # 20% of the rows wrong, scattered over both clusters
    smoothed = NeighbourSmoothing(k=10, weight=0.5).fit(x).transform(probs)
    assert np.mean(probs.argmax(1) == y) < 0.85
    assert np.mean(smoothed.argmax(1) == y) > 0.97
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0)


def test_weight_zero_keeps_the_rows_and_weight_one_is_the_neighbours_mean():
    x, y = blobs(30, 2)
    probs = noisy_student(y, 0.3, 3)
    np.testing.assert_allclose(NeighbourSmoothing(k=5, weight=0.0).fit(x).transform(probs), probs)
    full = NeighbourSmoothing(k=5, weight=1.0).fit(x)
    np.testing.assert_allclose(full.transform(probs), probs[full.neighbours_].mean(axis=1))


def test_a_row_is_never_its_own_neighbour_even_beside_its_duplicate():
    x, _ = blobs(20, 4)
    x = np.concatenate([x, x[:3]])  # rows 40-42 repeat rows 0-2
    nb = NeighbourSmoothing(k=4).fit(x).neighbours_
    assert nb.shape == (43, 4)
    assert not (nb == np.arange(43)[:, None]).any()
    for a, b in [(0, 40), (1, 41), (2, 42)]:
        assert b in nb[a] and a in nb[b], "a duplicate is the nearest other row"


def test_a_large_pool_searches_a_sampled_reference_only():
    x, y = blobs(150, 5)
    s = NeighbourSmoothing(k=6, max_reference=50, seed=1).fit(x)
    assert s.n_reference_ == 50 and s.neighbours_.shape == (300, 6)
    reference = np.unique(s.neighbours_)
    assert len(reference) <= 50
    assert not (s.neighbours_ == np.arange(300)[:, None]).any()
    assert np.mean(y[s.neighbours_] == y[:, None]) > 0.95, "neighbours from the sample are still near"
    again = NeighbourSmoothing(k=6, max_reference=50, seed=1).fit(x)
    np.testing.assert_array_equal(again.neighbours_, s.neighbours_)


def test_k_is_capped_by_the_candidates():
    x, _ = blobs(2, 6)
    assert NeighbourSmoothing(k=10).fit(x).neighbours_.shape == (4, 3)
    with pytest.raises(ValueError, match="at least 2 candidates"):
        NeighbourSmoothing().fit(x[:1])


def student_only(**teacher):
    """A teacher that is the student's view alone, so only the smoothing can change it."""
    return Config.from_dict({"teacher": {"views": [], "student_view": True, **teacher}})


def pool_case(n_per_class: int, student_of, *, round: int = 2, space: str = "pretrained"):
    """Round ``round`` (of 3; 2 is the last) of a teacher over two clusters: its input, the pool's
    classes and the student's probabilities ``student_of(pool classes)``."""
    gold_x, gold_y = blobs(5, 7)
    pool_x, pool_y = blobs(n_per_class, 8)
    student = student_of(pool_y)
    inp = TeacherInput(round=round, n_classes=2, gold=gold_y, probs={"student": student},
                       spaces={space: (gold_x, pool_x)}, share=curriculum_share(round, 3))
    return inp, pool_y, student


def test_the_teacher_selects_from_the_smoothed_probabilities():
    inp, pool_y, _ = pool_case(200, lambda y: unsure_where_wrong(y, 0.25, 9))
    off = Teacher(student_only(neighbours=0)).run(inp)
    on = Teacher(student_only(neighbours=10, neighbour_weight=0.5)).run(inp)
    assert off.state["neighbours"] == {} and "combined" not in off.views
    assert np.mean(off.picks.labels == pool_y[off.picks.indices]) < 0.8
    assert np.mean(on.picks.labels == pool_y[on.picks.indices]) > 0.97, "the picks come from the smoothed teacher"
    np.testing.assert_allclose(on.views["combined"], off.probs)
    state = on.state["neighbours"]
    assert state["k"] == 10 and state["weight"] == 0.5 and state["space"] == "pretrained"
    assert state["changed"] == pytest.approx(np.mean(on.probs.argmax(1) != off.probs.argmax(1)))
    assert state["changed"] > 0.15
    json.dumps(on.state)


def test_without_the_pretrained_space_the_smoothing_says_it_was_skipped():
    inp, _, student = pool_case(20, lambda y: noisy_student(y, 0.25, 9), space="student")
    out = Teacher(student_only(neighbours=10)).run(inp)
    assert "skipped" in out.state["neighbours"]
    np.testing.assert_allclose(out.probs, student)


@pytest.mark.parametrize("rounds, smoothed", [("last", [False, False, True]), ("all", [True, True, True])])
def test_neighbour_rounds_last_smooths_only_the_teacher_of_the_last_round(rounds, smoothed):
    config = student_only(neighbours=10, neighbour_rounds=rounds)  # loop.max_rounds: 3, rounds 0, 1, 2
    for r, expected in enumerate(smoothed):
        inp, _, student = pool_case(100, lambda y: unsure_where_wrong(y, 0.25, 9), round=r)
        out = Teacher(config).run(inp)
        assert ("combined" in out.views) == expected and ("k" in out.state["neighbours"]) == expected
        assert not np.allclose(out.probs, student) if expected else np.array_equal(out.probs, student)
        if not expected:
            assert "not the last" in out.state["neighbours"]["skipped"]


def test_the_smoothing_reports_the_rows_it_moved_between_classes():
    inp, _, student = pool_case(200, lambda y: unsure_where_wrong(y, 0.2, 12, of_class=0))  # class 1 too many
    out = Teacher(student_only(neighbours=10)).run(inp)
    before, after = np.bincount(student.argmax(1), minlength=2), np.bincount(out.probs.argmax(1), minlength=2)
    assert before[1] > 230 and after[1] < 215, "the wrong class-1 rows inside class 0 went back to class 0"
    assert out.state["neighbours"]["moved"] == before[1] - after[1]
    json.dumps(out.state)


@pytest.mark.parametrize("key, value", [("neighbours", -1), ("neighbour_weight", 1.5), ("neighbour_weight", -0.1),
                                        ("neighbour_rounds", "first")])
def test_bad_neighbour_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"teacher.{key}"):
        Config.from_dict({"teacher": {key: value}})
