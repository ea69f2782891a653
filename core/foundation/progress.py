"""The one progress protocol of Backbone Lens.

Every long step reports ``progress(stage, fraction, message)``: ``stage`` is a short machine name
("embeddings", "distances", "finetune" …), ``fraction`` the share of *that stage* done (0 … 1) and
``message`` one human line ("1,200/4,000 texts", "step 40/250: loss 0.412"). The CLI draws it as a bar
on stderr, the dashboard as ``st.progress`` (``ui.progress.StreamlitProgress``), reports as status lines.

Helpers:

* :func:`silent` – the no-op a function falls back to when no progress is given;
* :class:`Counter` – turns a loop's ``(done, total)`` into progress calls of one stage;
* :func:`scaled` – one stage of a larger job: fractions mapped into ``[low, high]``.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """``progress(stage, fraction, message)``; see the module docstring."""

    def __call__(self, stage: str, fraction: float, message: str = "") -> None: ...


def silent(stage: str, fraction: float, message: str = "") -> None:  # noqa: ARG001
    """A progress callback that shows nothing."""
    return None


def or_silent(progress: Progress | None) -> Progress:
    """``progress`` itself, or :func:`silent` when None."""
    return progress if progress is not None else silent


class Counter:
    """``(done, total)`` steps of one stage, reported as ``progress(stage, done / total, "done/total unit")``.

    ``counter(done, total)`` and ``counter.advance(k)`` both work; a counter over ``None`` does nothing.
    """

    def __init__(self, progress: Progress | None, stage: str, total: int = 0, unit: str = "") -> None:
        self.progress, self.stage, self.total, self.unit = progress, stage, int(total), unit
        self.done = 0

    def message(self, done: int, total: int) -> str:
        return f"{done:,}/{total:,}" + (f" {self.unit}" if self.unit else "")

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = int(done)
        if total is not None:
            self.total = int(total)
        if self.progress is not None:
            tot = max(self.total, 1)
            self.progress(self.stage, min(1.0, self.done / tot), self.message(self.done, self.total))

    def advance(self, k: int = 1) -> None:
        self(self.done + k)


def scaled(progress: Progress | None, low: float, high: float, *, stage: str | None = None) -> Progress | None:
    """Progress of a sub-job mapped into ``[low, high]`` of the caller's fraction (stage renamed if given)."""
    if progress is None:
        return None

    def sub(st: str, fraction: float, message: str = "") -> None:
        f = min(1.0, max(0.0, float(fraction)))
        progress(stage or st, low + (high - low) * f, message)
    return sub


__all__ = ["Counter", "Progress", "or_silent", "scaled", "silent"]
