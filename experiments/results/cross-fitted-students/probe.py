"""Cross-fitted students: held-out fine-tuned predictions for every pool row of the last teacher.

The held-out-student probe (``../held-out-student/``) mixed round 2's student into the last
teacher on the third of the pool it never trained on (SST-2 + descriptions +0.9 on the mean, the
other data sets -0.3 to +0.2). Here round 2 trains two students instead of one, each on the gold
rows and one half of round 1's picks (split at random within each class); each labels the half
it did not see, and both the rows neither saw, so every pool row has a held-out fine-tuned
prediction. That view is mixed into the recorded last teacher's combination before its
neighbour smoothing (at weight 1 and at the weight of all its other views together), and the
result scored on the pool's hidden labels. The recorded teacher is rerun on the saved round-2
student (``../saved_round.py``) as the control. From the repository root, ../shared beside it:

    python experiments/results/cross-fitted-students/probe.py DATASET SEED RUN_FOLDER [--desc] [--data F] [--descriptions F]
"""
import json, sys, time
import numpy as np
import pandas as pd
sys.path.insert(0, "experiments/results")
from saved_round import load_round, probe_args  # noqa: E402
from pseudolabel.loop import round_seed  # noqa: E402
from pseudolabel.teacher import Teacher  # noqa: E402
from pseudolabel.teacher.neighbours import NeighbourSmoothing  # noqa: E402
from pseudolabel.trainer import Trainer, bundled_minilm, make_accelerator  # noqa: E402

name, s, run, desc, data, folder = probe_args(sys.argv[1:])
t0 = time.time()
k = 2
saved = load_round(name, s, run, k, desc=desc, data=data, descriptions=folder)
cfg, y = saved.config, saved.pool["label"].to_numpy()
meta = json.loads((run / f"rounds/round_{k:03d}/teacher.json").read_text())
out = Teacher(cfg).run(saved.teacher_input(k, meta["select"]["share"], s))
acc = lambda p, m=slice(None): round(float(np.mean(np.asarray(p)[m].argmax(1) == y[m])) * 100, 2)
row = {"dataset": name, "desc": desc, "seed": s,
       "recorded_teacher": round(json.loads((run / f"rounds/round_{k:03d}/metrics.json").read_text())["teacher_accuracy"] * 100, 2),
       "teacher": acc(out.probs)}

taken = pd.read_parquet(run / f"rounds/round_{k - 1:03d}/pseudo_labels.parquet")
rng = np.random.default_rng(1000 + s)
half = np.zeros(len(taken), np.int64)
for c in np.unique(taken["label"]):  # one half of each class's picks to each student
    idx = rng.permutation(np.flatnonzero(taken["label"].to_numpy() == c))
    half[idx[len(idx) // 2:]] = 1
ids = {c: i for i, c in enumerate(json.loads((run / "labels.json").read_text())["classes"])}
gold_texts, gold_ids = saved.labeled["text"].tolist(), saved.labeled["label"].map(ids).to_numpy(np.int64)
pool_texts = saved.pool["text"].tolist()
accelerator = make_accelerator()
probs = []
for h in (0, 1):
    part = taken[half == h]
    learner = Trainer(bundled_minilm(), saved.names, config=cfg.train, max_length=cfg.model.max_length,
                      accelerator=accelerator, trust_remote_code=True)
    texts = gold_texts + part["text"].tolist()
    learner.fit(texts, np.concatenate([gold_ids, part["label"].map(ids).to_numpy(np.int64)]),
                seed=round_seed(s, k) + h, weights=np.concatenate([np.ones(len(gold_ids)), part["weight"].to_numpy()]),
                warm_rows=np.arange(len(gold_ids)), desc=f"half_{h}")
    probs.append(learner.score(pool_texts)[0])
rows = taken["pool_row"].to_numpy(np.int64)
held = (probs[0] + probs[1]) / 2  # rows neither half saw
held[rows[half == 0]] = probs[1][rows[half == 0]]
held[rows[half == 1]] = probs[0][rows[half == 1]]
seen = np.zeros(len(y), bool); seen[rows] = True
row.update(held_out=acc(held), held_out_seen=acc(held, seen), held_out_unseen=acc(held, ~seen),
           teacher_seen=acc(out.probs, seen), teacher_unseen=acc(out.probs, ~seen),
           student_recorded_unseen=acc(saved.probs, ~seen))
pre = out.views.get("combined", out.probs)
total = sum(w for n, w in meta["combine"]["weights"].items() if w > 0 and n != "combined")
smoothing = NeighbourSmoothing(k=cfg.teacher.neighbours, weight=cfg.teacher.neighbour_weight, seed=s)
smoothing.fit(saved.spaces["pretrained"][1])
for w in (1.0, total):
    mix = smoothing.transform((total * pre + w * held) / (total + w))
    row[f"mix_w{w:g}"] = acc(mix)
np.save(run.parent.parent.parent / f"crossfit-{name}{'-desc' if desc else ''}-seed{s}.npy", held.astype(np.float32))
row["s"] = round(time.time() - t0)
print(json.dumps(row), flush=True)
