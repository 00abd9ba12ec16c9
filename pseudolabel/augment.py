"""Word-level text augmentation for the student (EDA, Wei & Zou 2019; the Noisy Student idea).

Four operations: synonym replacement, random insertion (of a synonym of a word of the text),
random swap and random deletion. Synonyms come from the encoder's own input word embeddings:
the nearest whole-word vocabulary entries by cosine similarity. That source is always there,
offline, for any language the tokenizer covers, and needs no extra package (WordNet through
nltk would need a corpus download at run time, which fails offline); its neighbours are looser
than a thesaurus (inflections, related words), which at a low per-word rate is what noise for a
student should be.
"""

from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"^[a-z]{3,}$")


class EmbeddingSynonyms:
    """``k`` nearest whole words of a word in an input-embedding table (lower-cased vocabularies)."""

    def __init__(self, vocab: dict[str, int], embeddings: np.ndarray, k: int = 5):
        words = [w for w in vocab if WORD.match(w)]
        self.words = np.array(words)
        self.index = {w: i for i, w in enumerate(words)}
        table = np.asarray(embeddings, dtype=np.float32)[[vocab[w] for w in words]]
        self.table = table / np.linalg.norm(table, axis=1, keepdims=True).clip(1e-12)
        self.k = k
        self.cache: dict[str, list[str]] = {}

    def __call__(self, word: str) -> list[str]:
        key = word.lower()
        if key not in self.cache:
            i = self.index.get(key)
            if i is None:
                self.cache[key] = []
            else:
                sims = self.table @ self.table[i]
                sims[i] = -np.inf
                top = np.argpartition(-sims, self.k)[: self.k]
                self.cache[key] = self.words[top[np.argsort(-sims[top])]].tolist()
        return self.cache[key]


def augment(text: str, rate: float, rng: np.random.Generator, synonyms) -> str:
    """One EDA operation, chosen at random, applied to ``max(1, round(rate * n_words))`` words."""
    words = text.split()
    if len(words) < 2 or rate <= 0:
        return text
    n = max(1, int(round(rate * len(words))))
    op = rng.integers(4)
    if op == 0:  # synonym replacement
        spots = [i for i in rng.permutation(len(words)) if synonyms(_core(words[i]))][:n]
        for i in spots:
            words[i] = _keep_case(words[i], rng.choice(synonyms(_core(words[i]))))
    elif op == 1:  # random insertion of a synonym of some word of the text
        for _ in range(n):
            options = [w for w in words if synonyms(_core(w))]
            if not options:
                break
            word = synonyms(_core(options[rng.integers(len(options))]))
            words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(word)))
    elif op == 2:  # random swap
        for _ in range(n):
            i, j = rng.integers(len(words), size=2)
            words[i], words[j] = words[j], words[i]
    else:  # random deletion, never of every word
        keep = rng.random(len(words)) >= rate
        if not keep.any():
            keep[rng.integers(len(words))] = True
        words = [w for w, k in zip(words, keep) if k]
    return " ".join(words)


def _core(word: str) -> str:
    return word.strip(".,;:!?\"'()[]").lower()


def _keep_case(original: str, new: str) -> str:
    return new.capitalize() if original[:1].isupper() else str(new)
