"""What the offline teacher probes share: a finished run's saved student, scoring the pool again.

``load_round`` rebuilds what a round's teacher was given (``pseudolabel.loop.score_pool``): the
student's probabilities and mean-pooled features of the pool and the gold rows, the run's cached
pretrained embeddings and, for a descriptions run, the benchmark's description vectors. Used by
``extra-round/``, ``layer-views/``, ``student-space-neighbours/``, ``geometric-pooling/`` and (the description
vectors) ``predict-time-views/``; ``final_rows`` is what a finished run's final student trained
on (``final-student-soup/``, ``robust-final-student/``); ``probe_args`` and ``set_keys`` are the
probes' command line and the resumed runs' config overrides. Run from the repository root.
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import descriptions_for, load_dataset, split  # noqa: E402

from pseudolabel.config import Config  # noqa: E402
from pseudolabel.teacher import TeacherInput  # noqa: E402
from pseudolabel.teacher.descriptions import class_vectors  # noqa: E402
from pseudolabel.trainer import Encoder, Trainer, bundled_minilm, make_accelerator  # noqa: E402


@dataclass
class SavedRound:
    config: Config
    names: list
    labeled: pd.DataFrame
    pool: pd.DataFrame
    probs: np.ndarray
    spaces: dict
    descriptions: np.ndarray | None

    def teacher_input(self, round: int, share: float, seed: int, spaces: dict | None = None) -> TeacherInput:
        """The teacher's input for ``round``; ``spaces`` adds feature spaces to the student's and the pretrained."""
        return TeacherInput(round=round, n_classes=len(self.names), gold=self.labeled["label"].to_numpy(),
                            probs={"student": self.probs}, spaces={**self.spaces, **(spaces or {})},
                            descriptions=self.descriptions, share=share, seed=seed)


def run_config(run: Path, overrides: list | None = None) -> Config:
    """A finished run's config (its ``run.json``), ``overrides`` (``key=value``) written in first."""
    values = json.loads((run / "run.json").read_text())["config"]
    set_keys(values, overrides or [])
    return Config.from_dict(values, where="run.json")


def load_round(name: str, seed: int, run: Path, round: int | None = None, *, desc: bool = False,
               data: str = "../shared/datasets", descriptions: str = "experiments/descriptions",
               overrides: list | None = None) -> SavedRound:
    """Score dataset ``name``'s pool (seed ``seed``'s split) with round ``round``'s student of ``run``.

    ``None``: the final model (``final/``); a negative round counts back from ``loop.max_rounds``
    (-1: the student whose teacher labeled the whole pool). ``data`` and ``descriptions``: the
    benchmark's ``--data`` and ``--descriptions`` folders; ``overrides`` change the run's config.
    """
    train, _, names = load_dataset(name, data)
    labeled, pool = split(train, name, seed, None)
    config = run_config(run, overrides)
    if round is not None and round < 0:
        round += config.loop.max_rounds
    model = run / "final" if round is None else run / f"rounds/round_{round:03d}/model"
    accelerator = make_accelerator()
    learner = Trainer(str(model), names, config=config.train, max_length=config.model.max_length,
                      accelerator=accelerator, trust_remote_code=True)
    learner.load(model)
    probs, features = learner.score(pool["text"].tolist(), features=True)
    gold_features = learner.score(labeled["text"].tolist(), features=True)[1]
    spaces = {"student": (gold_features, features),
              "pretrained": (np.load(run / "embeddings/pretrained-labeled.npy"),
                             np.load(run / "embeddings/pretrained-pool.npy"))}
    vectors = None
    if desc:
        vectors = description_vectors(name, names, Encoder.from_config(bundled_minilm(), config, accelerator), descriptions)
    return SavedRound(config, names, labeled, pool, probs, spaces, vectors)


def description_vectors(name: str, names: list, encoder: Encoder, folder: str = "experiments/descriptions") -> np.ndarray:
    """The class vectors of the benchmark's descriptions of ``name`` (``experiments/descriptions/``),
    embedded by ``encoder`` (the pretrained one), as the teacher's description view builds them."""
    described = descriptions_for(name, folder, names)
    sentences = [s for c in range(len(names)) for s in described[c]]
    owners = np.array([c for c in range(len(names)) for _ in described[c]])
    return class_vectors(encoder.embed(sentences), owners, len(names))


def probe_args(argv: list) -> tuple:
    """``DATASET SEED RUN [--desc] [--data F] [--descriptions F]`` -> (dataset, seed, run folder,
    desc, data folder, descriptions folder)."""
    opt = lambda flag, default: argv[argv.index(flag) + 1] if flag in argv else default
    return (argv[0], int(argv[1]), Path(argv[2]), "--desc" in argv,
            opt("--data", "../shared/datasets"), opt("--descriptions", "experiments/descriptions"))


def set_keys(config: dict, overrides: list) -> None:
    """Write ``key.sub=value`` overrides (the keys ``bench_accuracy.settings`` sets) into a run.json
    config, so that a copied run resumes under them."""
    import yaml

    for item in overrides:
        key, value = item.split("=", 1)
        *path, leaf = key.split(".")
        node = config
        for part in path:
            node = node[part]
        node[leaf] = yaml.safe_load(value)


@dataclass
class FinalRows:
    """What a finished run's final student trained on, and the test split to score it on."""
    config: Config
    names: list
    texts: list
    labels: np.ndarray
    weights: np.ndarray
    n_gold: int
    test_texts: list
    test_ids: np.ndarray

    def accuracy(self, probs: np.ndarray) -> float:
        """Test accuracy % of class probabilities, to two decimals."""
        return round(float(np.mean(np.asarray(probs).argmax(1) == self.test_ids)) * 100, 2)


def final_rows(name: str, seed: int, run: Path, data: str = "../shared/datasets",
               overrides: list | None = None) -> FinalRows:
    """The last teacher's labels fixed by finished run ``run`` (its ``round_{max-1}`` picks, rank
    weights as written, the gold rows at ``train.gold_weight``), as ``pseudolabel.loop`` gives them
    to the final student; ``overrides`` (``key=value``) change the run's config."""
    train, test, names = load_dataset(name, data)
    labeled, _ = split(train, name, seed, None)
    config = run_config(run, overrides)
    taken = pd.read_parquet(run / f"rounds/round_{config.loop.max_rounds - 1:03d}/pseudo_labels.parquet")
    ids = {c: i for i, c in enumerate(json.loads((run / "labels.json").read_text())["classes"])}
    gold = labeled["label"].map(ids).to_numpy(np.int64)
    return FinalRows(config, names, labeled["text"].tolist() + taken["text"].tolist(),
                     np.concatenate([gold, taken["label"].map(ids).to_numpy(np.int64)]),
                     np.concatenate([np.full(len(gold), config.train.gold_weight), taken["weight"].to_numpy(np.float64)]),
                     len(gold), test["text"].tolist(), test["label"].map(ids).to_numpy())
