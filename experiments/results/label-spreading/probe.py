"""Pool accuracy of the last round's unsmoothed teacher under stronger neighbour smoothing.

The default smooths once: p' = (1 - w) p + w * mean(p of the 10 nearest candidates), w = 0.5.
Label spreading (Zhou et al., 2004) iterates p_{t+1} = (1 - a) p0 + a * mean(p_t of the
neighbours). Reads finished run folders whose last teacher was not smoothed and the pretrained
embeddings of runs/probe-emb. From the repository root:

    python experiments/results/label-spreading/probe.py runs/BENCH/runs/DATASET-METHOD-seedN ...
"""
import sys, numpy as np
sys.path.insert(0, ".")
from pseudolabel.teacher.neighbours import NeighbourSmoothing

ARMS = [("default k10 w.5 x1", 10, 0.5, 1), ("k10 a.5 x3", 10, 0.5, 3), ("k10 a.5 x10", 10, 0.5, 10),
        ("k10 a.7 x10", 10, 0.7, 10), ("k10 a.9 x20", 10, 0.9, 20), ("k20 w.5 x1", 20, 0.5, 1),
        ("k20 a.7 x10", 20, 0.7, 10), ("k30 a.8 x10", 30, 0.8, 10)]
print(f"{'run':45s}", "raw  ", " ".join(f"{a[0]:>18s}" for a in ARMS))
for run in sys.argv[1:]:
    name = run.rstrip("/").split("/")[-1]; ds = name.split("-")[0]; seed = int(name[-1])
    emb = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); y = emb["pool_y"]
    last = sorted(__import__("glob").glob(run + "/rounds/round_*/teacher_probs.npy"))[-1].rsplit("/", 1)[0]
    p0 = np.load(last + "/teacher_probs.npy").astype(np.float64); rows = np.load(last + "/teacher_rows.npy")
    yy = y[rows]; graphs = {}
    out = []
    for label, k, a, steps in ARMS:
        if k not in graphs:
            graphs[k] = NeighbourSmoothing(k=k).fit(emb["pool_x"][rows]).neighbours_
        nb = graphs[k]; p = p0
        for _ in range(steps):
            p = (1 - a) * p0 + a * p[nb].mean(axis=1)
        out.append((p.argmax(1) == yy).mean() * 100)
    print(f"{name + ' ' + last[-3:]:45s}", f"{(p0.argmax(1) == yy).mean()*100:5.1f}", " ".join(f"{v:18.1f}" for v in out), flush=True)
