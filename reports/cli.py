"""``python -m reports build SPEC --out DIR`` | ``validate SPEC`` | ``render SNAPSHOT --out DIR`` |
``diff A B`` | ``kinds`` | ``schema``.

Exit codes: 0 success; 1 the report was written but one or more of its checks fail (so a CI job can gate
a model on its audit); 2 an error, printed as one line ``error: ...`` on stderr (never a traceback unless
``BACKBONE_LENS_DEBUG=1``). Output files go to DIR only (created if missing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from core.foundation.errors import BackboneLensError


class _OneLineParser(argparse.ArgumentParser):
    """argparse with one ``error: …`` line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m reports", description="Build Backbone Lens reports from YAML specs.")
    sub = p.add_subparsers(dest="cmd", parser_class=_OneLineParser)
    b = sub.add_parser("build", help="compute a spec and write snapshot.json, report.html and report.pdf")
    b.add_argument("spec", help="the YAML spec file")
    b.add_argument("--out", required=True, help="output folder (created if missing)")
    b.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    b.add_argument("--json", action="store_true", help="print the written paths as JSON")
    b.add_argument("--quiet", action="store_true", help="no progress messages")
    b.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
    v = sub.add_parser("validate", help="check a spec without computing anything")
    v.add_argument("spec")
    v.add_argument("--json", action="store_true", help="print the normalised spec as JSON")
    for sp in (b, v):
        sp.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                        help="a folder (besides the spec's own and the cache) whose files the spec may name; repeatable")
        sp.add_argument("--allow-any-path", action="store_true",
                        help="let the spec name any file of this machine (a local run on your own files)")
    r = sub.add_parser("render", help="re-render report.html/report.pdf from an existing snapshot.json")
    r.add_argument("snapshot", help="snapshot.json or the folder holding it")
    r.add_argument("--out", required=True)
    r.add_argument("--no-pdf", action="store_true")
    r.add_argument("--json", action="store_true")
    r.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
    d = sub.add_parser("diff", help="what changed between two snapshots (figures, checks, charts)")
    d.add_argument("a", help="the earlier snapshot.json (or its folder)")
    d.add_argument("b", help="the later snapshot.json (or its folder)")
    d.add_argument("--json", action="store_true")
    k = sub.add_parser("kinds", help="list the section kinds, their parameters and the figures checks can use")
    k.add_argument("--json", action="store_true")
    sc = sub.add_parser("schema", help="print (or write) the JSON Schema of report specs")
    sc.add_argument("--out", default=None, help="write it to this file instead of printing it")
    sc.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
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
        spec = load_spec(args.spec, allow=args.allow_path, any_path=args.allow_any_path)
        if args.json:
            return {"valid": True, "spec": spec.to_dict()}
        return f"{args.spec}: valid ({len(spec.sections)} section{'s' if len(spec.sections) != 1 else ''}: " \
               f"{', '.join(s.id for s in spec.sections)}; {len(spec.checks)} check" \
               f"{'s' if len(spec.checks) != 1 else ''})"
    if args.cmd == "kinds":
        from reports.checks import metric_spec
        from reports.sections import SECTIONS

        kinds = {k: {"title": s.title, "description": s.description,
                     "params": [{"name": p.name, "type": p.type, "default": p.default, "help": p.help}
                                for p in s.params],
                     "figures": list(metric_spec(k).names)} for k, s in SECTIONS.items()}
        if args.json:
            return kinds
        lines = []
        for k, s in kinds.items():
            lines.append(f"{k}: {s['description']}")
            lines += [f"    {p['name']} ({p['type']}, default {json.dumps(p['default'])}): {p['help']}"
                      for p in s["params"]]
            if s["figures"]:
                lines.append(f"    figures for checks: {', '.join(k + '.' + f for f in s['figures'])}")
        return "\n".join(lines)
    if args.cmd == "schema":
        from reports.schema import spec_schema

        text = json.dumps(spec_schema(), indent=1, ensure_ascii=False)
        if args.out is None:
            return spec_schema()
        from core.foundation.cache import atomic_write_text

        if Path(args.out).exists() and not args.overwrite:
            raise BackboneLensError(f"{args.out} exists; pass --overwrite to replace it.")
        atomic_write_text(Path(args.out), text + "\n")
        return f"wrote {args.out}"
    if args.cmd == "diff":
        from reports.diff import diff_snapshots, diff_text
        from reports.snapshot import load_snapshot

        d = diff_snapshots(load_snapshot(args.a), load_snapshot(args.b))
        return d if args.json else diff_text(d)
    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise BackboneLensError(f"--out {out} exists and is not a folder.")
    existing = [f for f in REPORT_FILES if (out / f).exists()]
    if existing and not args.overwrite:
        raise BackboneLensError(f"{out} already holds a report ({', '.join(existing)}); pass --overwrite to replace it, "
                                "or choose another --out folder.")
    if args.cmd == "build":
        from reports.snapshot import build_report

        spec = load_spec(args.spec, allow=args.allow_path, any_path=args.allow_any_path)
        paths = build_report(spec, out, pdf=not args.no_pdf, progress=_progress(args.quiet or args.json),
                             allowed_paths=args.allow_path, any_path=args.allow_any_path)
        from reports.snapshot import load_snapshot

        snap = load_snapshot(paths.snapshot)
    else:
        from reports.snapshot import load_snapshot, render_report, write_snapshot

        snap = load_snapshot(args.snapshot)
        if Path(args.snapshot).resolve() not in (out.resolve(), (out / "snapshot.json").resolve()):
            write_snapshot(snap, out)
        paths = render_report(snap, out, pdf=not args.no_pdf)
    checks = snap.get("checks") or []
    failed = [c for c in checks if not c.get("passed")]
    if failed:
        _FAILED_CHECKS.extend(failed)
    if args.json:
        return {**paths.to_json(), "verdict": snap.get("verdict", "none"), "checks": checks}
    lines = [str(p) for p in (paths.snapshot, paths.html, paths.pdf) if p is not None]
    if checks:
        lines.append(f"checks: {len(checks) - len(failed)} of {len(checks)} pass")
        lines += [f"  {'pass' if c['passed'] else 'FAIL'}  {c['expr']}  (value {c['left']!s})"
                  + (f" – {c['reason']}" if not c["passed"] and c.get("reason") else "") for c in checks]
    return "\n".join(lines)


_FAILED_CHECKS: list[dict[str, Any]] = []
REPORT_FILES = ("snapshot.json", "report.html", "report.pdf")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.cmd:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.cmd in ("build", "render"):
            from core.foundation.settings import use_analysis_threads

            use_analysis_threads()
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
    if _FAILED_CHECKS:
        n = len(_FAILED_CHECKS)
        _FAILED_CHECKS.clear()
        print(f"error: {n} check{'s' if n != 1 else ''} failed; the report was written and shows which.",
              file=sys.stderr)
        return 1
    return 0
