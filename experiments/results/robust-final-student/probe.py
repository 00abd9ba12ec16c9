"""The final student trained with another loss: does it learn past its teacher?

The last student ends within about half a point of its teacher's accuracy on the pool
(docs/benchmarks.md), as if it learned the teacher's errors with its labels. Two losses:
``--q``, the generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018), ``(1 - p_y^q) / q``, which
weighs each row's gradient by ``p_y^q``: rows the student keeps disagreeing with count less
(q -> 0 is the cross-entropy, q = 1 the mean absolute error), made for noisy labels; ``--rdrop``,
R-Drop (Liang et al., NeurIPS 2021): the package's loss on two dropout passes plus ``alpha``
times their symmetric KL divergence, a consistency term that asks the student for predictions
that do not hang on single units (twice the training compute); ``--token-drop``, input noise:
each training batch loses every inner token with that probability (Noisy Student's noise on the
student). Labels fixed by a finished run (``saved_round.final_rows``); every
student trains from the run's own round seed, so the loss is the only difference: the control
(``ce``, the package's smoothed cross-entropy) must reproduce the recorded final model. Scored on
the test split only (reported, never used to choose). From the repository root:

    python experiments/results/robust-final-student/probe.py DATASET SEED RUN_FOLDER [--q Q ...] [--rdrop ALPHA ...] [--token-drop RATE ...] [--data F] [--reuse-final] [key=value ...]
"""
import json, sys, time

import numpy as np
import torch

sys.path.insert(0, "experiments/results"); sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from saved_round import final_rows, probe_args  # noqa: E402
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


class RDropTrainer(Trainer):
    """The package's student with R-Drop (Liang et al., NeurIPS 2021): each batch through the model
    twice (two dropout masks), the smoothed cross-entropy of both plus ``alpha`` times the
    symmetric KL divergence between their predictions, per row, weighed as the package does."""
    alpha = 1.0

    def _loss(self, model, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights", "targets")}
        with autocast(self.config.mixed_precision, self.accelerator.device):
            first, second = model(**inputs).logits.float(), model(**inputs).logits.float()
        ce = lambda z: torch.nn.functional.cross_entropy(z, batch["labels"], reduction="none",
                                                         label_smoothing=self.config.label_smoothing)
        a, b = torch.log_softmax(first, -1), torch.log_softmax(second, -1)
        kl = ((a.exp() * (a - b)).sum(-1) + (b.exp() * (b - a)).sum(-1)) / 2
        per_row = (ce(first) + ce(second)) / 2 + self.alpha * kl
        return (per_row * batch["weights"].to(per_row.dtype)).sum()


class TokenDropTrainer(Trainer):
    """The package's student fed noisy inputs (Noisy Student's input noise, Xie et al. 2020): each
    training batch drops every token but the first and last (``[CLS]``, ``[SEP]``) with
    probability ``rate``, drawn anew each batch from one generator per learner (seed 0)."""
    rate = 0.1

    def _collate(self, features: list[dict]) -> dict:
        if not hasattr(self, "_drop_rng"):
            self._drop_rng = np.random.default_rng(0)
        kept = []
        for f in features:
            ids = f["input_ids"]
            keep = self._drop_rng.random(len(ids)) >= self.rate
            keep[0] = keep[-1] = True
            kept.append({**f, "input_ids": [t for t, k in zip(ids, keep) if k]})
        return super()._collate(kept)


args = sys.argv[1:]
name, s, run, _, data, _ = probe_args(args)
qs = [float(a) for i, a in enumerate(args) if i and args[i - 1] == "--q"]
alphas = [float(a) for i, a in enumerate(args) if i and args[i - 1] == "--rdrop"]
rates = [float(a) for i, a in enumerate(args) if i and args[i - 1] == "--token-drop"]
overrides = [a for a in args[3:] if "=" in a and not a.startswith("--")]
rows = final_rows(name, s, run, data, overrides)
cfg = rows.config
seed = round_seed(s, cfg.loop.max_rounds)
row = {"dataset": name, "seed": s, "run": str(run), "overrides": overrides}
variants = [("ce", Trainer)] + [(f"gce_{q}", type("GCE", (GCETrainer,), {"q": q})) for q in qs] + [
    (f"rdrop_{a}", type("RDrop", (RDropTrainer,), {"alpha": a})) for a in alphas] + [
    (f"token_drop_{r}", type("TokenDrop", (TokenDropTrainer,), {"rate": r})) for r in rates]
for label, cls in variants:
    t0 = time.time()
    learner = cls(bundled_minilm(), rows.names, config=cfg.train, max_length=cfg.model.max_length,
                  accelerator=make_accelerator(), trust_remote_code=True)
    if cls is Trainer and "--reuse-final" in args:  # the recorded final model (a refit reproduces it)
        learner.load(run / "final")
    else:
        learner.fit(rows.texts, rows.labels, seed=seed, weights=rows.weights, warm_rows=np.arange(rows.n_gold),
                    desc=label)
    row[label] = rows.accuracy(learner.predict_proba(rows.test_texts))
    row[f"{label}_minutes"] = round((time.time() - t0) / 60, 1)
print(json.dumps(row), flush=True)
