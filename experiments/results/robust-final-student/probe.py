"""The final student trained with a loss made for noisy labels: does it learn past its teacher?

The last student ends within about half a point of its teacher's accuracy on the pool
(docs/benchmarks.md), as if it learned the teacher's errors with its labels. The generalized
cross-entropy (Zhang & Sabuncu, NeurIPS 2018), ``(1 - p_y^q) / q``, weighs each row's gradient by
``p_y^q``: rows the student keeps disagreeing with count less (q -> 0 is the cross-entropy, q = 1
the mean absolute error). Labels fixed by a finished run (``saved_round.final_rows``); every
student trains from the run's own round seed, so the loss is the only difference: the control
(``ce``, the package's smoothed cross-entropy) must reproduce the recorded final model. Scored on
the test split only (reported, never used to choose). From the repository root:

    python experiments/results/robust-final-student/probe.py DATASET SEED RUN_FOLDER [--q 0.7 ...] [--data F] [--reuse-final] [key=value ...]
"""
import json, sys, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "experiments/results"); sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from saved_round import final_rows  # noqa: E402
from pseudolabel.loop import round_seed  # noqa: E402
from pseudolabel.trainer import Trainer, autocast, bundled_minilm, make_accelerator  # noqa: E402


class GCETrainer(Trainer):
    """The package's student with the generalized cross-entropy in place of the smoothed one."""
    q = 0.7

    def _loss(self, model, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights", "targets")}
        with autocast(self.config.mixed_precision, self.accelerator.device):
            logits = model(**inputs).logits
        p_y = torch.softmax(logits.float(), dim=-1).gather(1, batch["labels"][:, None]).squeeze(1)
        per_row = (1 - p_y.clamp_min(1e-6) ** self.q) / self.q
        return (per_row * batch["weights"].to(per_row.dtype)).sum()


args = sys.argv[1:]
name, s, run = args[0], int(args[1]), Path(args[2])
qs = [float(a) for i, a in enumerate(args) if i and args[i - 1] == "--q"] or [0.7]
data = args[args.index("--data") + 1] if "--data" in args else "../shared/datasets"
overrides = [a for a in args[3:] if "=" in a and not a.startswith("--")]
rows = final_rows(name, s, run, data, overrides)
cfg = rows.config
seed = round_seed(s, cfg.loop.max_rounds)
row = {"dataset": name, "seed": s, "run": str(run), "overrides": overrides}
for label, q in [("ce", None)] + [(f"gce_{q}", q) for q in qs]:
    t0 = time.time()
    cls = Trainer if q is None else type("GCE", (GCETrainer,), {"q": q})
    learner = cls(bundled_minilm(), rows.names, config=cfg.train, max_length=cfg.model.max_length,
                  accelerator=make_accelerator(), trust_remote_code=True)
    if q is None and "--reuse-final" in args:  # the recorded final model (a refit reproduces it)
        learner.load(run / "final")
    else:
        learner.fit(rows.texts, rows.labels, seed=seed, weights=rows.weights, warm_rows=np.arange(rows.n_gold),
                    desc=label)
    row[label] = rows.accuracy(learner.predict_proba(rows.test_texts))
    row[f"{label}_minutes"] = round((time.time() - t0) / 60, 1)
print(json.dumps(row), flush=True)
