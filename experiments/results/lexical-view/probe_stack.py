"""(probe_stack.py) The lexical view weighed by stacking on held-out gold rows. Would a lexical view (TF-IDF + logistic regression, self-trained with the embedding heads on
shared pseudo-labels) make the teacher more accurate than the embedding heads alone?  Probe in the
pretrained space only (the run's student space is left out), over runs/probe-emb/ from
../description-weights-stacking/embed.py. From the repository root:

    python experiments/results/lexical-view/probe.py ../shared/datasets ag_news banking77 sst2
"""
import sys, time
import numpy as np
sys.path.insert(0, "."); sys.path.insert(0, "experiments")
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from bench_accuracy import load_dataset, split
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors
from pseudolabel.teacher.quota import balanced_take
from pseudolabel.teacher import cross_validated_accuracy

def fit(x, y, C):
    return LogisticRegression(C=C, max_iter=1000).fit(x, y)

def proba(head, x, K):
    out = np.zeros((x.shape[0], K)); out[:, head.classes_] = head.predict_proba(x); return out

def run(spaces, gy, K, fixed, weights, inner=10):
    """spaces: name -> (gold, pool, test, C). Returns pool views and test views of the last inner round."""
    heads = {n: fit(g, gy, C) for n, (g, p, t, C) in spaces.items()}
    for it in range(inner + 1):
        views = {n: proba(heads[n], p, K) for n, (g, p, t, C) in spaces.items()}
        allv = {**fixed, **views}
        teacher = sum(weights.get(n, 1.0) * v for n, v in allv.items()) / sum(weights.get(n, 1.0) for n in allv)
        if it == inner:
            break
        taken = balanced_take(teacher, (it + 1) / inner)
        labels = teacher[taken].argmax(1)
        for n, (g, p, t, C) in spaces.items():
            x = np.concatenate([g, p[taken]]) if isinstance(g, np.ndarray) else __import__("scipy.sparse", fromlist=["vstack"]).vstack([g, p[taken]])
            heads[n] = fit(x, np.concatenate([gy, labels]), C)
    tests = {n: proba(heads[n], t, K) for n, (g, p, t, C) in spaces.items()}
    return teacher, views, tests


GRID = (0.0, 0.125, 0.25, 0.5, 1.0)

def stack_weight(teacher, spaces, lex, gy, K, fixed_gold, weights):
    """Heads trained on the pool's pseudo-labels alone (argmax of the teacher) predict the gold rows;
    the TF-IDF head's weight is the grid point whose weighted mean with the others best predicts them."""
    labels = teacher.argmax(1)
    gold_views = dict(fixed_gold)
    for n, (g, p, t, C) in {**spaces, **lex}.items():
        gold_views[n] = proba(fit(p, labels, C), g, K)
    best = None
    for w in GRID:
        ws = {**weights, "tfidf": w}
        mix = sum(ws.get(n, 1.0) * v for n, v in gold_views.items() if ws.get(n, 1.0) > 0) / sum(ws.get(n, 1.0) for n in gold_views if ws.get(n, 1.0) > 0)
        ll = float(np.mean(np.log(np.clip(mix[np.arange(len(gy)), gy], 1e-9, 1))))
        if best is None or ll > best[1]:
            best = (w, ll)
    accs = {n: round(100 * float(np.mean(v.argmax(1) == gy)), 1) for n, v in gold_views.items()}
    return best[0], accs

data = sys.argv[1]
for ds in sys.argv[2:]:
    train, test, names = load_dataset(ds, data)
    c = np.load(f"runs/probe-emb/{ds}-common.npz"); ty = c["test_y"]
    for seed in (0, 1, 2):
        t0 = time.time()
        d = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); gx, gy, px, py = d["gold_x"], d["gold_y"], d["pool_x"], d["pool_y"]
        K = int(gy.max()) + 1
        lab, pool = split(train, ds, seed, None)
        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=200_000)
        vec.fit(list(lab["text"]) + list(pool["text"]))
        gt, pt, tt = vec.transform(lab["text"]), vec.transform(pool["text"]), vec.transform(test["text"])
        emb = {"emb": (gx, px, c["test_x"], 10.0)}
        lex = {"tfidf": (gt, pt, tt, 10.0)}
        cv_emb = cross_validated_accuracy(gx, gy, C=10.0, seed=seed)
        dv = DescriptionView(class_vectors(c["desc_x"], c["desc_owner"], K)).fit(gx, gy)
        w_desc = float(np.clip((dv.gold_accuracy_ - 1 / K) / max(cv_emb - 1 / K, 1e-6), 0, 1))
        desc = {"desc": dv.predict_proba(px)}; desc_t = dv.predict_proba(c["test_x"])
        acc = lambda p, y: 100 * float(np.mean(p.argmax(1) == y))
        for label, fixed, fixed_gold, w in [("", {}, {}, {}), ("+desc", desc, {"desc": dv.predict_proba(gx)}, {"desc": w_desc})]:
            teacher, views, tests = run(emb, gy, K, fixed, w)
            W, gacc = stack_weight(teacher, emb, lex, gy, K, fixed_gold, w)
            line = f"{ds} s{seed} emb{label:6s} pool {acc(teacher, py):5.1f} | stacked tfidf weight {W} (held-out gold acc {gacc})"
            if W > 0:
                t2, v2, tests2 = run({**emb, **lex}, gy, K, fixed, {**w, "tfidf": W})
                line += f" -> pool {acc(t2, py):5.1f}"
            print(line, f"{time.time()-t0:.0f}s", flush=True)
