"""Memory at scale: one SelfTrainer round labels a pool of N texts, and ``pseudolabel predict``
labels a file of N rows; peak resident memory per N.

Usage::

    python experiments/bench_scale.py --data ../shared/datasets --sizes 100000 1000000
    python experiments/bench_speed.py ...            # runs this too, unless --skip-scale

The pool is the AG News train split repeated and perturbed (one word deleted or repeated per
copy, seeded), written to parquet in row groups, so making it needs no more memory than a chunk. Each
size runs in a fresh process (``--child``), so its peak memory is its own:

* ``SelfTrainer`` with ``max_rounds=1`` on the 40 labeled rows of seed 0: round 0 trains, labels
  every pool row (a memory-mapped Arrow table read a chunk at a time, probabilities streamed to a
  file in the run folder) and selects class-balanced top-k, capped at 1,000 rows per class so the
  output does not grow with the pool; the next round is not run.
* for contrast, ``--child --as-list``: the same parquet read the usual way, texts as a Python
  list (what the pool cost before it was streamed), and nothing else.
* ``--child --predict``: what ``pseudolabel predict --input pool.parquet --output out.parquet``
  runs (:func:`pseudolabel.predict.predict_file`) with the final model of a run made once with
  ``max_rounds=0`` (round 0 on the 40 labeled rows): the file is read, labeled and written a
  chunk of rows at a time, so its peak should not grow with N.

Peak memory is reported three ways, read from the kernel: ``VmHWM`` (peak resident set, which
also counts pages of memory-mapped files the process has touched: page cache the kernel may drop
at any time), and the peaks of ``RssAnon`` (the process's own heap: what can run a machine out of
memory) and ``RssFile``, sampled every 50 ms.

On a CPU the default model is a tiny random 2-layer BERT with MiniLM's tokenizer
(``pseudolabel.testing.make_tiny_bert``): the bundled MiniLM labels ~220 ex/s on 2 cores, 77
minutes for a million rows. The memory that could grow with the pool is the pipeline's (texts,
tokens, probabilities, selection), not the model's, whose weights are a constant; ``--model
minilm`` measures with the real one (on a GPU, the default).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("bench")
HERE = Path(__file__).resolve().parent
MAX_PER_CLASS = 1000


def make_pool(texts: list[str], labels: np.ndarray, n: int, path: Path, seed: int = 0, group: int = 50_000) -> Path:
    """Write ``n`` rows to ``path``: ``texts`` repeated, each copy after the first perturbed.

    Row ``i`` is text ``i % len(texts)``; copy ``k = i // len(texts)`` > 0 loses one of its words
    or repeats one at another place (:func:`perturb`), drawn from ``(seed, k, row group)``, so
    no two copies of a text are alike. The label column is the source row's gold label (hidden
    from training, scored as pseudo-label precision).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_file() and pq.ParquetFile(path).metadata.num_rows == n:
        return path
    tmp = path.with_name(".tmp-" + path.name)
    writer = None
    try:
        for start in range(0, n, group):
            rows = np.arange(start, min(start + group, n))
            copy = rows // len(texts)
            source = rows % len(texts)
            out = []
            for k in np.unique(copy):
                rng = np.random.default_rng([seed, int(k), start])
                out += [texts[j] if k == 0 else perturb(texts[j], rng) for j in source[copy == k]]
            table = pa.table({"text": out, "label": pa.array(labels[source])})
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


def perturb(text: str, rng: np.random.Generator) -> str:
    """``text`` with one word deleted or one word repeated at a random place: never the same text."""
    words = text.split()
    if len(words) > 1 and rng.random() < 0.5:
        del words[rng.integers(len(words))]
    else:
        words.insert(rng.integers(len(words) + 1), words[rng.integers(len(words))])
    return " ".join(words)


class PeakMemory:
    """Peaks of ``RssAnon`` and ``RssFile`` from ``/proc/self/status``, sampled on a thread."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak, self._stop = every, {"RssAnon": 0, "RssFile": 0}, threading.Event()

    def sample(self) -> None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(value.split()[0]) * 1024)
        except OSError:  # not Linux: only ru_maxrss is reported
            pass

    def __enter__(self):
        def loop():
            while not self._stop.wait(self.every):
                self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def max_rss_bytes() -> int:
    """Peak resident set of this process image.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` survives ``fork`` + ``exec``, so a child started
    by a large parent (the speed benchmark after its model runs) would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def child(args) -> dict:
    """One measurement, in this (fresh) process; returns the figures as a dict."""
    start = time.perf_counter()
    with PeakMemory() as peak:
        if args.as_list:
            texts = pd.read_parquet(args.pool, columns=["text"])["text"].tolist()
            result = {"rows": len(texts)}
        elif args.predict:
            from pseudolabel import SelfTrainer
            from pseudolabel.predict import predict_file

            st = SelfTrainer.from_run(args.run_dir)
            t0 = time.perf_counter()
            result = {"rows": predict_file(st, args.pool, args.output)}
            result["label_seconds"] = time.perf_counter() - t0
        else:
            from pseudolabel import SelfTrainer

            labeled = pd.read_parquet(args.labeled)
            config = json.loads(args.config)
            st = SelfTrainer(model=args.model, config=config, max_rounds=1, seed=0, output_dir=args.run_dir,
                             overwrite=True)
            st.fit(labeled, args.pool, max_new_rounds=1)
            r = st.history_.iloc[0]
            result = {"rows": int(r["n_candidates"]), "label_seconds": float(r["label_seconds"]),
                      "round_seconds": float(r["wall_seconds"]), "n_selected": int(r["n_selected"]),
                      "pseudo_precision": float(r.get("pseudo_precision", float("nan")))}
    result.update(seconds=time.perf_counter() - start, max_rss=max_rss_bytes(),
                  peak_anon=peak.peak["RssAnon"], peak_file=peak.peak["RssFile"])
    return result


def run_child(extra: list[str]) -> dict:
    """Run :func:`child` in a fresh interpreter; its last stdout line is the JSON result."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *extra],
                          stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scale child {' '.join(extra)} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scale_rows(data: str, sizes: list[int], model: str | None, work: Path, device_type: str = "cpu",
               predict: bool = True) -> tuple[list[dict], list[str]]:
    """Peak memory per pool size (and of ``pseudolabel predict`` per file size, unless ``predict``
    is false), as rows of the speed table, and the notes that explain them."""
    from bench_accuracy import load_dataset, split

    from pseudolabel import load_config
    from pseudolabel.testing import make_tiny_bert

    work.mkdir(parents=True, exist_ok=True)
    train, _, _ = load_dataset("ag_news", data)
    labeled, pool = split(train, "ag_news", 0, None)
    labeled.to_parquet(work / "labeled.parquet")
    if model is None:
        model = "minilm" if device_type == "cuda" else str(make_tiny_bert(work / "tiny-bert", dropout=0.0))
    name = "bundled MiniLM" if model == "minilm" else ("tiny random BERT (2 layers, width 32, MiniLM tokenizer)"
                                                      if "tiny-bert" in model else model)
    cfg = load_config(HERE / "bench_accuracy.yaml").to_dict()
    cfg["model"]["name"] = model
    cfg["selection"]["max_per_class"] = MAX_PER_CLASS
    dtype = {"no": "float32", "bf16": "bfloat16", "fp16": "float16"}[cfg["train"]["mixed_precision"]]
    predict_run = work / "predict-run"
    if predict:
        from pseudolabel import SelfTrainer

        SelfTrainer(config={**cfg, "loop": {**cfg["loop"], "max_rounds": 0}}, output_dir=predict_run, seed=0,
                    overwrite=True).fit(labeled, pool.head(100))
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        path = make_pool(pool["text"].tolist(), pool["label"].to_numpy(), n, work / f"pool-{n}.parquet")
        log.info("scale: pool of %d rows ready in %.0f s (%.0f MB parquet)", n, time.perf_counter() - t0,
                 path.stat().st_size / 1e6)
        listed = run_child(["--pool", str(path), "--as-list"])
        run_dir = work / f"run-{n}"
        shutil.rmtree(run_dir, ignore_errors=True)
        got = run_child(["--pool", str(path), "--labeled", str(work / "labeled.parquet"), "--model", model,
                         "--run-dir", str(run_dir), "--config", json.dumps(cfg)])
        shutil.rmtree(run_dir, ignore_errors=True)
        log.info("scale %d: peak RSS %.0f MB (anon %.0f, file %.0f), labeled %d at %.0f ex/s; texts as a list: "
                 "peak RSS %.0f MB", n, got["max_rss"] / 2**20, got["peak_anon"] / 2**20, got["peak_file"] / 2**20,
                 got["rows"], got["rows"] / got["label_seconds"], listed["max_rss"] / 2**20)
        what = f"SelfTrainer round 0 on {n:,} pool rows"
        rows += [{**row, "dtype": dtype if "Python list" not in row["measure"] else ""} for row in [
            {"part": "scale", "measure": f"{what}: peak RSS (VmHWM)", "value": got["max_rss"] / 2**20, "unit": "MiB"},
            {"part": "scale", "measure": f"{what}: peak anonymous memory", "value": got["peak_anon"] / 2**20, "unit": "MiB"},
            {"part": "scale", "measure": f"{what}: peak mapped-file memory", "value": got["peak_file"] / 2**20, "unit": "MiB"},
            {"part": "scale", "measure": f"{what}: labeling", "value": got["rows"] / got["label_seconds"], "unit": "ex/s"},
            {"part": "scale", "measure": f"{what}: wall, process start to end", "value": got["seconds"], "unit": "s"},
            {"part": "scale", "measure": f"the same {n:,} texts as a Python list (pandas): peak RSS",
             "value": listed["max_rss"] / 2**20, "unit": "MiB"},
        ]]
        if predict:
            rows += predict_rows(path, predict_run, work / f"predictions-{n}.parquet", n, dtype)
    notes = [f"Scale: the AG News train pool repeated and perturbed (one seeded word deletion or repetition per copy) to each "
             f"size; one fresh process per size running `SelfTrainer` round 0 (settings of bench_accuracy.yaml, "
             f"top-k capped at {MAX_PER_CLASS} rows per class) with the {name}. Peak RSS counts the touched pages "
             "of the memory-mapped pool too (page cache the kernel can drop); anonymous memory is the process's "
             "own, sampled every 50 ms. The list row reads the same parquet with pandas into a Python list."]
    if predict:
        from pseudolabel.predict import CHUNK_ROWS

        notes.append("Predict: `pseudolabel predict` (pseudolabel.predict.predict_file) from the same parquet "
                     "file to a parquet file, in a fresh process per size, with the final model of a run of "
                     f"round 0 only (the same settings and model); it reads, labels and writes {CHUNK_ROWS:,} "
                     "rows at a time, so its peak memory should not grow with the file.")
    return rows, notes


def predict_rows(path: Path, run_dir: Path, output: Path, n: int, dtype: str) -> list[dict]:
    """Peak memory and rate of ``pseudolabel predict`` on the ``n``-row parquet file ``path``."""
    got = run_child(["--predict", "--pool", str(path), "--run-dir", str(run_dir), "--output", str(output)])
    output.unlink(missing_ok=True)
    log.info("predict %d: peak RSS %.0f MB (anon %.0f, file %.0f), %.0f rows/s", n, got["max_rss"] / 2**20,
             got["peak_anon"] / 2**20, got["peak_file"] / 2**20, got["rows"] / got["label_seconds"])
    what = f"pseudolabel predict on {n:,} rows (parquet in and out)"
    return [{**row, "part": "scale", "dtype": dtype} for row in [
        {"measure": f"{what}: peak RSS (VmHWM)", "value": got["max_rss"] / 2**20, "unit": "MiB"},
        {"measure": f"{what}: peak anonymous memory", "value": got["peak_anon"] / 2**20, "unit": "MiB"},
        {"measure": f"{what}: peak mapped-file memory", "value": got["peak_file"] / 2**20, "unit": "MiB"},
        {"measure": f"{what}: read, label and write", "value": got["rows"] / got["label_seconds"], "unit": "ex/s"},
        {"measure": f"{what}: wall, process start to end", "value": got["seconds"], "unit": "s"},
    ]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--model", help="encoder (default: a tiny random BERT on CPU, the bundled MiniLM on GPU)")
    parser.add_argument("--out", default="runs/bench-scale")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as-list", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    parser.add_argument("--labeled", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--predict", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--skip-predict", action="store_true", help="leave out the pseudolabel predict part")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    if args.child:
        print(json.dumps(child(args)))
        return
    import torch

    rows, notes = scale_rows(args.data, args.sizes, args.model, Path(args.out),
                             "cuda" if torch.cuda.is_available() else "cpu", predict=not args.skip_predict)
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.out) / "scale.csv", index=False)
    print(table.to_string(index=False))
    print("\n".join(notes))


if __name__ == "__main__":
    main()
