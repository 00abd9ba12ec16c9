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
    pure function of (text, training-set size), like a model that depends only on its data.
    """

    def __init__(self, table: dict[str, list[float]], sharpen: float = 0.0, eval_scores=None, embeddings=None):
        self.embeddings = embeddings
        self.mc_noise = None
        self.table = {k: np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self.sharpen = sharpen
        self.eval_scores = eval_scores
        self.fits: list[tuple[list[str], list[int]]] = []
        self.predicted: list[list[str]] = []
        self.n = 0

    def fit(self, texts, labels, *, seed, init_from=None, weights=None, soft_targets=None):
        self.fits.append((list(texts), [int(x) for x in labels]))
        self.weights, self.soft_targets = weights, soft_targets
        self.n = len(texts)
        return {"seconds": 0.0, "steps": 1}

    def predict_proba(self, texts, out=None):
        self.predicted.append(list(texts))
        probs = np.stack([self.table[t] for t in texts]) if len(texts) else np.zeros((0, 2))
        probs = probs ** (1.0 + self.sharpen * self.n)
        probs = probs / probs.sum(axis=1, keepdims=True)
        if out is None:
            return probs
        out[:] = probs
        return out

    def predict_mc(self, texts, passes, *, seed):
        """The usual probabilities, pushed apart on alternate passes by ``mc_noise[text]``."""
        base = self.predict_proba(texts)
        noise = np.array([(self.mc_noise or {}).get(t, 0.0) for t in texts])[:, None]
        shift = np.array([1.0, -1.0])[None, :]
        out = np.stack([np.clip(base + (-1) ** i * noise * shift, 1e-6, None) for i in range(passes)])
        return out / out.sum(axis=2, keepdims=True)

    def embed(self, texts):
        """``embeddings[text]`` if given, else the base probability vector; unit length."""
        vectors = {**self.table, **(self.embeddings or {})}
        out = np.stack([np.asarray(vectors[t], dtype=np.float64) for t in texts]) if len(texts) else np.zeros((0, 2))
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)

    def n_truncated(self, texts):
        return sum(len(t) > 40 for t in texts)

    def save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "fake.json").write_text(json.dumps({"n": self.n}))


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
