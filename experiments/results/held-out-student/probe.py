"""Does the round's student label the pool rows it never trained on better than its teacher?

The teacher leaves the student's own probabilities out (weight 0), since on the rows it trained
on they repeat their pseudo-labels. On the rows it did not train on (the previous teacher's less
sure share) its probabilities are held-out predictions of a fine-tuned model. For each saved
round k >= 1 of a finished run: reruns the recorded teacher, then scores the student alone, the
teacher alone and their mix on the unseen rows (the student at weight w against the teacher's
views' total), and the whole teacher with that mix, pool accuracy against the hidden labels.
From the repository root, ../shared beside it:

    python experiments/results/held-out-student/probe.py DATASET SEED RUN_FOLDER [--desc] [--data FOLDER] [--descriptions FOLDER]
"""
import json, sys, time
import numpy as np
import pandas as pd
sys.path.insert(0, "experiments/results")
from saved_round import load_round, probe_args  # noqa: E402
from pseudolabel.teacher import Teacher  # noqa: E402
from pseudolabel.teacher.neighbours import NeighbourSmoothing  # noqa: E402
from pseudolabel.selection import select  # noqa: E402

name, s, run, desc, data, folder = probe_args(sys.argv[1:])
for k in (1, 2):
    t0 = time.time()
    saved = load_round(name, s, run, k, desc=desc, data=data, descriptions=folder)
    cfg, y = saved.config, saved.pool["label"].to_numpy()
    meta = json.loads((run / f"rounds/round_{k:03d}/teacher.json").read_text())
    share = meta["select"]["share"]
    out = Teacher(cfg).run(saved.teacher_input(k, share, s))
    acc = lambda p, m=slice(None): round(float(np.mean(np.asarray(p)[m].argmax(1) == y[m])) * 100, 2)
    seen = np.zeros(len(y), bool)
    seen[pd.read_parquet(run / f"rounds/round_{k - 1:03d}/pseudo_labels.parquet")["pool_row"].to_numpy()] = True
    unseen = ~seen
    pre = out.views.get("combined", out.probs)
    used = {n: w for n, w in meta["combine"]["weights"].items() if w > 0 and n != "combined"}
    total = sum(used.values())
    student = saved.probs
    row = {"dataset": name, "desc": desc, "seed": s, "round": k, "share": share, "n_unseen": int(unseen.sum()),
           "recorded_teacher": round(json.loads((run / f"rounds/round_{k:03d}/metrics.json").read_text())["teacher_accuracy"] * 100, 2),
           "teacher": acc(out.probs), "teacher_unseen": acc(out.probs, unseen), "teacher_seen": acc(out.probs, seen),
           "student_unseen": acc(student, unseen), "student_seen": acc(student, seen)}
    base = select(out.probs, cfg.selection, round=k, share=share)  # the teacher's own picks
    row["picks_prec_teacher"] = round(float(np.mean(base.labels == y[base.indices])) * 100, 2)
    smoothing = None  # the last round's teacher is smoothed: the mix is too, over the same neighbours
    if "combined" in out.views:
        smoothing = NeighbourSmoothing(k=cfg.teacher.neighbours, weight=cfg.teacher.neighbour_weight, seed=s)
        smoothing.fit(saved.spaces["pretrained"][1])
    for w in (1.0, total):
        mix = pre.copy()
        mix[unseen] = (total * pre[unseen] + w * student[unseen]) / (total + w)
        if smoothing is not None:
            mix = smoothing.transform(mix)
        picks = select(mix, cfg.selection, round=k, share=share)
        row[f"mix_w{w:g}"] = acc(mix)
        row[f"mix_w{w:g}_unseen"] = acc(mix, unseen)
        row[f"picks_prec_w{w:g}"] = round(float(np.mean(picks.labels == y[picks.indices])) * 100, 2)
    row["s"] = round(time.time() - t0)
    print(json.dumps(row), flush=True)
