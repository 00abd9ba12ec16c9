"""Tier 0: reading tables and refusing bad input with errors that say what and where."""

import datasets
import numpy as np
import pandas as pd
import pytest

from pseudolabel.data import LabelSet, load_inputs, read_table
from pseudolabel.errors import DataError

LAB = pd.DataFrame({"text": ["a b", "c d", "e f"], "label": ["x", "y", "x"]})
POOL = pd.DataFrame({"text": ["g h", "i j"]})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reads_each_format_and_dataset(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    {".csv": lambda p: LAB.to_csv(p, index=False), ".parquet": lambda p: LAB.to_parquet(p),
     ".jsonl": lambda p: LAB.to_json(p, orient="records", lines=True)}[suffix](path)
    assert read_table(path, name="labeled")["text"].tolist() == LAB["text"].tolist()
    inputs = load_inputs(path, datasets.Dataset.from_pandas(POOL), LAB)
    assert inputs.label_set.classes == ("x", "y") and inputs.labeled_ids.tolist() == [0, 1, 0]


def test_integer_labels_round_trip():
    lab = LAB.assign(label=[3, 7, 3])
    ls = load_inputs(lab, POOL).label_set
    assert ls.classes == (3, 7) and ls.names == ["3", "7"]
    assert ls.decode([1, 0]).tolist() == [7, 3]
    assert LabelSet.from_json(ls.to_json()) == ls


@pytest.mark.parametrize("labeled, pool, evaluation, message", [
    (LAB.rename(columns={"text": "body"}), POOL, None, "labeled: no column 'text'; the columns are: body, label"),
    (LAB.drop(columns="label"), POOL, None, "labeled: no column 'label'; the columns are: text"),
    (LAB.assign(text=["a", None, "b"]), POOL, None, "labeled: column 'text', row 1: text is missing"),
    (LAB.assign(text=["a", "  ", "b"]), POOL, None, "row 1: text is empty or whitespace only"),
    (LAB.assign(text=["a", 5, "b"]), POOL, None, r"row 1: text is not a string \(int 5\)"),
    (LAB.assign(label=["x", None, "x"]), POOL, None, "labeled: column 'label', row 1: label is missing"),
    (LAB.assign(label=["x", "x", "x"]), POOL, None, "only one class"),
    (LAB.assign(label=["x", 1, "x"]), POOL, None, "labels mix types"),
    (LAB.iloc[:0], POOL, None, "labeled: column|labeled: the table has no rows"),
    (LAB, POOL.iloc[:0], None, "unlabeled: the pool has no rows"),
    (LAB, POOL.assign(text=["ok", float("nan")]), None, r"unlabeled: column 'text', row 1: text is missing \(NaN\)"),
    (LAB, POOL, LAB.assign(label=["x", "z", "y"]), "eval: row 1: class 'z' has no labeled example"),
    (LAB, POOL.assign(label=["x", "w"]), None, "class 'w' has no labeled example"),
])
def test_bad_tables(labeled, pool, evaluation, message):
    with pytest.raises(DataError, match=message):
        load_inputs(labeled, pool, evaluation)


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="labeled: file not found: .*nope.csv"):
        read_table(tmp_path / "nope.csv", name="labeled")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.txt'"):
        read_table(tmp_path / "t.txt", name="labeled")
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_table(tmp_path / "latin.csv", name="labeled")
    (tmp_path / "ragged.csv").write_text("text,label\na,x\nb,y,extra\n")
    with pytest.raises(DataError, match="malformed csv: .*line 3"):
        read_table(tmp_path / "ragged.csv", name="labeled")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_table(tmp_path / "empty.csv", name="labeled")
    with pytest.raises(DataError, match="pass one split as a datasets.Dataset"):
        read_table(datasets.DatasetDict({"train": datasets.Dataset.from_pandas(LAB)}), name="labeled")
    with pytest.raises(DataError, match="got list"):
        read_table(["a"], name="labeled")


def test_fingerprint_tracks_content():
    a = load_inputs(LAB, POOL).fingerprint()
    assert a == load_inputs(LAB.copy(), POOL.copy()).fingerprint()
    assert a != load_inputs(LAB.assign(label=["y", "y", "x"]), POOL).fingerprint()
    assert a != load_inputs(LAB, POOL.assign(text=["g h", "i k"])).fingerprint()
    assert np.issubdtype(load_inputs(LAB, POOL).labeled_ids.dtype, np.integer)
