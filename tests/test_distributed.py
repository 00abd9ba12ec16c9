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

    acc = make_accelerator("no")
    t = Trainer(model_dir, ["sports", "tech"], config=TrainConfig(eval_batch_size=8), max_length=32, accelerator=acc)
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
        st = SelfTrainer(model=model_dir, max_rounds=1, output_dir=Path(out_dir) / "run", config={
            "train": {"epochs": 1, "batch_size": 4, "mixed_precision": "no"}, "model": {"max_length": 32},
            "selection": {"threshold": 0.5}})
        st.fit(topic_frame(6, 0), topic_frame(9, 1).drop(columns="label"), eval=topic_frame(5, 2))
    finally:
        os.replace, os.mkdir, builtins.open = real_replace, real_mkdir, real_open
    assert st._learner.accelerator.num_processes == 2
    writes = [w for w in writes if w.startswith(str(out_dir))]  # torch makes its own cache folders
    (Path(out_dir) / f"writes_rank{rank}.json").write_text(json.dumps(
        {"writes": writes, "stop": st.termination_condition_, "rows": st.pseudo_labels_["pool_row"].tolist()}))


WORKERS = {"label": _label_in_processes, "fit": _fit_in_processes}


def launch(name, model_dir, out_dir):
    result = subprocess.run([sys.executable, "-m", "tests.test_distributed", name, model_dir, str(out_dir)],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def _classifier(tiny_bert, tmp_path):
    from pseudolabel.trainer import Trainer, make_accelerator

    t = Trainer(str(tiny_bert), ["sports", "tech"], config=TrainConfig(epochs=3, batch_size=8, learning_rate=1e-3,
                mixed_precision="no", eval_batch_size=8), max_length=32, accelerator=make_accelerator("no"))
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


def test_two_processes_fit_and_only_rank0_writes(tiny_bert, tmp_path):
    launch("fit", str(tiny_bert), tmp_path)
    r0 = json.loads((tmp_path / "writes_rank0.json").read_text())
    r1 = json.loads((tmp_path / "writes_rank1.json").read_text())
    assert r0["writes"] and r1["writes"] == []
    assert r0["stop"] == r1["stop"] is not None and r0["rows"] == r1["rows"]
    run = tmp_path / "run"
    assert (run / "final" / "final.json").is_file() and len(pd.read_csv(run / "history.csv")) == 2
    assert not list(run.rglob(".tmp-*"))


if __name__ == "__main__":
    debug_launcher(WORKERS[sys.argv[1]], args=tuple(sys.argv[2:]), num_processes=2)
