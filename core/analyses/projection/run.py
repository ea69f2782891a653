"""The projection of a model on a dataset sample: embeddings → distance graph → one projection per λ, cached.

Glue between :mod:`core.embeddings` (cached pooled embeddings), :mod:`core.projection` (the maths) and
:mod:`core.cache`. Distance graphs are cached per (model, sample, metric, n_interp, mode); projections per
graph and λ, so a λ sweep or a slider only repeats mixing, UMAP, background and metrics, and a revisited λ
is a cache read.
"""
from __future__ import annotations

from core.foundation.progress import Progress

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.foundation.cache import ArrayCache, atomic_write_bytes
from core.data.datasets import TextDataset
from core.models.embeddings import EmbeddingSet, extract_embeddings
from core.foundation.errors import BackboneLensError
from core.models.evaluate import map_labels
from core.models.loading import LoadedModel
from core.analyses.projection.layout import DEFAULT_LAMBDAS, Projection, project
from core.analyses.projection.background import DecisionBackground
from core.analyses.projection.distances import (DistanceGraph, ProjectionError, check_inputs, check_lambda, compute_distance_graph)
from core.analyses.projection.fidelity import Fidelity

GRAPH_VERSION = 2  # bump when the candidate graph or the distances change


@dataclass(frozen=True)
class ProjectionSettings:
    """Everything that decides a projection apart from the model, the sample and λ."""

    metric: str = "cosine"
    n_interp: int = 10
    exact: bool = False
    n_neighbors: int = 30
    k_own: int = 60
    k_other: int = 3
    min_dist: float = 0.1
    n_epochs: int = 200
    resolution: int = 100
    k: int = 5
    k_tc: int = 10
    seed: int = 0

    def graph_parts(self) -> dict:
        return {"metric": self.metric, "n_interp": self.n_interp, "exact": self.exact,
                "n_neighbors": self.n_neighbors, "k_own": self.k_own, "k_other": self.k_other, "seed": self.seed,
                "graph_version": GRAPH_VERSION}

    def embed_parts(self) -> dict:
        return {"min_dist": self.min_dist, "n_epochs": self.n_epochs, "resolution": self.resolution, "k": self.k,
                "k_tc": self.k_tc}


@dataclass(frozen=True, eq=False)
class ProjectionRun:
    """One λ of one model on one sample, with what a page or report needs to show it.

    texts: n strings; labels: (n,) int64 true labels as the *model's* label ids, matched by name (−1 = none,
    or a label the model does not know; ``label_note`` says why); probs: (n, C) float32; text_pairs: second
    texts or None; indices: (n,) positions in the full dataset.
    """

    projection: Projection
    texts: list[str]
    labels: np.ndarray
    probs: np.ndarray
    label_names: list[str]
    model_ref: str
    dataset_name: str
    settings: ProjectionSettings
    graph_seconds: float
    graph_cache_hit: bool
    projection_cache_hit: bool
    embed_seconds: float
    n_edges: int
    key: str = ""
    text_pairs: tuple[str, ...] | None = None
    indices: np.ndarray | None = None
    label_note: str = ""

    @property
    def lam(self) -> float:
        return self.projection.lam

    @property
    def n(self) -> int:
        return len(self.texts)

    @property
    def fidelity(self) -> Fidelity:
        return self.projection.fidelity

    def summary(self) -> dict[str, Any]:
        f = self.fidelity
        return {"model": self.model_ref, "dataset": self.dataset_name, "n": self.n, "lam": self.lam,
                "metric": self.settings.metric, "exact": self.settings.exact, "n_interp": self.settings.n_interp,
                "q_knn_error": round(f.q_knn_error, 6), "q_data": round(f.q_data, 6),
                "trustworthiness": round(f.trustworthiness, 6), "continuity": round(f.continuity, 6),
                "n_edges": self.n_edges, "graph_cache_hit": self.graph_cache_hit,
                "projection_cache_hit": self.projection_cache_hit}


@dataclass(frozen=True)
class SweepRow:
    lam: float
    q_knn_error: float
    q_data: float
    trustworthiness: float
    continuity: float
    seconds: float


@dataclass(frozen=True, eq=False)
class Sweep:
    """Fidelity for several λ on one distance graph."""

    rows: tuple[SweepRow, ...]
    runs: tuple[ProjectionRun, ...]

    def to_list(self) -> list[dict]:
        return [{"lam": r.lam, "q_knn_error": round(r.q_knn_error, 6), "q_data": round(r.q_data, 6),
                 "trustworthiness": round(r.trustworthiness, 6), "continuity": round(r.continuity, 6),
                 "seconds": round(r.seconds, 3)} for r in self.rows]



def _graph_parts(model: LoadedModel, emb: EmbeddingSet, settings: ProjectionSettings) -> dict:
    return {"model": model.fingerprint, "embeddings": [emb.model_fingerprint, emb.dataset_fingerprint, emb.params],
            **settings.graph_parts()}


def distance_graph(model: LoadedModel, emb: EmbeddingSet, settings: ProjectionSettings, *,
                   cache: ArrayCache | None = None, progress: Progress | None = None,
                   ) -> tuple[DistanceGraph, bool, str]:
    """The cached distance graph of ``emb`` under ``model``'s head. Returns (graph, cache hit, key)."""
    model.require_head()
    head = model.head
    check_inputs(emb.pooled, emb.probs, k=settings.k, head=head)
    cache = cache or ArrayCache()
    parts = _graph_parts(model, emb, settings)

    def compute():
        g = compute_distance_graph(emb.pooled, head, predictions=emb.predictions, metric=settings.metric,
                                   n_interp=settings.n_interp, exact=settings.exact,
                                   n_neighbors=settings.n_neighbors, k_own=settings.k_own,
                                   k_other=settings.k_other, seed=settings.seed,
                                   progress=progress)
        return g.to_arrays(), g.meta()

    entry = cache.get_or_compute("distance-graph", parts, compute,
                                 description=f"{model.ref}: distance graph n={len(emb.pooled)}")
    return DistanceGraph.from_arrays(entry.arrays, entry.meta), entry.hit, entry.key


def _projection_to_cache(p: Projection) -> tuple[dict, dict]:
    bg = p.background
    arrays = {"points": p.points, "predictions": p.predictions, "confidence": p.confidence,
              "bg_classes": bg.classes, "bg_confidence": bg.confidence, "bg_probs": bg.probs}
    meta = {"lam": p.lam, "fidelity": p.fidelity.to_dict(), "params": p.params, "seconds": p.seconds,
            "extent": list(bg.extent), "resolution": bg.resolution}
    return arrays, meta


def _projection_from_cache(arrays: dict, meta: dict) -> Projection:
    bg = DecisionBackground(extent=tuple(meta["extent"]), resolution=int(meta["resolution"]),
                            classes=arrays["bg_classes"], confidence=arrays["bg_confidence"], probs=arrays["bg_probs"])
    return Projection(lam=float(meta["lam"]), points=arrays["points"], predictions=arrays["predictions"],
                      confidence=arrays["confidence"], background=bg, fidelity=Fidelity(**meta["fidelity"]),
                      params=meta["params"], seconds=meta["seconds"])


def model_labels(model: LoadedModel, ds: TextDataset) -> tuple[np.ndarray, str]:
    """True labels as the model's label ids (matched by name), and a note when there are none to show."""
    if ds.labels is None:
        return np.full(len(ds), -1, np.int64), "The dataset has no labels, so true labels are not shown."
    try:
        return map_labels(model, ds).astype(np.int64), ""
    except BackboneLensError:
        return np.full(len(ds), -1, np.int64), (
            f"The dataset's labels ({', '.join(ds.label_names)}) are not the model's "
            f"({', '.join(model.label_names)}), so true labels are not shown.")


def embeddings_for(model: LoadedModel, dataset: TextDataset, *, cache: ArrayCache | None = None,
                   progress: Progress | None = None) -> EmbeddingSet:
    model.require_head()
    return extract_embeddings(model, dataset, cache=cache, progress=progress)


def run_projection(model: LoadedModel, dataset: TextDataset, lam: float = 0.8,
                   settings: ProjectionSettings | None = None, *, cache: ArrayCache | None = None,
                   progress: Progress | None = None, emb: EmbeddingSet | None = None) -> ProjectionRun:
    """Embeddings (cached) → distance graph (cached) → the projection for ``lam`` (cached)."""
    lam = check_lambda(lam)
    settings = settings or ProjectionSettings()
    cache = cache or ArrayCache()
    t0 = time.perf_counter()
    emb = emb if emb is not None else embeddings_for(model, dataset, cache=cache, progress=progress)
    embed_seconds = time.perf_counter() - t0
    gkey = cache.key({"kind": "distance-graph", **_graph_parts(model, emb, settings)})
    parts = {"graph": gkey, "lam": round(lam, 6), **settings.embed_parts()}
    # a λ already projected needs neither the graph nor UMAP: read it before touching the (large) graph
    entry = cache.load("projection", cache.key({"kind": "projection", **parts}))
    ghit = True
    if entry is None or "graph_seconds" not in entry.meta:
        graph, ghit, _ = distance_graph(model, emb, settings, cache=cache, progress=progress)
        if progress is not None:
            progress("projection", 0.0, f"UMAP, background and metrics for λ = {lam:g}")

        def compute():
            p = project(graph, emb.pooled, model.head, lam, probs=emb.probs,
                        n_neighbors=settings.n_neighbors, min_dist=settings.min_dist,
                        resolution=settings.resolution, k=settings.k, k_tc=settings.k_tc, seed=settings.seed,
                        n_epochs=settings.n_epochs)
            arrays, meta = _projection_to_cache(p)
            return arrays, {**meta, "graph_seconds": graph.seconds, "n_edges": graph.n_edges}

        if entry is not None:  # written before the graph facts were kept with it
            cache.remove("projection", entry.key)
        entry = cache.get_or_compute("projection", parts, compute,
                                     description=f"{model.ref}: projection n={len(dataset)} λ={lam:g}")
    if progress is not None:
        progress("projection", 1.0, "done")
    proj = _projection_from_cache(entry.arrays, entry.meta)
    labels, label_note = model_labels(model, dataset)
    indices = dataset.indices if dataset.indices is not None else np.arange(len(dataset))
    return ProjectionRun(projection=proj, texts=list(dataset.texts), labels=labels,
                         probs=emb.probs, label_names=list(model.label_names), model_ref=model.ref,
                         dataset_name=dataset.name, settings=settings,
                         graph_seconds=float(entry.meta["graph_seconds"]),
                         graph_cache_hit=ghit, projection_cache_hit=entry.hit, embed_seconds=embed_seconds,
                         n_edges=int(entry.meta["n_edges"]), key=entry.key,
                         text_pairs=tuple(dataset.text_pairs) if dataset.text_pairs is not None else None,
                         indices=np.asarray(indices), label_note=label_note)


def run_sweep(model: LoadedModel, dataset: TextDataset, lams: Sequence[float] = DEFAULT_LAMBDAS,
              settings: ProjectionSettings | None = None, *, cache: ArrayCache | None = None,
              progress: Progress | None = None) -> Sweep:
    """Q_kNN, Q_data, T and C for each λ, on one cached distance graph."""
    settings = settings or ProjectionSettings()
    cache = cache or ArrayCache()
    emb = embeddings_for(model, dataset, cache=cache, progress=progress)
    rows, runs = [], []
    for i, lam in enumerate(lams):
        t0 = time.perf_counter()
        run = run_projection(model, dataset, lam, settings, cache=cache, emb=emb, progress=progress)
        secs = time.perf_counter() - t0 if not run.projection_cache_hit else sum(run.projection.seconds.values())
        f = run.fidelity
        rows.append(SweepRow(run.lam, f.q_knn_error, f.q_data, f.trustworthiness, f.continuity, secs))
        runs.append(run)
        if progress is not None:
            progress("sweep", (i + 1) / len(lams), f"λ = {lam:g} done")
    return Sweep(rows=tuple(rows), runs=tuple(runs))


# ----------------------------------------------------------------------------- projection files


def save_projection(run: ProjectionRun, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write the 2-D points, the background, predictions, labels, texts and parameters to an ``.npz`` file."""
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        raise BackboneLensError(f"A projection file must end in .npz, got '{path.name}'.")
    if path.exists() and not overwrite:
        raise BackboneLensError(f"{path} exists; pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    p = run.projection
    meta = {"format": "backbone-lens-projection/1", **run.summary(), "settings": run.settings.__dict__,
            "params": p.params, "fidelity": p.fidelity.to_dict(), "label_names": run.label_names,
            "extent": list(p.background.extent), "resolution": p.background.resolution, "seconds": p.seconds}
    arrays = {"points": p.points, "predictions": p.predictions, "confidence": p.confidence, "probs": run.probs,
              "labels": run.labels, "texts": np.array(run.texts, dtype=str),
              "background_classes": p.background.classes, "background_confidence": p.background.confidence,
              "background_probs": p.background.probs, "meta_json": np.array(json.dumps(meta, default=str))}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_projection_file(path: Path | str) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a file written by :func:`save_projection`."""
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta_json")))
    except FileNotFoundError:
        raise BackboneLensError(f"No projection file at {path}.") from None
    except Exception as e:  # noqa: BLE001
        raise BackboneLensError(f"{path} is not a Backbone Lens projection file ({e}).") from None
    if meta.get("format") != "backbone-lens-projection/1":
        raise BackboneLensError(f"{path} is not a Backbone Lens projection file.")
    return arrays, meta


__all__ = ["ProjectionSettings", "ProjectionRun", "Sweep", "SweepRow", "distance_graph", "run_projection",
           "run_sweep", "save_projection", "load_projection_file", "embeddings_for", "ProjectionError"]
