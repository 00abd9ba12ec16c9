"""Tier 2: trainer behaviour on a tiny BERT: out-of-memory retries, truncation counts, batching."""

import logging

import numpy as np
import pytest
import torch

from pseudolabel.config import TrainConfig
from pseudolabel.trainer import LengthGroupedBatches, Trainer, make_accelerator

from .conftest import topic_frame


def trainer(tiny_bert, **kw):
    cfg = TrainConfig(**{"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "mixed_precision": "no",
                         "eval_batch_size": 16, **kw})
    return Trainer(str(tiny_bert), ["sports", "tech"], config=cfg, max_length=32, accelerator=make_accelerator("no"))


def fail_above(model, limit):
    """Make ``model`` raise an out-of-memory error on batches larger than ``limit`` rows."""
    forward = model.forward

    def guarded(*args, **kwargs):
        if kwargs["input_ids"].shape[0] > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)

    model.forward = guarded
    return model


def test_out_of_memory_is_retried_in_smaller_batches(tiny_bert, monkeypatch, caplog):
    frame = topic_frame(12, 0)
    texts, labels = frame["text"].tolist(), (frame["label"] == "tech").to_numpy().astype(int)
    t = trainer(tiny_bert)
    load = t._load_model
    monkeypatch.setattr(t, "_load_model", lambda source: fail_above(load(source), 3))
    with caplog.at_level(logging.WARNING, logger="pseudolabel.trainer"):
        stats = t.fit(texts, labels, seed=0)
    assert stats["steps"] == 3 and np.isfinite(stats["loss"])
    assert "out of memory on a training batch of 8 rows: retrying as two batches of 4 and 4" in caplog.text

    del t.model.forward  # back to the plain forward
    want = t.predict_proba(texts)
    fail_above(t.model, 5)
    with caplog.at_level(logging.WARNING, logger="pseudolabel.trainer"):
        got = t.predict_proba(texts)
    assert "out of memory while labeling a batch of 16 rows" in caplog.text
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_other_errors_are_not_swallowed(tiny_bert, monkeypatch):
    t = trainer(tiny_bert)
    load = t._load_model

    def broken(source):
        model = load(source)
        model.forward = lambda **kw: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
        return model

    monkeypatch.setattr(t, "_load_model", broken)
    try:
        t.fit(["a b c", "d e f"], np.array([0, 1]), seed=0)
    except RuntimeError as exc:
        assert "shape mismatch" in str(exc)
    else:
        raise AssertionError("a non-memory error must propagate")


def test_truncation_is_counted(tiny_bert):
    t = trainer(tiny_bert)
    long_text = " ".join(["football"] * 100)
    assert t.n_truncated(["short text", long_text, long_text + " again"]) == 2
    assert all(len(ids) <= 32 for ids in t.encode([long_text]))


def test_length_grouped_batches_cover_every_row_once_per_epoch():
    lengths = np.random.default_rng(0).integers(1, 50, size=103)
    batches = LengthGroupedBatches(lengths, 8, seed=1)
    first, second = list(batches), list(batches)
    for epoch in (first, second):
        rows = sorted(i for b in epoch for i in b)
        assert rows == list(range(103)) and len(epoch) == len(batches)
    assert first != second, "a new order each epoch"
    assert list(LengthGroupedBatches(lengths, 8, seed=1)) == first, "the order depends only on seed and epoch"


def test_row_weights_and_label_smoothing_shape_the_loss(tiny_bert):
    t = trainer(tiny_bert)
    t.fit(["a goal", "a chip"], np.array([0, 1]), seed=0)
    batch = t._collate([{"input_ids": ids, "labels": y, "weights": w}
                        for ids, y, w in zip(t.encode(["a goal", "a chip"]), [0, 1], [1.0, 0.0])])
    logits = t.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    per_row = torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="none")
    with torch.no_grad():
        assert t._loss(t.model, batch).item() == pytest.approx(per_row[0].item(), rel=1e-5)
        t.config.label_smoothing = 0.2
        smoothed = torch.nn.functional.cross_entropy(logits[:1], batch["labels"][:1], label_smoothing=0.2)
        assert t._loss(t.model, batch).item() == pytest.approx(smoothed.item(), rel=1e-5)


def test_weights_reach_training(tiny_bert):
    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    a = trainer(tiny_bert).fit(texts, labels, seed=0)
    b = trainer(tiny_bert).fit(texts, labels, seed=0, weights=np.full(len(texts), 0.25))
    assert a["loss"] != pytest.approx(b["loss"])


def test_embeddings_are_unit_length_cached_and_in_text_order(tiny_bert):
    t = trainer(tiny_bert)
    texts = ["a goal in the last minute", "chip", "a goal in the last minute"]
    e = t.embed(texts)
    assert e.shape == (3, t._encoder.config.hidden_size)
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.array_equal(e[0], e[2]) and not np.allclose(e[0], e[1])
    assert np.array_equal(t.embed(["chip"])[0], e[1])


def test_soft_targets_give_cross_entropy_against_a_distribution(tiny_bert):
    t = trainer(tiny_bert)
    t.fit(["a goal", "a chip"], np.array([0, 1]), seed=0, soft_targets=np.array([[0.7, 0.3], [0.1, 0.9]]))
    q = np.array([[0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    batch = t._collate([{"input_ids": ids, "labels": y, "weights": 1.0, "targets": row}
                        for ids, y, row in zip(t.encode(["a goal", "a chip"]), [0, 1], q)])
    with torch.no_grad():
        logits = t.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        expected = -(torch.tensor(q) * logits.log_softmax(-1)).sum()
        assert t._loss(t.model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_mc_dropout_passes_differ_and_are_seeded(tiny_bert):
    t = trainer(tiny_bert)
    frame = topic_frame(4, seed=0)
    t.fit(frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy(), seed=0)
    texts = frame["text"].tolist()[:5]
    passes = t.predict_mc(texts, 3, seed=7)
    assert passes.shape == (3, 5, 2) and np.allclose(passes.sum(axis=2), 1, atol=1e-5)
    assert not np.allclose(passes[0], passes[1]), "dropout is on"
    assert np.array_equal(passes, t.predict_mc(texts, 3, seed=7))
    assert not t.model.training, "the model is back in eval mode"
    assert np.allclose(t.predict_proba(texts), t.predict_proba(texts)), "plain labeling stays deterministic"


def test_augmented_training_sees_changed_texts(tiny_bert, monkeypatch):
    from pseudolabel import trainer as trainer_module

    seen = []
    real = trainer_module.augment

    def spy(text, rate, rng, synonyms):
        out = real(text, rate, rng, synonyms)
        seen.append((text, out))
        return out

    monkeypatch.setattr(trainer_module, "augment", spy)
    frame = topic_frame(8, seed=0)
    t = trainer(tiny_bert, augment=0.3)
    stats = t.fit(frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy(), seed=0)
    assert stats["steps"] > 0 and len(seen) >= len(frame)
    assert any(a != b for a, b in seen), "some training texts were changed"
    probs = t.predict_proba(frame["text"].tolist())  # labeling never augments
    assert len(seen) == stats["examples"] and probs.shape == (len(frame), 2)


def test_labeling_a_pool_column_in_chunks_equals_labeling_the_list(tiny_bert, monkeypatch, tmp_path):
    import datasets

    import pseudolabel.trainer as trainer_module
    from pseudolabel.data import TextColumn

    frame = topic_frame(20, seed=3)
    t = trainer(tiny_bert)
    t.fit(frame["text"].tolist()[:8], np.arange(8) % 2, seed=0)
    texts = frame["text"].tolist()
    whole = t.predict_proba(texts)
    monkeypatch.setattr(trainer_module, "LABEL_CHUNK", 7)  # 40 rows: six chunks, the last short
    column = TextColumn(datasets.Dataset.from_dict({"text": texts[::-1]}), "text").subset(np.arange(40)[::-1])
    out = np.lib.format.open_memmap(tmp_path / "probs.npy", mode="w+", dtype=np.float32, shape=(40, 2))
    kept = len(t.accelerator._dataloaders)
    streamed = t.predict_proba(column, out=out)
    assert streamed is out
    assert len(t.accelerator._dataloaders) == kept  # no chunk's loader (and tokens) outlives its chunk
    np.testing.assert_allclose(np.load(tmp_path / "probs.npy"), whole, atol=1e-6)
    assert not any(text in t._token_cache for text in texts[8:])  # labeled texts are not cached
    assert t.n_truncated(column) == t.n_truncated(texts)
    with pytest.raises(ValueError, match="out has shape"):
        t.predict_proba(texts, out=np.zeros((3, 2), np.float32))
