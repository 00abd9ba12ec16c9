"""The speed benchmark's plumbing on a tiny BERT and synthetic texts: every part runs, the report is sane."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from .conftest import REPO, topic_frame

sys.path.insert(0, str(REPO / "experiments"))
import bench_speed  # noqa: E402


def ag_news_folder(tmp_path):
    """A stand-in for ../shared/datasets: ag_news/ with 2 classes of 30 short texts each."""
    folder = tmp_path / "datasets" / "ag_news"
    folder.mkdir(parents=True)
    frame = topic_frame(30, seed=0, labels=(0, 1))
    frame.to_parquet(folder / "train.parquet")
    frame.iloc[:4].to_parquet(folder / "test.parquet")
    (folder / "labels.json").write_text(json.dumps(["sports", "tech"]))
    return folder.parent


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine two threads wait on each other for every tiny op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_part_is_measured_and_reported(tiny_bert, tmp_path, capsys, one_thread):
    out = tmp_path / "out"
    bench_speed.main(["--data", str(ag_news_folder(tmp_path)), "--model", str(tiny_bert), "--out", str(out),
                      "--n-label", "24", "--train-steps", "2", "--finetune-steps", "2", "--round-pool", "20",
                      "--matmul-size", "64", "--scale-sizes", "70", "--scale-model", str(tiny_bert),
                      "--set", "train.min_steps=2", "--set", "train.max_steps=4", "--set", "train.max_steps_per_class=0", "--set", "teacher.inner_rounds=2",
                      "--set", "loop.max_rounds=2"])
    table = pd.read_csv(out / "speed.csv")
    assert list(table.columns) == bench_speed.COLUMNS
    assert table["part"].tolist() == (["matmul"] * 2 + ["labeling"] * 4 + ["training"] * 4 + ["run"] * 4
                                      + ["scale"] * 11)  # 6 for SelfTrainer round 0 and the list, 5 for predict
    assert (table["value"] > 0).all() and np.isfinite(table["value"]).all()
    labeling, training = table[table.part == "labeling"], table[table.part == "training"]
    assert labeling["ratio"].iloc[0] == 1.0 and training["ratio"].iloc[0] == 1.0
    assert (labeling["ratio"] > 0).all() and (training["ratio"] > 0).all()
    assert (labeling["matmul_share"] > 0).all()
    agreement = labeling["agreement_pct"].dropna()
    assert len(agreement) == 3 and agreement.between(0, 100).all()
    markdown = (out / "speed.md").read_text()
    assert markdown == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "torch threads" in markdown and "| labeling | Trainer.predict_proba | bfloat16 |" in markdown
    assert (out / "classifier" / "config.json").is_file() and (out / "run" / "history.csv").is_file()
    run = table[table.part == "run"]
    assert run["measure"].iloc[-1].startswith("the whole default run: 3 rounds")
    assert run["value"].iloc[-1] >= run["value"].iloc[:-1].sum() * 0.99, "the whole run includes its rounds"
    scale = table[table.part == "scale"].set_index("measure")["value"]
    assert scale["SelfTrainer round 0 on 70 pool rows: peak anonymous memory"] > 50  # MiB: torch alone is more
    assert scale["pseudolabel predict on 70 rows (parquet in and out): peak anonymous memory"] > 50
    assert "Scale: the AG News train pool repeated and perturbed" in markdown


def test_scale_pool_repeats_and_perturbs_deterministically(tmp_path):
    import bench_scale

    texts = ["the cat sat on the mat today", "stocks fell sharply in early trading"]
    path = bench_scale.make_pool(texts, np.array([3, 1]), 7, tmp_path / "p.parquet", group=3)
    pool = pd.read_parquet(path)
    assert len(pool) == 7 and pool["label"].tolist() == [3, 1] * 3 + [3]
    assert pool["text"].tolist()[:2] == texts  # the first copy is the pool itself
    copies = pool["text"].tolist()[2:]
    assert all(c != texts[i % 2] for i, c in enumerate(copies))  # every later copy is perturbed
    again = bench_scale.make_pool(texts, np.array([3, 1]), 7, tmp_path / "q.parquet", group=3)
    assert pd.read_parquet(again).equals(pool)


def test_matmul_rate_and_parameter_count(tiny_bert, one_thread):
    from transformers import AutoModelForSequenceClassification

    assert bench_speed.matmul_rate(torch.float32, torch.device("cpu"), 64, repeats=2) > 0
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < bench_speed.non_embedding_params(model) < total - model.config.vocab_size * model.config.hidden_size
