"""The weight the descriptions view got under the old rule (own gold accuracy over a cross-validated
logistic regression's, above chance, clipped to [0, 1]) in rounds 0-2, with the run's own teacher seeds."""
import sys, numpy as np
sys.path.insert(0, ".")
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors
from pseudolabel.loop import round_seed
def cva(x, y, C, seed, folds=5):
    k = min(folds, int(np.bincount(np.asarray(y)).min()))
    pred = cross_val_predict(LogisticRegression(C=C, max_iter=1000), np.asarray(x, dtype=np.float32), y,
                             cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    return float(np.mean(pred == y))
for ds in sys.argv[1:]:
    c = np.load(f"runs/probe-emb/{ds}-common.npz")
    for seed in (0, 1, 2):
        d = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); gx, gy = d["gold_x"], d["gold_y"]
        K = int(gy.max()) + 1
        v = DescriptionView(class_vectors(c["desc_x"], c["desc_owner"], K)).fit(gx, gy)
        ws = [round(float(np.clip((v.gold_accuracy_ - 1/K) / max(cva(gx, gy, 10.0, round_seed(seed, 20000 + r)) - 1/K, 1e-6), 0, 1)), 3) for r in range(3)]
        print(ds, seed, ws, flush=True)
