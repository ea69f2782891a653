"""The model-comparison verb.
"""
from __future__ import annotations

import argparse
from typing import Any
from cli.common import add_dataset, add_output, open_dataset, verb
from core.foundation.errors import BackboneLensError
from cli.common import progress_bar



def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BackboneLensError(f"--k takes comma-separated whole numbers, e.g. 5,10,20; got '{text}'.") from None
    if not ks:
        raise BackboneLensError("--k is empty; give e.g. 5,10,20.")
    return ks


def _heldout_pool(models: list, full: Any) -> tuple[Any, str]:
    """The held-out test split when any of the models was trained on ``full``, else all of it, and a note."""
    from core.models.heldout import heldout_pool

    pool, _, by = heldout_pool(models, full)
    if by is not None:
        return pool, f"{by.ref} was trained on {full.name}; the texts come from its held-out test split."
    return pool, f"No model was trained on {full.name}; texts are sampled from all of it."


@verb("compare", "compare models on the same texts: Q_NN and LCMC (embeddings and projections), CKA, agreement")
def _compare_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", required=True, help="two or more model references separated by commas, "
                   "e.g. demo:bbc-pretrained,demo:bbc-finetuned")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.add_argument("--device", default=None)
    add_dataset(p)
    p.add_argument("--k", default="5,10,20", help="neighbourhood sizes (default 5,10,20)")
    p.add_argument("--lam", type=float, default=0.8, help="DeepView λ of both projections (default 0.8)")
    p.add_argument("--no-projections", action="store_true", help="compare embeddings only (no DeepView)")
    p.add_argument("--top", type=int, default=20, help="texts listed in the disagreement table (default 20)")
    add_output(p)


@_compare_cfg.handler
def _compare(args: argparse.Namespace) -> Any:
    from core.analyses.compare import compare_models
    from core.models.refs import load_model
    from core.analyses.projection.distances import check_lambda

    refs = [r.strip() for r in args.models.split(",") if r.strip()]
    if len(refs) < 2:
        raise BackboneLensError("--models needs at least two references separated by commas.")
    ks = _parse_ks(args.k)
    lam = check_lambda(args.lam)
    if args.top < 0:
        raise BackboneLensError("--top must be 0 or more.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code) for r in refs]
    full = open_dataset(args, sample=False)
    ds, note = _heldout_pool(models, full)
    if args.n:
        from core.data.sampling import sample

        ds = sample(ds, args.n, seed=args.seed)
    res = compare_models(models, ds, ks=ks, lam=lam, projections=not args.no_projections,
                         progress=progress_bar(args, "compare"))
    out = {**res.to_json(top=args.top), "split": note}
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
    lines += [*res.notes, note]
    out["split"] = note
    return "\n".join(lines)
