"""Would correcting the last teacher for the pool's class prior make its whole-pool labels more right?

The gold rows are 10 per class by design, so every head fitted on them starts from a uniform
prior, whatever the pool's shares. Saerens et al. (Neural Computation 2002) re-estimate the
pool's prior by EM: ``q = p * pi / pi_gold`` renormalised per row, ``pi = mean(q)``, to a fixed
point. Offline, on the saved last teacher (``rounds/round_{max_rounds - 1}/teacher_probs.npy``,
every pool row) of finished runs: the share of pool rows whose label (argmax) is right before
and after the correction, and the estimated prior against the pool's true shares. From the
repository root, ../shared beside it:

    python experiments/results/prior-shift/em_probe.py DATASET SEED RUN [imbalanced]

``imbalanced``: RUN is one of ``experiments/results/imbalanced-pool/probe.py``'s, on its pool.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "experiments"); sys.path.insert(0, "."); sys.path.insert(0, "experiments/results/imbalanced-pool")
from bench_accuracy import load_dataset, split  # noqa: E402
from pools import unbalanced_pool  # noqa: E402


def em_prior(p: np.ndarray, prior0: np.ndarray, iterations: int = 100, tol: float = 1e-6):
    pi = prior0.copy()
    for _ in range(iterations):
        q = p * (pi / prior0)
        q /= q.sum(axis=1, keepdims=True)
        new = q.mean(axis=0)
        if np.abs(new - pi).max() < tol:
            pi = new
            break
        pi = new
    return pi, q


name, seed, run = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
imbalanced = len(sys.argv) > 4
train, _, names = load_dataset(name, "../shared/datasets")
labeled, pool = split(train, name, seed, None)
if imbalanced:  # the pool of experiments/results/imbalanced-pool/probe.py
    pool = unbalanced_pool(pool, name, seed)
rounds = sorted((run / "rounds").glob("round_*"))
last = [r for r in rounds if (r / "teacher_probs.npy").exists()][-1]
p = np.asarray(np.load(last / "teacher_probs.npy"), dtype=np.float64)
y = pool["label"].to_numpy()[np.load(last / "teacher_rows.npy")]
k = p.shape[1]
gold_prior = np.bincount(labeled["label"].to_numpy(), minlength=k) / len(labeled)
pi, q = em_prior(p, gold_prior)
true = np.bincount(y, minlength=k) / len(y)
print(json.dumps({"dataset": name, "seed": seed, "imbalanced": imbalanced, "round": last.name,
                  "accuracy": round(100 * float(np.mean(p.argmax(1) == y)), 2),
                  "accuracy_em": round(100 * float(np.mean(q.argmax(1) == y)), 2),
                  "prior_l1_argmax": round(float(np.abs(np.bincount(p.argmax(1), minlength=k) / len(y) - true).sum()), 3),
                  "prior_l1_em": round(float(np.abs(pi - true).sum()), 3),
                  "prior_l1_mean": round(float(np.abs(p.mean(0) - true).sum()), 3)}))
