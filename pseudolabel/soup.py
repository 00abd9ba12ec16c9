"""The final student as a weight average of students trained from several seeds (a "soup").

With ``train.final_students: K`` above 1, the round after the last teacher trains K students on
exactly the same rows, labels and weights, each from its own seed (the head's warm start, the
batch order and dropout differ), and keeps the uniform mean of their weights: one model, the
size of one student, at K times the final round's training. Students fine-tuned from one
pretrained model average into a working model (Wortsman et al., "Model soups", ICML 2022); a
soup of the last rounds' students, trained on different labels, lost (docs/benchmarks.md).

The running mean holds two models at a time (the mean so far and the student just trained).
"""

from __future__ import annotations

from typing import Callable, Sequence


def soup_seeds(seed_of: Callable[[int], int], r: int, k: int) -> list[int]:
    """Round ``r``'s K students' seeds, ``seed_of`` giving the run's seed for a round number: the
    round's own first (so K = 1 is exactly the usual student), then one more per extra student."""
    return [seed_of(r)] + [seed_of(1000 + r + i) for i in range(1, k)]


def fit_soup(learner, texts: Sequence[str], fit_args: dict, *, seeds: Sequence[int], init_from: str | None,
             desc: str) -> dict:
    """Train one student per seed on the same rows; leave the learner holding the mean of their
    weights. Returns the summed training statistics and ``students``."""
    mean, total = None, {"seconds": 0.0, "steps": 0, "refits": 0}
    for i, seed in enumerate(seeds):
        stats = learner.fit(texts, seed=seed, init_from=init_from, desc=f"{desc}_student_{i}", **fit_args)
        for key in total:
            total[key] += stats.get(key) or 0
        if mean is None:
            mean = learner.snapshot()
        else:  # the running mean: move it 1/(i+1) of the way to the student just trained
            learner.merge_into(mean, 1.0 / (i + 1))
    learner.restore(mean)
    return {**total, "students": len(seeds)}
