"""The projection of a model on a sample: embeddings → distance graph → one projection per λ, cached.

Glue between :mod:`core.models.embeddings` (cached pooled embeddings), the maths of this package and
:mod:`core.foundation.cache`. Distance graphs are cached per (model, sample, metric, n_interp, mode);
projections per graph and λ, so a λ sweep or a slider only repeats mixing, UMAP, background and metrics, and a
revisited λ is a cache read.

Entry points (the one signature of dataset-level analyses)::

    sample = heldout_sample(model, dataset, 1000, seed=0)          # core.models.heldout
    run = run_projection(model, sample, ProjectionParams(lam=0.8))  # -> ProjectionRun (carries the sample)
    sweep = run_sweep(model, sample, (0, 0.5, 1), ProjectionParams())
"""
from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.analyses.projection.background import DecisionBackground
from core.analyses.projection.distances import (DistanceGraph, ProjectionError, check_inputs, check_lambda,
                                                compute_distance_graph)
from core.analyses.projection.fidelity import Fidelity
from core.analyses.projection.layout import DEFAULT_LAMBDAS, Projection, project
from core.analyses.projection.params import GRAPH_VERSION, ProjectionParams
from core.data.datasets import TextDataset
from core.data.sampling import Sample
from core.foundation.cache import ArrayCache, atomic_write_bytes
from core.foundation.errors import BackboneLensError
from core.foundation.progress import Progress
from core.models.embeddings import EmbeddingSet, extract_embeddings
from core.models.evaluate import map_labels
from core.models.loading import LoadedModel


@dataclass(frozen=True, eq=False)
class ProjectionRun:
    """One λ of one model on one sample, with what a page or report needs to show it.

    sample: the texts and why those (:class:`~core.data.sampling.Sample`: texts (n,), text_pairs (n,) or None,
    indices (n,) in the full dataset, split, note); labels: (n,) int64 true labels as the *model's* label ids,
    matched by name (−1 = none, or a label the model does not know; ``label_note`` says why); probs: (n, C)
    float32; params: the parameters (λ included) that produced it.
    """

    projection: Projection
    sample: Sample
    labels: np.ndarray
    probs: np.ndarray
    label_names: list[str]
    model_ref: str
    params: ProjectionParams
    graph_seconds: float
    graph_cache_hit: bool
    projection_cache_hit: bool
    embed_seconds: float
    n_edges: int
    key: str = ""
    label_note: str = ""

    @property
    def lam(self) -> float:
        return self.projection.lam

    @property
    def n(self) -> int:
        return len(self.sample)

    @property
    def texts(self) -> tuple[str, ...]:
        """(n,) the projected texts (``sample`` holds their pairs, indices and where they come from)."""
        return self.sample.texts

    @property
    def dataset_name(self) -> str:
        return self.sample.dataset.name

    @property
    def fidelity(self) -> Fidelity:
        return self.projection.fidelity

    def summary(self) -> dict[str, Any]:
        f = self.fidelity
        return {"model": self.model_ref, "dataset": self.dataset_name, "n": self.n, "lam": self.lam,
                "metric": self.params.metric, "exact": self.params.exact, "n_interp": self.params.n_interp,
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
    """Fidelity for several λ on one distance graph of one sample (``runs[i]`` is ``rows[i]``'s projection)."""

    rows: tuple[SweepRow, ...]
    runs: tuple[ProjectionRun, ...]
    sample: Sample

    def to_list(self) -> list[dict]:
        return [{"lam": r.lam, "q_knn_error": round(r.q_knn_error, 6), "q_data": round(r.q_data, 6),
                 "trustworthiness": round(r.trustworthiness, 6), "continuity": round(r.continuity, 6),
                 "seconds": round(r.seconds, 3)} for r in self.rows]


def _graph_parts(model: LoadedModel, emb: EmbeddingSet, params: ProjectionParams) -> dict:
    return {"model": model.fingerprint, "embeddings": [emb.model_fingerprint, emb.dataset_fingerprint, emb.params],
            **params.graph_parts()}


def distance_graph(model: LoadedModel, emb: EmbeddingSet, params: ProjectionParams, *,
                   cache: ArrayCache | None = None, progress: Progress | None = None,
                   ) -> tuple[DistanceGraph, bool, str]:
    """The cached distance graph of ``emb`` (pooled (n, d), probs (n, C)) under ``model``'s head.

    Returns (graph, cache hit, key)."""
    model.require_head()
    head = model.head
    check_inputs(emb.pooled, emb.probs, k=params.k, head=head)
    cache = cache or ArrayCache()
    parts = _graph_parts(model, emb, params)

    def compute():
        g = compute_distance_graph(emb.pooled, head, predictions=emb.predictions, metric=params.metric,
                                   n_interp=params.n_interp, exact=params.exact, n_neighbors=params.n_neighbors,
                                   k_own=params.k_own, k_other=params.k_other, seed=params.seed, progress=progress)
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
    """(n,) int64 true labels as the model's label ids (matched by name; −1 = none), and a note when there
    are none to show ('' otherwise)."""
    if ds.labels is None:
        return np.full(len(ds), -1, np.int64), "The dataset has no labels, so true labels are not shown."
    try:
        return map_labels(model, ds).astype(np.int64), ""
    except BackboneLensError:
        return np.full(len(ds), -1, np.int64), (
            f"The dataset's labels ({', '.join(ds.label_names)}) are not the model's "
            f"({', '.join(model.label_names)}), so true labels are not shown.")


def embeddings_for(model: LoadedModel, sample: Sample, *, cache: ArrayCache | None = None,
                   progress: Progress | None = None) -> EmbeddingSet:
    """The (cached) pooled embeddings (n, d) and probabilities (n, C) of the sample; the model needs a head."""
    model.require_head()
    return extract_embeddings(model, sample.dataset, cache=cache, progress=progress)


def _check_call(sample: Any, params: Any, fn: str) -> ProjectionParams:
    """The parameters, or a TypeError that names the current signature (for callers of the old one)."""
    if not isinstance(sample, Sample):
        raise TypeError(f"{fn}(model, sample, params) takes a core.data.sampling.Sample (draw it with "
                        f"core.models.heldout.heldout_sample), got {type(sample).__name__}.")
    if params is None:
        return ProjectionParams()
    if not isinstance(params, ProjectionParams):
        raise TypeError(f"{fn}(model, sample, params) takes ProjectionParams (λ included), got "
                        f"{type(params).__name__}.")
    return params


def run_projection(model: LoadedModel, sample: Sample, params: ProjectionParams | None = None, *,
                   cache: ArrayCache | None = None, progress: Progress | None = None,
                   emb: EmbeddingSet | None = None) -> ProjectionRun:
    """Embeddings (cached) → distance graph (cached) → the projection for ``params.lam`` (cached).

    ``emb``: the sample's embeddings when the caller already has them (else extracted, from the cache when
    they were before). Progress stages: "embeddings", "distances", "projection"."""
    params = _check_call(sample, params, "run_projection")
    lam = check_lambda(params.lam)
    dataset = sample.dataset
    cache = cache or ArrayCache()
    t0 = time.perf_counter()
    emb = emb if emb is not None else embeddings_for(model, sample, cache=cache, progress=progress)
    embed_seconds = time.perf_counter() - t0
    gkey = cache.key({"kind": "distance-graph", **_graph_parts(model, emb, params)})
    parts = {"graph": gkey, "lam": round(lam, 6), **params.embed_parts()}
    # a λ already projected needs neither the graph nor UMAP: read it before touching the (large) graph
    entry = cache.load("projection", cache.key({"kind": "projection", **parts}))
    ghit = True
    if entry is None or "graph_seconds" not in entry.meta:
        graph, ghit, _ = distance_graph(model, emb, params, cache=cache, progress=progress)
        if progress is not None:
            progress("projection", 0.0, f"UMAP, background and metrics for λ = {lam:g}")

        def compute():
            p = project(graph, emb.pooled, model.head, lam, probs=emb.probs, n_neighbors=params.n_neighbors,
                        min_dist=params.min_dist, resolution=params.resolution, k=params.k, k_tc=params.k_tc,
                        seed=params.seed, n_epochs=params.n_epochs)
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
    return ProjectionRun(projection=proj, sample=sample, labels=labels, probs=emb.probs,
                         label_names=list(model.label_names), model_ref=model.ref,
                         params=dataclasses.replace(params, lam=lam),
                         graph_seconds=float(entry.meta["graph_seconds"]), graph_cache_hit=ghit,
                         projection_cache_hit=entry.hit, embed_seconds=embed_seconds,
                         n_edges=int(entry.meta["n_edges"]), key=entry.key, label_note=label_note)


def run_sweep(model: LoadedModel, sample: Sample, lams: Sequence[float] = DEFAULT_LAMBDAS,
              params: ProjectionParams | None = None, *, cache: ArrayCache | None = None,
              progress: Progress | None = None) -> Sweep:
    """Q_kNN, Q_data, T and C for each λ in ``lams`` (``params.lam`` is not used), on one cached distance
    graph. Progress stages: those of :func:`run_projection`, then "sweep" after each λ."""
    params = _check_call(sample, params, "run_sweep")
    cache = cache or ArrayCache()
    emb = embeddings_for(model, sample, cache=cache, progress=progress)
    rows, runs = [], []
    for i, lam in enumerate(lams):
        t0 = time.perf_counter()
        run = run_projection(model, sample, dataclasses.replace(params, lam=check_lambda(lam)), cache=cache,
                             emb=emb, progress=progress)
        secs = time.perf_counter() - t0 if not run.projection_cache_hit else sum(run.projection.seconds.values())
        f = run.fidelity
        rows.append(SweepRow(run.lam, f.q_knn_error, f.q_data, f.trustworthiness, f.continuity, secs))
        runs.append(run)
        if progress is not None:
            progress("sweep", (i + 1) / len(lams), f"λ = {lam:g} done")
    return Sweep(rows=tuple(rows), runs=tuple(runs), sample=sample)


# ----------------------------------------------------------------------------- projection files


def save_projection(run: ProjectionRun, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write the 2-D points, the background, predictions, labels, texts (and the second texts of a pair dataset),
    the texts' rows in the dataset and parameters to an ``.npz`` file."""
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        raise BackboneLensError(f"A projection file must end in .npz, got '{path.name}'.")
    if path.exists() and not overwrite:
        raise BackboneLensError(f"{path} exists; pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    p = run.projection
    meta = {"format": "backbone-lens-projection/1", **run.summary(), "settings": run.params.settings(),
            "params": p.params, "fidelity": p.fidelity.to_dict(), "label_names": run.label_names,
            "extent": list(p.background.extent), "resolution": p.background.resolution, "seconds": p.seconds}
    arrays = {"points": p.points, "predictions": p.predictions, "confidence": p.confidence, "probs": run.probs,
              "labels": run.labels, "texts": np.array(run.texts, dtype=str),
              "background_classes": p.background.classes, "background_confidence": p.background.confidence,
              "background_probs": p.background.probs, "meta_json": np.array(json.dumps(meta, default=str)),
              "indices": run.sample.indices}
    if run.sample.text_pairs is not None:  # a pair dataset: both texts of each pair, not only the first
        arrays["text_pairs"] = np.array(run.sample.text_pairs, dtype=str)
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


__all__ = ["GRAPH_VERSION", "ProjectionError", "ProjectionParams", "ProjectionRun", "Sweep",
           "SweepRow", "distance_graph", "embeddings_for", "load_projection_file", "model_labels", "run_projection",
           "run_sweep", "save_projection"]
