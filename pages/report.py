"""Report: the findings collected with "Add to report" on the other pages — reorder, annotate, add checks — the
equivalent YAML spec, and the built HTML and PDF, all without leaving the browser."""
import time
from pathlib import Path

import streamlit as st

from core.foundation.errors import BackboneLensError
from core.foundation.settings import cache_root
from ui import report_draft as rd
from ui.errors import user_message

st.title("Report")
st.caption("Every analysis page has an **Add to report** button that stores what you are looking at — the section "
           "with its exact settings — and your note. Here the findings become an audit: order them, write the "
           "summary, set pass/fail checks, then build the HTML and PDF. The YAML spec below builds the same report "
           "from the command line: `python -m reports build spec.yaml --out DIR`.")

d = rd.draft()
if not d.findings:
    st.info("The report draft is empty. Use **Add to report** on the Workspace, Projection, Saliency, Instance, "
            "Heads & attention, Layers, Topics, Compare, Adversarial or Multi-task page.",
            icon=":material/post_add:")
    st.stop()

# ------------------------------------------------------------------------------ header fields
c1, c2, c3 = st.columns([3, 2, 2], gap="medium")
title = c1.text_input("Title", d.title, key="bl.report.title")
authors = c2.text_input("Authors (comma-separated)", d.authors, key="bl.report.authors")
audience = c3.text_input("Audience", d.audience, key="bl.report.audience")
notes = st.text_area("Executive summary notes (Markdown)", d.notes, key="bl.report.notes", height=100,
                     help="Shown in the executive summary, after the checks. Markdown is sanitised: no HTML, no images.")
checks = st.text_area("Checks (one per line)", d.checks, key="bl.report.checks", height=90,
                      placeholder="accuracy >= 0.9\nprojection.q_knn_error < 0.05",
                      help="Pass/fail thresholds on the report's figures: `accuracy`, `macro_f1`, `n`, or "
                           "SECTION.FIGURE with the section ids listed below (see docs/reports.md). A failing check "
                           "makes `python -m reports build` exit with status 1.")
d = rd.Draft(title, authors, audience, notes, checks, d.model, d.dataset, d.findings, d.next_uid)
rd.save(d)
st.caption(f"Report model `{d.model}` · dataset `{d.dataset.label() if d.dataset else '–'}` (taken from the Workspace "
           "when the first finding was added).")

# ------------------------------------------------------------------------------ findings
st.subheader(f"Findings ({len(d.findings)})")
ids = rd.section_ids(d)
for i, f in enumerate(d.findings):
    with st.container(border=True):
        a, b = st.columns([6, 2], vertical_alignment="top")
        params = ", ".join(f"{k}={v}" for k, v in f.params.items() if k != "texts")
        a.markdown(f"**{i + 1}. {f.title or f.kind}** · id `{ids[i]}` · from {f.page}")
        a.caption(params or "default settings")
        if f.texts:
            a.caption(f"{len(f.texts)} selected text(s): " + " · ".join(t[:60] for t in f.texts[:3])
                      + (" …" if len(f.texts) > 3 else ""))
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
        note = a.text_area("Note", f.note, key=f"bl.report-fnote.{f.uid}", height=68, label_visibility="collapsed",
                           placeholder="Your note for this section (Markdown)")
        if note != f.note:
            rd.set_note(f.uid, note)
d = rd.draft()

# ------------------------------------------------------------------------------ spec
st.subheader("Spec")
text = rd.spec_yaml(d)
try:
    spec = rd.validated_spec(d)
    problem = None
except BackboneLensError as e:
    spec, problem = None, user_message(e)
if problem:
    st.error(problem)
left, right = st.columns([3, 1], vertical_alignment="bottom")
with left.expander("YAML spec", expanded=False):
    st.code(text, language="yaml")
right.download_button("Download spec", text.encode("utf-8"), file_name="audit.yaml", mime="application/x-yaml",
                      icon=":material/download:", width="stretch")

# ------------------------------------------------------------------------------ build
st.subheader("Build")
pdf = st.toggle("Also render the PDF", value=True, key="bl.report.pdf")
if st.button("Build the report", type="primary", disabled=spec is None, key="bl.report-build",
             icon=":material/description:"):
    out = cache_root() / "reports" / time.strftime("%Y%m%d-%H%M%S")
    bar = st.progress(0.0, text="Starting…")
    done = {"n": 0}
    total = len(spec.sections) + 2

    def progress(step: str, frac: float, msg: str) -> None:
        if frac >= 1.0 or frac == 0.0:
            done["n"] += 0.5
        bar.progress(min(done["n"] / total, 1.0), text=msg[:1].upper() + msg[1:])

    from reports.snapshot import build_report

    t0 = time.perf_counter()
    try:
        paths = build_report(spec, out, pdf=pdf, progress=progress)
    except BackboneLensError as e:
        bar.empty()
        st.error(user_message(e))
        st.stop()
    bar.empty()
    st.session_state["bl.report.built"] = (str(paths.out_dir), time.perf_counter() - t0)

built = st.session_state.get("bl.report.built")
if built:
    from reports.snapshot import load_snapshot

    out, seconds = Path(built[0]), built[1]
    try:
        snap = load_snapshot(out)
    except BackboneLensError as e:
        st.error(user_message(e))
        st.stop()
    verdict = snap.get("verdict", "none")
    checks_out = snap.get("checks") or []
    failed = [c for c in checks_out if not c["passed"]]
    msg = f"Built in {seconds:.0f} s into `{out}`."
    if verdict == "fail":
        st.error(f"{msg} **FAIL**: {len(failed)} of {len(checks_out)} checks fail — "
                 + "; ".join(f"`{c['expr']}` ({c['reason']})" for c in failed))
    elif verdict == "pass":
        st.success(f"{msg} **PASS**: all {len(checks_out)} checks hold.")
    else:
        st.success(msg)
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
