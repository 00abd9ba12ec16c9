"""People in the loop: which pool rows a person should label next, and taking their labels back.

``review`` reads a run folder: the latest teacher's probabilities of the pool
(``teacher_probs.npy``), how much its views disagreed on each row (``teacher_disagreement.npy``)
and the pretrained sentence embeddings (``embeddings/pretrained-pool.npy``). It proposes rows
where a gold label helps most: for each class the teacher predicts, the rows it is least sure of
(lowest confidence plus view disagreement), spread over the embedding space by farthest-point
selection, so the person does not label near-duplicates; never a row that is already gold.

``add_labels`` checks a filled file (every label a class, none blank, every row a pool row
that is not gold yet, the text as in the pool when given) and appends it to the run folder's
``extra_labels.parquet``; the next round trains with those rows as gold.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .data import LabelSet, check_labels
from .errors import DataError, RunStateError

REVIEW_COLUMNS = ["pool_row", "text", "guess", "guess_confidence", "label"]
SHORTLIST = 5
"""Each class's farthest-point choice (``uncertain``) runs over its SHORTLIST x quota least sure rows."""
STRATEGIES = ("uncertain", "typical")


def uncertainty(probs: np.ndarray, disagreement: np.ndarray) -> np.ndarray:
    """How much a gold label would tell the teacher: 1 - its confidence, plus the share of its views
    (by weight) whose class differs from the combination's. Both in [0, 1]."""
    return (1.0 - np.asarray(probs).max(axis=1)) + np.asarray(disagreement)


def pick_rows(probs: np.ndarray, disagreement: np.ndarray, embeddings: np.ndarray, n: int, *,
              blocked: np.ndarray | None = None, strategy: str = "uncertain", seed: int = 0) -> np.ndarray:
    """Positions (into ``probs``) of ``n`` rows to label: class-balanced, unsure, spread out.

    Each class the teacher predicts gets ``n // n_classes`` picks (the remainder goes to the
    classes with the most candidates); a class with fewer candidates gives what it has and the
    rest goes to the others. Within a class, ``strategy``:

    - ``uncertain``: its least sure row, then farthest-point selection over its
      :data:`SHORTLIST` x quota least sure rows, each next row the farthest (in cosine distance)
      from every row picked so far, in any class;
    - ``typical``: the less sure half of its rows cut into quota k-means clusters in the
      embedding space, and from each cluster the row nearest its centre (Hacohen et al., 2022:
      with few labels, typical rows teach more than the most uncertain or most outlying ones).

    ``blocked`` rows are never picked.
    """
    if strategy not in STRATEGIES:
        raise DataError(f"review: strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    probs = np.asarray(probs)
    n_rows, n_classes = probs.shape
    score = uncertainty(probs, disagreement)
    allowed = np.ones(n_rows, dtype=bool) if blocked is None else ~np.asarray(blocked, dtype=bool)
    predicted = probs.argmax(axis=1)
    by_class = [np.flatnonzero((predicted == c) & allowed) for c in range(n_classes)]
    quota = _quotas(np.array([len(rows) for rows in by_class]), min(n, int(allowed.sum())))
    emb = np.asarray(embeddings, dtype=np.float64)
    picked: list[int] = []
    for c in np.argsort(-quota, kind="stable"):
        rows = by_class[c]
        if not quota[c]:
            continue
        rows = rows[np.lexsort((rows, -score[rows]))]
        if strategy == "typical":
            picked += _cluster_centres(rows[: max(int(quota[c]), (len(rows) + 1) // 2)], emb, int(quota[c]), seed)
        else:
            picked += _farthest_points(rows[: SHORTLIST * quota[c]], emb, int(quota[c]), picked)
    return np.sort(np.asarray(picked, dtype=np.int64))


def _cluster_centres(rows: np.ndarray, emb: np.ndarray, k: int, seed: int) -> list[int]:
    """``k`` rows of ``rows``: the one nearest each centre of a k-means cut of their embeddings."""
    from sklearn.cluster import KMeans

    if len(rows) <= k:
        return [int(r) for r in rows]
    x = emb[rows]
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    distance = ((x - km.cluster_centers_[km.labels_]) ** 2).sum(axis=1)
    chosen = []
    for cluster in range(k):
        members = np.flatnonzero(km.labels_ == cluster)
        if len(members):
            chosen.append(int(rows[members[np.argmin(distance[members])]]))
    return chosen


def _quotas(available: np.ndarray, n: int) -> np.ndarray:
    """``n`` picks shared as evenly as the classes' candidates allow."""
    quota = np.zeros(len(available), dtype=np.int64)
    while quota.sum() < n:
        open_ = np.flatnonzero(quota < available)
        if not len(open_):
            break
        share = max((n - int(quota.sum())) // len(open_), 1)
        for c in open_[np.argsort(-available[open_], kind="stable")]:
            if quota.sum() >= n:
                break
            quota[c] = min(quota[c] + share, available[c])
    return quota


def _farthest_points(rows: np.ndarray, emb: np.ndarray, k: int, already: list[int]) -> list[int]:
    """The least sure row of ``rows`` (they come sorted), then ``k - 1`` more, each the farthest from
    every row picked so far (``already`` included)."""
    chosen = [int(rows[0])]
    # cosine distance of every shortlisted row to its nearest pick (rows are unit vectors)
    nearest = 1.0 - (emb[rows] @ emb[already + chosen].T).max(axis=1)
    while len(chosen) < min(k, len(rows)):
        taken = np.isin(rows, chosen + already)
        nearest[taken] = -np.inf
        best = int(np.argmax(nearest))  # ties: the least sure row (the shortlist is sorted)
        chosen.append(int(rows[best]))
        nearest = np.minimum(nearest, 1.0 - emb[rows] @ emb[rows[best]])
    return chosen


def latest_teacher(run_dir: Path) -> Path:
    """The folder of the latest round whose teacher scored the pool."""
    rounds = sorted((Path(run_dir) / "rounds").glob("round_[0-9][0-9][0-9]"))
    for folder in reversed(rounds):
        if (folder / "teacher_probs.npy").is_file():
            return folder
    raise RunStateError(f"{run_dir}: no round has scored the pool yet; run a round first "
                        "(pseudolabel run-round --config ...)")


def review_frame(run_dir: Path, pool_texts, label_set: LabelSet, n: int, gold_rows: np.ndarray, *,
                 strategy: str = "uncertain", seed: int = 0) -> pd.DataFrame:
    """The rows to label, as written by ``pseudolabel review``: ``pool_row``, ``text``, ``guess``,
    ``guess_confidence`` and an empty ``label`` column for the person."""
    if n < 1:
        raise DataError(f"review: n must be at least 1, got {n}")
    folder = latest_teacher(run_dir)
    rows = np.load(folder / "teacher_rows.npy")
    probs = np.load(folder / "teacher_probs.npy")
    disagreement = np.load(folder / "teacher_disagreement.npy")
    embeddings = np.load(Path(run_dir) / "embeddings" / "pretrained-pool.npy", mmap_mode="r")[rows]
    picks = pick_rows(probs, disagreement, embeddings, n, blocked=np.isin(rows, gold_rows), strategy=strategy,
                      seed=seed)
    chosen = rows[picks]
    return pd.DataFrame({
        "pool_row": chosen, "text": pool_texts.take(chosen),
        "guess": label_set.decode(probs[picks].argmax(axis=1)), "guess_confidence": probs[picks].max(axis=1),
        "label": [""] * len(chosen),
    })


def check_new_labels(frame: pd.DataFrame, pool_texts, label_set: LabelSet, gold_rows: np.ndarray, *,
                     name: str) -> pd.DataFrame:
    """Validate a filled review file; return ``pool_row`` and ``label`` (as the classes are given).

    Raises :class:`DataError` naming the row and value: a missing column, a blank label, a label
    that is not a class, a ``pool_row`` that is not a row of the pool or is gold already, a row
    twice, or a text that is not the pool row's.
    """
    for col in ("pool_row", "label"):
        if col not in frame.columns:
            raise DataError(f"{name}: no column {col!r}; the columns are: {', '.join(map(str, frame.columns))}")
    if not len(frame):
        raise DataError(f"{name}: the file has no rows")
    labels = check_labels(frame["label"].tolist(), "label", name=name)
    labels = [_as_class(v, label_set) for v in labels]
    label_set.encode(labels, name=f"{name}: column 'label'")
    rows = []
    for i, value in enumerate(frame["pool_row"].tolist()):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < len(pool_texts):
            raise DataError(f"{name}: column 'pool_row', row {i}: {value!r} is not a row of the pool "
                            f"(0 to {len(pool_texts) - 1})")
        rows.append(int(value))
    rows = np.asarray(rows, dtype=np.int64)
    seen, twice = np.unique(rows, return_counts=True)
    if (twice > 1).any():
        raise DataError(f"{name}: pool row {int(seen[twice > 1][0])} is labeled more than once")
    already = np.isin(rows, gold_rows)
    if already.any():
        raise DataError(f"{name}: column 'pool_row', row {int(np.argmax(already))}: pool row "
                        f"{int(rows[already][0])} is gold already")
    if "text" in frame.columns:
        for i, (row, text) in enumerate(zip(rows, frame["text"].tolist())):
            if text != pool_texts.take([row])[0]:
                raise DataError(f"{name}: column 'text', row {i}: not the text of pool row {row}; was the file "
                                "made for another run?")
    return pd.DataFrame({"pool_row": rows, "label": labels})


def _as_class(value, label_set: LabelSet):
    """A label as the run's classes are typed: a CSV gives '10' where the classes are the int 10."""
    if value in label_set.classes:
        return value
    matches = [c for c in label_set.classes if str(c) == str(value).strip()]
    return matches[0] if len(matches) == 1 else value


def stamp(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The rows as ``extra_labels.parquet`` keeps them: with where and when they came in."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return frame.assign(source=source, added=now)
