"""``python -m core multitask train|synergy``: multi-task models from the command line.

``train`` builds a model with one shared encoder and one head per bundled task (the demo's splits and
settings); ``synergy`` compares the tasks of such a model on one shared sample set.
"""
from __future__ import annotations

import argparse
from typing import Any

from cli.common import add_output, progress_bar, verb
from core.analyses.synergy import SynergyParams
from core.foundation.errors import BackboneLensError

DEFAULTS = SynergyParams()


@verb("multitask", "multi-task models: train one (shared encoder, one head per task) or measure task synergy")
def _multitask_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["train", "synergy"])
    g = p.add_argument_group("train")
    g.add_argument("--tasks", default="bbc,tweets", help="comma-separated bundled tasks: bbc, tweets, snli "
                   "(default bbc,tweets)")
    g.add_argument("--setting", choices=["pretrained", "finetuned"], default="pretrained",
                   help="pretrained: frozen encoder, one head per task; finetuned: encoder and heads together")
    g.add_argument("--out", default=None, help="folder to write (default: the demo workspace's "
                   "multitask-<setting>; replaced only if it is a Backbone Lens model folder)")
    g.add_argument("--profile", choices=["full", "small"], default="full",
                   help="sample sizes and budgets of the demo (small: a quick build for tests)")
    g.add_argument("--max-seconds", type=float, default=None,
                   help="fine-tuning time budget (default: the profile's budget × the number of tasks)")
    s = p.add_argument_group("synergy")
    s.add_argument("--model", default=None, help="a multi-task model: demo:multitask-pretrained, "
                   "demo:multitask-finetuned or a folder")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if available)")
    s.add_argument("--n-per-task", type=int, default=DEFAULTS.n_per_task,
                   help=f"held-out texts per task (default {DEFAULTS.n_per_task})")
    s.add_argument("--k", type=int, default=DEFAULTS.k,
                   help=f"neighbourhood size of the primary metric (default {DEFAULTS.k})")
    s.add_argument("--lam", type=float, default=DEFAULTS.lam, help=f"DeepView λ in [0, 1] (default {DEFAULTS.lam:g})")
    s.add_argument("--seed", type=int, default=DEFAULTS.seed)
    add_output(p)


def _train(args: argparse.Namespace) -> Any:
    from core.training.multitask import check_tasks, train_multitask

    if args.model is not None:
        raise BackboneLensError("--model applies to `multitask synergy`; `multitask train` always starts from "
                                "bundled:minilm.")
    tasks = check_tasks(args.tasks)
    mt = train_multitask(tasks, args.setting, out=args.out, profile=args.profile, max_seconds=args.max_seconds,
                         progress=progress_bar(args, args.verb))
    meta = mt.metadata
    out = {"model": mt.ref, "folder": str(mt.base.path), "setting": args.setting, "profile": args.profile,
           "tasks": {t: {"dataset": mt.datasets[t], "labels": list(mt.label_names[t]),
                         "max_length": mt.max_length_of(t), "n_train": meta["tasks"][t].get("n_train"),
                         "heldout": meta["tasks"][t].get("heldout")} for t in mt.tasks},
           "seconds": meta.get("seconds")}
    ft = (meta.get("training") or {}).get("finetune") or {}
    if ft:
        out["finetune"] = {k: ft.get(k) for k in ("best", "stopped_by", "epochs_run", "val_loss", "val_accuracy")}
        out["finetune"]["steps_run"] = (ft.get("history") or [{}])[-1].get("step")
        if ft.get("best") == 0:
            out["note"] = ("Fine-tuning did not lower the mean validation loss below the starting point within the "
                           "budget, so the saved encoder keeps the starting (pre-trained-setting) weights; give a "
                           "larger --max-seconds.")
    return out


def _synergy(args: argparse.Namespace) -> Any:
    from core.analyses.synergy import run_synergy
    from core.models.refs import load_multitask

    if not args.model:
        raise BackboneLensError("multitask synergy needs --model (e.g. demo:multitask-pretrained).")
    if args.k < 1:
        raise BackboneLensError(f"--k must be at least 1, got {args.k}.")
    mt = load_multitask(args.model, device=args.device)
    params = SynergyParams(n_per_task=args.n_per_task, k=args.k, lam=args.lam, seed=args.seed)
    res = run_synergy(mt, None, params, progress=progress_bar(args, args.verb))
    out = res.to_json()
    if args.json:
        return out
    w = max(len(t) for t in res.tasks) + 2
    lines = [f"{res.model_ref}: {res.metric} (n = {res.n})", " " * w + "".join(f"{t:>{w}}" for t in res.tasks)]
    lines += [f"{s:<{w}}" + "".join(f"{v:>{w}.3f}" for v in row) for s, row in zip(res.tasks, res.matrix)]
    lines.append("transfer (rows: source head, columns: target task; chance / full-embedding probe below)")
    lines += [f"{s:<{w}}" + "".join(f"{v:>{w}.3f}" for v in row) for s, row in zip(res.tasks, res.transfer)]
    lines.append(f"{'chance':<{w}}" + "".join(f"{v:>{w}.3f}" for v in res.chance))
    lines.append(f"{'full':<{w}}" + "".join(f"{v:>{w}.3f}" for v in res.full_probe))
    lines.append(f"dataset separation: silhouette {res.silhouette:.3f}, {res.knn_k}-NN task accuracy "
                 f"{res.knn_task_accuracy:.3f}")
    lines += list(res.reading)
    return "\n".join(lines)


@_multitask_cfg.handler
def _multitask(args: argparse.Namespace) -> Any:
    return _train(args) if args.action == "train" else _synergy(args)
