"""(probe_late.py) The TF-IDF head joins late: the embedding head self-trains alone first, then the
TF-IDF head, fitted on that teacher's labels, joins for ten more inner rounds (shares regrown, or the
whole pool each time). From the repository root:

    python experiments/results/lexical-view/probe_late.py ../shared/datasets banking77 ag_news
"""
import sys, time
import numpy as np
sys.path.insert(0, "experiments/results/lexical-view")
from probe import balanced_take, each_seed, fit, proba, report, run  # noqa: E402


def run_late(spaces, late, gy, K, fixed, weights, inner=10, regrow=True):
    """The embedding heads self-train alone first; then the ``late`` heads join, fitted on the
    teacher's labels, and ``inner`` more rounds run with every head (shares regrown or all)."""
    teacher, views, tests = run(spaces, gy, K, fixed, weights, inner)
    allsp = {**spaces, **late}
    heads = {}
    for it in range(inner + 1):
        share = (it + 1) / inner if regrow else 1.0
        if it == inner:
            break
        taken = balanced_take(teacher, share)
        labels = teacher[taken].argmax(1)
        for n, (g, p, t, C) in allsp.items():
            x = np.concatenate([g, p[taken]]) if isinstance(g, np.ndarray) else __import__("scipy.sparse", fromlist=["vstack"]).vstack([g, p[taken]])
            heads[n] = fit(x, np.concatenate([gy, labels]), C)
        views = {n: proba(heads[n], p, K) for n, (g, p, t, C) in allsp.items()}
        allv = {**fixed, **views}
        teacher = sum(weights.get(n, 1.0) * v for n, v in allv.items()) / sum(weights.get(n, 1.0) for n in allv)
    tests = {n: proba(heads[n], t, K) for n, (g, p, t, C) in allsp.items()}
    return teacher, views, tests

if __name__ == "__main__":
    for ds, seed, P, t0 in each_seed(sys.argv[1:]):
        gy, K, emb, lex, desc, w_desc = (P[k] for k in ("gy", "K", "emb", "lex", "desc", "w_desc"))
        for label, fixed, w, late in [
            ("emb", {}, {}, None),
            ("emb+tfidf late regrow", {}, {}, True),
            ("emb+tfidf late all", {}, {}, False),
            ("emb+desc", desc, {"desc": w_desc}, None),
            ("emb+desc+tfidf late regrow", desc, {"desc": w_desc}, True),
            ("emb+desc+tfidf late all", desc, {"desc": w_desc}, False),
        ]:
            out = run(emb, gy, K, fixed, w) if late is None else run_late(emb, lex, gy, K, fixed, w, regrow=late)
            report(ds, seed, label, P, *out, fixed, w)
