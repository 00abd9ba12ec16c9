"""Classification metrics, all from :mod:`sklearn.metrics`."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

# Above this many classes a text confusion matrix no longer fits a terminal: list the largest
# confusions instead (the whole matrix stays in the JSON report).
MAX_MATRIX_CLASSES = 20


def headline(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 over all ``n_classes`` (a class never predicted scores 0)."""
    labels = np.arange(n_classes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def report(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support, and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : ndarray of int
        Class indices into ``names``.
    names : list of str
        The class names, in class-index order.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``n``, ``per_class`` (``{name: {precision, recall, f1,
        support}}``, from :func:`sklearn.metrics.classification_report`) and
        ``confusion_matrix`` (``{labels, rows_true_cols_pred}``).
    """
    labels = np.arange(len(names))
    # keyed by class index, not name: classification_report's dict puts "accuracy",
    # "macro avg" and "weighted avg" beside the classes, and a class may carry one of those names
    per_class = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return {
        **headline(y_true, y_pred, len(names)),
        "n": int(len(y_true)),
        "per_class": {
            name: {"precision": float(m["precision"]), "recall": float(m["recall"]),
                   "f1": float(m["f1-score"]), "support": int(m["support"])}
            for name, m in zip(names, (per_class[str(i)] for i in labels))
        },
        "confusion_matrix": {"labels": names, "rows_true_cols_pred": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def format_report(result: dict) -> str:
    """The report of :func:`report` as text for a terminal: scikit-learn's table and the confusion matrix.

    Every number in the table is a function of the confusion matrix, so the table is computed
    from the matrix the report carries: the text and the JSON can never disagree.
    """
    names = result["confusion_matrix"]["labels"]
    cells = np.asarray(result["confusion_matrix"]["rows_true_cols_pred"], dtype=np.int64)
    true_ids, pred_ids = np.nonzero(cells)
    counts = cells[true_ids, pred_ids]
    table = classification_report(np.repeat(true_ids, counts), np.repeat(pred_ids, counts),
                                  labels=np.arange(len(names)), target_names=names, digits=4, zero_division=0)
    lines = [f"rows {result['n']}", "", table.rstrip(), ""]
    if len(names) <= MAX_MATRIX_CLASSES:
        width = max(12, *(len(n) for n in names))
        cw = max(6, *(len(n) for n in names))
        lines.append("confusion matrix (rows: true, columns: predicted)")
        lines.append(" " * width + " " + " ".join(f"{n[:cw]:>{cw}}" for n in names))
        for name, row in zip(names, cells):
            lines.append(f"{name:<{width}} " + " ".join(f"{v:>{cw}d}" for v in row))
    else:
        lines.append(f"confusion matrix: {len(names)} classes, too many to print; "
                     f"the {MAX_MATRIX_CLASSES} largest confusions (the whole matrix is in --json)")
        for t, p, count in largest_confusions(cells, MAX_MATRIX_CLASSES):
            lines.append(f"  {count:6d}  true {names[t]} -> predicted {names[p]}")
    return "\n".join(lines)


def largest_confusions(cells: np.ndarray, k: int) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix, largest first.

    Returns ``(true class, predicted class, count)`` triples; cells holding 0 are left out and
    ties keep row-major order.
    """
    off = np.array(cells, dtype=np.int64)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(int(t), int(p), int(off[t, p])) for t, p in zip(*np.unravel_index(order, off.shape)) if off[t, p]]
