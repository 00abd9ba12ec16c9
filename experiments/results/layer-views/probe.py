"""Self-trained linear heads in the pretrained MiniLM's earlier layers: a view that disagrees?

The teacher's pretrained view is the last layer's mean-pooled embedding. This probe self-trains
the teacher's linear head (ten class-balanced inner rounds to the whole pool, C = 10) in each
layer's mean-pooled embedding, in layers concatenated, and in the last layer jointly with another
layer (two heads sharing pseudo-labels, averaged, as the teacher combines its spaces). Pool
accuracy %. Embeddings from embed_layers.py. From the repository root:

    python experiments/results/layer-views/probe.py DATASET SEED [SEED ...]
"""
import sys, numpy as np
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from sklearn.linear_model import LogisticRegression
from bench_accuracy import DATASETS  # noqa: E402
from pseudolabel.sampling import sample_labels  # noqa: E402
from pseudolabel.teacher.quota import balanced_take  # noqa: E402

def proba(h, x, k):
    out = np.zeros((len(x), k)); out[:, h.classes_] = h.predict_proba(x); return out

def self_train(spaces, gy, k, rounds=10):
    """spaces: list of (gold_x, pool_x); the heads share pseudo-labels (the mean of their views)."""
    views = [proba(LogisticRegression(C=10, max_iter=1000).fit(g, gy), p, k) for g, p in spaces]
    for t in range(1, rounds + 1):
        teacher = np.mean(views, axis=0)
        taken = balanced_take(teacher, t / rounds, prior="predicted"); lab = teacher[taken].argmax(1)
        views = [proba(LogisticRegression(C=10, max_iter=1000).fit(np.concatenate([g, p[taken]]), np.concatenate([gy, lab])), p, k)
                 for g, p in spaces]
    return np.mean(views, axis=0)

ds = sys.argv[1]
z = np.load(f"runs/layer-emb/{ds}.npz"); L = z["layers"]; n_train = int(z["n_train"]); y = z["y"][:n_train]
k = int(y.max()) + 1
for s in map(int, sys.argv[2:]):
    gold, pool = sample_labels(y, 10, s, pool_size=DATASETS[ds]["pool"])
    sp = lambda x: (x[gold].astype(np.float32), x[pool].astype(np.float32))
    acc = lambda p: round(float((p.argmax(1) == y[pool]).mean()) * 100, 2)
    res = {f"layer{l}": acc(self_train([sp(L[l])], y[gold], k)) for l in range(1, L.shape[0])}
    cat = np.concatenate([L[l] for l in (3, 4, 5, 6)], axis=1) / 2.0
    res["concat3-6"] = acc(self_train([sp(cat)], y[gold], k))
    for l in (3, 4, 5):
        res[f"last+layer{l}"] = acc(self_train([sp(L[-1]), sp(L[l])], y[gold], k))
    print(ds, s, res, flush=True)
