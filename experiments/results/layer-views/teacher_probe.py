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
sys.path.insert(0, "experiments"); sys.path.insert(0, "experiments/results")
from bench_accuracy import DATASETS  # noqa: E402
from saved_round import load_round  # noqa: E402
from pseudolabel.sampling import sample_labels  # noqa: E402
from pseudolabel.selection.curriculum import curriculum_share  # noqa: E402
from pseudolabel.teacher import Teacher, cross_validated_accuracy  # noqa: E402
import pseudolabel.config as C  # noqa: E402

name, s, run, r, layer = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
saved = load_round(name, s, run, r)
cfg, gold, y = saved.config, saved.labeled["label"].to_numpy(), saved.pool["label"].to_numpy()
emb_gold = saved.spaces["pretrained"][0]
z = np.load(f"runs/layer-emb/{name}.npz")  # the train split's rows in file order, then the test split's
L = z["layers"][layer]
gi, pi = sample_labels(z["y"][:int(z["n_train"])], 10, s, pool_size=DATASETS[name]["pool"])  # the split's rows
lay = (L[gi].astype(np.float32), L[pi].astype(np.float32))
share = curriculum_share(r, cfg.loop.max_rounds)
C.SPACES = C.SPACES + ("layer",)  # a probe: the config accepts the extra space name
out = {"dataset": name, "seed": s, "round": r, "layer": layer,
       "gold_cv": {k: round(cross_validated_accuracy(g, gold, C=10.0, seed=s) * 100, 1)
                   for k, g in (("pretrained", emb_gold), ("layer", lay[0]))}}
for arm, spaces in (("default", ["student", "pretrained"]), ("+layer", ["student", "pretrained", "layer"])):
    c = dataclasses.replace(cfg, teacher=dataclasses.replace(cfg.teacher, spaces=spaces))
    o = Teacher(c).run(saved.teacher_input(r, share, s, spaces={"layer": lay}))
    out[arm] = {"pool": round(float(np.mean(o.probs.argmax(1) == y)) * 100, 2),
                "picks": round(float(np.mean(o.picks.labels == y[o.picks.indices])) * 100, 2),
                "views": {k: round(float(np.mean(v.argmax(1) == y)) * 100, 2) for k, v in o.views.items() if k != "student"}}
print(json.dumps(out), flush=True)
