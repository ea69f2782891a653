"""Adversarial attacks on a classifier: word substitution (BERT-Attack style, candidates from the masked-LM
head) and character edits, words ordered by any saliency method.

:func:`run_attack` attacks the texts of a :class:`~core.data.sampling.Sample` (disk-cached) with
:class:`AttackParams`, the one declaration of the attack's parameters; :func:`attack_texts` is the loop over
plain texts below it; :mod:`core.analyses.adversarial.candidates` proposes the edits. No torch at load time
(report specs read :class:`AttackParams`).
"""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from core.analyses.adversarial.candidates import (URL, AttackError, Word, char_candidates, editable, replace_word,
                                                  stop_words, vocab_filter, word_candidates_masked,
                                                  word_candidates_unmasked)
from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Counter, Progress
from core.foundation.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

# the attacks: name → what it does (a phrase for reports), with the title pages show
ATTACK_KINDS: Registry[str] = Registry("attack", error=AttackError)
ATTACK_KINDS.add("word", "word attack (BERT-Attack style: substitutes proposed by the masked-LM head)",
                 title="Word substitution (BERT-Attack)")
ATTACK_KINDS.add("char", "character attack (swapped or deleted inner letters, look-alike letters from other scripts)",
                 title="Character edits (DeepWordBug + look-alikes)")
ATTACKS = ATTACK_KINDS.names()
CANDIDATES = ("unmasked", "masked")
# cost of an attack on a 2-core CPU, nothing else running: median 0.95 s per attacked tweet (~25 tokens;
# benchmarks/attack_throughput.py); it grows about with tokens² (one query per token × candidates per word)
SECONDS_PER_TOKEN2 = 0.0016


def _saliency_methods() -> tuple[str, ...]:
    from core.analyses.saliency import method_names

    return method_names()


@dataclass(frozen=True)
class AttackParams(Params):
    """How texts are attacked (the one place for these defaults and ranges: CLI, report section, page).

    Built directly, the values are checked when the attack runs (:class:`AttackError`); ``build`` checks the
    declared ranges.
    """

    attack: str = param("word", "word (substitutes from the masked-LM head) or char (letter edits)", type="choice",
                        choices=ATTACKS)
    importance: str = param("occlusion", "saliency method that decides which words are edited first",
                            vocabulary=_saliency_methods, item="saliency method")
    max_change: float = param(0.4, "largest share of a text's words the attack may change", minimum=0.01,
                              maximum=1)
    top_k: int = param(30, "candidate replacements tried per word", minimum=1, maximum=200)
    candidates: str = param("unmasked", "word attack: read the unmasked sentence (BERT-Attack) or mask the word",
                            type="choice", choices=CANDIDATES)
    min_similarity: float = param(0.7, "least cosine similarity of MiniLM sentence embeddings between the "
                                  "original and the adversarial text (0 turns the check off)", minimum=0,
                                  maximum=0.99)
    seed: int = param(0, "seed of the character attack's pick among many edits of a word")

    def check(self) -> None:
        """Raise :class:`AttackError` (one sentence) for settings that cannot work."""
        if self.attack not in ATTACKS:
            raise AttackError(f"Unknown attack '{self.attack}'; choose word or char.")
        if not 0 < self.max_change <= 1:
            raise AttackError(f"max_change is a share of the words in (0, 1], got {self.max_change}.")
        if not 0 <= self.min_similarity < 1:
            raise AttackError(f"min_similarity must lie in [0, 1), got {self.min_similarity}.")
        if self.top_k < 1:
            raise AttackError("top_k must be at least 1.")
        if self.candidates not in CANDIDATES:
            raise AttackError(f"candidates is unmasked or masked, got '{self.candidates}'.")


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
    """Every attacked text's outcome. ``params``: the settings as run (the resolved importance parameters and
    the helper models' references included); ``sample``: the texts and why (None when :func:`attack_texts`
    ran on a plain list); ``label_note``: why true labels are missing ('' when known); ``cache_hit``: read
    from the disk cache."""

    attack: str
    model_ref: str
    label_names: tuple[str, ...]
    params: dict
    outcomes: tuple[AttackOutcome, ...]
    seconds: float
    sample: "Sample | None" = None
    label_note: str = ""
    cache_hit: bool = False

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
def _count_queries(model: "LoadedModel") -> Iterator[list[int]]:
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


def class_probabilities(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None,
                        batch_size: int = 64) -> np.ndarray:
    """(n, C) class probabilities; length-sorted batches."""
    import torch

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

    def __init__(self, model: "LoadedModel | None") -> None:
        self.model = model
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) unit vectors."""
        import torch

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
        """(len(others),) similarity of each of ``others`` to ``original``."""
        if self.model is None or not others:
            return np.ones(len(others), np.float32)
        e = self.embed([original, *others])
        return (e[1:] @ e[0]).astype(np.float32)


@dataclass
class Attacker:
    """What every text of one attack shares: the model, the word-ranking method and the candidate sources
    (built by :func:`build_attacker`; :meth:`attack` attacks one text)."""

    model: "LoadedModel"
    params: AttackParams
    method: Any
    imp_params: dict
    stops: frozenset[str]
    sim: _Similarity
    mlm_model: "LoadedModel | None" = None
    vocab_ok: np.ndarray | None = None

    def words(self, ws: Any, src: tuple[str, str]) -> list[Word]:
        """The words of one text the attack may edit, most important first (no @mentions, #hashtags or URLs)."""
        urls = [[m.span() for m in URL.finditer(x)] for x in src]
        words = [Word(int(sg), int(a), int(b), int(a), int(b), w, float(s))
                 for w, s, sg, (a, b) in zip(ws.words, ws.scores, ws.segments, ws.spans)
                 if a >= 0 and editable(w, self.stops) and (self.params.attack == "word" or len(w) >= 3)
                 and not (a > 0 and src[sg][a - 1] in "@#")
                 and not any(u0 <= a < u1 for u0, u1 in urls[sg])]
        words.sort(key=lambda w: -w.importance)
        return words

    def candidates(self, i: int, wi: int, w: Word, segs: list[str | None], unmasked: dict[int, list[str]]
                   ) -> list[str]:
        p = self.params
        if p.attack == "char":
            return char_candidates(w.original, seed=p.seed + i)
        if p.candidates == "unmasked":
            return unmasked.get(wi, [])
        assert self.mlm_model is not None and self.vocab_ok is not None
        return word_candidates_masked(self.mlm_model, segs[0] or "", segs[1], w, p.top_k, self.vocab_ok)

    def attack(self, i: int, text: str, pair: str | None, label: int | None) -> AttackOutcome:
        """Attack one text; ``label``: the true class in the model's ids (None or −1: its prediction)."""
        from core.analyses.saliency import merge_words

        p, model = self.params, self.model
        with _count_queries(model) as q:
            (res,) = self.method(model, [text], None if pair is None else [pair], **self.imp_params)
        p0 = res.probabilities
        pred0 = int(np.argmax(p0))
        y = int(label) if label is not None and label >= 0 else pred0
        base = dict(index=i, text=text, text_pair=pair, label=y, original_prediction=pred0,
                    original_probability=float(p0[pred0]))
        ws = merge_words(res)
        n_words = sum(any(ch.isalpha() for ch in w) for w in ws.words)
        if pred0 != y:
            return AttackOutcome(**base, adversarial=text, adversarial_pair=pair, status="skipped",
                                 adversarial_prediction=pred0, adversarial_probability=float(p0[pred0]),
                                 n_words=n_words, queries=q[0], similarity=1.0,
                                 message="already misclassified; not attacked")
        words = self.words(ws, (text, pair or ""))
        budget = max(1, int(np.floor(p.max_change * max(1, n_words))))
        segs: list[str | None] = [text, pair]
        cur_p = p0.astype(np.float64)
        changes: list[WordChange] = []
        status, message, best_sim = "failed", "", 1.0
        if not words:
            status = "no_candidates"
            message = "no word can be edited (only stop words, numbers, punctuation, @mentions, #hashtags or URLs)"
        unmasked = (word_candidates_unmasked(self.mlm_model, text, pair, words, p.top_k, self.vocab_ok)
                    if p.attack == "word" and p.candidates == "unmasked" and words else {})
        tried_any = False
        for wi, w in enumerate(words):
            if len(changes) >= budget:
                message = message or f"stopped at the limit of {budget} changed words"
                break
            cands = self.candidates(i, wi, w, segs, unmasked)
            if not cands:
                continue
            tried_any = True
            variants = [replace_word(segs, w, c) for c in cands]
            sims = self.sim(text if pair is None else f"{text} {pair}",
                            [v[0] if pair is None else f"{v[0]} {v[1]}" for v in variants])
            keep = np.flatnonzero(sims >= p.min_similarity)
            if len(keep) == 0:
                continue
            with _count_queries(model) as qq:
                P = class_probabilities(model, [variants[j][0] for j in keep],
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
                       if p.attack == "word" else "no character edit applies to any editable word")
        pred1 = int(np.argmax(cur_p))
        return AttackOutcome(**base, adversarial=segs[0] or "", adversarial_pair=segs[1], status=status,
                             adversarial_prediction=pred1, adversarial_probability=float(cur_p[pred1]),
                             n_words=n_words, queries=q[0], similarity=best_sim if changes else 1.0,
                             changes=tuple(changes), message=message)


def require_word_head(mlm_model: "LoadedModel") -> None:
    """Attach the masked-LM head fitted earlier for ``mlm_model``'s encoder, or refuse the word attack (one
    sentence naming the character attack)."""
    if mlm_model.mlm_head is not None:
        return
    from core.analyses.saliency.registry import require_mlm_head

    try:
        require_mlm_head(mlm_model, "the word attack")
    except BackboneLensError as e:
        raise AttackError(f"{e} Or use the character attack (--attack char).") from None


def build_attacker(model: "LoadedModel", params: AttackParams = AttackParams(), *,
                   importance_params: dict | None = None, similarity_model: "LoadedModel | None" = None,
                   mlm_model: "LoadedModel | None" = None) -> Attacker:
    """The attack's shared state, checked: ``params``, the importance method and its parameters, the stop words,
    the masked-LM head of the word attack and the sentence encoder of the similarity constraint (see
    :func:`attack_texts` for the arguments). Refuses (:class:`AttackError`) a word attack without a masked-LM head."""
    from core.analyses.saliency import get_method

    params.check()
    model.require_head()
    method = get_method(params.importance)
    imp_params = method.resolve_params(model, dict(importance_params or {}))
    stops = stop_words()
    vocab_ok = None
    if params.attack == "word":
        mlm_model = mlm_model or model
        require_word_head(mlm_model)
        vocab_ok = vocab_filter(mlm_model.tokenizer, stops)
    if params.min_similarity > 0 and similarity_model is None:
        from core.models.refs import load_model

        similarity_model = load_model("bundled:minilm", device=str(model.device))
    return Attacker(model, params, method, imp_params, stops,
                    _Similarity(similarity_model if params.min_similarity > 0 else None), mlm_model, vocab_ok)


def attack_texts(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                 labels: Sequence[int] | None = None, params: AttackParams = AttackParams(),
                 importance_params: dict | None = None, similarity_model: "LoadedModel | None" = None,
                 mlm_model: "LoadedModel | None" = None, progress: Progress | None = None) -> AttackResult:
    """Attack each text; ``labels`` (model label ids, −1 unknown) skip texts that are already misclassified.

    ``importance_params``: parameters of the saliency method that ranks the words. ``mlm_model``: a
    LoadedModel with a masked-LM head for word candidates (default: ``model`` itself). ``similarity_model``: a
    sentence encoder for the similarity constraint (None with min_similarity > 0: the bundled
    all-MiniLM-L6-v2). min_similarity = 0 turns the constraint off.
    """
    if pairs is not None and len(pairs) != len(texts):
        raise AttackError("texts and pairs differ in length.")
    attacker = build_attacker(model, params, importance_params=importance_params, similarity_model=similarity_model,
                              mlm_model=mlm_model)
    t_all = time.perf_counter()
    count = Counter(progress, "attack", len(texts), "texts")
    outcomes: list[AttackOutcome] = []
    for i, text in enumerate(texts):
        outcomes.append(attacker.attack(i, text, None if pairs is None else pairs[i],
                                        None if labels is None else int(labels[i])))
        count(i + 1)
    similarity_model, mlm_model = attacker.sim.model, attacker.mlm_model
    record = {"importance": params.importance, "importance_params": attacker.imp_params,
              "max_change": params.max_change,
              "top_k": params.top_k, "candidates": params.candidates if params.attack == "word" else None,
              "min_similarity": params.min_similarity, "seed": params.seed,
              "similarity_model": getattr(similarity_model, "ref", None) if params.min_similarity > 0 else None,
              "mlm_model": getattr(mlm_model, "ref", None) if params.attack == "word" else None}
    return AttackResult(params.attack, model.ref, tuple(model.label_names), record, tuple(outcomes),
                        time.perf_counter() - t_all)


def _result_to_cache(r: AttackResult) -> dict[str, Any]:
    return {"attack": r.attack, "model_ref": r.model_ref, "label_names": list(r.label_names), "params": r.params,
            "seconds": r.seconds, "outcomes": [dataclasses.asdict(o) for o in r.outcomes]}


def _result_from_cache(d: dict[str, Any]) -> AttackResult:
    outcomes = tuple(AttackOutcome(**{**o, "changes": tuple(WordChange(**c) for c in o["changes"])})
                     for o in d["outcomes"])
    return AttackResult(d["attack"], d["model_ref"], tuple(d["label_names"]), d["params"], outcomes,
                        float(d["seconds"]))


def run_attack(model: "LoadedModel", sample: "Sample", params: AttackParams = AttackParams(), *,
               mlm_model: "LoadedModel | None" = None, similarity_model: "LoadedModel | None" = None,
               cache: "ArrayCache | None" = None, progress: Progress | None = None) -> AttackResult:
    """:func:`attack_texts` on every text of ``sample`` (true labels matched to the model's by name), cached on
    disk by model weights, texts, settings and helper models. The result carries ``sample``, the label note
    and whether it came from the cache. Draw ``sample`` with :func:`core.models.heldout.heldout_sample`."""
    import json

    from core.analyses.projection.run import model_labels
    from core.foundation.cache import ArrayCache

    params.check()
    dataset = sample.dataset
    labels, label_note = model_labels(model, dataset)
    cache = cache or ArrayCache()
    if params.attack == "word" and mlm_model is None and model.mlm_head is None:
        from core.models.storage import attach_fitted_mlm_head

        attach_fitted_mlm_head(model)  # before the cache key: a head fitted earlier for this encoder, if any
    parts = {"model": model.fingerprint, "dataset": dataset.fingerprint, "params": params.to_dict(),
             "mlm": None if mlm_model is None else mlm_model.fingerprint,
             "similarity": None if similarity_model is None else similarity_model.fingerprint}

    def compute():
        r = attack_texts(model, list(dataset.texts), None if dataset.text_pairs is None else list(dataset.text_pairs),
                         labels=labels, params=params, mlm_model=mlm_model, similarity_model=similarity_model,
                         progress=progress)
        return {}, {"result_json": json.dumps(_result_to_cache(r))}

    entry = cache.get_or_compute("attack", parts, compute, description=f"{model.ref}: {params.attack} attack on "
                                 f"{dataset.name} (n={len(dataset)})")
    return dataclasses.replace(_result_from_cache(json.loads(entry.meta["result_json"])), sample=sample,
                               label_note=label_note, cache_hit=entry.hit)


def attack_minutes(texts: Sequence[str], max_length: int, n: int) -> tuple[float, int, int]:
    """What attacking ``n`` texts like ``texts`` costs on a 2-core CPU: (tokens per text, low, high minutes),
    estimated from the texts' word counts (about 1.3 tokens a word, at most ``max_length``)."""
    tokens = min(max_length, 1.3 * float(np.mean([len(t.split()) for t in texts])) if texts else 0)
    low, high = (max(1, round(n * SECONDS_PER_TOKEN2 * tokens ** 2 * f / 60)) for f in (0.5, 3.0))
    return tokens, low, high


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


__all__ = ["ATTACKS", "ATTACK_KINDS", "AttackError", "AttackOutcome", "AttackParams", "AttackResult", "Attacker",
           "WordChange", "attack_minutes", "attack_texts", "build_attacker", "char_candidates", "class_probabilities",
           "editable", "require_word_head", "run_attack", "stop_words", "word_diff"]
