"""The default on an unbalanced pool: AG News cut to shares of 50 / 25 / 15 / 10%, SST-2 to 20 / 80%.

The benchmark's pools are balanced (AG News) or nearly so; many users' are not. Gold rows are
still 10 per class (``sample_labels``, as the protocol); the pool keeps 4,000 World, 2,000
Sports, 1,200 Business and 800 Sci/Tech rows of the seed's 20,000-row benchmark pool (SST-2:
1,600 negative and 6,400 positive). The test split stays (nearly) balanced, so accuracy is about
the mean recall; macro-F1 and each class's share of the test predictions are printed for every
round. ``desc``: with the benchmark's label descriptions. From the repository root, ../shared
beside it:

    python experiments/results/imbalanced-pool/probe.py OUT DATASET SEED [desc] [key=value ...]
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import descriptions_for, load_dataset, score_rounds, settings, split  # noqa: E402

from pools import unbalanced_pool  # noqa: E402  (this folder: the script's own)

from pseudolabel import SelfTrainer  # noqa: E402

out, name, seed, rest = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
desc = bool(rest) and rest[0] == "desc"
overrides = rest[1:] if desc else rest
train, test, names = load_dataset(name, "../shared/datasets")
labeled, pool = split(train, name, seed, None)
pool = unbalanced_pool(pool, name, seed)
st = SelfTrainer(config=settings(overrides), seed=seed, output_dir=str(out / f"seed{seed}"), overwrite=True)
st.fit(labeled, pool, label_descriptions=descriptions_for(name, "experiments/descriptions", names) if desc else None)
rows, preds = score_rounds(st, test, len(names))
for row in rows:
    p = preds[row["round"]]
    row["test_prediction_shares"] = [round(float(np.mean(p == c)), 3) for c in range(len(names))]
    row["picked_per_class"] = None
    teacher = st.run_dir_ / "rounds" / f"round_{row['round']:03d}" / "teacher.json"
    if teacher.exists():
        row["picked_per_class"] = json.loads(teacher.read_text()).get("select", {}).get("per_class")
    row = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
    print(json.dumps({"dataset": name, "desc": desc, "seed": seed, "overrides": overrides, **row}), flush=True)
