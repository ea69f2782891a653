"""Architecture families: the little each one needs beyond what the checkpoint's own modules already do.

Backbone Lens reads every classifier as ``encoder → pooled vector (b, d) → head → logits (b, C)``. For any
Hugging Face ``*ForSequenceClassification`` the head is the model's *own* code after the base model
(:class:`SequenceHead`): the full model runs with its base model replaced by a stub that hands back the pooled
vector as a one-token sequence, so pooling over that sequence, the model's pooler, dense layers, activations and
the last-non-padding-token pick of decoder classifiers all run unchanged. A family only declares:

* ``pooling`` — which vector of the last hidden states the head receives: ``cls`` (position 0: BERT, RoBERTa,
  XLM-R, DeBERTa, ELECTRA, ALBERT, MPNet, DistilBERT), ``mean`` (masked mean: sentence-transformers,
  ModernBERT with ``classifier_pooling: mean``) or ``last`` (the last real token: decoder classifiers, left or
  right padding);
* ``causal`` — a decoder (its positions are counted from the attention mask, so left padding changes nothing);
* the attention output projection of each layer (``attention_outputs``): its input is the heads' context vectors
  side by side, where a head is masked. Found by name in each layer; ALBERT's one shared layer is the same module
  at every depth (its hook counts the calls); for grouped-query attention (Llama, Qwen, Mistral, Gemma) the heads
  are the *query* heads — masking one zeroes its context vector, the key/value head it shares stays untouched.

A family is found from ``config.model_type``; an unknown encoder or decoder gets the generic family of its kind
(``config.is_decoder`` / a ``*ForCausalLM`` architecture), which works whenever its layers and projections carry
the usual names — the tests split every family's head and mask every head against the full model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from core.foundation.errors import ModelError
from core.foundation.registry import Registry

# names, relative to one layer, of the attention output projection in the families Backbone Lens knows
ATTENTION_OUTPUT_NAMES = ("attention.output.dense", "attention.out_lin", "self_attn.o_proj", "attn.c_proj", "attn.Wo",
                          "attention.attn.o", "attention.dense", "self_attn.out_proj", "attn.out_proj", "attn.o_proj")


@dataclass(frozen=True)
class Family:
    """One architecture family (see the module docstring)."""

    name: str
    model_types: tuple[str, ...]
    pooling: str | Callable[[Any], str] = "cls"
    causal: bool = False
    shared_layers: bool = False
    position_offset: int = 0  # RoBERTa-style position ids start after the padding index
    notes: tuple[str, ...] = field(default=())

    def pooling_of(self, config: Any) -> str:
        return self.pooling(config) if callable(self.pooling) else self.pooling

    def describe(self, config: Any) -> dict[str, Any]:
        """What the Workspace page and ``describe()`` say about how this family is read."""
        return {"family": self.name, "pooling": self.pooling_of(config), "causal": self.causal,
                "attention": ("causal" if self.causal else "bidirectional")
                + (", grouped-query" if _kv_heads(config) not in (None, _heads(config)) else "")
                + (", local/global layers" if getattr(config, "global_attn_every_n_layers", None) else "")
                + (", one layer shared by all depths" if self.shared_layers else "")}


FAMILIES: Registry[Family] = Registry("architecture family", error=ModelError)


def _add(f: Family) -> None:
    FAMILIES.add(f.name, f)


for _name, _types, _offset in (("bert", ("bert",), 0), ("distilbert", ("distilbert",), 0),
                               ("roberta", ("roberta", "xlm-roberta", "camembert"), 2),
                               ("deberta", ("deberta", "deberta-v2"), 0), ("electra", ("electra",), 0),
                               ("mpnet", ("mpnet",), 0)):
    _add(Family(_name, _types, "cls", position_offset=_offset))
_add(Family("albert", ("albert",), "cls", shared_layers=True))
_add(Family("modernbert", ("modernbert",), lambda c: getattr(c, "classifier_pooling", "cls") or "cls",
            notes=("ModernBERT alternates global and local (sliding-window) attention layers; both are read the same "
                   "way",)))
_add(Family("decoder", ("gpt2", "llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3", "phi", "phi3",
                        "olmo", "olmo2", "gpt_neox", "opt", "falcon", "starcoder2", "stablelm"), "last", causal=True))
_add(Family("encoder", (), "cls"))  # any other bidirectional encoder


def family_of(config: Any) -> Family:
    """The family of a model config: by ``model_type``, else generic (decoder or encoder)."""
    mt = getattr(config, "model_type", "")
    for f in FAMILIES.values():
        if mt in f.model_types:
            return f
    archs = " ".join(getattr(config, "architectures", None) or [])
    causal = bool(getattr(config, "is_decoder", False)) or "CausalLM" in archs or "LMHead" in archs
    return FAMILIES["decoder"] if causal else FAMILIES["encoder"]


def _heads(config: Any) -> int | None:
    return getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None) or getattr(
        config, "n_heads", None)


def _kv_heads(config: Any) -> int | None:
    return getattr(config, "num_key_value_heads", None)


# ----------------------------------------------------------------------------- pooling


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(b,) position of each row's last real token: the rightmost 1 of the mask, whichever side was padded."""
    T = attention_mask.shape[1]
    pos = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)
    return (pos * attention_mask.long()).argmax(1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(b, T, d), (b, T) → (b, d): ``cls`` (position 0), ``mean`` (masked mean), ``max`` (masked max over
    tokens, as sentence-transformers' max pooling) or ``last`` (last real token)."""
    if pooling == "max":
        return hidden.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min).amax(1)
    if pooling == "mean":
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
    if pooling == "last":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(attention_mask)]
    return hidden[:, 0]


def causal_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """(b, T) positions counted over the real tokens only (as generation does), so that left padding does not
    shift them: 0, 1, 2 … from each row's first real token."""
    return (attention_mask.long().cumsum(1) - 1).clamp_min(0)


# ----------------------------------------------------------------------------- the classifier head


class _PooledStub(nn.Module):
    """Stands in for the base model inside a ``*ForSequenceClassification``: returns the pooled vector as a
    one-token sequence (and, for models that read the base model's pooler output, that pooler applied to it)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        pooler = getattr(base, "pooler", None)
        self.pooler = pooler if isinstance(pooler, nn.Module) else None
        self.linear_pooler = isinstance(pooler, nn.Linear)  # ALBERT: a Linear on position 0, then tanh
        act = getattr(base, "pooler_activation", None)
        self.pooler_activation = act if isinstance(act, nn.Module) else None
        self.config = getattr(base, "config", None)
        self.x: torch.Tensor | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions as Output

        assert self.x is not None
        h = self.x[:, None, :]  # (b, 1, d)
        pooled = None
        if self.pooler is not None:
            if self.linear_pooler:
                pooled = self.pooler(h[:, 0])
                if self.pooler_activation is not None:
                    pooled = self.pooler_activation(pooled)
            else:  # BERT-style poolers read the sequence themselves
                pooled = self.pooler(h)
        return Output(last_hidden_state=h, pooler_output=pooled)


def with_stub_base(full: nn.Module, stub: nn.Module) -> nn.Module:
    """A shallow copy of the HF model ``full`` whose base model is ``stub``: its own forward then runs only the
    modules after the base (a classification or LM head), on whatever the stub returns. ``full`` is unchanged."""
    model = object.__new__(type(full))
    model.__dict__.update(full.__dict__)
    model._modules = dict(full._modules)
    model._modules[full.base_model_prefix] = stub
    return model


class SequenceHead(nn.Module):
    """The head of any HF ``*ForSequenceClassification`` as ``pooled (b, d) → logits (b, C)``, run by the model's
    own forward (see the module docstring). Holds the head's modules only (the base model is not part of it)."""

    def __init__(self, full: nn.Module) -> None:
        super().__init__()
        prefix = full.base_model_prefix
        stub = _PooledStub(getattr(full, prefix))
        self.model = with_stub_base(full, stub)
        self.stub = stub
        self.prefix = prefix
        cfg = full.config
        pad = getattr(cfg, "pad_token_id", None)
        self.token = 1 if pad != 1 else 2  # any id that is not padding: the pick of decoder classifiers reads ids

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled: (b, d) → logits (b, C)."""
        b = pooled.shape[0]
        self.stub.x = pooled
        try:
            ids = torch.full((b, 1), self.token, dtype=torch.long, device=pooled.device)
            mask = torch.ones((b, 1), dtype=torch.long, device=pooled.device)
            out = self.model(input_ids=ids, attention_mask=mask, return_dict=True)
        finally:
            self.stub.x = None
        return out.logits

    def first_affine(self, probe: torch.Tensor) -> tuple[nn.Linear, Callable[[torch.Tensor], torch.Tensor]] | None:
        """(the head's first Linear, rest) when the pooled vector only enters the head through one Linear map
        (so paths can be interpolated after it: W(x_i + t(x_j − x_i)) + b = a_i + t(a_j − a_i)); checked on
        ``probe`` (n, d) against the whole head, None when it does not hold."""
        calls: list[nn.Linear] = []
        hooks = [m.register_forward_hook(lambda mod, i, o: calls.append(mod)) for m in self.modules()
                 if isinstance(m, nn.Linear)]
        try:
            with torch.no_grad():
                want = self(probe)
        finally:
            for h in hooks:
                h.remove()
        if not calls:
            return None
        first = calls[0]
        parent, attr = next((m, n.rsplit(".", 1)[-1]) for name, m in self.named_modules()
                            for n, c in m.named_children() if c is first)

        def rest(a: torch.Tensor) -> torch.Tensor:
            """(..., h) outputs of the first Linear → logits (..., C), without computing that Linear."""
            flat = a.reshape(-1, a.shape[-1])
            setattr(parent, attr, _Given(flat))
            try:
                return self(torch.zeros((flat.shape[0], probe.shape[-1]), dtype=flat.dtype, device=flat.device)
                            ).reshape(*a.shape[:-1], -1)
            finally:
                setattr(parent, attr, first)
        with torch.no_grad():
            got = rest(first(probe))
        return (first, rest) if torch.allclose(got, want, atol=1e-5, rtol=1e-4) else None


class _Given(nn.Module):
    """Replaces a Linear for one call: returns the given output (b, h), shaped as the Linear's input asks."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.reshape(*x.shape[:-1], self.out.shape[-1])


# ----------------------------------------------------------------------------- attention heads


def transformer_layers(base: nn.Module, n_layers: int) -> list[nn.Module]:
    """The base model's ``n_layers`` transformer layers, in order (the ModuleList of that length that holds
    attention); ALBERT's one shared layer repeated ``n_layers`` times."""
    for _, mod in base.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) == n_layers and all(
                any("att" in n.lower() for n, _ in layer.named_modules()) for layer in mod):
            return list(mod)
    groups = getattr(getattr(base, "encoder", None), "albert_layer_groups", None)
    if groups is not None:  # ALBERT: layers shared by depth (num_hidden_layers / num_hidden_groups per group)
        per = n_layers // len(groups)
        return [groups[min(i // per, len(groups) - 1)].albert_layers[0] for i in range(n_layers)]
    raise ModelError(f"Cannot find the {n_layers} transformer layers of {type(base).__name__}.")


def attention_outputs(base: nn.Module, n_layers: int) -> list[nn.Module]:
    """Each layer's attention output projection (input: (b, T, heads·head_dim), the heads' context vectors)."""
    out = []
    for i, layer in enumerate(transformer_layers(base, n_layers)):
        names = dict(layer.named_modules())
        proj = next((names[n] for suffix in ATTENTION_OUTPUT_NAMES for n in names
                     if n == suffix or n.endswith("." + suffix)), None)
        if proj is None:
            raise ModelError(f"Cannot find the attention output projection of layer {i} of {type(base).__name__} "
                             f"(looked for {', '.join(ATTENTION_OUTPUT_NAMES)}).")
        out.append(proj)
    return out


__all__ = ["ATTENTION_OUTPUT_NAMES", "FAMILIES", "Family", "SequenceHead", "attention_outputs", "causal_position_ids",
           "family_of", "last_token_index", "pool", "transformer_layers"]
