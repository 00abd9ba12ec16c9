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
