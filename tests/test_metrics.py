"""The evaluation report: scikit-learn's per-class numbers, the confusion matrix, the terminal text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pseudolabel.metrics import MAX_MATRIX_CLASSES, format_report, report


def test_report_counts_by_hand():
    # true a a a b b c ; predicted a a b b a a
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 0, 0])
    result = report(y_true, y_pred, ["a", "b", "c"])
    assert result["n"] == 6 and result["accuracy"] == pytest.approx(3 / 6)
    assert result["confusion_matrix"] == {"labels": ["a", "b", "c"],
                                          "rows_true_cols_pred": [[2, 1, 0], [1, 1, 0], [1, 0, 0]]}
    a, b, c = (result["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 4), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(1 / 2), pytest.approx(1 / 2), 2)
    assert c == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}  # never predicted: 0, no warning
    assert result["macro_f1"] == pytest.approx(np.mean([f["f1"] for f in result["per_class"].values()]))
    json.dumps(result)  # plain Python numbers: what `evaluate --json` prints


def test_classes_named_like_the_summary_rows_keep_their_own_numbers():
    names = ["accuracy", "macro avg", "weighted avg"]
    result = report(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]), names)
    assert [result["per_class"][n]["support"] for n in names] == [1, 1, 2]
    assert result["per_class"]["accuracy"]["recall"] == 1.0 and result["per_class"]["macro avg"]["recall"] == 0.0


def test_text_report_is_sklearns_table_from_the_carried_matrix():
    result = report(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 0, 0]), ["a", "b", "c"])
    text = format_report(result)
    lines = text.splitlines()
    row = next(line.split() for line in lines if line.split()[:1] == ["a"])
    assert row == ["a", "0.5000", "0.6667", "0.5714", "3"]
    assert next(line.split() for line in lines if line.strip().startswith("accuracy"))[1] == "0.5000"
    assert "rows 6" in text and "confusion matrix (rows: true, columns: predicted)" in text
    assert lines[-1].split() == ["c", "1", "0", "0"]


def test_text_report_of_many_classes_lists_the_largest_confusions():
    n = MAX_MATRIX_CLASSES + 5
    names = [f"intent_{i}" for i in range(n)]
    y_true = np.concatenate([np.arange(n), [3] * 7, [5] * 2])
    y_pred = np.concatenate([np.arange(n), [4] * 7, [6] * 2])
    text = format_report(report(y_true, y_pred, names))
    lines = text.splitlines()
    top = lines.index(next(line for line in lines if line.startswith("confusion matrix")))
    assert lines[top + 1].split() == ["7", "true", "intent_3", "->", "predicted", "intent_4"]
    assert lines[top + 2].split() == ["2", "true", "intent_5", "->", "predicted", "intent_6"]
    assert len(lines) == top + 3  # only real confusions, no zero rows
    assert max(len(line) for line in lines) < 120
