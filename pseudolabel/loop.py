"""The round loop: train, evaluate, label the pool, select, repeat.

It knows rows, indices and rounds. Models, tokenizers and devices stay behind the
:class:`Learner` interface; files stay behind :class:`~pseudolabel.state.RunState`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from . import metrics
from .config import Config
from .data import Inputs
from .errors import RunStateError
from .selection import Selection, needs_mc_dropout, select
from .selection.agreement import agreeing
from .selection.calibrated import apply_temperature, fit_temperature
from .selection.uncertainty import bald
from .state import RunState, atomic_write_text

logger = logging.getLogger(__name__)

STOP_REASONS = {
    "max_rounds": "reached loop.max_rounds",
    "no_change": "no new pool row passed the selection",
    "all_labeled": "the pool is exhausted",
    "patience": "the eval metric did not improve for loop.patience rounds",
}


class Learner(Protocol):
    """What the loop needs from a trainer; tests substitute a fake with fixed probabilities."""

    def fit(self, texts: Sequence[str], labels: np.ndarray, *, seed: int, init_from: str | None,
            weights: np.ndarray | None = None, soft_targets: np.ndarray | None = None) -> dict: ...

    def predict_proba(self, texts: Sequence[str], *, out: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities; ``texts`` may be a pool :class:`~pseudolabel.data.TextColumn`,
        and ``out`` (a memory-mapped file) receives them when given."""
        ...

    def save(self, path) -> None: ...

    def n_truncated(self, texts: Sequence[str]) -> int: ...

    def predict_mc(self, texts: Sequence[str], passes: int, *, seed: int) -> np.ndarray:
        """``(passes, n, n_classes)`` probabilities with dropout on; needed only by ``uncertainty``."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length text embeddings; needed only by ``selection.agreement: knn``."""
        ...


def round_seed(seed: int, r: int) -> int:
    """An independent seed per (run seed, round), so a resumed round equals an uninterrupted one."""
    return int(np.random.SeedSequence([seed, r]).generate_state(1)[0])


def run_rounds(inputs: Inputs, learner: Learner, state: RunState, config: Config,
               *, max_new_rounds: int | None = None) -> list[dict]:
    """Run unfinished rounds until the run stops or ``max_new_rounds`` rounds have run.

    Returns the metrics of every finished round. Every round's inputs are read back from
    ``state``, so a run resumed from disk takes exactly the path of an uninterrupted one.
    """
    done = state.finished_rounds()
    ran = 0
    while not (done and done[-1]["stop"]) and (max_new_rounds is None or ran < max_new_rounds):
        done.append(run_one_round(inputs, learner, state, config, done))
        state.write_history()
        ran += 1
    if done and done[-1]["stop"]:
        finish(state, config, done)
    return done


def run_one_round(inputs: Inputs, learner: Learner, state: RunState, config: Config, done: list[dict]) -> dict:
    r = len(done)
    loop, sel_cfg, names = config.loop, config.selection, inputs.label_set.names
    start = time.perf_counter()

    taken = state.selections(range(r) if sel_cfg.mode == "accumulate" else range(max(r - 1, 0), r))
    pool_rows = taken["pool_row"].to_numpy(dtype=np.int64)
    pseudo_ids = inputs.label_set.encode(taken["label"].tolist(), name="pseudo-labels on disk")
    texts = inputs.labeled_texts + inputs.pool_texts.take(pool_rows)
    labels = np.concatenate([inputs.labeled_ids, pseudo_ids])
    init_from = None
    if config.train.init == "previous" and r > 0:
        init_from = str(state.round_dir(r - 1) / "model")
    temperature = None
    if sel_cfg.strategy == "calibrated":  # fitted once, in round 0, before the round's own model
        temperature = done[0]["temperature"] if done else calibrate(inputs, learner, config)
    weights = None
    if config.train.pseudo_weight == "confidence":
        weights = np.concatenate([np.ones(len(inputs.labeled_ids)), taken["confidence"].to_numpy(dtype=np.float64)])
    extra = {} if weights is None else {"weights": weights}
    if config.train.targets == "soft":
        extra["soft_targets"] = soft_targets(inputs, taken, config)
    fit_stats = learner.fit(texts, labels, seed=round_seed(config.seed, r), init_from=init_from, **extra)

    m = {"round": r, "n_labeled": len(inputs.labeled_texts), "n_pseudo_total": len(pool_rows)}
    if temperature is not None:
        m["temperature"] = temperature
    if inputs.eval_texts is not None:
        pred = learner.predict_proba(inputs.eval_texts).argmax(axis=1)
        scores = metrics.headline(inputs.eval_ids, pred, len(names))
        m["eval_accuracy"], m["eval_macro_f1"] = scores["accuracy"], scores["macro_f1"]
        previous = done[-1][f"eval_{loop.metric}"] if done else None
        m["eval_change"] = None if previous is None else m[f"eval_{loop.metric}"] - previous

    stop = stop_before_labeling(r, m, done, config)
    candidates = pool_candidates(inputs, pool_rows, sel_cfg.mode)
    if stop is None and not len(candidates):
        stop = "all_labeled"
    chosen, labeled_now, label_seconds, probs_file = empty_selection(), [], 0.0, None
    if stop is None:
        labeled_now = inputs.pool_texts.subset(candidates)  # read a chunk at a time while labeling
        t0 = time.perf_counter()
        uncertainty = None
        if needs_mc_dropout(sel_cfg):
            passes = learner.predict_mc(labeled_now, sel_cfg.mc_passes, seed=round_seed(config.seed, r))
            probs, uncertainty = passes.mean(axis=0), bald(passes)
        else:
            # streamed to disk a chunk at a time: a pool of millions never needs its
            # probabilities (or its texts) in memory at once; only the main process writes files
            out = None
            if state.is_main:
                probs_file = state.scratch_file(f"pool_probs-round_{r:03d}.npy")
                out = np.lib.format.open_memmap(probs_file, mode="w+", dtype=np.float32,
                                                shape=(len(candidates), len(names)))
            probs = learner.predict_proba(labeled_now, out=out)
        label_seconds = time.perf_counter() - t0
        if temperature is not None:
            probs = apply_temperature(probs, temperature)
        s = select(probs, sel_cfg, round=r, uncertainty=uncertainty)
        if sel_cfg.agreement == "knn" and len(s):
            s, m["n_disagreed"] = filter_by_agreement(s, candidates, pool_rows, pseudo_ids, inputs, learner, sel_cfg)
        chosen = selection_frame(inputs, candidates[s.indices], s, r, probs[s.indices])
        unchanged = sel_cfg.mode == "relabel" and r > 0 and _same_selection(
            chosen["pool_row"].to_numpy(), s.labels, pool_rows, pseudo_ids)
        if not len(chosen) or unchanged:
            stop = "no_change"
        m["n_candidates"] = len(candidates)
        m["selected_per_class"] = dict(zip(names, np.bincount(s.labels, minlength=len(names)).tolist()))
        if inputs.pool_gold is not None and len(chosen):
            m["pseudo_precision"] = float(np.mean(inputs.pool_gold[chosen["pool_row"]] == s.labels))
    m["n_truncated"] = learner.n_truncated(texts) + learner.n_truncated(labeled_now)
    m["n_selected"] = len(chosen)
    m["selection_rate"] = len(chosen) / len(candidates) if "n_candidates" in m else None
    m.update(train_seconds=fit_stats.get("seconds"), train_steps=fit_stats.get("steps"),
             label_seconds=label_seconds, stop=stop)
    m["wall_seconds"] = time.perf_counter() - start

    with state.writing_round(r) as tmp:
        learner.save(tmp / "model")
        if state.is_main:
            chosen.to_parquet(tmp / "pseudo_labels.parquet", index=False)
            atomic_write_text(tmp / "metrics.json", json.dumps(m, indent=2))
    if probs_file is not None:
        probs_file.unlink(missing_ok=True)
    logger.info(summary_line(m, config))
    return m


def calibrate(inputs: Inputs, learner: Learner, config: Config) -> float:
    """A temperature for the run's classifiers, from 2-fold cross-fitting on the gold rows.

    The gold rows are split in two halves, stratified by class; each half is labeled by a
    model trained on the other half with the run's training settings, and those out-of-fold
    probabilities fit the temperature (:func:`~pseudolabel.selection.calibrated.fit_temperature`).
    No label outside the budget is spent. The two models saw half the rows, so they are a
    little less sure than the round's model: the temperature is an estimate, and the
    ``pseudo_precision`` column of ``history.csv`` shows how well it held where gold exists.
    """
    y, texts = inputs.labeled_ids, inputs.labeled_texts
    rng = np.random.default_rng(round_seed(config.seed, 10_000))
    fold = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        fold[rng.permutation(np.flatnonzero(y == c))[::2]] = 1
    probs = np.zeros((len(y), len(inputs.label_set.names)))
    for k in (0, 1):
        train, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        learner.fit([texts[i] for i in train], y[train], seed=round_seed(config.seed, 10_001 + k), init_from=None)
        probs[held] = learner.predict_proba([texts[i] for i in held])
    temperature = fit_temperature(probs, y)
    logger.info("calibration: temperature %.3f from 2-fold cross-fitting on the %d gold rows", temperature, len(y))
    return temperature


def filter_by_agreement(s: Selection, candidates: np.ndarray, pool_rows: np.ndarray, pseudo_ids: np.ndarray,
                        inputs: Inputs, learner: Learner, sel_cfg) -> tuple[Selection, int]:
    """Drop the selected rows whose k-NN vote in the encoder's embedding space disagrees.

    The vote is over the gold-labeled rows, the pseudo-labels kept in earlier rounds and this
    round's other picks (:func:`pseudolabel.selection.agreement.agreeing`).
    """
    known_texts = inputs.labeled_texts + inputs.pool_texts.take(pool_rows)
    known_labels = np.concatenate([inputs.labeled_ids, pseudo_ids]).astype(np.int64)
    chosen_texts = inputs.pool_texts.take(candidates[s.indices])
    keep = agreeing(learner.embed(chosen_texts), s.labels, learner.embed(known_texts), known_labels,
                    len(inputs.label_set.names), sel_cfg.knn_k)
    return Selection(s.indices[keep], s.labels[keep], s.confidence[keep]), int((~keep).sum())


def empty_selection() -> pd.DataFrame:
    return pd.DataFrame({"pool_row": np.zeros(0, np.int64), "text": [], "label": [],
                         "confidence": np.zeros(0), "round": np.zeros(0, np.int64), "probs": []})


def selection_frame(inputs: Inputs, rows: np.ndarray, s, r: int, probs: np.ndarray) -> pd.DataFrame:
    """The rows taken in round ``r`` as written to ``pseudo_labels.parquet``."""
    return pd.DataFrame({
        "pool_row": rows, "text": inputs.pool_texts.take(rows),
        "label": inputs.label_set.decode(s.labels).tolist(), "confidence": s.confidence,
        "round": np.full(len(rows), r, dtype=np.int64), "probs": list(np.asarray(probs, dtype=np.float64)),
    })


def soft_targets(inputs: Inputs, taken: pd.DataFrame, config: Config) -> np.ndarray:
    """One target distribution per training row: gold rows one-hot (smoothed by
    ``train.label_smoothing``), pseudo-labeled rows the teacher's probabilities sharpened
    (T < 1) or flattened (T > 1) by ``train.soft_temperature``."""
    n_classes = len(inputs.label_set.names)
    eps = config.train.label_smoothing
    gold = np.full((len(inputs.labeled_ids), n_classes), eps / n_classes)
    gold[np.arange(len(gold)), inputs.labeled_ids] += 1 - eps
    if not len(taken):
        return gold
    if "probs" not in taken:
        raise RunStateError("train.targets 'soft' needs the class probabilities of every pseudo-label, and this "
                            "run's pseudo_labels.parquet files have no 'probs' column (written by an older "
                            "pseudolabel); start a new run folder")
    teacher = np.stack(taken["probs"].to_numpy()).astype(np.float64)
    return np.concatenate([gold, apply_temperature(teacher, config.train.soft_temperature)])


def stop_before_labeling(r: int, m: dict, done: list[dict], config: Config) -> str | None:
    loop = config.loop
    key = f"eval_{loop.metric}"
    if loop.patience is not None and key in m and done:
        history = [d[key] for d in done] + [m[key]]
        if r - int(np.argmax(history)) >= loop.patience:
            return "patience"
    if r >= loop.max_rounds:
        return "max_rounds"
    return None


def pool_candidates(inputs: Inputs, taken_rows: np.ndarray, mode: str) -> np.ndarray:
    """Pool rows that may be labeled this round: not a labeled text, not already taken (accumulate)."""
    blocked = inputs.pool_repeats_labeled.copy()
    if mode == "accumulate":
        blocked[taken_rows] = True
    return np.flatnonzero(~blocked)


def _same_selection(rows, labels, prev_rows, prev_labels) -> bool:
    order = np.argsort(prev_rows)
    return np.array_equal(rows, prev_rows[order]) and np.array_equal(labels, prev_labels[order])


def finish(state: RunState, config: Config, done: list[dict]) -> None:
    """Choose the final round (best eval metric, else the last) and write ``final/``."""
    key = f"eval_{config.loop.metric}"
    if key in done[-1]:
        best = int(np.argmax([d[key] for d in done]))
        reason = f"best {key} {done[best][key]:.4f} of {len(done)} rounds"
    else:
        best = len(done) - 1
        reason = "last round (no eval split, so no round could be compared)"
    final = state.root / "final" / "final.json"
    needed = not final.is_file() or json.loads(final.read_text())["round"] != best
    state.barrier()  # every process has decided before the main process writes
    if needed:
        state.write_final(best, reason)
        logger.info("run finished (%s): final model = round %d, %s", STOP_REASONS[done[-1]["stop"]], best, reason)


def summary_line(m: dict, config: Config) -> str:
    parts = [f"round {m['round']}/{config.loop.max_rounds}: trained on {m['n_labeled']} labeled + {m['n_pseudo_total']} pseudo ({m['train_seconds']:.0f}s)"]
    if "eval_accuracy" in m:
        change = "" if m.get("eval_change") is None else f" ({m['eval_change']:+.4f})"
        parts.append(f"eval acc {m['eval_accuracy']:.4f} macro-F1 {m['eval_macro_f1']:.4f}{change}")
        if m.get("eval_change") is not None and m["eval_change"] < 0:
            parts.append("WORSE than the previous round")
    else:
        parts.append("no eval split: rounds cannot be compared")
    if "n_candidates" in m:
        rate = f" ({m['selection_rate']:.1%})" if m["selection_rate"] is not None else ""
        prec = f", precision {m['pseudo_precision']:.3f}" if "pseudo_precision" in m else ""
        dropped = f" after the k-NN filter dropped {m['n_disagreed']}" if m.get("n_disagreed") else ""
        parts.append(f"selected {m['n_selected']}/{m['n_candidates']}{rate}{prec}{dropped}")
    if m.get("n_truncated"):
        parts.append(f"{m['n_truncated']} texts cut at model.max_length")
    if m["stop"]:
        parts.append(f"stop: {STOP_REASONS[m['stop']]}")
    return ", ".join(parts)
