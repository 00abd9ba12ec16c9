"""Round 0 at very few gold rows (probe): where does the fine-tuned round 0 lose the
frozen-embedding floor, and what keeps it above?

For each dataset, gold rows per class and seed, the library's own round 0 (``Trainer.fit`` with the
benchmark settings and round 0's seed, so the default arm reproduces bench_accuracy's
``supervised``) is trained in several arms:

- ``default``: the benchmark settings;
- ``steps=S``: ``train.min_steps`` (and, when smaller, ``max_steps``) set to S; S=0 scores the
  warmed model before any step (its head is the logistic regression on the frozen gold features);
- ``lr=X``: ``train.learning_rate`` X;
- ``warmC=C``: the head warmed from a logistic regression of inverse regularisation C (default 1);
- ``wise=A``: the default's weights averaged with the warmed, untrained model's
  (``A * trained + (1 - A) * start``; Wortsman et al., "Robust fine-tuning of zero-shot models",
  CVPR 2022).

plus ``floor``, bench_accuracy's frozen-embedding logistic regression. One JSON line per arm to
output.jsonl. Test rows: all, or a fixed 2,000-row sample of a larger test set (AG News, Banking77),
to keep the probe short.

    python experiments/results/round0-few-rows/probe.py DATA DATASET PER_CLASS SEEDS ARMS
    e.g. ... ../shared/datasets sst2 5 0,1,2 default,steps=0,steps=50,lr=3e-5,wise=0.5
"""
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
from accelerate.utils import set_seed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1])); sys.path.insert(0, str(HERE.parents[2]))
from bench_accuracy import load_dataset, run_frozen, settings, split  # noqa: E402

from pseudolabel.config import Config  # noqa: E402
from pseudolabel.loop import round_seed  # noqa: E402
from pseudolabel.trainer import Trainer, make_accelerator, resolve_model  # noqa: E402

data, name, per_class, seeds, arms = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5].split(",")
train, test, names = load_dataset(name, data)
if len(test) > 2000:
    test = test.sample(2000, random_state=0).reset_index(drop=True)
cfg = Config.from_dict(settings())
source = resolve_model(cfg.model.name)
acc = make_accelerator()
out = HERE / "output.jsonl"


def accuracy(trainer) -> float:
    return float((trainer.predict_proba(test["text"].tolist()).argmax(1) == test["label"].to_numpy()).mean())


def trainer_for(**train_overrides) -> Trainer:
    tc = copy.deepcopy(cfg.train)
    for key, value in train_overrides.items():
        setattr(tc, key, value)
    return Trainer(source, names, config=tc, max_length=cfg.model.max_length, accelerator=acc)


def warmed(texts, labels, seed):
    """The round-0 model before any step: the encoder, its head warmed exactly as ``fit`` does."""
    set_seed(seed)
    t = trainer_for()
    t.model = t._load_model(source)
    t._warm_head(t.model, texts, labels, np.ones(len(texts)), seed)
    return t


for seed in map(int, seeds.split(",")):
    labeled, _ = split(train, name, seed, None, per_class=per_class)
    texts, labels = labeled["text"].tolist(), labeled["label"].to_numpy()
    rs = round_seed(seed, 0)
    rows = {"floor": float((run_frozen(labeled, test) == test["label"].to_numpy()).mean())}
    default = init = None
    for arm in arms:
        start = time.perf_counter()
        if arm == "default" or arm.startswith("wise="):
            if default is None:
                default = trainer_for()
                default.fit(texts, labels, seed=rs, desc="default")
                trained = copy.deepcopy(default.model.state_dict())
            if arm == "default":
                rows[arm] = accuracy(default)
            else:
                alpha = float(arm.split("=")[1])
                if init is None:
                    init = warmed(texts, labels, rs).model.state_dict()
                default.model.load_state_dict({
                    k: alpha * v + (1 - alpha) * init[k].to(v.dtype) if v.is_floating_point() else v
                    for k, v in trained.items()})
                rows[arm] = accuracy(default)
                default.model.load_state_dict(trained)
        elif arm.startswith("steps="):
            steps = int(arm.split("=")[1])
            if steps == 0:
                t = warmed(texts, labels, rs)
            else:
                t = trainer_for(min_steps=steps, max_steps=max(steps, cfg.train.max_steps or steps),
                                epochs=1)
                t.fit(texts, labels, seed=rs, desc=arm)
            rows[arm] = accuracy(t)
        elif arm.startswith("warmC="):
            import sklearn.linear_model as lm
            plain, C = lm.LogisticRegression, float(arm.split("=")[1])
            lm.LogisticRegression = lambda **kw: plain(C=C, **kw)  # what _warm_head imports, for this arm
            try:
                t = trainer_for()
                t.fit(texts, labels, seed=rs, desc=arm)
            finally:
                lm.LogisticRegression = plain
            rows[arm] = accuracy(t)
        elif arm.startswith("lr="):
            t = trainer_for(learning_rate=float(arm.split("=")[1]))
            t.fit(texts, labels, seed=rs, desc=arm)
            rows[arm] = accuracy(t)
        else:
            raise SystemExit(f"unknown arm {arm}")
        print(f"{name} pc{per_class} seed {seed} {arm}: {rows[arm]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(json.dumps({"dataset": name, "per_class": per_class, "seed": seed, **rows}), flush=True)
    with out.open("a") as fh:
        fh.write(json.dumps({"dataset": name, "per_class": per_class, "seed": seed, "test_rows": len(test), **rows}) + "\n")
