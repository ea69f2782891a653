"""Show user-input errors as one ``st.error`` sentence instead of a traceback."""
from __future__ import annotations

from types import TracebackType

import streamlit as st

from core.foundation.errors import BackboneLensError

# core's messages are shared with the CLI; name the dashboard's controls instead of CLI flags.
_CLI_TO_UI = {
    "pass its encoding, e.g. --encoding latin-1": "set its encoding (e.g. latin-1) under \"Columns and encoding\"",
    "name one with --text-column": "name it under \"Columns and encoding\"",
    "run `python -m core demo build`": "build it with the button at the top of the Workspace page",
    "(pip install -r requirements.txt)": "(pip install -r requirements.txt, then restart the dashboard)",
}


def user_message(err: BackboneLensError) -> str:
    """The error's sentence, with CLI hints rewritten for the dashboard."""
    msg = str(err)
    for cli, ui in _CLI_TO_UI.items():
        msg = msg.replace(cli, ui)
    return msg


class user_errors:  # noqa: N801 - used like a function: ``with user_errors(): ...``
    """Context manager: a ``BackboneLensError`` inside becomes ``st.error``.

    ``stop=True`` (default) then ends the page run with ``st.stop()``; with ``stop=False``
    the error is swallowed and ``.failed`` / ``.error`` tell the caller. Other exceptions
    (bugs) propagate unchanged.
    """

    def __init__(self, *, stop: bool = True) -> None:
        self.stop = stop
        self.error: BackboneLensError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def __enter__(self) -> "user_errors":
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if isinstance(exc, BackboneLensError):
            self.error = exc
            st.error(user_message(exc), icon=":material/error:")
            if self.stop:
                st.stop()
            return True
        return False
