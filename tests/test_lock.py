"""One writer per run folder: the lock across real processes, its holder in the message, no stale lock."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from pseudolabel import SelfTrainer
from pseudolabel.cli import main
from pseudolabel.errors import RunLockedError
from pseudolabel.lock import lock_path, run_lock
from pseudolabel.state import RunState

from .conftest import REPO, topic_frame

HOLD = "import sys; from pseudolabel.lock import run_lock\nwith run_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()"


@pytest.fixture
def holder(tmp_path):
    """Another process that holds the lock of ``tmp_path / 'run'`` until the test ends (or kills it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_stops_at_once_naming_the_holder(holder, tmp_path, tiny_bert, capsys):
    run = tmp_path / "run"
    data = tmp_path / "data"
    data.mkdir()
    topic_frame(4, 0).to_csv(data / "lab.csv", index=False)
    topic_frame(4, 1).to_csv(data / "pool.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"output_dir: {run}\ndata: {{labeled: {data / 'lab.csv'}, unlabeled: {data / 'pool.csv'}}}\n"
                   f"model: {{name: {tiny_bert}, max_length: 32}}\n")

    assert main(["-q", "run-round", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]  # the lines before are the datasets cache's progress bars
    assert "Traceback" not in err and err.count("pseudolabel: error:") == 1
    assert line.startswith(f"pseudolabel: error: {run}: another pseudolabel process is writing this run folder "
                          f"(process {holder.pid} on ")
    assert line.endswith("wait for it to finish (or stop it), then run the command again")
    assert not run.exists(), "the second writer touched nothing"

    with pytest.raises(RunLockedError, match=f"process {holder.pid} on "):
        SelfTrainer(model=str(tiny_bert), output_dir=run).fit(topic_frame(4, 0), topic_frame(4, 1))
    assert not run.exists()


def test_a_killed_holder_leaves_no_stale_lock(holder, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RunLockedError):
        with run_lock(run):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with run_lock(run):
        note = json.loads(lock_path(run).with_name(".run.lock.json").read_text())
        assert note["pid"] == os.getpid()


def test_only_the_main_process_takes_the_lock(holder, tmp_path):
    with RunState(tmp_path / "run", is_main=False).lock():
        pass  # the other accelerate processes rely on the main one's lock and the barrier
    with pytest.raises(RunLockedError):
        with RunState(tmp_path / "run").lock():
            pass


def test_reentrant_in_one_thread_exclusive_across_threads(tmp_path):
    run = tmp_path / "run"
    errors = []

    def other_thread():
        try:
            with run_lock(run):
                pass
        except RunLockedError as exc:
            errors.append(exc)

    with run_lock(run):
        with run_lock(run):  # the CLI holds it around fit(), which takes it again
            pass
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(errors) == 1
    with run_lock(run):  # and free again once the outer block ends
        pass


def test_the_lock_lives_beside_the_folder_so_overwrite_cannot_delete_it(tmp_path):
    assert lock_path(tmp_path / "runs" / "mine") == tmp_path / "runs" / ".mine.lock"
    with run_lock(tmp_path / "runs" / "mine"):  # before the folder exists, and its parent
        assert (tmp_path / "runs" / ".mine.lock").is_file() and not (tmp_path / "runs" / "mine").exists()
