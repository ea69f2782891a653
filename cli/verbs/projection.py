"""The DeepView projection verb: ``project`` (one λ, or a sweep with ``--sweep``), defaults from
:class:`core.analyses.projection.params.ProjectionParams`.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import time
from pathlib import Path
from typing import Any

from cli.common import add_dataset, add_model, add_output, open_dataset, open_model, progress_bar, verb
from core.analyses.projection.params import METRICS, ProjectionParams
from core.foundation.errors import BackboneLensError

_D = ProjectionParams.defaults()
_LOW = {p.name: p.minimum for p in ProjectionParams.declared()}


@verb("project", "DeepView discriminative projection: 2-D map, decision background, Q_kNN / Q_data")
def _project_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--lam", type=float, default=_D["lam"], help="λ in [0, 1]: weight of the discriminative "
                   f"distance (default {_D['lam']:g}, the paper's best for pre-trained models)")
    p.add_argument("--sweep", default=None, help="comma-separated λ values, e.g. 0,0.2,0.4,0.6,0.8,1: one row each")
    p.add_argument("--metric", choices=METRICS, default=_D["metric"], help="unsupervised distance")
    p.add_argument("--exact", action="store_true", help="evaluate all n² pairs (reference mode, n ≤ 6000)")
    p.add_argument("--n-interp", type=int, default=_D["n_interp"],
                   help=f"interior points on each path (default {_D['n_interp']})")
    p.add_argument("--neighbors", type=int, default=_D["neighbors"],
                   help=f"UMAP neighbours (default {_D['neighbors']})")
    p.add_argument("--resolution", type=int, default=_D["resolution"],
                   help=f"background grid size (default {_D['resolution']})")
    p.add_argument("--out", default=None, help="projection .npz file (default: under the cache folder); with "
                   "--sweep, λ is appended to the name")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_output(p)


@_project_cfg.handler
def _project(args: argparse.Namespace) -> Any:
    from core.analyses.projection.distances import check_lambda
    from core.analyses.projection.layout import parse_lambdas
    from core.analyses.projection.run import embeddings_for, run_projection, save_projection
    from core.foundation.cache import fingerprint
    from core.foundation.settings import cache_root
    from core.models.heldout import heldout_sample

    lams = parse_lambdas(args.sweep) if args.sweep else (check_lambda(args.lam),)
    if args.n_interp < _LOW["n_interp"] or args.neighbors < _LOW["neighbors"] or args.resolution < _LOW["resolution"]:
        raise BackboneLensError(f"--n-interp must be ≥ {_LOW['n_interp']:g}, --neighbors ≥ {_LOW['neighbors']:g} "
                                f"and --resolution ≥ {_LOW['resolution']:g}.")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        if out.suffix != ".npz":
            raise BackboneLensError(f"--out must end in .npz, got '{out.name}'.")
        if not out.parent.exists():
            raise BackboneLensError(f"Output folder {out.parent} does not exist.")
    params = ProjectionParams(lam=lams[0], metric=args.metric, n_interp=args.n_interp, exact=args.exact,
                              neighbors=args.neighbors, resolution=args.resolution)
    model = open_model(args)
    # all of the dataset (training texts included), as this verb always did: --n texts drawn with --seed
    sample = heldout_sample(model, open_dataset(args, sample=False), args.n, seed=args.seed, heldout=False)
    ds = sample.dataset
    bar = None if args.quiet else progress_bar(args, "project")
    emb = embeddings_for(model, sample, progress=bar)  # once, for every λ
    rows = []
    for lam in lams:
        t0 = time.perf_counter()
        run = run_projection(model, sample, dataclasses.replace(params, lam=lam), progress=bar, emb=emb)
        if out is None:
            # every parameter is in the name (the readable ones in words, all of them in the key), so runs that
            # differ in anything never share a file; the same name means the same content
            slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model.ref}_{ds.name}_n{len(ds)}")
            mode = "exact" if args.exact else args.metric
            key = fingerprint({"params": run.params.to_dict(), "model": model.fingerprint,
                               "texts": sample.fingerprint, "indices": sample.indices.tolist()}, length=10)
            path = cache_root() / "projections" / f"{slug}_{mode}_lam{lam:g}_seed{args.seed}_{key}.npz"
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
