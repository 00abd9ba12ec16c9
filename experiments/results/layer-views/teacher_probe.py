"""The default teacher with one more self-trained linear head, in a lower layer of the pretrained
MiniLM (mean-pooled layer L, from embed_layers.py), on the saved student of a finished default run.

Prints pool accuracy and the curriculum picks' precision for the default teacher (spaces
student + pretrained) and with the layer's space added, plus each space's cross-validated
accuracy on the gold rows. From the repository root, ../shared beside it:

    python experiments/results/layer-views/teacher_probe.py DATASET SEED RUN_FOLDER ROUND LAYER
"""
import dataclasses, json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import DATASETS, load_dataset  # noqa: E402
from pseudolabel.config import Config  # noqa: E402
from pseudolabel.sampling import sample_labels  # noqa: E402
from pseudolabel.selection.curriculum import curriculum_share  # noqa: E402
from pseudolabel.teacher import Teacher, TeacherInput, cross_validated_accuracy  # noqa: E402
import pseudolabel.config as C  # noqa: E402
from pseudolabel.trainer import Trainer, make_accelerator  # noqa: E402

name, s, run, r, layer = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
train, test, names = load_dataset(name, "../shared/datasets")
gi, pi = sample_labels(train["label"].to_numpy(), 10, s, pool_size=DATASETS[name]["pool"])
labeled, pool = train.iloc[gi].reset_index(drop=True), train.iloc[pi].reset_index(drop=True)
cfg = Config.from_dict(json.loads((run / "run.json").read_text())["config"], where="run.json")
model = run / f"rounds/round_{r:03d}/model"
learner = Trainer(str(model), names, config=cfg.train, max_length=cfg.model.max_length, accelerator=make_accelerator(),
                  trust_remote_code=True)
learner.load(model)
probs, feats = learner.score(pool["text"].tolist(), features=True)
gold_feats = learner.score(labeled["text"].tolist(), features=True)[1]
emb_pool = np.load(run / "embeddings/pretrained-pool.npy"); emb_gold = np.load(run / "embeddings/pretrained-labeled.npy")
L = np.load(f"runs/layer-emb/{name}.npz")["layers"][layer]
lay = (L[gi].astype(np.float32), L[pi].astype(np.float32))
gold, y = labeled["label"].to_numpy(), pool["label"].to_numpy()
share = curriculum_share(r, cfg.loop.max_rounds)
C.SPACES = C.SPACES + ("layer",)  # a probe: the config accepts the extra space name
out = {"dataset": name, "seed": s, "round": r, "layer": layer,
       "gold_cv": {k: round(cross_validated_accuracy(g, gold, C=10.0, seed=s) * 100, 1)
                   for k, g in (("pretrained", emb_gold), ("layer", lay[0]))}}
for arm, spaces in (("default", ["student", "pretrained"]), ("+layer", ["student", "pretrained", "layer"])):
    c = dataclasses.replace(cfg, teacher=dataclasses.replace(cfg.teacher, spaces=spaces))
    inp = TeacherInput(round=r, n_classes=len(names), gold=gold, probs={"student": probs},
                       spaces={"student": (gold_feats, feats), "pretrained": (emb_gold, emb_pool), "layer": lay},
                       share=share, seed=s)
    o = Teacher(c).run(inp)
    out[arm] = {"pool": round(float(np.mean(o.probs.argmax(1) == y)) * 100, 2),
                "picks": round(float(np.mean(o.picks.labels == y[o.picks.indices])) * 100, 2),
                "views": {k: round(float(np.mean(v.argmax(1) == y)) * 100, 2) for k, v in o.views.items() if k != "student"}}
print(json.dumps(out), flush=True)
