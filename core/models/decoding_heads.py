"""Decoding heads: hidden states (..., d) → vocabulary logits (..., V).

A checkpoint's own masked-LM head (:class:`HFMaskedLMHead`) or one fitted by Backbone Lens on frozen
states (:class:`DecodingHead`, decoder tied to the word embeddings), used by decoded Grad-CAM and the
word-substitution attack.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from core.foundation.errors import ModelError
from pathlib import Path


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


def load_decoding_head(encoder: nn.Module, file: Path) -> DecodingHead:
    from safetensors.torch import load_file

    head = DecodingHead(encoder.get_input_embeddings(), eps=getattr(encoder.config, "layer_norm_eps", 1e-12))
    head.load_state_dict(load_file(str(file)))
    return head
