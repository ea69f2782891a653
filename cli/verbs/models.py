"""Verbs of models: evaluate, embed, train, mlm-head.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
import numpy as np
from core.foundation.errors import BackboneLensError
from cli.common import add_dataset, add_model, add_output, open_dataset, open_model, progress_bar, verb


@verb("evaluate", "accuracy and confusion matrix (held-out split when the model was trained on the dataset)")
def _eval_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    add_output(p)


@_eval_cfg.handler
def _evaluate(args: argparse.Namespace) -> Any:
    from core.models.evaluate import evaluate
    from core.models.heldout import heldout_sample

    model = open_model(args)
    ds = open_dataset(args, sample=False)
    ev = evaluate(model, heldout_sample(model, ds, args.n, seed=args.seed), progress=progress_bar(args, "evaluate"))
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

    from core.foundation.cache import atomic_write_bytes
    from core.models.embeddings import extract_embeddings

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


@verb("train", "train a classifier on your data (pre-trained: frozen encoder + head; fine-tuned: everything; both)")
def _train_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)  # --dataset is the training file; --n bounds the training texts (and, in proportion, the others)
    p.add_argument("--validation", help="validation file (same columns); default: 10 %% of --dataset by hash")
    p.add_argument("--test", help="held-out test file (same columns); default: 20 %% of --dataset by hash")
    p.add_argument("--label-map", help="value=name pairs, e.g. 1=World,2=Sports,3=Business,4=Sci/Tech "
                                       "(instead of --label-names)")
    p.add_argument("--n-validation", type=int, default=None,
                   help="validation texts (default: with --n, n/7 and at least 100; else all)")
    p.add_argument("--n-test", type=int, default=None,
                   help="held-out test texts (default: with --n, 2n/7 and at least 100; else all)")
    p.add_argument("--setting", choices=["pretrained", "finetuned", "both"], default="pretrained")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="folder to write the model into (must not exist)")
    dest.add_argument("--name", help="keep the model as user:NAME (in the Backbone Lens cache folder)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=None,
                   help="time budget of training: embedding or optimising and every validation pass (with "
                        "--setting both, a third goes to the pre-trained head)")
    p.add_argument("--eval-seconds", type=float, default=None,
                   help="cap of the held-out evaluation after training (default: a fifth of --max-seconds, at "
                        "least 5 s; none without a budget)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: $BACKBONE_LENS_THREADS, else the physical cores not busy with other "
                        "work)")
    add_output(p)


@_train_cfg.handler
def _train(args: argparse.Namespace) -> Any:
    from core.training.user_models import DataFiles, TrainingRequest, train_models

    if args.n is not None and args.n <= 0:
        raise BackboneLensError(f"--n must be a positive number, got {args.n}.")
    if args.dtype not in (None, "float32"):
        raise BackboneLensError(f"train runs in float32 (the optimiser needs it); --dtype {args.dtype} applies to the "
                                "analysis verbs that read the trained model.")
    if args.label_map and args.label_names:
        raise BackboneLensError("Give either --label-names or --label-map, not both (the map names every value).")
    data = DataFiles(train=args.dataset, validation=args.validation, test=args.test, text_column=args.text_column,
                     text_pair_column=args.text_pair_column, label_column=args.label_column,
                     label_names=tuple(s.strip() for s in args.label_names.split(",")) if args.label_names else None,
                     label_map=args.label_map, encoding=args.encoding)
    req = TrainingRequest(base=args.model, data=data, setting=args.setting, n=args.n, n_validation=args.n_validation,
                          n_test=args.n_test, seed=args.seed, max_seconds=args.max_seconds,
                          eval_seconds=args.eval_seconds, threads=args.threads, max_length=args.max_length,
                          epochs=args.epochs, device=args.device)
    if args.device:
        from core.foundation.settings import resolve_device

        resolve_device(args.device)  # a device the machine lacks fails before any data is read
    run = train_models(req, out=args.out, name=args.name, progress=progress_bar(args, "train"))
    return run.to_json()


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
    from core.data.refs import load_dataset
    from core.data.sampling import sample
    from core.training.mlm_head import fit_and_store
    from core.models.storage import fitted_head_path

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
                           progress=progress_bar(args, "mlm-head"))
    return {"model": model.ref, "head_file": str(f), "stored_for_encoder": model.encoder_fingerprint,
            "report": rep.to_json(), "path_check": str(fitted_head_path(model)) == str(f)}
