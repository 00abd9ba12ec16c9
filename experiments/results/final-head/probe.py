"""Would a linear head self-trained in the final student's own features beat the student's head?

For each finished run folder given, load its final model, score the gold, pool and test rows
(probabilities and mean-pooled features, one pass), then run the teacher's linear stage
(``LinearSelfTraining``, the default's 10 inner rounds, C=10) in the student space alone and,
for reference, with the pretrained space too (embeddings from runs/probe-emb, see
description-weights-stacking/embed.py). Prints test accuracy of: the final student; the linear
head in its features (a single model: the mean-pooling head is linear in those features); the
two-space teacher (not a single model). From the repository root:

    python experiments/results/final-head/probe.py ../shared/datasets DATASET SEED RUN_FOLDER ...
"""
import sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, "."); sys.path.insert(0, "experiments")
from accelerate import Accelerator
from pseudolabel.config import TrainConfig
from pseudolabel.trainer import Trainer
from pseudolabel.teacher.linear import LinearSelfTraining
from pseudolabel.teacher.combine import weighted_mean
from bench_accuracy import load_dataset, split

data, args = sys.argv[1], sys.argv[2:]
acc = Accelerator(cpu=True)
for ds, seed, folder in zip(args[0::3], args[1::3], args[2::3]):
    seed = int(seed)
    t0 = time.time()
    train, test, names = load_dataset(ds, data)
    lab, pool = split(train, ds, seed, None)
    k = len(names)
    tr = Trainer(str(Path(folder) / "final"), [str(i) for i in range(k)], config=TrainConfig(), max_length=128,
                 accelerator=acc, trust_remote_code=True)
    tr.load(Path(folder) / "final")
    _, gx = tr.score(lab["text"].tolist(), features=True)
    pp, px = tr.score(pool["text"].tolist(), features=True)
    tp, tx = tr.score(test["text"].tolist(), features=True)
    gy, ty, py = lab["label"].to_numpy(), test["label"].to_numpy(), pool["label"].to_numpy()
    emb = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); common = np.load(f"runs/probe-emb/{ds}-common.npz")
    out = {"student": (tp.argmax(1) == ty).mean(), "student_pool": (pp.argmax(1) == py).mean()}
    combine = lambda views: weighted_mean(views, {v: 1.0 for v in views})
    for label, spaces, test_spaces in [
        ("head:student", {"student": (gx, px)}, {"student": tx}),
        ("heads:student+pretrained", {"student": (gx, px), "pretrained": (emb["gold_x"], emb["pool_x"])},
         {"student": tx, "pretrained": common["test_x"]}),
    ]:
        lin = LinearSelfTraining(seed=seed)
        views = lin.run(spaces, gy, k, {}, combine)
        out[label + "_pool"] = (combine(views).argmax(1) == py).mean()
        tv = {f"linear:{s}": LinearSelfTraining._predict(lin.heads_[s], x, k) for s, x in test_spaces.items()}
        out[label] = (combine(tv).argmax(1) == ty).mean()
    print(ds, seed, folder, " ".join(f"{n}={v*100:.2f}" for n, v in out.items()), f"{time.time()-t0:.0f}s", flush=True)
