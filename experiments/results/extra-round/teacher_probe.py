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
sys.path.insert(0, "experiments/results")
from saved_round import load_round  # noqa: E402
from pseudolabel.teacher import Teacher  # noqa: E402

name, s, run = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
t0 = time.time()
saved = load_round(name, s, run)  # the final model
t1 = time.time()
cfg, y = saved.config, saved.pool["label"].to_numpy()
out = Teacher(cfg).run(saved.teacher_input(cfg.loop.max_rounds - 1, 1.0, s))
acc = lambda p: round(float(np.mean(np.asarray(p).argmax(1) == y)) * 100, 2)
last = sorted(run.glob("rounds/round_*/teacher_probs.npy"))[-1].parent
rec = json.loads((last / "metrics.json").read_text())
print(json.dumps({"dataset": name, "seed": s, "recorded_last_teacher": round(rec["teacher_accuracy"] * 100, 2),
                  "recorded_views": {k: round(v * 100, 2) for k, v in rec["view_accuracy"].items()},
                  "final_student_teacher": acc(out.probs), "views": {k: acc(v) for k, v in out.views.items()},
                  "score_s": round(t1 - t0), "teacher_s": round(time.time() - t1)}), flush=True)
