"""A round's teacher with and without cross-fitted linear heads (``teacher.linear_folds``), on the
saved student of a finished default run: the same student, features and pretrained embeddings.

Runs at commit 407747d, the one commit with ``teacher.linear_folds`` (removed after this probe).
Prints, per folds value, the pool accuracy of the combined teacher and the precision of the rows
the curriculum would take (the round's share). From the repository root, ../shared beside it:

    python experiments/results/cross-fitted-heads/teacher_probe.py DATASET SEED RUN_FOLDER ROUND [desc]
"""
import dataclasses, json, sys, time
from pathlib import Path
import numpy as np
import yaml
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, split  # noqa: E402
from pseudolabel.config import Config  # noqa: E402
from pseudolabel.selection import select  # noqa: E402
from pseudolabel.selection.curriculum import curriculum_share  # noqa: E402
from pseudolabel.teacher import Teacher, TeacherInput  # noqa: E402
from pseudolabel.teacher.descriptions import class_vectors  # noqa: E402
from pseudolabel.trainer import Encoder, Trainer, bundled_minilm, make_accelerator  # noqa: E402

name, s, run, r = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
desc = len(sys.argv) > 5
train, test, names = load_dataset(name, "../shared/datasets")
labeled, pool = split(train, name, s, None)
cfg = Config.from_dict(json.loads((run / "run.json").read_text())["config"], where="run.json")
acc_ = make_accelerator()
learner = Trainer(str(run / f"rounds/round_{r:03d}/model"), names, config=cfg.train, max_length=cfg.model.max_length,
                  accelerator=acc_, trust_remote_code=True)
learner.load(run / f"rounds/round_{r:03d}/model")
probs, feats = learner.score(pool["text"].tolist(), features=True)
gold_feats = learner.score(labeled["text"].tolist(), features=True)[1]
emb_pool = np.load(run / "embeddings/pretrained-pool.npy"); emb_gold = np.load(run / "embeddings/pretrained-labeled.npy")
vectors = None
if desc:
    by_name = yaml.safe_load(Path(f"experiments/descriptions/{name}.yaml").read_text())
    sents, owners = [], []
    for i, c in enumerate(names):
        sents += by_name[c]; owners += [i] * len(by_name[c])
    enc = Encoder.from_config(bundled_minilm(), cfg, acc_)
    vectors = class_vectors(enc.embed(sents), np.array(owners), len(names))
gold, y = labeled["label"].to_numpy(), pool["label"].to_numpy()
share = curriculum_share(r, cfg.loop.max_rounds)
out = {"dataset": name, "seed": s, "round": r, "desc": desc, "share": round(share, 3)}
for folds in (1, 2):
    c = dataclasses.replace(cfg, teacher=dataclasses.replace(cfg.teacher, linear_folds=folds))
    inp = TeacherInput(round=r, n_classes=len(names), gold=gold, probs={"student": probs},
                       spaces={"student": (gold_feats, feats), "pretrained": (emb_gold, emb_pool)},
                       descriptions=vectors, share=share, seed=s)
    t0 = time.time(); o = Teacher(c).run(inp)
    picks = o.picks
    out[f"folds{folds}"] = {"pool": round(float(np.mean(o.probs.argmax(1) == y)) * 100, 2),
                            "picks": round(float(np.mean(picks.labels == y[picks.indices])) * 100, 2),
                            "views": {k: round(float(np.mean(v.argmax(1) == y)) * 100, 2) for k, v in o.views.items()
                                      if k != "student"}, "s": round(time.time() - t0)}
print(json.dumps(out), flush=True)
