"""A sequence classifier that reads the mean of the token states: any encoder, a linear head.

``transformers``' own sequence classifiers put the head on the first token (BERT's pooler).
A sentence-transformers checkpoint (the bundled MiniLM) was trained to mean-pool its tokens,
and its first token is a poor summary: a logistic regression on the frozen pooler output of
20 SST-2 gold rows scores 55.7% on test, on the mean-pooled states 65.9%. Here the head reads
the unit-length mean of the last hidden states, the space the encoder was made for, and
:mod:`pseudolabel.trainer` can warm it from a logistic regression before fine-tuning
(linear probing then fine-tuning, Kumar et al., ICLR 2022).

This file imports only torch and transformers: it is copied into every saved model folder
(``save_pretrained`` does it, from the auto-class registration below), so
``transformers.pipeline("text-classification", model=folder, trust_remote_code=True)`` loads
the model without pseudolabel installed. Its ``model_type`` is its own, so loading it without
``trust_remote_code`` is refused rather than silently read as another architecture.
"""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit-length mean of the token states under ``mask``: the pooling sentence encoders train with."""
    mask = mask.unsqueeze(-1).to(torch.float32)
    pooled = (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1)


class MeanPoolingConfig(PretrainedConfig):
    """The encoder's own configuration (``encoder``, a dict) plus the head's labels."""

    model_type = "pseudolabel_mean_pooling"

    def __init__(self, encoder: dict | None = None, **kwargs):
        self.encoder = dict(encoder or {})
        self.hidden_size = self.encoder.get("hidden_size")
        super().__init__(**kwargs)

    def encoder_config(self) -> PretrainedConfig:
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


class MeanPoolingClassifier(PreTrainedModel):
    """``encoder`` (an ``AutoModel``), mean pooling, then ``classifier`` (a linear layer)."""

    config_class = MeanPoolingConfig
    base_model_prefix = "encoder"

    def __init__(self, config: MeanPoolingConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config())
        pooler = getattr(self.encoder, "pooler", None)
        if isinstance(pooler, torch.nn.Module):  # BERT's first-token pooler: no loss reaches it, and
            pooler.requires_grad_(False)          # several processes (DDP) refuse parameters without gradients
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module):
        if module is getattr(self, "classifier", None):  # the encoder's weights come from its checkpoint
            module.weight.data.zero_()
            module.bias.data.zero_()

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.encoder.set_input_embeddings(value)

    @classmethod
    def from_encoder(cls, source: str, *, num_labels: int, id2label: dict, label2id: dict,
                     trust_remote_code: bool = False) -> "MeanPoolingClassifier":
        """A new classifier over the pretrained encoder ``source`` (a folder or Hugging Face id),
        its head at zero (every class equally likely until trained or warmed)."""
        encoder = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code, use_safetensors=True,
                                            dtype=torch.float32)
        settings = {k: v for k, v in encoder.config.to_dict().items() if k != "_name_or_path"}  # no local path
        config = MeanPoolingConfig(encoder=settings, num_labels=num_labels, id2label=id2label, label2id=label2id)
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:  # not every encoder takes them (DistilBERT does not)
            inputs["token_type_ids"] = token_type_ids
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.encoder(**inputs, output_hidden_states=output_hidden_states)
        logits = self.classifier(mean_pool(out.last_hidden_state, attention_mask).to(self.classifier.weight.dtype))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


AutoConfig.register(MeanPoolingConfig.model_type, MeanPoolingConfig, exist_ok=True)
AutoModelForSequenceClassification.register(MeanPoolingConfig, MeanPoolingClassifier, exist_ok=True)
MeanPoolingConfig.register_for_auto_class()
MeanPoolingClassifier.register_for_auto_class("AutoModelForSequenceClassification")
