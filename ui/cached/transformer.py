"""Cached calls of the pages inside the transformer: Layers, Topics, Heads & attention, Instance.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence
import numpy as np
import streamlit as st
from core.data.datasets import TextDataset
from core.analyses.projection.run import run_projection
from core.models.loading import LoadedModel
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.common import _comparison_sample, _load_model, _projection_sample, dataset_stamp, model_stamp


# Relative cost per text of each head-importance stage (attribution per 10 integration steps), for one bar
HEAD_STAGE_COST = {"attribution": 1.0, "mask": 0.05, "pruning": 0.5}  # measured on 100 tweets: 235 s, 12 s, 111 s


METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "deepview": "DeepView"}


@dataclass(frozen=True, eq=False)
class LayersView:
    """Per-layer separability (``core.analyses.transformer.layers.LayerSeparability``, one per model in ``refs`` order) of the same
    ``n`` texts; has_head: per model; texts / text_pairs: the sample; indices: (n,) positions in the full dataset;
    note: where the texts come from; seconds: wall time per model (embeddings of every layer + metrics)."""

    separability: tuple[Any, ...]
    refs: tuple[str, ...]
    has_head: tuple[bool, ...]
    texts: tuple[str, ...]
    text_pairs: tuple[str, ...] | None
    indices: np.ndarray
    note: str
    seconds: tuple[float, ...]


def _layers_sample(models: Sequence[LoadedModel], choice: DatasetChoice, n: int) -> tuple[TextDataset, str]:
    return _comparison_sample(models, choice, n)


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, k: int) -> LayersView:
    from core.analyses.transformer.layers import layer_sweep

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    ds, note = _layers_sample(models, choice, n)
    bar = StreamlitProgress("Preparing the layer sweep…", stages={"embeddings": 0.85, "layers": 0.15})
    seps, secs = [], []
    try:
        for i, m in enumerate(models):
            t0 = time.perf_counter()
            seps.append(layer_sweep(m, ds, k=k, seed=choice.seed,
                                    progress=bar.part(i, len(models), prefix=f"{model_refs[i]}: "))[0])
            secs.append(time.perf_counter() - t0)
    finally:
        bar.close()
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return LayersView(tuple(seps), tuple(model_refs), tuple(bool(m.has_head) for m in models), tuple(ds.texts),
                      None if ds.text_pairs is None else tuple(ds.text_pairs), np.asarray(indices), note, tuple(secs))


def layer_separability(model_refs: Sequence[str], choice: DatasetChoice, n: int, k: int = 10) -> LayersView:
    """``core.analyses.transformer.layers.layer_sweep`` of each model on the same ``n`` texts of ``choice`` (the held-out test split when
    one of the models was trained on the dataset; the Workspace seed): k-NN accuracy and silhouette of the true
    labels at every layer. Hidden states are cached on disk by ``core``; shows a progress bar."""
    refs = tuple(r.strip() for r in model_refs)
    return _layers(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n), int(k))


@dataclass(frozen=True, eq=False)
class LayerMapView:
    """One layer of one model mapped to 2-D, for the sample of ``layer_separability``.

    points: (n, 2); true: (n,) the dataset's label names ('—' = unlabelled); predicted / correct: (n,) the
    model's predicted class names and 'correct' / 'wrong' / 'unlabelled' (None for a bare encoder); confidence:
    (n,) or None; run: the ``core.analyses.projection.run.ProjectionRun`` when ``method == 'deepview'`` (its decision background),
    else None; label_note: why correctness is unknown ('' when known); seconds: time to map."""

    ref: str
    layer: int
    method: str
    points: np.ndarray
    true: tuple[str, ...]
    true_names: tuple[str, ...]
    predicted: tuple[str, ...] | None
    correct: tuple[str, ...] | None
    confidence: np.ndarray | None
    label_names: tuple[str, ...]
    run: Any
    label_note: str
    seconds: float


def _row_labels(model: LoadedModel, ds: TextDataset, probs: np.ndarray | None
                ) -> tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None, np.ndarray | None, str]:
    """(true names, predicted names, correctness, confidence, label note) of the texts of ``ds``."""
    from core.analyses.projection.run import model_labels

    names = tuple(ds.label_names)
    y = np.asarray(ds.labels) if ds.labels is not None else np.full(len(ds), -1)
    true = tuple(names[int(v)] if 0 <= int(v) < len(names) else "—" for v in y)
    if not model.has_head or probs is None:
        return true, None, None, None, ""
    pred = np.asarray(probs).argmax(1)
    predicted = tuple(model.label_names[int(c)] for c in pred)
    y_model, note = model_labels(model, ds)
    correct = tuple("unlabelled" if t < 0 else ("correct" if t == p else "wrong") for t, p in zip(y_model, pred))
    return true, predicted, correct, np.asarray(probs).max(1).astype(np.float32), note


@st.cache_data(show_spinner=False, max_entries=64)
def _layer_map(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, which: int, layer: int, method: str) -> LayerMapView:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.layers import project_layer

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    model = models[which]
    ds, _ = _layers_sample(models, choice, n)
    t0 = time.perf_counter()
    run = None
    if method == "deepview":
        from core.analyses.projection.run import ProjectionSettings

        bar = StreamlitProgress("Preparing the DeepView map…")
        try:
            run = run_projection(model, ds, 0.8, ProjectionSettings(seed=choice.seed), progress=bar)
        finally:
            bar.close()
        points, probs = run.projection.points, extract_embeddings(model, ds).probs
    else:
        bar = StreamlitProgress("Reading the hidden states…")
        try:
            emb = extract_embeddings(model, ds, all_layers=True, progress=bar)
            assert emb.layer_pooled is not None
            bar.show(1.0, f"Mapping layer {layer} with {METHOD_NAMES.get(method, method)}…", final=True)
            points = project_layer(emb.layer_pooled[layer], method, seed=choice.seed)
        finally:
            bar.close()
        probs = emb.probs
    true, predicted, correct, conf, note = _row_labels(model, ds, probs)
    return LayerMapView(model_refs[which], int(layer), method, np.asarray(points), true, tuple(ds.label_names),
                        predicted, correct, conf, tuple(model.label_names) if model.has_head else (), run, note,
                        time.perf_counter() - t0)


def layer_map(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int, layer: int, method: str
              ) -> LayerMapView:
    """The 2-D map of layer ``layer`` of model ``model_refs[which]`` on the sample of ``layer_separability``
    (``method``: pca, tsne, umap — ``core.analyses.transformer.layers.project_layer`` — or deepview: the DeepView projection at
    λ = 0.8, last layer only). Cached per (models, dataset, layer, method)."""
    refs = tuple(r.strip() for r in model_refs)
    return _layer_map(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n),
                      int(which), int(layer), method)


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_entropy(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice,  # noqa: ARG001
                   stamp: str, n: int, which: int) -> np.ndarray:
    # imported here: the study costs integrated gradients per text and is rarely asked for
    from core.analyses.transformer.instance_view import entropy_study

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    ds, _ = _layers_sample(models, choice, n)
    bar = StreamlitProgress("Integrated gradients of each text…", titles={"attribution": "Integrated gradients of each text"})
    try:
        study = entropy_study(models[which], ds, progress=bar)
    finally:
        bar.close()
    return np.asarray(study.entropy, dtype=np.float32)


def layer_entropy(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int) -> np.ndarray:
    """(n,) normalised entropy of |integrated-gradients attribution| of each text of the ``layer_separability``
    sample under ``model_refs[which]`` (``core.analyses.transformer.instance_view.entropy_study``; 0 = on one token, 1 = spread evenly)."""
    refs = tuple(r.strip() for r in model_refs)
    return _layer_entropy(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n),
                          int(which))


@dataclass(frozen=True, eq=False)
class TopicsView:
    """A ``core.analyses.transformer.topics.TopicsResult`` with its sample: texts, text_pairs, indices (positions in the full dataset),
    true / predicted / correct names per text (as ``LayerMapView``), confidence (n,) or None, note (where the
    texts come from)."""

    result: Any  # core.analyses.transformer.topics.TopicsResult
    texts: tuple[str, ...]
    text_pairs: tuple[str, ...] | None
    indices: np.ndarray
    true: tuple[str, ...]
    predicted: tuple[str, ...] | None
    correct: tuple[str, ...] | None
    confidence: np.ndarray | None
    note: str


@st.cache_data(show_spinner=False, max_entries=32)
def _topics(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, method: str, n_clusters: int | str, top_n: int, rerank: bool, reduce: str) -> TopicsView:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.topics import check_n_clusters, topics

    check_n_clusters(n_clusters, n, method)  # before the model reads anything
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Preparing…", stages={"embeddings": 0.6, "clusters": 0.25, "topic words": 0.15})
    try:
        res = topics(model, ds, method=method, n_clusters=n_clusters, top_n=top_n, rerank=rerank, reduce=reduce,
                     seed=choice.seed, progress=bar)
    finally:
        bar.close()
    probs = extract_embeddings(model, ds).probs if model.has_head else None
    true, predicted, correct, conf, _ = _row_labels(model, ds, probs)
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return TopicsView(res, tuple(ds.texts), None if ds.text_pairs is None else tuple(ds.text_pairs),
                      np.asarray(indices), true, predicted, correct, conf, note)


def topics(model_ref: str, choice: DatasetChoice, n: int, *, method: str = "kmeans", n_clusters: int | str = "auto",
           top_n: int = 10, rerank: bool = False, reduce: str = "none") -> TopicsView:
    """``core.analyses.transformer.topics.topics`` of ``n`` texts of ``choice`` (the held-out test split when the model was trained on
    it; the Workspace seed): clusters of the pooled embeddings named by c-TF-IDF words, with label mix and error
    rate per cluster. Embeddings are cached on disk by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _topics(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method,
                   n_clusters if isinstance(n_clusters, str) else int(n_clusters), int(top_n), bool(rerank), reduce)


@st.cache_data(show_spinner=False, max_entries=32)
def _topic_map(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, method: str) -> np.ndarray:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.layers import project_layer

    model = _load_model(model_ref, model_stamp_)
    ds, _, _ = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Embedding the texts…")
    try:
        emb = extract_embeddings(model, ds, progress=bar)
        bar.show(1.0, f"Drawing the map with {METHOD_NAMES.get(method, method)}…", final=True)
        return project_layer(emb.pooled, method, seed=choice.seed)
    finally:
        bar.close()


def topic_map(model_ref: str, choice: DatasetChoice, n: int, method: str = "umap") -> np.ndarray:
    """(n, 2) map of the pooled embeddings of the ``topics`` sample (``core.analyses.transformer.layers.project_layer``: pca, tsne,
    umap; cosine), to draw the clusters on."""
    mref = model_ref.strip()
    return _topic_map(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method)


@dataclass(frozen=True, eq=False)
class HeadsView:
    """A ``core.analyses.transformer.head_importance.HeadImportance`` with its sample: ``n`` texts, where they come from (``note``) and
    why accuracy is measured against the model's own predictions (``label_note``, '' when true labels are used) and
    whether it came from the disk cache."""

    result: Any  # core.analyses.transformer.head_importance.HeadImportance
    n: int
    note: str
    label_note: str
    cache_hit: bool = False


@st.cache_data(show_spinner=False, max_entries=16)
def _head_importance(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                     n: int, method: str, steps: int, compare: bool, prune: bool) -> HeadsView:
    from core.analyses.transformer.head_importance import IMPORTANCE_METHODS, dataset_head_importance
    from core.analyses.projection.run import model_labels

    model = _load_model(model_ref, model_stamp_)
    model.require_head()
    ds, note = _comparison_sample([model], choice, n)
    _, label_note = model_labels(model, ds)
    stages = [method, *(m for m in IMPORTANCE_METHODS if m != method and compare)] + (["pruning"] if prune else [])
    bar = StreamlitProgress("Preparing…", stages={s: HEAD_STAGE_COST[s] * (steps / 10 if s == "attribution" else 1)
                                                 for s in stages})
    try:
        res, hit = dataset_head_importance(model, ds, method=method, compare=compare, prune=prune, steps=steps,
                                           seed=choice.seed, progress=bar)
    finally:
        bar.close()
    return HeadsView(res, len(ds), note, label_note, hit)


def head_importance(model_ref: str, choice: DatasetChoice, n: int, *, method: str = "attribution", steps: int = 10,
                    compare: bool = True, prune: bool = True) -> HeadsView:
    """``core.analyses.transformer.head_importance.head_importance`` of ``model_ref`` on ``n`` texts of ``choice`` (the held-out test
    split when the model was trained on it; the Workspace seed): the (layers, heads) importance by ``method``,
    the other method and their Spearman ρ (``compare``), and the pruning check (``prune``). Cached here and on disk
    by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _head_importance(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method, int(steps),
                            bool(compare), bool(prune))


@st.cache_data(show_spinner="Reading the attention weights…", max_entries=64)
def _attention_maps(model_ref: str, model_stamp_: str, text: str, pair: str | None,  # noqa: ARG001
                    max_tokens: int) -> Any:
    from core.analyses.transformer.attention_maps import attention_maps as maps_of

    return maps_of(_load_model(model_ref, model_stamp_), text, pair, max_tokens=max_tokens)


def attention_maps(model_ref: str, text: str, pair: str | None = None, *, max_tokens: int = 48) -> Any:
    """``core.analyses.transformer.attention_maps.attention_maps``: every layer's and head's attention for ``text`` (and ``pair``), the
    first ``max_tokens`` tokens shown (an ``AttentionMaps``)."""
    mref = model_ref.strip()
    return _attention_maps(mref, model_stamp(mref), text, pair, int(max_tokens))


@dataclass(frozen=True, eq=False)
class InstanceResult:
    """One ``core.analyses.transformer.instance_view.InstanceView`` and the seconds it took."""

    view: Any
    seconds: float


@st.cache_data(show_spinner=False, max_entries=64)
def _instance(model_ref: str, model_stamp_: str, text: str, pair: str | None, target: str | None,  # noqa: ARG001
              ig_steps: int, steps: int, max_tokens: int) -> InstanceResult:
    from core.analyses.transformer.instance_view import instance_view

    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Explaining the text…", titles={"attribution": "Integrated gradients"})
    t0 = time.perf_counter()
    try:
        v = instance_view(model, text, pair, target=target, ig_steps=ig_steps, steps=steps, max_tokens=max_tokens,
                          progress=bar)
    finally:
        bar.close()
    return InstanceResult(v, time.perf_counter() - t0)


def instance(model_ref: str, text: str, pair: str | None = None, *, target: str | None = None, ig_steps: int = 50,
             steps: int = 32, max_tokens: int = 16) -> InstanceResult:
    """IG attribution, integrated-Hessians interactions of the ``max_tokens`` most attributed tokens and the
    attribution entropy of ``text`` (``core.analyses.transformer.instance_view.instance_view``)."""
    mref = model_ref.strip()
    return _instance(mref, model_stamp(mref), text, pair, target, int(ig_steps), int(steps), int(max_tokens))


@dataclass(frozen=True, eq=False)
class EntropyView:
    """``core.analyses.transformer.instance_view.EntropyStudy`` on a sample, with its texts (aligned rows) and where they came from."""

    study: Any
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    indices: np.ndarray
    labels: tuple[str, ...]
    note: str


@st.cache_data(show_spinner=False, max_entries=16)
def _entropy(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int,  # noqa: ARG001
             steps: int) -> EntropyView:
    from core.analyses.projection.run import model_labels
    from core.analyses.transformer.instance_view import entropy_study

    model = _load_model(model_ref, model_stamp_)
    ds, note = _comparison_sample([model], choice, n)
    bar = StreamlitProgress("Integrated gradients of each text…", titles={"attribution": "Integrated gradients of each text"})
    try:
        study = entropy_study(model, ds, steps=steps, progress=bar)
    finally:
        bar.close()
    lab = model_labels(model, ds)[0]
    names = tuple(model.label_names[i] if i >= 0 else "" for i in lab)
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return EntropyView(study, tuple(ds.texts), None if ds.text_pairs is None else tuple(ds.text_pairs),
                       np.asarray(indices), names, note)


def entropy(model_ref: str, choice: DatasetChoice, n: int, steps: int = 20) -> EntropyView:
    """Attribution entropy of ``n`` texts of ``choice`` (held-out split when the model was trained on it)."""
    mref = model_ref.strip()
    return _entropy(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), int(steps))
