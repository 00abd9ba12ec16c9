"""The last student trained with other settings, screened by resuming a finished default run.

Copies a finished run's folder without its last round (the earlier rounds, their teachers and the
whole-pool picks are kept), writes the ``--set`` overrides into the copy's run.json so that the
resume is allowed, and resumes: only the last student is trained again, from the same round seed,
on the same rows, labels and weights. With no override it must reproduce the recorded last round
(a control). A run of the ``pseudolabel+desc`` arm resumes with the benchmark's descriptions. From the repository root, ../shared beside it:

    python experiments/results/last-round-steps/last_round_probe.py NAME DATASET SEED RUN_FOLDER [key=value ...]

output.jsonl: ``steps1250 ag_news 0 runs/last-ag_news/runs/ag_news-pseudolabel-seed0 train.max_steps=1250``
and ``init-previous ... train.init=previous`` (run at 407747d, which also needed ``teacher.linear_folds=1``: the
source run's config predates that key), against the recorded 86.58 of that run.
"""
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import descriptions_for, load_dataset, settings, split  # noqa: E402
sys.path.insert(0, "experiments/results")
from saved_round import set_keys  # noqa: E402

from pseudolabel import SelfTrainer  # noqa: E402

arm, name, s, src, overrides = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5:]
train, test, names = load_dataset(name, "../shared/datasets")
meta = json.loads((src / "run.json").read_text())
last = f"round_{meta['config']['loop']['max_rounds']:03d}"
dst = Path(f"runs/last-round-probe/{arm}-{name}-seed{s}")
if dst.exists():
    shutil.rmtree(dst)
shutil.copytree(src, dst, ignore=shutil.ignore_patterns(last, "final", "history.csv", "report.png"))
set_keys(meta["config"], overrides)  # so the resume sees one config
(dst / "run.json").write_text(json.dumps(meta, indent=2))
labeled, pool = split(train, name, s, None)
t0 = time.time()
st = SelfTrainer(config=settings(overrides) if overrides else settings([]), seed=s, output_dir=str(dst), overwrite=False)
described = descriptions_for(name, "experiments/descriptions", names) if "+desc" in src.name else None
st.fit(labeled, pool, label_descriptions=described)
acc = float(np.mean(np.asarray(st.predict(test["text"].tolist())) == test["label"].to_numpy()))
m = json.loads((dst / "rounds" / last / "metrics.json").read_text())
print(json.dumps({"arm": arm, "overrides": overrides, "dataset": name, "seed": s, "accuracy": acc,
                  "train_steps": m.get("train_steps"), "train_seconds": m.get("train_seconds"),
                  "minutes": round((time.time() - t0) / 60, 1)}), flush=True)
