"""Word-level saliency: merge word pieces into the words of the original text."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analyses.saliency.result import SaliencyResult


@dataclass(frozen=True, eq=False)
class WordSaliency:
    """words: (W,) surface forms from the original text (or joined pieces); scores: (W,) float32;
    segments: (W,) 0/1; spans: (W, 2) character spans in the segment's text (−1 when unknown)."""

    words: tuple[str, ...]
    scores: np.ndarray
    segments: np.ndarray
    spans: np.ndarray


WORD_START = ("Ġ", "▁", "Ċ")  # byte-level BPE (GPT-2, Qwen, RoBERTa) and SentencePiece (Llama, XLM-R, DeBERTa-v3)


def _starts_word(token: str) -> bool:
    return token.startswith(WORD_START)


def merge_words(result: SaliencyResult, *, agg: str = "sum") -> WordSaliency:
    """Merge word pieces into words by summing (default) or averaging their scores, or by keeping the score of
    largest magnitude (``max``, sign kept).

    Pieces are grouped by the word ids of a fast tokenizer (every family: WordPiece ``##`` pieces, byte-level BPE
    ``Ġ`` pieces, SentencePiece ``▁`` pieces); a word's text is its span in the original text without the spaces
    BPE and SentencePiece attach to a word's first piece. Without word ids (slow tokenizers) a piece continues the
    word before it unless it starts one (``Ġ``/``▁``) or the previous one was a whole WordPiece word (no ``##``).
    Sum keeps additive attributions additive (IG, Shapley, occlusion windows).
    """
    if agg not in ("sum", "mean", "max"):
        raise ValueError(f"agg must be sum, mean or max, got {agg!r}")
    groups: list[list[int]] = []
    keys: list[tuple[int, int]] = []
    bpe = any(_starts_word(t) for t in result.tokens)
    for i, (seg, wid) in enumerate(zip(result.segments, result.word_ids)):
        key = (int(seg), int(wid))
        if wid >= 0:
            joins = bool(keys) and keys[-1] == key
        else:  # no word ids: read the pieces' own marks
            tok = result.tokens[i]
            joins = bool(groups) and int(result.segments[groups[-1][0]]) == int(seg) and (
                not _starts_word(tok) if bpe else tok.startswith("##"))
        if joins:
            groups[-1].append(i)
        else:
            groups.append([i])
            keys.append(key)
    words, scores, segs, spans = [], [], [], []
    for g in groups:
        s = result.scores[g]
        scores.append(s.sum() if agg == "sum" else s.mean() if agg == "mean" else s[np.argmax(np.abs(s))])
        seg = int(result.segments[g[0]])
        a, b = int(result.offsets[g[0], 0]), int(result.offsets[g[-1], 1])
        src = result.text if seg == 0 else (result.text_pair or "")
        if a >= 0 and b > a:
            while a < b and src[a].isspace():  # BPE / SentencePiece spans start at the space before the word
                a += 1
            while b > a and src[b - 1].isspace():
                b -= 1
        if a >= 0 and b > a:
            words.append(src[a:b])
            spans.append((a, b))
        else:
            words.append("".join(result.tokens[i].removeprefix("##").lstrip("".join(WORD_START)) if j
                                 else result.tokens[i].lstrip("".join(WORD_START)) for j, i in enumerate(g)))
            spans.append((-1, -1))
        segs.append(seg)
    return WordSaliency(tuple(words), np.asarray(scores, dtype=np.float32), np.asarray(segs, dtype=np.int64),
                        np.asarray(spans, dtype=np.int64).reshape(-1, 2))
