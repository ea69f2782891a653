"""Classification and masked-LM heads as standalone modules.

Every classifier in Backbone Lens is ``encoder → pooled embedding (b, d) → head → logits (b, C)``.
For Hugging Face ``*ForSequenceClassification`` checkpoints the head is adapted from the
checkpoint's own modules so that it maps the CLS hidden state to the same logits the full
model produces; for our own models it is an :class:`MLPHead` on CLS or mean-pooled states.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ModelError


class MLPHead(nn.Module):
    """BERT-style head: dropout → Linear(d, h) → tanh → dropout → Linear(h, C)."""

    def __init__(self, dim: int, num_labels: int, hidden: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = hidden or dim
        self.dim, self.num_labels, self.hidden = dim, num_labels, hidden
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled: (b, d) → logits (b, C)."""
        x = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out(self.dropout(x))


class HFSequenceHead(nn.Module):
    """The head of a HF ``*ForSequenceClassification`` model, as a function of the CLS state (b, d)."""

    SUPPORTED = ("bert", "distilbert", "roberta", "xlm-roberta", "camembert", "deberta", "deberta-v2",
                 "electra", "albert", "mpnet")

    def __init__(self, model: nn.Module, model_type: str) -> None:
        super().__init__()
        if model_type not in self.SUPPORTED:
            raise ModelError(
                f"Classifier heads of model type '{model_type}' are not supported yet "
                f"(supported: {', '.join(self.SUPPORTED)})."
            )
        self.model_type = model_type
        self.parts = nn.ModuleDict()
        self.parts["classifier"] = model.classifier
        if model_type == "bert":
            pooler = getattr(model.bert, "pooler", None)
            if pooler is None:
                raise ModelError("This BERT classifier has no pooler; it cannot be split into encoder and head.")
            self.parts["pooler"] = pooler
        elif model_type == "albert":
            self.parts["pooler"] = model.albert.pooler
            self.parts["pooler_activation"] = model.albert.pooler_activation
        elif model_type == "distilbert":
            self.parts["pre_classifier"] = model.pre_classifier
        elif model_type in ("deberta", "deberta-v2"):
            self.parts["pooler"] = model.pooler

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        p, t = self.parts, self.model_type
        if t == "bert":
            return p["classifier"](p["pooler"](pooled[:, None, :]))
        if t == "albert":
            return p["classifier"](p["pooler_activation"](p["pooler"](pooled)))
        if t == "distilbert":
            return p["classifier"](F.relu(p["pre_classifier"](pooled)))
        if t in ("deberta", "deberta-v2"):
            return p["classifier"](p["pooler"](pooled[:, None, :]))
        # roberta-style heads take the sequence and read position 0 themselves
        return p["classifier"](pooled[:, None, :])


class DecodingHead(nn.Module):
    """Masked-LM head: Linear(d, d) → GELU → LayerNorm → decoder tied to the word embeddings + bias.

    ``forward(h: (..., d)) → vocabulary logits (..., V)``. The decoder weight is the encoder's
    word-embedding matrix (shared, not copied), as in BERT.
    """

    def __init__(self, word_embeddings: nn.Embedding, eps: float = 1e-12) -> None:
        super().__init__()
        d = word_embeddings.embedding_dim
        self.dense = nn.Linear(d, d)
        self.layer_norm = nn.LayerNorm(d, eps=eps)
        self.bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))
        self._emb = [word_embeddings]  # a list keeps it out of this module's state_dict

    @property
    def decoder_weight(self) -> torch.Tensor:
        return self._emb[0].weight

    def transform(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(F.gelu(self.dense(h)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.transform(h) @ self.decoder_weight.T + self.bias


class HFMaskedLMHead(nn.Module):
    """The MLM head of a HF ``*ForMaskedLM`` checkpoint as ``h: (..., d) → logits (..., V)``."""

    def __init__(self, model: nn.Module, model_type: str) -> None:
        super().__init__()
        self.model_type = model_type
        if model_type == "distilbert":
            self.parts = nn.ModuleDict({"t": model.vocab_transform, "ln": model.vocab_layer_norm,
                                        "proj": model.vocab_projector})
            self.act = model.activation
        elif hasattr(model, "cls"):
            self.parts = nn.ModuleDict({"cls": model.cls})
        elif hasattr(model, "lm_head"):
            self.parts = nn.ModuleDict({"lm_head": model.lm_head})
        else:
            raise ModelError(f"Cannot find the masked-LM head of model type '{model_type}'.")

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.model_type == "distilbert":
            return self.parts["proj"](self.parts["ln"](self.act(self.parts["t"](h))))
        if "cls" in self.parts:
            return self.parts["cls"](h)
        return self.parts["lm_head"](h)
