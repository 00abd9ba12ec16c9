"""Derived data sets for checking the default beyond the protocol's three (not part of the protocol).

    python experiments/results/derived-tasks/make.py ../shared/datasets runs/derived

writes ``runs/derived/ag_news_business_scitech/{train,test}.parquet`` and ``labels.json``: AG News
restricted to its two closest topics, Business and Sci/Tech, as a two-class topic task (ids 0 and
1 in that order), every row of those classes in both splits; and
``runs/derived/descriptions/ag_news_business_scitech.yaml``, those two classes' sentences of
``experiments/descriptions/ag_news.yaml`` unchanged. Also ``runs/derived/banking77_cards``:
Banking77 restricted to its 27 intents with "card" in the name (close, fine-grained intents;
ids in ``labels.json``'s order), and their sentences of
``experiments/descriptions/banking77.yaml`` unchanged. Then, e.g.:

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


def derive(dataset: str, task: str, keep_names) -> None:
    """``dataset`` restricted to the classes named ``keep_names`` (in that order), as ``task``."""
    names = json.loads((source / dataset / "labels.json").read_text())
    keep = [names.index(n) for n in keep_names]
    folder = out / task
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        frame = pd.read_parquet(source / dataset / f"{split}.parquet")
        frame = frame[frame["label"].isin(keep)].reset_index(drop=True)
        frame["label"] = frame["label"].map({c: i for i, c in enumerate(keep)})
        frame[["text", "label"]].to_parquet(folder / f"{split}.parquet")
        print(task, split, len(frame), frame["label"].value_counts().sort_index().tolist())
    (folder / "labels.json").write_text(json.dumps(list(keep_names)))
    descriptions = yaml.safe_load(Path(f"experiments/descriptions/{dataset}.yaml").read_text(encoding="utf-8"))
    (out / "descriptions").mkdir(exist_ok=True)
    (out / "descriptions" / f"{task}.yaml").write_text(yaml.safe_dump({n: descriptions[n] for n in keep_names}))


derive("ag_news", "ag_news_business_scitech", ["Business", "Sci/Tech"])
b77 = json.loads((source / "banking77" / "labels.json").read_text())
derive("banking77", "banking77_cards", [n for n in b77 if "card" in n])
