"""The on-disk run folder: layout, atomic writes, finished rounds, history and the final model.

Layout (``DIR`` is the run's ``output_dir``)::

    DIR/config.yaml                     resolved configuration
    DIR/run.json                        config and data fingerprints, versions, machine
    DIR/labels.json                     the classes, in class-index order
    DIR/rounds/round_NNN/model/         that round's classifier (Hugging Face format)
    DIR/rounds/round_NNN/pseudo_labels.parquet   rows that round's model selected
    DIR/rounds/round_NNN/metrics.json   that round's numbers and, on the last, why it stopped
    DIR/history.csv                     one row per finished round
    DIR/final/                          the chosen round's model, plus final.json saying why

A round is written into ``rounds/.tmp-round_NNN`` and renamed into place when complete, so a
``round_NNN`` folder is always whole: it is the unit that resume skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import Config
from .data import LabelSet
from .errors import RunStateError
from .lock import run_lock

ROUND_GLOB = "round_[0-9][0-9][0-9]"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def environment() -> dict:
    """Library versions and machine, so two runs that differ can be told apart."""
    import accelerate
    import datasets
    from accelerate.state import PartialState
    import sklearn
    import torch
    import transformers

    from . import __version__

    return {
        "pseudolabel": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "accelerate": accelerate.__version__,
        "datasets": datasets.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__,
        "pandas": pd.__version__, "machine": platform.machine(), "system": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "processes": PartialState().num_processes if PartialState._shared_state else 1,
    }


def flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


class RunState:
    """Reads and writes one run folder. Only the main process writes; the others wait.

    Parameters
    ----------
    root : path
        The run folder.
    is_main : bool
        Whether this process writes.
    barrier : callable
        Called after each write so other processes see complete files (accelerate's
        ``wait_for_everyone`` under a launcher; a no-op alone).
    """

    def __init__(self, root: str | Path, *, is_main: bool = True, barrier: Callable[[], None] = lambda: None):
        self.root = Path(root)
        self.is_main = is_main
        self.barrier = barrier

    # -- creation and ownership ---------------------------------------------------------
    def lock(self):
        """A context manager holding the run folder's writer lock (:func:`pseudolabel.lock.run_lock`).

        Only the main process takes it: the others write nothing, and wait on the barrier.
        """
        return run_lock(self.root) if self.is_main else contextlib.nullcontext()

    def open(self, config: Config, data_fingerprint: str, label_set: LabelSet, *, overwrite: bool = False) -> None:
        """Create the folder for ``config``, or check that an existing one belongs to it.

        Raises :class:`RunStateError` when the folder holds another config's or another
        data set's run (unless ``overwrite``), or is a non-empty folder that is not a run.
        """
        meta = self.root / "run.json"
        cfg_dict = config.to_dict()
        existing = self.root.exists() and any(self.root.iterdir())
        if existing and not meta.is_file():
            raise RunStateError(
                f"{self.root}: the folder exists and is not a pseudolabel run; choose another output_dir"
            )
        resume = existing and not overwrite
        if resume:
            self._check_owner(json.loads(meta.read_text()), cfg_dict, data_fingerprint)
        self.barrier()  # every process has looked at the folder before any process changes it
        if resume:
            self._clean_partial()
        elif self.is_main:
            if existing:
                shutil.rmtree(self.root)
            (self.root / "rounds").mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.root / "config.yaml", config.to_yaml())
            atomic_write_text(self.root / "labels.json", label_set.to_json())
            atomic_write_text(meta, json.dumps(
                {"config": cfg_dict, "data_fingerprint": data_fingerprint, "environment": environment()}, indent=2
            ))
        self.barrier()

    def _check_owner(self, meta: dict, cfg: dict, data_fingerprint: str) -> None:
        old, new = flatten(meta["config"]), flatten(cfg)
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and k != "output_dir"]
        if changed:
            diffs = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:4])
            raise RunStateError(
                f"{self.root}: this run folder belongs to a different config ({diffs}); "
                "use another output_dir, or overwrite it (--overwrite / overwrite=True)"
            )
        if meta["data_fingerprint"] != data_fingerprint:
            raise RunStateError(
                f"{self.root}: this run folder was made from different data (texts or labels changed); "
                "use another output_dir, or overwrite it (--overwrite / overwrite=True)"
            )

    def _clean_partial(self) -> None:
        """Remove what a killed process left half-written."""
        if not self.is_main:
            return
        for leftover in self.root.glob("**/.tmp-*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()

    def scratch_file(self, name: str) -> Path:
        """A path for a working file inside the run folder; removed by the next resume if left behind."""
        return self.root / f".tmp-{name}"

    def label_set(self) -> LabelSet:
        path = self.root / "labels.json"
        if not path.is_file():
            raise RunStateError(f"{self.root}: not a pseudolabel run folder (no labels.json)")
        return LabelSet.from_json(path.read_text())

    # -- rounds -------------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.root / "rounds" / f"round_{r:03d}"

    def finished_rounds(self) -> list[dict]:
        """Metrics of every complete round, in order."""
        dirs = sorted((self.root / "rounds").glob(ROUND_GLOB))
        return [json.loads((d / "metrics.json").read_text()) for d in dirs]

    def selections(self, rounds: range) -> pd.DataFrame:
        """The pseudo-labels taken in ``rounds``, one row per pool row."""
        frames = [pd.read_parquet(self.round_dir(r) / "pseudo_labels.parquet") for r in rounds]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {"pool_row": pd.Series(dtype="int64"), "label": [], "confidence": pd.Series(dtype="float64")}
        )

    @contextlib.contextmanager
    def writing_round(self, r: int):
        """Yield a temporary folder for round ``r``; on a clean exit it becomes ``round_NNN``."""
        tmp = self.root / "rounds" / f".tmp-round_{r:03d}"
        if self.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self.barrier()
        yield tmp
        self.barrier()
        if self.is_main:
            os.replace(tmp, self.round_dir(r))
        self.barrier()

    def write_history(self) -> pd.DataFrame:
        history = history_frame(self.finished_rounds())
        if self.is_main:
            atomic_write_text(self.root / "history.csv", history.to_csv(index=False))
        return history

    # -- final model ----------------------------------------------------------------------
    def write_final(self, r: int, reason: str) -> None:
        """Make ``final/`` a copy of round ``r``'s model (hard links where the disk allows)."""
        if self.is_main:
            final, tmp = self.root / "final", self.root / ".tmp-final"
            if tmp.exists():
                shutil.rmtree(tmp)
            shutil.copytree(self.round_dir(r) / "model", tmp, copy_function=_link_or_copy)
            atomic_write_text(tmp / "final.json", json.dumps({"round": r, "reason": reason}, indent=2))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        self.barrier()

    def final_model_dir(self) -> Path:
        final = self.root / "final"
        if not (final / "final.json").is_file():
            raise RunStateError(
                f"{self.root}: no final model yet; finish the run first (pseudolabel run --config ...)"
            )
        return final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def history_frame(rounds: list[dict]) -> pd.DataFrame:
    """One row per round; per-class selection counts become ``selected_<class>`` columns."""
    rows = []
    for m in rounds:
        row = {k: v for k, v in m.items() if k != "selected_per_class"}
        row.update({f"selected_{name}": n for name, n in m.get("selected_per_class", {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)
