"""Neighbour smoothing of the teacher: each candidate's probabilities move towards its neighbours'.

A text's nearest neighbours in the pretrained encoder's sentence-embedding space (a space no
pseudo-label has shaped) mostly share its class, and the teacher's errors are more scattered
than its classes are: averaging a row's probabilities with the mean of its ``k`` nearest
candidates' corrects part of them. Measured on the saved teachers of 16 finished runs (10 labels per class,
every round; ``docs/benchmarks.md``, "Neighbour smoothing of the teacher"): with ``k = 10`` and
half the weight on the neighbours, the teacher labeled the pool more accurately in 45 of 48
rounds (AG News +0.6 to +1.3 points, Banking77 +0.1 to +0.7, SST-2 +0.2 to +1.3; SST-2's
near-chance seed within 0.1 either way). End to end, smoothing every round's teacher lost 2
points on one AG News seed: each smoothed teacher gave one class fewer rows than the last, and
each student learned that share from its picks. Smoothing only the last teacher, whose picks are
the whole pool and teach only the final student, raised every data set's mean, and is the
default (``teacher.neighbour_rounds: last``; the same page).

The neighbours depend only on the embeddings, so they are found once per smoothed round with
scikit-learn's brute-force :class:`~sklearn.neighbors.NearestNeighbors` (cosine), among at most
``max_reference`` candidates: a pool of millions costs ``n x max_reference`` dot products, not
``n ** 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quota import per_class

CHUNK = 65536
"""Candidates whose neighbours are looked up (and whose probabilities are averaged) together."""


@dataclass
class NeighbourSmoothing:
    """``smoothed = (1 - weight) * p + weight * mean(p of the k nearest other candidates)``.

    Parameters
    ----------
    k : int
        Neighbours per candidate (the candidate itself is never its own neighbour).
    weight : float
        Share of the smoothed probabilities that comes from the neighbours, in [0, 1].
    max_reference : int
        Neighbours are searched among at most this many candidates (a seeded sample).
    seed : int
    """

    k: int = 10
    weight: float = 0.5
    max_reference: int = 50_000
    seed: int = 0

    def fit(self, x) -> "NeighbourSmoothing":
        """Find each row's ``k`` nearest other rows of ``x`` (cosine); sets ``neighbours_`` ``(n, k)``."""
        from sklearn.neighbors import NearestNeighbors

        n = x.shape[0]
        if n < 2:
            raise ValueError(f"neighbour smoothing needs at least 2 candidates, got {n}")
        reference = np.arange(n)
        if n > self.max_reference:
            rng = np.random.default_rng(self.seed)
            reference = np.sort(rng.choice(n, self.max_reference, replace=False))
        k = min(self.k, len(reference) - 1)
        index = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine")
        index.fit(np.asarray(x[reference], dtype=np.float32))
        out = np.empty((n, k), dtype=np.int64)
        for start in range(0, n, CHUNK):
            rows = np.arange(start, min(start + CHUNK, n))
            found = reference[index.kneighbors(np.asarray(x[rows], dtype=np.float32), return_distance=False)]
            out[rows] = _drop_self(found, rows, k)
        self.neighbours_ = out
        self.n_reference_ = len(reference)
        return self

    def transform(self, probs: np.ndarray) -> np.ndarray:
        """Probabilities of every candidate moved ``weight`` of the way to its neighbours' mean."""
        probs = np.asarray(probs, dtype=np.float64)
        out = np.empty_like(probs)
        for start in range(0, len(probs), CHUNK):
            part = slice(start, start + CHUNK)
            out[part] = (1 - self.weight) * probs[part] + self.weight * probs[self.neighbours_[part]].mean(axis=1)
        return out


def rows_moved(before: np.ndarray, after: np.ndarray) -> int:
    """Rows that changed class on balance between two probability matrices of the same rows."""
    return int(np.abs(per_class(after) - per_class(before)).sum() // 2)


def _drop_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of each row's ``k + 1`` nearest reference rows that are not the row itself.

    A row is usually its own nearest reference row, but not always (duplicates tie with it, and a
    row left out of a sampled reference is not there at all): drop it wherever it is, else the
    farthest.
    """
    is_self = found == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), found.shape[1] - 1)
    keep = np.ones(found.shape, dtype=bool)
    keep[np.arange(len(found)), drop] = False
    return found[keep].reshape(len(found), k)
