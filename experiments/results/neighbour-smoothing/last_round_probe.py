"""Neighbour smoothing for the last teacher only (share 1: every candidate is taken, so only labels and
rank weights change, not which rows), screened by resuming finished default runs.

Copies a finished run's folder without its last round (rounds 0-2 kept, as a run whose earlier teachers
are unsmoothed computes them), rewrites round 2's picks of the whole pool from its combined probabilities
smoothed over the k=10 nearest candidates in the run's own pretrained embeddings (weight 0.5): label =
argmax, confidence = max, weights = ``class_rank`` as ``train.pseudo_weight: rank`` makes them; then
resumes: only the last student is trained again, from the same round seed. ``control`` rewrites nothing
and must reproduce the recorded last round. From the repository root, ../shared beside it:

    python experiments/results/neighbour-smoothing/last_round_probe.py {smooth,control} DATASET SEED RUN_FOLDER
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, settings, split  # noqa: E402

from pseudolabel import SelfTrainer  # noqa: E402
from pseudolabel.teacher.neighbours import NeighbourSmoothing  # noqa: E402
from pseudolabel.teacher.targets import class_rank  # noqa: E402

arm, name, s, src = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
train, test, names = load_dataset(name, "../shared/datasets")
dst = Path(f"runs/nb-last-round/{arm}-{name}-seed{s}")
if dst.exists():
    shutil.rmtree(dst)
shutil.copytree(src, dst, ignore=shutil.ignore_patterns("round_003", "final", "history.csv", "report.png"))
meta = json.loads((dst / "run.json").read_text())
meta["config"]["teacher"].setdefault("neighbours", 0)  # the source runs computed without smoothing
meta["config"]["teacher"].setdefault("neighbour_weight", 0.5)
(dst / "run.json").write_text(json.dumps(meta, indent=2))
changed = None
if arm == "smooth":
    f = dst / "rounds/round_002/pseudo_labels.parquet"
    p = pd.read_parquet(f)
    cands = np.load(dst / "rounds/round_002/teacher_rows.npy")
    assert len(p) == len(cands), "share 1: every candidate is picked"
    pos = pd.Series(np.arange(len(cands)), index=cands)[p["pool_row"].to_numpy()].to_numpy()
    probs = np.zeros((len(cands), len(names)))
    probs[pos] = np.stack(p["probs"].to_numpy())
    assert (probs[pos].argmax(1) == p["label"].to_numpy()).all(), "labels are class indices"
    emb = np.load(dst / "embeddings/pretrained-pool.npy", mmap_mode="r")
    smoothed = NeighbourSmoothing(k=10, weight=0.5).fit(np.asarray(emb[cands])).transform(probs)
    labels = smoothed.argmax(1)
    confidence = smoothed[np.arange(len(cands)), labels]
    weights = class_rank(confidence, labels, smoothed)
    changed = float(np.mean(labels[pos] != p["label"].to_numpy()))
    p["label"], p["confidence"], p["weight"] = labels[pos], confidence[pos], weights[pos]
    p["probs"] = list(smoothed[pos])
    p.to_parquet(f, index=False)
labeled, pool = split(train, name, s, None)
st = SelfTrainer(config=settings([]), seed=s, output_dir=str(dst), overwrite=False)
st.fit(labeled, pool)
acc = float(np.mean(np.asarray(st.predict(test["text"].tolist())) == test["label"].to_numpy()))
gold = pool["label"].to_numpy()
picks = pd.read_parquet(dst / "rounds/round_002/pseudo_labels.parquet")
precision = float(np.mean(picks["label"].to_numpy() == gold[picks["pool_row"].to_numpy()]))
print(json.dumps({"arm": arm, "dataset": name, "seed": s, "accuracy": acc, "label_precision": precision,
                  "labels_changed": changed}), flush=True)
