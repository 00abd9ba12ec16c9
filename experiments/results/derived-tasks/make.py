"""Derived data sets for checking the default beyond the protocol's three (not part of the protocol).

    python experiments/results/derived-tasks/make.py ../shared/datasets runs/derived

writes ``runs/derived/ag_news_business_scitech/{train,test}.parquet`` and ``labels.json``: AG News
restricted to its two closest topics, Business and Sci/Tech, as a two-class topic task (ids 0 and
1 in that order), every row of those classes in both splits; and
``runs/derived/descriptions/ag_news_business_scitech.yaml``, those two classes' sentences of
``experiments/descriptions/ag_news.yaml`` unchanged. Then, e.g.:

    python experiments/bench_accuracy.py --data runs/derived --datasets ag_news_business_scitech \\
        --methods pseudolabel supervised frozen setfit
    python experiments/bench_accuracy.py --data runs/derived --datasets ag_news_business_scitech \\
        --methods pseudolabel+desc setfit+desc --descriptions runs/derived/descriptions
"""
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

source, out = Path(sys.argv[1]), Path(sys.argv[2])
names = json.loads((source / "ag_news" / "labels.json").read_text())
keep = [names.index("Business"), names.index("Sci/Tech")]
folder = out / "ag_news_business_scitech"
folder.mkdir(parents=True, exist_ok=True)
for split in ("train", "test"):
    frame = pd.read_parquet(source / "ag_news" / f"{split}.parquet")
    frame = frame[frame["label"].isin(keep)].reset_index(drop=True)
    frame["label"] = frame["label"].map({c: i for i, c in enumerate(keep)})
    frame[["text", "label"]].to_parquet(folder / f"{split}.parquet")
    print(split, len(frame), frame["label"].value_counts().sort_index().tolist())
(folder / "labels.json").write_text(json.dumps([names[c] for c in keep]))
descriptions = yaml.safe_load(Path("experiments/descriptions/ag_news.yaml").read_text(encoding="utf-8"))
(out / "descriptions").mkdir(exist_ok=True)
(out / "descriptions" / f"{folder.name}.yaml").write_text(yaml.safe_dump({names[c]: descriptions[names[c]] for c in keep}))
