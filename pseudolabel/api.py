"""The Python API: :class:`SelfTrainer`, a meta-estimator in the spirit of scikit-learn's."""

from __future__ import annotations

import copy
import json
import logging
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .config import Config, load_config
from .data import LabelSet, TableLike, load_inputs
from .errors import ConfigError, DataError, RunStateError
from .loop import run_rounds
from .state import RunState, history_frame

logger = logging.getLogger(__name__)


def tracker_config(cfg: Config) -> dict:
    """The config as trackers take hyper-parameters: flat, and only numbers, strings and booleans."""
    from .state import flatten

    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flatten(cfg.to_dict()).items()}


def round_scalars(m: dict) -> dict:
    """A round's metrics as tracker scalars: its numbers, nested ones flattened (``view_accuracy/student``)."""
    from .state import flatten

    return {k.replace(".", "/"): float(v) for k, v in flatten(m).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "round"}


def with_added_labels(inputs, state: RunState):
    """``inputs`` with the gold labels added to the run folder between rounds."""
    extra = state.extra_labels()
    return inputs.with_gold(extra["pool_row"].to_numpy(dtype=np.int64), extra["label"].tolist())


class SelfTrainer:
    """Self-training of a pretrained text encoder from a few labels and a pool of unlabeled texts.

    Round 0 fine-tunes the encoder on the labeled rows. Each later round labels the pool with
    the previous round's model, keeps the rows its selection strategy trusts, and trains a new
    student on labeled + selected rows. Every round is saved under ``output_dir`` as it
    finishes; calling :meth:`fit` again on the same folder resumes where it stopped.

    The constructor only stores its arguments; everything is checked in :meth:`fit`.

    Parameters
    ----------
    model : str, optional
        ``"minilm"`` (the bundled all-MiniLM-L6-v2), a Hugging Face model id, or a local folder.
        Defaults to ``config``'s ``model.name``, itself ``"minilm"`` by default.
    threshold : float, optional
        Select the pool rows whose top class probability is strictly above this (selection
        strategy ``threshold``) instead of the default curriculum to the whole pool.
    max_rounds : int, optional
        Self-training rounds after round 0; ``0`` is exactly the supervised baseline
        (default: ``config``'s, itself 3 by default).
    output_dir : str or Path, optional
        The run folder; a new temporary folder when omitted.
    seed : int, optional
        Seeds data order, head initialisation and dropout in every round (default: ``config``'s, 0).
    config : Config, dict or path, optional
        Every other setting (see ``experiments/*.yaml``); the arguments above take precedence.
    overwrite : bool, default False
        Replace a run folder that holds a run of a different config or data.

    Attributes
    ----------
    classes_ : ndarray
        The labels, as given, in class-index order (the columns of :meth:`predict_proba`).
    label_set_ : LabelSet
        Maps labels as given to class indices (``encode``) and back (``decode``).
    history_ : pandas.DataFrame
        One row per finished round (also ``history.csv``).
    pseudo_labels_ : pandas.DataFrame
        Every pseudo-label taken: ``pool_row``, ``text``, ``label``, ``confidence``, ``round``, ``probs`` (all class probabilities).
    n_rounds_ : int
        Self-training rounds run after round 0.
    rounds_run_ : int
        Rounds the last :meth:`fit` call ran (0 when the run was already finished).
    termination_condition_ : str or None
        ``"max_rounds"``, ``"no_change"``, ``"all_labeled"`` or ``"patience"``; ``None`` while unfinished.
    final_round_ : int
        The round whose model :meth:`predict` uses.
    config_ : Config
        The resolved configuration.

    Examples
    --------
    >>> st = SelfTrainer(output_dir="runs/mine", seed=0)
    >>> st.fit(labeled, unlabeled, eval=dev, text_column="question", label_column="topic")  # doctest: +SKIP
    >>> st.predict(["Who won the cup final?"])  # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, threshold: float | None = None, max_rounds: int | None = None,
                 output_dir: str | Path | None = None, seed: int | None = None,
                 config: Config | dict | str | Path | None = None, overwrite: bool = False):
        self.model = model
        self.threshold = threshold
        self.max_rounds = max_rounds
        self.output_dir = output_dir
        self.seed = seed
        self.config = config
        self.overwrite = overwrite

    def _resolve_config(self) -> Config:
        if isinstance(self.config, Config):
            cfg = copy.deepcopy(self.config)
        elif isinstance(self.config, dict):
            cfg = Config.from_dict(self.config, where="SelfTrainer(config=...)")
        elif isinstance(self.config, (str, Path)):
            cfg = load_config(self.config)
        elif self.config is None:
            cfg = Config()
        else:
            raise ConfigError(f"config: expected a Config, a dict or a YAML path, got {type(self.config).__name__}")
        if self.model is not None:
            cfg.model.name = str(self.model)
        for key, value, kind in (("threshold", self.threshold, (int, float)), ("max_rounds", self.max_rounds, int),
                                 ("seed", self.seed, int)):
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise ConfigError(f"{key}: got {value!r}, expected a number" if key == "threshold"
                                  else f"{key}: got {value!r}, expected an integer")
        if self.threshold is not None:  # asking for a threshold asks for threshold selection
            cfg.selection.strategy, cfg.selection.threshold = "threshold", float(self.threshold)
        if self.max_rounds is not None:
            cfg.loop.max_rounds = self.max_rounds
        if self.seed is not None:
            cfg.seed = self.seed
        if self.output_dir is not None:
            cfg.output_dir = str(self.output_dir)
        elif self.config is None or cfg.output_dir == Config().output_dir:
            cfg.output_dir = tempfile.mkdtemp(prefix="pseudolabel-")
            logger.info("no output_dir given: writing the run to %s", cfg.output_dir)
        return cfg.validate()

    def fit(self, labeled: TableLike, unlabeled: TableLike, eval: TableLike | None = None, *,
            text_column: str | None = None, label_column: str | None = None,
            label_descriptions: dict | str | Path | None = None, max_new_rounds: int | None = None) -> "SelfTrainer":
        """Run (or resume) self-training.

        Parameters
        ----------
        labeled, unlabeled, eval : DataFrame, datasets.Dataset, or path to .csv / .jsonl / .parquet
            ``labeled`` needs the text and label columns; ``unlabeled`` the text column (a label
            column there is hidden from training and only reported as pseudo-label precision);
            ``eval``, optional, both. With ``eval``, the final model is the best round.
        text_column, label_column : str, optional
            Column names; default to the config's (``"text"``, ``"label"``).
        label_descriptions : dict or path, optional
            What each class means, in plain sentences: ``{label: [sentence, ...]}`` with the
            labels as in ``labeled`` (or a YAML / JSON file of that mapping; default: the
            config's ``data.label_descriptions``). They become a zero-shot view of the teacher,
            weighted by how well they label the gold rows.
        max_new_rounds : int, optional
            Run at most this many more rounds, then return (``pseudolabel run-round`` uses 1).

        Returns
        -------
        self
        """
        from .trainer import Encoder, Trainer, make_accelerator, resolve_model

        cfg = self._resolve_config()
        if text_column is not None:
            cfg.data.text_column = text_column
        if label_column is not None:
            cfg.data.label_column = label_column
        if label_descriptions is None:
            label_descriptions = cfg.data.label_descriptions
        inputs = load_inputs(labeled, unlabeled, eval, text_column=cfg.data.text_column,
                             label_column=cfg.data.label_column, label_descriptions=label_descriptions)
        if inputs.n_pool_overlap:
            logger.info("%d pool rows repeat a labeled text: they are never pseudo-labeled", inputs.n_pool_overlap)
        source = resolve_model(cfg.model.name, trust_remote_code=cfg.model.trust_remote_code)
        accelerator = make_accelerator(cfg.train.log_with, Path(cfg.output_dir) / "logs")
        state = RunState(cfg.output_dir, is_main=accelerator.is_main_process, barrier=accelerator.wait_for_everyone)
        with state.lock():  # one writer per run folder, from opening it to the last round written
            state.open(cfg, inputs.fingerprint(), inputs.label_set, overwrite=self.overwrite)
            self._base_inputs = inputs
            if cfg.data.extra_labeled is not None:
                self._add_labels(state, inputs, cfg.data.extra_labeled, skip_known=True)
            inputs = with_added_labels(inputs, state)
            learner = Trainer(source, inputs.label_set.names, config=cfg.train, max_length=cfg.model.max_length,
                              accelerator=accelerator, trust_remote_code=cfg.model.trust_remote_code)
            embedder = Encoder.from_config(source, cfg, accelerator)
            before = len(state.finished_rounds())
            on_round = None
            if cfg.train.log_with:
                accelerator.init_trackers(Path(cfg.output_dir).name, config=tracker_config(cfg))
                on_round = lambda m: accelerator.log(round_scalars(m), step=m["round"])  # noqa: E731
            try:
                rounds = run_rounds(inputs, learner, state, cfg, embedder=embedder, max_new_rounds=max_new_rounds,
                                    on_round=on_round)
            finally:
                if cfg.train.log_with:
                    accelerator.end_training()
        self.rounds_run_ = len(rounds) - before
        self.config_ = cfg
        self._learner = learner
        self._set_fitted(state, rounds)
        return self

    @classmethod
    def from_run(cls, run_dir: str | Path, *, finished: bool = True) -> "SelfTrainer":
        """Load a run folder: a finished one for :meth:`predict` (what ``pseudolabel predict`` uses),
        or, with ``finished=False``, one that may still be running rounds, for :meth:`review` and
        :meth:`add_labels` (``pseudolabel review`` / ``add-labels``)."""
        from .trainer import Trainer, make_accelerator

        state = RunState(run_dir)
        if not (state.root / "config.yaml").is_file():
            raise RunStateError(f"{run_dir}: not a pseudolabel run folder (no config.yaml)")
        cfg = load_config(state.root / "config.yaml")
        final = state.final_model_dir() if finished or (state.root / "final" / "final.json").is_file() else (
            state.round_dir(0) / "model")
        self = cls(config=cfg, output_dir=run_dir)
        self.config_ = cfg
        self._base_inputs = None
        label_set = state.label_set()
        self._learner = Trainer(str(final), label_set.names, config=cfg.train, max_length=cfg.model.max_length,
                                accelerator=make_accelerator(),
                                trust_remote_code=cfg.model.trust_remote_code)
        self._set_fitted(state, state.finished_rounds())
        return self

    def _set_fitted(self, state: RunState, rounds: list[dict]) -> None:
        self.run_dir_ = state.root
        self.label_set_: LabelSet = state.label_set()
        self.classes_ = np.asarray(self.label_set_.classes, dtype=object)
        self.history_ = history_frame(rounds)
        self.pseudo_labels_ = state.selections(range(len(rounds)))
        self.n_rounds_ = max(len(rounds) - 1, 0)
        self.termination_condition_ = rounds[-1]["stop"] if rounds else None
        self.final_round_ = None
        if self.termination_condition_ is not None:
            final = state.final_model_dir()
            self.final_round_ = json.loads((final / "final.json").read_text())["round"]
            self._learner.load(final)

    def _check_ready(self, texts) -> list[str]:
        if not hasattr(self, "_learner"):
            raise RuntimeError("this SelfTrainer is not fitted yet; call fit() first")
        if self.final_round_ is None:
            raise RuntimeError(
                f"the run in {self.run_dir_} is not finished yet; call fit() again to run the remaining rounds"
            )
        if isinstance(texts, str):
            raise DataError("predict: pass a list of texts, not a single string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"predict: text {i} is {'empty' if isinstance(t, str) else type(t).__name__}")
        return texts

    # -- people in the loop ---------------------------------------------------------------
    def review(self, n: int = 50, *, strategy: str = "uncertain"):
        """Pool rows whose gold label would help most, for a person to label.

        Class-balanced by the latest teacher's guess, where it is least sure or its views
        disagree, spread over the sentence-embedding space, never a row that is gold already
        (:mod:`pseudolabel.review`). Fill the ``label`` column and pass the frame (or its file)
        to :meth:`add_labels`; the next round trains with those rows as gold.

        Parameters
        ----------
        n : int
            How many rows to propose.
        strategy : {"uncertain", "typical"}
            Within each class, the least sure rows spread out by farthest points (``uncertain``),
            or the centres of k-means clusters of its less sure half (``typical``).

        Returns
        -------
        pandas.DataFrame
            ``pool_row``, ``text``, ``guess``, ``guess_confidence`` and an empty ``label``.
        """
        from .review import review_frame

        inputs = self._pool_inputs()
        return review_frame(self.run_dir_, inputs.pool_texts, self.label_set_, n, self._gold_rows(),
                            strategy=strategy, seed=self.config_.seed)

    def add_labels(self, filled) -> "SelfTrainer":
        """Add a filled :meth:`review` frame (or a csv / jsonl / parquet file of one) to the run's gold rows.

        Every row is checked first (a label that is not a class, a blank label, a row that is
        not in the pool or is gold already: :class:`DataError`, nothing changed); then, under the
        run folder's lock, they are appended to ``extra_labels.parquet`` with the time and their
        source. Call :meth:`fit` again to train the next round with them.
        """
        state = RunState(self.run_dir_)
        with state.lock():
            self._add_labels(state, self._pool_inputs(), filled)
        return self

    def _add_labels(self, state: RunState, inputs, filled, *, skip_known: bool = False) -> None:
        """Check ``filled`` and append it to the run's added labels; ``skip_known`` leaves out rows added
        before (``data.extra_labeled`` is read at every fit)."""
        from .data import read_table
        from .review import check_new_labels, stamp

        name = str(filled) if isinstance(filled, (str, Path)) else "added labels"
        frame = read_table(filled, name=name)
        gold = state.extra_labels()["pool_row"].to_numpy(dtype=np.int64)
        if skip_known and len(gold) and "pool_row" in frame:
            frame = frame[~frame["pool_row"].isin(gold)]
            if not len(frame):
                return
        gold = np.union1d(gold, np.flatnonzero(inputs.pool_repeats_labeled))
        rows = check_new_labels(frame, inputs.pool_texts, inputs.label_set, gold, name=name)
        state.add_extra_labels(stamp(rows, name))
        logger.info("%s: %d gold labels added; the next round trains with them", state.root, len(rows))

    def _pool_inputs(self):
        """The run's inputs, with every label added so far: from fit(), or read from the config's files."""
        if not hasattr(self, "run_dir_"):
            raise RuntimeError("this SelfTrainer has no run yet; call fit() first")
        if getattr(self, "_base_inputs", None) is None:
            cfg = self.config_
            if cfg.data.unlabeled is None or cfg.data.labeled is None:
                raise RunStateError(f"{self.run_dir_}: the run's data were passed to fit() in memory, so the run "
                                    "folder cannot find its pool: call review / add_labels on the SelfTrainer "
                                    "that ran fit()")
            self._base_inputs = load_inputs(cfg.data.labeled, cfg.data.unlabeled, None,
                                            text_column=cfg.data.text_column, label_column=cfg.data.label_column,
                                            label_descriptions=cfg.data.label_descriptions)
        return with_added_labels(self._base_inputs, RunState(self.run_dir_))

    def _gold_rows(self) -> np.ndarray:
        return np.flatnonzero(self._pool_inputs().pool_repeats_labeled)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n_texts, n_classes)``; columns follow :attr:`classes_`."""
        return self._learner.predict_proba(self._check_ready(texts)).astype(np.float64)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable label per text, as the labels were given to :meth:`fit`."""
        return self.label_set_.decode(self.predict_proba(texts).argmax(axis=1))
