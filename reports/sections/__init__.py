"""The one registry of report section kinds.

A section kind is registered with :func:`register`::

    @register("overview", title="Overview", params=[Param("normalize", "bool", True, "...")])
    def compute(ctx: ReportContext, params: dict) -> dict: ...

``compute`` returns a JSON-serialisable snapshot fragment (charts as SVG strings made by
:func:`reports.sections.figure`); the template ``sections/<kind>.html.j2`` renders it from
``section.data``. Declared params drive spec validation (types, defaults, "did you mean").
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from reports.snapshot import ReportContext

ComputeFn = Callable[["ReportContext", dict], dict]

_TYPE_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a text",
               "choice": "one of", "str_list": "a list of texts", "float_list": "a non-empty list of numbers",
               "int_list": "a non-empty list of whole numbers"}


class ParamError(ValueError):
    """A parameter value that does not fit; ``index`` names the offending list item, if any."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Param:
    """A declared section parameter: ``type`` is bool, int, float, str, choice, str_list, float_list or int_list.

    ``minimum``/``maximum`` bound int and float values and every item of a float_list or int_list (which
    come back sorted, without duplicates). A parameter whose default is None also accepts null.

    A str_list with ``choices`` (or ``vocabulary``, a function returning the valid items, called only
    when a value is checked, e.g. a registry that is costly to import) accepts only those items and
    comes back without duplicates, in the given order; ``item`` names one item in messages
    ("saliency method"); ``nonempty`` refuses an empty list and ``min_items`` a shorter one. An int_list
    with ``choices`` also accepts each of those words instead of a list (e.g. ``all``). A str with
    ``vocabulary`` accepts only one of its items (e.g. one saliency method).
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    vocabulary: Callable[[], Sequence[str]] | None = None
    item: str = ""
    nonempty: bool = False
    min_items: int = 0

    def expected(self) -> str:
        if self.type == "choice":
            return "one of: " + ", ".join(self.choices)
        if self.type == "str" and self.vocabulary:
            return f"a {self.item or 'name'}: one of the registered names"
        if self.type == "str_list" and self.min_items > 1 and not (self.choices or self.vocabulary):
            return f"a list of at least {self.min_items} {self.item or 'text'}s"
        if self.type == "str_list" and (self.choices or self.vocabulary):
            what = self.item or "item"
            listed = ", ".join(self.choices) if self.choices else f"{what} names"
            return f"a {'non-empty ' if self.nonempty else ''}list of {listed}"
        word = _TYPE_WORDS.get(self.type, self.type)
        if self.type == "str_list" and self.nonempty:
            word = "a non-empty list of texts"
        if self.minimum is not None and self.maximum is not None:
            word = f"{word} from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            word = f"{word} ≥ {self.minimum:g}"
        if self.type == "int_list" and self.choices:
            word += " or one of: " + ", ".join(self.choices)
        return word

    def valid_items(self) -> tuple[str, ...]:
        """The items a str_list accepts (empty: any text)."""
        return tuple(self.choices) if self.choices else tuple(self.vocabulary()) if self.vocabulary else ()

    def coerce(self, value: Any) -> Any:
        """The validated value; raises :class:`ParamError` (a ValueError: what was expected) otherwise."""
        t = self.type
        ok = True
        if value is None and self.default is None:
            return None
        if t == "float_list":
            return self._coerce_floats(value)
        if t == "int_list":
            if isinstance(value, str) and value in self.choices:
                return value
            return self._coerce_ints(value)
        if t == "str_list":
            return self._coerce_strs(value)
        if t == "bool":
            ok = isinstance(value, bool)
        elif t == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
            value = float(value) if ok else value
        elif t == "str":
            ok = isinstance(value, str) and bool(value.strip())
        elif t == "choice":
            ok = isinstance(value, str) and value in self.choices
        if ok and t in ("int", "float"):
            if self.minimum is not None and value < self.minimum:
                ok = False
            if self.maximum is not None and value > self.maximum:
                ok = False
        if not ok:
            hint = ""
            if t == "choice" and isinstance(value, str):
                close = difflib.get_close_matches(value, self.choices, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ParamError(f"expected {self.expected()}, got {_show(value)}{hint}")
        if t == "str" and self.vocabulary:
            valid = tuple(self.vocabulary())
            if value not in valid:
                close = difflib.get_close_matches(value, valid, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ParamError(f"unknown {self.item or 'name'} {value!r}{hint}; expected one of: {', '.join(valid)}")
        return value

    def _coerce_strs(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or (self.nonempty and not value):
            raise ParamError(f"expected {self.expected()}, got {_show(value) if value != [] else 'an empty list'}")
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise ParamError(f"expected a text, got {_show(v)} (item {i + 1} of the list)", index=i)
        if len(value) < self.min_items:
            raise ParamError(f"expected {self.expected()}, got {len(value)}")
        valid = self.valid_items()
        if not valid:
            return tuple(value)
        for i, v in enumerate(value):
            if v not in valid:
                close = difflib.get_close_matches(v, valid, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ParamError(f"unknown {self.item or 'item'} {v!r}{hint}; expected one of: {', '.join(valid)} "
                                 f"(item {i + 1} of the list)", index=i)
        return tuple(dict.fromkeys(value))

    def _coerce_ints(self, value: Any) -> tuple[int, ...]:
        return tuple(int(v) for v in self._coerce_numbers(value, "int"))

    def _coerce_floats(self, value: Any) -> tuple[float, ...]:
        return tuple(float(v) for v in self._coerce_numbers(value, "float"))

    def _coerce_numbers(self, value: Any, kind: str) -> list[Any]:
        """A non-empty list whose items each pass as ``kind`` within the bounds; sorted, duplicates dropped."""
        if not isinstance(value, list) or not value:
            raise ParamError(f"expected {self.expected()}, got {_show(value) if value != [] else 'an empty list'}")
        item = Param(self.name, kind, 0, minimum=self.minimum, maximum=self.maximum)  # no null items
        for i, v in enumerate(value):
            try:
                item.coerce(v)
            except ParamError as e:
                raise ParamError(f"{e} (item {i + 1} of the list)", index=i) from None
        return sorted({int(v) if kind == "int" else float(v) for v in value})


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)


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
    """A snapshot figure: ``{"svg", "caption", "alt"}`` with the SVG rendered by ``core.figures.to_svg``."""
    from core.figures import to_svg

    return {"svg": to_svg(chart), "caption": caption, "alt": alt or caption}


# Section modules register themselves on import; keep this list in display order of the docs.
from reports.sections import overview as _overview  # noqa: E402,F401
from reports.sections import projection as _projection  # noqa: E402,F401
from reports.sections import saliency as _saliency  # noqa: E402,F401
from reports.sections import faithfulness as _faithfulness  # noqa: E402,F401
from reports.sections import instance as _instance  # noqa: E402,F401
from reports.sections import layers as _layers  # noqa: E402,F401
from reports.sections import heads as _heads  # noqa: E402,F401
from reports.sections import attention as _attention  # noqa: E402,F401
from reports.sections import topics as _topics  # noqa: E402,F401
from reports.sections import comparison as _comparison  # noqa: E402,F401
from reports.sections import adversarial as _adversarial  # noqa: E402,F401
from reports.sections import multitask as _multitask  # noqa: E402,F401
