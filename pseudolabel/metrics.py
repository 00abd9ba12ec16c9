"""Classification metrics, all from :mod:`sklearn.metrics`."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def headline(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 over all ``n_classes`` (a class never predicted scores 0)."""
    labels = np.arange(n_classes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def report(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support, and the confusion matrix."""
    labels = np.arange(len(names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        **headline(y_true, y_pred, len(names)),
        "n": int(len(y_true)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
        "confusion_matrix": {"labels": names, "rows_true_cols_pred": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def format_report(result: dict) -> str:
    """The report as aligned text for a terminal."""
    names = list(result["per_class"])
    width = max(12, *(len(n) for n in names))
    lines = [f"accuracy  {result['accuracy']:.4f}", f"macro-F1  {result['macro_f1']:.4f}", f"rows      {result['n']}", ""]
    lines.append(f"{'class':<{width}} precision  recall      f1  support")
    for name, m in result["per_class"].items():
        lines.append(f"{name:<{width}} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:7.4f} {m['support']:8d}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    cells = result["confusion_matrix"]["rows_true_cols_pred"]
    cw = max(6, *(len(n) for n in names))
    lines.append(" " * width + " " + " ".join(f"{n[:cw]:>{cw}}" for n in names))
    for name, row in zip(names, cells):
        lines.append(f"{name:<{width}} " + " ".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)
