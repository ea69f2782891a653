"""Sparse vs exact discriminative projection on real data (default: demo:bbc-pretrained, BBC, n = 2,000).

Reports, side by side in one process: the time of each mode's distance graph, the share of the exact d_λ
k-nearest-neighbour lists found in the sparse candidate graph for each λ, and at λ = 0.8 both modes' Q_kNN
error and the mean share of each point's 10 nearest 2-D neighbours they have in common. For scale, it also
shows that share between two exact runs whose UMAP seeds differ (UMAP's own run-to-run variation).

    python benchmarks/projection_agreement.py [--model demo:bbc-pretrained] [--dataset bundled:bbc] [--n 2000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="demo:bbc-pretrained")
    ap.add_argument("--dataset", default="bundled:bbc")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--lam", type=float, default=0.8)
    args = ap.parse_args()

    import core.analyses.projection as P
    from core.data.refs import load_dataset
    from core.models.embeddings import extract_embeddings
    from core.models.refs import load_model

    model = load_model(args.model)
    ds = load_dataset(args.dataset, n=args.n, seed=0)
    emb = extract_embeddings(model, ds)
    X, head = emb.pooled, model.head
    gw = P.compute_distance_graph(X[:300], head)  # warm-up (numba compiles UMAP once per process)
    P.project(gw, X[:300], head, args.lam, resolution=20)

    t0 = time.perf_counter()
    sparse = P.compute_distance_graph(X, head)
    t_sparse = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = P.compute_distance_graph(X, head, exact=True)
    t_exact = time.perf_counter() - t0

    recall = {}
    for lam in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        ie, _ = P.knn_graph(exact, lam, 30)
        is_, _ = P.knn_graph(sparse, lam, 30)
        recall[lam] = float(np.mean([len(np.intersect1d(a[1:], b[1:])) / 29 for a, b in zip(ie, is_)]))
    t0 = time.perf_counter()
    ps = P.project(sparse, X, head, args.lam, probs=emb.probs)
    t_ps = time.perf_counter() - t0
    t0 = time.perf_counter()
    pe = P.project(exact, X, head, args.lam, probs=emb.probs)
    t_pe = time.perf_counter() - t0
    pe1 = P.project(exact, X, head, args.lam, probs=emb.probs, seed=1)
    out = {
        "model": args.model, "dataset": args.dataset, "n": len(X), "lam": args.lam,
        "edges": {"sparse": sparse.n_edges, "exact": exact.n_edges},
        "distance_seconds": {"sparse": round(t_sparse, 2), "exact": round(t_exact, 2),
                             "ratio_exact_over_sparse": round(t_exact / t_sparse, 1)},
        "end_to_end_seconds": {"sparse": round(t_sparse + t_ps, 2), "exact": round(t_exact + t_pe, 2)},
        "scale": {"sample_unsup": sparse.unsup_scale, "global_unsup": exact.params["global_unsup_max"],
                  "sample_disc": sparse.disc_scale, "global_disc": exact.params["global_disc_max"]},
        "knn30_recall_by_lambda": {str(k): round(v, 4) for k, v in recall.items()},
        "q_knn_error": {"sparse": ps.fidelity.q_knn_error, "exact": pe.fidelity.q_knn_error,
                        "exact_seed1": pe1.fidelity.q_knn_error},
        "q_data": {"sparse": ps.fidelity.q_data, "exact": pe.fidelity.q_data},
        "nn10_shared_2d": {"sparse_vs_exact": round(P.neighbour_overlap(ps.points, pe.points), 4),
                           "exact_seed0_vs_seed1": round(P.neighbour_overlap(pe.points, pe1.points), 4)},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
