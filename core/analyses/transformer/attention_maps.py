"""Token-to-token attention of one text (or text pair): every layer and head, BertViz's head view as arrays.

The model reads the whole text (up to its maximum length); only the *display* is cut to the first
``max_tokens`` tokens, with a note, because a map of hundreds of tokens is not legible. For a text
pair the tokens of both segments are kept and :meth:`AttentionMaps.cross_segment` gives, per layer
and head, the share of attention each segment's tokens pay to the other segment.
Attention weights need the eager attention implementation: the model is switched to it once, and
the switch is reported in ``notes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.foundation.errors import BackboneLensError

if TYPE_CHECKING:  # pragma: no cover
    from core.models.loading import LoadedModel


class AttentionMapError(BackboneLensError):
    """The model returns no attention weights, or the layer / head / text is unusable."""


DEFAULT_MAX_TOKENS = 48


@dataclass(frozen=True, eq=False)
class AttentionMaps:
    """Attention of one input. attentions: (L, H, T, T) float32, row = query token, column = key token, for the
    first T shown tokens (special tokens included); tokens: (T,); segments: (T,) 0 = first text, 1 = second
    (special tokens belong to the segment they close, [CLS] to the first); special: (T,) bool.
    ``n_tokens`` is the length the model read; ``cross`` (L, H, 2) is the mean share of attention that the
    first segment's query tokens pay to the second segment's tokens ([..., 0]) and the reverse ([..., 1]),
    over the whole input (None for a single text)."""

    model_ref: str
    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    segments: np.ndarray
    special: np.ndarray
    attentions: np.ndarray
    n_tokens: int
    truncated_input: bool
    cross: np.ndarray | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def shown(self) -> int:
        return len(self.tokens)

    @property
    def cropped(self) -> bool:
        return self.shown < self.n_tokens

    def head(self, layer: int, head: int) -> np.ndarray:
        """(T, T) attention of ``layer`` (0-based) and ``head``."""
        check_layer_head(self.n_layers, self.n_heads, layer, head)
        return self.attentions[layer, head]

    def mean_heads(self, layer: int) -> np.ndarray:
        """(T, T) attention of ``layer`` averaged over heads."""
        check_layer_head(self.n_layers, self.n_heads, layer, 0)
        return self.attentions[layer].mean(0)

    def to_json(self, layer: int | None = None, head: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model_ref, "text": self.text, "text_pair": self.text_pair,
                               "tokens": list(self.tokens), "segments": [int(s) for s in self.segments],
                               "n_layers": self.n_layers, "n_heads": self.n_heads, "n_tokens": self.n_tokens,
                               "shown_tokens": self.shown, "notes": list(self.notes)}
        if layer is not None and head is not None:
            out.update(layer=layer, head=head, matrix=np.round(self.head(layer, head), 5).tolist())
        if self.cross is not None:
            out["cross_segment"] = {"first_to_second": np.round(self.cross[..., 0], 4).tolist(),
                                    "second_to_first": np.round(self.cross[..., 1], 4).tolist()}
        return out


def check_layer_head(n_layers: int, n_heads: int, layer: int, head: int) -> None:
    if not 0 <= int(layer) < n_layers:
        raise AttentionMapError(f"Layer {layer} does not exist; this model has layers 0 … {n_layers - 1}.")
    if not 0 <= int(head) < n_heads:
        raise AttentionMapError(f"Head {head} does not exist; this model has heads 0 … {n_heads - 1}.")


def _segments_with_specials(seq_ids: list[int | None]) -> np.ndarray:
    """Segment per position: content tokens by the tokenizer, a special token by the last content segment before
    it (the [SEP] closing a text belongs to it; a leading [CLS] to the first)."""
    out = np.zeros(len(seq_ids), dtype=np.int64)
    last = 0
    for i, s in enumerate(seq_ids):
        if s is not None:
            last = int(s)
        out[i] = last
    return out


def cross_segment_attention(A: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """A: (L, H, T, T), segments: (T,) of 0/1 → (L, H, 2): mean attention mass the first segment's queries put on
    the second segment, and the reverse."""
    a, b = segments == 0, segments == 1
    if not a.any() or not b.any():
        raise AttentionMapError("Cross-segment attention needs tokens in both segments.")
    ab = A[:, :, a][:, :, :, b].sum(-1).mean(-1)
    ba = A[:, :, b][:, :, :, a].sum(-1).mean(-1)
    return np.stack([ab, ba], axis=-1).astype(np.float32)


def attention_shape(model: "LoadedModel") -> tuple[int, int]:
    """(layers, heads per layer) of any encoder, read from its configuration."""
    cfg = model.encoder.config
    return model.num_layers, int(getattr(cfg, "num_attention_heads", 0) or getattr(cfg, "n_heads", 1))


def attention_maps(model: "LoadedModel", text: str, text_pair: str | None = None, *, max_tokens: int = DEFAULT_MAX_TOKENS,
                   max_length: int | None = None) -> AttentionMaps:
    """Attention of every layer and head for ``text`` (and ``text_pair``); the display keeps the first
    ``max_tokens`` tokens (≥ 2)."""
    import torch

    if not isinstance(text, str) or not text.strip():
        raise AttentionMapError("The text is empty.")
    if text_pair is not None and not text_pair.strip():
        raise AttentionMapError("The second text is empty.")
    if int(max_tokens) < 2:
        raise AttentionMapError(f"Show at least 2 tokens, not {max_tokens}.")
    tok = model.tokenizer
    ml = int(max_length or model.max_length)
    notes_before = len(model.notes)
    enc = tok(text, text_pair, truncation=True if text_pair is None else "longest_first", max_length=ml,
              return_tensors="pt", return_token_type_ids=True, return_special_tokens_mask=True)
    full_len = len(tok(text, text_pair, truncation=False)["input_ids"])
    batch = {"input_ids": enc["input_ids"].to(model.device), "attention_mask": enc["attention_mask"].to(model.device),
             "token_type_ids": enc["token_type_ids"].to(model.device)}
    with torch.inference_mode():
        out = model.encode(batch, attentions=True)
    if not out.attentions:
        raise AttentionMapError(f"Model {model.ref} does not return attention weights.")
    A = torch.stack([a[0].float() for a in out.attentions]).cpu().numpy()  # (L, H, T, T)
    ids = enc["input_ids"][0].tolist()
    T = len(ids)
    special = enc["special_tokens_mask"][0].numpy().astype(bool)
    if getattr(tok, "is_fast", False):
        seq = enc.sequence_ids(0)
    else:
        tt = enc["token_type_ids"][0].tolist()
        seq = [None if special[i] else int(tt[i]) for i in range(T)]
    segments = _segments_with_specials(seq)
    notes = list(model.notes[notes_before:])
    truncated_input = full_len > T
    if truncated_input:
        notes.append(f"the text has {full_len} tokens; the model reads the first {T} (its maximum length)")
    cross = cross_segment_attention(A, segments) if text_pair is not None and (segments == 1).any() else None
    shown = min(T, int(max_tokens))
    if shown < T:
        notes.append(f"showing the first {shown} of {T} tokens: rows no longer sum to 1, the rest of the attention "
                     "goes to tokens not shown")
    tokens = tuple(tok.convert_ids_to_tokens(ids[:shown]))
    return AttentionMaps(model.ref, text, text_pair, tokens, segments[:shown], special[:shown],
                         np.ascontiguousarray(A[:, :, :shown, :shown]), T, truncated_input, cross, tuple(notes))


__all__ = ["AttentionMapError", "AttentionMaps", "DEFAULT_MAX_TOKENS", "attention_maps", "attention_shape",
           "check_layer_head",
           "cross_segment_attention"]
