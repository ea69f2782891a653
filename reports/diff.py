"""``python -m reports diff A B``: what changed between two report snapshots (e.g. two model versions).

Sections are matched by id (then by kind and position); for each: parameters that differ, every published
figure (the names checks use) with old value, new value and change, and which charts differ (by the SHA-256
of their SVG). Checks are matched by their expression. Nothing is recomputed.
"""
from __future__ import annotations

import hashlib
from typing import Any

from reports.checks import section_metrics


def _flat(d: Any, prefix: str = "") -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix] = float(d)
    elif d is None:
        out[prefix] = None
    return out


def _charts(obj: Any, out: dict[str, str] | None = None, path: str = "") -> dict[str, str]:
    """``{caption (or path): sha256 of the SVG}`` of every figure in a section fragment."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        if isinstance(obj.get("svg"), str):
            key = (obj.get("caption") or path)[:90]
            out[key] = hashlib.sha256(obj["svg"].encode()).hexdigest()[:16]
        for k, v in obj.items():
            if k != "svg":
                _charts(v, out, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _charts(v, out, f"{path}[{i}]")
    return out


def _sid(s: dict) -> str:
    return s.get("id") or s.get("kind", "?")


def diff_snapshots(a: dict[str, Any], b: dict[str, Any], *, tolerance: float = 1e-6) -> dict[str, Any]:
    """The differences between snapshots ``a`` (before) and ``b`` (after); figures that differ by less than
    ``tolerance`` (relative, absolute below 1) count as equal — cached arrays are stored as float32."""
    pa, pb = a.get("provenance", {}), b.get("provenance", {})
    inputs = {}
    for what, key in (("model", "fingerprint"), ("dataset", "sample_fingerprint")):
        va, vb = (pa.get(what) or {}).get(key), (pb.get(what) or {}).get(key)
        inputs[what] = {"a": (pa.get(what) or {}).get("ref"), "b": (pb.get(what) or {}).get("ref"),
                        "fingerprint_a": va, "fingerprint_b": vb, "changed": va != vb}
    sa = {_sid(s): s for s in a.get("sections", [])}
    sb = {_sid(s): s for s in b.get("sections", [])}
    sections = []
    for sid in list(dict.fromkeys([*sa, *sb])):
        x, y = sa.get(sid), sb.get(sid)
        if x is None or y is None:
            sections.append({"id": sid, "status": "added" if x is None else "removed"})
            continue
        fx, fy = _flat(section_metrics(x)), _flat(section_metrics(y))
        figs = []
        for name in list(dict.fromkeys([*fx, *fy])):
            va, vb = fx.get(name), fy.get(name)
            if va is None and vb is None:
                continue
            if va is None or vb is None or abs(va - vb) > tolerance * max(1.0, abs(va), abs(vb)):
                figs.append({"name": name, "a": va, "b": vb,
                             "change": None if va is None or vb is None else vb - va})
        params = {k: {"a": x.get("params", {}).get(k), "b": y.get("params", {}).get(k)}
                  for k in dict.fromkeys([*x.get("params", {}), *y.get("params", {})])
                  if x.get("params", {}).get(k) != y.get("params", {}).get(k)}
        ca, cb = _charts(x.get("data")), _charts(y.get("data"))
        charts = [{"figure": k, "status": "added" if k not in ca else "removed" if k not in cb else "changed"}
                  for k in dict.fromkeys([*ca, *cb]) if ca.get(k) != cb.get(k)]
        status = "changed" if figs or params or charts else "same"
        sections.append({"id": sid, "kind": y.get("kind"), "title": y.get("title"), "status": status,
                         "figures": figs, "params": params, "charts": charts,
                         "available": {"a": (x.get("data") or {}).get("available", True),
                                       "b": (y.get("data") or {}).get("available", True)}})
    ka = {c["expr"]: c for c in a.get("checks", [])}
    kb = {c["expr"]: c for c in b.get("checks", [])}
    checks = []
    for e in dict.fromkeys([*ka, *kb]):
        x, y = ka.get(e), kb.get(e)
        checks.append({"expr": e, "a": None if x is None else ("pass" if x["passed"] else "fail"),
                       "b": None if y is None else ("pass" if y["passed"] else "fail"),
                       "value_a": None if x is None else x.get("left"), "value_b": None if y is None else y.get("left")})
    return {"a": {"title": a.get("report", {}).get("title"), "created": a.get("report", {}).get("created"),
                  "verdict": a.get("verdict", "none")},
            "b": {"title": b.get("report", {}).get("title"), "created": b.get("report", {}).get("created"),
                  "verdict": b.get("verdict", "none")},
            "inputs": inputs, "sections": sections, "checks": checks,
            "changed_checks": [c for c in checks if c["a"] != c["b"]],
            "n_changed_sections": sum(s["status"] != "same" for s in sections)}


def diff_text(d: dict[str, Any]) -> str:
    """A human summary of :func:`diff_snapshots`."""
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.4g}"

    lines = [f"verdict: {d['a']['verdict']} → {d['b']['verdict']}"]
    for what, i in d["inputs"].items():
        if i["changed"]:
            lines.append(f"{what}: {i['a']} ({i['fingerprint_a']}) → {i['b']} ({i['fingerprint_b']})")
    for c in d["checks"]:
        mark = "" if c["a"] == c["b"] else "  ← changed"
        lines.append(f"check {c['expr']}: {c['a'] or '–'} → {c['b'] or '–'} "
                     f"({f(c['value_a'])} → {f(c['value_b'])}){mark}")
    for s in d["sections"]:
        if s["status"] in ("added", "removed"):
            lines.append(f"section {s['id']}: {s['status']}")
            continue
        if s["status"] == "same":
            lines.append(f"section {s['id']}: unchanged")
            continue
        lines.append(f"section {s['id']} ({s['title']}):")
        lines += [f"  {x['name']}: {f(x['a'])} → {f(x['b'])}"
                  + (f" ({x['change']:+.4g})" if x["change"] is not None else "") for x in s["figures"]]
        lines += [f"  parameter {k}: {v['a']!r} → {v['b']!r}" for k, v in s["params"].items()]
        if s["charts"]:
            lines.append(f"  {len(s['charts'])} chart(s) differ: " + "; ".join(c["figure"][:50] for c in s["charts"]))
    return "\n".join(lines)
