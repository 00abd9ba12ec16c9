"""(probe_stack.py) The TF-IDF head weighed by stacking on the gold rows, with heads trained on the
pool's pseudo-labels alone (biased: those labels came from heads fitted on the same gold rows; see
docs/benchmarks.md). From the repository root:

    python experiments/results/lexical-view/probe_stack.py ../shared/datasets ag_news sst2
"""
import sys, time
import numpy as np
sys.path.insert(0, "experiments/results/lexical-view")
from probe import acc, each_seed, fit, proba, run  # noqa: E402


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

if __name__ == "__main__":
    for ds, seed, P, t0 in each_seed(sys.argv[1:]):
        gx, gy, py, K, emb, lex, desc, w_desc = (P[k] for k in ("gx", "gy", "py", "K", "emb", "lex", "desc", "w_desc"))
        for label, fixed, fixed_gold, w in [("", {}, {}, {}), ("+desc", desc, {"desc": P["dv"].predict_proba(gx)}, {"desc": w_desc})]:
            teacher, views, tests = run(emb, gy, K, fixed, w)
            W, gacc = stack_weight(teacher, emb, lex, gy, K, fixed_gold, w)
            line = f"{ds} s{seed} emb{label:6s} pool {acc(teacher, py):5.1f} | stacked tfidf weight {W} (held-out gold acc {gacc})"
            if W > 0:
                line += f" -> pool {acc(run({**emb, **lex}, gy, K, fixed, {**w, 'tfidf': W})[0], py):5.1f}"
            print(line, f"{time.time()-t0:.0f}s", flush=True)
