"""Verbs of the workspace: the demo build, the on-disk cache, dataset statistics.
"""
from __future__ import annotations

import argparse
from typing import Any
from core.foundation.errors import BackboneLensError
from cli.common import add_dataset, add_output, open_dataset, progress_bar, verb


@verb("demo", "build or inspect the demo workspace")
def _demo_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["build", "status"])
    p.add_argument("--force", action="store_true", help="rebuild every step")
    p.add_argument("--profile", default="full", choices=["full", "small"],
                   help="full: the documented demo; small: a quick build for tests")
    add_output(p)


@_demo_cfg.handler
def _demo(args: argparse.Namespace) -> Any:
    from core.training import demo_workspace as demo

    if args.action == "status":
        problems = demo.demo_problems(verify=True)
        return {"ready": not problems, "models": {m: m not in problems for m in (*demo.DEMO_MODELS, "mlm-head")},
                "problems": problems, "manifest": demo.read_manifest(),
                "folder": str(demo.demo_root())}
    return demo.build_demo(force=args.force, profile=args.profile, progress=progress_bar(args, args.verb))


@verb("cache", "list or clear the on-disk cache")
def _cache_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "clear"])
    p.add_argument("--kind", help="with clear: only entries of this kind")
    p.add_argument("--yes", action="store_true", help="with clear: really delete")
    add_output(p)


@_cache_cfg.handler
def _cache(args: argparse.Namespace) -> Any:
    from core.foundation.cache import ArrayCache
    from core.foundation.settings import cache_root

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
    from core.data.datasets import dataset_stats
    from core.data.bundled import fetch_snli

    if args.action == "fetch-snli":
        return {"folder": str(fetch_snli())}
    if not args.dataset:
        raise BackboneLensError("data stats needs --dataset.")
    ds = open_dataset(args)
    st = dataset_stats(ds)
    return {"dataset": ds.name, "n": st.n, "labels": dict(zip(st.label_names, st.label_counts)),
            "unlabelled": st.n_unlabelled, "length_words": st.length_summary, "pairs": st.is_pair,
            "fingerprint": ds.fingerprint}
