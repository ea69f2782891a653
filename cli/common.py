"""What every verb shares: the verb registry, the model and dataset options, opening them, progress on stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable
from core.foundation.errors import BackboneLensError


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
    from core.models.refs import load_model

    return load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)


def open_dataset(args: argparse.Namespace, *, sample: bool = True):
    from core.data.refs import load_dataset

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


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``--param k=v`` pairs (numbers stay strings; the method's declared types coerce them)."""
    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise BackboneLensError(f"--param takes NAME=VALUE, got '{it}'.")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _stage_bar(args: argparse.Namespace, desc: str):
    bar = progress_bar(args, desc)
    if bar is None:
        return None
    return lambda stage, frac, msg: bar(int(frac * 1000), 1000)
