"""Backbone Lens dashboard: ``streamlit run app.py``.

Pages live in ``pages/``; add one by appending an ``st.Page`` line to ``PAGES``.
"""
import streamlit as st

from core.foundation.settings import use_analysis_threads

st.set_page_config(page_title="Backbone Lens", layout="wide")
use_analysis_threads()  # torch threads for the cores other processes leave free (re-measured every 30 s)

PAGES = [
    st.Page("pages/workspace.py", title="Workspace", icon=":material/dashboard:", default=True),
    st.Page("pages/projection.py", title="Projection", icon=":material/scatter_plot:"),
    st.Page("pages/saliency.py", title="Saliency", icon=":material/highlight:"),
    st.Page("pages/instance.py", title="Instance", icon=":material/biotech:"),
    st.Page("pages/heads.py", title="Heads & attention", icon=":material/grid_view:"),
    st.Page("pages/layers.py", title="Layers", icon=":material/layers:"),
    st.Page("pages/topics.py", title="Topics", icon=":material/category:"),
    st.Page("pages/corpus.py", title="Corpus", icon=":material/dataset:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/adversarial.py", title="Adversarial", icon=":material/bug_report:"),
    st.Page("pages/multitask.py", title="Multi-task", icon=":material/hub:"),
    st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
]

st.navigation(PAGES).run()
