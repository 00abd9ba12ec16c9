"""Input tables: reading csv / jsonl / parquet / DataFrame / Dataset, column checks, label encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import pandas as pd

from .errors import DataError

if TYPE_CHECKING:
    import datasets

TableLike = Union[pd.DataFrame, "datasets.Dataset", str, Path]
READERS = {
    ".csv": lambda p: pd.read_csv(p, encoding="utf-8", keep_default_na=False, na_values=[""]),
    ".jsonl": lambda p: pd.read_json(p, lines=True, encoding="utf-8"),
    ".json": lambda p: pd.read_json(p, lines=True, encoding="utf-8"),
    ".parquet": pd.read_parquet,
}


def read_table(source: TableLike, *, name: str) -> pd.DataFrame:
    """Load ``source`` as a DataFrame; ``name`` ("labeled", "unlabeled", ...) is used in errors."""
    import datasets

    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    if isinstance(source, datasets.Dataset):
        return source.to_pandas()
    if isinstance(source, (datasets.DatasetDict, datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise DataError(
            f"{name}: got a {type(source).__name__}; pass one split as a datasets.Dataset, "
            f"e.g. dataset['train']"
        )
    if not isinstance(source, (str, Path)):
        raise DataError(
            f"{name}: expected a pandas DataFrame, a datasets.Dataset or a path to a "
            f".csv/.jsonl/.parquet file, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{name}: file not found: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{name}: {path}: unsupported file type {path.suffix!r}; use .csv, .jsonl or .parquet")
    try:
        return reader(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: {path}: not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: {path}: malformed csv: {str(exc).strip().splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: {path}: the file is empty") from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{name}: {path}: cannot be read as {path.suffix}: {str(exc).splitlines()[0]}") from None


def column(frame: pd.DataFrame, col: str, *, name: str) -> pd.Series:
    if col not in frame.columns:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{name}: no column {col!r}; the columns are: {have}")
    return frame[col]


def texts_from(frame: pd.DataFrame, col: str, *, name: str) -> list[str]:
    """The text column as a list of non-empty strings; the first bad row is named in the error."""
    values = column(frame, col, name=name).tolist()
    for row, value in enumerate(values):
        if not isinstance(value, str):
            what = "missing (NaN)" if value is None or (isinstance(value, float) and np.isnan(value)) else (
                f"not a string ({type(value).__name__} {value!r})"
            )
            raise DataError(f"{name}: column {col!r}, row {row}: text is {what}")
        if not value.strip():
            raise DataError(f"{name}: column {col!r}, row {row}: text is empty or whitespace only")
    return values


def labels_from(frame: pd.DataFrame, col: str, *, name: str) -> list:
    values = column(frame, col, name=name).tolist()
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{name}: column {col!r}, row {row}: label is missing")
    return [v.item() if isinstance(v, np.generic) else v for v in values]


@dataclass(frozen=True)
class LabelSet:
    """The classes seen in the labeled data, in sorted order; maps user labels to 0..n-1 and back."""

    classes: tuple

    @classmethod
    def fit(cls, labels: Sequence[Any], *, name: str = "labeled") -> "LabelSet":
        kinds = {type(v) for v in labels}
        if len(kinds) > 1:
            raise DataError(
                f"{name}: labels mix types ({', '.join(sorted(k.__name__ for k in kinds))}); "
                "use all strings or all integers"
            )
        classes = tuple(sorted(set(labels)))
        if len(classes) < 2:
            raise DataError(f"{name}: only one class ({classes[0]!r}) in the labels; need at least two")
        return cls(classes)

    def encode(self, labels: Sequence[Any], *, name: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(labels), dtype=np.int64)
        for row, value in enumerate(labels):
            if value not in index:
                raise DataError(
                    f"{name}: row {row}: class {value!r} has no labeled example; "
                    f"the labeled classes are {list(self.classes)}"
                )
            out[row] = index[value]
        return out

    def decode(self, ids: Sequence[int]) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[np.asarray(ids, dtype=np.int64)]

    @property
    def names(self) -> list[str]:
        return [str(c) for c in self.classes]

    def to_json(self) -> str:
        return json.dumps({"classes": list(self.classes)})

    @classmethod
    def from_json(cls, text: str) -> "LabelSet":
        return cls(tuple(json.loads(text)["classes"]))


@dataclass
class Inputs:
    """Validated inputs of one run: labeled texts and ids, the pool, and the optional eval split.

    ``pool_gold`` holds the pool's own labels when the unlabeled table carries the label
    column; they never reach training and serve only to report pseudo-label precision.
    """

    label_set: LabelSet
    labeled_texts: list[str]
    labeled_ids: np.ndarray
    pool_texts: list[str]
    pool_gold: np.ndarray | None
    eval_texts: list[str] | None
    eval_ids: np.ndarray | None
    pool_repeats_labeled: np.ndarray

    @property
    def n_pool_overlap(self) -> int:
        """Pool rows whose text is also a labeled text; they are never pseudo-labeled."""
        return int(self.pool_repeats_labeled.sum())

    def fingerprint(self) -> str:
        """A hash of every text and label, so a run folder is tied to the data it was made from."""
        import hashlib

        digest = hashlib.sha256()
        for part in (self.label_set.to_json(), self.labeled_texts, self.labeled_ids.tolist(),
                     self.pool_texts, self.eval_texts, None if self.eval_ids is None else self.eval_ids.tolist()):
            digest.update(json.dumps(part, ensure_ascii=False).encode())
        return digest.hexdigest()


def load_inputs(labeled: TableLike, unlabeled: TableLike, eval: TableLike | None = None, *,
                text_column: str = "text", label_column: str = "label") -> Inputs:
    """Read and check the three tables; raise :class:`DataError` on the first problem."""
    lab = read_table(labeled, name="labeled")
    labeled_texts = texts_from(lab, text_column, name="labeled")
    raw_labels = labels_from(lab, label_column, name="labeled")
    if not labeled_texts:
        raise DataError("labeled: the table has no rows")
    label_set = LabelSet.fit(raw_labels)
    labeled_ids = label_set.encode(raw_labels, name="labeled")

    pool = read_table(unlabeled, name="unlabeled")
    pool_texts = texts_from(pool, text_column, name="unlabeled")
    if not pool_texts:
        raise DataError("unlabeled: the pool has no rows")
    pool_gold = None
    if label_column in pool.columns:
        pool_gold = label_set.encode(labels_from(pool, label_column, name="unlabeled (hidden gold)"),
                                     name="unlabeled (hidden gold)")
    seen = set(labeled_texts)
    repeats = np.fromiter((t in seen for t in pool_texts), dtype=bool, count=len(pool_texts))

    eval_texts = eval_ids = None
    if eval is not None:
        ev = read_table(eval, name="eval")
        eval_texts = texts_from(ev, text_column, name="eval")
        if not eval_texts:
            raise DataError("eval: the table has no rows")
        eval_ids = label_set.encode(labels_from(ev, label_column, name="eval"), name="eval")
    return Inputs(label_set, labeled_texts, labeled_ids, pool_texts, pool_gold, eval_texts, eval_ids, repeats)
