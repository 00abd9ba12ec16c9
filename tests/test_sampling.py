"""Tier 0: the label-budget sampler."""

import numpy as np
import pytest

from pseudolabel.errors import DataError
from pseudolabel.sampling import sample_labels


def test_per_class_counts_disjoint_and_reproducible():
    labels = np.array(["b", "a", "c"] * 50)
    lab, pool = sample_labels(labels, 10, seed=1)
    assert {c: int((labels[lab] == c).sum()) for c in "abc"} == {"a": 10, "b": 10, "c": 10}
    assert not set(lab) & set(pool) and len(lab) + len(pool) == len(labels)
    again = sample_labels(labels, 10, seed=1)
    assert np.array_equal(lab, again[0]) and np.array_equal(pool, again[1])
    assert not np.array_equal(lab, sample_labels(labels, 10, seed=2)[0])


def test_protocol_order_and_pool_draw():
    labels = np.array([0, 1] * 40)
    rng = np.random.default_rng(0)
    first = rng.choice(np.flatnonzero(labels == 0), size=5, replace=False)
    second = rng.choice(np.flatnonzero(labels == 1), size=5, replace=False)
    rest = np.setdiff1d(np.arange(80), np.concatenate([first, second]))
    pool_expected = np.sort(rng.choice(rest, size=20, replace=False))
    lab, pool = sample_labels(labels, 5, seed=0, pool_size=20)
    assert np.array_equal(lab, np.sort(np.concatenate([first, second])))
    assert np.array_equal(pool, pool_expected)


def test_too_few_rows():
    with pytest.raises(DataError, match="class 1 has 2 rows, fewer than the 3"):
        sample_labels([0, 0, 0, 1, 1], 3, seed=0)
    with pytest.raises(DataError, match="pool_size 10 is larger"):
        sample_labels([0, 1] * 3, 1, seed=0, pool_size=10)
