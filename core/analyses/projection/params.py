"""The parameters of a DeepView projection: the one place for their defaults, ranges and help.

:class:`ProjectionParams` is read by :func:`core.analyses.projection.run.run_projection`, the ``project`` verb
(its defaults and bounds), the ``projection`` report section (the same declarations for its spec keys) and the
dashboard. This module imports no torch, so a report spec can be validated without loading it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.foundation.params import Params, param

METRICS = ("cosine", "euclidean")  # the unsupervised (embedding) distances
GRAPH_VERSION = 2  # bump when the candidate graph or the distances change


@dataclass(frozen=True)
class ProjectionParams(Params):
    """Everything that decides a projection apart from the model and the sample.

    ``lam`` weighs the discriminative distance against the embedding distance; ``neighbors`` is UMAP's
    neighbourhood size, and the candidate graph keeps twice as many own-class candidates (:attr:`k_own`).
    """

    lam: float = param(0.8, "λ, the weight of the discriminative distance against the embedding distance "
                       "(0 = embeddings only, 1 = classifier only)", minimum=0, maximum=1)
    metric: str = param("cosine", "the embedding distance: cosine or euclidean", type="choice", choices=METRICS)
    exact: bool = param(False, "evaluate all n² pairs instead of the sparse candidate graph (n ≤ 6000)")
    n_interp: int = param(10, "interior points on each straight path between two embeddings", minimum=0)
    neighbors: int = param(30, "UMAP neighbours (own-class candidates: twice as many)", minimum=2)
    resolution: int = param(100, "background grid size (resolution × resolution cells)", minimum=2, maximum=400)
    seed: int = param(0, "seed of the pairs that scale the distances and of UMAP")
    k_other: int = param(3, "candidates of every other predicted class, per text", minimum=0)
    min_dist: float = param(0.1, "UMAP's min_dist: how tightly points may pack on the map", minimum=0)
    n_epochs: int = param(200, "UMAP epochs", minimum=1)
    k: int = param(5, "neighbours that vote in the Q_kNN error", minimum=1)
    k_tc: int = param(10, "neighbours compared by trustworthiness and continuity", minimum=1)

    @property
    def n_neighbors(self) -> int:
        """UMAP's (and the candidate graph's) nearest neighbours per text (= ``neighbors``)."""
        return self.neighbors

    @property
    def k_own(self) -> int:
        """Own-class candidates per text: twice ``neighbors``."""
        return 2 * self.neighbors

    def settings(self) -> dict[str, Any]:
        """The settings as reports and projection files show them (without λ)."""
        return {"metric": self.metric, "n_interp": self.n_interp, "exact": self.exact,
                "n_neighbors": self.n_neighbors, "k_own": self.k_own, "k_other": self.k_other,
                "min_dist": self.min_dist, "n_epochs": self.n_epochs, "resolution": self.resolution, "k": self.k,
                "k_tc": self.k_tc, "seed": self.seed}

    def graph_parts(self) -> dict[str, Any]:
        """What decides the distance graph (part of its cache key)."""
        return {"metric": self.metric, "n_interp": self.n_interp, "exact": self.exact,
                "n_neighbors": self.n_neighbors, "k_own": self.k_own, "k_other": self.k_other, "seed": self.seed,
                "graph_version": GRAPH_VERSION}

    def embed_parts(self) -> dict[str, Any]:
        """What decides the layout, background and metrics of one λ on a graph (part of their cache key)."""
        return {"min_dist": self.min_dist, "n_epochs": self.n_epochs, "resolution": self.resolution, "k": self.k,
                "k_tc": self.k_tc}


__all__ = ["GRAPH_VERSION", "METRICS", "ProjectionParams"]
