"""Probe: the descriptions / class-names view's weight, by the current rule and by cross-validated stacking.

Teacher in the pretrained space only: self-trained linear head (10 inner rounds to the whole pool)
combined with the view at weight w. Prints pool accuracy of the teacher for each rule: cur (the old rule), ratio (own accuracy over the
held-out self-trained head's), st1 / st4 (stacking on a grid up to 1 / 4). Embeddings from embed.py.
Output of the probe that led to the change: probe-output.txt.
"""
import sys, time
import numpy as np
sys.path.insert(0, ".")
from sklearn.model_selection import StratifiedKFold
from pseudolabel.teacher.combine import weighted_mean
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors
from pseudolabel.teacher.linear import LinearSelfTraining
from pseudolabel.teacher.quota import balanced_take

def cross_validated_accuracy(x, y, *, C, seed, folds=5):
    """The old rule's reference: a logistic regression's stratified k-fold accuracy on the gold rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    k = min(folds, int(np.bincount(np.asarray(y)).min()))
    pred = cross_val_predict(LogisticRegression(C=C, max_iter=1000), np.asarray(x, dtype=np.float32), y,
                             cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    return float(np.mean(pred == y))

GRID = [0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0]

def self_train(gx, gy, px, K, fixed, w, inner=10, seed=0):
    st = LinearSelfTraining(inner_rounds=inner, C=10.0, seed=seed)
    weights = {"v": w, "linear:pretrained": 1.0}
    v = st.run({"pretrained": (gx, px)}, gy, K, fixed, lambda views: weighted_mean(views, weights))
    return v["linear:pretrained"]

def heads_cv(gx, gy, px, K, seed, folds=5, inner=5, max_pool=5000):
    """Held-out probabilities of each gold row from a head self-trained without it (view-free)."""
    rng = np.random.default_rng(seed)
    sub = px[np.sort(rng.choice(len(px), min(max_pool, len(px)), replace=False))]
    k = min(folds, int(np.bincount(gy).min()))
    out = np.zeros((len(gy), K))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(gx, gy):
        st = LinearSelfTraining(inner_rounds=inner, C=10.0, seed=seed)
        heads = {}
        # replicate run() but keep the head to predict the held-out gold rows
        head = st._fit(gx[tr], gy[tr], None, None, K, rng)
        view = st._predict(head, sub, K)
        for t in range(1, inner + 1):
            taken = balanced_take(view, t / inner, prior="predicted")
            head = st._fit(gx[tr], gy[tr], sub, (taken, view[taken].argmax(1)), K, rng)
            view = st._predict(head, sub, K)
        out[te] = st._predict(head, gx[te], K)
    return out

def stack_weight(V, L, y, grid):
    ll = [np.mean(np.log(((w * V + L) / (1 + w))[np.arange(len(y)), y].clip(1e-12))) for w in grid]
    return grid[int(np.argmax(ll))], ll

for ds in sys.argv[1:]:
    c = np.load(f"runs/probe-emb/{ds}-common.npz")
    for seed in (0, 1, 2):
        d = np.load(f"runs/probe-emb/{ds}-{seed}.npz")
        gx, gy, px, py = d["gold_x"], d["gold_y"], d["pool_x"], d["pool_y"]
        K = int(gy.max()) + 1
        t0 = time.time()
        base = self_train(gx, gy, px, K, {}, 0.0, seed=seed)
        lin_cv = cross_validated_accuracy(gx, gy, C=10.0, seed=seed)
        L = heads_cv(gx, gy, px, K, seed)
        tcv = time.time() - t0
        st_cv = np.mean(L.argmax(1) == gy)
        line = [f"{ds} s{seed} base {np.mean(base.argmax(1)==py)*100:.1f} linCV {lin_cv*100:.1f} selfCV {st_cv*100:.1f} ({tcv:.0f}s)"]
        for vname in ("names", "desc"):
            if vname == "names":
                vec = class_vectors(c["names_x"], np.arange(K), K)
            else:
                vec = class_vectors(c["desc_x"], c["desc_owner"], K)
            view = DescriptionView(vec).fit(gx, gy)
            Vp, Vg = view.predict_proba(px), view.predict_proba(gx)
            ch = 1.0 / K
            w_cur = float(np.clip((view.gold_accuracy_ - ch) / max(lin_cv - ch, 1e-6), 0, 1))
            w_rat = float(np.clip((view.gold_accuracy_ - ch) / max(st_cv - ch, 1e-6), 0, 1))
            w_st1, _ = stack_weight(Vg, L, gy, [g for g in GRID if g <= 1])
            w_st4, _ = stack_weight(Vg, L, gy, GRID)
            res = []
            for tag, w in (("cur", w_cur), ("ratio", w_rat), ("st1", w_st1), ("st4", w_st4)):
                if w == 0:
                    acc = np.mean(base.argmax(1) == py)
                else:
                    acc = np.mean(weighted_mean({"v": Vp, "l": self_train(gx, gy, px, K, {"v": Vp}, w, seed=seed)}, {"v": w, "l": 1}).argmax(1) == py)
                res.append(f"{tag} w={w:.2f} {acc*100:.1f}")
            line.append(f"| {vname} gold {view.gold_accuracy_*100:.0f} zs-pool {np.mean(Vp.argmax(1)==py)*100:.1f}: " + ", ".join(res))
        print(" ".join(line), flush=True)
