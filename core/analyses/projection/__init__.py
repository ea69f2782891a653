"""DeepView discriminative projection (arXiv 1909.09154, 2403.18872): distances on a sparse candidate graph
(:mod:`.distances`), UMAP layout (:mod:`.layout`), decision background (:mod:`.background`), fidelity metrics
(:mod:`.fidelity`), and the cached end-to-end run on a model and a sample (:mod:`.run`)."""
from core.analyses.projection.background import DecisionBackground, InverseMap, decision_background
from core.analyses.projection.distances import (METRICS, DistanceGraph, ProjectionError, candidate_pairs,
                                                check_inputs, check_lambda, compute_distance_graph,
                                                discriminative_distances, head_input_width, knn_graph,
                                                pair_distances, split_head)
from core.analyses.projection.fidelity import (Fidelity, fidelity, neighbour_overlap, q_data, q_knn_error,
                                               trustworthiness_continuity)
from core.analyses.projection.layout import DEFAULT_LAMBDAS, Projection, parse_lambdas, project, umap_embed

__all__ = ["DEFAULT_LAMBDAS", "METRICS", "DecisionBackground", "DistanceGraph", "Fidelity", "InverseMap", "Projection",
           "ProjectionError", "candidate_pairs", "check_inputs", "check_lambda", "compute_distance_graph",
           "decision_background", "discriminative_distances", "fidelity", "head_input_width", "knn_graph",
           "neighbour_overlap", "pair_distances", "parse_lambdas", "project", "q_data", "q_knn_error", "split_head",
           "trustworthiness_continuity", "umap_embed"]
