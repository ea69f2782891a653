"""Adversarial attacks on a classifier: word substitution (BERT-Attack style, candidates from the masked-LM
head) and character edits, words ordered by any saliency method.
"""
from __future__ import annotations

from core.foundation.progress import Progress

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence
import numpy as np
import torch
from core.foundation.errors import BackboneLensError


ATTACKS = ("word", "char")




HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "о", "p": "р", "s": "ѕ", "x": "х", "y": "у",
              "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О", "P": "Р", "T": "Т",
              "X": "Х"}


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


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


@dataclass(frozen=True)
class WordChange:
    segment: int  # 0 = text, 1 = text pair
    start: int  # character span in the *original* segment
    end: int
    original: str
    replacement: str


@dataclass(frozen=True)
class AttackOutcome:
    """One text under attack. status: success | failed | skipped (already misclassified) | no_candidates."""

    index: int
    text: str
    text_pair: str | None
    adversarial: str
    adversarial_pair: str | None
    status: str
    label: int  # the class attacked: the true label when known, else the prediction
    original_prediction: int
    original_probability: float
    adversarial_prediction: int
    adversarial_probability: float  # of adversarial_prediction
    n_words: int
    queries: int
    similarity: float
    changes: tuple[WordChange, ...] = ()
    message: str = ""

    @property
    def words_changed(self) -> int:
        return len(self.changes)

    def to_json(self, label_names: Sequence[str]) -> dict[str, Any]:
        out = {"index": self.index, "status": self.status, "text": self.text, "adversarial": self.adversarial,
               "label": label_names[self.label] if self.label >= 0 else None,
               "prediction_before": label_names[self.original_prediction],
               "probability_before": round(self.original_probability, 4),
               "prediction_after": label_names[self.adversarial_prediction],
               "probability_after": round(self.adversarial_probability, 4),
               "words_changed": self.words_changed, "n_words": self.n_words, "queries": self.queries,
               "similarity": round(self.similarity, 4),
               "changes": [{"segment": c.segment, "original": c.original, "replacement": c.replacement}
                           for c in self.changes]}
        if self.text_pair is not None:
            out.update(text_pair=self.text_pair, adversarial_pair=self.adversarial_pair)
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True, eq=False)
class AttackResult:
    attack: str
    model_ref: str
    label_names: tuple[str, ...]
    params: dict
    outcomes: tuple[AttackOutcome, ...]
    seconds: float

    def _of(self, status: str) -> list[AttackOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def n_attacked(self) -> int:
        """Texts the attack tried (correctly classified ones; those without a usable word count as tried)."""
        return sum(o.status != "skipped" for o in self.outcomes)

    @property
    def successes(self) -> list[AttackOutcome]:
        return self._of("success")

    @property
    def success_rate(self) -> float:
        return len(self.successes) / self.n_attacked if self.n_attacked else 0.0

    @property
    def mean_words_changed(self) -> float:
        s = self.successes
        return float(np.mean([o.words_changed for o in s])) if s else 0.0

    @property
    def mean_share_changed(self) -> float:
        s = self.successes
        return float(np.mean([o.words_changed / max(1, o.n_words) for o in s])) if s else 0.0

    @property
    def queries_per_success(self) -> float | None:
        """All queries spent on attacked texts (failures included) divided by the successes."""
        s = len(self.successes)
        return sum(o.queries for o in self.outcomes if o.status != "skipped") / s if s else None

    def summary(self) -> dict[str, Any]:
        q = self.queries_per_success
        return {"attack": self.attack, "model": self.model_ref, "n": len(self.outcomes),
                "attacked": self.n_attacked, "skipped_misclassified": len(self._of("skipped")),
                "no_candidates": len(self._of("no_candidates")), "successes": len(self.successes),
                "success_rate": round(self.success_rate, 4),
                "mean_words_changed": round(self.mean_words_changed, 3),
                "mean_share_changed": round(self.mean_share_changed, 4),
                "queries_per_success": None if q is None else round(q, 1),
                "mean_similarity": round(float(np.mean([o.similarity for o in self.successes])), 4)
                if self.successes else None,
                "seconds": round(self.seconds, 2),
                "sentences_per_minute": round(60 * len(self.outcomes) / self.seconds, 1) if self.seconds else None,
                "params": self.params}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "outcomes": [o.to_json(self.label_names) for o in self.outcomes]}


@contextmanager
def _count_queries(model: Any) -> Iterator[list[int]]:
    """Count sequences that pass through ``model.encoder`` while the block runs."""
    box = [0]

    def hook(_m: Any, _args: Any, out: Any) -> None:
        h = out[0] if isinstance(out, tuple) else out.last_hidden_state
        box[0] += int(h.shape[0])

    handle = model.encoder.register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()


def _probs(model: Any, texts: Sequence[str], pairs: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
    """(n, C) class probabilities; length-sorted batches."""
    out = np.zeros((len(texts), model.num_labels), np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            batch = model.tokenize([texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx])
            out[idx] = torch.softmax(model.logits(model.encode(batch).pooled).float(), -1).cpu().numpy()
    return out


class _Similarity:
    """Cosine similarity of sentence embeddings under a (sentence-embedding) encoder; cached per text."""

    def __init__(self, model: Any | None) -> None:
        self.model = model
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        assert self.model is not None
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        with torch.inference_mode():
            for s in range(0, len(todo), 64):
                chunk = todo[s:s + 64]
                v = self.model.encode(self.model.tokenize(chunk)).pooled.float()
                v = torch.nn.functional.normalize(v, dim=-1).cpu().numpy()
                self._cache.update(zip(chunk, v))
        return np.stack([self._cache[t] for t in texts])

    def __call__(self, original: str, others: Sequence[str]) -> np.ndarray:
        if self.model is None or not others:
            return np.ones(len(others), np.float32)
        e = self.embed([original, *others])
        return (e[1:] @ e[0]).astype(np.float32)


def _vocab_filter(tokenizer: Any, stops: frozenset[str]) -> np.ndarray:
    """(V,) bool: vocabulary entries usable as whole-word substitutes."""
    vocab = tokenizer.get_vocab()
    ok = np.zeros(max(vocab.values()) + 1, dtype=bool)
    special = set(tokenizer.all_special_ids)
    for tok, i in vocab.items():
        w = tok[1:] if tok.startswith("Ġ") or tok.startswith("▁") else tok
        if i not in special and not tok.startswith("##") and editable(w, stops):
            ok[i] = True
    return ok


@dataclass
class _Word:
    segment: int
    start: int  # span in the current segment text
    end: int
    orig_start: int
    orig_end: int
    original: str
    importance: float


def _word_candidates_unmasked(mlm_model: Any, text: str, pair: str | None, words: list[_Word], top_k: int,
                              vocab_ok: np.ndarray) -> dict[int, list[str]]:
    """BERT-Attack: one pass over the unmasked sentence; top-K at each word's first piece."""
    tok = mlm_model.tokenizer
    enc = tok([text], None if pair is None else [pair], truncation=True if pair is None else "longest_first",
              max_length=mlm_model.max_length, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].numpy()
    seq_ids = enc.sequence_ids(0)
    batch = {k: v.to(mlm_model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode():
        logits = mlm_model.mlm_head(mlm_model.encode(batch).last_hidden)[0].float()
        logits[:, torch.from_numpy(~vocab_ok[:logits.shape[1]]).to(logits.device)] = -float("inf")
    out: dict[int, list[str]] = {}
    for wi, w in enumerate(words):
        pos = [t for t, (sid, (a, b)) in enumerate(zip(seq_ids, offsets)) if sid == w.segment and a == w.start and b > a]
        if not pos:
            continue  # truncated away
        ids = torch.topk(logits[pos[0]], top_k + 1).indices.tolist()
        cands = [tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)]).strip() for i in ids]
        out[wi] = [match_case(c, w.original) for c in cands if c and c.lower() != w.original.lower()][:top_k]
    return out


def _word_candidates_masked(mlm_model: Any, text: str, pair: str | None, w: _Word, top_k: int,
                            vocab_ok: np.ndarray) -> list[str]:
    """Replace the word by one mask token and read the masked position."""
    tok = mlm_model.tokenizer
    if tok.mask_token is None:
        raise AttackError(f"The tokenizer of {mlm_model.ref} has no mask token; use unmasked candidates.")
    segs = [text, pair]
    s = segs[w.segment] or ""
    segs[w.segment] = s[:w.start] + tok.mask_token + s[w.end:]
    enc = mlm_model.tokenize([segs[0]], None if pair is None else [segs[1]])
    where = (enc["input_ids"][0] == tok.mask_token_id).nonzero()
    if len(where) == 0:
        return []
    with torch.inference_mode():
        logits = mlm_model.mlm_head(mlm_model.encode(enc).last_hidden)[0, int(where[0])].float()
        logits[torch.from_numpy(~vocab_ok[:logits.shape[0]]).to(logits.device)] = -float("inf")
    ids = torch.topk(logits, top_k + 1).indices.tolist()
    cands = [tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)]).strip() for i in ids]
    return [match_case(c, w.original) for c in cands if c and c.lower() != w.original.lower()][:top_k]


def _replace(segs: list[str | None], w: _Word, new: str) -> list[str | None]:
    out = list(segs)
    s = out[w.segment] or ""
    out[w.segment] = s[:w.start] + new + s[w.end:]
    return out


def attack_texts(model: Any, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                 labels: Sequence[int] | None = None, attack: str = "word", importance: str = "occlusion",
                 importance_params: dict | None = None, max_change: float = 0.4, top_k: int = 30,
                 candidates: str = "unmasked", min_similarity: float = 0.7, similarity_model: Any | None = None,
                 mlm_model: Any | None = None, seed: int = 0, progress: Progress | None = None) -> AttackResult:
    """Attack each text; ``labels`` (model label ids, −1 unknown) skip texts that are already misclassified.

    ``mlm_model``: a LoadedModel with a masked-LM head for word candidates (default: ``model`` itself).
    ``similarity_model``: a sentence encoder for the similarity constraint (None with min_similarity > 0:
    the bundled all-MiniLM-L6-v2). min_similarity = 0 turns the constraint off.
    """
    from core.analyses.saliency import get_method, merge_words

    if attack not in ATTACKS:
        raise AttackError(f"Unknown attack '{attack}'; choose word or char.")
    if not 0 < max_change <= 1:
        raise AttackError(f"max_change is a share of the words in (0, 1], got {max_change}.")
    if not 0 <= min_similarity < 1:
        raise AttackError(f"min_similarity must lie in [0, 1), got {min_similarity}.")
    if top_k < 1:
        raise AttackError("top_k must be at least 1.")
    if candidates not in ("unmasked", "masked"):
        raise AttackError(f"candidates is unmasked or masked, got '{candidates}'.")
    model.require_head()
    method = get_method(importance)
    imp_params = method.resolve_params(model, dict(importance_params or {}))
    if pairs is not None and len(pairs) != len(texts):
        raise AttackError("texts and pairs differ in length.")
    stops = stop_words()
    if attack == "word":
        mlm_model = mlm_model or model
        if mlm_model.mlm_head is None:
            from core.analyses.saliency.registry import require_mlm_head

            try:
                require_mlm_head(mlm_model, "the word attack")
            except BackboneLensError as e:
                raise AttackError(f"{e} Or use the character attack (--attack char).") from None
        vocab_ok = _vocab_filter(mlm_model.tokenizer, stops)
    if min_similarity > 0 and similarity_model is None:
        from core.models.refs import load_model

        similarity_model = load_model("bundled:minilm", device=str(model.device))
    sim = _Similarity(similarity_model if min_similarity > 0 else None)
    t_all = time.perf_counter()
    outcomes: list[AttackOutcome] = []
    for i, text in enumerate(texts):
        pair = None if pairs is None else pairs[i]
        with _count_queries(model) as q:
            (res,) = method(model, [text], None if pair is None else [pair], **imp_params)
        p0 = res.probabilities
        pred0 = int(np.argmax(p0))
        y = int(labels[i]) if labels is not None and labels[i] >= 0 else pred0
        base = dict(index=i, text=text, text_pair=pair, label=y, original_prediction=pred0,
                    original_probability=float(p0[pred0]))
        ws = merge_words(res)
        n_words = sum(any(ch.isalpha() for ch in w) for w in ws.words)
        if pred0 != y:
            outcomes.append(AttackOutcome(**base, adversarial=text, adversarial_pair=pair, status="skipped",
                                          adversarial_prediction=pred0, adversarial_probability=float(p0[pred0]),
                                          n_words=n_words, queries=q[0], similarity=1.0,
                                          message="already misclassified; not attacked"))
            if progress is not None:
                progress("attack", (i + 1) / len(texts), f"{i + 1:,}/{len(texts):,} texts")
            continue
        src = (text, pair or "")
        urls = [[m.span() for m in _URL.finditer(x)] for x in src]
        words = [_Word(int(sg), int(a), int(b), int(a), int(b), w, float(s))
                 for w, s, sg, (a, b) in zip(ws.words, ws.scores, ws.segments, ws.spans)
                 if a >= 0 and editable(w, stops) and (attack == "word" or len(w) >= 3)
                 and not (a > 0 and src[sg][a - 1] in "@#")  # no @mentions or #hashtags
                 and not any(u0 <= a < u1 for u0, u1 in urls[sg])]  # nothing inside a URL
        words.sort(key=lambda w: -w.importance)
        budget = max(1, int(np.floor(max_change * max(1, n_words))))
        segs: list[str | None] = [text, pair]
        cur_p = p0.astype(np.float64)
        changes: list[WordChange] = []
        status, message, best_sim = "failed", "", 1.0
        if not words:
            status = "no_candidates"
            message = "no word can be edited (only stop words, numbers, punctuation, @mentions, #hashtags or URLs)"
        unmasked = (_word_candidates_unmasked(mlm_model, text, pair, words, top_k, vocab_ok)
                    if attack == "word" and candidates == "unmasked" and words else {})
        tried_any = False
        for wi, w in enumerate(words):
            if len(changes) >= budget:
                message = message or f"stopped at the limit of {budget} changed words"
                break
            if attack == "char":
                cands = char_candidates(w.original, seed=seed + i)
            elif candidates == "unmasked":
                cands = unmasked.get(wi, [])
            else:
                cands = _word_candidates_masked(mlm_model, segs[0] or "", segs[1], w, top_k, vocab_ok)
            if not cands:
                continue
            tried_any = True
            variants = [_replace(segs, w, c) for c in cands]
            sims = sim(text if pair is None else f"{text} {pair}",
                       [v[0] if pair is None else f"{v[0]} {v[1]}" for v in variants])
            keep = np.flatnonzero(sims >= min_similarity)
            if len(keep) == 0:
                continue
            with _count_queries(model) as qq:
                P = _probs(model, [variants[j][0] for j in keep],
                           None if pair is None else [variants[j][1] for j in keep])
            q[0] += qq[0]
            flips = np.flatnonzero(P.argmax(1) != y)
            if len(flips):
                j = int(flips[np.argmax(sims[keep][flips])])
            else:
                j = int(np.argmin(P[:, y]))
                if P[j, y] >= cur_p[y]:
                    continue  # no candidate helps: leave the word as it is
            new = cands[int(keep[j])]
            delta = len(new) - (w.end - w.start)
            changes.append(WordChange(w.segment, w.orig_start, w.orig_end, w.original, new))
            segs = variants[int(keep[j])]
            for o in words[wi + 1:]:
                if o.segment == w.segment and o.start >= w.end:
                    o.start += delta
                    o.end += delta
            cur_p = P[j].astype(np.float64)
            best_sim = float(sims[keep][j])
            if len(flips):
                status, message = "success", ""
                break
        if status == "failed" and not tried_any and words:
            status = "no_candidates"
            message = ("no substitute candidates passed the filters for any editable word"
                       if attack == "word" else "no character edit applies to any editable word")
        pred1 = int(np.argmax(cur_p))
        outcomes.append(AttackOutcome(**base, adversarial=segs[0] or "", adversarial_pair=segs[1],
                                      status=status, adversarial_prediction=pred1,
                                      adversarial_probability=float(cur_p[pred1]), n_words=n_words, queries=q[0],
                                      similarity=best_sim if changes else 1.0, changes=tuple(changes),
                                      message=message))
        if progress is not None:
            progress("attack", (i + 1) / len(texts), f"{i + 1:,}/{len(texts):,} texts")
    params = {"importance": importance, "importance_params": imp_params, "max_change": max_change,
              "top_k": top_k, "candidates": candidates if attack == "word" else None,
              "min_similarity": min_similarity, "seed": seed,
              "similarity_model": getattr(similarity_model, "ref", None) if min_similarity > 0 else None,
              "mlm_model": getattr(mlm_model, "ref", None) if attack == "word" else None}
    return AttackResult(attack, model.ref, tuple(model.label_names), params, tuple(outcomes),
                        time.perf_counter() - t_all)


def _outcome_from_json(d: dict[str, Any]) -> AttackOutcome:
    return AttackOutcome(**{**d, "changes": tuple(WordChange(**c) for c in d["changes"])})


def _result_to_cache(r: AttackResult) -> dict[str, Any]:
    from dataclasses import asdict

    return {"attack": r.attack, "model_ref": r.model_ref, "label_names": list(r.label_names), "params": r.params,
            "seconds": r.seconds, "outcomes": [asdict(o) for o in r.outcomes]}


def attack_dataset(model: Any, dataset: Any, *, attack: str = "word", cache: Any = None,
                   progress: Progress | None = None, **kw: Any) -> tuple[AttackResult, bool]:
    """:func:`attack_texts` on every text of ``dataset`` (true labels matched to the model's by name), cached
    on disk by model weights, texts and settings. Returns (result, cache hit)."""
    import json

    from core.foundation.cache import ArrayCache
    from core.analyses.projection.run import model_labels

    labels, _ = model_labels(model, dataset)
    cache = cache or ArrayCache()
    mlm = kw.get("mlm_model")
    if attack == "word" and mlm is None and model.mlm_head is None:
        from core.models.storage import attach_fitted_mlm_head

        attach_fitted_mlm_head(model)  # before the cache key: a head fitted earlier for this encoder, if any
    plain = {k: v for k, v in kw.items() if k not in ("mlm_model", "similarity_model")}
    parts = {"model": model.fingerprint, "dataset": dataset.fingerprint, "attack": attack, "params": plain,
             "mlm": None if mlm is None else mlm.fingerprint,
             "similarity": None if kw.get("similarity_model") is None else kw["similarity_model"].fingerprint}

    def compute():
        r = attack_texts(model, list(dataset.texts), None if dataset.text_pairs is None else list(dataset.text_pairs),
                         labels=labels, attack=attack, progress=progress, **kw)
        return {}, {"result_json": json.dumps(_result_to_cache(r))}

    entry = cache.get_or_compute("attack", parts, compute,
                                 description=f"{model.ref}: {attack} attack on {dataset.name} (n={len(dataset)})")
    d = json.loads(entry.meta["result_json"])
    res = AttackResult(d["attack"], d["model_ref"], tuple(d["label_names"]), d["params"],
                       tuple(_outcome_from_json(o) for o in d["outcomes"]), float(d["seconds"]))
    return res, entry.hit


def word_diff(original: str, adversarial: str) -> list[tuple[str, str]]:
    """Word-level diff as (op, text) runs, op in ``=``, ``-``, ``+`` (difflib over whitespace words)."""
    import difflib

    a, b = original.split(), adversarial.split()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", " ".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("-", " ".join(a[i1:i2])))
            if j2 > j1:
                out.append(("+", " ".join(b[j1:j2])))
    return out


__all__ = ["ATTACKS", "AttackError", "AttackOutcome", "AttackResult", "WordChange", "attack_dataset", "attack_texts",
           "char_candidates", "editable", "match_case", "stop_words", "word_diff"]
