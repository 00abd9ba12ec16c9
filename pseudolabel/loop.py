"""The round loop: train a student, evaluate it, let it score the pool, ask the teacher, repeat.

It knows rows, indices and rounds. Models, tokenizers and devices stay behind the
:class:`Learner` and :class:`Embedder` interfaces; which rows to trust and with which targets
is the teacher's (:mod:`pseudolabel.teacher`); files stay behind
:class:`~pseudolabel.state.RunState`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from . import metrics
from .config import Config
from .data import Descriptions, Inputs
from .modelcard import write_model_card
from .report import draw_report
from .errors import RunStateError
from .held_out import cross_fitted_probs
from .soup import fit_soup, soup_seeds
from .selection.curriculum import curriculum_share
from .state import RunState, atomic_write_text
from .teacher import Teacher, TeacherInput, TeacherOutput
from .teacher.lexical import lexical_space
from .teacher.descriptions import class_vectors, name_sentences

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
            weights: np.ndarray | None = None, soft_targets: np.ndarray | None = None, desc: str = "train",
            warm_rows: np.ndarray | None = None) -> dict:
        """Train a new student; ``desc`` names it in progress bars and tracker logs; ``warm_rows``:
        the rows a head that starts from a linear probe is probed on (the gold rows)."""
        ...

    def score(self, texts: Sequence[str], *, out: np.ndarray | None = None, features_out: np.ndarray | None = None,
              features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities and (when asked) the model's own sentence features, from one pass;
        ``texts`` may be a pool :class:`~pseudolabel.data.TextColumn`, and ``out`` / ``features_out``
        (memory-mapped files) receive them when given."""
        ...

    @property
    def feature_dim(self) -> int:
        """Width of the features :meth:`score` returns."""
        ...

    def save(self, path) -> None: ...

    def snapshot(self) -> Any:
        """The current student, to :meth:`restore` after training others (the model itself or a copy
        of its weights: a fit must not change it)."""
        ...

    def restore(self, snapshot: Any) -> None: ...

    def merge_into(self, snapshot: Any, share: float) -> None:
        """Move ``snapshot``'s weights ``share`` of the way to the current student's (in place)."""
        ...

    def n_truncated(self, texts: Sequence[str]) -> int: ...


class Embedder(Protocol):
    """The pretrained encoder's sentence embeddings (the teacher's ``pretrained`` space)."""

    dim: int

    def embed(self, texts: Sequence[str], *, out: np.ndarray | None = None) -> np.ndarray: ...


def round_seed(seed: int, r: int) -> int:
    """An independent seed per (run seed, round), so a resumed round equals an uninterrupted one."""
    return int(np.random.SeedSequence([seed, r]).generate_state(1)[0])


def run_rounds(inputs: Inputs, learner: Learner, state: RunState, config: Config, *, embedder: Embedder | None = None,
               max_new_rounds: int | None = None, on_round: Callable[[dict], None] | None = None) -> list[dict]:
    """Run unfinished rounds until the run stops or ``max_new_rounds`` rounds have run.

    Returns the metrics of every finished round; ``on_round`` (e.g. an experiment tracker)
    receives each new round's. Every round's inputs are read back from ``state``, so a run
    resumed from disk takes exactly the path of an uninterrupted one.
    """
    done = state.finished_rounds()
    ran = 0
    while not (done and done[-1]["stop"]) and (max_new_rounds is None or ran < max_new_rounds):
        done.append(run_one_round(inputs, learner, state, config, done, embedder=embedder))
        state.write_history()
        if on_round is not None:
            on_round(done[-1])
        if state.is_main and not done[-1]["stop"]:
            draw_report(state.root)  # report.png: the run so far, as pictures (finish() draws the last)
        ran += 1
    if done and done[-1]["stop"]:
        finish(state, config, done)
    return done


def training_rows(inputs: Inputs, state: RunState, config: Config, r: int) -> tuple[pd.DataFrame, list[str], dict]:
    """Round ``r``'s training set: the gold rows (and the label descriptions' sentences, with
    ``train.description_rows``) plus what earlier teachers picked.

    ``accumulate`` keeps every earlier round's picks; ``relabel`` only the last round's. Returns
    the picks, the texts (gold first) and the arguments for :meth:`Learner.fit`.
    """
    mode = config.selection.mode
    taken = state.selections(range(r) if mode == "accumulate" else range(max(r - 1, 0), r))
    if len(taken):  # a row a person labeled after a teacher picked it trains once, with the person's label
        taken = taken[~inputs.pool_repeats_labeled[taken["pool_row"].to_numpy(dtype=np.int64)]]
    pool_rows = taken["pool_row"].to_numpy(dtype=np.int64)
    pseudo_ids = inputs.label_set.encode(taken["label"].tolist(), name="pseudo-labels on disk")
    gold_texts, gold_ids = list(inputs.labeled_texts), inputs.labeled_ids
    if inputs.descriptions is not None and config.train.description_rows:  # what the user says a class is, as its rows
        gold_texts += inputs.descriptions.sentences
        gold_ids = np.concatenate([gold_ids, inputs.descriptions.classes]).astype(np.int64)
    texts = gold_texts + inputs.pool_texts.take(pool_rows)
    n_gold, n_classes = len(gold_ids), len(inputs.label_set.names)
    # a warmed head starts from what the gold rows say, not from the teacher it would copy
    fit = {"labels": np.concatenate([gold_ids, pseudo_ids]), "warm_rows": np.arange(n_gold)}
    if "weight" in taken:
        # the final student trains on the whole pool, where the gold rows are a small share of its
        # rows (Banking77: 770 of 10,003) beside the least sure labels: train.gold_weight counts them more
        gold_weight = config.train.gold_weight if final_student(r, config, taken) else 1.0
        fit["weights"] = np.concatenate([np.full(n_gold, gold_weight), taken["weight"].to_numpy(dtype=np.float64)])
    if config.train.targets == "soft":
        eps = config.train.label_smoothing
        gold = np.full((n_gold, n_classes), eps / n_classes)
        gold[np.arange(n_gold), gold_ids] += 1 - eps
        teacher = np.stack(taken["probs"].to_numpy()).astype(np.float64) if len(taken) else np.zeros((0, n_classes))
        fit["soft_targets"] = np.concatenate([gold, teacher])
    return taken, texts, fit


def run_one_round(inputs: Inputs, learner: Learner, state: RunState, config: Config, done: list[dict], *,
                  embedder: Embedder | None = None) -> dict:
    r = len(done)
    names = inputs.label_set.names
    start = time.perf_counter()

    taken, texts, fit_args = training_rows(inputs, state, config, r)
    init_from = str(state.round_dir(r - 1) / "model") if config.train.init == "previous" and r > 0 else None
    taken_rows = taken["pool_row"].to_numpy(dtype=np.int64)
    candidates = pool_candidates(inputs, taken_rows, config.selection.mode)
    held_out_seconds = None
    if final_student(r, config, taken) and config.train.final_students > 1:
        # the final student: the weight mean of students from several seeds (pseudolabel.soup)
        seeds = soup_seeds(lambda x: round_seed(config.seed, x), r, config.train.final_students)
        fit_stats = fit_soup(learner, texts, fit_args, seeds=seeds, init_from=init_from, desc=f"round_{r}")
    else:
        fit_stats = learner.fit(texts, seed=round_seed(config.seed, r), init_from=init_from, desc=f"round_{r}",
                                **fit_args)

    m = {"round": r, "n_labeled": len(inputs.labeled_texts), "n_review_labels": inputs.n_added,
         "n_pseudo_total": len(taken)}
    if inputs.eval_texts is not None:
        pred = learner.score(inputs.eval_texts)[0].argmax(axis=1)
        report = metrics.report(inputs.eval_ids, pred, names)
        m["eval_accuracy"], m["eval_macro_f1"] = report["accuracy"], report["macro_f1"]
        m["eval_confusion_matrix"] = report["confusion_matrix"]["rows_true_cols_pred"]
        previous = done[-1][f"eval_{config.loop.metric}"] if done else None
        m["eval_change"] = None if previous is None else m[f"eval_{config.loop.metric}"] - previous

    stop = stop_before_labeling(r, m, done, config)
    if stop is None and not len(candidates):
        stop = "all_labeled"
    chosen, label_seconds, teacher_seconds, teacher, scratch = empty_selection(), 0.0, 0.0, None, []
    if stop is None:
        t0 = time.perf_counter()
        teacher_input, scratch = score_pool(inputs, learner, state, config, candidates, r, embedder)
        label_seconds = time.perf_counter() - t0
        if config.teacher.held_out_round(r, config.loop.max_rounds) and len(taken):
            t0 = time.perf_counter()
            out = scratch_array(state, scratch, f"held_out-round_{r:03d}.npy", (len(candidates), len(names)))
            teacher_input.held_out = held_out_view(inputs, learner, config, r, texts, fit_args, taken_rows,
                                                   candidates, init_from, out)
            held_out_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        teacher = Teacher(config).run(teacher_input)
        teacher_seconds = time.perf_counter() - t1
        chosen = selection_frame(inputs, candidates, teacher, r)
        if not len(chosen) or (config.selection.mode == "relabel" and r > 0 and _same_selection(chosen, taken)):
            stop = "no_change"
        m.update(teacher_metrics(inputs, candidates, teacher, names))
    m["n_truncated"] = learner.n_truncated(texts) + (learner.n_truncated(inputs.pool_texts.subset(candidates))
                                                     if teacher is not None else 0)
    m["n_selected"] = len(chosen)
    m["selection_rate"] = len(chosen) / len(candidates) if teacher is not None else None
    m.update(train_seconds=fit_stats.get("seconds"), train_steps=fit_stats.get("steps"),
             train_refits=fit_stats.get("refits", 0), **({"final_students": fit_stats["students"]}
                                                           if "students" in fit_stats else {}),
             label_seconds=label_seconds, teacher_seconds=teacher_seconds, stop=stop)
    if held_out_seconds is not None:
        m["held_out_seconds"] = held_out_seconds
    m["wall_seconds"] = time.perf_counter() - start

    with state.writing_round(r) as tmp:
        learner.save(tmp / "model")
        if state.is_main:
            chosen.to_parquet(tmp / "pseudo_labels.parquet", index=False)
            if teacher is not None:
                atomic_write_text(tmp / "teacher.json", json.dumps(teacher.state, indent=2))
                np.save(tmp / "teacher_rows.npy", candidates)
                np.save(tmp / "teacher_probs.npy", teacher.probs.astype(np.float32))
                np.save(tmp / "teacher_disagreement.npy", disagreement(teacher).astype(np.float32))
            atomic_write_text(tmp / "metrics.json", json.dumps(m, indent=2))
    for path in scratch:
        path.unlink(missing_ok=True)
    logger.info(summary_line(m, config))
    return m


def final_student(r: int, config: Config, taken: pd.DataFrame) -> bool:
    """Whether round ``r`` trains the final student: the round after the last teacher, on its picks."""
    return r == config.loop.max_rounds and len(taken) > 0


def scratch_array(state: RunState, scratch: list, name: str, shape: tuple) -> np.ndarray | None:
    """A float32 array in a scratch file of the run folder, added to ``scratch`` (removed once the
    round is saved), on the main process; None on the others, which keep theirs in memory."""
    if not state.is_main:
        return None
    path = state.scratch_file(name)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=tuple(shape))
    scratch.append(path)
    return out


def held_out_view(inputs: Inputs, learner: Learner, config: Config, r: int, texts: list[str], fit_args: dict,
                  taken_rows: np.ndarray, candidates: np.ndarray, init_from: str | None,
                  out: np.ndarray | None = None) -> np.ndarray:
    """The ``held_out`` view of round ``r``'s teacher (:mod:`pseudolabel.held_out`): its extra students
    train once the round's own student has scored the pool, and only when the round goes on to
    label (not when it stops on patience); the learner then gets its own student back, the one
    the round saves."""
    own = learner.snapshot()
    try:
        return cross_fitted_probs(
            learner, texts, fit_args, len(texts) - len(taken_rows), positions_in(candidates, taken_rows),
            inputs.pool_texts.subset(candidates), len(inputs.label_set.names), folds=config.teacher.held_out_folds,
            seeds=[round_seed(config.seed, 30_000 + 100 * r + f) for f in range(config.teacher.held_out_folds)],
            init_from=init_from, desc=f"round_{r}_held_out", out=out)
    finally:
        learner.restore(own)


def score_pool(inputs: Inputs, learner: Learner, state: RunState, config: Config, candidates: np.ndarray, r: int,
               embedder: Embedder | None) -> tuple[TeacherInput, list]:
    """What the teacher needs: the student's probabilities and features of the candidates (one
    pass, streamed to scratch files in the run folder), the gold rows' features, and the
    pretrained embeddings and description vectors when the config asks for them."""
    n_classes = len(inputs.label_set.names)
    cfg = config.teacher
    wants_student_space = "linear" in cfg.views and "student" in cfg.spaces
    pool = inputs.pool_texts.subset(candidates)  # read a chunk at a time while labeling
    scratch = []  # a pool of millions never needs its probabilities or features in memory at once
    out = scratch_array(state, scratch, f"pool_probs-round_{r:03d}.npy", (len(candidates), n_classes))
    features_out = (scratch_array(state, scratch, f"pool_features-round_{r:03d}.npy",
                                  (len(candidates), learner.feature_dim)) if wants_student_space else None)
    probs, features = learner.score(pool, out=out, features_out=features_out, features=wants_student_space)
    spaces = {}
    if wants_student_space:
        spaces["student"] = (learner.score(inputs.labeled_texts, features=True)[1], features)
    vectors, descriptions = None, inputs.descriptions
    if descriptions is None and cfg.class_names:
        descriptions = name_descriptions(inputs.label_set.classes)
    needs_pretrained = ("linear" in cfg.views and "pretrained" in cfg.spaces) or (
        "descriptions" in cfg.views and descriptions is not None) or cfg.smooths_round(r, config.loop.max_rounds)
    if embedder is not None and needs_pretrained:
        gold_emb = state.cached_array("pretrained-labeled", (len(inputs.labeled_texts), embedder.dim),
                                      lambda o: embedder.embed(inputs.labeled_texts, out=o))
        pool_emb = state.cached_array("pretrained-pool", (len(inputs.pool_texts), embedder.dim),
                                      lambda o: embedder.embed(inputs.pool_texts, out=o))
        spaces["pretrained"] = (np.asarray(gold_emb), _RowView(pool_emb, candidates))
        if descriptions is not None:
            vectors = class_vectors(embedder.embed(descriptions.sentences), descriptions.classes, n_classes)
    if "lexical" in cfg.views:  # TF-IDF of the texts: seconds, so rebuilt each round rather than kept
        spaces["lexical"] = lexical_space(inputs.labeled_texts, inputs.pool_texts.take(candidates))
    share = curriculum_share(r, config.loop.max_rounds) if config.selection.strategy == "curriculum" else None
    return TeacherInput(round=r, n_classes=n_classes, gold=inputs.labeled_ids, probs={"student": probs},
                        spaces=spaces, descriptions=vectors, share=share, seed=round_seed(config.seed, 20_000 + r)), scratch


def name_descriptions(classes) -> Descriptions | None:
    """The class names in a template as one description per class (``teacher.class_names``)."""
    sentences = name_sentences(classes)
    return None if sentences is None else Descriptions(sentences, np.arange(len(sentences), dtype=np.int64))


class _RowView:
    """Rows ``rows`` of a (memory-mapped) array, read only when sliced: the candidates' embeddings."""

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows),) + tuple(array.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return np.asarray(self.array[self.rows[index]])

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.array[self.rows])
        return out if dtype is None else out.astype(dtype)


def disagreement(teacher: TeacherOutput) -> np.ndarray:
    """Per candidate, the weight share of the teacher's views whose class differs from the combination's."""
    weights = teacher.state["combine"]["weights"]
    total = sum(w for w in weights.values() if w > 0)
    agreed = teacher.probs.argmax(axis=1)
    out = np.zeros(len(agreed))
    for name, view in teacher.views.items():
        if weights.get(name, 0) > 0:
            out += weights[name] / total * (np.asarray(view).argmax(axis=1) != agreed)
    return out


def teacher_metrics(inputs: Inputs, candidates: np.ndarray, teacher: TeacherOutput, names: list[str]) -> dict:
    """Selection counts, and where the pool has hidden gold labels, how right each view is."""
    picks = teacher.picks
    m = {"n_candidates": len(candidates),
         "selected_per_class": dict(zip(names, np.bincount(picks.labels, minlength=len(names)).tolist())),
         "share": teacher.state["select"]["share"]}
    if inputs.pool_gold is not None:
        gold = inputs.pool_gold[candidates]
        if len(picks):
            m["pseudo_precision"] = float(np.mean(gold[picks.indices] == picks.labels))
        m["teacher_accuracy"] = float(np.mean(teacher.probs.argmax(axis=1) == gold))
        m["view_accuracy"] = {name: float(np.mean(np.asarray(p).argmax(axis=1) == gold))
                              for name, p in teacher.views.items()}
    return m


def empty_selection() -> pd.DataFrame:
    return pd.DataFrame({"pool_row": np.zeros(0, np.int64), "text": [], "label": [], "confidence": np.zeros(0),
                         "round": np.zeros(0, np.int64), "probs": [], "weight": np.zeros(0)})


def selection_frame(inputs: Inputs, candidates: np.ndarray, teacher: TeacherOutput, r: int) -> pd.DataFrame:
    """The rows taken in round ``r`` and their targets, as written to ``pseudo_labels.parquet``."""
    rows, t = candidates[teacher.picks.indices], teacher.targets
    return pd.DataFrame({
        "pool_row": rows, "text": inputs.pool_texts.take(rows),
        "label": inputs.label_set.decode(t.labels).tolist(), "confidence": t.confidence,
        "round": np.full(len(rows), r, dtype=np.int64), "probs": list(np.asarray(t.probs, dtype=np.float64)),
        "weight": t.weights,
    })


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


def positions_in(candidates: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each pool row's position among the (ascending) candidates, -1 where it is not one."""
    if not len(candidates):
        return np.full(len(rows), -1, dtype=np.int64)
    at = np.searchsorted(candidates, rows).clip(max=len(candidates) - 1)
    return np.where(candidates[at] == rows, at, -1)


def pool_candidates(inputs: Inputs, taken_rows: np.ndarray, mode: str) -> np.ndarray:
    """Pool rows that may be labeled this round: not a labeled text, not already taken (accumulate)."""
    blocked = inputs.pool_repeats_labeled.copy()
    if mode == "accumulate":
        blocked[taken_rows] = True
    return np.flatnonzero(~blocked)


def _same_selection(chosen: pd.DataFrame, taken: pd.DataFrame) -> bool:
    a = chosen.sort_values("pool_row")
    b = taken.sort_values("pool_row")
    return (np.array_equal(a["pool_row"].to_numpy(), b["pool_row"].to_numpy())
            and list(a["label"]) == list(b["label"]))


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
    if state.is_main and (needed or not (state.root / "final" / "README.md").is_file()):
        write_model_card(state.root)  # final/ can be pushed to a hub or handed over as it is
        draw_report(state.root)
    state.barrier()


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
        parts.append(f"selected {m['n_selected']}/{m['n_candidates']}{rate}{prec}")
    if m.get("n_truncated"):
        parts.append(f"{m['n_truncated']} texts cut at model.max_length")
    if m["stop"]:
        parts.append(f"stop: {STOP_REASONS[m['stop']]}")
    return ", ".join(parts)
