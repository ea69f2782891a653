"""Class-representative tokens (Hou & Castanon, ICML 2023, §5): which words a method credits per class.

Over a dataset, each text's word scores (word pieces merged, positive evidence only, normalised to
sum to one per text so that long texts do not outweigh short ones) are summed per *predicted*
class and weighted by inverse document frequency from a reference corpus. The top-k words per
class, and the pairwise overlap count of those lists (lower = more class-specific), summarise
how representative a method's explanations are.

:func:`run_class_tokens` is the entry point (a :class:`~core.data.sampling.Sample` and
:class:`~core.analyses.saliency_params.ClassTokensParams`); :func:`class_representative_tokens` aggregates
saliency results that are already computed.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from core.analyses.saliency.registry import get_method
from core.analyses.saliency.result import SaliencyError, SaliencyResult
from core.analyses.saliency.words import merge_words
from core.analyses.saliency_params import ClassTokensParams, split_assignments
from core.data.sampling import Sample
from core.foundation.progress import Progress, or_silent
from core.models.loading import LoadedModel

if TYPE_CHECKING:  # pragma: no cover
    from core.foundation.cache import ArrayCache

_WORDLIKE = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class IDF:
    """idf(w) = ln((1 + N) / (1 + df(w))) + 1 over a reference corpus of N documents (sklearn's smooth idf)."""

    df: Mapping[str, int]
    n_docs: int
    source: str

    def __call__(self, word: str) -> float:
        return math.log((1 + self.n_docs) / (1 + self.df.get(word, 0))) + 1.0


def _normalizer(tokenizer: Any):
    backend = getattr(tokenizer, "backend_tokenizer", None)
    norm = getattr(backend, "normalizer", None) if backend is not None else None
    pre = getattr(backend, "pre_tokenizer", None) if backend is not None else None
    return norm, pre


def word_key(tokenizer: Any, word: str) -> str:
    """The form a word is counted under: the tokenizer's normaliser (lower-casing, accents) or lower()."""
    norm, _ = _normalizer(tokenizer)
    w = norm.normalize_str(word) if norm is not None else word.lower()
    return w.strip()


def split_words(tokenizer: Any, text: str) -> list[str]:
    """Words as the tokenizer's pre-tokeniser sees them (the units ``merge_words`` produces)."""
    norm, pre = _normalizer(tokenizer)
    if norm is None or pre is None:
        return re.findall(r"\w+|[^\w\s]", text.lower())
    return [w.strip() for w, _ in pre.pre_tokenize_str(norm.normalize_str(text)) if w.strip()]


def idf_from_texts(tokenizer: Any, texts: Sequence[str], *, source: str = "user corpus") -> IDF:
    df: Counter[str] = Counter()
    for t in texts:
        df.update(set(split_words(tokenizer, t)))
    return IDF(dict(df), len(texts), source)


@lru_cache(maxsize=4)
def _bundled_idf(tokenizer_name: str, tokenizer: Any) -> IDF:  # noqa: ARG001 - the name keys the cache
    from core.data.refs import load_dataset

    texts: list[str] = []
    for ref in ("bundled:bbc", "bundled:tweets"):
        texts.extend(load_dataset(ref).texts)
    return idf_from_texts(tokenizer, texts, source=f"bundled corpora (BBC News + tweets, {len(texts):,} documents)")


def bundled_idf(tokenizer: Any) -> IDF:
    """IDF over every bundled BBC and tweet text (about 40k documents)."""
    return _bundled_idf(str(getattr(tokenizer, "name_or_path", type(tokenizer).__name__)), tokenizer)


@dataclass(frozen=True)
class ClassTokens:
    """Top words per predicted class.

    words[c], scores[c]: the top-k words of class c and their idf-weighted saliency mass; docs: (C,)
    texts predicted as each class; overlap: (C, C) int, |top_k(c1) ∩ top_k(c2)| (diagonal = k_c).
    ``sample`` and ``seconds``: the texts :func:`run_class_tokens` explained and the time it took.
    """

    label_names: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]
    scores: tuple[np.ndarray, ...]
    docs: np.ndarray
    overlap: np.ndarray
    top_k: int
    method: str
    params: dict
    idf_source: str
    min_docs: int
    sample: Sample | None = None
    seconds: float = 0.0

    @property
    def mean_overlap(self) -> float:
        """Mean off-diagonal overlap between classes that have words (lower = more representative)."""
        C = len(self.label_names)
        vals = [self.overlap[i, j] for i in range(C) for j in range(C) if i < j and self.words[i] and self.words[j]]
        return float(np.mean(vals)) if vals else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "parameters": self.params, "top_k": self.top_k, "idf": self.idf_source,
                "min_docs": self.min_docs, "mean_overlap": self.mean_overlap,
                "classes": [{"label": name, "docs": int(self.docs[c]),
                             "words": [{"word": w, "score": float(s)} for w, s in zip(self.words[c], self.scores[c])]}
                            for c, name in enumerate(self.label_names)],
                "overlap": self.overlap.tolist()}


def class_representative_tokens(results: Sequence[SaliencyResult], tokenizer: Any, *, idf: IDF, top_k: int = 10,
                                min_docs: int = 2) -> ClassTokens:
    """Aggregate word saliency per predicted class, weight by IDF, keep the top ``top_k`` words per class.

    A word must occur in at least ``min_docs`` texts of the class (a single text's rare word is noise).
    """
    if not results:
        raise ValueError("no saliency results to aggregate")
    labels = results[0].label_names
    C = len(labels)
    mass: list[defaultdict[str, float]] = [defaultdict(float) for _ in range(C)]
    seen: list[Counter[str]] = [Counter() for _ in range(C)]
    docs = np.zeros(C, dtype=np.int64)
    for r in results:
        c = r.predicted
        docs[c] += 1
        keys, shares = word_shares(r, tokenizer)
        for k, v in zip(keys, shares):
            mass[c][k] += v
        seen[c].update(set(keys))
    words, scores = top_class_words(mass, seen, idf=idf, top_k=top_k, min_docs=min_docs)
    return ClassTokens(tuple(labels), words, scores, docs, class_overlap(words), top_k, results[0].method,
                       dict(results[0].params), idf.source, min_docs)


def word_shares(result: SaliencyResult, tokenizer: Any) -> tuple[list[str], np.ndarray]:
    """The word-like words of one explanation (as :func:`word_key` counts them, repeats kept) and each one's share
    of the text's positive evidence, (m,) float64; nothing when the text has no positive evidence."""
    w = merge_words(result)
    s = np.clip(w.scores.astype(np.float64), 0, None)
    total = s.sum()
    if total <= 0:
        return [], np.zeros(0, np.float64)
    keys = [word_key(tokenizer, x) for x in w.words]
    keep = [i for i, k in enumerate(keys) if _WORDLIKE.search(k)]
    return [keys[i] for i in keep], (s / total)[keep]


def top_class_words(mass: Sequence[Mapping[str, float]], seen: Sequence[Mapping[str, int]], *, idf: IDF,
                    top_k: int, min_docs: int) -> tuple[tuple[tuple[str, ...], ...], tuple[np.ndarray, ...]]:
    """Per class, the ``top_k`` words by summed share × idf among those seen in ``min_docs`` texts of the class."""
    words, scores = [], []
    for m, s in zip(mass, seen):
        cand = [(v * idf(k), k) for k, v in m.items() if s.get(k, 0) >= min_docs and v > 0]
        cand.sort(key=lambda x: (-x[0], x[1]))
        top = cand[:top_k]
        words.append(tuple(k for _, k in top))
        scores.append(np.asarray([v for v, _ in top], dtype=np.float64))
    return tuple(words), tuple(scores)


def class_overlap(words: Sequence[Sequence[str]]) -> np.ndarray:
    """(C, C) int64: |words[c1] ∩ words[c2]|."""
    sets = [set(w) for w in words]
    return np.array([[len(a & b) for b in sets] for a in sets], dtype=np.int64).reshape(len(sets), len(sets))


def idf_for(tokenizer: Any, which: str, sample: Sample) -> IDF:
    """The IDF corpus ``which``: "bundled" (BBC + tweets), "dataset" (the texts of ``sample``) or a text file
    with one document per line."""
    if which == "bundled":
        return bundled_idf(tokenizer)
    if which == "dataset":
        return idf_from_texts(tokenizer, sample.texts, source=f"{sample.dataset.name} ({len(sample):,} texts)")
    path = Path(which).expanduser()
    if not path.is_file():
        raise SaliencyError(f"idf: {path} is not a file (or say bundled / dataset).")
    lines = [x for x in path.read_text("utf-8", errors="replace").splitlines() if x.strip()]
    return idf_from_texts(tokenizer, lines, source=f"{path.name} ({len(lines):,} lines)")


def run_class_tokens(model: LoadedModel, sample: Sample, params: ClassTokensParams = ClassTokensParams(), *,
                     cache: "ArrayCache | None" = None, progress: Progress | None = None) -> ClassTokens:
    """The top words per predicted class that ``params.method`` credits over the texts of ``sample``.

    Progress: "idf" while the document frequencies are counted, then the method's name while it explains.
    ``cache`` is taken for the one signature of dataset-level analyses; saliency scores are not stored on disk.
    """
    t0 = time.perf_counter()
    method = get_method(params.method)
    try:
        mp = split_assignments(params.method_params)
    except ValueError as e:
        raise SaliencyError(f"{method.name}: {e}.") from None
    method.resolve_params(model, mp)  # parameter errors before anything is computed
    where = {"bundled": "the bundled corpora", "dataset": "this dataset"}.get(params.idf, "your corpus")
    or_silent(progress)("idf", 0.0, f"document frequencies in {where}")
    idf = idf_for(model.tokenizer, params.idf, sample)
    results = method(model, list(sample.texts), None if sample.text_pairs is None else list(sample.text_pairs),
                     progress=progress, **mp)
    ct = class_representative_tokens(results, model.tokenizer, idf=idf, top_k=params.top_k, min_docs=params.min_docs)
    return replace(ct, sample=sample, seconds=time.perf_counter() - t0)
