"""Cached calls of the pages inside the transformer: Layers, Topics, Heads & attention, Instance.

Every dataset-level call draws its texts with :func:`core.models.heldout.heldout_sample` (the Workspace seed; the
held-out test split when a model was trained on the dataset) and returns the ``core`` result, which carries that
:class:`~core.data.sampling.Sample`: pages read the texts, indices and the note saying where they come from off
the result itself.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import streamlit as st

from core.analyses.projection.run import ProjectionRun
from core.analyses.transformer.attention_maps import DEFAULT_MAX_TOKENS, AttentionMaps
from core.analyses.transformer.head_importance import HeadImportance, HeadImportanceParams
from core.analyses.transformer.instance_view import EntropyParams, EntropyStudy, InstanceParams, InstanceView
from core.analyses.transformer.layers import MAP_METHODS, LayerMap, LayersParams, LayersResult
from core.analyses.transformer.topics import TopicsParams, TopicsResult
from core.data.refs import load_dataset
from core.data.sampling import Sample
from core.models.heldout import heldout_sample
from core.models.loading import LoadedModel
from ui.cached.common import _load_model, dataset_stamp, model_stamp
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice

DEEPVIEW = "deepview"  # the Layers page's map of the last layer with the classifier's decisions (the projection's)
# what the Layers and Topics pages call each 2-D map method (the registry's titles, and DeepView)
METHOD_NAMES = {**MAP_METHODS.titles(), DEEPVIEW: "DeepView"}


def _sample(models: LoadedModel | Sequence[LoadedModel], choice: DatasetChoice, n: int, *,
            classifiers_only: bool = True) -> Sample:
    """``n`` texts of ``choice`` (its seed), from the held-out test split when one of the models was trained on
    this dataset (only a classifier counts when ``classifiers_only``)."""
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    return heldout_sample(models, full, n, seed=choice.seed, classifiers_only=classifiers_only)


def _models(model_refs: tuple[str, ...], stamps: tuple[str, ...]) -> list[LoadedModel]:
    return [_load_model(r, s) for r, s in zip(model_refs, stamps)]


def _keys(model_refs: Sequence[str], choice: DatasetChoice) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    refs = tuple(r.strip() for r in model_refs)
    return refs, tuple(model_stamp(r) for r in refs), dataset_stamp(choice.ref)


# ------------------------------------------------------------------------------ Layers


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, k: int) -> LayersResult:
    from core.analyses.transformer.layers import run_layers

    models = _models(model_refs, stamps)
    sample = _sample(models, choice, n)
    bar = StreamlitProgress("Preparing the layer sweep…", stages={"embeddings": 0.85, "layers": 0.15})
    try:
        return run_layers(models, sample, LayersParams(k=k), progress=bar)
    finally:
        bar.close()


def layer_separability(model_refs: Sequence[str], choice: DatasetChoice, n: int,
                       k: int = LayersParams.param("k").default) -> LayersResult:
    """``core.analyses.transformer.layers.run_layers`` of the models on the same ``n`` texts of ``choice``: k-NN
    accuracy and silhouette of the true labels at every layer. Hidden states are cached on disk by ``core``;
    shows a progress bar."""
    refs, stamps, stamp = _keys(model_refs, choice)
    return _layers(refs, stamps, choice, stamp, int(n), int(k))


@st.cache_data(show_spinner=False, max_entries=64)
def _layer_map(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, which: int, layer: int, method: str) -> tuple[LayerMap, ProjectionRun | None]:
    from core.analyses.transformer.layers import map_layer, row_labels

    models = _models(model_refs, stamps)
    model = models[which]
    sample = _sample(models, choice, n)
    if method != DEEPVIEW:
        bar = StreamlitProgress("Reading the hidden states…")
        try:
            return map_layer(model, sample, method, layer=layer, progress=bar), None
        finally:
            bar.close()
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import run_projection  # the DeepView map is the projection's

    t0 = time.perf_counter()
    bar = StreamlitProgress("Preparing the DeepView map…")
    try:
        run = run_projection(model, sample, ProjectionParams(lam=0.8, seed=choice.seed), progress=bar)
    finally:
        bar.close()
    return LayerMap(sample, model.ref, int(layer), method, np.asarray(run.projection.points),
                    row_labels(model, sample.dataset, run.probs), tuple(model.label_names),
                    time.perf_counter() - t0), run


def layer_map(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int, layer: int, method: str
              ) -> tuple[LayerMap, ProjectionRun | None]:
    """(the 2-D map of layer ``layer`` of model ``model_refs[which]`` on the sample of ``layer_separability``, the
    ``core.analyses.projection.run.ProjectionRun`` behind it when ``method`` is deepview, else None). ``method``:
    pca, tsne, umap (``core.analyses.transformer.layers.map_layer``) or deepview (the DeepView projection at
    λ = 0.8 with its decision background; last layer only). Cached per (models, dataset, layer, method)."""
    refs, stamps, stamp = _keys(model_refs, choice)
    return _layer_map(refs, stamps, choice, stamp, int(n), int(which), int(layer), method)


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_entropy(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice,  # noqa: ARG001
                   stamp: str, n: int, which: int, _expected: float | None = None) -> np.ndarray:
    # imported here: the study costs integrated gradients per text and is rarely asked for
    from core.analyses.transformer.instance_view import run_entropy

    models = _models(model_refs, stamps)
    bar = StreamlitProgress("Integrated gradients of each text…",
                            titles={"attribution": "Integrated gradients of each text"}, expected=_expected)
    try:
        study = run_entropy(models[which], _sample(models, choice, n), EntropyParams(), progress=bar)
    finally:
        bar.close()
    return np.asarray(study.entropy, dtype=np.float32)


def layer_entropy(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int, *,
                  expected: float | None = None) -> np.ndarray:
    """(n,) normalised entropy of |integrated-gradients attribution| of each text of the ``layer_separability``
    sample under ``model_refs[which]`` (``core.analyses.transformer.instance_view.run_entropy``; 0 = on one token,
    1 = spread evenly)."""
    refs, stamps, stamp = _keys(model_refs, choice)
    return _layer_entropy(refs, stamps, choice, stamp, int(n), int(which), expected)


# ------------------------------------------------------------------------------ Topics


@st.cache_data(show_spinner=False, max_entries=32)
def _topics(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, params: TopicsParams) -> TopicsResult:
    from core.analyses.transformer.topics import check_params, run_topics

    check_params(params, n)  # before the model reads anything
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Preparing…", stages={"embeddings": 0.6, "clusters": 0.25, "topic words": 0.15})
    try:
        return run_topics(model, _sample(model, choice, n, classifiers_only=False), params, progress=bar)
    finally:
        bar.close()


def topics(model_ref: str, choice: DatasetChoice, n: int, params: TopicsParams | None = None) -> TopicsResult:
    """``core.analyses.transformer.topics.run_topics`` of ``n`` texts of ``choice``: clusters of the pooled
    embeddings named by c-TF-IDF words, with label mix and error rate per cluster, and what to colour each text
    by. Embeddings are cached on disk by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _topics(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params or TopicsParams())


@st.cache_data(show_spinner=False, max_entries=32)
def _topic_map(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, method: str) -> np.ndarray:
    from core.analyses.transformer.layers import map_layer

    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Embedding the texts…")
    try:
        return map_layer(model, _sample(model, choice, n, classifiers_only=False), method, progress=bar).points
    finally:
        bar.close()


def topic_map(model_ref: str, choice: DatasetChoice, n: int, method: str = "umap") -> np.ndarray:
    """(n, 2) map of the pooled embeddings of the ``topics`` sample (``core.analyses.transformer.layers.map_layer``:
    pca, tsne, umap; cosine), to draw the clusters on."""
    mref = model_ref.strip()
    return _topic_map(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method)


# ------------------------------------------------------------------------------ Heads & attention


@st.cache_data(show_spinner=False, max_entries=16)
def _head_importance(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                     n: int, params: HeadImportanceParams, _weights: dict[str, float] | None = None
                     ) -> HeadImportance:
    from core.analyses.transformer.head_importance import run_head_importance, stage_seconds

    model = _load_model(model_ref, model_stamp_)
    model.require_head()
    bar = StreamlitProgress("Preparing…", stages=_weights or stage_seconds(params),
                            expected=sum(_weights.values()) if _weights else None)
    try:
        return run_head_importance(model, _sample([model], choice, n), params, progress=bar)
    finally:
        bar.close()


def head_importance(model_ref: str, choice: DatasetChoice, n: int,
                    params: HeadImportanceParams | None = None, *,
                    weights: dict[str, float] | None = None) -> HeadImportance:
    """``core.analyses.transformer.head_importance.run_head_importance`` of ``model_ref`` on ``n`` texts of
    ``choice``: the (layers, heads) importance by ``params.method``, the other method and their Spearman ρ
    (``compare``), and the pruning check (``prune``). Cached here and on disk by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _head_importance(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n),
                            params or HeadImportanceParams(), weights)


@st.cache_data(show_spinner="Reading the attention weights…", max_entries=64)
def _attention_maps(model_ref: str, model_stamp_: str, text: str, pair: str | None,  # noqa: ARG001
                    max_tokens: int) -> AttentionMaps:
    from core.analyses.transformer.attention_maps import attention_maps as maps_of

    return maps_of(_load_model(model_ref, model_stamp_), text, pair, max_tokens=max_tokens)


def attention_maps(model_ref: str, text: str, pair: str | None = None, *,
                   max_tokens: int = DEFAULT_MAX_TOKENS) -> AttentionMaps:
    """``core.analyses.transformer.attention_maps.attention_maps``: every layer's and head's attention for ``text``
    (and ``pair``), the first ``max_tokens`` tokens shown."""
    mref = model_ref.strip()
    return _attention_maps(mref, model_stamp(mref), text, pair, int(max_tokens))


# ------------------------------------------------------------------------------ Instance


@st.cache_data(show_spinner=False, max_entries=64)
def _instance(model_ref: str, model_stamp_: str, text: str, pair: str | None, target: str | None,  # noqa: ARG001
              params: InstanceParams, _weights: dict[str, float] | None = None) -> InstanceView:
    from core.analyses.transformer.instance_view import instance_view

    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Explaining the text…", titles={"attribution": "Integrated gradients"},
                            stages=_weights or None, expected=sum(_weights.values()) if _weights else None)
    try:
        return instance_view(model, text, pair, params, target=target, progress=bar)
    finally:
        bar.close()


def instance(model_ref: str, text: str, pair: str | None = None, *, target: str | None = None,
             params: InstanceParams | None = None, weights: dict[str, float] | None = None) -> InstanceView:
    """IG attribution, integrated-Hessians interactions of the ``params.max_tokens`` most attributed tokens and
    the attribution entropy of ``text`` (``core.analyses.transformer.instance_view.instance_view``)."""
    mref = model_ref.strip()
    return _instance(mref, model_stamp(mref), text, pair, target, params or InstanceParams(), weights)


@st.cache_data(show_spinner=False, max_entries=16)
def _entropy(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int,  # noqa: ARG001
             params: EntropyParams, _expected: float | None = None) -> EntropyStudy:
    from core.analyses.transformer.instance_view import run_entropy

    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Integrated gradients of each text…",
                            titles={"attribution": "Integrated gradients of each text"}, expected=_expected)
    try:
        return run_entropy(model, _sample([model], choice, n), params, progress=bar)
    finally:
        bar.close()


def entropy(model_ref: str, choice: DatasetChoice, n: int, params: EntropyParams | None = None, *,
            expected: float | None = None) -> EntropyStudy:
    """Attribution entropy of ``n`` texts of ``choice`` (``core.analyses.transformer.instance_view.run_entropy``),
    with the sample it ran on."""
    mref = model_ref.strip()
    return _entropy(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params or EntropyParams(),
                    expected)
