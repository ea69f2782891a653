"""Report: the findings collected with "Add to report" on the other pages — reorder, annotate, add checks — the
equivalent YAML spec, and the built HTML and PDF, all without leaving the browser."""
from dataclasses import replace

import streamlit as st

from core.foundation.errors import BackboneLensError
from ui import report_draft as rd
from ui.errors import user_message
from ui.views import report as views

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
rd.save(replace(d, title=title, authors=authors, audience=audience, notes=notes))
d = rd.draft()
st.caption(f"Report model `{d.model}` · dataset `{d.dataset.label() if d.dataset else '–'}` (taken from the Workspace "
           "when the first finding was added).")

# ------------------------------------------------------------------------------ findings
st.subheader(f"Findings ({len(d.findings)})")
views.findings(d)
d = rd.draft()

# ------------------------------------------------------------------------------ checks
st.subheader("Checks")
st.caption("Pass/fail thresholds on the figures the report computes. A failing check marks the report FAIL and makes "
           "`python -m reports build` exit with status 1.")
checks_ok = views.checks(d)
d = rd.draft()

# ------------------------------------------------------------------------------ spec
st.subheader("Spec")
text = rd.spec_yaml(d)
spec = None
try:
    spec = rd.validated_spec(d) if checks_ok else None
except BackboneLensError as e:
    st.error(user_message(e), icon=":material/error:")
if not checks_ok:
    st.caption("Fix or remove the checks marked above to build the report.")
left, right = st.columns([3, 1], vertical_alignment="bottom")
with left.expander("YAML spec", expanded=False):
    st.code(text, language="yaml")
right.download_button("Download spec", text.encode("utf-8"), file_name="audit.yaml", mime="application/x-yaml",
                      icon=":material/download:", width="stretch")

# ------------------------------------------------------------------------------ build
st.subheader("Build")
views.build(spec, text)
views.built(text)
