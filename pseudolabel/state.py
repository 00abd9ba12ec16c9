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
``round_NNN`` folder is always whole: it is the unit that resume skips. One process writes at a time
(:mod:`pseudolabel.lock`, the file ``.DIR.lock`` beside the folder); readers take no lock.

What a disk fault can still do is checked, cheaply, whenever the rounds are read: each finished
round's ``metrics.json`` parses, its parquet footer reads and its model's safetensors headers
cover their files. A damaged round is named with the way to redo it (``--discard-from``);
``history.csv`` and ``final/`` are derived from the rounds and rebuilt when a run resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Callable, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors import SafetensorError, safe_open

from .config import Config
from .data import LabelSet
from .errors import DamagedRunError, RunStateError, WriteError, one_line
from .lock import run_lock

logger = logging.getLogger(__name__)

ROUND_GLOB = "round_[0-9][0-9][0-9]"
MAY_CHANGE = ("output_dir", "data.extra_labeled")
"""Config keys a run may change between rounds: where it lives, and labels added by review."""


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
        data set's run (unless ``overwrite``), or is a non-empty folder that is not a run;
        :class:`DamagedRunError` when a finished round is damaged; :class:`WriteError` when a
        new folder cannot be written (nothing of it is kept).
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
            self._check_owner(self._run_meta(), cfg_dict, data_fingerprint)
        self.barrier()  # every process has looked at the folder before any process changes it
        if resume:
            self._clean_partial()
            problem = self._final_problem() if (self.root / "final").exists() else None
            if problem and self.is_main:  # derived from a round: the run's end writes it again
                logger.warning("%s: %s; final/ is rebuilt from the rounds", *problem)
                shutil.rmtree(self.root / "final")
            self.write_history()  # checks every finished round, and repairs a damaged or missing history.csv
        elif self.is_main:
            try:
                if existing:
                    shutil.rmtree(self.root)
                (self.root / "rounds").mkdir(parents=True, exist_ok=True)
                atomic_write_text(self.root / "config.yaml", config.to_yaml())
                atomic_write_text(self.root / "labels.json", label_set.to_json())
                atomic_write_text(meta, json.dumps(
                    {"config": cfg_dict, "data_fingerprint": data_fingerprint, "environment": environment()}, indent=2
                ))
            except OSError as exc:
                # half a new folder (no run.json) would read as "not a pseudolabel run" next time
                shutil.rmtree(self.root, ignore_errors=True)
                raise WriteError(f"{exc.filename or self.root}: cannot create the run folder ({one_line(exc)}); "
                                 "nothing was kept: free some space (or make the folder writable) and run the "
                                 "same command again") from None
        self.barrier()

    def _run_meta(self) -> dict:
        return self._read_json(self.root / "run.json", "this run folder cannot be resumed or read: start over in "
                                                       "another output_dir, or overwrite it (--overwrite)")

    def _read_json(self, path: Path, what_to_do: str):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DamagedRunError(f"{path}: missing; {what_to_do}") from None
        except (OSError, ValueError):
            raise DamagedRunError(f"{path}: truncated or not valid JSON; {what_to_do}") from None

    def _check_owner(self, meta: dict, cfg: dict, data_fingerprint: str) -> None:
        self._check_config(meta, cfg)
        if meta["data_fingerprint"] != data_fingerprint:
            raise RunStateError(
                f"{self.root}: this run folder was made from different data (texts or labels changed); "
                "use another output_dir, or overwrite it (--overwrite / overwrite=True)"
            )

    def _check_config(self, meta: dict, cfg: dict) -> None:
        old, new = flatten(meta["config"]), flatten(cfg)
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and k not in MAY_CHANGE]
        if changed:
            diffs = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:4])
            raise RunStateError(
                f"{self.root}: this run folder belongs to a different config ({diffs}); "
                "use another output_dir, or overwrite it (--overwrite / overwrite=True)"
            )

    def _clean_partial(self) -> None:
        """Remove what a killed process left half-written."""
        if not self.is_main:
            return
        for leftover in self.root.glob("**/.tmp-*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()

    @contextlib.contextmanager
    def _writes(self, what: str, where: Path):
        """Turn a failed write of ``what`` (disk full, quota, read-only filesystem) into one line.

        The temporary files are removed first, so what is left is the finished rounds, whole,
        and the same command resumes from them once the cause is fixed.
        """
        try:
            yield
        except (OSError, SafetensorError) as exc:
            left = []
            if self.is_main:
                with contextlib.suppress(OSError):  # a read-only disk keeps them until the next run
                    self._clean_partial()
                left = list(self.root.glob("**/.tmp-*"))
            cleaned = (f"; {len(left)} partial file(s) are left and the next run removes them" if left
                       else " and the partial files were removed")
            raise WriteError(
                f"{getattr(exc, 'filename', None) or where}: cannot write {what} ({one_line(exc)}); the finished "
                f"rounds are intact{cleaned}: free some space (or make the folder writable) and run the same "
                "command again to resume"
            ) from None

    def discard_from(self, r: int, config: Config) -> list[int]:
        """Remove round ``r``, every later round and ``final/``, damaged or not, so the next run redoes them.

        The folder must hold a run of ``config``. Each folder is renamed out of the way before it is
        deleted, so a reader sees a round whole or not at all. Returns the rounds removed.
        """
        if not (self.root / "run.json").is_file():
            raise RunStateError(f"{self.root}: not a pseudolabel run folder (no run.json); nothing to discard")
        self._check_config(self._run_meta(), config.to_dict())
        rounds = sorted((self.root / "rounds").glob(ROUND_GLOB))
        doomed = [d for d in rounds if int(d.name[len("round_"):]) >= r]
        if not doomed:
            have = f"its rounds are 0-{len(rounds) - 1}" if rounds else "it has no rounds yet"
            raise RunStateError(f"--discard-from {r}: {self.root} has no round {r} or later ({have}); "
                                "nothing to discard")
        self.barrier()
        if self.is_main:
            for folder in [self.root / "final", *reversed(doomed)]:  # the last round first: no gap is ever seen
                if folder.exists():
                    gone = folder.with_name(f".tmp-discarded-{folder.name}")
                    os.replace(folder, gone)
                    shutil.rmtree(gone)
        self.barrier()
        self.write_history()
        return [int(d.name[len("round_"):]) for d in doomed]

    def cached_array(self, name: str, shape: tuple[int, ...], compute: Callable[[np.ndarray | None], np.ndarray]
                     ) -> np.ndarray:
        """``DIR/embeddings/NAME.npy``: computed once per run, memory-mapped read-only after.

        ``compute(out)`` fills ``out`` (a memory-mapped file on the main process, None on the
        others, which keep the array it returns). A file of another shape (a damaged or foreign
        one) is computed again.
        """
        path = self.root / "embeddings" / f"{name}.npy"
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                cached = np.load(path, mmap_mode="r")
                if cached.shape == tuple(shape):
                    return cached
        self.barrier()  # every process has looked before the main process rewrites it
        if not self.is_main:
            values = compute(None)
            self.barrier()
            return values
        tmp = self.scratch_file(f"embeddings-{name}.npy")
        with self._writes(f"the {name} embeddings", path):
            path.parent.mkdir(exist_ok=True)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=tuple(shape))
            compute(out)
            out.flush()
            del out
            os.replace(tmp, path)
        self.barrier()
        return np.load(path, mmap_mode="r")

    # -- gold labels added between rounds (pseudolabel review / add-labels) -------------------
    def extra_labels(self) -> pd.DataFrame:
        """Gold labels added to the run after it started: ``pool_row``, ``label``, ``source``, ``added``."""
        path = self.root / "extra_labels.parquet"
        if not path.is_file():
            return pd.DataFrame({"pool_row": pd.Series(dtype="int64"), "label": [], "source": [], "added": []})
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DamagedRunError(f"{path}: unreadable ({one_line(exc)}); restore it from a copy, or delete it "
                                  "to drop the labels added by review") from None

    def add_extra_labels(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Append checked rows to ``extra_labels.parquet`` (written whole, then renamed); returns all of them."""
        merged = pd.concat([self.extra_labels(), rows], ignore_index=True)
        if self.is_main:
            path = self.root / "extra_labels.parquet"
            tmp = path.with_name(f".tmp-{path.name}")
            with self._writes("the added labels", path):
                merged.to_parquet(tmp, index=False)
                os.replace(tmp, path)
        self.barrier()
        return merged

    def scratch_file(self, name: str) -> Path:
        """A path for a working file inside the run folder; removed by the next resume if left behind."""
        return self.root / f".tmp-{name}"

    def label_set(self) -> LabelSet:
        path = self.root / "labels.json"
        if not path.is_file():
            raise RunStateError(f"{self.root}: not a pseudolabel run folder (no labels.json)")
        try:
            return LabelSet.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            raise DamagedRunError(f"{path}: truncated or not the classes of a run; this run folder cannot be used: "
                                  "start over in another output_dir, or overwrite it (--overwrite)") from None

    # -- rounds -------------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.root / "rounds" / f"round_{r:03d}"

    def finished_rounds(self) -> list[dict]:
        """Metrics of every complete round, in order, each round's files checked first.

        Raises :class:`DamagedRunError` at the first round with a missing, truncated or
        unreadable file (or a gap in the numbering), naming the file and how to redo the round.
        The check reads only JSON, the parquet footer and the safetensors headers: milliseconds.
        """
        rounds = []
        for r, folder in enumerate(sorted((self.root / "rounds").glob(ROUND_GLOB))):
            if folder != self.round_dir(r):
                self._damaged(r, self.round_dir(r), f"missing while {folder.name} exists")
            rounds.append(self._checked_round(r))
        return rounds

    def _checked_round(self, r: int) -> dict:
        folder = self.round_dir(r)
        path = folder / "metrics.json"
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._damaged(r, path, "missing")
        except (OSError, ValueError):
            self._damaged(r, path, "truncated or not valid JSON")
        if not isinstance(metrics, dict) or metrics.get("round") != r:
            self._damaged(r, path, f"not the metrics of round {r}")
        path = folder / "pseudo_labels.parquet"
        try:
            pq.read_metadata(path)
        except FileNotFoundError:
            self._damaged(r, path, "missing")
        except (OSError, ValueError, pa.ArrowException) as exc:
            self._damaged(r, path, f"truncated or not a parquet file ({one_line(exc)})")
        problem = model_problem(folder / "model")
        if problem:
            self._damaged(r, *problem)
        return metrics

    def _damaged(self, r: int, path: Path, problem: str) -> NoReturn:
        raise DamagedRunError(
            f"{path}: {problem}; round {r} of this run is damaged: redo it and the rounds after it with "
            f"`pseudolabel run-round --config <your config> --discard-from {r}` (or delete "
            f"{self.round_dir(r).name} and the later rounds in {self.root / 'rounds'} by hand), or start over "
            "with --overwrite"
        )

    def selections(self, rounds: range) -> pd.DataFrame:
        """The pseudo-labels taken in ``rounds``, one row per pool row."""
        frames = []
        for r in rounds:
            path = self.round_dir(r) / "pseudo_labels.parquet"
            try:
                frames.append(pd.read_parquet(path))
            except (OSError, ValueError, pa.ArrowException) as exc:  # damaged inside, past the footer check
                self._damaged(r, path, f"unreadable ({one_line(exc)})")
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {"pool_row": pd.Series(dtype="int64"), "label": [], "confidence": pd.Series(dtype="float64")}
        )

    @contextlib.contextmanager
    def writing_round(self, r: int):
        """Yield a temporary folder for round ``r``; on a clean exit it becomes ``round_NNN``.

        A failed write (:class:`WriteError`) removes the temporary folder and leaves the finished
        rounds as they were.
        """
        tmp = self.root / "rounds" / f".tmp-round_{r:03d}"
        with self._writes(f"round {r}", tmp):
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
        """Rewrite ``history.csv`` from the finished rounds (it is never read back, only rebuilt)."""
        history = history_frame(self.finished_rounds())
        if self.is_main:
            with self._writes("history.csv", self.root / "history.csv"):
                atomic_write_text(self.root / "history.csv", history.to_csv(index=False))
        return history

    # -- final model ----------------------------------------------------------------------
    def write_final(self, r: int, reason: str) -> None:
        """Make ``final/`` a copy of round ``r``'s model (hard links where the disk allows)."""
        if self.is_main:
            final, tmp = self.root / "final", self.root / ".tmp-final"
            with self._writes("the final model", tmp):
                if tmp.exists():
                    shutil.rmtree(tmp)
                shutil.copytree(self.round_dir(r) / "model", tmp, copy_function=_link_or_copy)
                atomic_write_text(tmp / "final.json", json.dumps({"round": r, "reason": reason}, indent=2))
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
        self.barrier()

    def final_model_dir(self) -> Path:
        """``final/``, checked like a round's model; :class:`DamagedRunError` names a damaged file."""
        final = self.root / "final"
        if not (final / "final.json").is_file():
            raise RunStateError(
                f"{self.root}: no final model yet; finish the run first (pseudolabel run --config ...)"
            )
        problem = self._final_problem()
        if problem:
            raise DamagedRunError(
                f"{problem[0]}: {problem[1]}; final/ is damaged: run the same `pseudolabel run --config <your "
                "config>` again, which rebuilds it from the rounds"
            )
        return final

    def _final_problem(self) -> tuple[Path, str] | None:
        path = self.root / "final" / "final.json"
        try:
            if not isinstance(json.loads(path.read_text(encoding="utf-8"))["round"], int):
                raise ValueError
        except FileNotFoundError:
            return path, "missing"
        except (OSError, ValueError, KeyError, TypeError):
            return path, "truncated or not valid JSON"
        return model_problem(self.root / "final")


def model_problem(folder: Path) -> tuple[Path, str] | None:
    """The first missing, truncated or unreadable file of a saved model, as ``(path, problem)``.

    Reads ``config.json`` and each safetensors header (which must cover its file exactly), not
    the weights. A folder without ``config.json`` or weights is some other learner's format (the
    loop tests' fake learner), and only has to be there.
    """
    if not folder.is_dir() or not any(folder.iterdir()):
        return folder, "missing or empty"
    weights = sorted(folder.glob("*.safetensors"))
    config = folder / "config.json"
    if not weights and not config.exists():
        return None
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config, "missing"
    except (OSError, ValueError):
        return config, "truncated or not valid JSON"
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError):
            return index, "truncated or not a safetensors index"
        weights += [folder / s for s in shards if not (folder / s).is_file()]
    if not weights:
        return folder / "model.safetensors", "missing"
    for path in weights:
        try:
            with safe_open(path, "np"):
                pass
        except FileNotFoundError:
            return path, "missing"
        except (OSError, SafetensorError) as exc:
            return path, f"truncated or damaged ({one_line(exc)})"
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def history_frame(rounds: list[dict]) -> pd.DataFrame:
    """One row per round; per-class selection counts become ``selected_<class>`` columns."""
    rows = []
    for m in rounds:
        # nested numbers stay in metrics.json; the table gets their flat parts
        row = {k: v for k, v in m.items() if k not in ("selected_per_class", "eval_confusion_matrix", "view_accuracy")}
        row.update({f"selected_{name}": n for name, n in m.get("selected_per_class", {}).items()})
        row.update({f"view_accuracy_{name}": v for name, v in m.get("view_accuracy", {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)
