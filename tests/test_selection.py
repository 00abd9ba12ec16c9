"""Tier 0: selection strategies as pure numpy functions."""

import numpy as np
import pytest

from pseudolabel.config import SelectionConfig
from pseudolabel.selection import STRATEGIES, Selection, select


def cfg(**kw):
    return SelectionConfig(**kw)


def test_threshold_is_strict():
    probs = np.array([[0.9, 0.1], [0.90001, 0.09999], [0.2, 0.8], [0.05, 0.95]])
    s = select(probs, cfg(threshold=0.9), round=0)
    assert s.indices.tolist() == [1, 3]
    assert s.labels.tolist() == [0, 1]
    assert s.confidence.tolist() == pytest.approx([0.90001, 0.95])


def test_max_per_class_keeps_most_confident_and_breaks_ties_by_row():
    probs = np.array([[0.95, 0.05], [0.99, 0.01], [0.95, 0.05], [0.97, 0.03], [0.02, 0.98]])
    s = select(probs, cfg(threshold=0.5, max_per_class=2), round=0)
    assert s.indices.tolist() == [1, 3, 4]
    s = select(probs, cfg(threshold=0.5, max_per_class=3), round=0)
    assert s.indices.tolist() == [0, 1, 3, 4]  # row 0 wins the tie with row 2


def test_balance_cuts_every_class_to_the_smallest():
    probs = np.array([[0.9, 0.1, 0.0]] * 5 + [[0.1, 0.85, 0.05]] * 2 + [[0.0, 0.1, 0.9]] * 3)
    s = select(probs, cfg(threshold=0.5, balance=True), round=0)
    assert np.bincount(s.labels, minlength=3).tolist() == [2, 2, 2]
    # A class with nothing above the threshold stops the whole selection.
    s = select(probs[:5], cfg(threshold=0.5, balance=True), round=0)
    assert len(s) == 0


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(name):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.3, size=200)
    probs[10] = probs[11]  # an exact tie
    config = cfg(strategy=name, threshold=0.6, max_per_class=20)
    first = select(probs, config, round=1)
    again = select(probs, config, round=1)
    assert isinstance(first, Selection)
    assert first.indices.dtype == np.int64 and first.labels.dtype == np.int64
    assert np.all(np.diff(first.indices) > 0), "indices unique and ascending"
    assert first.indices.min(initial=0) >= 0 and first.indices.max(initial=0) < len(probs)
    assert np.all((first.labels >= 0) & (first.labels < 4))
    assert np.array_equal(first.indices, again.indices) and np.array_equal(first.labels, again.labels)
    assert len(first) > 0
    empty = select(np.zeros((0, 4)), config, round=0)
    assert len(empty) == 0 and empty.indices.dtype == np.int64


def test_topk_takes_the_same_quota_from_every_class():
    # Class 0 is predicted for 8 rows, very confidently; class 1 for 4 rows, barely.
    probs = np.array([[0.99 - i * 0.01, 0.01 + i * 0.01] for i in range(8)]
                     + [[0.45, 0.55], [0.40, 0.60], [0.48, 0.52], [0.30, 0.70]])
    s = select(probs, cfg(strategy="topk", fraction=0.5), round=0)  # 0.5 * 12 / 2 = 3 per class
    assert np.bincount(s.labels).tolist() == [3, 3]
    assert s.indices.tolist() == [0, 1, 2, 8, 9, 11]
    s = select(probs, cfg(strategy="topk", fraction=0.5, max_per_class=1), round=0)
    assert s.indices.tolist() == [0, 11]
    # A class with fewer predicted rows than the quota gives what it has, and no more.
    s = select(probs, cfg(strategy="topk", fraction=1.0), round=0)
    assert np.bincount(s.labels).tolist() == [6, 4]


def test_adaptive_bars_follow_the_models_confidence():
    from pseudolabel.selection.adaptive import adaptive_thresholds

    # An underconfident model: no row above 0.9, yet the adaptive bars let the best rows through.
    probs = np.array([[0.7, 0.2, 0.1]] * 4 + [[0.3, 0.5, 0.2]] * 4 + [[0.4, 0.25, 0.35]] * 2 + [[0.5, 0.2, 0.3]] * 2)
    bars = adaptive_thresholds(probs, cfg(threshold=0.9))
    assert np.all(bars >= 1 / 3) and np.all(bars <= 0.9)
    assert bars[0] == bars.max(), "the class with most probability mass gets the highest bar"
    s = select(probs, cfg(strategy="adaptive", threshold=0.9), round=0)
    assert len(s) > 0 and len(select(probs, cfg(threshold=0.9), round=0)) == 0
    assert set(s.labels.tolist()) == {0, 1}
    # A confident model: every bar is capped at the threshold.
    sharp = np.array([[0.99, 0.005, 0.005], [0.005, 0.99, 0.005], [0.005, 0.005, 0.99]])
    assert adaptive_thresholds(sharp, cfg(threshold=0.8)).tolist() == [0.8, 0.8, 0.8]


def test_knn_agreement_drops_an_isolated_wrong_label():
    from pseudolabel.selection.agreement import agreeing, knn_vote

    rng = np.random.default_rng(0)
    centers = np.eye(3)[:, :3]
    def cloud(c, n):
        x = centers[c] + 0.05 * rng.normal(size=(n, 3))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    known = np.concatenate([cloud(0, 5), cloud(1, 5)])
    known_labels = np.array([0] * 5 + [1] * 5)
    selected = np.concatenate([cloud(0, 4), cloud(1, 4)])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])  # row 3 sits among class 0 but is labeled 1
    keep = agreeing(selected, labels, known, known_labels, n_classes=2, k=3)
    assert keep.tolist() == [True, True, True, False, True, True, True, True]
    # A row never votes for itself.
    assert knn_vote(known[:1], known[:2], np.array([1, 0]), 2, 1, exclude_self=np.array([0])).tolist() == [0]


def test_temperature_scaling_recovers_a_known_temperature():
    from pseudolabel.selection.calibrated import apply_temperature, fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 3))
    truth = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in truth])  # labels drawn from the true probabilities
    underconfident = apply_temperature(truth, 2.5)  # what an underconfident model would say
    t = fit_temperature(underconfident, labels)
    assert t == pytest.approx(1 / 2.5, rel=0.1)
    assert np.allclose(apply_temperature(underconfident, t), truth, atol=0.05)
    assert np.array_equal(apply_temperature(truth, 3.0).argmax(1), truth.argmax(1)), "ranking unchanged"


def test_calibrated_takes_the_largest_set_meeting_the_target_per_class():
    probs = np.array([[0.99, 0.01], [0.95, 0.05], [0.90, 0.10], [0.80, 0.20], [0.3, 0.7], [0.2, 0.8]])
    s = select(probs, cfg(strategy="calibrated", target_precision=0.93), round=0)
    # class 0: running means 0.99, 0.97, 0.947, 0.91 -> three rows; class 1: 0.8, 0.75 -> none
    assert s.indices.tolist() == [0, 1, 2]
    s = select(probs, cfg(strategy="calibrated", target_precision=0.75), round=0)
    assert s.indices.tolist() == [0, 1, 2, 3, 4, 5]


def test_bald_is_zero_when_passes_agree_and_grows_with_disagreement():
    from pseudolabel.selection.uncertainty import bald

    same = np.stack([np.array([[0.7, 0.3], [0.5, 0.5]])] * 4)
    assert np.allclose(bald(same), 0)
    split = np.stack([np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])])
    mild = np.stack([np.array([[0.6, 0.4]]), np.array([[0.4, 0.6]])])
    assert bald(split)[0] > bald(mild)[0] > 0


def test_uncertainty_prefers_rows_the_dropout_passes_agree_on():
    probs = np.array([[0.95, 0.05], [0.80, 0.20], [0.70, 0.30], [0.2, 0.8], [0.1, 0.9]])
    uncertainty = np.array([0.5, 0.01, 0.02, 0.0, 0.3])
    s = select(probs, cfg(strategy="uncertainty", fraction=0.4), round=0, uncertainty=uncertainty)  # 1 per class
    assert s.indices.tolist() == [1, 3], "the most confident row of class 0 is also the least stable"
    s = select(probs, cfg(strategy="uncertainty", fraction=0.4), round=0)  # no scores: by confidence
    assert s.indices.tolist() == [0, 4]
