"""Crash safety: a real run killed (SIGKILL) or interrupted (SIGINT) at several points, then
resumed with the same command, ends exactly like an uninterrupted run.

Each run is a separate ``python -m tests.test_crash CONFIG POINT K`` process; POINT picks the
moment (the K-th optimizer step, labeling batch, model save, metrics write, round rename,
history write or final-model copy) at which the process kills itself.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .conftest import REPO, topic_frame

TIMINGS = ["train_seconds", "label_seconds", "teacher_seconds", "wall_seconds"]


def install_kill(point: str, k: int) -> None:
    import torch

    from pseudolabel import loop, state, trainer

    count = {"n": 0}

    def due() -> bool:
        count["n"] += 1
        return count["n"] == k

    def die(sig=signal.SIGKILL):
        if sig == signal.SIGINT:
            # What Python's default SIGINT handler does (pseudolabel installs none), raised right
            # here: a real signal is handled at the main thread's next bytecode check, which has
            # twice landed inside a __del__ that swallowed it (os.kill, then signal.raise_signal in
            # a fresh clone's make test), and the run went on.
            raise KeyboardInterrupt
        else:
            os.kill(os.getpid(), sig)

    def wrap(owner, name, before=None, after=None):
        original = getattr(owner, name)

        def hooked(*args, **kwargs):
            if before and before(*args, **kwargs):
                die()
            result = original(*args, **kwargs)
            if after and after(*args, **kwargs):
                die()
            return result

        setattr(owner, name, hooked)

    if point in ("train", "sigint"):
        original_step = torch.optim.AdamW.step

        def step(self, *args, **kwargs):
            if due():
                die(signal.SIGINT if point == "sigint" else signal.SIGKILL)
            return original_step(self, *args, **kwargs)

        torch.optim.AdamW.step = step
    elif point == "label":
        wrap(trainer, "_halving", before=lambda *a, **k: due())
    elif point == "save":
        wrap(trainer.Trainer, "save", after=lambda *a, **k: due())
    elif point == "metrics":
        def half_write(path, text):
            if due():
                path.with_name(f".tmp-{path.name}").write_text(text[: len(text) // 2])
                die()
            state.atomic_write_text(path, text)

        loop.atomic_write_text = half_write
    elif point == "rename":
        wrap(os, "replace", before=lambda src, dst: os.path.basename(dst).startswith("round_") and due())
    elif point == "history":
        wrap(state.RunState, "write_history", before=lambda *a, **k: due())
    elif point == "final":
        wrap(state.shutil, "copytree", after=lambda *a, **k: due())
    else:
        raise ValueError(point)


@pytest.fixture(scope="module")
def crash_config(tiny_bert, tmp_path_factory):
    data = tmp_path_factory.mktemp("crash-data")
    topic_frame(8, 0).to_csv(data / "lab.csv", index=False)
    topic_frame(20, 1).to_csv(data / "pool.csv", index=False)
    topic_frame(6, 2).to_csv(data / "dev.csv", index=False)
    cfg = data / "c.yaml"
    cfg.write_text(f"""
data: {{labeled: {data / 'lab.csv'}, unlabeled: {data / 'pool.csv'}, eval: {data / 'dev.csv'}}}
model: {{name: {tiny_bert}, max_length: 32}}
train: {{epochs: 2, min_steps: 1, max_steps: null, batch_size: 8, eval_batch_size: 16, learning_rate: 1.0e-3, mixed_precision: "no"}}
teacher: {{inner_rounds: 2}}
selection: {{threshold: 0.5, max_per_class: 8}}
loop: {{max_rounds: 2}}
""")
    return cfg


def cli(cfg, out, point=None, k=0):
    args = [sys.executable, "-m", "tests.test_crash", str(cfg), str(out)] + ([point, str(k)] if point else [])
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def outcome(out):
    from pseudolabel import SelfTrainer

    history = pd.read_csv(out / "history.csv").drop(columns=TIMINGS)
    taken = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("rounds/round_*/pseudo_labels.parquet"))])
    texts = topic_frame(6, 2)["text"].tolist()
    return history, taken.reset_index(drop=True), SelfTrainer.from_run(out).predict_proba(texts)


@pytest.fixture(scope="module")
def reference(crash_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    result = cli(crash_config, out)
    assert result.returncode == 0, result.stderr[-2000:]
    history, taken, probs = outcome(out)
    assert len(history) == 3 and min(history["n_selected"].tolist()[:2]) > 0
    return history, taken, probs


@pytest.mark.parametrize("point, k", [
    ("train", 6),      # round 1, mid-training (round 0 has 4 optimizer steps)
    ("label", 11),     # round 1, first pool batch (round 0: 1 eval, 3 pool, 1 gold-features batch, and the
                       # pretrained embeddings of 1 gold and 3 pool batches; round 1: 1 eval)
    ("save", 2),       # round 1's model saved, its pseudo-labels and metrics not yet
    ("metrics", 2),    # round 1's metrics.json half written
    ("rename", 2),     # round 1 complete in its temporary folder, not yet renamed into place
    ("history", 2),    # round 1 in place, history.csv not yet updated
    ("final", 1),      # final model copied, not yet renamed into place
    ("sigint", 6),     # Ctrl-C in round 1's training
])
def test_killed_run_resumes_to_the_same_result(point, k, crash_config, reference, tmp_path):
    out = tmp_path / "run"
    killed = cli(crash_config, out, point, k)
    if point == "sigint":
        assert killed.returncode == 130
        assert killed.stderr.strip().splitlines()[-1] == (
            "pseudolabel: interrupted; finished rounds are kept, run the same command to resume")
    else:
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (out / "final" / "final.json").is_file() or point == "final"
    resumed = cli(crash_config, out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history, taken, probs = outcome(out)
    pd.testing.assert_frame_equal(history, reference[0])
    pd.testing.assert_frame_equal(taken, reference[1])
    np.testing.assert_array_equal(probs, reference[2])
    assert not list(out.rglob(".tmp-*"))


if __name__ == "__main__":
    from pseudolabel.cli import main

    config, out, *kill = sys.argv[1:]
    if kill:
        install_kill(kill[0], int(kill[1]))
    sys.exit(main(["run", "--config", config, "--set", f"output_dir={out}"]))
