"""Tier 2: trainer behaviour on a tiny BERT: out-of-memory retries, truncation counts, batching."""

import logging

import numpy as np
import pytest
import torch

from pseudolabel.config import TrainConfig
from pseudolabel.trainer import LengthGroupedBatches, Trainer, make_accelerator

from .conftest import topic_frame

HEADS = ["mean_pooling", "native"]  # the default head and BERT's own


def trainer(tiny_bert, **kw):
    cfg = TrainConfig(**{"epochs": 1, "min_steps": 1, "max_steps": None, "batch_size": 8, "learning_rate": 1e-3,
                         "mixed_precision": "no", "label_smoothing": 0.0,
                         "eval_batch_size": 16, **kw})
    return Trainer(str(tiny_bert), ["sports", "tech"], config=cfg, max_length=32, accelerator=make_accelerator())


def on_device(t, batch):
    """A batch on the trainer's device (a GPU where there is one), as the trainer's own loop puts it."""
    return {k: v.to(t.accelerator.device) for k, v in batch.items()}


def test_more_processes_than_gpus_is_refused_in_words(monkeypatch):
    from pseudolabel.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    with pytest.raises(ConfigError, match="2 processes were launched on this machine but it has 1 GPU"):
        make_accelerator()
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")  # accelerate launch --cpu: the processes share the CPU
    from pseudolabel.trainer import check_gpus_per_machine

    check_gpus_per_machine()


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
    batch = on_device(t, t._collate([{"input_ids": ids, "labels": y, "weights": w}
                                     for ids, y, w in zip(t.encode(["a goal", "a chip"]), [0, 1], [1.0, 0.0])]))
    logits = t.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    per_row = torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="none")
    with torch.no_grad():
        assert t._loss(t.model, batch).item() == pytest.approx(per_row[0].item(), rel=1e-5)
        t.config.label_smoothing = 0.2
        smoothed = torch.nn.functional.cross_entropy(logits[:1], batch["labels"][:1], label_smoothing=0.2)
        assert t._loss(t.model, batch).item() == pytest.approx(smoothed.item(), rel=1e-5)


@pytest.mark.parametrize("head", HEADS)
def test_row_weights_reach_the_gradient(tiny_bert, head):
    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    fresh = trainer(tiny_bert, weight_decay=0.0, head=head)
    fresh.model = fresh._load_model(fresh.source)  # the head as fit() initialises it under this seed
    torch.manual_seed(0)
    from accelerate.utils import set_seed

    set_seed(0)
    initial = fresh._load_model(fresh.source).classifier.weight.detach().clone()
    silent = trainer(tiny_bert, weight_decay=0.0, head=head)
    silent.fit(texts, labels, seed=0, weights=np.zeros(len(texts)))
    assert torch.equal(silent.model.classifier.weight.detach().cpu(), initial), "rows of weight 0 teach nothing"
    loud = trainer(tiny_bert, weight_decay=0.0, head=head)
    loud.fit(texts, labels, seed=0, weights=np.ones(len(texts)))
    assert not torch.equal(loud.model.classifier.weight.detach().cpu(), initial)


@pytest.mark.parametrize("head", HEADS)
def test_soft_targets_override_the_hard_labels_in_training(tiny_bert, head):
    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    opposite = np.eye(2)[1 - labels]  # soft targets that say the other class, with certainty
    t = trainer(tiny_bert, epochs=30, freeze_embeddings=False, head=head)
    t.fit(texts, labels, seed=0, soft_targets=opposite)
    assert np.mean(t.predict_proba(texts).argmax(1) == 1 - labels) > 0.9, "the student followed the soft targets"


@pytest.mark.parametrize("head", HEADS)
def test_frozen_word_embeddings_stay_as_pretrained(tiny_bert, head):
    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    pretrained = trainer(tiny_bert, head=head)._load_model(str(tiny_bert)).get_input_embeddings().weight.detach().clone()
    for freeze in (True, False):
        t = trainer(tiny_bert, freeze_embeddings=freeze, head=head)
        t.fit(texts, labels, seed=0)
        same = torch.equal(t.model.get_input_embeddings().weight.detach().cpu(), pretrained)
        assert same is freeze


def test_steps_follow_epochs_within_the_floor_and_the_cap(tiny_bert):
    t = trainer(tiny_bert, epochs=2, min_steps=5, max_steps=7, max_steps_per_class=0, batch_size=4)
    texts = topic_frame(4, seed=0)["text"].tolist()
    assert t.fit(texts, np.arange(8) % 2, seed=0)["steps"] == 5, "2 epochs of 2 batches is below the floor"
    assert t.config.steps(16) == 7 and t.config.steps(12) == 6 and t.config.steps(100) == 7


def test_the_step_cap_rises_with_the_number_of_classes(tiny_bert):
    cfg = TrainConfig(epochs=2, min_steps=5, max_steps=7, max_steps_per_class=3, batch_size=4)
    assert cfg.steps(100, 2) == 7, "2 classes x 3 steps is below the cap: the cap holds"
    assert cfg.steps(100, 4) == 12 and cfg.steps(100, 77) == 50, "the cap is 3 steps per class, never past the epochs"
    assert TrainConfig(max_steps=None).steps(1000, 77) == 15 * 63, "no cap: the epochs decide"
    # the trainer counts its own classes: 4 labels and 4 batches of 2 epochs pass the cap of 7
    cfg = TrainConfig(epochs=2, min_steps=1, max_steps=7, max_steps_per_class=3, batch_size=4, mixed_precision="no")
    t = Trainer(str(tiny_bert), ["a", "b", "c", "d"], config=cfg, max_length=32, accelerator=make_accelerator())
    texts = topic_frame(8, seed=0)["text"].tolist()
    assert t.fit(texts, np.arange(len(texts)) % 4, seed=0)["steps"] == cfg.steps(len(texts), 4) == 8


@pytest.mark.parametrize("head", HEADS)
def test_score_gives_probabilities_and_the_models_own_pooled_features_in_one_pass(tiny_bert, head):
    frame = topic_frame(6, seed=1)
    texts = frame["text"].tolist()
    t = trainer(tiny_bert, head=head)
    t.fit(texts, np.arange(len(texts)) % 2, seed=0)
    calls = []
    forward = t.model.forward
    t.model.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    probs, feats = t.score(texts, features=True)
    assert len(calls) == 1, "one forward pass for both (the 12 texts fit one batch of 16)"
    np.testing.assert_allclose(probs, t.predict_proba(texts), atol=1e-6)
    assert feats.shape == (len(texts), t.feature_dim) and np.allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)
    with torch.no_grad():
        batch = on_device(t, t.tokenizer(texts[:1], return_tensors="pt"))
        hidden = forward(**batch, output_hidden_states=True).hidden_states[-1][0].mean(0)
    np.testing.assert_allclose(feats[0], (hidden / hidden.norm()).cpu().numpy(), atol=1e-5)


def test_encoder_embeddings_are_unit_length_and_in_text_order(tiny_bert):
    from pseudolabel.trainer import Encoder

    e = Encoder(str(tiny_bert), max_length=32, batch_size=2, precision="no", accelerator=make_accelerator())
    texts = ["a goal in the last minute", "chip", "a goal in the last minute"]
    v = e.embed(texts)
    assert v.shape == (3, e.dim) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.allclose(v[0], v[2], atol=1e-6) and not np.allclose(v[0], v[1])
    np.testing.assert_allclose(e.embed(["chip"])[0], v[1], atol=1e-6)


def test_soft_targets_give_cross_entropy_against_a_distribution(tiny_bert):
    t = trainer(tiny_bert)
    t.fit(["a goal", "a chip"], np.array([0, 1]), seed=0, soft_targets=np.array([[0.7, 0.3], [0.1, 0.9]]))
    q = np.array([[0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    batch = on_device(t, t._collate([{"input_ids": ids, "labels": y, "weights": 1.0, "targets": row}
                                     for ids, y, row in zip(t.encode(["a goal", "a chip"]), [0, 1], q)]))
    with torch.no_grad():
        logits = t.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        expected = -(torch.tensor(q, device=logits.device) * logits.log_softmax(-1)).sum()
        assert t._loss(t.model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


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


@pytest.mark.parametrize("head", HEADS)
def test_a_half_precision_checkpoint_trains_and_embeds_in_float32(tiny_bert, tmp_path, head):
    """transformers 5 loads a checkpoint in the dtype it was saved in; many hub models are saved in
    fp16 or bf16. Trained as such, the weights underflow and CPUs run it slowly: keep fp32 weights."""
    import shutil

    from transformers import AutoModel

    from pseudolabel.trainer import Encoder

    half = shutil.copytree(tiny_bert, tmp_path / "half")
    AutoModel.from_pretrained(tiny_bert).to(torch.bfloat16).save_pretrained(half)
    assert AutoModel.from_pretrained(half).dtype == torch.bfloat16
    t = trainer(half, head=head)
    t.fit(["a goal", "a chip"], np.array([0, 1]), seed=0)
    assert {p.dtype for p in t.model.parameters()} == {torch.float32}
    e = Encoder(str(half), max_length=32, batch_size=2, precision="no", accelerator=make_accelerator())
    assert e.embed(["a goal"]).dtype == np.float32 and e._load()[0].dtype == torch.float32


def test_a_fit_no_better_than_the_class_frequencies_is_trained_again_at_half_the_rate(tiny_bert, caplog, monkeypatch):
    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    t = trainer(tiny_bert, epochs=30, freeze_embeddings=False)  # random word embeddings must train to learn
    calls = []
    fit_once = t._fit_once
    monkeypatch.setattr(t, "_fit_once", lambda *a, **kw: calls.append((kw["seed"], kw["learning_rate"])) or fit_once(*a, **kw))
    assert t.fit(texts, labels, seed=3)["refits"] == 0 and calls == [(3, 1e-3)], "a fit that learned is kept"
    calls.clear()
    t.config.learning_rate = 50.0  # Adam at this rate throws the weights far off: the loss ends above the constant's
    with caplog.at_level(logging.WARNING, logger="pseudolabel.trainer"):
        stats = t.fit(texts, labels, seed=3)
    assert stats["refits"] == 1 and calls == [(3, 50.0), (4, 25.0)]
    assert "no better than answering the class frequencies" in caplog.text and "learned nothing either" in caplog.text


def test_learned_nothing_compares_the_end_of_a_fit_with_the_best_constant_answer():
    from pseudolabel.trainer import constant_loss, learned_nothing

    labels = np.array([0, 0, 0, 1])  # the best constant answers (0.75, 0.25): loss 0.562
    assert constant_loss(labels, 2) == pytest.approx(0.5623, abs=1e-4)
    assert learned_nothing(0.56, constant_loss(labels, 2)) and not learned_nothing(0.45, constant_loss(labels, 2))
    assert not learned_nothing(0.56, constant_loss(labels, 2, weights=np.array([1.0, 1.0, 1.0, 0.0]))), \
        "weighted: the kept rows are one class, so the constant costs 0 and no loss is worse than 0.9 x 0"
    assert not learned_nothing(0.0, constant_loss(np.array([0, 0]), 2)), "one class: nothing to learn beyond it"
    # smoothed labels and soft targets: the same constant as the row x class matrix of targets the loss sees
    eps, targets = 0.1, np.full((4, 2), 0.05) + 0.9 * np.eye(2)[labels]
    w = np.array([1.0, 0.5, 2.0, 1.0])
    log_prior = np.log((w[:, None] * targets).sum(0) / w.sum())
    expected = -(w * (targets @ log_prior)).sum() / 4
    assert constant_loss(labels, 2, label_smoothing=eps, weights=w) == pytest.approx(expected)
    assert constant_loss(labels, 2, weights=w, soft_targets=targets) == pytest.approx(expected)


def test_a_mean_pooling_head_is_warmed_by_a_logistic_regression_on_the_rows_it_trains_on(tiny_bert):
    from sklearn.linear_model import LogisticRegression

    from pseudolabel.mean_pooling import MeanPoolingClassifier

    frame = topic_frame(12, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    t = trainer(tiny_bert, head="mean_pooling")
    model = t._load_model(t.source)
    assert isinstance(model, MeanPoolingClassifier) and not model.classifier.weight.any(), "a blank head at first"
    t._warm_head(model, texts, labels, np.zeros(len(texts)), seed=0)
    assert not model.classifier.weight.any(), "rows of weight 0 warm nothing"
    t._warm_head(model, texts, labels, np.ones(len(texts)), seed=0, rows=np.flatnonzero(labels == 0))
    assert not model.classifier.weight.any(), "only the rows asked for: here one class, too few to probe"
    t._warm_head(model, texts, labels, np.ones(len(texts)), seed=0)
    t.model = model.eval()
    probs, features = t.score(texts, features=True)
    expected = LogisticRegression(max_iter=2000).fit(features, labels).predict_proba(features)
    np.testing.assert_allclose(probs, expected, atol=1e-4)  # two logits, split from scikit-learn's one


def test_a_mean_pooling_student_trains_saves_and_loads_as_itself_and_through_a_pipeline(tiny_bert, tmp_path):
    import json
    import subprocess
    import sys

    from pseudolabel.mean_pooling import MeanPoolingClassifier

    frame = topic_frame(12, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    t = trainer(tiny_bert, head="mean_pooling", epochs=3)
    t.fit(texts, labels, seed=0)
    t.save(tmp_path / "model")
    probs = t.predict_proba(texts)
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["model_type"] == "pseudolabel_mean_pooling" and (tmp_path / "model" / "mean_pooling.py").is_file()
    assert str(tiny_bert) not in (tmp_path / "model" / "config.json").read_text(), "no path of this machine"
    back = trainer(tiny_bert)  # the native head asked for, yet a saved mean-pooling model loads as what it is
    back.load(tmp_path / "model")
    assert isinstance(back.model, MeanPoolingClassifier)
    np.testing.assert_allclose(back.predict_proba(texts), probs, atol=1e-5)
    again = trainer(tiny_bert)
    again.fit(texts, labels, seed=1, init_from=str(tmp_path / "model"))  # train.init: previous
    assert isinstance(again.model, MeanPoolingClassifier)
    # A fresh interpreter without pseudolabel: the folder carries its own code for transformers.
    script = ("import json, sys; from transformers import pipeline\n"
              f"folder = {str(tmp_path / 'model')!r}\n"
              "try:\n    pipeline('text-classification', model=folder)\n"
              "except ValueError as exc:\n    refused = 'trust_remote_code' in str(exc) or 'custom code' in str(exc)\n"
              "else:\n    refused = False\n"
              "clf = pipeline('text-classification', model=folder, trust_remote_code=True, top_k=None)\n"
              f"out = clf({texts[:2]!r})\n"
              "print('RESULT', json.dumps({'refused': refused, 'sports': [[d['score'] for d in o if d['label'] == 'sports'][0] for o in out],"
              " 'modules': [m for m in sys.modules if m.startswith('pseudolabel')]}))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.split("RESULT", 1)[1])  # after transformers' "run the custom code?" prompt
    assert result["refused"], "without trust_remote_code transformers must refuse, not guess another architecture"
    assert result["modules"] == []
    np.testing.assert_allclose(result["sports"], probs[:2, 0], atol=1e-4)


def test_a_soup_of_students_is_the_mean_of_their_weights(tiny_bert):
    """train.final_students: the learner ends holding the weight mean of students from other seeds."""
    from pseudolabel.soup import fit_soup

    frame = topic_frame(8, seed=0)
    texts, labels = frame["text"].tolist(), frame["label"].map({"sports": 0, "tech": 1}).to_numpy()
    t = trainer(tiny_bert)
    members = []
    for seed in (1, 2, 3):
        t.fit(texts, labels, seed=seed)
        members.append({k: v.detach().clone() for k, v in t.model.state_dict().items()})
    assert not torch.equal(members[0]["classifier.weight"], members[1]["classifier.weight"]), "seeds differ"
    stats = fit_soup(t, texts, {"labels": labels}, seeds=[1, 2, 3], init_from=None, desc="final")
    assert stats["students"] == 3 and stats["steps"] == 3 * t.config.steps(len(texts), 2)
    for name, value in t.model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(m[name] for m in members) / 3, rtol=1e-5, atol=1e-6)
    probs = t.predict_proba(texts)
    assert probs.shape == (len(texts), 2) and np.allclose(probs.sum(axis=1), 1)
