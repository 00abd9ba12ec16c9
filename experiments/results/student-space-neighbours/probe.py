"""The last teacher smoothed over neighbours found in the student's space, the pretrained space, or both.

The default smooths the last round's combined teacher towards the mean of each candidate's 10
nearest candidates in the pretrained sentence-embedding space. The last round's student space
(its mean-pooled features, shaped by two rounds of pseudo-labels) orders neighbours differently.
Loads a finished default run's round-2 student, scores the pool with features, rebuilds the
teacher (its unsmoothed combination is the view "combined"), then smooths it each way. From the
repository root, ../shared beside it:

    python experiments/results/student-space-neighbours/probe.py DATASET SEED RUN_FOLDER [desc]
"""
import json, sys
from pathlib import Path
import numpy as np
import yaml
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, split  # noqa: E402
from pseudolabel.config import Config  # noqa: E402
from pseudolabel.teacher import Teacher, TeacherInput  # noqa: E402
from pseudolabel.teacher.descriptions import class_vectors  # noqa: E402
from pseudolabel.teacher.neighbours import NeighbourSmoothing  # noqa: E402
from pseudolabel.trainer import Encoder, Trainer, bundled_minilm, make_accelerator  # noqa: E402

name, s, run = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
desc = len(sys.argv) > 4
train, test, names = load_dataset(name, "../shared/datasets")
labeled, pool = split(train, name, s, None)
cfg = Config.from_dict(json.loads((run / "run.json").read_text())["config"], where="run.json")
r = cfg.loop.max_rounds - 1
acc_ = make_accelerator()
model = run / f"rounds/round_{r:03d}/model"
learner = Trainer(str(model), names, config=cfg.train, max_length=cfg.model.max_length, accelerator=acc_,
                  trust_remote_code=True)
learner.load(model)
probs, feats = learner.score(pool["text"].tolist(), features=True)
gold_feats = learner.score(labeled["text"].tolist(), features=True)[1]
emb_pool = np.load(run / "embeddings/pretrained-pool.npy"); emb_gold = np.load(run / "embeddings/pretrained-labeled.npy")
vectors = None
if desc:
    by_name = yaml.safe_load(Path(f"experiments/descriptions/{name}.yaml").read_text())
    sents, owners = [], []
    for i, c in enumerate(names):
        sents += by_name[c]; owners += [i] * len(by_name[c])
    vectors = class_vectors(Encoder.from_config(bundled_minilm(), cfg, acc_).embed(sents), np.array(owners), len(names))
y = pool["label"].to_numpy()
inp = TeacherInput(round=r, n_classes=len(names), gold=labeled["label"].to_numpy(), probs={"student": probs},
                   spaces={"student": (gold_feats, feats), "pretrained": (emb_gold, emb_pool)},
                   descriptions=vectors, share=1.0, seed=s)
o = Teacher(cfg).run(inp)
raw = o.views["combined"]
acc = lambda p: round(float(np.mean(np.asarray(p).argmax(1) == y)) * 100, 2)
pre = NeighbourSmoothing(k=10).fit(emb_pool).neighbours_
stu = NeighbourSmoothing(k=10).fit(feats).neighbours_
mean = lambda nb: raw[nb].mean(axis=1)
both = np.concatenate([pre, stu], axis=1)
print(json.dumps({"dataset": name, "seed": s, "desc": desc, "recorded": acc(o.probs), "unsmoothed": acc(raw),
                  "pretrained k10": acc(0.5 * raw + 0.5 * mean(pre)), "student k10": acc(0.5 * raw + 0.5 * mean(stu)),
                  "both k10+10": acc(0.5 * raw + 0.5 * mean(both)),
                  "both, 1/3 each": acc((raw + mean(pre) + mean(stu)) / 3)}), flush=True)
