"""Tier 0: reading tables and refusing bad input with errors that say what and where."""

import datasets
import numpy as np
import pandas as pd
import pytest

from pseudolabel.data import LabelSet, TextColumn, chunks, load_inputs, read_table
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


def test_text_column_reads_rows_views_and_chunks_without_a_list():
    ds = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(10)]})
    col = TextColumn(ds, "text")
    assert len(col) == 10 and col[3] == "t3" and col[-1] == "t9" and col[2:5] == ["t2", "t3", "t4"]
    assert col.take([7, 1, 7]) == ["t7", "t1", "t7"] and col.take([]) == []
    view = col.subset([9, 4, 0, 6]).subset([3, 1, 2])  # a view of a view: rows 6, 4, 0
    assert list(view) == ["t6", "t4", "t0"] and view.take([2]) == ["t0"]
    assert [len(c) for c in col.chunks(4)] == [4, 4, 2] and [c for c in view.chunks(2)] == [["t6", "t4"], ["t0"]]
    assert list(chunks(["a", "b", "c"], 2)) == [["a", "b"], ["c"]]
    with pytest.raises(IndexError):
        col[10]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_pool_file_stays_a_memory_mapped_arrow_table(tmp_path, suffix):
    pool = pd.DataFrame({"text": [f"pool text {i}" for i in range(25)] + ["a b"], "label": ["x", "y"] * 13})
    path = tmp_path / f"pool{suffix}"
    {".csv": lambda p: pool.to_csv(p, index=False), ".parquet": lambda p: pool.to_parquet(p),
     ".jsonl": lambda p: pool.to_json(p, orient="records", lines=True)}[suffix](path)
    from_file, in_memory = load_inputs(LAB, path), load_inputs(LAB, pool)
    assert isinstance(from_file.pool_texts, TextColumn)
    assert from_file.pool_texts.dataset.cache_files  # backed by an Arrow file on disk, memory-mapped
    assert list(from_file.pool_texts) == pool["text"].tolist() == list(in_memory.pool_texts)
    assert from_file.pool_gold.tolist() == in_memory.pool_gold.tolist() == [0, 1] * 13
    assert from_file.pool_repeats_labeled.tolist() == [False] * 25 + [True]  # "a b" is a labeled text
    assert from_file.fingerprint() == in_memory.fingerprint()


def test_fingerprint_of_a_streamed_pool_equals_the_whole_list_hash():
    """Run folders made before the pool was streamed still resume: the hash is unchanged."""
    import hashlib
    import json

    inputs = load_inputs(LAB, POOL, LAB)
    digest = hashlib.sha256()
    for part in (inputs.label_set.to_json(), LAB["text"].tolist(), [0, 1, 0], POOL["text"].tolist(),
                 LAB["text"].tolist(), [0, 1, 0]):
        digest.update(json.dumps(part, ensure_ascii=False).encode())
    assert inputs.fingerprint() == digest.hexdigest()


def test_bad_pool_rows_are_named_across_chunks(tmp_path):
    """20,000 rows are read in chunks of 8,192: the row numbers in errors are the file's."""
    texts = [f"row {i}" for i in range(20_000)]
    texts[17_001] = "   "
    pd.DataFrame({"text": texts}).to_parquet(tmp_path / "pool.parquet")
    with pytest.raises(DataError, match=r"unlabeled: column 'text', row 17001: text is empty or whitespace only"):
        load_inputs(LAB, tmp_path / "pool.parquet")
    labels = ["x"] * 20_000
    labels[9_999] = "w"
    pd.DataFrame({"text": [f"row {i}" for i in range(20_000)], "label": labels}).to_parquet(tmp_path / "gold.parquet")
    with pytest.raises(DataError, match=r"unlabeled \(hidden gold\): row 9999: class 'w' has no labeled example"):
        load_inputs(LAB, tmp_path / "gold.parquet")
    pd.DataFrame({"body": ["a"]}).to_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(DataError, match="unlabeled: no column 'text'; the columns are: body"):
        load_inputs(LAB, tmp_path / "nocol.parquet")
    (tmp_path / "ragged.csv").write_text("text\na\nb,extra\n")
    with pytest.raises(DataError, match="unlabeled: .*ragged.csv: malformed csv"):
        load_inputs(LAB, tmp_path / "ragged.csv")
