"""Would averaging a round's teacher with the earlier rounds' teachers label the pool better? Over
every finished run folder under runs/ (saved teacher_probs.npy); from the repository root:

    python experiments/results/neighbour-smoothing/probe_rounds_ensemble.py ../shared/datasets
"""
import sys, numpy as np, pandas as pd, glob, json
sys.path.insert(0, "."); sys.path.insert(0, "experiments")
from bench_accuracy import load_dataset, split
cache = {}
for run in sorted(glob.glob("runs/*/runs/*-seed*")):
    parts = run.split("/")[-1]
    ds = parts.split("-")[0]; seed = int(parts[-1])
    rounds = sorted(glob.glob(run + "/rounds/round_*"))
    probs = []
    for r in rounds:
        try:
            p = np.load(r + "/teacher_probs.npy", mmap_mode="r"); rows = np.load(r + "/teacher_rows.npy")
        except FileNotFoundError:
            continue
        probs.append((p, rows))
    if len(probs) < 2: continue
    key = (ds, seed)
    if key not in cache:
        train, test, names = load_dataset(ds, sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets"); lab, pool = split(train, ds, seed, None)
        cache[key] = pool["label"].to_numpy()
    y = cache[key]
    accs, ens, cum = [], [], None
    for i, (p, rows) in enumerate(probs):
        p = np.asarray(p, dtype=np.float64)
        accs.append((p.argmax(1) == y[rows]).mean())
        cum = p if cum is None else cum + p
        ens.append((cum.argmax(1) == y[rows]).mean())
    prevavg = [((np.asarray(probs[i][0]) + np.asarray(probs[i-1][0])).argmax(1) == y[probs[i][1]]).mean() for i in range(1, len(probs))]
    print(f"{run:60s} teacher " + " ".join(f"{a*100:.1f}" for a in accs) + " | cum-avg " + " ".join(f"{a*100:.1f}" for a in ens) + " | prev+cur " + " ".join(f"{a*100:.1f}" for a in prevavg))
