"""Word-level augmentation: the four EDA operations and embedding-neighbour synonyms."""

import numpy as np

from pseudolabel.augment import EmbeddingSynonyms, augment


def toy_synonyms():
    vocab = {"[PAD]": 0, "goal": 1, "score": 2, "chip": 3, "processor": 4, "##ing": 5, "the": 6}
    emb = np.array([[0, 0, 1], [1, 0.1, 0], [0.9, 0.2, 0], [0, 1, 0.1], [0.1, 0.9, 0], [1, 0, 0], [0, 0, 1]], float)
    return EmbeddingSynonyms(vocab, emb, k=1)


def test_synonyms_are_nearest_whole_words_never_the_word_itself():
    syn = toy_synonyms()
    assert syn("goal") == ["score"] and syn("Chip") == ["processor"]
    assert syn("unknownword") == [] and syn("ing") == []  # subword pieces and unknown words have none


def test_each_operation_changes_the_text_the_way_it_says():
    syn = toy_synonyms()
    text = "the goal came late and the chip was fast"
    seen = {}
    for seed in range(40):
        out = augment(text, 0.2, np.random.default_rng(seed), syn)
        words, base = out.split(), text.split()
        if len(words) < len(base):
            seen["delete"] = out
            assert all(w in base for w in words)
        elif len(words) > len(base):
            seen["insert"] = out
            assert set(words) - set(base) <= {"score", "processor"}
        elif sorted(words) == sorted(base) and words != base:
            seen["swap"] = out
        elif words != base:
            seen["synonym"] = out
            assert set(words) - set(base) <= {"score", "processor"}
    assert set(seen) == {"delete", "insert", "swap", "synonym"}
    assert augment(text, 0.2, np.random.default_rng(3), syn) == augment(text, 0.2, np.random.default_rng(3), syn)
    assert augment("one", 0.5, np.random.default_rng(0), syn) == "one"
    assert augment(text, 0.0, np.random.default_rng(0), syn) == text
