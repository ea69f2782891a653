"""The DeepView projection verb.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any
from core.foundation.errors import BackboneLensError
from cli.common import add_dataset, add_model, add_output, open_dataset, open_model, progress_bar, verb


@verb("project", "DeepView discriminative projection: 2-D map, decision background, Q_kNN / Q_data")
def _project_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--lam", type=float, default=0.8, help="λ in [0, 1]: weight of the discriminative distance "
                   "(default 0.8, the paper's best for pre-trained models)")
    p.add_argument("--sweep", default=None, help="comma-separated λ values, e.g. 0,0.2,0.4,0.6,0.8,1: one row each")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine", help="unsupervised distance")
    p.add_argument("--exact", action="store_true", help="evaluate all n² pairs (reference mode, n ≤ 6000)")
    p.add_argument("--n-interp", type=int, default=10, help="interior points on each path (default 10)")
    p.add_argument("--neighbors", type=int, default=30, help="UMAP neighbours (default 30)")
    p.add_argument("--resolution", type=int, default=100, help="background grid size (default 100)")
    p.add_argument("--out", default=None, help="projection .npz file (default: under the cache folder); with "
                   "--sweep, λ is appended to the name")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_output(p)


@_project_cfg.handler
def _project(args: argparse.Namespace) -> Any:
    import re

    from core.analyses.projection.run import ProjectionSettings, embeddings_for, run_projection, save_projection
    from core.analyses.projection.distances import check_lambda
    from core.analyses.projection.layout import parse_lambdas
    from core.foundation.settings import cache_root

    lams = parse_lambdas(args.sweep) if args.sweep else (check_lambda(args.lam),)
    if args.n_interp < 0 or args.neighbors < 2 or args.resolution < 2:
        raise BackboneLensError("--n-interp must be ≥ 0, --neighbors ≥ 2 and --resolution ≥ 2.")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        if out.suffix != ".npz":
            raise BackboneLensError(f"--out must end in .npz, got '{out.name}'.")
        if not out.parent.exists():
            raise BackboneLensError(f"Output folder {out.parent} does not exist.")
    settings = ProjectionSettings(metric=args.metric, n_interp=args.n_interp, exact=args.exact,
                                  n_neighbors=args.neighbors, k_own=2 * args.neighbors,
                                  resolution=args.resolution)
    model = open_model(args)
    ds = open_dataset(args)
    bar = None if args.quiet else progress_bar(args, "project")

    def prog(stage: str, frac: float, msg: str) -> None:
        if bar is not None:
            bar(int(frac * 1000), 1000)

    emb = embeddings_for(model, ds, progress=prog)  # once, for every λ
    rows = []
    for lam in lams:
        t0 = time.perf_counter()
        run = run_projection(model, ds, lam, settings, progress=prog, emb=emb)
        if out is None:
            slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model.ref}_{ds.name}_n{len(ds)}")
            mode = "exact" if args.exact else args.metric
            path = cache_root() / "projections" / f"{slug}_{mode}_lam{lam:g}.npz"
            overwrite = True
        else:
            path = out if len(lams) == 1 else out.with_name(f"{out.stem}_lam{lam:g}{out.suffix}")
            overwrite = args.overwrite
        saved = save_projection(run, path, overwrite=overwrite)
        rows.append({**run.summary(), "seconds": round(time.perf_counter() - t0, 3),
                     "seconds_by_step": {"embeddings": round(run.embed_seconds, 3),
                                         "distances": round(run.graph_seconds, 3),
                                         **{k: round(v, 3) for k, v in run.projection.seconds.items()}},
                     "projection_file": str(saved)})
    if args.sweep:
        return {"model": model.ref, "dataset": ds.name, "n": len(ds), "rows": rows}
    return rows[0]
