"""A tiny random-weight BERT for tests and examples: the real ``from_pretrained`` path in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def make_tiny_bert(path: str | Path, *, hidden_size: int = 32, num_layers: int = 2, seed: int = 0,
                   dropout: float = 0.1) -> Path:
    """Save a 2-layer, width-32 BERT encoder with the bundled MiniLM's real vocabulary to ``path``.

    The weights are random (seeded), so it learns only what a test teaches it; the tokenizer is
    real, so ordinary English has no ``[UNK]``. ``dropout=0`` makes training deterministic
    whatever the batch composition (used to compare one process with several). Returns ``path``.
    """
    import torch
    from transformers import BertConfig, BertModel

    from .trainer import bundled_minilm

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    source = Path(bundled_minilm())
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, path / name)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=hidden_size, num_hidden_layers=num_layers,
                        num_attention_heads=2, intermediate_size=hidden_size * 2, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(path, safe_serialization=True)
    return path
