"""Every round's picks taken by the unsmoothed teacher's ranks but labeled by the smoothed teacher: would
the labels of the rows the curriculum takes be more precise? Reads the unsmoothed round-0/1 teachers of
finished default runs (teacher.neighbour_rounds: last) and runs/probe-emb. From the repository root:

    python experiments/results/neighbour-smoothing/picks_probe.py runs/BENCH/runs/DATASET-METHOD-seedN ...
"""
import sys, numpy as np
sys.path.insert(0, ".")
from pseudolabel.teacher.neighbours import NeighbourSmoothing
from pseudolabel.teacher.quota import balanced_take
for run in sys.argv[1:]:
    name = run.rstrip("/").split("/")[-1]; ds = name.split("-")[0]; seed = int(name[-1])
    e = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); y = e["pool_y"]
    out = []
    for r, share in ((0, 1/3), (1, 2/3)):
        d = f"{run}/rounds/round_{r:03d}"
        p = np.load(d + "/teacher_probs.npy").astype(np.float64); rows = np.load(d + "/teacher_rows.npy"); yy = y[rows]
        q = NeighbourSmoothing(k=10, weight=0.5).fit(e["pool_x"][rows]).transform(p)
        t = balanced_take(p, share, prior="predicted"); ts = balanced_take(q, share, prior="predicted")
        out.append(f"r{r}: raw picks raw labels {np.mean(p[t].argmax(1)==yy[t])*100:.2f} | raw picks smoothed labels {np.mean(q[t].argmax(1)==yy[t])*100:.2f} | smoothed picks {np.mean(q[ts].argmax(1)==yy[ts])*100:.2f}")
    print(name, " || ".join(out), flush=True)
