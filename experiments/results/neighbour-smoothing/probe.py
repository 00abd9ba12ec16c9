"""Pool accuracy of each round's saved teacher before and after neighbour smoothing (k=10, weight 0.5).

Reads finished run folders (rounds/round_NNN/teacher_probs.npy, teacher_rows.npy) and the pretrained
embeddings of runs/probe-emb (experiments/results/description-weights-stacking/embed.py). From the
repository root:

    python experiments/results/neighbour-smoothing/probe.py runs/BENCH/runs/DATASET-METHOD-seedN ...
"""
import sys, time, glob, numpy as np
sys.path.insert(0, ".")
from pseudolabel.teacher.neighbours import NeighbourSmoothing
for run in sys.argv[1:]:
    name = run.rstrip("/").split("/")[-1]; ds = name.split("-")[0]; seed = int(name[-1])
    emb = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); y = emb["pool_y"]
    res = []
    for r in sorted(glob.glob(run + "/rounds/round_*")):
        try: p = np.load(r + "/teacher_probs.npy"); rows = np.load(r + "/teacher_rows.npy")
        except FileNotFoundError: continue
        t0 = time.time(); ns = NeighbourSmoothing(k=10, weight=0.5).fit(emb["pool_x"][rows]); t1 = time.time()
        q = ns.transform(p)
        res.append(f"{(p.argmax(1)==y[rows]).mean()*100:.1f}->{(q.argmax(1)==y[rows]).mean()*100:.1f} ({t1-t0:.1f}s)")
    print(f"{name:40s}", " | ".join(res), flush=True)
