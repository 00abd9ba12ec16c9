"""Would a lexical view (TF-IDF + logistic regression, self-trained with the embedding heads on
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

def acc(p, y):
    return 100 * float(np.mean(p.argmax(1) == y))


def prepare(ds, train, test, seed):
    """One data set and seed: embeddings, TF-IDF, the descriptions view and the cross-validated weights."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    c = np.load(f"runs/probe-emb/{ds}-common.npz")
    d = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); gx, gy, px, py = d["gold_x"], d["gold_y"], d["pool_x"], d["pool_y"]
    K = int(gy.max()) + 1
    lab, pool = split(train, ds, seed, None)
    assert len(pool) == len(px)
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=200_000)
    vec.fit(list(lab["text"]) + list(pool["text"]))
    gt, pt, tt = vec.transform(lab["text"]), vec.transform(pool["text"]), vec.transform(test["text"])
    cv_emb = cross_validated_accuracy(gx, gy, C=10.0, seed=seed)
    k = min(5, int(np.bincount(gy).min()))
    cv_lex = float(np.mean(cross_val_predict(LogisticRegression(C=10.0, max_iter=1000), gt, gy, cv=StratifiedKFold(k, shuffle=True, random_state=seed)) == gy))
    dv = DescriptionView(class_vectors(c["desc_x"], c["desc_owner"], K)).fit(gx, gy)
    return dict(gx=gx, gy=gy, px=px, py=py, ty=c["test_y"], K=K, dv=dv, cv_emb=cv_emb, cv_lex=cv_lex,
                emb={"emb": (gx, px, c["test_x"], 10.0)}, lex={"tfidf": (gt, pt, tt, 10.0)},
                w_lex=float(np.clip((cv_lex - 1 / K) / max(cv_emb - 1 / K, 1e-6), 0, 1)),
                w_desc=float(np.clip((dv.gold_accuracy_ - 1 / K) / max(cv_emb - 1 / K, 1e-6), 0, 1)),
                desc={"desc": dv.predict_proba(px)}, desc_t=dv.predict_proba(c["test_x"]))


def each_seed(argv):
    """(data set, seed, prepared arrays, start time) for each data set named after the data folder."""
    for ds in argv[1:]:
        train, test, names = load_dataset(ds, argv[0])
        for seed in (0, 1, 2):
            yield ds, seed, prepare(ds, train, test, seed), time.time()


def report(ds, seed, label, P, teacher, views, tests, fixed, w):
    """One line: the teacher's pool and test accuracy, then each view's."""
    allt = {**({"desc": P["desc_t"]} if fixed else {}), **tests}
    tteach = sum(w.get(n, 1.0) * v for n, v in allt.items()) / sum(w.get(n, 1.0) for n in allt)
    print(f"{ds} s{seed} {label:24s} pool {acc(teacher, P['py']):5.1f} test {acc(tteach, P['ty']):5.1f}  " +
          " ".join(f"{n}:{acc(v, P['py']):.1f}/{acc(tests[n], P['ty']):.1f}" for n, v in views.items()), flush=True)


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

if __name__ == "__main__":
    for ds, seed, P, t0 in each_seed(sys.argv[1:]):
        gy, K, emb, lex, desc, w_desc, w_lex = (P[k] for k in ("gy", "K", "emb", "lex", "desc", "w_desc", "w_lex"))
        for label, spaces, fixed, w in [
            ("emb", emb, {}, {}),
            ("emb+tfidf w1", {**emb, **lex}, {}, {}),
            (f"emb+tfidf wcv={w_lex:.2f}", {**emb, **lex}, {}, {"tfidf": w_lex}),
            ("emb+desc", emb, desc, {"desc": w_desc}),
            ("emb+desc+tfidf w1", {**emb, **lex}, desc, {"desc": w_desc}),
            ("emb+desc+tfidf wcv", {**emb, **lex}, desc, {"desc": w_desc, "tfidf": w_lex}),
        ]:
            report(ds, seed, label, P, *run(spaces, gy, K, fixed, w), fixed, w)
        print(f"{ds} s{seed} cv emb {P['cv_emb']:.3f} lex {P['cv_lex']:.3f} w_lex {w_lex:.2f} w_desc {w_desc:.2f} {time.time()-t0:.0f}s", flush=True)
