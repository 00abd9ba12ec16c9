"""Tier 0: selection strategies as pure numpy functions."""

import numpy as np
import pytest

from pseudolabel.config import SelectionConfig
from pseudolabel.selection import STRATEGIES, Selection, select


def cfg(**kw):
    return SelectionConfig(**{"strategy": "threshold", **kw})


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


def test_curriculum_takes_its_share_of_every_class_most_confident_first():
    # 6 rows predicted as class 0, 4 as class 1; a uniform prior gives each class half the share.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.95, 0.05], [0.6, 0.4], [0.7, 0.3], [0.55, 0.45],
                      [0.2, 0.8], [0.4, 0.6], [0.1, 0.9], [0.3, 0.7]])
    s = select(probs, cfg(strategy="curriculum", prior="uniform"), round=0, share=0.4)
    assert s.indices.tolist() == [0, 2, 6, 8]  # 2 per class: the two most confident of each
    assert select(probs, cfg(strategy="curriculum", prior="uniform"), round=0, share=1.0).indices.tolist() == \
        list(range(10)), "at share 1 every row is taken, whatever the quotas"
    s = select(probs, cfg(strategy="curriculum", prior="predicted"), round=0, share=0.5)
    assert np.bincount(s.labels).tolist() == [3, 2], "the predicted prior follows the predicted classes"
    s = select(probs, cfg(strategy="curriculum", prior="uniform", max_per_class=1), round=0, share=0.8)
    assert s.indices.tolist() == [2, 8]
    s = select(probs, cfg(strategy="curriculum", prior="uniform"), round=0, share=0.95)
    assert np.bincount(s.labels).tolist() == [5, 4], "no class takes more than half, nor more than it has"


def test_curriculum_share_grows_to_the_whole_pool_in_the_last_round():
    from pseudolabel.selection.curriculum import curriculum_share

    assert [curriculum_share(r, 3) for r in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert curriculum_share(0, 1) == 1.0


def test_quota_follows_the_prior():
    from pseudolabel.teacher.quota import class_quota

    probs = np.array([[0.9, 0.1]] * 8 + [[0.2, 0.8]] * 2)
    assert class_quota(probs, 0.5, prior="predicted").tolist() == [4, 1]
    assert class_quota(probs, 0.5, prior="uniform").tolist() == [2, 2]
    assert class_quota(probs, 0.8, prior="uniform").tolist() == [4, 2], "never more than a class is predicted for"
    with pytest.raises(ValueError, match="prior must be one of predicted, uniform"):
        class_quota(probs, 0.5, prior="estimated")
