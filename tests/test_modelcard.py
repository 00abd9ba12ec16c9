"""final/README.md: the Hugging Face model card of a finished run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pseudolabel.errors import RunStateError
from pseudolabel.modelcard import base_model_id, write_model_card

from .test_report import synthetic_run

CLASSES = ["World", "Sports", "Business", "Sci/Tech"]


def front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, flags=re.S)
    assert match, "the card must open with a YAML block between --- lines"
    return yaml.safe_load(match.group(1)), match.group(2)


def history_rows(body: str) -> list[list[str]]:
    section = body.split("## Training history", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_front_matter_names_the_model_and_the_final_rounds_scores(tmp_path):
    truth = synthetic_run(tmp_path / "ag_news", CLASSES, final_round=1)
    card = write_model_card(tmp_path / "ag_news")
    assert card == tmp_path / "ag_news" / "final" / "README.md"
    meta, _ = front_matter(card.read_text())
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert {"pseudolabel", "self-training", "text-classification"} <= set(meta["tags"])
    assert meta["labels"] == CLASSES
    (index,) = meta["model-index"]
    (result,) = index["results"]
    assert index["name"] == "ag_news" and result["task"]["type"] == "text-classification"
    assert result["dataset"] == {"name": "eval.csv", "type": "csv"}  # the file, not the machine path
    scores = {m["type"]: m["value"] for m in result["metrics"]}
    # round 1 is the final model; the last round (3) scored higher and must not be reported
    assert scores["accuracy"] == pytest.approx(truth["accuracy"][1], abs=1e-4)
    assert scores["f1"] == pytest.approx(truth["macro_f1"][1], abs=1e-4)
    assert scores["accuracy"] != pytest.approx(truth["accuracy"][3], abs=1e-4)


def test_body_history_budget_fingerprint_and_recipe(tmp_path):
    run = tmp_path / "run"
    truth = synthetic_run(run, CLASSES, final_round=1)
    _, body = front_matter(write_model_card(run).read_text())
    rows = history_rows(body)
    assert [row[0] for row in rows] == ["0", "1 (final)", "2", "3"]
    assert rows[2][1] == f"16 + {sum(map(sum, truth['selected'][:2]))}"  # gold + pseudo taken in rounds 0-1
    assert float(rows[2][2]) == pytest.approx(truth["accuracy"][2], abs=1e-4)
    assert rows[0][4] == str(sum(truth["selected"][0])) and float(rows[1][5]) == pytest.approx(0.85)
    assert rows[3][5] == "-"  # the stopping round selected nothing, so no precision
    assert "round 1** of rounds 0-3: best eval_accuracy" in body
    assert "gold-labeled rows at round 0: 16" in body and "reviewing" not in body
    assert "`f1ng3rpr1nt`" in body
    assert 'pipeline("text-classification", model="path/to/this/folder")' in body and str(tmp_path) not in (
        body.split("## Recipe")[0])
    recipe = re.search(r"```yaml\n(.*?)```", body, flags=re.S).group(1)
    assert yaml.safe_load(recipe) == yaml.safe_load((run / "config.yaml").read_text())


def test_without_eval_no_scores_are_claimed(tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, ["neg", "pos"], eval=False, gold=False, final_round=3)
    metrics_file = run / "rounds" / "round_003" / "metrics.json"
    metrics_file.write_text(json.dumps({**json.loads(metrics_file.read_text()), "n_review_labels": 7}))
    meta, body = front_matter(write_model_card(run).read_text())
    assert "model-index" not in meta and meta["labels"] == ["neg", "pos"]
    assert "no eval split" in body and "accuracy 0." not in body
    assert all(row[2] == "-" and row[5] == "-" for row in history_rows(body))
    assert "gold labels people added (`pseudolabel review` / `add-labels`): 7" in body


def test_unfinished_run_has_no_card(tmp_path):
    synthetic_run(tmp_path / "run", ["neg", "pos"], final_round=None)
    with pytest.raises(RunStateError, match="no final model yet"):
        write_model_card(tmp_path / "run")


def test_base_model_is_a_hub_id_or_nothing(tmp_path):
    assert base_model_id("minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_model_id("bert-base-uncased") == "bert-base-uncased"
    assert base_model_id("FacebookAI/roberta-base") == "FacebookAI/roberta-base"
    assert base_model_id(str(tmp_path)) is None
    assert base_model_id("./models/encoder") is None


def test_card_beside_a_real_model_loads_in_transformers_and_the_hub(tiny_bert, tmp_path):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    run = tmp_path / "run"
    truth = synthetic_run(run, ["neg", "pos"], final_round=2)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["name"] = str(tiny_bert)  # a local folder, as in a run on a private encoder
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    final = run / "final"
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    model.save_pretrained(final)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(final)

    path = write_model_card(run)
    classifier = pipeline("text-classification", model=str(final))
    (prediction,) = classifier("the team won the football match")
    assert prediction["label"] in {"neg", "pos"} and 0 <= prediction["score"] <= 1
    card = ModelCard.load(path)
    assert card.data.base_model is None and card.data.library_name == "transformers"
    (accuracy, macro_f1) = card.data.eval_results
    assert accuracy.metric_type == "accuracy" and accuracy.metric_value == pytest.approx(truth["accuracy"][2], abs=1e-4)
    assert macro_f1.metric_args == {"average": "macro"}
    assert Path(str(tiny_bert)).name in card.text and str(tiny_bert) not in card.text.split("## Recipe")[0]
