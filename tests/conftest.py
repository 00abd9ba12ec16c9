"""Shared fixtures: a fake learner for loop tests, a tiny BERT, small text tables."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# pool files are converted into the datasets cache: keep the tests' conversions out of the user's
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="pseudolabel-test-datasets-"))

REPO = Path(__file__).resolve().parents[1]


class FakeLearner:
    """Returns fixed per-text probabilities that sharpen as the training set grows.

    ``table`` maps each text to a base probability vector; after a fit on ``n`` rows the
    prediction is that vector raised to the power ``1 + sharpen * n`` and renormalised. It is a
    pure function of (text, training-set size), like a model that depends only on its data. Its
    "features" are ``features[text]`` when given, else the base vector.
    """

    def __init__(self, table: dict[str, list[float]], sharpen: float = 0.0, features=None):
        self.table = {k: np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self.features = {k: np.asarray(v, dtype=np.float64) for k, v in (features or {}).items()}
        self.sharpen = sharpen
        self.fits: list[tuple[list[str], list[int]]] = []
        self.fit_args: list[dict] = []
        self.predicted: list[list[str]] = []
        self.n = 0

    def fit(self, texts, labels, *, seed, init_from=None, weights=None, soft_targets=None, desc="train", warm_rows=None):
        self.fits.append((list(texts), [int(x) for x in labels]))
        self.fit_args.append({"seed": seed, "init_from": init_from, "weights": weights, "soft_targets": soft_targets,
                              "warm_rows": warm_rows})
        self.weights, self.soft_targets = weights, soft_targets
        self.n = len(texts)
        return {"seconds": 0.0, "steps": 1}

    def predict_proba(self, texts, out=None):
        texts = list(texts)
        self.predicted.append(texts)
        k = len(next(iter(self.table.values())))
        probs = np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, k))
        probs = probs ** (1.0 + self.sharpen * self.n)
        probs = probs / probs.sum(axis=1, keepdims=True)
        if out is None:
            return probs
        out[:] = probs
        return out

    @property
    def feature_dim(self):
        return len(next(iter({**self.table, **self.features}.values())))

    def score(self, texts, *, out=None, features_out=None, features=False):
        texts = list(texts)
        probs = self.predict_proba(texts, out)
        if not (features or features_out is not None):
            return probs, None
        vectors = {**self.table, **self.features}
        feats = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, self.feature_dim))
        feats = feats / np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12)
        if features_out is not None:
            features_out[:] = feats
        return probs, feats

    def n_truncated(self, texts):
        return sum(len(t) > 40 for t in texts)

    def save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "fake.json").write_text(json.dumps({"n": self.n}))

    def snapshot(self):
        return self.n

    def restore(self, n):
        self.n = n

    def merge_into(self, snapshot, share):
        self.merges = getattr(self, "merges", []) + [(snapshot, share)]


class FakeEmbedder:
    """The pretrained view of a test: ``table[text]``, unit length; counts what it embeds."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = {k: np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self.dim = len(next(iter(self.table.values())))
        self.embedded: list[list[str]] = []

    def embed(self, texts, *, out=None):
        texts = list(texts)
        self.embedded.append(texts)
        vectors = np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim))
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
        if out is None:
            return vectors
        out[:] = vectors
        return out


@pytest.fixture
def fake_learner():
    return FakeLearner


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    from pseudolabel.testing import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


TOPICS = {
    "sports": ["the team won the football match", "a great goal in the soccer game", "the player scored twice",
               "the coach praised the striker", "fans cheered at the stadium", "the league title race is close"],
    "tech": ["the new phone has a faster chip", "software update fixes the bug", "the computer runs linux",
             "engineers released the new app", "the laptop battery lasts longer", "a chip maker shows a processor"],
}


def topic_frame(n_per_class: int, seed: int, labels=("sports", "tech")) -> pd.DataFrame:
    """Short synthetic sentences of two easy topics, distinct per seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in zip(labels, TOPICS):
        for i in range(n_per_class):
            a, b = rng.choice(TOPICS[name], size=2, replace=False)
            rows.append({"text": f"{a} and {b} ({seed}-{i})", "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
