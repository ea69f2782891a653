"""The Report page's panels: the findings (in words), the checks (a picker over the figures the draft's sections
publish, each check validated where it is listed), and the last build with every check's value, threshold and
result."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.foundation.errors import BackboneLensError
from ui import report_draft as rd
from ui.errors import user_message

BUILT_KEY = "bl.report.built"  # (output folder, seconds, the spec it was built from)
OPS = (">=", ">", "<=", "<", "==", "!=")


def findings(d: rd.Draft) -> None:
    """One box per finding: its section in words, where it came from, its settings, its texts, the note, and
    buttons to move or remove it."""
    ids = rd.section_ids(d)
    for i, f in enumerate(d.findings):
        with st.container(border=True):
            a, b = st.columns([6, 2], vertical_alignment="top")
            origin = f.page + (f" ({f.view})" if f.view else "")
            a.markdown(f"**{i + 1}. {f.title or rd.kind_title(f.kind)}** · from the {origin} page · "
                       f"id `{ids[i]}`")
            a.caption(rd.describe_params(f.params) or "default settings")
            if f.texts:
                a.caption(f"{len(f.texts)} selected text{'s' if len(f.texts) != 1 else ''}: "
                          + " · ".join(t[:60] for t in f.texts[:3]) + (" …" if len(f.texts) > 3 else ""))
            up, down, rm = b.columns(3)
            if up.button("", key=f"bl.report-up.{f.uid}", icon=":material/arrow_upward:", disabled=i == 0,
                         help="Move up"):
                rd.move(f.uid, -1)
                st.rerun()
            if down.button("", key=f"bl.report-down.{f.uid}", icon=":material/arrow_downward:",
                           disabled=i == len(d.findings) - 1, help="Move down"):
                rd.move(f.uid, 1)
                st.rerun()
            if rm.button("", key=f"bl.report-rm.{f.uid}", icon=":material/delete:", help="Remove this finding"):
                rd.remove(f.uid)
                st.rerun()
            note = a.text_area("Note", f.note, key=f"bl.report-fnote.{f.uid}", height=68,
                               label_visibility="collapsed", placeholder="Your note for this section (Markdown)")
            if note != f.note:
                rd.set_note(f.uid, note)


def checks(d: rd.Draft) -> bool:
    """The draft's checks, each with its own verdict on validity (and a remove button), then a picker that adds a
    check on one of the figures the sections publish. Returns True when every check is valid."""
    lines = rd.check_lines(d)
    ok = True
    if not lines:
        st.caption("No checks yet: without checks the report states its figures but passes no verdict.")
    for j, expr in enumerate(lines):
        c1, c2 = st.columns([10, 1], vertical_alignment="center")
        problem = rd.check_problem(expr, d)
        if problem:
            ok = False
            c1.error(f"`{expr}` — {problem}", icon=":material/error:")
        else:
            c1.markdown(f":material/rule: `{expr}`")
        if c2.button("", key=f"bl.report-check-rm.{j}", icon=":material/delete:", help="Remove this check"):
            rd.set_checks([x for k, x in enumerate(lines) if k != j])
            st.rerun()
    options = rd.check_options(d)
    names = [n for n, _ in options]
    words = dict(options)
    p1, p2, p3, p4 = st.columns([5, 1.2, 1.6, 1.4], vertical_alignment="bottom")
    name = p1.selectbox("Figure", names, key="bl.report.check-figure", format_func=lambda n: f"{words[n]}  ({n})",
                        help="Every figure the draft's sections publish, under the name a check uses (section id, "
                             "then figure). Shares such as accuracy are numbers from 0 to 1.")
    op = p2.selectbox("Is", OPS, key="bl.report.check-op")
    threshold = p3.number_input("Threshold", key="bl.report.check-value", value=0.9, step=0.01, format="%.4g")
    if p4.button("Add check", key="bl.report-check-add", icon=":material/add:", width="stretch"):
        expr = f"{name} {op} {threshold:g}"
        problem = rd.check_problem(expr, d)
        if problem:
            st.error(problem, icon=":material/error:")
        elif expr not in lines:
            rd.set_checks([*lines, expr])
            st.rerun()
    return ok


def build(spec: Any, spec_text: str) -> None:
    """The build button (the HTML, and the PDF when asked), with a progress bar; a failed build is one message."""
    from core.foundation.settings import cache_root
    from reports.snapshot import build_report

    pdf = st.toggle("Also render the PDF", value=True, key="bl.report.pdf")
    if not st.button("Build the report", type="primary", disabled=spec is None, key="bl.report-build",
                     icon=":material/description:"):
        return
    out = cache_root() / "reports" / time.strftime("%Y%m%d-%H%M%S")
    bar = st.progress(0.0, text="Starting…")
    done = {"n": 0.0}
    total = len(spec.sections) + 2

    def progress(step: str, frac: float, msg: str) -> None:
        if frac >= 1.0 or frac == 0.0:
            done["n"] += 0.5
        bar.progress(min(done["n"] / total, 1.0), text=msg[:1].upper() + msg[1:])

    t0 = time.perf_counter()
    try:
        paths = build_report(spec, out, pdf=pdf, progress=progress)
    except BackboneLensError as e:
        bar.empty()
        st.error(user_message(e), icon=":material/error:")
        return
    bar.empty()
    st.session_state[BUILT_KEY] = (str(paths.out_dir), time.perf_counter() - t0, spec_text)


def check_table(results: list[dict]) -> pd.DataFrame:
    """One row per check: the check, the figure's value, the threshold, the result and, for a failure, why."""
    from reports.render import fmt_figure

    return pd.DataFrame([{"check": r.get("name") or r["expr"], "value": fmt_figure(r["left"]),
                          "threshold": f"{r['op']} {fmt_figure(r['right'])}",
                          "result": "✓ pass" if r["passed"] else "✗ fail",
                          "why": "" if r["passed"] else r.get("reason", "")} for r in results])


def built(spec_text: str) -> None:
    """The last build: the verdict with every check's value, threshold and result, and the downloads. A build of
    an earlier version of the draft says so instead of passing for the current one."""
    from reports.snapshot import load_snapshot

    last = st.session_state.get(BUILT_KEY)
    if not last:
        return
    out, seconds = Path(last[0]), last[1]
    if len(last) < 3 or last[2] != spec_text:
        st.info(f"The draft changed since the last build (`{out}`): build again to see its verdict.",
                icon=":material/history:")
        return
    try:
        snap = load_snapshot(out)
    except BackboneLensError as e:
        st.error(user_message(e), icon=":material/error:")
        return
    verdict = snap.get("verdict", "none")
    results = snap.get("checks") or []
    failed = [c for c in results if not c["passed"]]
    msg = f"Built in {seconds:.0f} s into `{out}`."
    if verdict == "fail":
        st.error(f"{msg} **FAIL**: {len(failed)} of {len(results)} checks fail.", icon=":material/cancel:")
    elif verdict == "pass":
        st.success(f"{msg} **PASS**: {'the check holds' if len(results) == 1 else f'all {len(results)} checks hold'}.",
                   icon=":material/check_circle:")
    else:
        st.success(msg + " The spec sets no checks.", icon=":material/check_circle:")
    if results:
        st.dataframe(check_table(results), hide_index=True, width="stretch", column_config={
            "check": st.column_config.TextColumn("Check", width="medium"),
            "value": st.column_config.TextColumn("Value", width="small"),
            "threshold": st.column_config.TextColumn("Threshold", width="small"),
            "result": st.column_config.TextColumn("Result", width="small"),
            "why": st.column_config.TextColumn("Why it fails", width="medium")})
    b1, b2, b3 = st.columns(3)
    b1.download_button("Download HTML", (out / "report.html").read_bytes(), file_name="report.html",
                       mime="text/html", icon=":material/html:", width="stretch", key="bl.report-dl.html")
    if (out / "report.pdf").exists():
        b2.download_button("Download PDF", (out / "report.pdf").read_bytes(), file_name="report.pdf",
                           mime="application/pdf", icon=":material/picture_as_pdf:", width="stretch",
                           key="bl.report-dl.pdf")
    b3.download_button("Download snapshot", (out / "snapshot.json").read_bytes(), file_name="snapshot.json",
                       mime="application/json", icon=":material/data_object:", width="stretch",
                       key="bl.report-dl.snap")
