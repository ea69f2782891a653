"""Cached calls of the Saliency page: one text explained, the decoding head, faithfulness games, class tokens.

The dataset-level calls draw their texts with ``core.models.heldout.heldout_sample`` (the held-out test split
when the model was trained on the dataset) and return ``core`` results that carry that ``Sample``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
import streamlit as st
from core.analyses.saliency import SaliencyResult, get_method
from core.analyses.saliency.class_tokens import ClassTokens, run_class_tokens
from core.analyses.saliency.faithfulness import FaithfulnessResult, run_games
from core.analyses.saliency_params import ClassTokensParams, FaithfulnessParams
from core.data.refs import load_dataset
from core.data.sampling import Sample, sample
from core.foundation.cache import ArrayCache
from core.models.heldout import heldout_sample
from core.models.loading import LoadedModel
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.adversarial import _attack, _detection
from ui.cached.common import _load_model, dataset_stamp, get_model, model_stamp

if TYPE_CHECKING:  # pragma: no cover
    from core.training.mlm_head import MLMHeadReport


def _sample(model: LoadedModel, choice: DatasetChoice, n: int | None) -> Sample:
    """``n`` texts of ``choice`` (its seed), from the held-out test split when ``model`` was trained on it."""
    return heldout_sample(model, load_dataset(choice.ref.strip(), **choice.load_kwargs()), n, seed=choice.seed)


@dataclass(frozen=True, eq=False)
class ExampleTexts:
    """A few examples of a dataset to explain: texts, second texts (None for single texts), true label
    names ('' unlabelled), whether the dataset holds pairs, where they come from (``note``) and their dataset rows
    (positions in the full dataset, the number every page shows for a text)."""

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[str, ...]
    is_pair: bool
    note: str
    rows: tuple[int, ...] = ()


@st.cache_data(show_spinner="Reading the dataset…", max_entries=16)
def _example_texts(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                   k: int) -> ExampleTexts:
    model = _load_model(model_ref, model_stamp_)
    smp = _sample(model, choice, k)
    ds, note = smp.dataset, smp.note
    names = ds.label_names
    labels = tuple(names[int(y)] if ds.labels is not None and 0 <= int(y) < len(names) else ""
                   for y in (ds.labels if ds.labels is not None else [-1] * len(ds)))
    return ExampleTexts(tuple(ds.texts), ds.text_pairs, labels, ds.is_pair, note, tuple(int(i) for i in smp.indices))


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


def fit_mlm_head(model_ref: str) -> "MLMHeadReport":
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


@st.cache_data(show_spinner=False, max_entries=32)
def _games(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
           n: int, params: FaithfulnessParams, _weights: dict[str, float] | None = None) -> FaithfulnessResult:
    model = _load_model(model_ref, model_stamp_)
    titles = {m: get_method(m).title for m in params.methods} | {"random": "random order"}
    stages = {m: float((_weights or {}).get(m, 1.0 if not _weights else 0.0)) for m in titles}
    bar = StreamlitProgress("Preparing the games…", prefix="Faithfulness games – ", titles=titles,
                            stages=stages if sum(stages.values()) > 0 else list(titles),
                            expected=sum(_weights.values()) if _weights else None)
    try:
        return run_games(model, _sample(model, choice, n), params, cache=ArrayCache(), progress=bar)
    finally:
        bar.close()


def faithfulness_games(model_ref: str, choice: DatasetChoice, n: int, params: FaithfulnessParams, *,
                       weights: dict[str, float] | None = None) -> FaithfulnessResult:
    """Hiding and revealing games (``core.analyses.saliency.faithfulness.run_games``) for ``params`` plus the
    random order, on ``n`` examples of ``choice`` (the held-out test split when the model was trained on it;
    ``result.sample.note`` says so). Each method's curves are also cached on disk. Shows a progress bar, its stages
    weighted by ``weights`` (method → expected seconds, e.g. ``estimates.games(...).parts``)."""
    mref = model_ref.strip()
    return _games(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, weights)


@st.cache_data(show_spinner=False, max_entries=32)
def _class_tokens(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                  n: int, params: ClassTokensParams, _expected: float | None = None) -> ClassTokens:
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Explaining the texts…", titles={"idf": "Weighting words by their document frequency"},
                            expected=_expected)
    try:
        return run_class_tokens(model, _sample(model, choice, n), params, progress=bar)
    finally:
        bar.close()


def class_tokens(model_ref: str, choice: DatasetChoice, n: int, params: ClassTokensParams, *,
                 expected: float | None = None) -> ClassTokens:
    """The top words per predicted class that ``params.method`` credits over ``n`` examples of ``choice``
    (held-out split when the model was trained on it), idf-weighted by the bundled corpora (``params.idf``)."""
    mref = model_ref.strip()
    return _class_tokens(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, expected)
