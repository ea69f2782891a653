"""What an attack may edit and what it may put there: editable words, character edits (DeepWordBug-style swaps
and deletions, look-alike letters) and whole-word substitutes from a masked-LM head (BERT-Attack).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.foundation.errors import BackboneLensError

if TYPE_CHECKING:  # pragma: no cover
    from core.models.loading import LoadedModel

HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "о", "p": "р", "s": "ѕ", "x": "х", "y": "у",
              "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О", "P": "Р", "T": "Т",
              "X": "Х"}

URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


class AttackError(BackboneLensError):
    """Attack settings or inputs that cannot work."""


def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | {"s", "t", "don", "didn", "doesn", "isn", "wasn", "won", "can't", "im"}


def editable(word: str, stops: frozenset[str]) -> bool:
    """A word an attack may edit: letters only (apostrophes allowed), two or more, not a stop word."""
    return (len(word) >= 2 and re.fullmatch(r"[^\W\d_]+(?:'[^\W\d_]+)?", word) is not None
            and word.lower() not in stops)


def match_case(candidate: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return candidate.upper()
    if original[:1].isupper():
        return candidate[:1].upper() + candidate[1:]
    return candidate


def char_candidates(word: str, *, max_candidates: int = 24, seed: int = 0) -> list[str]:
    """Swaps of adjacent inner characters, inner deletions and single homoglyphs (deduplicated)."""
    out: list[str] = []
    if len(word) >= 4:
        for i in range(1, len(word) - 2):
            if word[i] != word[i + 1]:
                out.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    if len(word) >= 3:
        for i in range(1, len(word) - 1):
            out.append(word[:i] + word[i + 1:])
    for i, ch in enumerate(word):
        if ch in HOMOGLYPHS:
            out.append(word[:i] + HOMOGLYPHS[ch] + word[i + 1:])
    seen, uniq = {word}, []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    if len(uniq) > max_candidates:
        rng = np.random.default_rng(seed)
        uniq = [uniq[i] for i in sorted(rng.choice(len(uniq), max_candidates, replace=False))]
    return uniq


@dataclass
class Word:
    """A word under attack: its span in the *current* segment text and in the original, and its importance."""

    segment: int
    start: int
    end: int
    orig_start: int
    orig_end: int
    original: str
    importance: float


def replace_word(segs: list[str | None], w: Word, new: str) -> list[str | None]:
    """The segments (text, pair) with ``w`` replaced by ``new``."""
    out = list(segs)
    s = out[w.segment] or ""
    out[w.segment] = s[:w.start] + new + s[w.end:]
    return out


def vocab_filter(tokenizer: Any, stops: frozenset[str]) -> np.ndarray:
    """(V,) bool: vocabulary entries usable as whole-word substitutes."""
    vocab = tokenizer.get_vocab()
    ok = np.zeros(max(vocab.values()) + 1, dtype=bool)
    special = set(tokenizer.all_special_ids)
    for tok, i in vocab.items():
        w = tok[1:] if tok.startswith("Ġ") or tok.startswith("▁") else tok
        if i not in special and not tok.startswith("##") and editable(w, stops):
            ok[i] = True
    return ok


def _decoded(tok: Any, ids: list[int], original: str, top_k: int) -> list[str]:
    """The words of vocabulary ``ids``, in ``original``'s case, without the original itself (at most ``top_k``)."""
    cands = [tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)]).strip() for i in ids]
    return [match_case(c, original) for c in cands if c and c.lower() != original.lower()][:top_k]


def word_candidates_unmasked(mlm_model: "LoadedModel", text: str, pair: str | None, words: list[Word], top_k: int,
                             vocab_ok: np.ndarray) -> dict[int, list[str]]:
    """BERT-Attack: one pass over the unmasked sentence; top-K at each word's first piece (word index → words)."""
    import torch

    tok = mlm_model.tokenizer
    enc = tok([text], None if pair is None else [pair], truncation=True if pair is None else "longest_first",
              max_length=mlm_model.max_length, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].numpy()
    seq_ids = enc.sequence_ids(0)
    batch = {k: v.to(mlm_model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode():
        logits = mlm_model.decode(mlm_model.encode(batch).last_hidden)[0].float()
        logits[:, torch.from_numpy(~vocab_ok[:logits.shape[1]]).to(logits.device)] = -float("inf")
    # a causal LM reads position t - 1 to guess token t: its substitutes for a word are what the prefix predicts
    shift = 1 if getattr(mlm_model.mlm_head, "predicts_next", False) else 0
    out: dict[int, list[str]] = {}
    for wi, w in enumerate(words):
        pos = [t for t, (sid, (a, b)) in enumerate(zip(seq_ids, offsets))
               if sid == w.segment and b > a and (a == w.start or (a == w.start - 1 and (
                   pair if w.segment == 1 and pair is not None else text)[a:a + 1].isspace()))]
        if not pos or pos[0] - shift < 0:
            continue  # truncated away, or a decoder's first token (nothing before it predicts it)
        out[wi] = _decoded(tok, torch.topk(logits[pos[0] - shift], top_k + 1).indices.tolist(), w.original, top_k)
    return out


def word_candidates_masked(mlm_model: "LoadedModel", text: str, pair: str | None, w: Word, top_k: int,
                           vocab_ok: np.ndarray) -> list[str]:
    """Replace the word by one mask token and read the masked position. A causal LM never sees a word when it
    predicts it (position t − 1 reads only the prefix), so for a decoder's head this is the prefix's prediction in
    the current text, with no mask token needed."""
    import torch

    tok = mlm_model.tokenizer
    if getattr(mlm_model.mlm_head, "predicts_next", False):
        return word_candidates_unmasked(mlm_model, text, pair, [w], top_k, vocab_ok).get(0, [])
    if tok.mask_token is None:
        raise AttackError(f"The tokenizer of {mlm_model.ref} has no mask token; use unmasked candidates.")
    segs = replace_word([text, pair], w, tok.mask_token)
    enc = mlm_model.tokenize([segs[0] or ""], None if pair is None else [segs[1] or ""])
    where = (enc["input_ids"][0] == tok.mask_token_id).nonzero()
    if len(where) == 0:
        return []
    with torch.inference_mode():
        logits = mlm_model.decode(mlm_model.encode(enc).last_hidden)[0, int(where[0])].float()
        logits[torch.from_numpy(~vocab_ok[:logits.shape[0]]).to(logits.device)] = -float("inf")
    return _decoded(tok, torch.topk(logits, top_k + 1).indices.tolist(), w.original, top_k)


__all__ = ["AttackError", "HOMOGLYPHS", "URL", "Word", "char_candidates", "editable", "match_case", "replace_word",
           "stop_words", "vocab_filter", "word_candidates_masked", "word_candidates_unmasked"]
