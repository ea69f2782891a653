"""``python -m core VERB ...``: every analysis from the command line.

Each verb registers itself with :func:`verb`; shared options come from :func:`common`.
``--json`` prints one JSON document to stdout (progress goes to stderr). Input errors
print one sentence to stderr and exit 2; nothing already cached or written is touched.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.errors import BackboneLensError

Handler = Callable[[argparse.Namespace], Any]
_VERBS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def verb(name: str, help: str):
    """Register ``fn(args) -> result`` under ``name``; the decorated object takes a ``configure`` attribute."""
    def deco(configure: Callable[[argparse.ArgumentParser], None]):
        def register(handler: Handler) -> Handler:
            _VERBS[name] = (configure, handler, help)
            return handler
        configure.handler = register  # type: ignore[attr-defined]
        return configure
    return deco


# ----------------------------------------------------------------------------- options


def add_model(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="demo:NAME, bundled:minilm, a hub id or a local folder")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if available)")


def add_dataset(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--dataset", required=required, help="bundled:bbc | bundled:tweets | bundled:snli | a file path")
    p.add_argument("--text-column")
    p.add_argument("--text-pair-column")
    p.add_argument("--label-column")
    p.add_argument("--label-names", help="comma-separated names for integer labels")
    p.add_argument("--encoding", default="utf-8", help="text encoding of CSV/TSV/JSON files (default utf-8)")
    p.add_argument("--n", type=int, default=None, help="sample size (deterministic, see --seed)")
    p.add_argument("--seed", type=int, default=0)


def add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def open_model(args: argparse.Namespace):
    from core.models import load_model

    return load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)


def open_dataset(args: argparse.Namespace, *, sample: bool = True):
    from core.data import load_dataset

    if args.n is not None and args.n <= 0:
        raise BackboneLensError(f"--n must be a positive number, got {args.n}.")
    return load_dataset(
        args.dataset, text_column=args.text_column, text_pair_column=args.text_pair_column,
        label_column=args.label_column,
        label_names=[s.strip() for s in args.label_names.split(",")] if args.label_names else None,
        encoding=args.encoding, n=args.n if sample else None, seed=args.seed,
    )


def progress_bar(args: argparse.Namespace, desc: str):
    """A ``(done, total)`` callback drawing a tqdm bar on stderr (or nothing with --quiet)."""
    if getattr(args, "quiet", False):
        return None
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def cb(done: int, total: int, *_: Any) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)
        bar = state["bar"]
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return cb


def stage_printer(args: argparse.Namespace) -> Callable[[str, float, str], None]:
    """A ``(stage, fraction, message)`` callback printing one line per stage at most every 5 s (stderr)."""
    last: dict[str, Any] = {"stage": None, "t": 0.0}

    def prog(stage: str, frac: float, msg: str) -> None:
        now = time.time()
        if getattr(args, "quiet", False) or (stage == last["stage"] and now - last["t"] < 5 and frac < 1):
            return
        last.update(stage=stage, t=now)
        print(f"[{stage}] {frac:5.0%} {msg}", file=sys.stderr, flush=True)
    return prog


# ----------------------------------------------------------------------------- verbs


@verb("demo", "build or inspect the demo workspace")
def _demo_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["build", "status"])
    p.add_argument("--force", action="store_true", help="rebuild every step")
    p.add_argument("--profile", default="full", choices=["full", "small"],
                   help="full: the documented demo; small: a quick build for tests")
    add_output(p)


@_demo_cfg.handler
def _demo(args: argparse.Namespace) -> Any:
    from core import demo

    if args.action == "status":
        return {"ready": demo.demo_ready(), "models": demo.demo_status(), "manifest": demo.read_manifest(),
                "folder": str(demo.demo_root())}
    return demo.build_demo(force=args.force, profile=args.profile, progress=stage_printer(args))


@verb("evaluate", "accuracy and confusion matrix (held-out split when the model was trained on the dataset)")
def _eval_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    add_output(p)


@_eval_cfg.handler
def _evaluate(args: argparse.Namespace) -> Any:
    from core.evaluate import evaluate_model

    model = open_model(args)
    ds = open_dataset(args, sample=False)
    ev = evaluate_model(model, ds, n=args.n, seed=args.seed, progress=progress_bar(args, "evaluate"))
    return ev.to_json()


@verb("embed", "pooled embeddings (and probabilities) to an .npz file")
def _embed_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--out", required=True, help="output .npz file (not overwritten unless --overwrite)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--all-layers", action="store_true", help="also store every layer's pooled states")
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    add_output(p)


@_embed_cfg.handler
def _embed(args: argparse.Namespace) -> Any:
    import io

    from core.cache import atomic_write_bytes
    from core.embeddings import extract_embeddings

    out = Path(args.out).expanduser()
    if out.suffix != ".npz":
        raise BackboneLensError(f"--out must end in .npz, got '{out.name}'.")
    if out.exists() and not args.overwrite:
        raise BackboneLensError(f"{out} exists; pass --overwrite to replace it.")
    if not out.parent.exists():
        raise BackboneLensError(f"Output folder {out.parent} does not exist.")
    model = open_model(args)
    ds = open_dataset(args)
    emb = extract_embeddings(model, ds, all_layers=args.all_layers, max_length=args.max_length,
                             batch_size=args.batch_size, progress=progress_bar(args, "embed"))
    arrays: dict[str, np.ndarray] = {"pooled": emb.pooled, "n_tokens": emb.n_tokens, "truncated": emb.truncated,
                                     "texts": np.array(ds.texts, dtype=object).astype(str)}
    if emb.probs is not None:
        arrays["probs"] = emb.probs
    if emb.layer_pooled is not None:
        arrays["layer_pooled"] = emb.layer_pooled
    if ds.labels is not None:
        arrays["labels"] = ds.labels
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(out, buf.getvalue())
    return {"out": str(out), "n": len(ds), "dim": int(emb.pooled.shape[1]), "pooling": model.pooling,
            "max_length": emb.params["max_length"], "truncated": int(emb.truncated.sum()),
            "cache_hit": emb.cache_hit, "seconds": round(emb.seconds, 3), "arrays": sorted(arrays)}


@verb("train", "train a classifier (pre-trained: frozen encoder + head; fine-tuned: everything)")
def _train_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--setting", choices=["pretrained", "finetuned"], default="pretrained")
    p.add_argument("--out", required=True, help="folder to write the model into (must not exist)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=None, help="time budget for training")
    add_output(p)


@_train_cfg.handler
def _train(args: argparse.Namespace) -> Any:
    from core.data import take_split
    from core.evaluate import evaluate_model
    from core.models import save_model
    from core.training import TrainConfig, attach_head, finetune, train_pretrained_head, training_metadata

    out = Path(args.out).expanduser()
    if out.exists():
        raise BackboneLensError(f"{out} exists; choose a new folder so no model is overwritten.")
    model = open_model(args)
    full = open_dataset(args, sample=False)
    if not full.has_labels:
        raise BackboneLensError("Training needs a labelled dataset (give --label-column).")
    from core.data import sample

    train = take_split(full, "train", seed=args.seed)
    if args.n:
        train = sample(train, args.n, seed=args.seed)
    val = take_split(full, "validation", seed=args.seed)
    kw = {"setting": args.setting, "seed": args.seed, "max_length": args.max_length, "max_seconds": args.max_seconds}
    if args.setting == "pretrained":
        cfg = TrainConfig(**kw, epochs=args.epochs or 200)
        head, res = train_pretrained_head(model, train, val, cfg, progress=progress_bar(args, "train head"))
    else:
        cfg = TrainConfig(**kw, epochs=args.epochs or 2, batch_size=16, lr=5e-4, encoder_lr=5e-5, patience=3)
        head, res = finetune(model, train, val, cfg, progress=progress_bar(args, "fine-tune"))
    clf = attach_head(model, head, full.label_names)
    if args.max_length:
        clf.max_length = args.max_length
    meta = training_metadata(res, cfg, base_ref=args.model, dataset=full, split_seed=args.seed, n_train=len(train),
                             n_val=len(val))
    clf.metadata = meta
    ev = evaluate_model(clf, full, seed=args.seed)  # the metadata marks `full` as training data: test split only
    meta["heldout"] = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split}
    save_model(clf, out, meta)
    return {"out": str(out), "setting": args.setting, "heldout_accuracy": ev.accuracy, "heldout_n": ev.n,
            "val_accuracy": res.val_accuracy, "epochs_run": res.epochs_run, "stopped_by": res.stopped_by,
            "seconds": round(res.seconds, 1)}


@verb("cache", "list or clear the on-disk cache")
def _cache_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "clear"])
    p.add_argument("--kind", help="with clear: only entries of this kind")
    p.add_argument("--yes", action="store_true", help="with clear: really delete")
    add_output(p)


@_cache_cfg.handler
def _cache(args: argparse.Namespace) -> Any:
    from core.cache import ArrayCache
    from core.settings import cache_root

    cache = ArrayCache()
    entries = cache.entries()
    if args.action == "clear":
        if not args.yes:
            raise BackboneLensError("cache clear deletes computed results; pass --yes to confirm.")
        n = 0
        for e in entries:
            if args.kind in (None, e.kind):
                cache.remove(e.kind, e.key)
                n += 1
        return {"removed": n}
    return {"root": str(cache_root()), "entries": [
        {"kind": e.kind, "key": e.key, "size_bytes": e.size_bytes, "created": e.created,
         "description": e.description} for e in entries],
        "total_bytes": sum(e.size_bytes for e in entries)}


@verb("data", "dataset statistics, or fetch the SNLI files once")
def _data_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["stats", "fetch-snli"])
    add_dataset(p, required=False)
    add_output(p)


@_data_cfg.handler
def _data(args: argparse.Namespace) -> Any:
    from core.data import dataset_stats, fetch_snli

    if args.action == "fetch-snli":
        return {"folder": str(fetch_snli())}
    if not args.dataset:
        raise BackboneLensError("data stats needs --dataset.")
    ds = open_dataset(args)
    st = dataset_stats(ds)
    return {"dataset": ds.name, "n": st.n, "labels": dict(zip(st.label_names, st.label_counts)),
            "unlabelled": st.n_unlabelled, "length_words": st.length_summary, "pairs": st.is_pair,
            "fingerprint": ds.fingerprint}


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

    from core.deepview import ProjectionSettings, embeddings_for, run_projection, save_projection
    from core.projection import check_lambda, parse_lambdas
    from core.settings import cache_root

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


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``--param k=v`` pairs (numbers stay strings; the method's declared types coerce them)."""
    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise BackboneLensError(f"--param takes NAME=VALUE, got '{it}'.")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _method_json(m: Any) -> dict[str, Any]:
    return {"name": m.name, "title": m.title, "signed": m.signed, "needs_mlm_head": m.needs_mlm_head,
            "uses_target": m.uses_target, "cost": m.cost, "description": m.description,
            "parameters": [{"name": p.name, "type": p.kind, "default": p.default, "min": p.low, "max": p.high,
                            "choices": list(p.choices) or None, "help": p.help} for p in m.params]}


@verb("methods", "list the saliency methods of the registry with their parameters")
def _methods_cfg(p: argparse.ArgumentParser) -> None:
    add_output(p)


@_methods_cfg.handler
def _methods(args: argparse.Namespace) -> Any:
    from core.saliency import get_method, method_names

    ms = [_method_json(get_method(n)) for n in method_names()]
    if args.json:
        return {"methods": ms}
    return "\n".join(f"{m['name']:22s} {m['title']}" + (f"  ({', '.join(p['name'] + '=' + str(p['default']) for p in m['parameters'])})"
                                                      if m["parameters"] else "") for m in ms)


@verb("saliency", "token saliency of one text under one method (decoded Grad-CAM, IG, occlusion, ...)")
def _saliency_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    p.add_argument("--text", required=True, help="the text to explain")
    p.add_argument("--text-pair", default=None, help="second segment for sentence-pair models")
    p.add_argument("--method", default="decoded_gradcam", help="a method name (see `python -m core methods`)")
    p.add_argument("--layer", type=int, default=None, help="layer for decoded_gradcam / layer_gradcam (0 = "
                   "embeddings … L; default 2/3 of the depth)")
    p.add_argument("--target", default=None, help="class to explain: number or label name (default: predicted)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a method parameter, e.g. steps=100")
    p.add_argument("--words", action="store_true", help="also merge word pieces into words")
    add_output(p)


@_saliency_cfg.handler
def _saliency(args: argparse.Namespace) -> Any:
    from core.saliency import get_method, merge_words

    method = get_method(args.method)
    params = _parse_params(args.param)
    if args.layer is not None:
        if method.param("layer") is None:
            raise BackboneLensError(f"--layer applies to decoded_gradcam and layer_gradcam, not {method.name}.")
        params["layer"] = args.layer
    method.resolve_params(None, params)  # parameter errors before the model loads
    model = open_model(args)
    t0 = time.perf_counter()
    (res,) = method(model, [args.text], None if args.text_pair is None else [args.text_pair],
                    target=args.target, **params)
    out = res.to_json()
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["model"] = model.ref
    if res.truncated:
        out["note"] = (f"The text is longer than the model's maximum of {model.max_length} tokens; it was "
                       "truncated and only the kept part is scored.")
    if model.notes:
        out["model_notes"] = list(model.notes)
    w = merge_words(res)
    out["words"] = [{"word": a, "score": float(b), "segment": int(c)} for a, b, c in zip(w.words, w.scores, w.segments)]
    if args.json:
        return out
    lines = [f"{res.method} on {model.ref}: predicted {res.predicted_label} ({res.probability:.1%}); "
             f"explaining {res.target_label}"]
    if "note" in out:
        lines.append(out["note"])
    lines += [f"  {t:>16s} {s:+.4f}" for t, s in zip(w.words, w.scores)]
    return "\n".join(lines)


def _parse_layers(text: str | None, model: Any) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip() == "all":
        return tuple(range(model.num_layers + 1))
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BackboneLensError(f"--layers takes comma-separated layer numbers or 'all', got '{text}'.") from None


@verb("faithfulness", "hiding and revealing games: AUCs per method (and layer) against a random order")
def _faith_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--methods", default="decoded_gradcam,integrated_gradients,occlusion",
                   help="comma-separated method names")
    p.add_argument("--layers", default=None, help="layer sweep for decoded_gradcam / layer_gradcam: e.g. 0,2,4,6 "
                   "or all (default: the method's layer only)")
    p.add_argument("--replacement", choices=("mask", "pad", "delete"), default="mask",
                   help="what hidden tokens become (default mask: keeps length and positions)")
    p.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    p.add_argument("--param", action="append", metavar="METHOD.NAME=VALUE",
                   help="a method parameter, e.g. integrated_gradients.steps=20")
    add_output(p)


@_faith_cfg.handler
def _faithfulness(args: argparse.Namespace) -> Any:
    from core.faithfulness import MethodSpec, dataset_games
    from core.saliency import get_method

    names = [x.strip() for x in args.methods.split(",") if x.strip()]
    if not names:
        raise BackboneLensError("--methods is empty; give at least one method name.")
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    for k, v in _parse_params(args.param).items():
        meth, _, name = k.partition(".")
        if meth not in per or not name:
            raise BackboneLensError(f"--param {k}: write METHOD.NAME=VALUE for one of the methods in --methods.")
        per[meth][name] = v
    for n in names:
        get_method(n).resolve_params(None, per[n])
    if args.max_length is not None and args.max_length < 4:
        raise BackboneLensError("--max-length must be at least 4.")
    model = open_model(args)
    ds = open_dataset(args)
    layers = _parse_layers(args.layers, model)
    specs = [MethodSpec(n, per[n], layers if n in ("decoded_gradcam", "layer_gradcam") else None) for n in names]
    bar = progress_bar(args, "games")
    res = dataset_games(model, ds, specs, replacement=args.replacement, max_length=args.max_length, seed=args.seed,
                        progress=None if bar is None else (lambda st, f, msg: bar(int(f * 1000), 1000)))
    out = res.to_json()
    if not args.json:
        rows = [f"{c.name:28s} hide AUC {c.hide_auc:.3f}  reveal AUC {c.reveal_auc:.3f}  (probability: "
                f"{c.hide_auc_prob:.3f} / {c.reveal_auc_prob:.3f})" for c in res.curves]
        head = (f"{res.n} texts of {ds.name}, mean {res.mean_tokens:.0f} tokens, replacement {res.replacement}, "
                f"accuracy against {res.accuracy_against}; hiding: lower is better, revealing: higher is better")
        return "\n".join([head, *rows] + ([f"best layer: {out['best_layer']}"] if "best_layer" in out else []))
    return out


@verb("class-tokens", "class-representative tokens: top idf-weighted salient words per predicted class")
def _ctok_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", default="decoded_gradcam")
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--min-docs", type=int, default=2, help="a word must occur in this many texts of the class")
    p.add_argument("--idf", default="bundled", help="IDF corpus: bundled (BBC + tweets), dataset (this dataset), "
                   "or a text file with one document per line")
    add_output(p)


@_ctok_cfg.handler
def _class_tokens(args: argparse.Namespace) -> Any:
    from core.class_tokens import bundled_idf, class_representative_tokens, idf_from_texts
    from core.saliency import get_method

    if args.top_k < 1 or args.min_docs < 1:
        raise BackboneLensError("--top-k and --min-docs must be at least 1.")
    method = get_method(args.method)
    params = _parse_params(args.param)
    if args.layer is not None:
        params["layer"] = args.layer
    method.resolve_params(None, params)
    idf_path = None
    if args.idf not in ("bundled", "dataset"):
        idf_path = Path(args.idf).expanduser()
        if not idf_path.is_file():
            raise BackboneLensError(f"--idf: {idf_path} is not a file (or say bundled / dataset).")
    model = open_model(args)
    ds = open_dataset(args)
    if args.idf == "bundled":
        idf = bundled_idf(model.tokenizer)
    elif args.idf == "dataset":
        idf = idf_from_texts(model.tokenizer, ds.texts, source=f"{ds.name} ({len(ds):,} texts)")
    else:
        assert idf_path is not None
        lines = [x for x in idf_path.read_text("utf-8", errors="replace").splitlines() if x.strip()]
        idf = idf_from_texts(model.tokenizer, lines, source=f"{idf_path.name} ({len(lines):,} lines)")
    res = method(model, list(ds.texts), None if ds.text_pairs is None else list(ds.text_pairs),
                 progress=progress_bar(args, args.method), **params)
    ct = class_representative_tokens(res, model.tokenizer, idf=idf, top_k=args.top_k, min_docs=args.min_docs)
    out = {"model": model.ref, "dataset": ds.name, "n": len(ds), **ct.to_json()}
    if args.json:
        return out
    return "\n".join([f"{method.name}: top {ct.top_k} words per predicted class (idf: {ct.idf_source}); mean "
                      f"pairwise overlap {ct.mean_overlap:.2f}"]
                     + [f"  {name} ({ct.docs[c]} texts): {', '.join(ct.words[c])}"
                        for c, name in enumerate(ct.label_names)])


@verb("mlm-head", "fit a masked-LM decoding head for a model without one (for decoded Grad-CAM)")
def _mlm_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    p.add_argument("--dataset", default="bundled:bbc,bundled:tweets",
                   help="comma-separated dataset references whose texts train the head")
    p.add_argument("--n", type=int, default=2000, help="training texts (default 2000)")
    p.add_argument("--seconds", type=float, default=75.0, help="training time budget (default 75, as the demo)")
    p.add_argument("--encoding", default="utf-8")
    add_output(p)


@_mlm_cfg.handler
def _mlm_head(args: argparse.Namespace) -> Any:
    from core.data import load_dataset, sample
    from core.mlm import fit_and_store, fitted_head_path

    if args.n < 20 or args.seconds <= 0:
        raise BackboneLensError("--n must be at least 20 and --seconds positive.")
    model = open_model(args)
    if model.mlm_head is not None:
        raise BackboneLensError(f"Model {model.ref} already has a masked-LM head; nothing to fit.")
    texts: list[str] = []
    refs = [r.strip() for r in args.dataset.split(",") if r.strip()]
    for r in refs:
        ds = load_dataset(r, encoding=args.encoding)
        texts.extend(sample(ds, min(len(ds), args.n // len(refs) + 50), seed=0).texts)
    rng = np.random.default_rng(0)
    rng.shuffle(texts)
    n_test = max(20, len(texts) // 10)
    f, rep = fit_and_store(model, texts[n_test:], texts[:n_test], max_seconds=args.seconds,
                           progress=None if args.quiet else (lambda s, t, i: print(
                               f"\rstep {s}/{t} loss {i['loss']:.2f}", end="", file=sys.stderr)))
    if not args.quiet:
        print(file=sys.stderr)
    return {"model": model.ref, "head_file": str(f), "stored_for_encoder": model.encoder_fingerprint,
            "report": rep.to_json(), "path_check": str(fitted_head_path(model)) == str(f)}


# ----------------------------------------------------------------------------- main


def _print_human(result: Any) -> None:
    if isinstance(result, dict):
        for k, v in result.items():
            if isinstance(v, (dict, list)) and len(json.dumps(v, default=str)) > 100:
                print(f"{k}:")
                print("  " + json.dumps(v, indent=2, default=str).replace("\n", "\n  "))
            else:
                print(f"{k}: {v}")
    else:
        print(result)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Backbone Lens analyses.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (configure, _, help_) in _VERBS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        configure(p)
        if name == "cache":
            pass
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    handler = _VERBS[args.verb][1]
    try:
        result = handler(args)
    except BackboneLensError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing partial was written.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback for the user unless asked
        if os.environ.get("BACKBONE_LENS_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (set BACKBONE_LENS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        _print_human(result)
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    return str(o)


# verbs defined in their own modules register themselves on import (they import the helpers above)
import core.cli_applications  # noqa: E402,F401  compare, attack
import core.cli_multitask  # noqa: E402,F401  multitask
import core.cli_inside  # noqa: E402,F401  layers, heads
import core.cli_topics  # noqa: E402,F401  topics
