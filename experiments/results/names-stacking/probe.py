"""Class names as a view weighed by stacking: which weight would cross-fitted gold rows choose, and is it the right one?

For each data set and seed (the benchmark's split, 10 gold rows per class), in the pretrained
MiniLM space alone: the names' view ("This sentence is {name}.", as `teacher.class_names`),
its weight under today's rule (gold accuracy against a cross-validated logistic regression's),
the weight of GRID that stacking would choose (the lexical stage's method: for each of 5 folds,
linear self-training on the other folds, 5 inner rounds over 5,000 pool rows, with the names at
that weight; softened held-out log-likelihood), and the truth it should match: the full teacher
of that space (10 inner rounds, the whole pool) at each weight, scored on the pool's hidden
labels. From the repository root, ../shared beside it:

    python experiments/results/names-stacking/probe.py sst2,ag_news,banking77 0,1,2 [CACHE_DIR]
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.model_selection import StratifiedKFold
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, DATASETS
from pseudolabel.config import Config
from pseudolabel.sampling import sample_labels
from pseudolabel.teacher import cross_validated_accuracy
from pseudolabel.teacher.combine import weighted_mean
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors, name_sentences
from pseudolabel.teacher.lexical import softened_log_likelihood
from pseudolabel.teacher.linear import LinearSelfTraining
from pseudolabel.trainer import Encoder, bundled_minilm, make_accelerator

GRID = (0.0, 0.25, 0.5, 1.0)
cache = Path(sys.argv[3] if len(sys.argv) > 3 else "runs/names-stacking-cache"); cache.mkdir(parents=True, exist_ok=True)
acc = make_accelerator(); cfg = Config(); enc = None
for name in sys.argv[1].split(","):
    train, test, names = load_dataset(name, "../shared/datasets")
    f = cache / f"{name}.npy"
    if not f.exists():
        enc = enc or Encoder.from_config(bundled_minilm(), cfg, acc)
        np.save(f, enc.embed(train["text"].tolist()))
        enc_names = enc.embed(name_sentences(names)); np.save(cache / f"{name}-names.npy", enc_names)
    X = np.load(f, mmap_mode="r"); vec = class_vectors(np.load(cache / f"{name}-names.npy"), np.arange(len(names)), len(names))
    y_all = train["label"].to_numpy(); K = len(names)
    for seed in [int(s) for s in sys.argv[2].split(",")]:
        t0 = time.time()
        lab, pool = sample_labels(y_all, 10, seed, pool_size=DATASETS[name]["pool"])
        gx, px, gy, py = np.asarray(X[lab]), np.asarray(X[pool]), y_all[lab], y_all[pool]
        view = DescriptionView(vec).fit(gx, gy)
        names_pool, names_gold = view.predict_proba(px), view.predict_proba(gx)
        lr_cv = cross_validated_accuracy(gx, gy, C=10.0, seed=seed)
        old_w = float(np.clip((view.gold_accuracy_ - 1 / K) / max(lr_cv - 1 / K, 1e-6), 0, 1))
        # cross-fitted teachers on a 5,000-row sample, 5 inner rounds (the lexical stage's settings)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(len(px), min(5000, len(px)), replace=False))
        teachers = {w: np.zeros((len(gy), K)) for w in GRID}
        k = min(5, int(np.bincount(gy).min()))
        for tr, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(gy)), gy):
            for w in GRID:
                wts = {"names": w, "linear:pretrained": 1.0}
                st = LinearSelfTraining(inner_rounds=5, C=10.0, seed=seed)
                st.run({"pretrained": (gx[tr], px[sample])}, gy[tr], K, {"names": names_pool[sample]} if w > 0 else {},
                       lambda v: weighted_mean(v, wts))
                hv = {"linear:pretrained": LinearSelfTraining._predict(st.heads_["pretrained"], gx[held], K)}
                if w > 0: hv["names"] = names_gold[held]
                teachers[w][held] = weighted_mean(hv, wts)
        ll = {w: round(softened_log_likelihood(p, gy), 4) for w, p in teachers.items()}
        hacc = {w: round(100 * float(np.mean(p.argmax(1) == gy)), 1) for w, p in teachers.items()}
        chosen = max(ll, key=lambda w: (ll[w], -w))
        # the truth: full pretrained-space teacher (10 inner rounds, whole pool) at each weight, pool accuracy
        truth = {}
        for w in GRID:
            wts = {"names": w, "linear:pretrained": 1.0}
            st = LinearSelfTraining(inner_rounds=10, C=10.0, seed=seed)
            v = st.run({"pretrained": (gx, px)}, gy, K, {"names": names_pool} if w > 0 else {}, lambda v: weighted_mean(v, wts))
            comb = weighted_mean({**v, **({"names": names_pool} if w > 0 else {})}, wts)
            truth[w] = round(100 * float(np.mean(comb.argmax(1) == py)), 2)
        print(json.dumps({"dataset": name, "seed": seed, "names_gold_acc": round(view.gold_accuracy_, 3), "lr_cv": round(lr_cv, 3),
                          "old_weight": round(old_w, 2), "stacked": chosen, "held_ll": ll, "held_acc": hacc,
                          "names_pool_acc": round(100 * float(np.mean(names_pool.argmax(1) == py)), 2),
                          "pool_acc_by_weight": truth, "s": round(time.time() - t0)}), flush=True)
