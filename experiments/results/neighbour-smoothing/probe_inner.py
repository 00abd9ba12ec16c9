"""The linear stage in the pretrained space alone, smoothing once after it ("after") or inside every
inner round's teacher as well ("inner"); pool accuracy before -> after the final smoothing. From the
repository root, with runs/probe-emb made:

    python experiments/results/neighbour-smoothing/probe_inner.py sst2:0 banking77:0 ag_news:0 ...
"""
import sys, numpy as np, time
sys.path.insert(0, ".")
from pseudolabel.teacher.linear import LinearSelfTraining
from pseudolabel.teacher.combine import weighted_mean
from pseudolabel.teacher.neighbours import NeighbourSmoothing
for ds, seed in [(a.split(":")[0], int(a.split(":")[1])) for a in sys.argv[1:]]:
    e = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); y = e["pool_y"]; k = int(max(e["gold_y"].max(), y.max()) + 1)
    sm = NeighbourSmoothing(k=10, weight=0.5).fit(e["pool_x"])
    res = []
    for inner in (False, True):
        t0 = time.time()
        comb = (lambda v: sm.transform(weighted_mean(v))) if inner else weighted_mean
        views = LinearSelfTraining(seed=seed).run({"pretrained": (e["gold_x"], e["pool_x"])}, e["gold_y"], k, {}, comb)
        p = weighted_mean(views)
        res.append(f"{'inner' if inner else 'after'}: {(p.argmax(1)==y).mean()*100:.1f}->{(sm.transform(p).argmax(1)==y).mean()*100:.1f} ({time.time()-t0:.0f}s)")
    print(ds, seed, " | ".join(res), flush=True)
