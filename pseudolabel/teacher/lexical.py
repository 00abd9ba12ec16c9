"""A lexical view for the teacher: TF-IDF features of the texts, weighed by stacking on the gold rows.

The student's features and the pretrained embeddings come from the same encoder, so their heads
make the same mistakes. A bag-of-words head does not share them: on AG News, trained on the
teacher's pseudo-labels, it labels the test set as well as the embedding head (87 against 86%)
with different errors. But a bag-of-words head is weak where the teacher's labels are (SST-2's 20
gold rows) or the classes are many (Banking77), and at a fixed weight it cost up to 10 points
there (docs/benchmarks.md, "A lexical view (TF-IDF)").

So its weight is measured, not set, on gold rows no part of the teacher saw (cross-fitting): for
each fold of the gold rows, the linear heads' inner rounds (in the pretrained space, which no
gold label shaped, with the lexical head among them at each weight of :data:`GRID`) run on the
other folds and a sample of the pool, and their teacher scores the fold. The weight is the one
whose teacher best predicts the held-out gold rows (log-likelihood, each teacher at its best
softening towards uniform, so that a flat view cannot win by tempering overconfident heads), and
the lexical head must label those rows above chance beyond doubt (one-sided binomial test).
Weight 0 leaves the teacher exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

GRID = (0.0, 0.25, 1.0)
"""The lexical view's weights tried, relative to a linear view's (1)."""


def lexical_space(gold_texts: Sequence[str], pool_texts: Sequence[str], *, max_features: int = 200_000):
    """TF-IDF features (word unigrams and bigrams, sublinear counts) of the gold and pool texts.

    The vocabulary is fitted on both (no label is used). Returns two ``scipy.sparse`` CSR
    matrices of float32, row-aligned with the texts.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    gold_texts, pool_texts = list(gold_texts), list(pool_texts)
    min_df = 2 if len(gold_texts) + len(pool_texts) >= 100 else 1  # a tiny data set keeps its rare words
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=min_df, max_features=max_features,
                                 dtype=np.float32)
    vectorizer.fit(gold_texts + pool_texts)
    return vectorizer.transform(gold_texts), vectorizer.transform(pool_texts)


def softened_log_likelihood(probs: np.ndarray, gold: np.ndarray) -> float:
    """The best mean log-probability of the gold classes over mixtures ``(1 - f) probs + f uniform``, f in [0, 1].

    The mean is concave in ``f``, so a bounded scalar search finds its maximum.
    """
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probs, dtype=np.float64)
    picked, flat = probs[np.arange(len(gold)), gold], 1.0 / probs.shape[1]

    def loss(f):
        return -float(np.mean(np.log(np.clip((1 - f) * picked + f * flat, 1e-12, 1.0))))

    best = minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-4})
    return -min(best.fun, loss(0.0))


@dataclass
class StackedWeight:
    """Choose the lexical view's weight from each weight's teacher on held-out gold rows.

    ``fit(teachers, lexical, gold)``: ``teachers`` maps each weight to the teacher's probabilities
    of the gold rows, from a teacher that never saw them; ``lexical`` the lexical head's own.
    """

    alpha: float = 0.01
    weight_: float = field(default=0.0, init=False)
    log_likelihood_: dict = field(default_factory=dict, init=False)
    p_value_: float = field(default=float("nan"), init=False)

    def fit(self, teachers: dict[float, np.ndarray], lexical: np.ndarray, gold: np.ndarray) -> "StackedWeight":
        from scipy.stats import binomtest

        if 0.0 not in teachers:
            raise ValueError(f"the teacher without the lexical view (weight 0) is needed, got weights {sorted(teachers)}")
        gold = np.asarray(gold)
        self.log_likelihood_ = {w: softened_log_likelihood(p, gold) for w, p in teachers.items()}
        lexical = np.asarray(lexical)
        right = int(np.sum(lexical.argmax(axis=1) == gold))
        self.p_value_ = float(binomtest(right, len(gold), 1.0 / lexical.shape[1], alternative="greater").pvalue)
        best = float(max(self.log_likelihood_, key=lambda w: (self.log_likelihood_[w], -w)))  # a tie keeps the smaller
        self.weight_ = best if self.p_value_ < self.alpha else 0.0
        return self


def cross_fitted_teachers(spaces: dict, lexical: tuple, gold: np.ndarray, n_classes: int, fixed: dict,
                          fixed_gold: dict, weights: dict, *, C: float, grid=GRID, inner_rounds: int = 5,
                          folds: int = 5, max_pool: int = 5000, prior: str = "predicted",
                          seed: int = 0) -> tuple[dict, np.ndarray]:
    """Each weight's teacher's probabilities of every gold row, from a teacher that never saw that row.

    The gold rows are split in ``folds``; for each, the linear heads self-train (``inner_rounds``
    rounds, at most ``max_pool`` candidates) on the other folds in ``spaces``, plus the lexical
    space at each weight of ``grid``, with the ``fixed`` views of the candidates at ``weights``;
    the heads' weighted mean with ``fixed_gold`` (the same fixed views of the gold rows: views
    that never saw a gold label, such as the descriptions') scores the fold. A head trained on
    labels that came from the very gold rows it is judged on looks far better than it is (a
    space 70% right on the pool scored 95-100% on its own gold rows), so nothing is judged on
    rows its teacher saw.

    Returns ``({weight: (n_gold, n_classes)}, the lexical head's (n_gold, n_classes) at the largest weight)``.
    """
    from sklearn.model_selection import StratifiedKFold

    from .combine import weighted_mean
    from .linear import LinearSelfTraining

    gold = np.asarray(gold)
    n_pool = lexical[1].shape[0]
    rng = np.random.default_rng(seed)
    sample = np.arange(n_pool) if n_pool <= max_pool else np.sort(rng.choice(n_pool, max_pool, replace=False))
    sub = {name: (np.asarray(g, dtype=np.float32), np.asarray(p[sample], dtype=np.float32))
           for name, (g, p) in spaces.items()}
    sub["lexical"] = (lexical[0], lexical[1][sample])
    sub_fixed = {name: np.asarray(v)[sample] for name, v in fixed.items()}
    k = min(folds, int(np.bincount(gold, minlength=n_classes).min()))
    if k < 2:
        raise ValueError("cross-fitting needs at least two gold rows of every class")
    teachers = {w: np.zeros((len(gold), n_classes)) for w in grid}
    lexical_gold = np.zeros((len(gold), n_classes))
    for train, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(gold)), gold):
        for w in grid:
            used = {name: sp for name, sp in sub.items() if name != "lexical" or w > 0}
            w_all = {**weights, "linear:lexical": w}
            stage = LinearSelfTraining(inner_rounds=inner_rounds, C=C, prior=prior, seed=seed)
            stage.run({name: (g[train], p) for name, (g, p) in used.items()}, gold[train], n_classes, sub_fixed,
                      lambda v: weighted_mean(v, w_all))
            held_views = {name: np.asarray(v)[held] for name, v in fixed_gold.items()}
            for name, (g, _) in used.items():
                held_views[f"linear:{name}"] = LinearSelfTraining._predict(stage.heads_[name], g[held], n_classes)
            teachers[w][held] = weighted_mean(held_views, w_all)
            if w == max(grid):
                lexical_gold[held] = held_views["linear:lexical"]
    return teachers, lexical_gold
