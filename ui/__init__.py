"""Streamlit glue of the Backbone Lens dashboard (the analysis itself lives in ``core``).

* ``ui.state``   – session-state keys shared by all pages (selected model ref, dataset choice);
* ``ui.cached``  – the only place pages get results from: cached model loading, dataset
  loading and analyses, keyed by references and parameters, never by objects;
* ``ui.widgets`` – pickers and panels that read and write ``ui.state``;
* ``ui.tables``  – presentation helpers (result → DataFrame / formatted strings);
* ``ui.errors``  – ``user_errors()`` turns a ``BackboneLensError`` into one ``st.error``.
"""
