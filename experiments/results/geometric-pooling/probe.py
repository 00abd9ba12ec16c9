"""The teacher's views pooled by a weighted geometric mean instead of the weighted arithmetic mean.

The teacher combines its probability views (descriptions, the linear heads' in the student's and
the pretrained space) by a weighted mean (``pseudolabel.teacher.combine.weighted_mean``), which
lets one sure view carry a row the others doubt only half-way. A weighted geometric mean
(log-linear pooling, renormalized: a product of experts) counts a view's doubt as a veto and is
what Bayes gives for views that err independently. Both run on the same input: a finished run's
round ``max_rounds - 1`` student scores the pool again (``saved_round.load_round``), and the last
teacher (share 1, the smoothing as configured) labels it once with each pooling; accuracy %
against the pool's hidden labels. The arithmetic run is the control (the recorded last teacher,
where the run's config is the current default's). From the repository root:

    python experiments/results/geometric-pooling/probe.py DATASET SEED RUN_FOLDER [--desc] [--data F] [--descriptions F] [key=value ...]
"""
import json, sys, time

import numpy as np

sys.path.insert(0, "experiments/results"); sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from saved_round import load_round, probe_args  # noqa: E402
import pseudolabel.teacher as teacher_module  # noqa: E402
import pseudolabel.teacher.combine as combine  # noqa: E402


def geometric_mean(views: dict, weights: dict | None = None) -> np.ndarray:
    """``weighted_mean``'s contract, pooled in log space: exp(sum w log p / sum w), rows renormalized."""
    weights = weights or {}
    used = [(name, float(weights.get(name, 1.0))) for name in views if float(weights.get(name, 1.0)) > 0]
    if not used:
        raise ValueError(f"no probability view has a positive weight among {sorted(views)}")
    total = sum(w for _, w in used)
    log = sum((w / total) * np.log(np.clip(np.asarray(views[name], dtype=np.float64), 1e-12, 1)) for name, w in used)
    out = np.exp(log - log.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


args = sys.argv[1:]
name, s, run, desc, data, folder = probe_args(args)
overrides = [a for a in args[3:] if "=" in a and not a.startswith("--")]
t0 = time.time()
saved = load_round(name, s, run, -1, desc=desc, data=data, descriptions=folder, overrides=overrides)
classes = json.loads((run / "labels.json").read_text())["classes"]  # the teacher's class order
y = saved.pool["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
acc = lambda p: round(float(np.mean(np.asarray(p).argmax(1) == y)) * 100, 2)
row = {"dataset": name, "seed": s, "run": str(run), "desc": desc, "overrides": overrides}
last = saved.config.loop.max_rounds - 1
recorded = json.loads((run / f"rounds/round_{last:03d}/metrics.json").read_text()).get("teacher_accuracy")
row["recorded_teacher"] = None if recorded is None else round(recorded * 100, 2)
row["score_s"] = round(time.time() - t0)
for label, pool in [("arithmetic", combine.weighted_mean), ("geometric", geometric_mean)]:
    teacher_module.weighted_mean = combine.weighted_mean = pool  # the teacher's and the lexical stage's
    out = teacher_module.Teacher(saved.config).run(saved.teacher_input(last, 1.0, s))
    row[label] = acc(out.probs)
    row[f"{label}_views"] = {k: acc(v) for k, v in out.views.items()}
print(json.dumps(row), flush=True)
