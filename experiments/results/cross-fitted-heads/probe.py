"""Self-training a linear head in the pretrained space: does predicting each pool row with a head
that did not train on it (K-fold cross-fitting) make the labels more accurate?

The teacher's linear stage (ten inner rounds, class-balanced, C=10, to 100% of the pool) predicts
every pool row with a head trained on that row's own pseudo-label; out-of-fold predictions are
the confident-learning way to let a head disagree with its labels. Pretrained space only, from
the embeddings of runs/probe-emb. From the repository root:

    python experiments/results/cross-fitted-heads/probe.py DATASET SEED [SEED ...]
"""
import sys, time, numpy as np
sys.path.insert(0, ".")
from sklearn.linear_model import LogisticRegression
from pseudolabel.teacher.quota import balanced_take

def fit(x, y, C=10.0):
    return LogisticRegression(C=C, max_iter=1000).fit(x, y)

def proba(head, x, k):
    out = np.zeros((len(x), k)); out[:, head.classes_] = head.predict_proba(x); return out

def self_train(gx, gy, px, k, folds, rounds=10, seed=0):
    p = proba(fit(gx, gy), px, k)
    fold = np.random.default_rng(seed).integers(0, max(folds, 1), len(px))
    for t in range(1, rounds + 1):
        taken = balanced_take(p, t / rounds, prior="predicted"); lab = p[taken].argmax(1)
        if folds <= 1:
            p = proba(fit(np.concatenate([gx, px[taken]]), np.concatenate([gy, lab])), px, k)
        else:
            q = np.zeros_like(p)
            for f in range(folds):
                tr = fold[taken] != f
                h = fit(np.concatenate([gx, px[taken[tr]]]), np.concatenate([gy, lab[tr]]))
                q[fold == f] = proba(h, px[fold == f], k)
            p = q
    return p

ds = sys.argv[1]
for s in map(int, sys.argv[2:]):
    e = np.load(f"runs/probe-emb/{ds}-{s}.npz"); k = int(max(e["gold_y"].max(), e["pool_y"].max())) + 1
    res = {}
    for folds in (1, 2, 5):
        t0 = time.time(); p = self_train(e["gold_x"], e["gold_y"], e["pool_x"], k, folds, seed=s)
        res[folds] = f"{(p.argmax(1) == e['pool_y']).mean()*100:.2f} ({time.time()-t0:.0f}s)"
    print(ds, s, "pool accuracy by folds (1 = as the teacher does):", res, flush=True)
