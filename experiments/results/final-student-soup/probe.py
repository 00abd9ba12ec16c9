"""The final student trained from several seeds on the same rows: how much does it move, and does
the weight average of those students (a seed "soup", Wortsman et al. 2022) or their mean
probabilities beat one of them?

The last teacher's labels are fixed by a finished default run (its ``round_{max-1}`` picks, rank
weights as written, the gold rows at ``train.gold_weight``), so the only difference between the
students is the seed (head warm start, batch order, dropout). Seed 0 of the list is the run's
own round seed: a control that must reproduce the recorded final model. Scored on the test
split only (reported, never used to choose). From the repository root, ../shared beside it:

    python experiments/results/final-student-soup/probe.py DATASET SEED RUN_FOLDER [--students K] [--data F] [--reuse-final] [key=value ...]

``--reuse-final``: student 0 is the run's saved ``final/`` model instead of a refit with the
round seed (the refit reproduced the recorded model to the digit on every run probed before
``--reuse-final`` existed), which saves one fit.

``key=value``: config overrides for the students (e.g. ``train.gold_weight=8``).
"""
import json, sys, time

import numpy as np

sys.path.insert(0, "experiments/results"); sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from saved_round import final_rows, probe_args  # noqa: E402
from pseudolabel.loop import round_seed  # noqa: E402
from pseudolabel.soup import soup_seeds  # noqa: E402
from pseudolabel.trainer import Trainer, bundled_minilm, make_accelerator  # noqa: E402

args = sys.argv[1:]
name, s, run, _, data, _ = probe_args(args)
k = int(args[args.index("--students") + 1]) if "--students" in args else 3
overrides = [a for a in args[3:] if "=" in a and not a.startswith("--")]
rows = final_rows(name, s, run, data, overrides)
cfg, last, acc = rows.config, rows.config.loop.max_rounds, rows.accuracy
texts, labels, weights, test_texts = rows.texts, rows.labels, rows.weights, rows.test_texts
learner = Trainer(bundled_minilm(), rows.names, config=cfg.train, max_length=cfg.model.max_length,
                  accelerator=make_accelerator(), trust_remote_code=True)
t0 = time.time()
seeds = soup_seeds(lambda x: round_seed(s, x), last, k)  # the seeds train.final_students uses
probs, states = [], []
for i, seed in enumerate(seeds):
    if i == 0 and "--reuse-final" in args:
        learner.load(run / "final")
    else:
        learner.fit(texts, labels, seed=seed, weights=weights, warm_rows=np.arange(rows.n_gold),
                    desc=f"student_{i}")
    probs.append(learner.predict_proba(test_texts))
    states.append({key: v.detach().float().clone() for key, v in learner.model.state_dict().items()})
row = {"dataset": name, "seed": s, "run": str(run), "overrides": overrides, "reuse_final": "--reuse-final" in args,
       "students": [acc(p) for p in probs]}
for n in range(2, k + 1):
    row[f"ensemble_{n}"] = acc(np.mean(probs[:n], axis=0))
    learner.model.load_state_dict({key: sum(st[key] for st in states[:n]) / n for key in states[0]})
    row[f"soup_{n}"] = acc(learner.predict_proba(test_texts))
row["minutes"] = round((time.time() - t0) / 60, 1)
print(json.dumps(row), flush=True)
