"""Input tables: reading csv / jsonl / parquet / DataFrame / Dataset, column checks, label encoding."""

from __future__ import annotations

import dataclasses
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
    return check_texts(column(frame, col, name=name).tolist(), col, name=name)


def check_texts(values: list, col: str, *, name: str, offset: int = 0) -> list:
    """Raise :class:`DataError` at the first value that is not a non-empty string (row ``offset`` + i)."""
    for row, value in enumerate(values, start=offset):
        if not isinstance(value, str):
            what = "missing (NaN)" if value is None or (isinstance(value, float) and np.isnan(value)) else (
                f"not a string ({type(value).__name__} {value!r})"
            )
            raise DataError(f"{name}: column {col!r}, row {row}: text is {what}")
        if not value.strip():
            raise DataError(f"{name}: column {col!r}, row {row}: text is empty or whitespace only")
    return values


def labels_from(frame: pd.DataFrame, col: str, *, name: str) -> list:
    return check_labels(column(frame, col, name=name).tolist(), col, name=name)


def check_labels(values: list, col: str, *, name: str, offset: int = 0) -> list:
    for row, value in enumerate(values, start=offset):
        if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{name}: column {col!r}, row {row}: label is missing")
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def read_pool(source: TableLike, *, name: str = "unlabeled") -> "datasets.Dataset":
    """The unlabeled table as a :class:`datasets.Dataset`: memory-mapped Arrow, never a Python list.

    Files are converted once into the ``datasets`` cache (``HF_DATASETS_CACHE``, by default
    ``~/.cache/huggingface/datasets``) and memory-mapped from there, so a pool of millions of
    texts costs disk, not memory.
    """
    import datasets

    if isinstance(source, datasets.Dataset):
        return source
    if not isinstance(source, (str, Path)) or Path(source).suffix.lower() not in READERS or not Path(source).is_file():
        read_table(source, name=name)  # raises the precise error
    path = Path(source)
    builder = {".csv": lambda: datasets.Dataset.from_csv(str(path), keep_default_na=False, na_values=[""]),
               ".parquet": lambda: datasets.Dataset.from_parquet(str(path))}.get(
        path.suffix.lower(), lambda: datasets.Dataset.from_json(str(path)))
    try:
        return builder()
    except Exception as exc:  # noqa: BLE001 - pandas names the problem better; else say what datasets said
        read_table(path, name=name)
        cause = exc.__cause__ or exc
        raise DataError(f"{name}: {path}: cannot be read as {path.suffix}: {str(cause).splitlines()[0]}") from None


class TextColumn(Sequence[str]):
    """A text column of a :class:`datasets.Dataset`, read a slice at a time (any column reads so).

    The unlabeled pool is one of these: its length and any row are at hand, but the texts stay in
    the (memory-mapped) Arrow table until asked for, a chunk at a time (:meth:`chunks`) or by row
    (:meth:`take`). ``rows`` restricts it to those rows, in that order, without reading them.
    """

    def __init__(self, dataset: "datasets.Dataset", column: str, rows: np.ndarray | None = None):
        self.dataset = dataset
        self.column = column
        self._arrow = dataset.with_format("arrow")
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.dataset) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        if not -len(self) <= i < len(self):
            raise IndexError(f"row {i} of a {len(self)}-row text column")
        return self.take([i % len(self)])[0]

    def __iter__(self):
        for chunk in self.chunks():
            yield from chunk

    def take(self, rows: Sequence[int]) -> list[str]:
        """The texts at positions ``rows`` of this column, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return []
        index = rows if self.rows is None else self.rows[rows]
        return self._arrow[index.tolist()][self.column].to_pylist()

    def subset(self, rows: Sequence[int]) -> "TextColumn":
        """A view of positions ``rows``; nothing is read."""
        rows = np.asarray(rows, dtype=np.int64)
        return TextColumn(self.dataset, self.column, rows if self.rows is None else self.rows[rows])

    def chunks(self, size: int = 8192):
        """The texts as consecutive lists of at most ``size``."""
        for start in range(0, len(self), size):
            if self.rows is None:
                yield self._arrow[start : start + size][self.column].to_pylist()
            else:
                yield self.take(np.arange(start, min(start + size, len(self))))


def chunks(texts: Sequence[str], size: int):
    """``texts`` as consecutive lists of at most ``size``: a list is sliced, a :class:`TextColumn` read."""
    if isinstance(texts, TextColumn):
        yield from texts.chunks(size)
    else:
        for start in range(0, len(texts), size):
            yield list(texts[start : start + size])


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

    def encode(self, labels: Sequence[Any], *, name: str, offset: int = 0) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(labels), dtype=np.int64)
        for row, value in enumerate(labels, start=offset):
            if value not in index:
                raise DataError(
                    f"{name}: row {row}: class {value!r} has no labeled example; "
                    f"the labeled classes are {list(self.classes)}"
                )
            out[row - offset] = index[value]
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


@dataclass(frozen=True)
class Descriptions:
    """Label descriptions: plain sentences saying what each class means.

    Attributes
    ----------
    sentences : list of str
    classes : ndarray of int64
        The class index each sentence describes.
    """

    sentences: list[str]
    classes: np.ndarray

    def to_json(self) -> str:
        return json.dumps({"sentences": self.sentences, "classes": self.classes.tolist()}, ensure_ascii=False)


def load_descriptions(source: Any, label_set: LabelSet) -> Descriptions:
    """Check a ``{label: [sentence, ...]}`` mapping (or a YAML / JSON file of one) against the classes.

    Every class needs at least one non-empty sentence; a label that is not a class, a missing
    class, an empty sentence or a value that is not a string raises :class:`DataError` naming it.
    Keys may be the labels themselves or, for integer labels (JSON keys are strings), their text.
    """
    where = "label_descriptions"
    if isinstance(source, (str, Path)):
        import yaml

        path = Path(source)
        where = f"label_descriptions {path}"
        if not path.is_file():
            raise DataError(f"{where}: file not found")
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataError(f"{where}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(source, dict) or not source:
        raise DataError(f"{where}: expected a mapping of each class to a list of sentences, "
                        f"e.g. {{{label_set.classes[0]!r}: ['...', '...']}}, got {type(source).__name__}")
    index = {c: i for i, c in enumerate(label_set.classes)}
    by_text = {str(c): i for i, c in enumerate(label_set.classes)}
    sentences, owners, seen = [], [], set()
    for key, values in source.items():
        c = index.get(key, by_text.get(str(key)))
        if c is None:
            raise DataError(f"{where}: {key!r} is not a class of the labeled data; the classes are "
                            f"{list(label_set.classes)}")
        if c in seen:
            raise DataError(f"{where}: class {label_set.classes[c]!r} is described twice")
        seen.add(c)
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values:
            raise DataError(f"{where}: class {key!r}: expected a list of sentences, got {values!r}")
        for i, text in enumerate(values):
            if not isinstance(text, str):
                raise DataError(f"{where}: class {key!r}, sentence {i}: not a string ({type(text).__name__} {text!r})")
            if not text.strip():
                raise DataError(f"{where}: class {key!r}, sentence {i}: empty")
            sentences.append(text.strip())
            owners.append(c)
    missing = [label_set.classes[c] for c in range(len(label_set.classes)) if c not in seen]
    if missing:
        raise DataError(f"{where}: no description for class(es) {missing}; every class needs at least one sentence")
    return Descriptions(sentences, np.asarray(owners, dtype=np.int64))


@dataclass
class Inputs:
    """Validated inputs of one run: labeled texts and ids, the pool, and the optional eval split.

    ``pool_gold`` holds the pool's own labels when the unlabeled table carries the label
    column; they never reach training and serve only to report pseudo-label precision.
    """

    label_set: LabelSet
    labeled_texts: list[str]
    labeled_ids: np.ndarray
    pool_texts: TextColumn
    pool_gold: np.ndarray | None
    eval_texts: list[str] | None
    eval_ids: np.ndarray | None
    pool_repeats_labeled: np.ndarray
    descriptions: Descriptions | None = None
    n_added: int = 0

    def with_gold(self, pool_rows: np.ndarray, labels: list) -> "Inputs":
        """These inputs with pool rows labeled by a person between rounds: they join the gold rows
        (after the original ones, in the order given) and are never pseudo-labeled."""
        if not len(pool_rows):
            return self
        pool_rows = np.asarray(pool_rows, dtype=np.int64)
        blocked = self.pool_repeats_labeled.copy()
        blocked[pool_rows] = True
        return dataclasses.replace(
            self, labeled_texts=self.labeled_texts + self.pool_texts.take(pool_rows),
            labeled_ids=np.concatenate([self.labeled_ids, self.label_set.encode(labels, name="extra_labels.parquet")]),
            pool_repeats_labeled=blocked, n_added=self.n_added + len(pool_rows))

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
            if isinstance(part, TextColumn):  # the bytes of json.dumps(list(part)), a chunk at a time
                digest.update(b"[")
                for i, chunk in enumerate(part.chunks()):
                    text = ", ".join(json.dumps(t, ensure_ascii=False) for t in chunk)
                    digest.update(((", " if i else "") + text).encode())
                digest.update(b"]")
            else:
                digest.update(json.dumps(part, ensure_ascii=False).encode())
        if self.descriptions is not None:  # absent: the hash of runs made before descriptions existed
            digest.update(self.descriptions.to_json().encode())
        return digest.hexdigest()


def load_inputs(labeled: TableLike, unlabeled: TableLike, eval: TableLike | None = None, *,
                text_column: str = "text", label_column: str = "label", label_descriptions: Any = None) -> Inputs:
    """Read and check the three tables; raise :class:`DataError` on the first problem."""
    lab = read_table(labeled, name="labeled")
    labeled_texts = texts_from(lab, text_column, name="labeled")
    raw_labels = labels_from(lab, label_column, name="labeled")
    if not labeled_texts:
        raise DataError("labeled: the table has no rows")
    label_set = LabelSet.fit(raw_labels)
    labeled_ids = label_set.encode(raw_labels, name="labeled")

    pool_texts, pool_gold, repeats = load_pool(unlabeled, label_set, set(labeled_texts), text_column=text_column,
                                               label_column=label_column)

    eval_texts = eval_ids = None
    if eval is not None:
        ev = read_table(eval, name="eval")
        eval_texts = texts_from(ev, text_column, name="eval")
        if not eval_texts:
            raise DataError("eval: the table has no rows")
        eval_ids = label_set.encode(labels_from(ev, label_column, name="eval"), name="eval")
    descriptions = None if label_descriptions is None else load_descriptions(label_descriptions, label_set)
    return Inputs(label_set, labeled_texts, labeled_ids, pool_texts, pool_gold, eval_texts, eval_ids, repeats,
                  descriptions)


def load_pool(source: TableLike, label_set: LabelSet, labeled: set[str], *, text_column: str,
              label_column: str, chunk: int = 8192) -> tuple[TextColumn, np.ndarray | None, np.ndarray]:
    """The pool's texts (a :class:`TextColumn`), hidden gold ids if it has the label column, and
    which rows repeat a labeled text; checked a chunk at a time, so the texts never sit in memory."""
    name = "unlabeled"
    if isinstance(source, pd.DataFrame):  # in memory already: check it as a table, then hand Arrow the texts
        import datasets

        gold = None
        if label_column in source.columns:
            where = f"{name} (hidden gold)"
            gold = label_set.encode(labels_from(source, label_column, name=where), name=where)
        values = texts_from(source, text_column, name=name)
        if not values:
            raise DataError(f"{name}: the pool has no rows")
        texts = TextColumn(datasets.Dataset.from_dict({text_column: values}), text_column)
        return texts, gold, np.fromiter((t in labeled for t in values), dtype=bool, count=len(values))
    dataset = read_pool(source, name=name)
    if text_column not in dataset.column_names:
        have = ", ".join(map(str, dataset.column_names)) or "none"
        raise DataError(f"{name}: no column {text_column!r}; the columns are: {have}")
    if not len(dataset):
        raise DataError(f"{name}: the pool has no rows")
    texts = TextColumn(dataset, text_column)
    repeats = np.zeros(len(texts), dtype=bool)
    for start, values in zip(range(0, len(texts), chunk), texts.chunks(chunk)):
        check_texts(values, text_column, name=name, offset=start)
        repeats[start : start + len(values)] = [t in labeled for t in values]
    gold = None
    if label_column in dataset.column_names:
        where = f"{name} (hidden gold)"
        gold = np.empty(len(texts), dtype=np.int64)
        for start, part in zip(range(0, len(texts), chunk), TextColumn(dataset, label_column).chunks(chunk)):
            values = check_labels(part, label_column, name=where, offset=start)
            gold[start : start + len(values)] = label_set.encode(values, name=where, offset=start)
    return texts, gold, repeats
