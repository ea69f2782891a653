"""User-facing errors.

Every problem caused by the user's input (a missing file, an unknown column, a bad
parameter) is raised as :class:`BackboneLensError` with one sentence that names the
problem. The CLI prints it and exits non-zero; the dashboard shows it with ``st.error``.
"""
from __future__ import annotations


class BackboneLensError(Exception):
    """An error whose message is meant for the user, not a traceback."""


class DatasetError(BackboneLensError):
    """The dataset reference, file or columns are not usable."""


class ModelError(BackboneLensError):
    """The model reference cannot be loaded or used as asked."""


class SpecError(BackboneLensError):
    """A report spec is invalid."""
