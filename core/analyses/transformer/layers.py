"""Where in depth do the classes separate? Per-layer separability and 2-D maps of any layer.

For every layer l = 0 (embeddings output) … L, the pooled hidden states (the model's own pooling: CLS or
mean) of the same texts are scored by

* **k-NN accuracy** — leave-one-out majority vote of the k nearest other texts (cosine) against the true
  labels; chance = the majority label's share;
* **silhouette** (cosine) of the true labels — how compact and apart the classes are (−1 … 1);

and can be drawn in 2-D with PCA, t-SNE or UMAP (:func:`project_layer`). The curve over l shows at which
depth the classes become separable, e.g. for a pre-trained (frozen) against a fine-tuned encoder.
"""
from __future__ import annotations

from core.foundation.progress import Progress

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError

PROJECTIONS = ("pca", "tsne", "umap")


class LayerError(BackboneLensError):
    """Inputs a layer analysis cannot use."""


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
    """Cosine silhouette of ``labels`` (on a seeded sample of at most ``sample`` points)."""
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

    def separation_layer(self, share: float = 0.9) -> int:
        """The first layer whose k-NN accuracy gains ``share`` of the whole rise from chance to the best layer."""
        best = float(self.knn_accuracy.max())
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


def layer_sweep(model: Any, dataset: Any, *, k: int = 10, seed: int = 0, cache: Any = None,
                progress: Progress | None = None) -> tuple[LayerSeparability, Any]:
    """Pooled states of every layer (cached) → :func:`separability_by_layer` against the dataset's true labels
    (matched to the model's label names when it has a head). Returns (separability, EmbeddingSet)."""
    from core.models.embeddings import extract_embeddings

    if dataset.labels is None:
        raise LayerError(f"Dataset {dataset.name} has no labels; per-layer separability measures how well the true "
                         "labels separate, so it needs a label column.")
    if model.has_head:
        from core.analyses.projection.run import model_labels

        labels, note = model_labels(model, dataset)
        names = model.label_names
        if note:
            labels, names = dataset.labels, dataset.label_names
    else:
        labels, names = dataset.labels, dataset.label_names
    emb = extract_embeddings(model, dataset, all_layers=True, cache=cache,
                             progress=progress)
    assert emb.layer_pooled is not None
    sep = separability_by_layer(emb.layer_pooled, labels, k=k, seed=seed, model_ref=model.ref, label_names=names,
                                progress=progress)
    return sep, emb


def project_layer(X: np.ndarray, method: str = "umap", *, seed: int = 0) -> np.ndarray:
    """2-D map (n, 2) of one layer's pooled states X (n, d): ``pca``, ``tsne`` (cosine) or ``umap`` (cosine)."""
    if method not in PROJECTIONS:
        raise LayerError(f"Unknown projection '{method}'; choose one of: {', '.join(PROJECTIONS)} (DeepView needs the "
                         "classifier head and therefore the last layer: use the Projection page or `core project`).")
    n = len(X)
    if n < 5:
        raise LayerError(f"A 2-D map needs at least 5 texts, got {n}.")
    X = np.asarray(X, np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(X).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, metric="cosine", init="pca", perplexity=min(30.0, (n - 1) / 3),
                    random_state=seed).fit_transform(X).astype(np.float32)
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed
                         ).fit_transform(X).astype(np.float32)


__all__ = ["LayerError", "LayerSeparability", "PROJECTIONS", "knn_accuracy", "layer_sweep", "project_layer",
           "separability_by_layer", "silhouette"]
