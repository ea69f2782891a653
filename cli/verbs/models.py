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
    from core.data.sampling import take_split
    from core.models.evaluate import evaluate
    from core.models.heldout import heldout_sample
    from core.models.storage import save_model
    from core.training.finetune import TrainConfig, finetune, train_pretrained_head, training_metadata

    out = Path(args.out).expanduser()
    if out.exists():
        raise BackboneLensError(f"{out} exists; choose a new folder so no model is overwritten.")
    model = open_model(args)
    full = open_dataset(args, sample=False)
    if not full.has_labels:
        raise BackboneLensError("Training needs a labelled dataset (give --label-column).")
    from core.data.sampling import sample

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
    clf = model.with_head(head, full.label_names)
    if args.max_length:
        clf.max_length = args.max_length
    meta = training_metadata(res, cfg, base_ref=args.model, dataset=full, split_seed=args.seed, n_train=len(train),
                             n_val=len(val))
    clf.metadata = meta
    ev = evaluate(clf, heldout_sample(clf, full, seed=args.seed))  # the metadata marks `full` as training data
    meta["heldout"] = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split}
    save_model(clf, out, meta)
    return {"out": str(out), "setting": args.setting, "heldout_accuracy": ev.accuracy, "heldout_n": ev.n,
            "val_accuracy": res.val_accuracy, "epochs_run": res.epochs_run, "stopped_by": res.stopped_by,
            "seconds": round(res.seconds, 1)}


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
