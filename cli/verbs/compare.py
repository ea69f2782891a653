"""The model-comparison verb.
"""
from __future__ import annotations

import argparse
from typing import Any

from cli.common import add_dataset, add_output, open_dataset, progress_bar, verb
from core.analyses.compare import CompareParams
from core.foundation.errors import BackboneLensError

DEFAULTS = CompareParams()


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BackboneLensError(f"--k takes comma-separated whole numbers, e.g. 5,10,20; got '{text}'.") from None
    if not ks:
        raise BackboneLensError("--k is empty; give e.g. 5,10,20.")
    return ks


@verb("compare", "compare models on the same texts: Q_NN and LCMC (embeddings and projections), CKA, agreement")
def _compare_cfg(p: argparse.ArgumentParser) -> None:
    ks = ",".join(map(str, DEFAULTS.k))
    p.add_argument("--models", required=True, help="two or more model references separated by commas, "
                   "e.g. demo:bbc-pretrained,demo:bbc-finetuned")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.add_argument("--device", default=None)
    add_dataset(p)
    p.add_argument("--k", default=ks, help=f"neighbourhood sizes (default {ks})")
    p.add_argument("--lam", type=float, default=DEFAULTS.lam,
                   help=f"DeepView λ of both projections (default {DEFAULTS.lam:g})")
    p.add_argument("--no-projections", action="store_true", help="compare embeddings only (no DeepView)")
    p.add_argument("--top", type=int, default=20, help="texts listed in the disagreement table (default 20)")
    add_output(p)


@_compare_cfg.handler
def _compare(args: argparse.Namespace) -> Any:
    from core.analyses.compare import run_comparison
    from core.analyses.projection.distances import check_lambda
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    refs = [r.strip() for r in args.models.split(",") if r.strip()]
    if len(refs) < 2:
        raise BackboneLensError("--models needs at least two references separated by commas.")
    params = CompareParams(k=_parse_ks(args.k), lam=check_lambda(args.lam), projections=not args.no_projections)
    if args.top < 0:
        raise BackboneLensError("--top must be 0 or more.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code,
                         dtype=getattr(args, "dtype", None)) for r in refs]
    sample = heldout_sample(models, open_dataset(args, sample=False), args.n, seed=args.seed, classifiers_only=True)
    res = run_comparison(models, sample, params, progress=progress_bar(args, "compare"))
    out = {**res.to_json(top=args.top), "split": sample.reason}
    if args.json:
        return out
    lines = [f"{res.n} texts of {res.dataset_name}"]
    for pr in out["pairs"]:
        lines.append(f"{pr['a']} vs {pr['b']}: CKA {pr['cka']:.3f}, prediction agreement "
                     + ("n/a" if pr["prediction_agreement"] is None else f"{pr['prediction_agreement']:.1%}"))
        for row in pr["per_k"]:
            proj = (f"   projection Q_NN {row['q_nn']['projection']:.3f} LCMC {row['lcmc']['projection']:.3f}"
                    if "projection" in row["q_nn"] else "")
            lines.append(f"  k={row['k']:<3d} embeddings Q_NN {row['q_nn']['embeddings']:.3f} "
                         f"LCMC {row['lcmc']['embeddings']:.3f}{proj}")
        if pr["note"]:
            lines.append("  " + pr["note"])
    return "\n".join([*lines, *res.notes, sample.reason])
