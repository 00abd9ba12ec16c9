"""The screen behind last-round-probe.csv (run from the repository root, ../shared beside it).

Copies a finished default run's folder without its last round (rounds 0-2 kept, so round 2's
teacher picks of the whole pool are reused as they are), optionally rewrites their loss weights
with ``pseudolabel.teacher.targets.class_rank`` (``train.pseudo_weight: rank``), and resumes the
run: only the last student is trained again, from the same round seed. ``control`` leaves the
weights as written (all 1) and must reproduce the recorded last round.

    python experiments/results/rank-weights/last_round_probe.py {rank,control} DATASET RUN_PATTERN
e.g. ``rank sst2 runs/bench/runs/sst2-pseudolabel+desc-seed{s}`` (descriptions are used when the
pattern names ``+desc``). The source runs were the default's at ``1ef31a3``
(``teacher.student_view=false``).
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, "experiments")
from bench_accuracy import HERE, descriptions_for, load_dataset, settings, split  # noqa: E402

from pseudolabel import SelfTrainer  # noqa: E402
from pseudolabel.teacher.targets import class_rank  # noqa: E402

arm, name, pattern = sys.argv[1:4]
train, test, names = load_dataset(name, "../shared/datasets")
for s in (0, 1, 2):
    src, dst = Path(pattern.format(s=s)), Path(f"runs/last-round-probe/{arm}-{name}-seed{s}")
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("round_003", "final", "history.csv", "report.png"))
    if arm == "rank":
        f = dst / "rounds/round_002/pseudo_labels.parquet"
        p = pd.read_parquet(f)  # share 1: the picks are the whole pool, so ranking among them is the rule
        p["weight"] = class_rank(p["confidence"].to_numpy(), p["label"].to_numpy(), np.stack(p["probs"].to_numpy()))
        p.to_parquet(f, index=False)
    labeled, pool = split(train, name, s, None)
    desc = descriptions_for(name, HERE / "descriptions", names) if "+desc" in pattern else None
    st = SelfTrainer(config=settings(["teacher.student_view=false"]), seed=s, output_dir=str(dst), overwrite=False)
    st.fit(labeled, pool, label_descriptions=desc)
    acc = float(np.mean(np.asarray(st.predict(test["text"].tolist())) == test["label"].to_numpy()))
    print(json.dumps({"arm": arm, "dataset": name, "seed": s, "accuracy": acc}), flush=True)
