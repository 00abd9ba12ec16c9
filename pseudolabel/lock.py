"""One writer per run folder: an exclusive lock held by the operating system, and who holds it.

The lock is the file ``.NAME.lock`` beside the run folder ``NAME`` (``runs/.mine.lock`` for
``runs/mine``), not a file inside it: it can be taken before the folder exists, so two commands
started together on a new folder are told apart, and ``--overwrite`` deleting the folder cannot
delete a lock that a second writer would then re-create and also hold. The file is never
deleted, for the same reason: whoever locks it locks the same inode.

The operating system holds the lock (``flock`` through :mod:`filelock`) and drops it when the
process ends, however it ends, so a killed run never leaves a stale lock. Who holds it (process
id, host, since when) is written beside it in ``.NAME.lock.json``, only for the error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import datetime
from pathlib import Path

import filelock

from .errors import RunLockedError, WriteError


def lock_path(root: str | Path) -> Path:
    """The lock file of the run folder ``root``: ``.NAME.lock`` in the folder above it."""
    root = Path(root).resolve()
    return root.parent / f".{root.name}.lock"


@contextlib.contextmanager
def run_lock(root: str | Path):
    """Hold the run folder's lock for the ``with`` block, or raise :class:`RunLockedError` at once.

    Re-entrant within one thread (the CLI holds it around :meth:`SelfTrainer.fit`, which takes it
    again); another thread or process gets the error.

    Raises
    ------
    RunLockedError
        Another process (or thread) holds the lock; the message names it.
    WriteError
        The lock file cannot be created (the folder above the run folder is not writable).
    """
    path = lock_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one instance per path in this process, so a nested acquisition counts up instead of
        # opening a second descriptor that the first one's lock would refuse
        lock = filelock.FileLock(path, timeout=0, is_singleton=True)
        lock.acquire()
    except filelock.Timeout:
        raise RunLockedError(
            f"{root}: another pseudolabel process is writing this run folder ({_holder(path)}); "
            "wait for it to finish (or stop it), then run the command again"
        ) from None
    except OSError as exc:
        raise WriteError(
            f"{path}: cannot create the run folder's lock file ({exc.strerror or exc}); "
            "the folder above the run folder must be writable"
        ) from None
    try:
        if lock.lock_counter == 1:
            _write_holder(path)
        yield
    finally:
        lock.release()


def _holder_file(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _write_holder(path: Path) -> None:
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": datetime.now().astimezone().isoformat(timespec="seconds")}
    tmp = path.with_name(f".tmp-{path.name}.json")
    try:
        tmp.write_text(json.dumps(holder))
        os.replace(tmp, _holder_file(path))
    except OSError:
        # the note only serves another writer's error message; a full disk is reported by the
        # run's own writes, with what to do
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _holder(path: Path) -> str:
    """``process 123 on host-a, since 2025-01-02T03:04:05+00:00``, or why it is not known."""
    try:
        h = json.loads(_holder_file(path).read_text())
        return f"process {h['pid']} on {h['host']}, since {h['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its process id is not recorded yet"
