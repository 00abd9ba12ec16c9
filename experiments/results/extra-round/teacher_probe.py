"""Would one more whole-pool round help? The teacher of the *final* student, scored offline.

For a finished default run, loads its final student, scores the pool with features (as a round
does), and runs the default teacher on it as the last round's (smoothed, share 1). Prints the
pool accuracy of the recorded last teacher (round 2's) and of this one (a round-3 teacher), with
the views. From the repository root, ../shared beside it:

    python experiments/results/extra-round/teacher_probe.py DATASET SEED RUN_FOLDER
"""
import json, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, split  # noqa: E402
from pseudolabel.config import Config  # noqa: E402
from pseudolabel.teacher import Teacher, TeacherInput  # noqa: E402
from pseudolabel.trainer import Trainer, make_accelerator  # noqa: E402

name, s, run = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
train, test, names = load_dataset(name, "../shared/datasets")
labeled, pool = split(train, name, s, None)
cfg = Config.from_dict(json.loads((run / "run.json").read_text())["config"], where="run.json")
labels = json.loads((run / "labels.json").read_text())
print("labels.json:", str(labels)[:120])
t0 = time.time()
learner = Trainer(str(run / "final"), names, config=cfg.train, max_length=cfg.model.max_length,
                  accelerator=make_accelerator(), trust_remote_code=True)
learner.load(run / "final")
pool_texts, gold_texts = pool["text"].tolist(), labeled["text"].tolist()
probs, feats = learner.score(pool_texts, features=True)
gold_feats = learner.score(gold_texts, features=True)[1]
t1 = time.time()
rows = np.arange(len(pool_texts))
emb_pool = np.load(run / "embeddings/pretrained-pool.npy"); emb_gold = np.load(run / "embeddings/pretrained-labeled.npy")
gold = labeled["label"].to_numpy(); y = pool["label"].to_numpy()
inp = TeacherInput(round=cfg.loop.max_rounds - 1, n_classes=len(names), gold=gold, probs={"student": probs},
                   spaces={"student": (gold_feats, feats), "pretrained": (emb_gold, emb_pool)},
                   share=1.0, seed=s)
out = Teacher(cfg).run(inp)
acc = lambda p: round(float(np.mean(np.asarray(p).argmax(1) == y)) * 100, 2)
last = sorted(run.glob("rounds/round_*/teacher_probs.npy"))[-1].parent
rec = json.loads((last / "metrics.json").read_text())
print(json.dumps({"dataset": name, "seed": s, "recorded_last_teacher": round(rec["teacher_accuracy"] * 100, 2),
                  "recorded_views": {k: round(v * 100, 2) for k, v in rec["view_accuracy"].items()},
                  "final_student_teacher": acc(out.probs), "views": {k: acc(v) for k, v in out.views.items()},
                  "score_s": round(t1 - t0), "teacher_s": round(time.time() - t1)}), flush=True)
