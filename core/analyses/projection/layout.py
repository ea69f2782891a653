"""From distances to a map: UMAP on the d_λ k-nearest-neighbour graph (``precomputed_knn``), then the
decision background and the fidelity metrics, for one λ.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence
import numpy as np
import torch
from torch import nn
from core.analyses.projection.background import DecisionBackground, decision_background
from core.analyses.projection.distances import DistanceGraph, ProjectionError, check_inputs, check_lambda, knn_graph
from core.analyses.projection.fidelity import Fidelity, fidelity


DEFAULT_LAMBDAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True, eq=False)
class Projection:
    """One λ: points (n, 2) float32, predictions (n,), the background and the fidelity metrics."""

    lam: float
    points: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    background: DecisionBackground
    fidelity: Fidelity
    params: dict
    seconds: dict


def umap_embed(X: np.ndarray, knn_idx: np.ndarray, knn_dist: np.ndarray, *, metric: str = "cosine",
               min_dist: float = 0.1, seed: int = 0, n_epochs: int | None = None) -> np.ndarray:
    """UMAP on a precomputed kNN graph → (n, 2) float32. X is only used to lay out disconnected components."""
    import warnings

    import umap

    k = knn_idx.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, metric=metric, random_state=seed,
                            precomputed_knn=(knn_idx, knn_dist, None), force_approximation_algorithm=True,
                            n_epochs=n_epochs)
        Y = reducer.fit_transform(np.asarray(X, dtype=np.float32))
    return np.asarray(Y, dtype=np.float32)


def project(graph: DistanceGraph, X: np.ndarray, head: nn.Module, lam: float, *, probs: np.ndarray | None = None,
            n_neighbors: int = 30, min_dist: float = 0.1, resolution: int = 100, k: int = 5, k_tc: int = 10,
            seed: int = 0, n_epochs: int | None = 200) -> Projection:
    """Mix, embed, map the background and measure, for one λ. X: (n, d) the graph's embeddings."""
    lam = check_lambda(lam)
    X = np.asarray(X, dtype=np.float32)
    if X.shape[0] != graph.n:
        raise ProjectionError(f"The distance graph holds {graph.n} points but {X.shape[0]} embeddings were given.")
    if probs is None:
        dev = next(head.parameters()).device
        with torch.inference_mode():
            probs = torch.softmax(head.eval()(torch.from_numpy(X).to(dev)).float(), -1).cpu().numpy()
    check_inputs(X, probs, k=k, head=head)
    predictions = probs.argmax(1)
    sec: dict[str, float] = {}
    t0 = time.perf_counter()
    idx, dist = knn_graph(graph, lam, n_neighbors)
    sec["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    points = umap_embed(X, idx, dist, metric=graph.metric, min_dist=min_dist, seed=seed, n_epochs=n_epochs)
    sec["umap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg = decision_background(points, X, head, resolution=resolution)
    sec["background"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fid = fidelity(points, X, predictions, bg, k=k, k_tc=k_tc, metric=graph.metric, seed=seed)
    sec["metrics"] = time.perf_counter() - t0
    params = {"lam": lam, "metric": graph.metric, "n_interp": graph.n_interp, "exact": graph.exact,
              "n_neighbors": n_neighbors, "min_dist": min_dist, "resolution": resolution, "seed": seed,
              "n_epochs": n_epochs, "graph": graph.params, "n_edges": graph.n_edges}
    return Projection(lam=lam, points=points, predictions=predictions, confidence=probs.max(1).astype(np.float32),
                      background=bg, fidelity=fid, params=params, seconds=sec)


def parse_lambdas(text: str | Sequence[float]) -> tuple[float, ...]:
    """'0,0.2,0.4' → (0.0, 0.2, 0.4), each checked to lie in [0, 1]."""
    if isinstance(text, str):
        try:
            vals = [float(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise ProjectionError(f"Cannot read the λ list '{text}'; write numbers separated by commas, "
                                  f"e.g. 0,0.2,0.4.") from None
    else:
        vals = [float(v) for v in text]
    if not vals:
        raise ProjectionError("The λ list is empty.")
    return tuple(check_lambda(v) for v in vals)
