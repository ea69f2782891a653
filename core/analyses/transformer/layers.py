"""Where in depth do the classes separate? Per-layer separability and 2-D maps of any layer.

For every layer l = 0 (embeddings output) … L, the pooled hidden states (the model's own pooling: CLS or
mean) of the same texts are scored by

* **k-NN accuracy** — leave-one-out majority vote of the k nearest other texts (cosine) against the true
  labels; chance = the majority label's share;
* **silhouette** (cosine) of the true labels — how compact and apart the classes are (−1 … 1);

and can be drawn in 2-D with PCA, t-SNE or UMAP (:data:`MAP_METHODS`, :func:`map_layer`). The curve over l
shows at which depth the classes become separable, e.g. for a pre-trained (frozen) against a fine-tuned
encoder: :func:`run_layers` scores one or several models on the same :class:`~core.data.sampling.Sample`.

This module imports no torch at import time (report specs name its parameters and map methods).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Progress
from core.foundation.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from core.data.datasets import TextDataset
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel


class LayerError(BackboneLensError):
    """Inputs a layer analysis cannot use."""


# ----------------------------------------------------------------------------- 2-D maps


def _pca(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(X)


def _tsne(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, metric="cosine", init="pca", perplexity=min(30.0, (len(X) - 1) / 3),
                random_state=seed).fit_transform(X)


def _umap(X: np.ndarray, seed: int) -> np.ndarray:
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, len(X) - 1), random_state=seed
                         ).fit_transform(X)


# the 2-D map methods: X (n, d) float32 and a seed → (n, 2); titles are what pages, sections and the CLI show
MAP_METHODS: Registry[Callable[[np.ndarray, int], np.ndarray]] = Registry("projection", error=LayerError)
MAP_METHODS.add("pca", _pca, title="PCA")
MAP_METHODS.add("tsne", _tsne, title="t-SNE")
MAP_METHODS.add("umap", _umap, title="UMAP")


def check_map_method(method: str) -> None:
    """Raise :class:`LayerError` for a method that is not a 2-D map method (DeepView is the projection's own)."""
    if method not in MAP_METHODS:
        raise LayerError(MAP_METHODS.unknown_message(method).rstrip(".") + " (DeepView needs the classifier head "
                         "and therefore the last layer: use the Projection page or `core project`).")


def project_layer(X: np.ndarray, method: str = "umap", *, seed: int = 0) -> np.ndarray:
    """2-D map (n, 2) float32 of one layer's pooled states X (n, d): ``pca``, ``tsne`` (cosine) or ``umap`` (cosine)."""
    check_map_method(method)
    n = len(X)
    if n < 5:
        raise LayerError(f"A 2-D map needs at least 5 texts, got {n}.")
    return np.asarray(MAP_METHODS.get(method)(np.asarray(X, np.float32), seed), dtype=np.float32)


# ----------------------------------------------------------------------------- separability (arrays)


def knn_accuracy(X: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Leave-one-out k-NN accuracy (cosine; vote ties go to the smaller label id). X: (n, d); labels: (n,) ≥ 0."""
    from core.analyses.compare import knn_indices

    idx = knn_indices(X, k, metric="cosine")
    votes = labels[idx]  # (n, k)
    C = int(labels.max()) + 1
    counts = np.zeros((len(labels), C), np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(labels)), k), votes.ravel()), 1)
    return float((counts.argmax(1) == labels).mean())


def silhouette(X: np.ndarray, labels: np.ndarray, *, sample: int = 2000, seed: int = 0) -> float:
    """Cosine silhouette of ``labels`` (n,) on X (n, d) (on a seeded sample of at most ``sample`` points)."""
    from sklearn.metrics import silhouette_score

    n = len(labels)
    return float(silhouette_score(X, labels, metric="cosine", sample_size=min(n, sample) if n > sample else None,
                                  random_state=seed))


@dataclass(frozen=True)
class LayerSeparability:
    """Per-layer separability of the true labels. All arrays (L+1,), index = layer (0 = embeddings)."""

    model_ref: str
    n: int
    k: int
    knn_accuracy: np.ndarray
    silhouette: np.ndarray
    chance: float
    label_names: tuple[str, ...]
    seconds: float
    note: str = ""

    @property
    def layers(self) -> np.ndarray:
        return np.arange(len(self.knn_accuracy))

    def separation_layer(self, share: float = 0.9) -> int | None:
        """The first layer whose k-NN accuracy gains ``share`` of the whole rise from chance to the best layer;
        None when no layer's vote beats chance (there is no rise: the classes never separate)."""
        best = float(self.knn_accuracy.max())
        if best <= self.chance + 1e-12:
            return None
        target = self.chance + share * (best - self.chance)
        return int(np.flatnonzero(self.knn_accuracy >= target - 1e-12)[0])

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model_ref, "n": self.n, "k": self.k, "chance": round(self.chance, 4),
                "labels": list(self.label_names), "separation_layer": self.separation_layer(),
                "layers": [{"layer": int(l), "knn_accuracy": round(float(a), 4), "silhouette": round(float(s), 4)}
                           for l, a, s in zip(self.layers, self.knn_accuracy, self.silhouette)],
                "seconds": round(self.seconds, 2), **({"note": self.note} if self.note else {})}


def separability_by_layer(layer_pooled: np.ndarray, labels: np.ndarray, *, k: int = 10, seed: int = 0,
                          model_ref: str = "", label_names: Sequence[str] = (),
                          progress: Progress | None = None) -> LayerSeparability:
    """k-NN accuracy and silhouette of ``labels`` at every layer. layer_pooled: (L+1, n, d); labels: (n,), −1 =
    unlabelled (left out)."""
    t0 = time.perf_counter()
    labels = np.asarray(labels)
    keep = labels >= 0
    if keep.sum() < 10:
        raise LayerError(f"Per-layer separability needs at least 10 labelled texts, got {int(keep.sum())}.")
    y = labels[keep]
    classes, y = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise LayerError("Per-layer separability needs texts of at least two labels.")
    n = int(keep.sum())
    if not 1 <= k <= n - 2:
        raise LayerError(f"k = {k} does not fit {n} labelled texts; use 1 … {n - 2}.")
    L1 = layer_pooled.shape[0]
    acc, sil = np.zeros(L1), np.zeros(L1)
    for layer in range(L1):
        X = layer_pooled[layer][keep]
        acc[layer] = knn_accuracy(X, y, k)
        sil[layer] = silhouette(X, y, seed=seed)
        if progress is not None:
            progress("layers", (layer + 1) / L1, f"layer {layer} of {L1 - 1}")
    chance = float(np.bincount(y).max() / n)
    names = tuple(label_names[c] for c in classes) if len(label_names) else tuple(str(c) for c in classes)
    note = "" if keep.all() else f"{int((~keep).sum())} unlabelled texts were left out."
    return LayerSeparability(model_ref, n, k, acc, sil, chance, names, time.perf_counter() - t0, note)


# ----------------------------------------------------------------------------- one or several models on a sample


@dataclass(frozen=True)
class LayersParams(Params):
    """What decides the per-layer scores apart from the models and the sample (its seed seeds the silhouette)."""

    k: int = param(10, "neighbours of the k-NN vote", minimum=1)


@dataclass(frozen=True, eq=False)
class LayersResult:
    """Per-layer separability of every model (``separability``, in the order of the models) on the same
    ``sample``; has_head: per model; seconds: wall time per model (hidden states of every layer + metrics)."""

    sample: "Sample"
    params: LayersParams
    separability: tuple[LayerSeparability, ...]
    has_head: tuple[bool, ...]
    seconds: tuple[float, ...]

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(s.model_ref for s in self.separability)


def layer_labels(model: "LoadedModel", dataset: "TextDataset") -> tuple[np.ndarray, tuple[str, ...]]:
    """(n,) true label ids (−1 = none) and their names: the model's ids when it has a head and the dataset's labels
    match its label names, else the dataset's own."""
    if dataset.labels is None:
        raise LayerError(f"Dataset {dataset.name} has no labels; per-layer separability measures how well the true "
                         "labels separate, so it needs a label column.")
    if model.has_head:
        from core.analyses.projection.run import model_labels

        labels, note = model_labels(model, dataset)
        if not note:
            return labels, tuple(model.label_names)
    return np.asarray(dataset.labels), tuple(dataset.label_names)


def _share(progress: Progress | None, i: int, n: int, prefix: str) -> Progress | None:
    """Progress of part ``i`` of ``n`` equal parts of each stage, every message after ``prefix``."""
    if progress is None:
        return None

    def sub(stage: str, fraction: float, message: str = "") -> None:
        progress(stage, (i + min(1.0, max(0.0, float(fraction)))) / n, prefix + message)
    return sub


def run_layers(models: "LoadedModel | Sequence[LoadedModel]", sample: "Sample", params: LayersParams | None = None,
               *, cache: "ArrayCache | None" = None, progress: Progress | None = None) -> LayersResult:
    """Pooled states of every layer of every model (cached on disk) → :func:`separability_by_layer` of the true
    labels (matched to a model's label names when it has a head). Stages: "embeddings" (all models), then
    "layers"; with several models each message starts with the model's reference."""
    from core.models.embeddings import extract_embeddings
    from core.models.loading import LoadedModel

    params = params or LayersParams()
    ms = [models] if isinstance(models, LoadedModel) else list(models)
    if not ms:
        raise LayerError("Choose at least one model.")
    labels = [layer_labels(m, sample.dataset) for m in ms]  # no labels: said before any model work
    prefix = [f"{m.ref}: " if len(ms) > 1 else "" for m in ms]
    secs, states = [0.0] * len(ms), []
    for i, m in enumerate(ms):
        t0 = time.perf_counter()
        emb = extract_embeddings(m, sample.dataset, all_layers=True, cache=cache,
                                 progress=_share(progress, i, len(ms), prefix[i]))
        assert emb.layer_pooled is not None
        states.append(emb.layer_pooled)
        secs[i] += time.perf_counter() - t0
    seps = []
    for i, (m, (y, names)) in enumerate(zip(ms, labels)):
        t0 = time.perf_counter()
        seps.append(separability_by_layer(states[i], y, k=params.k, seed=sample.seed, model_ref=m.ref,
                                          label_names=names, progress=_share(progress, i, len(ms), prefix[i])))
        secs[i] += time.perf_counter() - t0
    return LayersResult(sample, params, tuple(seps), tuple(bool(m.has_head) for m in ms), tuple(secs))


# ----------------------------------------------------------------------------- one layer as a map


@dataclass(frozen=True, eq=False)
class RowLabels:
    """What to colour each text of a sample by. true: (n,) the dataset's label names ('—' = unlabelled);
    predicted: (n,) the model's predicted class names; correct: (n,) 'correct' / 'wrong' / 'unlabelled';
    confidence: (n,) float32 — these three None for a bare encoder; note: why correctness is unknown ('' when
    it is known)."""

    true: tuple[str, ...]
    predicted: tuple[str, ...] | None = None
    correct: tuple[str, ...] | None = None
    confidence: np.ndarray | None = None
    note: str = ""


def row_labels(model: "LoadedModel", dataset: "TextDataset", probs: np.ndarray | None) -> RowLabels:
    """:class:`RowLabels` of the texts of ``dataset`` from the model's class probabilities ``probs`` (n, C)."""
    from core.analyses.projection.run import model_labels

    names = tuple(dataset.label_names)
    y = np.asarray(dataset.labels) if dataset.labels is not None else np.full(len(dataset), -1)
    true = tuple(names[int(v)] if 0 <= int(v) < len(names) else "—" for v in y)
    if not model.has_head or probs is None:
        return RowLabels(true)
    pred = np.asarray(probs).argmax(1)
    y_model, note = model_labels(model, dataset)
    correct = tuple("unlabelled" if t < 0 else ("correct" if t == p else "wrong") for t, p in zip(y_model, pred))
    return RowLabels(true, tuple(model.label_names[int(c)] for c in pred), correct,
                     np.asarray(probs).max(1).astype(np.float32), note)


@dataclass(frozen=True, eq=False)
class LayerMap:
    """One layer of one model drawn in 2-D for ``sample``: points (n, 2) by ``method``; layer: None = the final
    pooled embeddings; rows: what to colour each text by; label_names: the model's classes (empty for a bare
    encoder); seconds: time to map (hidden states read from the disk cache when computed before)."""

    sample: "Sample"
    model_ref: str
    layer: int | None
    method: str
    points: np.ndarray
    rows: RowLabels
    label_names: tuple[str, ...]
    seconds: float


def map_layer(model: "LoadedModel", sample: "Sample", method: str = "pca", *, layer: int | None = None,
              cache: "ArrayCache | None" = None, progress: Progress | None = None) -> LayerMap:
    """The 2-D map of layer ``layer`` (0 = embeddings; None = the final pooled embeddings) of ``model`` on
    ``sample`` with ``method`` (:data:`MAP_METHODS`; seeded by the sample's seed). Stages: "embeddings",
    "projection"."""
    from core.models.embeddings import extract_embeddings

    check_map_method(method)
    t0 = time.perf_counter()
    emb = extract_embeddings(model, sample.dataset, all_layers=layer is not None, cache=cache, progress=progress)
    if layer is None:
        X = emb.pooled
    else:
        assert emb.layer_pooled is not None
        L = emb.layer_pooled.shape[0] - 1
        if not 0 <= int(layer) <= L:
            raise LayerError(f"Layer {layer} does not exist; {model.ref} has layers 0 … {L}.")
        X = emb.layer_pooled[int(layer)]
    if progress is not None:
        progress("projection", 0.0, f"{'the embeddings' if layer is None else f'layer {layer}'} with "
                                    f"{MAP_METHODS.title(method)}")
    points = project_layer(X, method, seed=sample.seed)
    if progress is not None:
        progress("projection", 1.0, "done")
    return LayerMap(sample, model.ref, None if layer is None else int(layer), method, points,
                    row_labels(model, sample.dataset, emb.probs),
                    tuple(model.label_names) if model.has_head else (), time.perf_counter() - t0)


__all__ = ["LayerError", "LayerMap", "LayerSeparability", "LayersParams", "LayersResult", "MAP_METHODS",
           "RowLabels", "check_map_method", "knn_accuracy", "layer_labels", "map_layer",
           "project_layer", "row_labels", "run_layers", "separability_by_layer", "silhouette"]
