"""The one registry of report section kinds.

A section kind is registered with :func:`register`::

    @register("overview", title="Overview", params=[Param("normalize", "bool", True, "...")])
    def compute(ctx: ReportContext, params: dict) -> dict: ...

``compute`` returns a JSON-serialisable snapshot fragment (charts as SVG strings made by
:func:`figure`); the template ``sections/<kind>.html.j2`` renders it from ``section.data``. Declared
params (:class:`core.foundation.params.Param`, the one parameter type of Backbone Lens) drive spec
validation (types, defaults, "did you mean"), the JSON Schema and the dashboard's findings.
Section modules import this module, never each other; :mod:`reports.sections` imports them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.foundation.params import Param, ParamError

if TYPE_CHECKING:  # pragma: no cover
    from reports.context import ReportContext

ComputeFn = Callable[["ReportContext", dict], dict]


@dataclass(frozen=True)
class SectionKind:
    """A registered section kind: how to compute its snapshot fragment and which template renders it."""

    name: str
    title: str
    compute: ComputeFn
    params: tuple[Param, ...] = ()
    description: str = ""
    template: str = ""
    needs: tuple[str, ...] = field(default=("model", "dataset"))

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


SECTIONS: dict[str, SectionKind] = {}


def register(name: str, *, title: str, params: Sequence[Param] = (), description: str = "",
             template: str | None = None) -> Callable[[ComputeFn], ComputeFn]:
    """Register ``compute`` as section kind ``name`` (template ``sections/<name>.html.j2`` by default)."""
    def deco(fn: ComputeFn) -> ComputeFn:
        if name in SECTIONS:
            raise ValueError(f"section kind {name!r} registered twice")
        SECTIONS[name] = SectionKind(name=name, title=title, compute=fn, params=tuple(params),
                                     description=description or (fn.__doc__ or "").strip().splitlines()[0],
                                     template=template or f"sections/{name}.html.j2")
        return fn
    return deco


def section_kinds() -> tuple[str, ...]:
    return tuple(SECTIONS)


def get_section(name: str) -> SectionKind:
    try:
        return SECTIONS[name]
    except KeyError:
        raise KeyError(f"unknown section kind {name!r}; registered: {', '.join(SECTIONS)}") from None


def figure(chart: Any, *, caption: str, alt: str = "") -> dict[str, str]:
    """A snapshot figure: ``{"svg", "caption", "alt"}`` with the SVG rendered by ``figures.style.to_svg``."""
    from figures.style import to_svg

    return {"svg": to_svg(chart), "caption": caption, "alt": alt or caption}


__all__ = ["ComputeFn", "Param", "ParamError", "SECTIONS", "SectionKind", "figure", "get_section", "register",
           "section_kinds"]
