"""The one registry of report section kinds.

A section kind is registered with :func:`register`::

    @register("overview", title="Overview", params=[Param("normalize", "bool", True, "...")])
    def compute(ctx: ReportContext, params: OverviewParams) -> dict: ...

``params`` is a typed parameter object: a frozen :class:`~core.foundation.params.Params` dataclass whose
fields are declared once with :func:`~core.foundation.params.param` (defaults, ranges, help); a kind may
still declare a plain list of :class:`Param` and then receives a dict.

``compute`` returns a JSON-serialisable snapshot fragment (charts as SVG strings made by
:func:`figure`); the template ``sections/<kind>.html.j2`` renders it from ``section.data``. Declared
params (:class:`core.foundation.params.Param`, the one parameter type of Backbone Lens) drive spec
validation (types, defaults, "did you mean"), the JSON Schema and the dashboard's findings.
Section modules import this module, never each other; :mod:`reports.sections` imports them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.foundation.params import Param, ParamError, Params
from core.foundation.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from reports.context import ReportContext

ComputeFn = Callable[["ReportContext", Any], dict]


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
    params_type: type[Params] | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def typed(self, values: dict[str, Any]) -> Any:
        """The parameter object ``compute`` receives for validated ``values`` (a dict for list-declared kinds)."""
        return self.params_type.build(values) if self.params_type is not None else dict(values)


SECTIONS: Registry[SectionKind] = Registry("section kind", error=KeyError)


def register(name: str, *, title: str, params: type[Params] | Sequence[Param] = (), description: str = "",
             template: str | None = None) -> Callable[[ComputeFn], ComputeFn]:
    """Register ``compute`` as section kind ``name`` (template ``sections/<name>.html.j2`` by default)."""
    def deco(fn: ComputeFn) -> ComputeFn:
        typed = isinstance(params, type) and issubclass(params, Params)
        declared = params.declared() if typed else tuple(params)  # type: ignore[union-attr]
        SECTIONS.add(name, SectionKind(name=name, title=title, compute=fn, params=declared,
                                       description=description or (fn.__doc__ or "").strip().splitlines()[0],
                                       template=template or f"sections/{name}.html.j2",
                                       params_type=params if typed else None), title=title)  # type: ignore[arg-type]
        return fn
    return deco


def section_kinds() -> tuple[str, ...]:
    return tuple(SECTIONS)


def get_section(name: str) -> SectionKind:
    return SECTIONS.get(name)


def figure(chart: Any, *, caption: str, alt: str = "") -> dict[str, str]:
    """A snapshot figure: ``{"svg", "caption", "alt"}`` with the SVG rendered by ``figures.style.to_svg``."""
    from figures.style import to_svg

    return {"svg": to_svg(chart), "caption": caption, "alt": alt or caption}


__all__ = ["ComputeFn", "Param", "ParamError", "SECTIONS", "SectionKind", "figure", "get_section", "register",
           "section_kinds"]
