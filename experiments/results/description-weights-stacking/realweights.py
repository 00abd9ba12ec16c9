"""The stacked weight (pseudolabel.teacher.stacking) the descriptions view gets in rounds 0-2 of a run,
with the run's own teacher seeds, from the embeddings of embed.py: python .../realweights.py ag_news sst2"""
import sys, numpy as np
sys.path.insert(0, ".")
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors
from pseudolabel.teacher.linear import LinearSelfTraining
from pseudolabel.teacher.stacking import stacked_weight
from pseudolabel.loop import round_seed
for ds in sys.argv[1:]:
    c = np.load(f"runs/probe-emb/{ds}-common.npz")
    for seed in (0, 1, 2):
        d = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); gx, gy, px = d["gold_x"], d["gold_y"], d["pool_x"]
        K = int(gy.max()) + 1
        vec = class_vectors(c["desc_x"], c["desc_owner"], K)
        v = DescriptionView(vec).fit(gx, gy)
        ws = []
        for r in range(3):
            held = LinearSelfTraining(C=10.0, seed=round_seed(seed, 20_000 + r)).held_out(gx, gy, px, K)
            ws.append(stacked_weight(v.predict_proba(gx), held, gy)[0])
        print(ds, seed, ws, flush=True)
