"""Compute a report: spec → :class:`ReportContext` → snapshot dict (JSON) → ``snapshot.json``.

The snapshot holds everything the templates show (numbers, tables, SVG charts) plus
provenance; rendering reads only the snapshot, so a report can be re-rendered (or
re-styled) without a model.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from reports.context import LIBRARIES, Progress, ReportContext  # noqa: F401 - re-exported
from reports.spec_data import ReportSpec

SNAPSHOT_FORMAT = "backbone-lens-report/1"
SNAPSHOT_FILE = "snapshot.json"

# ----------------------------------------------------------------------------- snapshot


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, Path):
        return str(o)
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return str(o)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment() -> dict[str, Any]:
    """Python, platform, CPU/GPU and library versions (no host names or user paths)."""
    import core

    env: dict[str, Any] = {
        "backbone_lens": getattr(core, "__version__", "unknown"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "libraries": _versions(),
    }
    try:
        from core.foundation.settings import default_device
        import torch

        dev = default_device()
        env["device"] = str(dev)
        if dev.type == "cuda":
            env["gpu"] = torch.cuda.get_device_name(dev)
        env["torch_threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    return env


def build_snapshot(spec: ReportSpec, out_dir: str | Path | None = None, *, progress: Progress | None = None,
                   allowed_paths: Sequence[str] = (), any_path: bool = False) -> dict[str, Any]:
    """Compute every section of ``spec``; write ``out_dir/snapshot.json`` when ``out_dir`` is given.
    ``allowed_paths`` / ``any_path``: the path policy of the build (:mod:`reports.paths`)."""
    from reports.sections import get_section

    t_start = time.perf_counter()
    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    ctx = ReportContext(spec, progress=progress, allowed_paths=allowed_paths, any_path=any_path)
    ctx.model  # noqa: B018 - load once up front so errors surface before any section
    ctx.full_dataset  # noqa: B018
    sections = []
    for i, s in enumerate(spec.sections):
        kind = get_section(s.kind)
        ctx.say(s.kind, 0.0, f"computing section {i + 1}/{len(spec.sections)}: {kind.title}")
        t0 = time.perf_counter()
        data = kind.compute(ctx, kind.typed(dict(s.params)))
        sections.append({"index": i, "kind": s.kind, "id": s.id or s.kind, "anchor": f"s{i + 1}-{s.kind}",
                         "title": s.title or kind.title, "template": kind.template,
                         "params": dict(s.params), "seconds": round(time.perf_counter() - t0, 3),
                         "note": s.note, "data": data})
        ctx.say(s.kind, 1.0, f"{kind.title} done")
    checks_out = _run_checks(spec, ctx, sections)
    m, full, ds = ctx.model, ctx.full_dataset, ctx.dataset
    spec_file = spec.source
    prov: dict[str, Any] = {
        "created": created,
        "spec": spec.to_dict(),
        "spec_file": Path(spec_file).name if spec_file else None,
        "spec_sha256": hashlib.sha256(Path(spec_file).read_bytes()).hexdigest()[:20]
        if spec_file and Path(spec_file).is_file() else None,
        "model": {"ref": spec.model, "fingerprint": m.fingerprint, "encoder_fingerprint": m.encoder_fingerprint,
                  "model_type": m.model_type, "setting": (m.metadata or {}).get("setting"),
                  "training_data_fingerprint": (m.metadata or {}).get("data_fingerprint"),
                  "decoding_head": m.decoding_head_kind(), "decoding_head_ref": spec.mlm},
        "dataset": {"ref": spec.dataset.ref, "source_fingerprint": full.source_fingerprint,
                    "full_fingerprint": full.fingerprint, "sample_fingerprint": ds.fingerprint,
                    "n_total": len(full), "n_sample": len(ds), **{k: v for k, v in spec.dataset.load_kwargs().items()
                                                                   if v is not None}},
        "parameters": {"sample_size": spec.sample_size, "seed": spec.seed,
                       "sections": [{"kind": s.kind, **s.params} for s in spec.sections]},
        "environment": environment(),
        "timings": {**{k: v for k, v in ctx.timings.items()},
                    "sections": {sec["anchor"]: sec["seconds"] for sec in sections},
                    "total": round(time.perf_counter() - t_start, 3)},
    }
    if "evaluation" in ctx._memo:
        ev = ctx._memo["evaluation"]
        prov["evaluation"] = {"split": ev.split, "n": ev.n, "dataset_fingerprint": ev.dataset_fingerprint}
    snap = _jsonable({
        "format": SNAPSHOT_FORMAT,
        "report": {"title": spec.title, "author": spec.author, "authors": list(spec.authors),
                   "audience": spec.audience, "created": created, "model": spec.model, "dataset": spec.dataset.ref,
                   "models": dict(spec.models) or {"model": spec.model},
                   "sample_size": spec.sample_size, "seed": spec.seed, "notes": spec.notes},
        "sections": sections,
        "checks": checks_out["results"],
        "verdict": checks_out["verdict"],
        "figures": checks_out["figures"],
        "global_figures": checks_out["global"],
        "provenance": prov,
    })
    if out_dir is not None:
        write_snapshot(snap, out_dir)
    return snap


def _run_checks(spec: ReportSpec, ctx: ReportContext, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """Every section's published figures, the global ones a check asks for, the check results and the verdict:
    ``pass`` (all hold), ``fail`` (one or more do not) or ``none`` (no checks)."""
    from reports.checks import GLOBAL_METRICS, evaluate_checks, section_metrics

    figures = {sec["id"]: section_metrics(sec) for sec in sections}
    glob: dict[str, Any] = {}
    if any(len(p) == 1 and p[0] in GLOBAL_METRICS for c in spec.checks for p in c.names()):
        try:
            ev = ctx.evaluation()
            glob = {"accuracy": ev.accuracy, "macro_f1": ev.macro_f1, "n": ev.n}
        except BackboneLensError as e:
            glob = {"error": str(e)}
    results = evaluate_checks(list(spec.checks), figures, glob)
    verdict = "none" if not results else ("pass" if all(r["passed"] for r in results) else "fail")
    return {"figures": figures, "global": glob, "results": results, "verdict": verdict}


def _readable(path: Path) -> None:
    """Atomic writes create 0600 files; reports are meant to be shared, so honour the umask instead."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        path.chmod(0o666 & ~mask)
    except OSError:  # pragma: no cover
        pass


def write_snapshot(snapshot: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/snapshot.json`` atomically (creating ``out_dir``)."""
    from core.foundation.cache import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SNAPSHOT_FILE
    atomic_write_text(path, json.dumps(snapshot, indent=1, ensure_ascii=False, allow_nan=False))
    _readable(path)
    return path


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """Read a snapshot (a ``snapshot.json`` file or the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / SNAPSHOT_FILE
    try:
        snap = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise BackboneLensError(f"Snapshot not found: {p}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BackboneLensError(f"{p} is not a readable snapshot ({e}).") from None
    if not isinstance(snap, dict) or snap.get("format") != SNAPSHOT_FORMAT:
        raise BackboneLensError(f"{p} is not a Backbone Lens report snapshot (format {SNAPSHOT_FORMAT}).")
    return snap


@dataclass(frozen=True)
class ReportPaths:
    """The files one build wrote."""

    out_dir: Path
    snapshot: Path
    html: Path
    pdf: Path | None

    def to_json(self) -> dict[str, str | None]:
        return {"out_dir": str(self.out_dir), "snapshot": str(self.snapshot), "html": str(self.html),
                "pdf": None if self.pdf is None else str(self.pdf)}


def render_report(snapshot: dict[str, Any], out_dir: str | Path, *, pdf: bool = True,
                  progress: Progress | None = None) -> ReportPaths:
    """Write ``report.html`` (and ``report.pdf``) for an existing snapshot into ``out_dir``."""
    from core.foundation.cache import atomic_write_text
    from reports.render import render_html, render_pdf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    snap_path = out / SNAPSHOT_FILE
    if progress:
        progress("render", 0.0, "rendering HTML")
    html = render_html(snapshot)
    html_path = out / "report.html"
    atomic_write_text(html_path, html)
    _readable(html_path)
    pdf_path = None
    if pdf:
        if progress:
            progress("render", 0.5, "rendering PDF")
        pdf_path = render_pdf(html, out / "report.pdf")
    if progress:
        progress("render", 1.0, "done")
    return ReportPaths(out, snap_path, html_path, pdf_path)


def build_report(spec: ReportSpec, out_dir: str | Path, *, pdf: bool = True, progress: Progress | None = None,
                 allowed_paths: Sequence[str] = (), any_path: bool = False) -> ReportPaths:
    """Spec → ``snapshot.json``, ``report.html`` and ``report.pdf`` in ``out_dir`` (created if missing)."""
    snap = build_snapshot(spec, out_dir, progress=progress, allowed_paths=allowed_paths, any_path=any_path)
    return render_report(snap, out_dir, pdf=pdf, progress=progress)
