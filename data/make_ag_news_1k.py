"""Rebuild the 1k-example AG News subset in ``data/ag_news_1k/`` from the shared parquet.

Usage: ``python data/make_ag_news_1k.py ../shared/datasets/ag_news``. Deterministic: the same
source file gives byte-identical csv files.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PER_CLASS = {"labeled": 25, "eval": 50, "unlabeled": 175}
SEED = 0


def main(source: str) -> None:
    src = Path(source)
    names = json.loads((src / "labels.json").read_text())
    train = pd.read_parquet(src / "train.parquet").reset_index(names="source_row")
    rng = np.random.default_rng(SEED)
    parts = {split: [] for split in PER_CLASS}
    for label in sorted(train["label"].unique()):
        rows = train[train["label"] == label]
        order = rng.permutation(len(rows))
        start = 0
        for split, n in PER_CLASS.items():
            parts[split].append(rows.iloc[order[start : start + n]])
            start += n
    out = Path(__file__).parent / "ag_news_1k"
    out.mkdir(exist_ok=True)
    for split, frames in parts.items():
        frame = pd.concat(frames).sort_values("source_row")
        frame = frame.assign(label=frame["label"].map(lambda i: names[i]))
        frame[["source_row", "text", "label"]].to_csv(out / f"{split}.csv", index=False)
        print(f"{split}: {len(frame)} rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/ag_news")
