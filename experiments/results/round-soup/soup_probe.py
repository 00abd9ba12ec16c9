"""Probe: is the weight average ("soup", Wortsman et al. 2022) of the last rounds' students a
better final model than the last student alone?  Every student starts from the same pretrained
encoder, so their weights can be averaged.  Reads finished benchmark runs (``--runs``: a
bench_accuracy ``--out`` folder), scores on the test split only (reported, never used to choose).

    python soup_probe.py --runs runs/last-sst2 --data ../shared/datasets --dataset sst2
"""
import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from pseudolabel.api import SelfTrainer
from pseudolabel.trainer import Trainer, make_accelerator


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    test = pd.read_parquet(Path(a.data) / a.dataset / "test.parquet")
    texts, gold = test["text"].tolist(), test["label"].to_numpy()
    for run in sorted((Path(a.runs) / "runs").glob(f"{a.dataset}-*")):
        if not run.is_dir():
            continue
        st = SelfTrainer.from_run(run)
        cfg = st.config_
        scorer = Trainer(str(run / "final"), st.label_set_.names, config=cfg.train,
                         max_length=cfg.model.max_length, accelerator=make_accelerator())
        rounds = sorted(int(d.name[-3:]) for d in (run / "rounds").glob("round_*"))[-3:]
        last = rounds[-1]
        weights = {r: load_file(str(run / "rounds" / f"round_{r:03d}" / "model" / "model.safetensors")) for r in rounds}
        probs, out = {}, {"run": run.name}
        for r in rounds:
            scorer.load(run / "rounds" / f"round_{r:03d}" / "model")
            probs[r] = scorer.predict_proba(texts)
            out[f"r{r}"] = float((probs[r].argmax(1) == gold).mean())
        out["ens_last2"] = float(((probs[last] + probs[last - 1]).argmax(1) == gold).mean())
        for name, members in {"soup_last2": rounds[-2:], "soup_last3": rounds}.items():
            scorer.load(run / "rounds" / f"round_{last:03d}" / "model")
            avg = {k: sum(weights[r][k].float() for r in members) / len(members) for k in weights[last]}
            scorer.model.load_state_dict(avg, strict=False)
            out[name] = float((scorer.predict_proba(texts).argmax(1) == gold).mean())
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
