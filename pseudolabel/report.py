"""Pictures of a run folder: ``report.png``, drawn from the rounds' metrics and pseudo-labels."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RunStateError
from .metrics import largest_confusions
from .state import RunState

logger = logging.getLogger(__name__)

REPORT_NAME = "report.png"
# Above this many classes a legend, per-class bars or a labelled matrix no longer fit a panel:
# the picture shows distributions over the classes instead.
MANY_CLASSES = 20
MATPLOTLIB_HINT = ('pictures of a run need matplotlib, which is not installed: pip install matplotlib '
                   '(or pip install "pseudolabel[report]"), then draw them with: pseudolabel report --run %s')


@dataclass
class ReportData:
    """The tables that ``report.png`` draws, read from a run folder by :func:`report_data`.

    Attributes
    ----------
    run_dir : Path
        The run folder.
    classes : list of str
        The class names, in class-index order (``labels.json``).
    rounds : ndarray of int
        The finished rounds, in order.
    eval_accuracy, eval_macro_f1 : ndarray of float
        One value per round; NaN where the round has no eval split.
    selected : pandas.DataFrame
        Pool rows picked by each round's teacher (trained on in the next round), per class:
        index ``rounds``, one column per class; 0 where a round selected nothing.
    confidence : dict of int to ndarray
        The confidence of every row each round selected (``pseudo_labels.parquet``).
    pseudo_precision : ndarray of float
        One value per round: the share of its selected rows whose pool gold label agrees; NaN
        where the pool has no gold labels or the round selected nothing.
    confusion : ndarray of int or None
        The eval confusion matrix (rows true, columns predicted) of ``confusion_round``; None
        when that round's metrics carry none (no eval split).
    confusion_round : int
        The final round when the run is finished, else the last finished round.
    final_round : int or None
        The round ``final/`` holds; None while the run is unfinished.
    final_reason : str or None
        Why that round was chosen (``final/final.json``).
    """

    run_dir: Path
    classes: list[str]
    rounds: np.ndarray
    eval_accuracy: np.ndarray
    eval_macro_f1: np.ndarray
    selected: pd.DataFrame
    confidence: dict[int, np.ndarray]
    pseudo_precision: np.ndarray
    confusion: np.ndarray | None
    confusion_round: int
    final_round: int | None
    final_reason: str | None

    @property
    def has_eval(self) -> bool:
        return bool(np.isfinite(self.eval_accuracy).any())

    @property
    def has_precision(self) -> bool:
        return bool(np.isfinite(self.pseudo_precision).any())


def report_data(run_dir: str | Path) -> ReportData:
    """Read what the report draws from a run folder; pure reading, no matplotlib.

    Missing keys in a round's ``metrics.json`` (a run without an eval split, a pool without
    gold labels, a round that stopped before labeling, a run written by an older version)
    become NaN, zeros or None rather than errors.

    Raises
    ------
    RunStateError
        When ``run_dir`` is not a run folder or has no finished round yet.
    """
    state = RunState(run_dir)
    classes = state.label_set().names
    metrics = state.finished_rounds()
    if not metrics:
        raise RunStateError(f"{state.root}: no finished round yet, so nothing to draw; run a round first")
    rounds = np.array([m["round"] for m in metrics], dtype=np.int64)

    def column(key: str) -> np.ndarray:
        return np.array([np.nan if m.get(key) is None else float(m[key]) for m in metrics])

    selected = pd.DataFrame([{name: int(m.get("selected_per_class", {}).get(name, 0)) for name in classes}
                             for m in metrics], index=pd.Index(rounds, name="round"), columns=classes)
    confidence = {}
    for r in rounds:
        path = state.round_dir(int(r)) / "pseudo_labels.parquet"
        if path.is_file():
            confidence[int(r)] = pd.read_parquet(path, columns=["confidence"])["confidence"].to_numpy(np.float64)

    final_round = final_reason = None
    final_json = state.root / "final" / "final.json"
    if final_json.is_file():
        final = json.loads(final_json.read_text())
        final_round, final_reason = int(final["round"]), final.get("reason")
    confusion_round = final_round if final_round is not None else int(rounds[-1])
    cells = metrics[int(np.flatnonzero(rounds == confusion_round)[0])].get("eval_confusion_matrix")
    return ReportData(
        run_dir=state.root, classes=classes, rounds=rounds,
        eval_accuracy=column("eval_accuracy"), eval_macro_f1=column("eval_macro_f1"),
        selected=selected, confidence=confidence, pseudo_precision=column("pseudo_precision"),
        confusion=None if cells is None else np.asarray(cells, dtype=np.int64),
        confusion_round=confusion_round, final_round=final_round, final_reason=final_reason,
    )


def draw_report(run_dir: str | Path) -> list[Path]:
    """Draw ``report.png`` into the run folder: four panels over the finished rounds.

    Eval accuracy and macro-F1 by round; pool rows selected per class by round; the
    confidence of the selected rows with their precision against the pool's gold labels; the
    eval confusion matrix of the final round (of the last round while the run is unfinished).
    Each panel says so when the run lacks what it needs (no eval split, no pool gold labels).
    The file is replaced whole, so a reader never sees half a picture.

    matplotlib is optional: without it this logs one warning saying how to install it and
    returns an empty list.

    Parameters
    ----------
    run_dir : str or Path
        A run folder with at least one finished round.

    Returns
    -------
    list of Path
        The pictures written: ``[run_dir / "report.png"]``, or ``[]`` without matplotlib.

    Raises
    ------
    RunStateError
        When ``run_dir`` is not a run folder or has no finished round yet.

    Examples
    --------
    >>> draw_report("runs/ag_news_1k")  # doctest: +SKIP
    [PosixPath('runs/ag_news_1k/report.png')]
    """
    data = report_data(run_dir)  # first: a wrong folder is an error with or without matplotlib
    try:
        import matplotlib  # noqa: F401  (imported first so that a missing package is one ImportError)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning(MATPLOTLIB_HINT, run_dir)
        return []
    # a Figure on its own Agg canvas, not pyplot: no global backend switched under a notebook
    # user, no figure kept alive in pyplot's registry between rounds
    fig = Figure(figsize=(15, 10.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_eval, ax_sel, ax_conf, ax_cm = fig.subplots(2, 2).ravel()
    _draw_eval(ax_eval, data)
    _draw_selection(ax_sel, data)
    _draw_confidence(ax_conf, data)
    _draw_confusion(fig, ax_cm, data)
    finished = (f"final model: round {data.final_round} ({data.final_reason})" if data.final_round is not None
                else f"unfinished: {len(data.rounds)} round(s) so far")
    fig.suptitle(f"{data.run_dir.name}: {len(data.classes)} classes, {finished}", fontsize=13)
    out = data.run_dir / REPORT_NAME
    # a name of this process's own: `pseudolabel report` may draw while the run itself does
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, out)
    logger.info("wrote %s", out)
    return [out]


def _rounds_axis(ax, data: ReportData) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(data.rounds[0] - 0.6, data.rounds[-1] + 0.6)
    ax.set_xlabel("round")
    ax.grid(axis="y", alpha=0.3)


def _note(ax, text: str) -> None:
    """A panel with nothing to plot says why, in its middle."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=11, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_eval(ax, data: ReportData) -> None:
    ax.set_title("Eval split by round")
    if not data.has_eval:
        _note(ax, "no eval split: rounds cannot be compared,\nso the final model is simply the last round")
        return
    ax.plot(data.rounds, data.eval_accuracy, marker="o", label="accuracy")
    ax.plot(data.rounds, data.eval_macro_f1, marker="s", label="macro-F1")
    ax.set_ylabel("score on the eval split")
    if data.final_round is not None:
        ax.axvline(data.final_round, color="0.5", linestyle=":", linewidth=1.2, label=f"final (round {data.final_round})")
    _rounds_axis(ax, data)
    ax.legend(loc="lower right", fontsize=9)


def _draw_selection(ax, data: ReportData) -> None:
    counts = data.selected.to_numpy()
    ax.set_title(f"Pool rows picked by each round's teacher ({int(counts.sum())} in all)")
    if not counts.any():
        _note(ax, "no round selected any pool row")
        return
    if len(data.classes) <= MANY_CLASSES:
        colors = _class_colors(len(data.classes))
        bottom = np.zeros(len(data.rounds))
        for i, name in enumerate(data.classes):
            ax.bar(data.rounds, counts[:, i], bottom=bottom, color=colors[i], label=name, width=0.7)
            bottom += counts[:, i]
        # beside the panel, not over the bars it explains
        ax.legend(fontsize=8, ncol=2 if len(data.classes) > 10 else 1, loc="upper left", bbox_to_anchor=(1.01, 1),
                  title="class", title_fontsize=8)
    else:
        # 77 stacked colours tell nothing apart: show how evenly the classes were served instead
        some = counts.any(axis=1)
        lo, q1, med, q3, hi = np.percentile(counts[some], [0, 25, 50, 75, 100], axis=1)
        ax.vlines(data.rounds[some], lo, hi, color="C0", linewidth=1, label="min to max over classes")
        ax.vlines(data.rounds[some], q1, q3, color="C0", linewidth=6, alpha=0.6, label="middle half of the classes")
        ax.plot(data.rounds[some], med, "o", color="C1", label="median class")
        for r, row in zip(data.rounds, counts):
            if row.any() and (row == 0).any():
                ax.annotate(f"{int((row == 0).sum())} classes\nwith none", (r, row.max()), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 4), textcoords="offset points")
        ax.set_ylim(top=counts.max() * 1.25)
        ax.legend(fontsize=8, loc="upper left")
    for r in data.rounds[~counts.any(axis=1)]:
        ax.text(r, 0, "none", ha="center", va="bottom", fontsize=9, color="0.35")
    ax.set_ylabel("rows per class" if len(data.classes) > MANY_CLASSES else "rows")
    _rounds_axis(ax, data)


def _draw_confidence(ax, data: ReportData) -> None:
    ax.set_title("Confidence of the selected rows" + (" and their precision" if data.has_precision else ""))
    with_rows = [(r, c) for r, c in data.confidence.items() if len(c)]
    if not with_rows:
        _note(ax, "no round selected any pool row")
        return
    positions, values = zip(*with_rows)
    ax.boxplot(values, positions=positions, widths=0.5, showfliers=False, manage_ticks=False,
               patch_artist=True, boxprops={"facecolor": "C0", "alpha": 0.35},
               medianprops={"color": "C0"})
    ax.plot([], [], color="C0", linewidth=6, alpha=0.35, label="confidence (box: quartiles, whiskers: 1.5 IQR)")
    if data.has_precision:
        known = np.isfinite(data.pseudo_precision)
        ax.plot(data.rounds[known], data.pseudo_precision[known], marker="D", color="C3",
                label="precision against the pool's gold labels")
    else:
        ax.text(0.02, 0.04, "the pool has no gold labels: precision unknown", transform=ax.transAxes,
                fontsize=9, color="0.35")
    ax.set_ylim(max(0.0, min(min(c.min() for c in values), np.nanmin(data.pseudo_precision, initial=1.0)) - 0.05),
                1.02)
    ax.set_ylabel("probability of the chosen class")
    _rounds_axis(ax, data)
    ax.legend(fontsize=8, loc="lower right" if data.has_precision else "upper right")


def _draw_confusion(fig, ax, data: ReportData) -> None:
    from matplotlib.colors import PowerNorm

    which = "final round" if data.final_round is not None else "last finished round"
    ax.set_title(f"Eval confusion matrix, round {data.confusion_round} ({which})")
    if data.confusion is None:
        why = (f"round {data.confusion_round}'s metrics.json carries none\n(written by an older pseudolabel)"
               if data.has_eval else "the run has no eval split")
        _note(ax, f"no confusion matrix: {why}")
        return
    cells = data.confusion
    n = len(data.classes)
    # colour by the share of each true class's rows, so small classes show their errors too, on
    # a square-root scale, so a few per cent of confusions is visible next to a dark diagonal
    share = cells / np.maximum(cells.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    # beside the matrix itself: a colorbar given the whole grid cell lands far from a square image
    fig.colorbar(image, cax=ax.inset_axes([1.03, 0.0, 0.035, 1.0]), label="share of the true class's eval rows")
    if n > MANY_CLASSES:
        # 77 tick labels would overprint one another: indices, and the largest confusions by name
        label = "predicted class (index in labels.json)"
        pairs = [f"{_short(data.classes[t], 32)} → {_short(data.classes[p], 32)} ({count})"
                 for t, p, count in largest_confusions(cells, 3)]
        if pairs:
            label += "\nlargest confusions, true → predicted:\n" + "\n".join(pairs)
        ax.set_xlabel(label)
        ax.set_ylabel("true class (index in labels.json)")
        return
    names, size = [_short(name) for name in data.classes], 10 if n <= 6 else 8
    ax.set_xticks(range(n), names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center", fontsize=size)
    ax.set_yticks(range(n), names, fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 12:
        for (t, p), v in np.ndenumerate(cells):
            ax.text(p, t, str(v), ha="center", va="center", fontsize=12 if n <= 4 else 8,
                    color="white" if share[t, p] > 0.5 else "black")


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def _class_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i) for i in range(n)]
