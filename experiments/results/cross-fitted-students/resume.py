"""A finished default run's last teacher and final student redone with other settings.

Copies a finished run's folder without round 2 and after (rounds 0 and 1, their students and
picks, are kept: the settings tried change nothing before round 2's training), writes the
``key=value`` overrides into the copy's run.json so that the resume is allowed, and resumes:
round 2 (its student, the cross-fitted students of ``teacher.views: [..., held_out]`` and its
teacher) and round 3 run again. Without overrides it must reproduce the recorded run. From the
repository root, ../shared beside it:

    python experiments/results/cross-fitted-students/resume.py ARM DATASET SEED RUN_FOLDER [--desc] [--data F] [--descriptions F] [key=value ...]
"""
import json, shutil, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import descriptions_for, load_dataset, settings, split  # noqa: E402
sys.path.insert(0, "experiments/results")
from saved_round import set_keys  # noqa: E402
from pseudolabel import SelfTrainer  # noqa: E402

args = sys.argv[1:]
opts = {}
for flag in ("--data", "--descriptions"):
    if flag in args:
        i = args.index(flag); opts[flag] = args[i + 1]; del args[i:i + 2]
desc = "--desc" in args
args = [a for a in args if a != "--desc"]
arm, name, s, src, overrides = args[0], args[1], int(args[2]), Path(args[3]), args[4:]
data, folder = opts.get("--data", "../shared/datasets"), opts.get("--descriptions", "experiments/descriptions")
train, test, names = load_dataset(name, data)
meta = json.loads((src / "run.json").read_text())
dst = Path(f"runs/crossfit-resume/{arm}-{name}{'-desc' if desc else ''}-seed{s}")
if dst.exists():
    shutil.rmtree(dst)
later = [f"round_{r:03d}" for r in range(2, meta["config"]["loop"]["max_rounds"] + 1)]
shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*later, "final", "history.csv", "report.png"))
set_keys(meta["config"], overrides)  # so the resume sees one config
(dst / "run.json").write_text(json.dumps(meta, indent=2))
labeled, pool = split(train, name, s, None)
t0 = time.time()
st = SelfTrainer(config=settings(overrides), seed=s, output_dir=str(dst), overwrite=False)
st.fit(labeled, pool, label_descriptions=descriptions_for(name, folder, names) if desc else None)
acc = float(np.mean(np.asarray(st.predict(test["text"].tolist())) == test["label"].to_numpy()))
m2 = json.loads((dst / "rounds/round_002/metrics.json").read_text())
print(json.dumps({"arm": arm, "overrides": overrides, "dataset": name, "desc": desc, "seed": s,
                  "accuracy": round(acc * 100, 2), "teacher_accuracy_round2": round(m2["teacher_accuracy"] * 100, 2),
                  "view_accuracy_round2": {k: round(v * 100, 2) for k, v in m2.get("view_accuracy", {}).items()},
                  "held_out_seconds": m2.get("held_out_seconds"), "minutes": round((time.time() - t0) / 60, 1)}), flush=True)
