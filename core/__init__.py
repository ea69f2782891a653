"""Backbone Lens core: the analysis library (never imports streamlit)."""
__version__ = "0.1.0"
