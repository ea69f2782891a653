"""``python -m reports build SPEC --out DIR`` | ``validate SPEC`` | ``render SNAPSHOT --out DIR`` | ``kinds``.

Errors print one line ``error: ...`` to stderr and exit 2 (never a traceback unless
``BACKBONE_LENS_DEBUG=1``). Output files go to DIR only (created if missing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import BackboneLensError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports", description="Build Backbone Lens reports from YAML specs.")
    sub = p.add_subparsers(dest="cmd")
    b = sub.add_parser("build", help="compute a spec and write snapshot.json, report.html and report.pdf")
    b.add_argument("spec", help="the YAML spec file")
    b.add_argument("--out", required=True, help="output folder (created if missing)")
    b.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    b.add_argument("--json", action="store_true", help="print the written paths as JSON")
    b.add_argument("--quiet", action="store_true", help="no progress messages")
    v = sub.add_parser("validate", help="check a spec without computing anything")
    v.add_argument("spec")
    v.add_argument("--json", action="store_true", help="print the normalised spec as JSON")
    r = sub.add_parser("render", help="re-render report.html/report.pdf from an existing snapshot.json")
    r.add_argument("snapshot", help="snapshot.json or the folder holding it")
    r.add_argument("--out", required=True)
    r.add_argument("--no-pdf", action="store_true")
    r.add_argument("--json", action="store_true")
    k = sub.add_parser("kinds", help="list the section kinds and their parameters")
    k.add_argument("--json", action="store_true")
    return p


def _progress(quiet: bool):
    if quiet:
        return None
    last = {"step": None, "t": 0.0}

    def cb(step: str, frac: float, msg: str) -> None:
        now = time.time()
        if step == last["step"] and now - last["t"] < 3 and 0 < frac < 1:
            return
        last.update(step=step, t=now)
        print(f"[{step}] {msg}", file=sys.stderr, flush=True)
    return cb


def _run(args: argparse.Namespace) -> Any:
    from reports.spec import load_spec

    if args.cmd == "validate":
        spec = load_spec(args.spec)
        if args.json:
            return {"valid": True, "spec": spec.to_dict()}
        return f"{args.spec}: valid ({len(spec.sections)} section{'s' if len(spec.sections) != 1 else ''}: " \
               f"{', '.join(s.kind for s in spec.sections)})"
    if args.cmd == "kinds":
        from reports.sections import SECTIONS

        kinds = {k: {"title": s.title, "description": s.description,
                     "params": [{"name": p.name, "type": p.type, "default": p.default, "help": p.help}
                                for p in s.params]} for k, s in SECTIONS.items()}
        if args.json:
            return kinds
        lines = []
        for k, s in kinds.items():
            lines.append(f"{k}: {s['description']}")
            lines += [f"    {p['name']} ({p['type']}, default {json.dumps(p['default'])}): {p['help']}"
                      for p in s["params"]]
        return "\n".join(lines)
    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise BackboneLensError(f"--out {out} exists and is not a folder.")
    if args.cmd == "build":
        from reports.snapshot import build_report

        spec = load_spec(args.spec)
        paths = build_report(spec, out, pdf=not args.no_pdf, progress=_progress(args.quiet or args.json))
    else:
        from reports.snapshot import load_snapshot, render_report, write_snapshot

        snap = load_snapshot(args.snapshot)
        if Path(args.snapshot).resolve() not in (out.resolve(), (out / "snapshot.json").resolve()):
            write_snapshot(snap, out)
        paths = render_report(snap, out, pdf=not args.no_pdf)
    if args.json:
        return paths.to_json()
    return "\n".join(str(p) for p in (paths.snapshot, paths.html, paths.pdf) if p is not None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.cmd:
        parser.print_help(sys.stderr)
        return 2
    try:
        result = _run(args)
    except BackboneLensError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user, traceback only when asked
        if os.environ.get("BACKBONE_LENS_DEBUG"):
            raise
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"error: unexpected {type(e).__name__}: {msg} (set BACKBONE_LENS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if not isinstance(result, str) else result)
    return 0
