"""End-to-end cost of the discriminative projection: distances, UMAP, 100 × 100 background, metrics.

One process per configuration (so peak memory is that configuration's own); run it through
``benchmarks/projection_scale.sh``, which wraps each call in ``/usr/bin/time -v``.

Data: pooled embeddings of real tweets (bundled:tweets, 38k) under demo:tweets-pretrained's encoder, from the
embedding cache (extraction is not part of the timing). Above the number of real tweets the set is the real
embeddings tiled with Gaussian jitter (σ = 2 % of each dimension's standard deviation) — said in the output.

    python benchmarks/projection_scale.py --n 5000 [--exact] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def embeddings(model_ref: str, dataset_ref: str, n: int) -> tuple[np.ndarray, str]:
    from core.data.refs import load_dataset
    from core.models.embeddings import extract_embeddings
    from core.models.refs import load_model

    model = load_model(model_ref)
    full = load_dataset(dataset_ref)
    take = min(n, len(full))
    ds = load_dataset(dataset_ref, n=take, seed=0) if take < len(full) else full
    emb = extract_embeddings(model, ds, batch_size=64)
    X = emb.pooled
    source = f"{take:,} real texts of {dataset_ref}"
    if n > len(X):
        rng = np.random.default_rng(0)
        reps = int(np.ceil(n / len(X)))
        sd = X.std(0, keepdims=True)
        X = np.concatenate([X if r == 0 else (X + 0.02 * sd * rng.standard_normal(X.shape)).astype(np.float32)
                            for r in range(reps)])[:n]
        source += f", tiled ×{reps} with 2 % Gaussian jitter to {n:,}"
    return X.astype(np.float32), source, model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--lam", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--model", default="demo:tweets-pretrained")
    ap.add_argument("--dataset", default="bundled:tweets")
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    import core.analyses.projection as P

    X, source, model = embeddings(args.model, args.dataset, args.n)
    head = model.head
    if args.device:
        head = head.to(args.device)
    # warm-up: numba compiles UMAP's kernels once per process (cached on disk afterwards); not part of the timing
    t0 = time.perf_counter()
    Xw = X[:300]
    gw = P.compute_distance_graph(Xw, head, device=args.device)
    P.project(gw, Xw, head, args.lam, resolution=20)
    warmup = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        g = P.compute_distance_graph(X, head, exact=args.exact, device=args.device)
        t1 = time.perf_counter()
        p = P.project(g, X, head, args.lam)
        t2 = time.perf_counter()
        runs.append({"total": t2 - t0, "distances": t1 - t0, **p.seconds})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out = {"n": args.n, "mode": "exact" if args.exact else "sparse", "lam": args.lam, "repeats": args.repeats,
           "device": str(next(head.parameters()).device), "threads": torch.get_num_threads(),
           "data": source, "model": args.model, "edges": g.n_edges, "median_seconds": {k: round(v, 2) for k, v in med.items()},
           "all_totals": [round(r["total"], 2) for r in runs], "warmup_seconds": round(warmup, 1),
           "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "rss_mb_after_setup": round(rss_before),
           "q_knn_error": p.fidelity.q_knn_error, "q_data": p.fidelity.q_data,
           "trustworthiness": round(p.fidelity.trustworthiness, 4), "continuity": round(p.fidelity.continuity, 4)}
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
