"""Tokenised inputs every saliency method shares, and the token perturbations of the games.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
import numpy as np
import torch
from core.models.loading import LoadedModel
from core.analyses.saliency.result import SaliencyError


@dataclass(frozen=True, eq=False)
class Inputs:
    """A tokenised batch on the model's device.

    input_ids, attention_mask, token_type_ids: (b, T); content: (b, T) bool, the real tokens (not
    special, not padding); segments, word_ids: (b, T) int64 (−1 outside content); offsets:
    (b, T, 2) int64; truncated: (b,) bool.
    """

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    content: torch.Tensor
    segments: np.ndarray
    word_ids: np.ndarray
    offsets: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, ids: torch.Tensor | None = None, rows: slice | torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """The encoder's keyword arguments for ``rows`` (default: all), with ``ids`` instead of input_ids."""
        r = slice(None) if rows is None else rows
        return {"input_ids": self.input_ids[r] if ids is None else ids,
                "attention_mask": self.attention_mask[r], "token_type_ids": self.token_type_ids[r]}

    def sequences(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per text, without padding: input ids (T_i,), token types (T_i,), positions of its content tokens."""
        ids, tt = self.input_ids.cpu().numpy(), self.token_type_ids.cpu().numpy()
        am, content = self.attention_mask.cpu().numpy().astype(bool), self.content.cpu().numpy()
        return [(ids[i][am[i]], tt[i][am[i]], np.flatnonzero(content[i][am[i]])) for i in range(len(self))]

    def select(self, rows: Sequence[int]) -> "Inputs":
        """The sub-batch of ``rows``, trimmed to its longest sequence."""
        idx = torch.as_tensor(list(rows), dtype=torch.long, device=self.input_ids.device)
        T = int(self.attention_mask[idx].sum(1).max())
        ix = np.asarray(list(rows))
        return Inputs(tuple(self.texts[i] for i in ix), None if self.pairs is None else tuple(self.pairs[i] for i in ix),
                      self.input_ids[idx, :T], self.attention_mask[idx, :T], self.token_type_ids[idx, :T],
                      self.content[idx, :T], self.segments[ix, :T], self.word_ids[ix, :T], self.offsets[ix, :T],
                      self.truncated[ix])


def _check_texts(texts: Sequence[str], pairs: Sequence[str] | None) -> None:
    if isinstance(texts, str):
        raise SaliencyError("Pass a list of texts, not a single string.")
    if len(texts) == 0:
        raise SaliencyError("No text given.")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise SaliencyError("The text is empty." if len(texts) == 1 else f"Text {i + 1} is empty.")
    if pairs is not None:
        if len(pairs) != len(texts):
            raise SaliencyError(f"{len(texts)} texts but {len(pairs)} second texts; give one per text.")
        for i, t in enumerate(pairs):
            if not isinstance(t, str) or not t.strip():
                raise SaliencyError("The second text is empty." if len(pairs) == 1
                                    else f"Second text {i + 1} is empty.")


def prepare_inputs(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                   max_length: int | None = None) -> Inputs:
    """Tokenise ``texts`` (and ``pairs``), truncating to the model's maximum length (flagged per text)."""
    _check_texts(texts, pairs)
    tok = model.tokenizer
    ml = int(max_length or model.max_length)
    texts, pairs = [str(t) for t in texts], None if pairs is None else [str(p) for p in pairs]
    fast = bool(getattr(tok, "is_fast", False))
    if ml > model.max_length:
        raise SaliencyError(f"max_length {ml} is more than this model reads ({model.max_length} tokens).")
    enc = tok(texts, pairs, truncation=True if pairs is None else "longest_first", max_length=ml, padding=True,
              padding_side="right", return_tensors="pt", return_offsets_mapping=fast, return_token_type_ids=True,
              return_special_tokens_mask=True)
    full = tok(texts, pairs, truncation=False, add_special_tokens=True)["input_ids"]
    truncated = np.array([len(x) > ml for x in full], dtype=bool)
    ids = enc["input_ids"]
    b, T = ids.shape
    am = enc["attention_mask"]
    # special tokens by position (those the tokenizer added), not by id: an [UNK] in the text is content
    content = am.bool() & ~enc["special_tokens_mask"].bool()
    segments = np.full((b, T), -1, dtype=np.int64)
    word_ids = np.full((b, T), -1, dtype=np.int64)
    offsets = np.full((b, T, 2), -1, dtype=np.int64)
    for i in range(b):
        if fast:
            seq = enc.sequence_ids(i)
            wid = enc.word_ids(i)
            segments[i] = [-1 if s is None else s for s in seq]
            word_ids[i] = [-1 if w is None else w for w in wid]
            offsets[i] = enc["offset_mapping"][i].numpy()
        else:  # slow tokenizers: segments from token types, no word ids or offsets
            tt = enc["token_type_ids"][i].numpy()
            segments[i] = np.where(content[i].numpy(), tt, -1)
    segments[~content.numpy()] = -1
    word_ids[~content.numpy()] = -1
    tti = enc.get("token_type_ids", torch.zeros_like(ids))
    dev = model.device
    return Inputs(tuple(texts), None if pairs is None else tuple(pairs), ids.to(dev), am.to(dev), tti.to(dev),
                  content.to(dev), segments, word_ids, offsets, truncated)


def perturb_ids(ids: np.ndarray, types: np.ndarray, hide: np.ndarray, replacement: str, *, mask_id: int,
                pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """One sequence with the positions ``hide`` (bool (T,)) replaced by the mask or pad token, or deleted."""
    if replacement == "delete":
        keep = ~hide
        return ids[keep], types[keep]
    new = ids.copy()
    new[hide] = mask_id if replacement == "mask" else pad_id
    return new, types


def effective_replacement(model: LoadedModel, replacement: str) -> str:
    """The replacement actually used: ``mask`` becomes ``pad`` for a tokenizer without a mask token (decoders,
    whose padding token is then their end-of-text token); results record this value, not the one asked for."""
    if replacement == "mask" and model.tokenizer.mask_token_id is None:
        return "pad"
    return replacement


def replacement_ids(model: LoadedModel, replacement: str) -> tuple[int, int]:
    """(mask id, pad id) of the tokenizer; a missing mask token is an error when it is asked for."""
    tok = model.tokenizer
    if replacement not in ("mask", "pad", "delete"):
        raise SaliencyError(f"Replacement must be mask, pad or delete, got {replacement!r}.")
    if replacement == "mask" and tok.mask_token_id is None:
        raise SaliencyError(f"The tokenizer of {model.ref} has no mask token; use replacement pad or delete.")
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    return (tok.mask_token_id if tok.mask_token_id is not None else pad), pad
