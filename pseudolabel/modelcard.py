"""The final model's card: ``final/README.md`` in the Hugging Face model-card format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from .state import RunState, atomic_write_text

logger = logging.getLogger(__name__)

# the config's model aliases, as Hub ids a card can point to
BASE_MODEL_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
TAGS = ["pseudolabel", "self-training", "semi-supervised", "text-classification"]
# what the Hub's model-index calls a dataset read from a local file: the datasets builder for it
DATASET_TYPES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def write_model_card(run_dir: str | Path) -> Path:
    """Write ``final/README.md``: what the model is, how to use it, and how it was made.

    The YAML front matter (``library_name``, ``pipeline_tag``, ``base_model``, ``tags``,
    ``labels`` and, with an eval split, a ``model-index`` with the final round's accuracy and
    macro-F1) is built with :class:`huggingface_hub.ModelCardData`, and the whole card is
    parsed back by :class:`huggingface_hub.ModelCard` before it is written (the Hub's own
    validation needs the network and is left to ``push_to_hub``). The Markdown body holds a usage snippet, the training history (one row
    per round), the label budget, the data fingerprint and the resolved config. The file is
    replaced whole.

    Parameters
    ----------
    run_dir : str or Path
        A finished run folder (one with ``final/final.json``).

    Returns
    -------
    Path
        ``run_dir / "final" / "README.md"``.

    Raises
    ------
    RunStateError
        When the run has no final model yet, or ``run_dir`` is not a run folder.

    Examples
    --------
    >>> write_model_card("runs/ag_news_1k")  # doctest: +SKIP
    PosixPath('runs/ag_news_1k/final/README.md')
    """
    from huggingface_hub import ModelCard

    state = RunState(run_dir)
    final_dir = state.final_model_dir()
    card = ModelCard(_card_text(state, final_dir))  # parsing it back checks the front matter's shape
    out = final_dir / "README.md"
    atomic_write_text(out, str(card))
    logger.info("wrote the model card %s", out)
    return out


def _card_text(state: RunState, final_dir: Path) -> str:
    """The card's text for the run in ``state``: YAML front matter, then Markdown."""
    from huggingface_hub import EvalResult, ModelCardData

    config_text = (state.root / "config.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(config_text)
    fingerprint = json.loads((state.root / "run.json").read_text())["data_fingerprint"]
    names = state.label_set().names
    rounds = state.finished_rounds()
    final = json.loads((final_dir / "final.json").read_text())
    chosen = rounds[final["round"]]
    model_name = state.root.resolve().name
    base = base_model_id(config["model"]["name"])

    eval_results = []
    if chosen.get("eval_accuracy") is not None:
        dataset = _eval_dataset(config.get("data", {}).get("eval"))
        eval_results = [
            EvalResult(task_type="text-classification", **dataset, metric_type="accuracy",
                       metric_value=round(chosen["eval_accuracy"], 4), metric_name="Accuracy"),
            EvalResult(task_type="text-classification", **dataset, metric_type="f1",
                       metric_value=round(chosen["eval_macro_f1"], 4), metric_name="Macro F1",
                       metric_args={"average": "macro"}),
        ]
    data = ModelCardData(library_name="transformers", pipeline_tag="text-classification", base_model=base,
                         tags=TAGS, model_name=model_name, eval_results=eval_results or None, labels=names)
    model_config = final_dir / "config.json"
    remote = model_config.is_file() and "auto_map" in json.loads(model_config.read_text())  # its code is in the folder
    body = _body(model_name, config, config_text, fingerprint, names, rounds, final, base, remote_code=remote)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def _eval_dataset(eval_file: str | None) -> dict:
    """The model-index's dataset: the eval file's name (not its machine path) and format."""
    if eval_file is None:  # a table handed to the API in memory: the run knows only that it had one
        return {"dataset_name": "eval split", "dataset_type": "custom"}
    path = Path(eval_file)
    return {"dataset_name": path.name, "dataset_type": DATASET_TYPES.get(path.suffix.lower(), "custom")}


def base_model_id(name: str) -> str | None:
    """The Hub id a card's ``base_model`` names: the alias's id, the id as given, or None for a
    local folder (a machine path is no model id, and would leak the author's file layout)."""
    if name in BASE_MODEL_IDS:
        return BASE_MODEL_IDS[name]
    local = Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or "\\" in name
    return None if local else name


def _body(model_name: str, config: dict, config_text: str, fingerprint: str, names: list[str],
          rounds: list[dict], final: dict, base: str | None, remote_code: bool = False) -> str:
    from .loop import STOP_REASONS  # here, not above: the loop may import this module to write the card

    r, last = final["round"], rounds[-1]
    chosen = rounds[r]
    origin = f"[`{base}`](https://huggingface.co/{base})" if base else (
        f"a local model folder (`{Path(config['model']['name']).name}`)")
    lines = [
        f"# {model_name}",
        "",
        f"A {len(names)}-class text classifier fine-tuned from {origin} by "
        "pseudolabel self-training: round 0 trained on the gold-labeled rows alone; "
        "after each round a teacher (that round's model combined with linear heads over its features and the "
        "pretrained sentence embeddings) labeled a pool of unlabeled texts and picked the rows it trusted, "
        "and the next round trained a new model on gold plus those rows.",
        "",
        f"This is the model of **round {r}** of rounds 0-{last['round']}: {final.get('reason', 'no reason given')}. "
        f"The run stopped: {STOP_REASONS.get(last.get('stop'), last.get('stop'))}.",
        "",
        "Labels, in the order of the model's outputs: "
        + ", ".join(f"`{i}` {name}" for i, name in enumerate(names)) + ".",
        "",
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        'classifier = pipeline("text-classification", model="path/to/this/folder"'
        + (", trust_remote_code=True)" if remote_code else ")"),
        'classifier("A text to classify")',
        "```",
        "",
    ] + ([
        "The model reads the mean of its encoder's token states (`train.head: mean_pooling`); its code, "
        "`mean_pooling.py` in this folder (torch and transformers only), is what `trust_remote_code=True` runs.",
        "",
    ] if remote_code else []) + [
        "## Evaluation",
        "",
    ]
    if chosen.get("eval_accuracy") is not None:
        eval_file = config.get("data", {}).get("eval")
        lines.append(f"On the eval split ({f'`{Path(eval_file).name}`' if eval_file else 'given to the run'}): "
                     f"accuracy {chosen['eval_accuracy']:.4f}, macro-F1 {chosen['eval_macro_f1']:.4f}."
                     + (f" The same split chose the final round among {len(rounds)}, so these figures lean optimistic; "
                        "score a held-out test set with `pseudolabel evaluate` for unbiased ones."
                        if len(rounds) > 1 else ""))
    else:
        lines.append("The run had no eval split: rounds could not be compared, so the final model is the last "
                     "round and its accuracy is unknown. Score it with `pseudolabel evaluate --run DIR --input FILE`.")
    lines += ["", "## Training history", "", *_history_table(rounds, r), "", "## Label budget", ""]
    lines.append(f"- gold-labeled rows at round 0: {rounds[0]['n_labeled']}")
    if chosen.get("n_labeled") != rounds[0]["n_labeled"]:
        lines.append(f"- gold-labeled rows the final model trained on: {chosen['n_labeled']}")
    if last.get("n_review_labels") is not None:
        lines.append(f"- gold labels people added (`pseudolabel review` / `add-labels`): {last['n_review_labels']}")
    lines.append(f"- pseudo-labeled pool rows the final model trained on: {chosen.get('n_pseudo_total', 0)}")
    lines += [
        "", "## Data", "",
        f"Data fingerprint: `{fingerprint}` (SHA-256 of the classes, the labeled texts and labels, the pool "
        "texts, and the eval texts and labels). A run folder refuses to resume on data with another fingerprint.",
        "", "## Recipe", "",
        "The resolved configuration of the run (`config.yaml`); `pseudolabel run --config` with it "
        "and the same data reproduces the run:",
        "", "```yaml", config_text.rstrip(), "```", "",
    ]
    return "\n".join(lines)


def _history_table(rounds: list[dict], final_round: int) -> list[str]:
    """One Markdown row per round; '-' where a round has no such number (no eval split, no
    gold labels in the pool, nothing selected)."""
    lines = ["| round | trained on (gold + pseudo) | eval accuracy | eval macro-F1 | pool rows selected "
             "for the next round | their precision |", "|---:|---:|---:|---:|---:|---:|"]
    for m in rounds:
        mark = " (final)" if m["round"] == final_round else ""
        lines.append(f"| {m['round']}{mark} | {m.get('n_labeled', 0)} + {m.get('n_pseudo_total', 0)} | "
                     f"{_number(m.get('eval_accuracy'))} | {_number(m.get('eval_macro_f1'))} | "
                     f"{m.get('n_selected', '-')} | {_number(m.get('pseudo_precision'))} |")
    return lines


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"
