"""AG News seed 0, the default against every round's teacher smoothed (teacher.neighbours=10 at 2c3fd69):
where in its class does each round's pick sit (cosine to the class's gold centroid in the pretrained space,
margin to the next centroid), and how many rows does each teacher give each class? From the repository root,
with the two finished runs in runs/ (their folders are not committed):

    python experiments/results/neighbour-smoothing/class_shares_probe.py
"""
import sys
import numpy as np, pandas as pd
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, split
train, test, names = load_dataset("ag_news", "../shared/datasets")
labeled, pool = split(train, "ag_news", 0, None)
gold = pool["label"].to_numpy()
for arm, run in [("default", "runs/r4-ag/runs/ag_news-pseudolabel-seed0"), ("smoothed", "runs/nb-ag_news/runs/ag_news-pseudolabel-seed0")]:
    emb = np.load(f"{run}/embeddings/pretrained-pool.npy")
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    for r in (0, 1):
        p = pd.read_parquet(f"{run}/rounds/round_00{r}/pseudo_labels.parquet")
        rows, lab = p["pool_row"].to_numpy(), p["label"].to_numpy()
        # centroid of each class over the whole pool by gold label; cosine of each pick to its label's centroid
        cent = np.stack([emb[gold == c].mean(0) for c in range(len(names))]); cent /= np.linalg.norm(cent, axis=1, keepdims=True)
        cos_own = (emb[rows] * cent[lab]).sum(1)
        allcos = (emb * cent[gold]).sum(1)
        # margin to the nearest other centroid
        sims = emb[rows] @ cent.T; sims[np.arange(len(rows)), lab] = -9; margin = cos_own - sims.max(1)
        pctl = np.mean(allcos[:, None] < cos_own[None, :1000], axis=0).mean()
        print(arm, "round", r, "n", len(rows), "precision %.3f" % np.mean(lab == gold[rows]),
              "cos to own centroid %.3f (pool %.3f)" % (cos_own.mean(), allcos.mean()),
              "margin %.3f" % margin.mean(), "per class", np.bincount(lab, minlength=4).tolist())
print("pool gold per class", np.bincount(gold).tolist())
for arm, run in [("default", "runs/r4-ag/runs/ag_news-pseudolabel-seed0"), ("smoothed", "runs/nb-ag_news/runs/ag_news-pseudolabel-seed0")]:
    for r in (0, 1, 2):
        probs = np.load(f"{run}/rounds/round_00{r}/teacher_probs.npy"); rows = np.load(f"{run}/rounds/round_00{r}/teacher_rows.npy")
        am = probs.argmax(1)
        print(arm, r, "teacher argmax per class", np.bincount(am, minlength=4).tolist(), "acc %.3f" % np.mean(am == gold[rows]))
