"""Would the final student predict better with the teacher's cheap views beside it at predict time?

For each finished run of the descriptions arm given (the retrained final students with
``train.gold_weight: 4`` in runs/last-round-probe/gold4-*), score the test split with the final
student, with the description view (pretrained MiniLM sentence embeddings against the class
vectors, temperature fitted on the gold rows as the teacher does), and with a logistic regression
in the pretrained space fitted on the gold rows plus the whole pool under the last teacher's labels.
Prints test accuracy % of each and of their averages. From the repository root, ../shared beside it:

    python experiments/results/predict-time-views/probe.py DATASET SEED RUN_FOLDER [DATASET SEED RUN_FOLDER ...]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, "experiments"); sys.path.insert(0, "."); sys.path.insert(0, "experiments/results")
from bench_accuracy import load_dataset, split  # noqa: E402
from saved_round import description_vectors  # noqa: E402

from pseudolabel.config import Config  # noqa: E402
from pseudolabel.teacher.combine import weighted_mean  # noqa: E402
from pseudolabel.teacher.descriptions import DescriptionView  # noqa: E402
from pseudolabel.trainer import Encoder, Trainer, bundled_minilm, make_accelerator  # noqa: E402

args = sys.argv[1:]
accelerator = make_accelerator()
for name, s, run in zip(args[0::3], args[1::3], args[2::3]):
    t0, seed, run = time.time(), int(s), Path(run)
    train, test, names = load_dataset(name, "../shared/datasets")
    labeled, pool = split(train, name, seed, None)
    config = Config.from_dict(json.loads((run / "run.json").read_text())["config"], where="run.json")
    k, gy, ty = len(names), labeled["label"].to_numpy(), test["label"].to_numpy()
    learner = Trainer(str(run / "final"), names, config=config.train, max_length=config.model.max_length,
                      accelerator=accelerator, trust_remote_code=True)
    learner.load(run / "final")
    student = learner.score(test["text"].tolist())[0]
    encoder = Encoder.from_config(bundled_minilm(), config, accelerator)
    test_x = encoder.embed(test["text"].tolist())
    gold_x, pool_x = np.load(run / "embeddings/pretrained-labeled.npy"), np.load(run / "embeddings/pretrained-pool.npy")
    desc = DescriptionView(description_vectors(name, names, encoder)).fit(gold_x, gy)
    last = sorted((run / "rounds").glob("round_*"))[-2]  # the teacher that labeled the whole pool
    picks = pd.read_parquet(last / "pseudo_labels.parquet")
    x = np.concatenate([gold_x, pool_x[picks["pool_row"].to_numpy()]])
    y = np.concatenate([gy, picks["label"].to_numpy()])
    w = np.concatenate([np.full(len(gy), 4.0), picks["weight"].to_numpy()])
    head = LogisticRegression(C=10.0, max_iter=1000).fit(x, y, sample_weight=w)
    linear = np.zeros((len(ty), k)); linear[:, head.classes_] = head.predict_proba(test_x)
    views = {"student": student, "descriptions": desc.predict_proba(test_x), "linear:pretrained": linear}
    weight = json.loads((last / "teacher.json").read_text())["combine"]["weights"].get("descriptions", 1.0)
    arms = {"student": {"student": 1}, "descriptions": {"descriptions": 1}, "linear": {"linear:pretrained": 1},
            "student+desc": {"student": 1, "descriptions": weight},
            "student+linear": {"student": 1, "linear:pretrained": 1},
            "all3": {"student": 1, "descriptions": weight, "linear:pretrained": 1}}
    out = {a: 100 * float(np.mean(weighted_mean({v: views[v] for v in ws}, ws).argmax(1) == ty)) for a, ws in arms.items()}
    print(json.dumps({"dataset": name, "seed": seed, "run": str(run), "desc_weight": weight, **{a: round(v, 2) for a, v in out.items()},
                      "seconds": round(time.time() - t0)}), flush=True)
