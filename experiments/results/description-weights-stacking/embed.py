"""Embed the gold, pool and test rows of each data set and seed (0-2) with the pretrained MiniLM, as the
teacher's pretrained space does, into runs/probe-emb/. From the repository root:

    python experiments/results/description-weights-stacking/embed.py ../shared/datasets sst2 ag_news banking77
"""
import sys, json, time
from pathlib import Path
import numpy as np, pandas as pd, yaml
sys.path.insert(0, "."); sys.path.insert(0, "experiments")
from accelerate import Accelerator
from pseudolabel.trainer import Encoder, bundled_minilm
from bench_accuracy import load_dataset, split
from pseudolabel.teacher.descriptions import name_sentences
enc = Encoder(bundled_minilm(), max_length=128, batch_size=64, precision="bf16", accelerator=Accelerator(cpu=True))
out = Path("runs/probe-emb"); out.mkdir(parents=True, exist_ok=True)
for ds in sys.argv[2:]:
    train, test, names = load_dataset(ds, sys.argv[1])
    desc = yaml.safe_load(open(f"experiments/descriptions/{ds}.yaml"))
    dsent = [s for c in names for s in desc[c]]; downers = [i for i, c in enumerate(names) for s in desc[c]]
    nsent = name_sentences(names)
    t0 = time.time()
    test_x = enc.embed(test["text"].tolist())
    np.savez(out / f"{ds}-common.npz", test_x=test_x, test_y=test["label"].to_numpy(), desc_x=enc.embed(dsent),
             desc_owner=np.array(downers), names_x=enc.embed(nsent))
    for seed in (0, 1, 2):
        lab, pool = split(train, ds, seed, None)
        np.savez(out / f"{ds}-{seed}.npz", gold_x=enc.embed(lab["text"].tolist()), gold_y=lab["label"].to_numpy(),
                 pool_x=enc.embed(pool["text"].tolist()), pool_y=pool["label"].to_numpy())
        print(ds, seed, len(lab), len(pool), f"{time.time()-t0:.0f}s", flush=True)
