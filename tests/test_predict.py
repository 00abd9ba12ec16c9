"""``pseudolabel predict`` streams: every format, chunk by chunk, bad rows named, nothing half-written.

A stub stands in for the fitted SelfTrainer (predict_file needs only its ``predict_proba``,
``label_set_`` and ``config_``), so these run in milliseconds; tests/test_api.py runs predict
end to end on a real run.
"""

import errno
import json
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pseudolabel.cli import main
from pseudolabel.config import Config
from pseudolabel.data import LabelSet
from pseudolabel.errors import DataError, WriteError
from pseudolabel.predict import predict_file


class Stub:
    """Class "long" when a text has more than 12 characters; remembers each call's size."""

    config_ = Config()
    label_set_ = LabelSet(("long", "short"))

    def __init__(self):
        self.calls = []

    def predict_proba(self, texts):
        self.calls.append(len(texts))
        p_long = np.array([0.9 if len(t) > 12 else 0.2 for t in texts])
        return np.stack([p_long, 1 - p_long], axis=1)


def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n), "text": [f"row {i}" + " x" * (i % 7) for i in range(n)],
                         "source": [f"s{i % 3}" for i in range(n)]})


def write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False, row_group_size=10)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


def read(path) -> pd.DataFrame:
    return {".csv": pd.read_csv, ".parquet": pd.read_parquet,
            ".jsonl": lambda p: pd.read_json(p, lines=True)}[path.suffix](path)


@pytest.mark.parametrize("source", [".csv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("target", [".csv", ".jsonl", ".parquet"])
def test_every_row_and_column_arrives_in_order_chunk_by_chunk(source, target, tmp_path):
    frame = table(25)
    stub = Stub()
    out = tmp_path / f"out{target}"
    assert predict_file(stub, write(frame, tmp_path / f"in{source}"), out, chunk_rows=7) == 25
    assert stub.calls == [7, 7, 7, 4], "read and labeled a chunk at a time"
    got = read(out)
    assert list(got.columns) == ["id", "text", "source", "prediction", "confidence"]
    pd.testing.assert_frame_equal(got[["id", "text", "source"]], frame, check_dtype=False)
    expected = np.where(frame["text"].str.len() > 12, "long", "short")
    assert got["prediction"].tolist() == expected.tolist()
    assert np.allclose(got["confidence"], np.where(expected == "long", 0.9, 0.8))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.parametrize("source", [".csv", ".jsonl", ".parquet"])
def test_a_bad_row_in_the_middle_is_named_and_leaves_no_output(source, tmp_path):
    frame = table(30)
    frame.loc[17, "text"] = "   "
    out = tmp_path / "out.parquet"
    out.write_text("an earlier output")
    with pytest.raises(DataError, match=r"in\.\w+: column 'text', row 17: text is empty or whitespace only"):
        predict_file(Stub(), write(frame, tmp_path / f"in{source}"), out, chunk_rows=8)
    assert out.read_text() == "an earlier output", "the earlier file stays as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in" + source, "out.parquet"]


def test_unparsable_lines_are_named(tmp_path):
    lines = [json.dumps({"text": f"text {i}"}) for i in range(20)]
    lines[12] = '{"text": "cut'
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"in\.jsonl: line 13: not valid JSON \(Unterminated string starting at "
                                        r"column 10\)"):
        predict_file(Stub(), tmp_path / "in.jsonl", tmp_path / "out.csv", chunk_rows=5)
    (tmp_path / "in.csv").write_text("text,id\n" + "".join(f"t{i},{i}\n" for i in range(20)) + "a,1,extra\n")
    with pytest.raises(DataError, match=r"in\.csv: malformed csv: .*line 22"):
        predict_file(Stub(), tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "in.jsonl"]


def test_a_full_disk_while_writing_leaves_no_output(tmp_path, monkeypatch):
    calls = []

    def full(self, table, *args, **kwargs):
        calls.append(len(table))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, table, *args, **kwargs)

    original = pq.ParquetWriter.write_table
    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    out = tmp_path / "out.parquet"
    with pytest.raises(WriteError, match=r"out\.parquet: cannot write the predictions \(No space left on device\); "
                                         "no output was left"):
        predict_file(Stub(), write(table(20), tmp_path / "in.csv"), out, chunk_rows=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_column_whose_type_changes_is_named_for_parquet_output(tmp_path):
    frame = table(20).astype({"source": object})
    frame.loc[12:, "source"] = [str(i) + "a" for i in range(8)]
    frame.loc[:11, "source"] = range(12)
    with pytest.raises(DataError, match=r"column 'source' changes type in the rows from 10 "
                                         r"\(int64 before, (large_)?string there\); a parquet output needs one type"):
        predict_file(Stub(), write(frame, tmp_path / "in.csv"), tmp_path / "out.parquet", chunk_rows=10)
    assert predict_file(Stub(), tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=10) == 20  # text keeps both


def test_memory_stays_flat_in_the_file_size(tmp_path):
    """Peaks labeling 10x the rows: a whole-file read would grow ~10x; a stream stays put.

    Two heaps: Python's (tracemalloc: pandas, the texts) and Arrow's (the parquet reader, which
    pre-buffering made grow with every row group read).
    """

    class Watching(Stub):
        arrow_peak = 0

        def predict_proba(self, texts):
            self.arrow_peak = max(self.arrow_peak, pa.total_allocated_bytes())
            return super().predict_proba(texts)

    python, arrow = {}, {}
    for n in (5_000, 50_000):
        path = tmp_path / f"in-{n}.parquet"
        table(n).to_parquet(path, row_group_size=1000)
        stub = Watching()
        tracemalloc.start()
        predict_file(stub, path, tmp_path / f"out-{n}.csv", chunk_rows=1000)
        python[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        arrow[n] = stub.arrow_peak
    assert python[50_000] < 2 * python[5_000], python
    assert arrow[50_000] < 1.5 * arrow[5_000], arrow


def test_cli_reports_a_bad_row_on_one_line(tmp_path, monkeypatch, capsys):
    from pseudolabel import SelfTrainer

    monkeypatch.setattr(SelfTrainer, "from_run", classmethod(lambda cls, run: Stub()))
    frame = table(20)
    frame.loc[9, "text"] = None
    write(frame, tmp_path / "in.parquet")
    out = tmp_path / "out.csv"
    assert main(["predict", "--run", "r", "--input", str(tmp_path / "in.parquet"), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"pseudolabel: error: {tmp_path / 'in.parquet'}: column 'text', row 9: text is missing (NaN)\n"
    assert not out.exists() and not (tmp_path / ".tmp-out.csv").exists()
    frame.loc[9, "text"] = "fixed"
    write(frame, tmp_path / "in.parquet")
    assert main(["predict", "--run", "r", "--input", str(tmp_path / "in.parquet"), "--output", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 20 predictions to {out}\n"
