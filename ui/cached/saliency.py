"""Cached calls of the Saliency page: one text explained, the decoding head, faithfulness games, class tokens.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence
import streamlit as st
from core.analyses.saliency.class_tokens import ClassTokens, bundled_idf, class_representative_tokens
from core.data.refs import load_dataset
from core.data.sampling import sample
from core.analyses.saliency.faithfulness import FaithfulnessResult, MethodSpec, dataset_games
from core.analyses.saliency import SaliencyResult, get_method
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.adversarial import _attack, _detection
from ui.cached.common import _load_model, _projection_sample, dataset_stamp, get_model, model_stamp


@dataclass(frozen=True, eq=False)
class ExampleTexts:
    """A few examples of a dataset to explain: texts, second texts (None for single texts), true label
    names ('' unlabelled), whether the dataset holds pairs, and where they come from (``note``)."""

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[str, ...]
    is_pair: bool
    note: str


@st.cache_data(show_spinner="Reading the dataset…", max_entries=16)
def _example_texts(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                   k: int) -> ExampleTexts:
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, k, True)
    names = ds.label_names
    labels = tuple(names[int(y)] if ds.labels is not None and 0 <= int(y) < len(names) else ""
                   for y in (ds.labels if ds.labels is not None else [-1] * len(ds)))
    return ExampleTexts(tuple(ds.texts), ds.text_pairs, labels, ds.is_pair, note)


def example_texts(model_ref: str, choice: DatasetChoice, k: int = 12) -> ExampleTexts:
    """``k`` examples of ``choice`` (its seed), from the held-out test split when ``model_ref`` was trained on it."""
    mref = model_ref.strip()
    return _example_texts(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(k))


def _plain_params(params: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in (params or {}).items()))


@dataclass(frozen=True, eq=False)
class SaliencyView:
    """One ``core.analyses.saliency.SaliencyResult`` and the seconds it took to compute."""

    result: SaliencyResult
    seconds: float


@st.cache_data(show_spinner=False, max_entries=256)
def _saliency(model_ref: str, model_stamp_: str, method: str, text: str, pair: str | None,  # noqa: ARG001
              target: str | None, params: tuple[tuple[str, Any], ...]) -> SaliencyView:
    model = _load_model(model_ref, model_stamp_)
    t0 = time.perf_counter()
    res = get_method(method)(model, [text], None if pair is None else [pair], target=target, **dict(params))
    return SaliencyView(res[0], time.perf_counter() - t0)


def explain(model_ref: str, method: str, text: str, pair: str | None = None, *, target: str | None = None,
             params: dict[str, Any] | None = None) -> SaliencyView:
    """``method``'s token saliency of ``text`` (and ``pair``) under ``model_ref`` for the class ``target``
    (a label name; None = the predicted class), with the method's declared ``params``."""
    mref = model_ref.strip()
    return _saliency(mref, model_stamp(mref), method, text, pair, target, _plain_params(params))


def mlm_head_ready(model_ref: str) -> bool:
    """True when the model has a masked-LM decoding head, its own or one fitted earlier for its encoder."""
    from core.models.storage import attach_fitted_mlm_head

    model = get_model(model_ref)
    return model.mlm_head is not None or attach_fitted_mlm_head(model)


MLM_FIT_SECONDS = 75


def fit_mlm_head(model_ref: str) -> Any:
    """Fit a masked-LM decoding head for the model's encoder on bundled BBC and tweet texts (about
    ``MLM_FIT_SECONDS`` s), store it and attach it; shows a progress bar. Returns the ``MLMHeadReport``."""
    from core.training.mlm_head import fit_and_store

    model = get_model(model_ref)
    bar = StreamlitProgress("Reading the encoder's hidden states on bundled texts…")
    try:
        bbc = sample(load_dataset("bundled:bbc"), 350, seed=0).texts
        tweets = sample(load_dataset("bundled:tweets"), 1250, seed=0).texts
        train, test = [*bbc[:300], *tweets[:1200]], [*bbc[300:], *tweets[1200:]]
        _, report = fit_and_store(model, train, test, max_seconds=MLM_FIT_SECONDS, progress=bar)
    finally:
        bar.close()
    for fn in (_saliency, _games, _class_tokens, _attack, _detection):  # results computed before (errors are
        fn.clear()  # not cached) stay valid, but a re-fitted head changes decoded scores and word substitutes
    return report


@dataclass(frozen=True, eq=False)
class GamesView:
    """A ``core.analyses.saliency.faithfulness.FaithfulnessResult`` with where its texts come from (``split``, ``note``)."""

    result: FaithfulnessResult
    split: str
    note: str


GameSpec = tuple[str, tuple[tuple[str, Any], ...], "tuple[int, ...] | None"]


@st.cache_data(show_spinner=False, max_entries=32)
def _games(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
           n: int, specs: tuple[GameSpec, ...], replacement: str) -> GamesView:
    model = _load_model(model_ref, model_stamp_)
    ds, split, note = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Preparing the games…", prefix="Faithfulness games – ", titles={"prepare": "scoring the intact texts"})
    try:
        res = dataset_games(model, ds, [MethodSpec(name, dict(p), layers) for name, p, layers in specs],
                            replacement=replacement, seed=choice.seed, progress=bar)
    finally:
        bar.close()
    return GamesView(res, split, note)


def faithfulness_games(model_ref: str, choice: DatasetChoice, n: int, specs: Sequence[MethodSpec], *,
                       replacement: str = "mask") -> GamesView:
    """Hiding and revealing games (``core.faithfulness``) for ``specs`` plus the random order, on ``n``
    examples of ``choice`` (the held-out test split when the model was trained on it). Each method's
    curves are also cached on disk by ``core.faithfulness``. Shows a progress bar while playing."""
    mref = model_ref.strip()
    plain = tuple((s.name, _plain_params(s.params), None if s.layers is None else tuple(int(x) for x in s.layers))
                  for s in specs)
    return _games(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), plain, replacement)


@dataclass(frozen=True, eq=False)
class ClassTokensView:
    """A ``core.analyses.saliency.class_tokens.ClassTokens`` with its sample (``n`` texts, ``note``) and the seconds it took."""

    tokens: ClassTokens
    n: int
    note: str
    seconds: float


@st.cache_data(show_spinner=False, max_entries=32)
def _class_tokens(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                  n: int, method: str, params: tuple[tuple[str, Any], ...], top_k: int) -> ClassTokensView:
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, n, True)
    t0 = time.perf_counter()
    bar = StreamlitProgress("Explaining the texts…")
    try:
        results = get_method(method)(model, list(ds.texts), None if ds.text_pairs is None else list(ds.text_pairs),
                                     progress=bar, **dict(params))
        bar.show(1.0, "Weighting words by their document frequency in the bundled corpora…", final=True)
        ct = class_representative_tokens(results, model.tokenizer, idf=bundled_idf(model.tokenizer), top_k=top_k)
    finally:
        bar.close()
    return ClassTokensView(ct, len(ds), note, time.perf_counter() - t0)


def class_tokens(model_ref: str, choice: DatasetChoice, n: int, method: str, *, params: dict[str, Any] | None = None,
                 top_k: int = 10) -> ClassTokensView:
    """The top-``top_k`` words per predicted class that ``method`` credits over ``n`` examples of ``choice``
    (held-out split when the model was trained on it), idf-weighted by the bundled corpora."""
    mref = model_ref.strip()
    return _class_tokens(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method,
                         _plain_params(params), int(top_k))
