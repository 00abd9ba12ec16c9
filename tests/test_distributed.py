"""Tier 3: two CPU processes through accelerate's debug_launcher give the one-process result.

debug_launcher forks. A process that has already run torch operations holds OpenMP thread
pools that do not survive a fork (the children hang), so each launch happens in a fresh
interpreter (``python -m tests.test_distributed ...``) that forks before touching torch.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from accelerate import debug_launcher

from pseudolabel.config import SelectionConfig, TrainConfig
from pseudolabel.selection import select

from .conftest import REPO, topic_frame

TEXTS = topic_frame(37, 7)["text"].tolist()  # 74 rows: uneven shards with eval_batch_size 8


def _fresh_accelerate_state():
    # Forked children inherit the parent's single-process accelerate state: start clean.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _label_in_processes(model_dir, out_dir):
    _fresh_accelerate_state()
    from pseudolabel.trainer import Trainer, make_accelerator

    acc = make_accelerator()
    t = Trainer(model_dir, ["sports", "tech"], config=TrainConfig(eval_batch_size=8, mixed_precision="no"), max_length=32,
                accelerator=acc)
    t.load(model_dir)
    assert acc.num_processes == 2
    np.save(Path(out_dir) / f"probs_rank{acc.process_index}.npy", t.predict_proba(TEXTS))


def _fit_in_processes(model_dir, out_dir):
    _fresh_accelerate_state()
    import os

    import builtins

    import torch.distributed

    from pseudolabel import SelfTrainer

    rank = torch.distributed.get_rank()  # the launcher's process group; accelerate is not asked yet
    writes = []
    real_replace, real_mkdir, real_open = os.replace, os.mkdir, builtins.open
    os.replace = lambda src, dst: (writes.append(str(dst)), real_replace(src, dst))[1]
    os.mkdir = lambda path, *a, **k: (writes.append(str(path)), real_mkdir(path, *a, **k))[1]

    def recording_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *a, **k)

    builtins.open = recording_open
    try:
        st = SelfTrainer(model=model_dir, max_rounds=1, output_dir=Path(out_dir) / "run", config=FIT_CONFIG)
        st.fit(*FIT_DATA)
    finally:
        os.replace, os.mkdir, builtins.open = real_replace, real_mkdir, real_open
    assert st._learner.accelerator.num_processes == 2
    writes = [w for w in writes if w.startswith(str(out_dir))]  # torch makes its own cache folders
    (Path(out_dir) / f"writes_rank{rank}.json").write_text(json.dumps(
        {"writes": writes, "stop": st.termination_condition_, "rows": st.pseudo_labels_["pool_row"].tolist(),
         "labels": st.pseudo_labels_["label"].tolist(), "probs": st.predict_proba(TEXTS).tolist()}))


# Batches of 5 split 3 + 2 between the processes, and 13 labeled rows leave a last batch of 3.
FIT_CONFIG = {"train": {"epochs": 2, "min_steps": 1, "max_steps": None, "batch_size": 5, "learning_rate": 1e-3,
                        "mixed_precision": "no"},
              "model": {"max_length": 32}, "selection": {"strategy": "topk", "fraction": 0.5}}
FIT_DATA = (pd.concat([topic_frame(6, 0), topic_frame(1, 3).iloc[:1]]), topic_frame(9, 1).drop(columns="label"),
            topic_frame(5, 2))
WORKERS = {"label": _label_in_processes, "fit": _fit_in_processes}


def launch(name, model_dir, out_dir):
    result = subprocess.run([sys.executable, "-m", "tests.test_distributed", name, model_dir, str(out_dir)],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def _classifier(tiny_bert, tmp_path):
    from pseudolabel.trainer import Trainer, make_accelerator

    t = Trainer(str(tiny_bert), ["sports", "tech"], config=TrainConfig(epochs=3, min_steps=1, max_steps=None, batch_size=8, learning_rate=1e-3,
                mixed_precision="no", eval_batch_size=8), max_length=32, accelerator=make_accelerator())
    labeled = topic_frame(10, 0)
    t.fit(labeled["text"].tolist(), (labeled["label"] == "tech").to_numpy().astype(int), seed=0)
    t.save(tmp_path / "clf")
    return t, str(tmp_path / "clf")


def test_two_processes_label_and_select_like_one(tiny_bert, tmp_path):
    single, model_dir = _classifier(tiny_bert, tmp_path)
    expected = single.predict_proba(TEXTS)
    launch("label", model_dir, tmp_path)
    config = SelectionConfig(threshold=float(np.median(expected.max(axis=1))))
    want = select(expected, config, round=0)
    assert 0 < len(want) < len(TEXTS)
    for rank in (0, 1):
        got = np.load(tmp_path / f"probs_rank{rank}.npy")
        np.testing.assert_allclose(got, expected, atol=1e-5)
        sel = select(got, config, round=0)
        assert np.array_equal(sel.indices, want.indices) and np.array_equal(sel.labels, want.labels)


def test_two_processes_fit_like_one_and_only_rank0_writes(tmp_path):
    from pseudolabel import SelfTrainer
    from pseudolabel.testing import make_tiny_bert

    # Without dropout, training does not depend on which process draws which row's mask.
    tiny_bert = make_tiny_bert(tmp_path / "tiny", dropout=0.0)
    launch("fit", str(tiny_bert), tmp_path)
    r0 = json.loads((tmp_path / "writes_rank0.json").read_text())
    r1 = json.loads((tmp_path / "writes_rank1.json").read_text())
    assert r0["writes"] and r1["writes"] == []
    assert r0["stop"] == r1["stop"] is not None and r0["rows"] == r1["rows"]
    # One process, same config and data: the same pseudo-labels and (up to float summation
    # order) the same final model.
    one = SelfTrainer(model=str(tiny_bert), max_rounds=1, output_dir=tmp_path / "one", config=FIT_CONFIG)
    one.fit(*FIT_DATA)
    assert 0 < len(one.pseudo_labels_) < 9
    assert r0["rows"] == one.pseudo_labels_["pool_row"].tolist() and r0["labels"] == one.pseudo_labels_["label"].tolist()
    np.testing.assert_allclose(np.array(r0["probs"]), one.predict_proba(TEXTS), atol=1e-4)
    run = tmp_path / "run"
    assert (run / "final" / "final.json").is_file() and len(pd.read_csv(run / "history.csv")) == 2
    assert not list(run.rglob(".tmp-*"))


if __name__ == "__main__":
    debug_launcher(WORKERS[sys.argv[1]], args=tuple(sys.argv[2:]), num_processes=2)


def test_accelerate_launch_cli_gives_the_one_process_pseudo_labels(tmp_path):
    """``accelerate launch --num_processes 2 -m pseudolabel run`` against plain ``pseudolabel run``."""
    import shutil

    import yaml

    from pseudolabel.testing import make_tiny_bert

    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher, "accelerate's launcher is installed with accelerate"
    tiny = make_tiny_bert(tmp_path / "tiny", dropout=0.0)
    labeled, pool, ev = FIT_DATA
    for name, frame in (("labeled", labeled), ("pool", pool), ("eval", ev)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    runs = {}
    for procs in (1, 2):
        config = {**FIT_CONFIG, "model": {**FIT_CONFIG["model"], "name": str(tiny)}, "output_dir": str(tmp_path / f"run{procs}"),
                  "data": {"labeled": str(tmp_path / "labeled.csv"), "unlabeled": str(tmp_path / "pool.csv"),
                           "eval": str(tmp_path / "eval.csv")}, "loop": {"max_rounds": 1}}
        (tmp_path / f"c{procs}.yaml").write_text(yaml.safe_dump(config))
        command = [sys.executable, "-m", "pseudolabel", "run", "--config", str(tmp_path / f"c{procs}.yaml")]
        if procs == 2:
            # On a machine without GPUs, --multi_gpu is accelerate's way to start local processes
            # (torchrun); pseudolabel then joins them over gloo on the CPU.
            command = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "pseudolabel", "run",
                       "--config", str(tmp_path / "c2.yaml")]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                                # the CPU path, also on a GPU machine (two processes on one GPU is refused)
                                env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
        assert result.returncode == 0, result.stderr[-3000:]
        runs[procs] = pd.read_parquet(tmp_path / f"run{procs}" / "rounds" / "round_000" / "pseudo_labels.parquet")
    assert [json.loads((tmp_path / f"run{p}" / "run.json").read_text())["environment"]["processes"] for p in (1, 2)] == [1, 2]
    assert len(runs[1]) > 0
    pd.testing.assert_frame_equal(runs[1][["pool_row", "label"]], runs[2][["pool_row", "label"]])
    np.testing.assert_allclose(runs[1]["confidence"], runs[2]["confidence"], atol=1e-4)
