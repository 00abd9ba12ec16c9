"""Accuracy benchmark: pseudolabel against its peers on AG News, SST-2 and Banking77 (../shared/BENCHMARK.md).

Usage::

    python experiments/bench_accuracy.py --data ../shared/datasets            # everything
    python experiments/bench_accuracy.py --data ../shared/datasets --datasets sst2 --seeds 0 \\
        --methods pseudolabel supervised --pool-size 2000                  # one cell, quickly
    python experiments/bench_accuracy.py --data hf                           # Hugging Face ag_news, glue/sst2
    python experiments/bench_accuracy.py --data my_datasets --datasets tickets \\
        --methods pseudolabel supervised frozen                            # my_datasets/tickets/{train,test}.csv
    python experiments/bench_accuracy.py --data hf --datasets trec          # any Hub data set with a ClassLabel
    python experiments/bench_accuracy.py --methods pseudolabel supervised \
        --variant no-knn:selection.agreement=none --variant soft:train.targets=soft   # an ablation

``--set key=value`` changes the default's settings; each ``--variant NAME:key=value,...`` runs
pseudolabel again with those overrides on top, reported as ``pseudolabel:NAME`` beside the rest.
pseudolabel's settings are the library's defaults (``experiments/bench_accuracy.yaml`` sets
nothing of the recipe; a test checks it).

Every method gets the same rows from :func:`pseudolabel.sampling.sample_labels`: 10 labels per
class per seed, the rest (AG News, Banking77) or 20,000 rows (SST-2) as the pool with its labels
hidden. The test split is used only to report. ``frozen`` is a logistic regression on the
pretrained encoder's frozen sentence embeddings of the gold rows (the floor round 0 must not
lose to). ``pseudolabel+desc`` and ``setfit+desc`` are the
same methods given the label descriptions in ``--descriptions`` (``DATASET.yaml``, written once
per dataset before any result was seen): pseudolabel as its descriptions teacher view, SetFit as
extra training sentences, as its templated zero-shot data would be. ``pseudolabel+names`` is
``teacher.class_names``: the class names in SetFit's template as the descriptions view, never as
training rows (the frames' labels are ids, so the names are passed as descriptions).

``--review`` measures people in the loop, the pool's hidden gold labels standing in for the
person: after round 0, ``pseudolabel+review`` adds the N rows ``SelfTrainer.review(N)`` asks for
(N = 20 on AG News and SST-2, 154 on Banking77, or ``--review DATASET=N ...``) to the gold rows
and runs the rest of the rounds; ``pseudolabel+random`` adds N pool rows drawn at random from the
same round 0 (a copy of the same run folder). The ``labels`` column is each method's label budget.
Writes ``results.csv``, ``rounds.csv``, ``report.md`` and PNG plots into ``--out``.

Run the same command again (after a crash, a full disk, Ctrl-C) and it keeps every finished
(dataset, method, seed) row of ``--out`` and runs only the rest; ``bench.json`` records what made
them (commit, ``--set``, ``--variant``, pool size, review settings), and a different benchmark
in the same ``--out`` is refused unless ``--overwrite`` starts it afresh.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pseudolabel import SelfTrainer, load_config
from pseudolabel.metrics import headline
from pseudolabel.review import STRATEGIES
from pseudolabel.sampling import sample_labels
from pseudolabel.teacher.descriptions import name_sentences

HERE = Path(__file__).resolve().parent
DATASETS = {"ag_news": {"hf": ("ag_news",), "pool": None}, "sst2": {"hf": ("glue", "sst2"), "pool": 20000},
            "banking77": {"hf": ("banking77",), "pool": None}}
METHODS = ("pseudolabel", "supervised", "sklearn", "frozen", "setfit", "pseudolabel+desc", "setfit+desc",
           "pseudolabel+names", "ceiling")
REVIEW = {"ag_news": 20, "sst2": 20, "banking77": 154}
"""Rows asked for after round 0 under ``--review``: 20 (5 or 10 per class), 2 per class on Banking77."""
log = logging.getLogger("bench")


class DataSetError(ValueError):
    """A data set the benchmark cannot read; ``main`` reports it as a usage error (exit 2) before any run."""


TEXT_COLUMNS = ("text", "sentence", "content", "review", "question", "utterance", "document")
DEFAULT_POOL = 20000
"""A data set outside the protocol gets the rest of its train split as the pool, at most this many rows (drawn)."""


def load_dataset(name: str, data: str):
    """Train and test frames (``text``, ``label`` as int) and class names.

    ``data`` is a folder with one subfolder per data set, or ``hf`` (Hugging Face). A folder holds
    ``train`` and ``test`` as ``.parquet``, ``.csv`` or ``.jsonl`` with ``text`` and ``label``
    columns, and optionally ``labels.json`` (the class names, in label-id order); without it,
    string labels are the class names (sorted) and integer labels are ids. With ``hf``, the
    protocol's three are the Hub's ``ag_news``, ``glue/sst2`` and ``banking77``; any other name is
    ``datasets.load_dataset(name)`` (``name:config`` picks a config), its label the first
    ``ClassLabel`` column and its text the first of :data:`TEXT_COLUMNS`; the test split is
    ``test``, else ``validation`` (also when the test labels are hidden, -1, as GLUE's). Its
    label descriptions for ``+desc``: ``DATASET.yaml`` with ``/`` and ``:`` as ``_``.
    """
    if data != "hf":
        folder = Path(data) / name
        if not folder.is_dir():
            raise DataSetError(f"--data {data}: no folder {folder} for data set {name!r}; "
                               "give the folder holding one subfolder per data set, or 'hf'")
        frames = [read_split(folder, split) for split in ("train", "test")]
        names_file = folder / "labels.json"
        names = json.loads(names_file.read_text()) if names_file.exists() else None
        return label_ids(frames, names, folder)
    import datasets

    hub = DATASETS[name]["hf"] if name in DATASETS else tuple(name.split(":", 1))
    ds = datasets.load_dataset(*hub)
    features = ds["train"].features if "train" in ds else {}
    label = next((c for c, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    text = next((c for c in TEXT_COLUMNS if c in features), None)
    if label is None or text is None:
        raise DataSetError(f"Hugging Face data set {name!r}: no train split with a "
                           f"{'ClassLabel' if label is None else 'text'} column (columns {sorted(features)}, "
                           f"splits {sorted(ds)}; text columns tried: {', '.join(TEXT_COLUMNS)})")
    # a test split whose labels are hidden (-1, as GLUE's) does not count: then validation
    test_split = next((s for s in ("test", "validation") if s in ds and label in ds[s].column_names
                       and max(ds[s][label], default=-1) >= 0), None)
    if test_split is None:
        raise DataSetError(f"Hugging Face data set {name!r}: no test or validation split with labels (splits {sorted(ds)})")
    frames = [pd.DataFrame({"text": ds[s][text], "label": ds[s][label]}) for s in ("train", test_split)]
    return frames[0], frames[1], features[label].names


def file_name(name: str) -> str:
    """A data set's name as one file or folder name (a Hub ``owner/name:config`` included)."""
    return name.replace("/", "_").replace(":", "_")


def read_split(folder: Path, split: str) -> pd.DataFrame:
    """``folder/split.{parquet,csv,jsonl}`` with its ``text`` and ``label`` columns."""
    for suffix, read in ((".parquet", pd.read_parquet), (".csv", pd.read_csv),
                         (".jsonl", lambda f: pd.read_json(f, lines=True))):
        path = folder / f"{split}{suffix}"
        if path.exists():
            frame = read(path)
            missing = [c for c in ("text", "label") if c not in frame]
            if missing:
                raise DataSetError(f"{path}: no column {', '.join(map(repr, missing))} "
                                   f"(has {', '.join(map(str, frame.columns))})")
            return frame[["text", "label"]].reset_index(drop=True)
    raise DataSetError(f"{folder}: no {split}.parquet, {split}.csv or {split}.jsonl")


def label_ids(frames: list, names: list | None, folder: Path):
    """The frames with integer label ids, and the class names (``labels.json``'s, or the labels themselves)."""
    train, test = frames
    if names is None:
        names = sorted(set(train["label"].tolist()))
        if all(isinstance(c, (int, np.integer)) for c in names):
            if names != list(range(len(names))):
                raise DataSetError(f"{folder}: integer labels must be 0..K-1 (got {names[:10]}); "
                                   "or give labels.json with the class names")
            return train, test, names
        ids = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(test["label"].tolist()) - set(ids), key=str)
        if unknown:
            raise DataSetError(f"{folder}: test labels {unknown[:5]} are not in train")
        return train.assign(label=train["label"].map(ids)), test.assign(label=test["label"].map(ids)), names
    for split, frame in (("train", train), ("test", test)):
        bad = sorted(set(frame["label"].tolist()) - set(range(len(names))), key=str)
        if bad:
            raise DataSetError(f"{folder}/{split}: labels {bad[:5]} are not ids of labels.json's {len(names)} classes")
    return train, test, names


def split(train: pd.DataFrame, name: str, seed: int, pool_size: int | None, per_class: int = 10):
    """Seed ``seed``'s gold rows (``per_class`` per class; the protocol's 10) and pool."""
    if pool_size is not None:
        size = pool_size
    elif name in DATASETS:
        size = DATASETS[name]["pool"]
    else:  # outside the protocol: the rest of the train split, at most DEFAULT_POOL rows
        size = DEFAULT_POOL if len(train) - per_class * train["label"].nunique() > DEFAULT_POOL else None
    labeled, pool = sample_labels(train["label"].to_numpy(), per_class, seed, pool_size=size)
    return train.iloc[labeled].reset_index(drop=True), train.iloc[pool].reset_index(drop=True)


def scores(test: pd.DataFrame, pred, n_classes: int) -> dict:
    return headline(test["label"].to_numpy(), np.asarray(pred, dtype=np.int64), n_classes)


def settings(overrides=()) -> dict:
    """pseudolabel's benchmark settings (``bench_accuracy.yaml``) with ``key.sub=value`` overrides."""
    return load_config(HERE / "bench_accuracy.yaml", list(overrides)).to_dict()


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME:key=value,key=value`` -> (NAME, overrides): one ablation arm. A comma inside brackets
    belongs to a list value: ``lex:teacher.views=[descriptions,lexical,linear]``."""
    import re

    name, sep, rest = text.partition(":")
    if not sep or not name or not rest:
        raise SystemExit(f"--variant {text!r}: expected NAME:key.sub=value[,key.sub=value...]")
    overrides = [item.strip() for item in re.split(r",(?![^\[]*\])", rest) if item.strip()]
    settings(overrides)  # fail now, not an hour into the run
    return name, overrides


def descriptions_for(name: str, folder: str | Path, names: list) -> dict:
    """The benchmark's label descriptions of ``name``, keyed by label id (the frames' labels are ids)."""
    import yaml

    path = Path(folder) / f"{file_name(name)}.yaml"
    if not path.exists():
        raise DataSetError(f"--descriptions {folder}: no {path.name} for data set {name!r} (the +desc methods need one)")
    by_name = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [c for c in names if c not in by_name]
    if missing:
        raise DataSetError(f"{path}: no description of the classes {missing[:5]}")
    return {i: by_name[c] for i, c in enumerate(names)}


def run_pseudolabel(labeled, pool, test, n_classes, seed, out, *, max_rounds=None, rounds_out=None, overrides=(),
                    descriptions=None, names=None):
    config = settings(overrides)
    if descriptions is None and names is not None and config["teacher"]["class_names"]:
        # What a user with string labels gets from teacher.class_names; the frames' labels are
        # ids here, so the same sentences come in as descriptions, a view only (never rows).
        descriptions = dict(enumerate([[s] for s in name_sentences(names)]))
        config["train"]["description_rows"] = False
    st = SelfTrainer(config=config, seed=seed, output_dir=out, max_rounds=max_rounds, overwrite=True)
    st.fit(labeled, pool, label_descriptions=descriptions)  # the pool keeps its label column: hidden, used only for precision
    return final_predictions(st, test, n_classes, rounds_out)


def final_predictions(st: SelfTrainer, test: pd.DataFrame, n_classes: int, rounds_out: list | None):
    """The finished run's test predictions; with ``rounds_out``, every round is scored into it too."""
    if rounds_out is None:
        return st.predict(test["text"].tolist())
    per_round, preds = score_rounds(st, test, n_classes)
    rounds_out += per_round
    return preds[st.final_round_]  # the final model is one of the rounds: labeled once, not twice


def run_reviewed(labeled, pool, test, n_classes, seed, out: Path, n: int, *, overrides=(), strategy="uncertain",
                 arms=("review", "random")) -> dict:
    """People in the loop, the pool's hidden labels answering: round 0, then ``n`` more gold rows
    (``review``'s picks, or ``n`` pool rows at random), then the rest of the run.

    Both arms continue the same round 0: it runs once in ``out / "review"`` and the folder is
    copied to ``out / "random"`` before any label is added. Returns, per arm, the test
    predictions, the per-round rows and the rows added.
    """
    config = settings(overrides)
    folders = {arm: out / arm for arm in arms}
    first = SelfTrainer(config=config, seed=seed, output_dir=folders[arms[0]], overwrite=True)
    first.fit(labeled, pool, max_new_rounds=1)
    for arm in arms[1:]:
        shutil.rmtree(folders[arm], ignore_errors=True)
        shutil.copytree(folders[arms[0]], folders[arm])
    rows = {}
    if "review" in arms:
        rows["review"] = first.review(n, strategy=strategy)["pool_row"].to_numpy(dtype=np.int64)
    if "random" in arms:
        eligible = np.setdiff1d(np.arange(len(pool)), first._gold_rows())  # pool rows repeating a gold text are gold
        rng = np.random.default_rng([seed, 15])
        rows["random"] = np.sort(rng.choice(eligible, size=min(n, len(eligible)), replace=False))
    gold = pool["label"].to_numpy()
    out_arms = {}
    for arm, folder in folders.items():
        st = SelfTrainer(config=config, seed=seed, output_dir=folder)
        st.fit(labeled, pool, max_new_rounds=0)  # opens the folder (round 0 is there) without training
        st.add_labels(pd.DataFrame({"pool_row": rows[arm], "label": gold[rows[arm]]}))
        st.fit(labeled, pool)
        per_round = []
        out_arms[arm] = {"pred": final_predictions(st, test, n_classes, per_round), "rounds": per_round,
                         "added": len(rows[arm])}
    return out_arms


def score_rounds(st: SelfTrainer, test: pd.DataFrame, n_classes: int) -> tuple[list[dict], dict]:
    """Each finished round's model scored on the test split (reported only, never used to choose).

    One trainer serves every round, so the test texts are tokenized once. Returns the rows for
    ``rounds.csv`` and each round's test predictions.
    """
    from pseudolabel.trainer import Trainer, make_accelerator

    cfg, texts, out, preds = st.config_, test["text"].tolist(), [], {}
    scorer = Trainer(str(st.run_dir_ / "final"), st.label_set_.names, config=cfg.train,
                     max_length=cfg.model.max_length, accelerator=make_accelerator())
    for _, row in st.history_.iterrows():
        r = int(row["round"])
        scorer.load(st.run_dir_ / "rounds" / f"round_{r:03d}" / "model")
        preds[r] = scorer.predict_proba(texts).argmax(1)
        s = scores(test, preds[r], n_classes)
        out.append({"round": r, "n_selected": row["n_selected"], "n_pseudo_total": row["n_pseudo_total"],
                    "pseudo_precision": row.get("pseudo_precision"), "teacher_accuracy": row.get("teacher_accuracy"),
                    "test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"],
                    "wall_seconds": row["wall_seconds"]})
    return out, preds


def run_sklearn(labeled, pool, test, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import SelfTrainingClassifier

    texts = labeled["text"].tolist() + pool["text"].tolist()
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit(texts)
    y = np.concatenate([labeled["label"].to_numpy(), np.full(len(pool), -1)])
    clf = SelfTrainingClassifier(LogisticRegression(max_iter=1000), threshold=0.75).fit(vec.transform(texts), y)
    return clf.predict(vec.transform(test["text"].tolist()))


def run_frozen(labeled, test, overrides=()):
    """Issue 12's floor for round 0: a logistic regression on the pretrained encoder's frozen
    sentence embeddings (mean-pooled, unit length: the teacher's ``pretrained`` space) of the
    gold rows alone."""
    from sklearn.linear_model import LogisticRegression

    from pseudolabel.trainer import Encoder, make_accelerator, resolve_model

    cfg = load_config(HERE / "bench_accuracy.yaml", list(overrides))
    source = resolve_model(cfg.model.name, trust_remote_code=cfg.model.trust_remote_code)
    encoder = Encoder.from_config(source, cfg, make_accelerator())
    clf = LogisticRegression(max_iter=2000).fit(encoder.embed(labeled["text"].tolist()), labeled["label"].to_numpy())
    return clf.predict(encoder.embed(test["text"].tolist()))


def run_setfit(labeled, test, seed, out, descriptions=None):
    import datasets
    from setfit import SetFitModel, Trainer, TrainingArguments

    from pseudolabel.trainer import bundled_minilm

    train = labeled[["text", "label"]]
    if descriptions:  # as SetFit's templated zero-shot data: one labeled sentence per description
        extra = pd.DataFrame([{"text": t, "label": c} for c, texts in descriptions.items() for t in texts])
        train = pd.concat([train, extra], ignore_index=True)
    model = SetFitModel.from_pretrained(bundled_minilm())
    args = TrainingArguments(output_dir=str(out), seed=seed, save_strategy="no", report_to="none")
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_pandas(train))
    trainer.train()
    return np.asarray(model.predict(test["text"].tolist()))


def run_ceiling(pool, test, n_classes, seed, out, overrides=()):
    values = settings(overrides)
    values["train"].update(epochs=1, min_steps=1, max_steps=None)
    st = SelfTrainer(config=values, seed=seed, output_dir=out, max_rounds=0, overwrite=True)
    st.fit(pool, pool.iloc[:1].drop(columns="label"))
    return st.predict(test["text"].tolist())


def shown_command(script: str, args: list[str]) -> str:
    """The command line as a report shows it: an absolute path (``--out /somewhere/runs/x``) is
    cut to its last two parts, so no report names a folder of the machine that ran it."""
    def shown(arg: str) -> str:
        path = Path(arg)
        return str(Path(*path.parts[-2:])) if path.is_absolute() else arg

    return f"python experiments/{script} " + " ".join(shown(a) for a in args)


def git_commit() -> str:
    """The checkout's commit, read when the benchmark starts: the code that runs is the code at
    start; ``+dirty`` when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=HERE).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], capture_output=True, cwd=HERE).returncode == 1
    except OSError:
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def finished_rows(out: Path, meta: dict, overwrite: bool) -> tuple[list[dict], list[dict]]:
    """The ``results.csv`` and ``rounds.csv`` rows an earlier run of the same benchmark left in
    ``out``, to be kept; refuses (exit 2) the rows of a different benchmark unless ``overwrite``."""
    meta_file, results_file, rounds_file = out / "bench.json", out / "results.csv", out / "rounds.csv"
    if overwrite or not results_file.exists():
        meta_file.write_text(json.dumps(meta, indent=1))
        return [], []
    before = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    changed = sorted(k for k in set(meta) | set(before) if meta.get(k) != before.get(k))
    if changed or "+dirty" in meta["commit"]:
        why = ", ".join(f"{k}: {before.get(k)!r} -> {meta.get(k)!r}" for k in changed) or \
            f"the code differs from commit {meta['commit']} and cannot be matched"
        log.error("--out %s holds the results of a different benchmark (%s); use another --out, or --overwrite "
                  "to start it afresh", out, why)
        raise SystemExit(2)
    results = pd.read_csv(results_file).to_dict("records")
    rounds = pd.read_csv(rounds_file).to_dict("records") if rounds_file.exists() and rounds_file.stat().st_size > 1 else []
    log.info("%s: keeping %d finished rows of an earlier run of this benchmark", out, len(results))
    return results, rounds


def environment(started: float, commit: str) -> dict:
    import sklearn
    import torch
    import transformers

    return {"commit": commit, "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            + (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "scikit-learn": sklearn.__version__, "wall_minutes": round((time.time() - started) / 60, 1)}


def report(results: pd.DataFrame, rounds: pd.DataFrame, env: dict, args, out: Path, *,
           overrides=(), variants: dict | None = None, labels_per_class: int = 10) -> None:
    if "labels" not in results:  # results of an older run
        results = results.assign(labels=np.nan)
    table = results.groupby(["dataset", "method"], sort=False).agg(
        labels=("labels", "mean"), accuracy=("accuracy", "mean"), accuracy_std=("accuracy", "std"), macro_f1=("macro_f1", "mean"),
        macro_f1_std=("macro_f1", "std"), seeds=("seed", "count"), minutes=("seconds", lambda s: s.sum() / 60)
    ).reset_index()
    lines = ["# Accuracy benchmark", "",
             f"Commit `{env['commit']}`, {env['machine']}, torch {env['torch']}, transformers "
             f"{env['transformers']}, scikit-learn {env['scikit-learn']}; {env['wall_minutes']} minutes in all.",
             f"Command: `{shown_command('bench_accuracy.py', args)}`", "",
             f"Test accuracy and macro-F1 (%), mean ± std over seeds; {labels_per_class} gold labels "
             "per class, no dev split. "
             "`supervised` is pseudolabel's round 0 (the same settings and round seed, trained on the gold rows "
             "alone), so its minutes are part of pseudolabel's; `ceiling` is one seed.", "",
             "| dataset | method | gold labels | accuracy | macro-F1 | seeds | minutes |", "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        std = lambda v: "" if np.isnan(v) else f" ± {100 * v:.1f}"  # noqa: E731
        labels = "" if np.isnan(r.labels) else f"{r.labels:.0f}"
        lines.append(f"| {r.dataset} | {r.method} | {labels} | {100 * r.accuracy:.1f}{std(r.accuracy_std)} | "
                     f"{100 * r.macro_f1:.1f}{std(r.macro_f1_std)} | {r.seeds} | {r.minutes:.1f} |")
    if len(rounds):
        lines += ["", "## pseudolabel per round (test accuracy reported, never used to choose)", "",
                  "| " + " | ".join(rounds.columns) + " |", "|" + "---|" * len(rounds.columns)]
        lines += ["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
                  for row in rounds.itertuples(index=False)]
    config = load_config(HERE / "bench_accuracy.yaml", list(overrides))
    where = "experiments/bench_accuracy.yaml" + (f" with {', '.join(overrides)}" if overrides else "")
    lines += ["", f"pseudolabel settings ({where}):", "", "```yaml", config.to_yaml().strip(), "```"]
    for name, extra in (variants or {}).items():
        lines.append(f"- `pseudolabel:{name}`: the same with {', '.join(extra)}")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    plot(results, rounds, out)


def plot(results: pd.DataFrame, rounds: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not len(rounds):
        return
    if "method" in rounds:
        rounds = rounds[rounds["method"] == "pseudolabel"]  # ablation arms stay in the tables
    for name, group in rounds.groupby("dataset"):
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
        mean = group.groupby("round").mean(numeric_only=True)
        ax.plot(mean.index, 100 * mean["test_accuracy"], "o-", label="pseudolabel (mean over seeds)")
        colors = {"ceiling": "black", "setfit": "tab:green", "sklearn": "tab:purple", "supervised": "tab:orange",
                  "frozen": "tab:gray"}
        peers = results[(results.dataset == name) & results.method.isin(list(colors))]
        for method, g in peers.groupby("method"):
            ax.axhline(100 * g["accuracy"].mean(), linestyle="--", color=colors[method], label=method)
        ax.set_xticks(mean.index)
        bx.set_xticks(mean.index)
        ax.set(title=f"{name}: test accuracy by round", xlabel="round", ylabel="accuracy (%)")
        ax.legend(fontsize=8)
        bx.bar(mean.index, mean["n_selected"], color="tab:blue", alpha=0.6, label="selected")
        bx.set(title=f"{name}: pseudo-labels selected and their precision", xlabel="round", ylabel="rows selected")
        cx = bx.twinx()
        cx.plot(mean.index, 100 * mean["pseudo_precision"], "o-", color="tab:red", label="precision")
        cx.set_ylabel("precision (%)")
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)


def review_method(arm: str, strategy: str) -> str:
    """The method name of a ``--review`` arm in the tables: ``pseudolabel+review`` (``:STRATEGY``
    unless the default ``uncertain``) or ``pseudolabel+random``."""
    return f"pseudolabel+{arm}" + (f":{strategy}" if arm == "review" and strategy != "uncertain" else "")


def review_sizes(values: list[str] | None) -> dict:
    """``--review`` as {dataset: N}: nothing when absent, :data:`REVIEW` when bare, else the given sizes."""
    if values is None:
        return {}
    sizes = dict(REVIEW)
    for value in values:
        name, sep, number = value.rpartition("=")
        if not number.isdigit() or int(number) < 1 or (sep and name not in DATASETS):
            raise SystemExit(f"--review {value!r}: expected N or DATASET=N with N >= 1 and DATASET one of "
                             f"{', '.join(DATASETS)}")
        sizes.update({name: int(number)} if sep else dict.fromkeys(DATASETS, int(number)))
    return sizes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets",
                        help="a folder with one subfolder per data set (train and test files, see load_dataset), or 'hf'")
    parser.add_argument("--descriptions", default=str(HERE / "descriptions"),
                        help="folder of DATASET.yaml label descriptions for the +desc methods")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        help="subfolders of --data, or Hugging Face names with --data hf (NAME or NAME:CONFIG); "
                             f"default the protocol's {' '.join(DATASETS)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS,
                        help="the methods to run; none (a bare --methods) runs only the --variant arms, "
                             "e.g. to add arms to an earlier run's table")
    parser.add_argument("--pool-size", type=int, help="a smaller pool, for a quick rerun of one cell")
    parser.add_argument("--labels-per-class", type=int, default=10,
                        help="gold rows per class (the protocol's 10); other budgets check the default beyond it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override pseudolabel's settings (also supervised's and the ceiling's), repeatable")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                        help="an ablation arm: pseudolabel again with these overrides on top, reported as "
                             "'pseudolabel:NAME' (repeatable)")
    parser.add_argument("--review", nargs="*", metavar="[DATASET=]N",
                        help="also run pseudolabel+review and pseudolabel+random: N more gold rows after round 0 "
                             f"(default {', '.join(f'{k}={v}' for k, v in REVIEW.items())}; a bare N for every dataset)")
    parser.add_argument("--review-strategy", default="uncertain", choices=STRATEGIES,
                        help="review's pick rule within each class (SelfTrainer.review(strategy=...))")
    parser.add_argument("--review-arms", nargs="+", default=["review", "random"], choices=["review", "random"],
                        help="which --review arms to run (random's rows do not depend on the strategy)")
    parser.add_argument("--out", default="runs/bench-accuracy")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in --out instead of keeping the finished rows of an earlier run")
    args = parser.parse_args(argv)
    if args.labels_per_class < 1:
        parser.error(f"--labels-per-class {args.labels_per_class}: expected a whole number >= 1")
    settings(args.set)
    review = review_sizes(args.review)
    variants = dict(parse_variant(v) for v in args.variant)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, commit = time.time(), git_commit()
    meta = {"commit": commit, "data": Path(args.data).name, "set": args.set, "variants": variants,
            "pool_size": args.pool_size, "descriptions": Path(args.descriptions).name,
            "review": review, "review_strategy": args.review_strategy}
    if args.labels_per_class != 10:  # absent at the protocol's 10, so earlier outputs still resume
        meta["labels_per_class"] = args.labels_per_class
    results, rounds = finished_rows(out, meta, args.overwrite)
    done = {(r["dataset"], r["method"], int(r["seed"])) for r in results}
    if any(m.startswith("setfit") for m in args.methods):
        try:
            import setfit  # noqa: F401
        except ImportError:
            log.warning("setfit is not installed (pip install -e '.[bench]'): skipping the SetFit peer")
            args.methods = [m for m in args.methods if not m.startswith("setfit")]
    try:  # bad input fails here, before any run
        loaded = {name: load_dataset(name, args.data) for name in args.datasets}
        wants_descriptions = any(m.endswith("+desc") for m in args.methods)
        descriptions = {name: descriptions_for(name, args.descriptions, names) if wants_descriptions else None
                        for name, (_, _, names) in loaded.items()}
        for name, (_, _, names) in loaded.items():
            if "pseudolabel+names" in args.methods and name_sentences(names) is None:
                raise DataSetError(f"{name}: pseudolabel+names needs class names (labels.json or string labels), "
                                   f"got {names[:5]}")
    except DataSetError as error:
        parser.error(str(error))
    for name in args.datasets:
        train, test, names = loaded[name]
        folder_name = file_name(name)
        for seed in args.seeds:
            labeled, pool = split(train, name, seed, args.pool_size, args.labels_per_class)
            seed_rounds = []
            for method in list(args.methods) + [f"pseudolabel:{v}" for v in variants]:
                if method == "ceiling" and seed != args.seeds[0]:
                    continue  # one seed: it does not depend on the label sample
                if (name, method, seed) in done:
                    log.info("%s seed %d: %s finished earlier, kept", name, seed, method)
                    if method == "pseudolabel":
                        seed_rounds = [r for r in rounds if (r["dataset"], r["method"], int(r["seed"])) == (name, method, seed)]
                    continue
                log.info("%s seed %d: %s", name, seed, method)
                t0, per_round = time.time(), []
                where = out / "runs" / f"{folder_name}-{method}-seed{seed}"
                if method in ("pseudolabel", "pseudolabel+desc"):
                    described = descriptions[name] if method.endswith("+desc") else None
                    pred = run_pseudolabel(labeled, pool, test, len(names), seed, where, rounds_out=per_round,
                                           overrides=args.set, descriptions=described, names=names)
                elif method == "pseudolabel+names":
                    pred = run_pseudolabel(labeled, pool, test, len(names), seed, where, rounds_out=per_round,
                                           overrides=args.set + ["teacher.class_names=true"], names=names)
                elif method.startswith("pseudolabel:"):
                    pred = run_pseudolabel(labeled, pool, test, len(names), seed, out / "runs" / f"{folder_name}-{method[12:]}-seed{seed}",
                                           rounds_out=per_round, overrides=args.set + variants[method[12:]], names=names)
                elif method == "supervised" and seed_rounds:
                    # pseudolabel's round 0 *is* the supervised baseline: the same settings, the
                    # same round seed, trained on the gold rows alone. Reuse it rather than retrain.
                    r0 = seed_rounds[0]
                    s = {"accuracy": r0["test_accuracy"], "macro_f1": r0["test_macro_f1"]}
                    results.append({"dataset": name, "method": method, "seed": seed, **s,
                                    "seconds": r0["wall_seconds"], "labels": len(labeled)})
                    log.info("%s seed %d: supervised = pseudolabel round 0, accuracy %.4f", name, seed, s["accuracy"])
                    continue
                elif method == "supervised":
                    pred = run_pseudolabel(labeled, pool, test, len(names), seed, where, max_rounds=0,
                                           overrides=args.set)
                elif method == "sklearn":
                    pred = run_sklearn(labeled, pool, test, seed)
                elif method == "frozen":
                    pred = run_frozen(labeled, test, args.set)
                elif method in ("setfit", "setfit+desc"):
                    described = descriptions[name] if method.endswith("+desc") else None
                    pred = run_setfit(labeled, test, seed, where, described)
                else:
                    pred = run_ceiling(pool, test, len(names), seed, where, args.set)
                s = scores(test, pred, len(names))
                results.append({"dataset": name, "method": method, "seed": seed, **s, "seconds": time.time() - t0,
                                "labels": len(pool) if method == "ceiling" else len(labeled)})
                rounds += [{"dataset": name, "method": method, "seed": seed, **r} for r in per_round]
                if method == "pseudolabel":
                    seed_rounds = per_round
                log.info("%s seed %d: %s accuracy %.4f macro-F1 %.4f", name, seed, method, s["accuracy"], s["macro_f1"])
                pd.DataFrame(results).to_csv(out / "results.csv", index=False)
                pd.DataFrame(rounds).to_csv(out / "rounds.csv", index=False)
            if name in review and not all((name, review_method(a, args.review_strategy), seed) in done
                                          for a in args.review_arms):
                log.info("%s seed %d: pseudolabel+review / +random, %d rows after round 0", name, seed, review[name])
                t0 = time.time()
                arms = run_reviewed(labeled, pool, test, len(names), seed, out / "runs" / f"{folder_name}-review-seed{seed}",
                                    review[name], overrides=args.set, strategy=args.review_strategy,
                                    arms=tuple(args.review_arms))
                seconds = (time.time() - t0) / len(arms)  # round 0 is shared: split evenly among the arms
                for arm, got in arms.items():
                    method = review_method(arm, args.review_strategy)
                    s = scores(test, got["pred"], len(names))
                    results.append({"dataset": name, "method": method, "seed": seed, **s, "seconds": seconds,
                                    "labels": len(labeled) + got["added"]})
                    rounds += [{"dataset": name, "method": method, "seed": seed, **r} for r in got["rounds"]]
                    log.info("%s seed %d: %s accuracy %.4f macro-F1 %.4f", name, seed, method, s["accuracy"],
                             s["macro_f1"])
                pd.DataFrame(results).to_csv(out / "results.csv", index=False)
                pd.DataFrame(rounds).to_csv(out / "rounds.csv", index=False)
    report(pd.DataFrame(results), pd.DataFrame(rounds), environment(started, commit),
           argv if argv is not None else __import__("sys").argv[1:], out, overrides=args.set, variants=variants,
           labels_per_class=args.labels_per_class)
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
