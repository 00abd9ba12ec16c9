"""Speed benchmark: pseudolabel's labeling and training throughput against plain peers (../shared/BENCHMARK.md).

Usage::

    python experiments/bench_speed.py --data ../shared/datasets                   # everything
    python experiments/bench_speed.py --data ../shared/datasets --n-label 256 \\
        --train-steps 8 --skip-round                                             # a quick check
    python experiments/bench_speed.py --data hf                                  # Hugging Face ag_news

In one process, on the AG News pool with the bundled MiniLM (or ``--model``):

1. the dense matmul rate, float32 and bfloat16, on the device and threads the rest uses;
2. labeling, examples/s: ``transformers.pipeline`` (float32) against ``Trainer.predict_proba``
   in float32 and bf16, on one classifier fine-tuned briefly on the 40 labeled rows of seed 0;
   each rate as a share of the matmul rate of its dtype, and argmax agreement with float32;
3. training, examples/s: ``Trainer.fit`` (bf16, length-grouped batches) against a plain float32
   loop with random batches padded to their longest row;
4. unless ``--skip-round``, the wall time of round 0 of ``SelfTrainer`` (train + label + select);
5. unless ``--skip-scale``, peak memory of that round on pools of 100k and 1M texts
   (``experiments/bench_scale.py``, one fresh process per size).

Throughput is reported as ratios to a peer measured in the same run: the machines are shared
and noisy. Writes ``speed.md`` and ``speed.csv`` into ``--out`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench_accuracy import environment, git_commit, load_dataset, shown_command, split
from pseudolabel import SelfTrainer, load_config
from pseudolabel.trainer import Trainer, bundled_minilm, make_accelerator

HERE = Path(__file__).resolve().parent
SETTINGS = HERE / "bench_accuracy.yaml"  # the library's default recipe, as the accuracy benchmark runs it
OVERRIDES: list[str] = []  # --set: changes to those settings (the tests' tiny runs)


def settings():
    """The default recipe with ``--set`` overrides."""
    return load_config(SETTINGS, OVERRIDES)
LABEL_BATCH = 64  # the protocol's pipeline batch size, used by every labeler
TRAIN_BATCH = 16
WARMUP_TEXTS = 64
DTYPES = {"no": "float32", "bf16": "bfloat16", "fp16": "float16"}  # accelerate's mixed_precision names
COLUMNS = ["part", "measure", "dtype", "value", "unit", "ratio", "matmul_share", "agreement_pct"]
log = logging.getLogger("bench")


def timed(fn, device: torch.device):
    """``fn()``'s result and its wall seconds; on a GPU, queued kernels are waited for on both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int, repeats: int = 5) -> float:
    """GFLOP/s of an ``n`` x ``n`` ``torch.matmul``: median of ``repeats`` timings of >= 0.25 s each."""
    a, b, c = (torch.randn(n, n, device=device).to(dtype) for _ in range(3))

    def run(times: int):
        for _ in range(times):
            torch.matmul(a, b, out=c)

    run(1)  # warm-up: allocator, kernel selection
    inner = max(1, math.ceil(0.25 / max(timed(lambda: run(1), device)[1], 1e-9)))
    seconds = statistics.median(timed(lambda: run(inner), device)[1] / inner for _ in range(repeats))
    return 2 * n**3 / seconds / 1e9


def non_embedding_params(model) -> int:
    """Parameters outside the embedding tables: the ones every token multiplies through."""
    embeddings = getattr(model.base_model, "embeddings", None)
    if embeddings is None:
        embeddings = model.get_input_embeddings()
    return sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in embeddings.parameters())


def finetune(model: str, names: list[str], labeled: pd.DataFrame, folder: Path, steps: int) -> None:
    """A briefly trained classifier, so the labelers' predictions (and their agreement) mean something."""
    config = settings()
    train = dataclasses.replace(config.train, max_steps=steps)
    trainer = Trainer(model, names, config=train, max_length=config.model.max_length,
                      accelerator=make_accelerator())
    stats = trainer.fit(labeled["text"].tolist(), labeled["label"].to_numpy(), seed=0, desc="fine-tune")
    trainer.save(folder)
    log.info("fine-tuned on %d labeled rows, %d steps, last loss %.3f: %s", len(labeled), stats["steps"],
             stats["loss"], folder)


def label_with_pipeline(folder: Path, texts: list[str], device: torch.device, max_length: int):
    """Predicted class ids and seconds of ``transformers.pipeline`` (tokenizing included)."""
    from transformers import pipeline

    # No dtype argument (transformers 4 calls it torch_dtype): the saved classifier is float32 either way.
    classify = pipeline("text-classification", model=str(folder), batch_size=LABEL_BATCH, truncation=True,
                        max_length=max_length, device=device)
    classify(texts[:WARMUP_TEXTS])
    out, seconds = timed(lambda: classify(texts), device)
    label2id = classify.model.config.label2id
    return np.array([label2id[o["label"]] for o in out]), seconds


def label_with_trainer(folder: Path, names: list[str], texts: list[str], precision: str, max_length: int):
    """Predicted class ids, seconds and the trainer of ``Trainer.predict_proba`` (tokenizing included)."""
    config = dataclasses.replace(settings().train, eval_batch_size=LABEL_BATCH, mixed_precision=precision)
    trainer = Trainer(str(folder), names, config=config, max_length=max_length,
                      accelerator=make_accelerator())
    trainer.load(folder)
    trainer.predict_proba(texts[:WARMUP_TEXTS], desc="warm-up")
    trainer._token_cache.clear()  # time the tokenizing too, as the pipeline's time includes it
    probs, seconds = timed(lambda: trainer.predict_proba(texts), trainer.accelerator.device)
    return probs.argmax(1), seconds, trainer


def labeling_rows(folder: Path, names: list[str], texts: list[str], rates: dict, device: torch.device,
                  max_length: int) -> list[dict]:
    n = len(texts)
    pipe_pred, pipe_seconds = label_with_pipeline(folder, texts, device, max_length)
    log.info("pipeline: %.1f ex/s", n / pipe_seconds)
    f32_pred, f32_seconds, trainer = label_with_trainer(folder, names, texts, "no", max_length)
    log.info("predict_proba float32: %.1f ex/s", n / f32_seconds)
    bf16_pred, bf16_seconds, bf16 = label_with_trainer(folder, names, texts, "bf16", max_length)
    log.info("predict_proba bf16: %.1f ex/s", n / bf16_seconds)
    (scored, _), features_seconds = timed(lambda: bf16.score(texts, features=True), bf16.accelerator.device)
    log.info("score with features bf16: %.1f ex/s (%+.1f%% time)", n / features_seconds,
             100 * (features_seconds / bf16_seconds - 1))
    tokens = sum(len(ids) for ids in trainer.encode(texts))
    gflop = 2 * non_embedding_params(trainer.model) * tokens / 1e9

    def row(measure, dtype, seconds, pred):
        return {"part": "labeling", "measure": measure, "dtype": dtype, "value": n / seconds, "unit": "ex/s",
                "ratio": pipe_seconds / seconds, "matmul_share": gflop / seconds / rates[dtype],
                "agreement_pct": 100 * float(np.mean(pred == f32_pred))}

    return [row(f"transformers.pipeline, batch {LABEL_BATCH}", "float32", pipe_seconds, pipe_pred),
            {**row("Trainer.predict_proba", "float32", f32_seconds, f32_pred), "agreement_pct": None},
            row("Trainer.predict_proba", "bfloat16", bf16_seconds, bf16_pred),
            row("Trainer.score: probabilities + pooled features, one pass", "bfloat16", features_seconds,
                scored.argmax(1))]


def train_plain(model: str, tokenizer, n_classes: int, texts: list[str], labels: np.ndarray, steps: int,
                learning_rate: float, max_length: int, device: torch.device) -> int:
    """The peer: float32, AdamW, random batches each padded to its longest row. Returns examples seen."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    net = AutoModelForSequenceClassification.from_pretrained(model, num_labels=n_classes).to(device).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate)
    order = np.random.default_rng(0).permutation(len(texts))
    seen = 0
    for step in range(steps):
        rows = order[step * TRAIN_BATCH:(step + 1) * TRAIN_BATCH]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        net(**batch, labels=torch.as_tensor(labels[rows], device=device)).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seen += len(rows)
    return seen


TRAIN_VARIANTS = {
    "embeddings trained (the earlier default)": {"freeze_embeddings": False},
    "word embeddings frozen (the default)": {},
    "frozen, batches of 32, lr x 2": {"batch_size": 32, "learning_rate_scale": 2.0},
}


def training_rows(model: str, names: list[str], pool: pd.DataFrame, steps: int, max_length: int,
                  device: torch.device) -> list[dict]:
    """Every side sees the same ``steps`` x 16 texts once; each time covers model load, tokenizing and steps.

    The plain float32 loop is the peer; ``Trainer.fit`` runs with the default settings and with
    each variant of :data:`TRAIN_VARIANTS`, so each lever's gain is its own row.
    """
    rows = pool.iloc[: steps * TRAIN_BATCH]
    texts, labels = rows["text"].tolist(), rows["label"].to_numpy()
    default = settings().train
    seen, plain_seconds = timed(lambda: train_plain(model, _tokenizer(model), len(names), texts, labels, steps,
                                                    default.learning_rate, max_length, device), device)
    plain_rate = seen / plain_seconds
    log.info("plain float32 loop: %.1f ex/s", plain_rate)
    out = [{"part": "training", "measure": f"plain loop, random batches of {TRAIN_BATCH}, {steps} steps",
            "dtype": "float32", "value": plain_rate, "unit": "ex/s", "ratio": 1.0}]
    for name, change in TRAIN_VARIANTS.items():
        change = dict(change)
        batch = change.pop("batch_size", TRAIN_BATCH)
        lr = default.learning_rate * change.pop("learning_rate_scale", 1.0)
        n_steps = steps * TRAIN_BATCH // batch
        config = dataclasses.replace(default, epochs=1, min_steps=1, max_steps=n_steps, batch_size=batch,
                                     learning_rate=lr, **change)
        trainer = Trainer(model, names, config=config, max_length=max_length, accelerator=make_accelerator())
        stats, seconds = timed(lambda: trainer.fit(texts, labels, seed=0, desc="Trainer.fit"), device)
        rate = stats["examples"] / seconds
        log.info("Trainer.fit bf16, %s: %.1f ex/s", name, rate)
        out.append({"part": "training", "measure": f"Trainer.fit, length-grouped, {name}, {stats['steps']} steps",
                    "dtype": DTYPES[config.mixed_precision], "value": rate, "unit": "ex/s", "ratio": rate / plain_rate})
    return out


def _tokenizer(model: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


def run_rows(model: str, labeled: pd.DataFrame, pool: pd.DataFrame, out: Path) -> list[dict]:
    """The whole default run (every round) and its parts, from the run's own history."""
    shutil.rmtree(out, ignore_errors=True)  # else an earlier run's finished rounds would be resumed, not re-run
    st = SelfTrainer(model=model, config=settings(), seed=0, output_dir=out)
    _, seconds = timed(lambda: st.fit(labeled, pool), torch.device("cpu"))
    precision = DTYPES[settings().train.mixed_precision]
    rows = []
    for _, r in st.history_.iterrows():
        trained = int(r["n_labeled"] + r["n_pseudo_total"])
        parts = [f"train {r['train_seconds']:.0f} s on {trained:,} rows"]
        if r.get("n_candidates") == r.get("n_candidates"):  # NaN for a round that labels nothing
            parts.append(f"score {int(r['n_candidates']):,} rows {r['label_seconds']:.0f} s")
            parts.append(f"teacher {r['teacher_seconds']:.0f} s")
        log.info("round %d: %.1f s (%s)", r["round"], r["wall_seconds"], ", ".join(parts))
        rows.append({"part": "run", "measure": f"round {int(r['round'])}: " + ", ".join(parts), "dtype": precision,
                     "value": r["wall_seconds"], "unit": "s"})
    rows.append({"part": "run", "measure": f"the whole default run: {len(st.history_)} rounds, embeddings, saving",
                 "dtype": precision, "value": seconds, "unit": "s"})
    return rows


def report(table: pd.DataFrame, env: dict, notes: list[str], args: list[str], out: Path) -> str:
    """Write ``speed.csv`` and ``speed.md``; return the Markdown."""
    table = table.reindex(columns=COLUMNS)
    table.to_csv(out / "speed.csv", index=False)

    def cell(value, fmt):
        return "" if pd.isna(value) else fmt.format(value)

    lines = ["# Speed benchmark", "",
             f"Commit `{env['commit']}`, {env['machine']}, {env['threads']} torch threads, device {env['device']}; "
             f"torch {env['torch']}, transformers {env['transformers']}, accelerate {env['accelerate']}; "
             f"{env['wall_minutes']} minutes in all.",
             f"Command: `{shown_command('bench_speed.py', args)}`", "",
             "| part | measure | dtype | rate | unit | × peer | share of matmul | argmax = float32 (%) |",
             "|---|---|---|---:|---|---:|---:|---:|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.part} | {r.measure} | {r.dtype} | {cell(r.value, '{:,.1f}')} | {r.unit} | "
                     f"{cell(r.ratio, '{:.2f}')} | {cell(r.matmul_share, '{:.0%}')} | "
                     f"{cell(r.agreement_pct, '{:.2f}')} |")
    lines += [""] + [f"- {note}" for note in notes]
    text = "\n".join(lines) + "\n"
    (out / "speed.md").write_text(text)
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets", help="folder with ag_news/, or 'hf'")
    parser.add_argument("--model", help="pretrained encoder folder (default: the bundled MiniLM)")
    parser.add_argument("--n-label", type=int, default=4000, help="pool texts each labeler labels")
    parser.add_argument("--train-steps", type=int, default=60, help="optimizer steps of each training side")
    parser.add_argument("--finetune-steps", type=int, default=40, help="steps of the classifier the labelers use")
    parser.add_argument("--round-pool", type=int, help="pool rows of the run (default: the whole pool)")
    parser.add_argument("--skip-round", action="store_true", help="leave out the whole default SelfTrainer run")
    parser.add_argument("--scale-sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="pool sizes whose peak memory is measured (experiments/bench_scale.py)")
    parser.add_argument("--scale-model", help="encoder of the scale part (default: tiny random BERT on CPU, "
                        "the bundled MiniLM on GPU)")
    parser.add_argument("--skip-scale", action="store_true", help="leave out the memory-at-scale part")
    parser.add_argument("--matmul-size", type=int, default=4096, help="side of the square matmul")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change the default recipe's settings for every part (repeatable)")
    parser.add_argument("--out", default="runs/bench-speed")
    args = parser.parse_args(argv)
    OVERRIDES[:] = args.set
    settings()  # a bad --set fails now, not after the first parts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    started, commit, out = time.time(), git_commit(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model or bundled_minilm()
    max_length = settings().model.max_length
    train, _, names = load_dataset("ag_news", args.data)
    labeled, pool = split(train, "ag_news", seed=0, pool_size=None)
    shuffled = pool.sample(frac=1.0, random_state=0).reset_index(drop=True)
    for flag, wanted in (("--n-label", args.n_label), ("--train-steps x 16", args.train_steps * TRAIN_BATCH),
                         ("--round-pool", args.round_pool or 0)):
        if wanted > len(pool):
            raise SystemExit(f"{flag} asks for {wanted} pool rows; the pool has {len(pool)}")
    device = make_accelerator().device

    rows, rates = [], {}
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        rates[name] = matmul_rate(dtype, device, args.matmul_size)
        log.info("matmul %s: %.1f GFLOP/s", name, rates[name])
        rows.append({"part": "matmul", "measure": f"torch.matmul {args.matmul_size}²", "dtype": name,
                     "value": rates[name], "unit": "GFLOP/s"})
    finetune(model, names, labeled, out / "classifier", args.finetune_steps)
    texts = shuffled["text"].iloc[: args.n_label].tolist()
    rows += labeling_rows(out / "classifier", names, texts, rates, device, max_length)
    rows += training_rows(model, names, shuffled, args.train_steps, max_length, device)
    if not args.skip_round:
        rows += run_rows(model, labeled, pool.iloc[: args.round_pool], out / "run")
    scale_notes = []
    if not args.skip_scale:
        from bench_scale import scale_rows

        scale, scale_notes = scale_rows(args.data, args.scale_sizes, args.scale_model, out / "scale", device.type)
        rows += scale

    import accelerate

    env = {**environment(started, commit), "accelerate": accelerate.__version__, "threads": torch.get_num_threads(),
           "device": str(device)}
    notes = [
        f"Labeling: the same {len(texts)} pool texts (random, seed 0) for every labeler, batches of {LABEL_BATCH}, "
        f"max_length {max_length}, one classifier fine-tuned for {args.finetune_steps} steps on the "
        f"{len(labeled)} labeled rows of seed 0. Each is timed once after a warm-up on {WARMUP_TEXTS} texts; "
        "model loading is excluded, tokenizing is included (pseudolabel's token cache is cleared first). "
        "The pipeline pads each batch in input order; predict_proba sorts by length.",
        "Share of matmul: 2 × non-embedding parameters × real (unpadded) tokens, per second, over the median "
        "rate of the square matmul in the same dtype. Attention scores and padding are not counted, so this is "
        "the useful share. argmax = float32: rows whose predicted class equals Trainer.predict_proba float32's.",
        f"Training: both sides see the same {args.train_steps * TRAIN_BATCH} pool texts with gold labels once; "
        "each time covers model loading, tokenizing and the optimizer steps.",
        f"float32 matmul precision: {torch.get_float32_matmul_precision()} (on a GPU, 'highest' means no TF32).",
    ]
    if not args.skip_round:
        notes.append("Run: the library's default recipe on the AG News pool of seed 0; each round's wall time "
                     "from history.csv (train + score the pool + teacher + select; saving is not in it), and the "
                     "whole run's time (the pretrained embeddings of the pool and every save included).")
    notes += scale_notes
    text = report(pd.DataFrame(rows), env, notes, argv if argv is not None else sys.argv[1:], out)
    print(text)


if __name__ == "__main__":
    main()
