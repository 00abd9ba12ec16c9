"""Task-adaptive pretraining (TAPT, Gururangan et al. 2020): the encoder's own masked-language-model
objective on the pool's texts before round 0, so every round starts from an encoder that has read
the task's language. Written once into the run folder (``adapted_encoder/``) and reused on resume.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from accelerate.utils import set_seed

logger = logging.getLogger(__name__)


def adapt_encoder(source: str, texts: Sequence[str], folder: Path, *, steps: int, batch_size: int,
                  learning_rate: float, max_length: int, seed: int, accelerator,
                  trust_remote_code: bool = False, mlm_probability: float = 0.15) -> str:
    """Train ``source`` with masked-language modelling on ``texts``; return the saved folder.

    If ``folder`` already holds a finished encoder it is returned as is (paid for once per run).
    The encoder is written to a temporary folder and renamed into place, so a killed run never
    leaves a half-written one; sequence-classification models load it and drop the MLM head.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from .trainer import LengthGroupedBatches, StepLoop, _quiet_transformers, shard_loader

    folder = Path(folder)
    if (folder / "config.json").is_file():
        logger.info("task-adaptive pretraining: reusing %s", folder)
        return str(folder)
    tmp = folder.with_name(".tmp-" + folder.name)
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)  # a killed earlier attempt
    set_seed(seed)
    _quiet_transformers()  # a new MLM head is expected for sentence-embedding checkpoints
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    if tokenizer.mask_token is None:
        raise ValueError(f"model {source!r} has no mask token: it cannot be trained with masked-language modelling")
    model = AutoModelForMaskedLM.from_pretrained(source, trust_remote_code=trust_remote_code, use_safetensors=True)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
    batches = LengthGroupedBatches([len(x) for x in ids], batch_size, seed)
    loader = shard_loader(torch.utils.data.DataLoader(
        [{"input_ids": x} for x in ids], batch_sampler=batches, collate_fn=collator), accelerator)
    loop = StepLoop(model, accelerator, steps=steps, learning_rate=learning_rate, weight_decay=0.01,
                    warmup_steps=math.ceil(0.06 * steps), desc="adapt (MLM)")
    losses = []
    while loop.running:
        for batch in loader:
            loss = loop.model(**batch).loss
            accelerator.backward(loss)
            losses.append(loss.item())
            if not loop.step(losses[-1]):
                break
    model = loop.finish()
    if accelerator.is_main_process:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.rename(folder)
    accelerator.wait_for_everyone()
    logger.info("task-adaptive pretraining: %d steps on %d texts, MLM loss %.3f -> %.3f; saved %s",
                loop.done, len(ids), float(np.mean(losses[:10])), float(np.mean(losses[-10:])), folder)
    return str(folder)
