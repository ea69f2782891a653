"""Decoding heads: hidden states (..., d) → vocabulary logits (..., V).

A checkpoint's own masked-LM or causal-LM head (:class:`LMHead`: for decoders, the logit lens) or one fitted by
Backbone Lens on frozen states (:class:`DecodingHead`, decoder tied to the word embeddings), used by decoded
Grad-CAM and the word-substitution attack.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from pathlib import Path

from core.models.families import with_stub_base


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


FINAL_NORM_NAMES = ("norm", "ln_f", "final_norm", "final_layer_norm", "norm_f")


class _HiddenStub(nn.Module):
    """Stands in for the base model inside a ``*ForMaskedLM`` / ``*ForCausalLM``: returns the given hidden states."""

    def __init__(self, config: object) -> None:
        super().__init__()
        self.config = config
        self.h: torch.Tensor | None = None

    def forward(self, *args: object, **kwargs: object) -> object:
        from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions as Output

        return Output(last_hidden_state=self.h)


class LMHead(nn.Module):
    """A checkpoint's own masked-LM or causal-LM head as ``h (..., T, d) → logits (..., T, V)``, run by the model's
    own forward with its base model replaced by a stub that returns ``h`` (so every family's head, tying, bias and
    logit soft-capping run unchanged).

    ``final_norm``: the norm a base model applies after its last layer (decoders, ModernBERT): reading an earlier
    layer through the head applies it first — the *logit lens* — except to the states the model already returns
    normed (``normed_last``: HF returns the last layer after the norm). ``predicts_next``: a causal LM, whose
    distribution at position j is its guess of token j + 1.
    """

    def __init__(self, full: nn.Module, *, predicts_next: bool = False) -> None:
        super().__init__()
        base = getattr(full, full.base_model_prefix)
        self.stub = _HiddenStub(getattr(base, "config", None))
        self.model = with_stub_base(full, self.stub)
        self.final_norm = next((getattr(base, n) for n in FINAL_NORM_NAMES
                                if isinstance(getattr(base, n, None), nn.Module)), None)
        self.predicts_next = predicts_next
        self.normed_last = True
        self.num_layers = int(getattr(full.config, "num_hidden_layers", 0) or 0)
        self.vocab_size = int(full.get_output_embeddings().weight.shape[0])
        # the states it reads (ALBERT's head maps hidden_size to a smaller embedding size before the vocabulary)
        self.hidden_size = int(getattr(full.config, "hidden_size", full.get_output_embeddings().weight.shape[1]))

    def forward(self, h: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """h: (..., T, d) hidden states of ``layer`` (0 … L; None = already final) → logits (..., T, V)."""
        if self.final_norm is not None and layer is not None and not (layer == self.num_layers and self.normed_last):
            h = self.final_norm(h)
        shape = h.shape
        flat = h.reshape(-1, shape[-2], shape[-1]) if h.dim() != 3 else h
        self.stub.h = flat
        try:
            ids = torch.ones(flat.shape[:2], dtype=torch.long, device=flat.device)
            out = self.model(input_ids=ids, attention_mask=torch.ones_like(ids), return_dict=True)
        finally:
            self.stub.h = None
        logits = out.logits
        return logits.reshape(*shape[:-1], logits.shape[-1])


class TiedLMHead(nn.Module):
    """A decoder's LM head when it is its word-embedding matrix (``tie_word_embeddings``): ``norm(h) @ Eᵀ``, the
    logit lens of a classifier checkpoint that has no separate LM head. Same call as :class:`LMHead`."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.final_norm = next((getattr(base, n) for n in FINAL_NORM_NAMES
                                if isinstance(getattr(base, n, None), nn.Module)), None)
        self._emb = [base.get_input_embeddings()]  # shared with the encoder, not part of this module's state
        self.predicts_next = True
        self.normed_last = True
        self.num_layers = int(getattr(base.config, "num_hidden_layers", 0) or 0)
        self.vocab_size, self.hidden_size = (int(x) for x in self._emb[0].weight.shape)

    def forward(self, h: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """h: (..., T, d) of ``layer`` → logits (..., T, V)."""
        if self.final_norm is not None and layer is not None and not (layer == self.num_layers and self.normed_last):
            h = self.final_norm(h)
        return h @ self._emb[0].weight.T


def tied_lm_head(base: nn.Module) -> TiedLMHead:
    return TiedLMHead(base)


def load_decoding_head(encoder: nn.Module, file: Path) -> DecodingHead:
    from safetensors.torch import load_file

    head = DecodingHead(encoder.get_input_embeddings(), eps=getattr(encoder.config, "layer_norm_eps", 1e-12))
    head.load_state_dict(load_file(str(file)))
    return head
