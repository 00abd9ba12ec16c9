"""``pseudolabel predict`` on files of any size: read, label and write a chunk of rows at a time.

Memory stays flat in the file size: one chunk's rows, texts and probabilities are in memory at a
time. The output is written under ``.tmp-NAME`` beside ``NAME`` and renamed when complete, so a
file named ``NAME`` is always whole; on any error (a bad row, a full disk, Ctrl-C) the temporary
file is removed and an earlier ``NAME`` is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .data import READERS, check_texts, column
from .errors import DataError, WriteError, one_line

if TYPE_CHECKING:
    from .api import SelfTrainer

CHUNK_ROWS = 16384
"""Rows read, labeled and written together (the labeler's own chunk: one tokenizer call each)."""


def check_output(output: str | Path) -> Path:
    """``output`` as a path, or :class:`DataError` if its type cannot be written (checked before any work)."""
    output = Path(output)
    if output.suffix.lower() not in READERS:
        raise DataError(f"--output {output}: unsupported file type {output.suffix!r}; use .csv, .jsonl or .parquet")
    return output


def predict_file(trainer: "SelfTrainer", source: str | Path, output: str | Path, *, text_column: str | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> int:
    """Write every row of ``source`` to ``output`` with the ``prediction`` and ``confidence`` columns added.

    Parameters
    ----------
    trainer : SelfTrainer
        A fitted one (:meth:`SelfTrainer.from_run`).
    source, output : str or Path
        ``.csv``, ``.jsonl`` or ``.parquet`` files; the formats may differ.
    text_column : str, optional
        Defaults to the run's ``data.text_column``.
    chunk_rows : int
        Rows in memory at a time.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    DataError
        ``source`` is missing, unreadable, or has a bad row (named by its 0-based row number,
        or its line for a parse error); no output is left.
    WriteError
        ``output`` could not be written (disk full, read-only); no output is left.
    """
    source, output = Path(source), check_output(output)
    if source.suffix.lower() not in READERS:
        raise DataError(f"--input {source}: unsupported file type {source.suffix!r}; use .csv, .jsonl or .parquet")
    if not source.is_file():
        raise DataError(f"--input: file not found: {source}")
    text_column = text_column or trainer.config_.data.text_column
    tmp = output.with_name(f".tmp-{output.name}")
    writer = ChunkWriter(tmp, source)
    rows = 0
    try:
        with contextlib.closing(read_chunks(source, chunk_rows)) as frames:
            for frame in frames:
                texts = check_texts(column(frame, text_column, name=str(source)).tolist(), text_column,
                                    name=str(source), offset=rows)
                probs = trainer.predict_proba(texts)
                with _writing(output):
                    writer.write(frame.assign(prediction=trainer.label_set_.decode(probs.argmax(axis=1)),
                                              confidence=probs.max(axis=1)), rows)
                rows += len(frame)
        with _writing(output):
            writer.close()
            os.replace(tmp, output)
    except BaseException:
        writer.discard()
        raise
    return rows


@contextlib.contextmanager
def _writing(output: Path):
    try:
        yield
    except OSError as exc:
        raise WriteError(f"{output}: cannot write the predictions ({one_line(exc)}); no output was left: free "
                         "some space (or choose another --output) and run the command again") from None


def read_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """``path`` as consecutive DataFrames of at most ``rows`` rows, with a progress bar.

    A header-only csv or an empty parquet file gives one empty frame (its columns); problems
    are :class:`DataError` naming the row or line.
    """
    kind = path.suffix.lower()
    # parquet knows its row count (set once the file is open); for text files the bar follows
    # the bytes read, which gives an honest time left without a first pass to count rows
    bar = (tqdm(unit="rows", desc=f"predict {path.name}", disable=None) if kind == ".parquet" else
           tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"predict {path.name}", disable=None))
    with bar:
        try:
            if kind == ".parquet":
                yield from _parquet_chunks(path, rows, bar)
            elif kind == ".csv":
                yield from _csv_chunks(path, rows, bar)
            else:
                yield from _jsonl_chunks(path, rows, bar)
        except OSError as exc:  # unreadable (permissions, a disk fault); parse errors are caught below
            raise DataError(f"{path}: cannot be read ({one_line(exc)})") from None


def _parquet_chunks(path: Path, rows: int, bar) -> Iterator[pd.DataFrame]:
    done = 0
    try:
        # no pre-buffering: it keeps the bytes of every row group read so far until the file is
        # closed (+115 MiB over a million rows); a buffered stream also reads a large row group
        # a megabyte at a time rather than whole
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as file:
            bar.reset(total=file.metadata.num_rows)
            if not file.metadata.num_rows:
                yield file.schema_arrow.empty_table().to_pandas()
            for batch in file.iter_batches(batch_size=rows):
                frame = batch.to_pandas()
                bar.update(len(frame))
                yield frame
                done += len(frame)
    except (OSError, ValueError, pa.ArrowException) as exc:
        where = f"the rows from {done}" if done else "the file"
        raise DataError(f"{path}: {where} cannot be read as .parquet ({one_line(exc)})") from None


def _csv_chunks(path: Path, rows: int, bar) -> Iterator[pd.DataFrame]:
    done = 0
    try:
        with open(path, "rb") as handle:
            for frame in pd.read_csv(handle, chunksize=rows, encoding="utf-8", keep_default_na=False,
                                     na_values=[""]):
                bar.update(handle.tell() - bar.n)
                yield frame
                done += len(frame)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (after row {done}); re-save the file as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed csv: {str(exc).strip().splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None


def _jsonl_chunks(path: Path, rows: int, bar) -> Iterator[pd.DataFrame]:
    # parsed line by line rather than by pandas, whose chunked reader does not say which line is bad
    records, yielded = [], False
    with open(path, "rb") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.strip())  # without its newline, a cut line reads as unterminated
            except UnicodeDecodeError:
                raise DataError(f"{path}: line {line_no}: not UTF-8 text; re-save the file as UTF-8") from None
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_no}: not valid JSON ({exc.msg.removesuffix(' at')} at column "
                                f"{exc.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {line_no}: expected a JSON object per line, got "
                                f"{type(record).__name__}")
            records.append(record)
            if len(records) == rows:
                bar.update(handle.tell() - bar.n)
                yield pd.DataFrame.from_records(records)
                records, yielded = [], True
        bar.update(handle.tell() - bar.n)
    if records:
        yield pd.DataFrame.from_records(records)
    elif not yielded:
        raise DataError(f"{path}: no rows (the file is empty or blank)")


class ChunkWriter:
    """Appends DataFrames to ``path`` as csv, jsonl or parquet (by its name without ``.tmp-``).

    The first frame fixes the columns, and for parquet the schema; a later frame's columns are
    put in that order (missing ones empty), and its types cast to that schema.
    """

    def __init__(self, path: Path, source: Path):
        self.path, self.source = path, source
        self.kind = path.suffix.lower()
        self.columns: list | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._handle = None

    def write(self, frame: pd.DataFrame, first_row: int) -> None:
        if self.columns is None:
            self.columns = list(frame.columns)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif list(frame.columns) != self.columns:
            new = [c for c in frame.columns if c not in self.columns]
            if new:
                raise DataError(f"{self.source}: column {new[0]!r} first appears in the rows from {first_row}; "
                                "a streamed output takes its columns from the first rows: give every row every "
                                "column (null where empty)")
            frame = frame.reindex(columns=self.columns)
        if self.kind == ".parquet":
            self._write_parquet(pa.Table.from_pandas(frame, preserve_index=False), first_row)
            return
        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8", newline="")
            if self.kind == ".csv":
                frame.to_csv(self._handle, index=False)
                return
        if self.kind == ".csv":
            frame.to_csv(self._handle, index=False, header=False)
        else:
            frame.to_json(self._handle, orient="records", lines=True, force_ascii=False)

    def _write_parquet(self, table: pa.Table, first_row: int) -> None:
        if self._parquet is None:
            # a column with no value yet (all null in the first rows) is typed as text, so that
            # later values have a type to be cast to
            schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema],
                               metadata=table.schema.metadata)
            self._parquet = pq.ParquetWriter(self.path, schema)
        schema = self._parquet.schema
        if not table.schema.equals(schema, check_metadata=False):
            try:
                table = table.cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
                name = next((f.name for f in table.schema if f.type != schema.field(f.name).type), "?")
                raise DataError(
                    f"{self.source}: column {name!r} changes type in the rows from {first_row} "
                    f"({schema.field(name).type} before, {table.schema.field(name).type} there); a parquet "
                    "output needs one type per column: write .csv or .jsonl, or make the column one type"
                ) from None
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()

    def discard(self) -> None:
        """Close without caring whether it can be flushed, and remove the file."""
        for closer in (self._parquet, self._handle):
            if closer is not None:
                with contextlib.suppress(OSError):  # the disk that failed the write may fail the flush too
                    closer.close()
        self._parquet = self._handle = None
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
