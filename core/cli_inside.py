"""CLI verbs inside the transformer: ``layers`` (where in depth the classes separate) and ``heads`` (attention-head
importance with the pruning check). Imported by :mod:`core.cli`."""
from __future__ import annotations

import argparse
from typing import Any

from core.cli import add_dataset, add_model, add_output, open_dataset, stage_printer, verb
from core.errors import BackboneLensError


@verb("layers", "per-layer separability of the true labels: k-NN accuracy and silhouette at every layer")
def _layers_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--k", type=int, default=10, help="neighbours of the k-NN vote (default 10)")
    add_output(p)


@_layers_cfg.handler
def _layers(args: argparse.Namespace) -> Any:
    from core.data import sample
    from core.evaluate import heldout_pool
    from core.layers import layer_sweep
    from core.models import load_model

    refs = [r.strip() for r in args.model.split(",") if r.strip()]
    if not refs:
        raise BackboneLensError("--model is empty.")
    if args.k < 1:
        raise BackboneLensError(f"--k must be at least 1, got {args.k}.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code) for r in refs]
    full = open_dataset(args, sample=False)
    pool, split, by = heldout_pool(models, full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    where = (f"held-out test split ({by.ref} was trained on {full.name})" if by is not None
             else f"all of {full.name}")
    results = [layer_sweep(m, ds, k=args.k, seed=args.seed, progress=stage_printer(args))[0] for m in models]
    out = {"dataset": ds.name, "n": len(ds), "texts_from": where, "models": [r.to_json() for r in results]}
    if len(results) == 1:
        out.update(results[0].to_json())
    if args.json:
        return out
    lines = [f"{len(ds)} texts ({where}); k = {args.k}; chance {results[0].chance:.3f}"]
    for r in results:
        lines.append(f"{r.model_ref}: classes separate by layer {r.separation_layer()}")
        lines += [f"  layer {int(l):2d}  k-NN accuracy {a:.3f}  silhouette {s:+.3f}"
                  for l, a, s in zip(r.layers, r.knn_accuracy, r.silhouette)]
    return "\n".join(lines)


@verb("heads", "attention-head importance (attention attribution or head-mask gradient) with the pruning check")
def _heads_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", choices=("attribution", "mask"), default="attribution",
                   help="attribution: Hao et al. (integrated gradients of the logit w.r.t. each head's attention); "
                        "mask: Michel et al. (|gradient of the loss w.r.t. a head mask|)")
    p.add_argument("--steps", type=int, default=10, help="integration nodes of the attribution (default 10)")
    p.add_argument("--no-compare", action="store_true", help="skip the other method and the rank correlation")
    p.add_argument("--no-pruning", action="store_true", help="skip the pruning check")
    p.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    add_output(p)


@_heads_cfg.handler
def _heads(args: argparse.Namespace) -> Any:
    from core.attention_heads import head_importance
    from core.cli import open_model
    from core.data import sample
    from core.deepview import model_labels
    from core.evaluate import heldout_pool

    if args.steps < 1:
        raise BackboneLensError(f"--steps must be at least 1, got {args.steps}.")
    if args.max_length is not None and args.max_length < 4:
        raise BackboneLensError("--max-length must be at least 4.")
    model = open_model(args)
    model.require_head()
    full = open_dataset(args, sample=False)
    pool, _, by = heldout_pool([model], full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    labels = model_labels(model, ds)[0]
    res = head_importance(model, list(ds.texts), None if ds.text_pairs is None else list(ds.text_pairs),
                          labels=labels, method=args.method, compare=not args.no_compare,
                          prune=not args.no_pruning, steps=args.steps, seed=args.seed, max_length=args.max_length,
                          progress=stage_printer(args))
    out = {**res.to_json(), "dataset": ds.name,
           "texts_from": "held-out test split" if by is not None else f"all of {full.name}"}
    if model.notes:
        out["model_notes"] = list(model.notes)
    if args.json:
        return out
    lines = [f"{res.method} importance of {model.ref}'s heads on {res.n} texts; top heads: "
             + ", ".join(f"L{l}H{h}" for l, h in res.ranking()[:5])]
    if res.spearman is not None:
        lines.append(f"Spearman rank correlation with the other method: {res.spearman:.3f}")
    if res.pruning is not None:
        p = res.pruning
        lines.append(f"pruning check (accuracy against {p.reference}):")
        lines += [f"  k={k:3d}  least important first {a:.3f}  most important first {b:.3f}  random {c:.3f}"
                  for k, a, b, c in zip(p.ks, p.least_first, p.most_first, p.random)]
    return "\n".join(lines)
