"""Backbone Lens reports: YAML spec → snapshot (JSON) → HTML → PDF.

Public API::

    from reports import load_spec, parse_spec, build_snapshot, render_html, render_pdf, build_report
    spec = load_spec("reports/specs/demo-overview.yaml")
    paths = build_report(spec, "out/report")          # snapshot.json, report.html, report.pdf

The section registry lives in :mod:`reports.sections` (``SECTIONS``, ``register``).
Nothing here imports streamlit.
"""
from __future__ import annotations

from reports.spec import DatasetSpec, ReportSpec, SectionSpec, load_spec, parse_spec

__all__ = ["DatasetSpec", "ReportSpec", "SectionSpec", "load_spec", "parse_spec", "build_snapshot",
           "write_snapshot", "load_snapshot", "render_html", "render_pdf", "build_report", "ReportPaths"]


def __getattr__(name: str):  # lazy: validating a spec should not import torch or WeasyPrint
    if name in ("build_snapshot", "write_snapshot", "load_snapshot", "build_report", "ReportPaths"):
        from reports import snapshot

        return getattr(snapshot, name)
    if name in ("render_html", "render_pdf"):
        from reports import render

        return getattr(render, name)
    raise AttributeError(name)
