"""The built ``lexical`` stage (cross-fitted stacking weight) on real data, in the pretrained space alone:
the teacher's pool accuracy with ``teacher.views: [descriptions, linear]`` against
``[descriptions, linear, lexical]``, without and with the descriptions. Over runs/probe-emb/ from
../description-weights-stacking/embed.py; from the repository root:

    python experiments/results/lexical-view/stage_probe.py ../shared/datasets ag_news sst2 banking77
"""
import sys, time
import numpy as np
sys.path.insert(0, "."); sys.path.insert(0, "experiments")
from bench_accuracy import load_dataset, split
from pseudolabel.config import Config
from pseudolabel.teacher import Teacher, TeacherInput
from pseudolabel.teacher.descriptions import class_vectors
from pseudolabel.teacher.lexical import lexical_space

data = sys.argv[1]
for ds in sys.argv[2:]:
    train, test, names = load_dataset(ds, data)
    c = np.load(f"runs/probe-emb/{ds}-common.npz")
    for seed in (0, 1, 2):
        d = np.load(f"runs/probe-emb/{ds}-{seed}.npz"); gx, gy, px, py = d["gold_x"], d["gold_y"], d["pool_x"], d["pool_y"]
        K = int(gy.max()) + 1
        lab, pool = split(train, ds, seed, None)
        t0 = time.time()
        lex = lexical_space(lab["text"].tolist(), pool["text"].tolist())
        t_lex = time.time() - t0
        for desc in (None, class_vectors(c["desc_x"], c["desc_owner"], K)):
            inp = TeacherInput(round=0, n_classes=K, gold=gy, probs={"student": np.full((len(py), K), 1.0 / K)},
                               spaces={"pretrained": (gx, px), "lexical": lex}, descriptions=desc, share=1 / 3, seed=seed)
            line = f"{ds} s{seed} {'+desc' if desc is not None else '     '}"
            for views in (["descriptions", "linear"], ["descriptions", "lexical", "linear"]):
                cfg = Config.from_dict({"teacher": {"views": views, "spaces": ["pretrained"]}})
                t0 = time.time()
                out = Teacher(cfg).run(inp)
                line += f" | {len(views)} views: pool {100 * np.mean(out.probs.argmax(1) == py):5.1f} ({time.time() - t0:.0f}s)"
            st = out.state["lexical"]
            line += (f" | weight {st['weight']} p {st['p_value']:.2g} held-out gold acc "
                     + " ".join(f"{k}:{100 * v:.0f}" for k, v in st["held_out_gold_accuracy"].items()) + f" | tfidf {t_lex:.0f}s")
            print(line, flush=True)
