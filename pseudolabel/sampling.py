"""Label-budget sampling: which rows are labeled and which form the pool, reproducibly per seed."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DataError


def sample_labels(labels: Sequence, per_class: int, seed: int, *, pool_size: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Split row positions into a labeled set of ``per_class`` rows per class and a pool.

    This is the sampler of the benchmark protocol, public so that a team can simulate a label
    budget on its own fully labeled data. With ``rng = numpy.random.default_rng(seed)``, for
    each class in sorted order, ``per_class`` rows are drawn without replacement from that
    class's rows in file order; then, if ``pool_size`` is given, the pool is drawn with the same
    generator from the remaining rows (else it is all of them).

    Returns
    -------
    labeled, pool : ndarray of int64
        Row positions, each ascending.
    """
    labels = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == c)
        if len(rows) < per_class:
            raise DataError(f"class {c!r} has {len(rows)} rows, fewer than the {per_class} per class asked for")
        chosen.append(rng.choice(rows, size=per_class, replace=False))
    labeled = np.sort(np.concatenate(chosen)).astype(np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), labeled)
    if pool_size is not None:
        if pool_size > len(rest):
            raise DataError(f"pool_size {pool_size} is larger than the {len(rest)} rows left after labeling")
        rest = np.sort(rng.choice(rest, size=pool_size, replace=False))
    return labeled, rest.astype(np.int64)
