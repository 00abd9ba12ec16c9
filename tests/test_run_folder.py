"""What accidents do to a run folder: a full disk mid-round, damaged or missing files, a lost
history.csv, readers beside a writer; and ``--set a=1 b=2``, ``--discard-from N``.

Runs are real (the tiny BERT, through the CLI in this process); each test works on a copy of a
run made once per module.
"""

import errno
import hashlib
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pseudolabel import SelfTrainer
from pseudolabel.cli import build_parser, main
from pseudolabel.errors import DamagedRunError, WriteError
from pseudolabel.state import RunState

from .conftest import REPO, topic_frame
from .test_lock import HOLD


@pytest.fixture(scope="module")
def made(tiny_bert, tmp_path_factory):
    """A config, and two runs of it: ``after-0`` stopped after round 0, ``done`` finished (rounds 0-2)."""
    base = tmp_path_factory.mktemp("run-folder")
    topic_frame(8, 0).to_csv(base / "lab.csv", index=False)
    topic_frame(20, 1).to_csv(base / "pool.csv", index=False)
    topic_frame(6, 2).to_csv(base / "dev.csv", index=False)
    cfg = base / "c.yaml"
    cfg.write_text(f"""
data: {{labeled: {base / 'lab.csv'}, unlabeled: {base / 'pool.csv'}, eval: {base / 'dev.csv'}}}
model: {{name: {tiny_bert}, max_length: 32}}
train: {{epochs: 2, min_steps: 1, max_steps: null, batch_size: 8, eval_batch_size: 16, learning_rate: 1.0e-3, mixed_precision: "no"}}
teacher: {{inner_rounds: 2}}
selection: {{threshold: 0.5, max_per_class: 8}}
loop: {{max_rounds: 2}}
""")
    assert cli(cfg, base / "after-0", "run-round") == 0
    shutil.copytree(base / "after-0", base / "done")
    assert cli(cfg, base / "done", "run") == 0
    assert sorted(p.name for p in (base / "done" / "rounds").iterdir()) == ["round_000", "round_001", "round_002"]
    return cfg, base


def cli(cfg, run, *args) -> int:
    return main(["-q", *args[:1], "--config", str(cfg), "--set", f"output_dir={run}", *args[1:]])


def copy_of(made, which, tmp_path):
    return shutil.copytree(made[1] / which, tmp_path / "run")


def last_error(capsys) -> str:
    """The CLI's one error line (earlier stderr lines are the datasets cache's progress bars)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("pseudolabel: error:") == 1, err
    return err.strip().splitlines()[-1]


def fingerprint(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# -- a full disk -----------------------------------------------------------------------------

def fail_parquet(monkeypatch, run):
    original = pd.DataFrame.to_parquet

    def to_parquet(self, path, *args, **kwargs):
        if "round_001" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


def fail_model(monkeypatch, run):
    from safetensors import SafetensorError

    from pseudolabel import trainer

    def save(self, path):  # what safetensors raises when the disk fills mid-file
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"\0" * 1000)
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    monkeypatch.setattr(trainer.Trainer, "save", save)


def fail_history(monkeypatch, run):
    from pseudolabel import state

    original = state.atomic_write_text

    def write(path, text):  # after round 1 is in place
        if path.name == "history.csv" and (run / "rounds" / "round_001").exists():
            path.with_name(".tmp-history.csv").write_text(text[:10])
            raise OSError(errno.EDQUOT, "Disk quota exceeded", str(path.with_name(".tmp-history.csv")))
        original(path, text)

    monkeypatch.setattr(state, "atomic_write_text", write)


def fail_scratch(monkeypatch, run):
    def open_memmap(path, *args, **kwargs):
        path.write_bytes(b"\x93NUMPY")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(np.lib.format, "open_memmap", open_memmap)


@pytest.mark.parametrize("inject, message", [
    (fail_parquet, r"round_001/pseudo_labels\.parquet: cannot write round 1 \(No space left on device\); the "
                   r"finished rounds are intact and the partial files were removed: free some space"),
    (fail_model, r"rounds/\.tmp-round_001: cannot write round 1 \(Error while serializing: .*StorageFull.*\); "
                 r"the finished rounds are intact and the partial files were removed"),
    (fail_history, r"\.tmp-history\.csv: cannot write history\.csv \(Disk quota exceeded\); the finished rounds "
                   r"are intact and the partial files were removed"),
    (fail_scratch, r"\.tmp-pool_probs-round_001\.npy: No space left on device; finished rounds are kept: free "
                   r"some space \(or make the folder writable\) and run the same command again to resume"),
])
def test_a_full_disk_mid_round_is_one_line_and_the_same_command_resumes(inject, message, made, tmp_path,
                                                                       monkeypatch, capsys):
    cfg, run = made[0], copy_of(made, "after-0", tmp_path)
    round_0 = fingerprint(run / "rounds" / "round_000")
    with monkeypatch.context() as patch:
        inject(patch, run)
        assert cli(cfg, run, "run-round") == 2
    line = last_error(capsys)
    assert line.startswith(f"pseudolabel: error: {run}/"), line
    assert re.search(message, line), line
    assert fingerprint(run / "rounds" / "round_000") == round_0, "the finished round is untouched"
    if inject is not fail_scratch:  # the CLI's last-resort line leaves them to the next run, as after a kill
        assert not list(run.rglob(".tmp-*")), "the partial files are removed"

    assert cli(cfg, run, "run-round") == 0, capsys.readouterr().err
    rounds = sorted(p.name for p in (run / "rounds").iterdir())
    assert rounds[:2] == ["round_000", "round_001"] and len(pd.read_csv(run / "history.csv")) == len(rounds)
    assert not list(run.rglob(".tmp-*"))


def test_a_new_folder_that_cannot_be_created_is_not_left_half_made(made, tmp_path, monkeypatch):
    from pseudolabel import state
    from pseudolabel.config import load_config

    def write(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(state, "atomic_write_text", write)
    config = load_config(made[0], [f"output_dir={tmp_path / 'new'}"])
    with pytest.raises(WriteError, match=r"config\.yaml: cannot create the run folder \(Read-only file system\); "
                                         "nothing was kept"):
        SelfTrainer(config=config).fit(made[1] / "lab.csv", made[1] / "pool.csv")
    assert not (tmp_path / "new").exists(), "a half-made folder would read as 'not a pseudolabel run' next time"


# -- damaged files ---------------------------------------------------------------------------

DAMAGE = [
    ("rounds/round_001/metrics.json", truncate, "truncated or not valid JSON"),
    ("rounds/round_001/metrics.json", lambda p: p.unlink(), "missing"),
    ("rounds/round_001/pseudo_labels.parquet", truncate, r"truncated or not a parquet file \(Parquet magic bytes"),
    ("rounds/round_001/pseudo_labels.parquet", lambda p: p.unlink(), "missing"),
    ("rounds/round_001/model/model.safetensors", truncate,
     r"truncated or damaged \(Error while deserializing header: incomplete metadata"),
    ("rounds/round_001/model/model.safetensors", lambda p: p.unlink(), "missing"),
    ("rounds/round_001/model/config.json", truncate, "truncated or not valid JSON"),
]


@pytest.mark.parametrize("name, damage, problem", DAMAGE, ids=[f"{n.split('/')[-1]}-{'cut' if d is truncate else 'gone'}"
                                                               for n, d, _ in DAMAGE])
def test_a_damaged_round_is_named_with_the_way_to_redo_it(name, damage, problem, made, tmp_path, capsys):
    cfg, run = made[0], copy_of(made, "done", tmp_path)
    damage(run / name)
    what_to_do = (r"; round 1 of this run is damaged: redo it and the rounds after it with `pseudolabel run-round "
                  r"--config <your config> --discard-from 1` \(or delete round_001 and the later rounds in "
                  f"{re.escape(str(run / 'rounds'))} by hand\\), or start over with --overwrite$")
    with pytest.raises(DamagedRunError, match=f"^{re.escape(str(run / name))}: {problem}.*{what_to_do}"):
        SelfTrainer.from_run(run)
    assert cli(cfg, run, "run") == 2
    assert re.fullmatch(f"pseudolabel: error: {re.escape(str(run / name))}: {problem}.*{what_to_do}",
                        last_error(capsys))


def test_a_gap_in_the_rounds_is_named(made, tmp_path):
    run = copy_of(made, "done", tmp_path)
    shutil.rmtree(run / "rounds" / "round_000")
    with pytest.raises(DamagedRunError, match=r"round_000: missing while round_001 exists; round 0 of this run is "
                                              r"damaged: .* --discard-from 0`"):
        RunState(run).finished_rounds()


def test_discard_from_redoes_the_damaged_round_and_keeps_the_earlier_ones(made, tmp_path, capsys):
    cfg, run = made[0], copy_of(made, "done", tmp_path)
    kept = {r: fingerprint(run / "rounds" / f"round_00{r}") for r in (0, 1)}
    truncate(run / "rounds" / "round_002" / "pseudo_labels.parquet")

    assert cli(cfg, run, "run-round", "--discard-from", "3") == 2
    assert last_error(capsys).endswith("has no round 3 or later (its rounds are 0-2); nothing to discard")
    assert cli(cfg, run, "run-round", "--discard-from", "2", "--set", "seed=7") == 2
    assert "belongs to a different config (seed: 0 -> 7)" in last_error(capsys)
    assert (run / "rounds" / "round_002").exists(), "nothing is discarded for another config's command"

    assert cli(cfg, run, "run-round", "--discard-from", "2") == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{run}: discarded round 2; running again from round 2"
    assert {r: fingerprint(run / "rounds" / f"round_00{r}") for r in (0, 1)} == kept
    st = SelfTrainer.from_run(run)
    assert st.n_rounds_ == 2 and len(st.history_) == 3 and st.termination_condition_ == "max_rounds"
    assert len(pd.read_csv(run / "history.csv")) == 3 and not list(run.rglob(".tmp-*"))


def test_a_damaged_final_model_is_rebuilt_from_the_rounds(made, tmp_path, capsys):
    cfg, run = made[0], copy_of(made, "done", tmp_path)
    final_round = json.loads((run / "final" / "final.json").read_text())["round"]
    truncate(run / "final" / "model.safetensors")
    with pytest.raises(DamagedRunError, match=r"final/model\.safetensors: truncated or damaged .*; final/ is "
                                              r"damaged: run the same `pseudolabel run --config <your config>` again"):
        SelfTrainer.from_run(run)
    assert cli(cfg, run, "run") == 0
    assert "all rounds are done" in capsys.readouterr().out
    assert SelfTrainer.from_run(run).final_round_ == final_round


@pytest.mark.parametrize("damage", [lambda p: p.unlink(), lambda p: p.write_text("round,n_lab")])
def test_history_csv_is_rebuilt_from_the_rounds_on_resume(damage, made, tmp_path):
    cfg, run = made[0], copy_of(made, "done", tmp_path)
    before = (run / "history.csv").read_text()
    damage(run / "history.csv")
    assert cli(cfg, run, "run") == 0, "a finished run runs no round, and still repairs its history"
    assert (run / "history.csv").read_text() == before


# -- readers and writers ---------------------------------------------------------------------

def test_readers_do_not_wait_for_a_writer(made, tmp_path, capsys):
    run = copy_of(made, "done", tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert SelfTrainer.from_run(run).final_round_ is not None
        assert main(["-q", "evaluate", "--run", str(run), "--input", str(made[1] / "dev.csv")]) == 0
    finally:
        holder.kill()
        holder.wait()


def test_several_pairs_after_one_set():
    args = build_parser().parse_args(["run", "--config", "c.yaml", "--set", "seed=1", "loop.max_rounds=5",
                                      "--overwrite", "--set", "selection.threshold=0.8"])
    assert args.overrides == ["seed=1", "loop.max_rounds=5", "selection.threshold=0.8"] and args.overwrite


def test_several_pairs_reach_the_config(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    assert main(["-q", "run", "--config", "experiments/ag_news_1k.yaml", "--set", f"output_dir={tmp_path / 'o'}",
                 "train.epochz=3"]) == 2
    assert "unknown config key 'train.epochz'" in capsys.readouterr().err
