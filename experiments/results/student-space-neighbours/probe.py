"""The last teacher smoothed over neighbours found in the student's space, the pretrained space, or both.

The default smooths the last round's combined teacher towards the mean of each candidate's 10
nearest candidates in the pretrained sentence-embedding space. The last round's student space
(its mean-pooled features, shaped by two rounds of pseudo-labels) orders neighbours differently.
Loads a finished default run's round-2 student, scores the pool with features, rebuilds the
teacher (its unsmoothed combination is the view "combined"), then smooths it each way. From the
repository root, ../shared beside it:

    python experiments/results/student-space-neighbours/probe.py DATASET SEED RUN_FOLDER [desc]
"""
import json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "experiments/results")
from saved_round import load_round  # noqa: E402
from pseudolabel.teacher import Teacher  # noqa: E402
from pseudolabel.teacher.neighbours import NeighbourSmoothing  # noqa: E402

name, s, run = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
desc = len(sys.argv) > 4
saved = load_round(name, s, run, -1, desc=desc)
cfg, y = saved.config, saved.pool["label"].to_numpy()
emb_pool, feats = saved.spaces["pretrained"][1], saved.spaces["student"][1]
o = Teacher(cfg).run(saved.teacher_input(cfg.loop.max_rounds - 1, 1.0, s))
raw = o.views["combined"]
acc = lambda p: round(float(np.mean(np.asarray(p).argmax(1) == y)) * 100, 2)
pre = NeighbourSmoothing(k=10).fit(emb_pool).neighbours_
stu = NeighbourSmoothing(k=10).fit(feats).neighbours_
mean = lambda nb: raw[nb].mean(axis=1)
both = np.concatenate([pre, stu], axis=1)
print(json.dumps({"dataset": name, "seed": s, "desc": desc, "recorded": acc(o.probs), "unsmoothed": acc(raw),
                  "pretrained k10": acc(0.5 * raw + 0.5 * mean(pre)), "student k10": acc(0.5 * raw + 0.5 * mean(stu)),
                  "both k10+10": acc(0.5 * raw + 0.5 * mean(both)),
                  "both, 1/3 each": acc((raw + mean(pre) + mean(stu)) / 3)}), flush=True)
