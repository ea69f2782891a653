"""DeepView discriminative projection (arXiv 1909.09154, 2403.18872): distances on a sparse candidate graph
(:mod:`.distances`), UMAP layout (:mod:`.layout`), decision background (:mod:`.background`), fidelity metrics
(:mod:`.fidelity`), the parameters (:mod:`.params`) and the cached end-to-end run on a model and a sample
(:mod:`.run`: ``run_projection(model, sample, ProjectionParams(...))``).

The names below load their module on first use, so that importing :mod:`.params` (e.g. to validate a report
spec) does not load torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "background": ("DecisionBackground", "InverseMap", "decision_background"),
    "distances": ("DistanceGraph", "ProjectionError", "candidate_pairs", "check_inputs", "check_lambda",
                  "compute_distance_graph", "discriminative_distances", "head_input_width", "knn_graph",
                  "pair_distances", "split_head"),
    "fidelity": ("Fidelity", "fidelity", "neighbour_overlap", "q_data", "q_knn_error", "trustworthiness_continuity"),
    "layout": ("DEFAULT_LAMBDAS", "Projection", "parse_lambdas", "project", "umap_embed"),
    "params": ("METRICS", "ProjectionParams"),
    "run": ("ProjectionRun", "Sweep", "run_projection", "run_sweep"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = sorted(_MODULE_OF)
