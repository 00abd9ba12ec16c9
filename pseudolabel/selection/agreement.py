"""Agreement filter: keep a pseudo-label only when its neighbours in embedding space agree."""

from __future__ import annotations

import numpy as np


def knn_vote(query: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray, n_classes: int,
             k: int, *, exclude_self: np.ndarray | None = None) -> np.ndarray:
    """The class most of each query row's ``k`` nearest reference rows carry (cosine similarity).

    Rows are expected to be unit-length. Votes are weighted by similarity; ``exclude_self[i]``
    is the reference position of query row ``i`` (or -1), which then does not vote for itself.
    Ties go to the lower class index.
    """
    if len(query) == 0:
        return np.zeros(0, np.int64)
    k = min(k, len(reference) - (exclude_self is not None))
    if k < 1:
        raise ValueError("the agreement filter needs at least one reference row besides the query")
    votes = np.zeros((len(query), n_classes))
    for start in range(0, len(query), 2048):  # bounded memory: 2048 x n_reference similarities at a time
        sims = query[start : start + 2048] @ reference.T
        if exclude_self is not None:
            own = exclude_self[start : start + 2048]
            hit = own >= 0
            sims[np.flatnonzero(hit), own[hit]] = -np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weight = np.maximum(np.take_along_axis(sims, nearest, axis=1), 0.0) + 1e-6
        rows = np.repeat(np.arange(len(nearest)), k)
        np.add.at(votes[start : start + 2048], (rows, reference_labels[nearest].ravel()), weight.ravel())
    return votes.argmax(axis=1)


def agreeing(selected_emb: np.ndarray, selected_labels: np.ndarray, known_emb: np.ndarray,
             known_labels: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Mask of the selected rows whose k-NN vote over (known rows + the other selected rows) agrees.

    ``known`` are the gold-labeled rows and the pseudo-labels kept in earlier rounds; each
    selected row is voted on by its neighbours among those and among this round's other picks,
    never by itself. An isolated wrong label, surrounded by rows of another class, is dropped;
    a region the classifier and the embedding space both assign to one class is kept.
    """
    if len(selected_labels) == 0:
        return np.zeros(0, dtype=bool)
    reference = np.concatenate([known_emb, selected_emb])
    labels = np.concatenate([known_labels, selected_labels]).astype(np.int64)
    own = np.arange(len(known_emb), len(reference))
    return knn_vote(selected_emb, reference, labels, n_classes, k, exclude_self=own) == selected_labels
