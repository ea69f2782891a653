"""The one parameter declaration of Backbone Lens.

A :class:`Param` declares one parameter — name, type, default, range or choices, help — and validates
values against it. The same declaration serves every place a parameter appears: a saliency method's
options, a report section's spec keys (validation, JSON Schema, "did you mean"), the dashboard's widgets
and "Add to report" findings, and the CLI's ``--param name=value`` strings.

Typed parameter objects are frozen dataclasses deriving from :class:`Params` whose fields are declared
with :func:`param`; ``MyParams.declared()`` lists their ``Param``s, ``MyParams.build(raw)`` validates a
mapping and fills the defaults, so defaults live in exactly one place::

    @dataclass(frozen=True)
    class ProjectionParams(Params):
        lam: float = param(0.8, "λ: weight of the discriminative distance", minimum=0, maximum=1)
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

TYPES = ("bool", "int", "float", "str", "choice", "str_list", "float_list", "int_list")
_TYPE_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a text",
               "choice": "one of", "str_list": "a list of texts", "float_list": "a non-empty list of numbers",
               "int_list": "a non-empty list of whole numbers"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ParamError(ValueError):
    """A value that does not fit its declaration; ``index`` names the offending list item, ``name`` the
    parameter (when known)."""

    def __init__(self, message: str, index: int | None = None, name: str | None = None, *,
                 out_of_range: bool = False, value: Any = None) -> None:
        super().__init__(message)
        self.index = index
        self.name = name
        self.out_of_range = out_of_range
        self.value = value


@dataclass(frozen=True)
class Param:
    """A declared parameter: ``type`` is bool, int, float, str, choice, str_list, float_list or int_list.

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
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    vocabulary: Callable[[], Sequence[str]] | None = None
    item: str = ""
    nonempty: bool = False
    min_items: int = 0

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"parameter {self.name!r}: unknown type {self.type!r}")

    # ------------------------------------------------------------------ words
    def expected(self) -> str:
        """What a valid value looks like, in words ("a whole number from 1 to 1000")."""
        if self.type == "choice":
            return "one of: " + ", ".join(map(str, self.choices))
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
        elif self.maximum is not None:
            word = f"{word} ≤ {self.maximum:g}"
        if self.type == "int_list" and self.choices:
            word += " or one of: " + ", ".join(self.choices)
        return word

    def valid_items(self) -> tuple[str, ...]:
        """The items a str_list (or a str with a vocabulary) accepts (empty: any text)."""
        return tuple(self.choices) if self.choices else tuple(self.vocabulary()) if self.vocabulary else ()

    # ------------------------------------------------------------------ values
    def coerce(self, value: Any, *, lenient: bool = False) -> Any:
        """The validated value; raises :class:`ParamError` (a ValueError saying what was expected) otherwise.

        Strict by default (a spec's YAML values are typed); ``lenient`` also takes the strings of a command
        line or a form (``"20"``, ``"true"``, ``"0.2,0.4"``) and whole floats for ints.
        """
        if lenient:
            value = self._loosen(value)
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
            ok = value in self.choices
        if ok and t in ("int", "float") and ((self.minimum is not None and value < self.minimum)
                                             or (self.maximum is not None and value > self.maximum)):
            raise ParamError(f"expected {self.expected()}, got {show_value(value)}", name=self.name, out_of_range=True,
                             value=value)
        if not ok:
            hint = ""
            if t == "choice" and isinstance(value, str):
                hint = _did_you_mean(value, [str(c) for c in self.choices])
            raise ParamError(f"expected {self.expected()}, got {show_value(value)}{hint}", name=self.name)
        if t == "str" and self.vocabulary:
            valid = tuple(self.vocabulary())
            if value not in valid:
                raise ParamError(f"unknown {self.item or 'name'} {value!r}{_did_you_mean(value, valid)}; expected one "
                                 f"of: {', '.join(valid)}", name=self.name)
        return value

    def range_text(self) -> str:
        """"between 1 and 1000" (−∞ / ∞ for an open end)."""
        lo = "-∞" if self.minimum is None else f"{self.minimum:g}"
        hi = "∞" if self.maximum is None else f"{self.maximum:g}"
        return f"between {lo} and {hi}"

    def parse(self, text: str) -> Any:
        """A value typed as text (a command line's ``name=value``), validated."""
        return self.coerce(text, lenient=True)

    def _loosen(self, value: Any) -> Any:
        t = self.type
        if isinstance(value, tuple):
            value = list(value)
        if t == "int" and isinstance(value, float) and value == value and value == int(value):
            return int(value)
        if not isinstance(value, str):
            return value
        s = value.strip()
        if s.lower() in ("none", "null") and self.default is None:
            return None
        if t == "bool":
            return True if s.lower() in _TRUE else False if s.lower() in _FALSE else value
        if t in ("int", "float"):
            try:
                f = float(s)
            except ValueError:
                return value
            if t == "int":
                return int(f) if f == int(f) else f
            return f
        if t in ("str_list", "float_list", "int_list"):
            if t == "int_list" and s in self.choices:
                return s
            items = [x.strip() for x in s.split(",") if x.strip()]
            if t == "str_list":
                return items
            item = Param(self.name, t[:-5], 0)
            return [item._loosen(x) for x in items]
        if t == "choice" and s not in self.choices:  # a choice of numbers typed as text
            for c in self.choices:
                if str(c) == s:
                    return c
        return value

    def _coerce_strs(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or (self.nonempty and not value):
            raise ParamError(f"expected {self.expected()}, got {show_value(value) if value != [] else 'an empty list'}",
                             name=self.name)
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise ParamError(f"expected a text, got {show_value(v)} (item {i + 1} of the list)", index=i,
                                 name=self.name)
        if len(value) < self.min_items:
            raise ParamError(f"expected {self.expected()}, got {len(value)}", name=self.name)
        valid = self.valid_items()
        if not valid:
            return tuple(value)
        for i, v in enumerate(value):
            if v not in valid:
                raise ParamError(f"unknown {self.item or 'item'} {v!r}{_did_you_mean(v, valid)}; expected one of: "
                                 f"{', '.join(valid)} (item {i + 1} of the list)", index=i, name=self.name)
        return tuple(dict.fromkeys(value))

    def _coerce_ints(self, value: Any) -> tuple[int, ...]:
        return tuple(int(v) for v in self._coerce_numbers(value, "int"))

    def _coerce_floats(self, value: Any) -> tuple[float, ...]:
        return tuple(float(v) for v in self._coerce_numbers(value, "float"))

    def _coerce_numbers(self, value: Any, kind: str) -> list[Any]:
        """A non-empty list whose items each pass as ``kind`` within the bounds; sorted, duplicates dropped."""
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not value:
            raise ParamError(f"expected {self.expected()}, got {show_value(value) if value != [] else 'an empty list'}",
                             name=self.name)
        item = Param(self.name, kind, 0, minimum=self.minimum, maximum=self.maximum)  # no null items
        for i, v in enumerate(value):
            try:
                item.coerce(v)
            except ParamError as e:
                raise ParamError(f"{e} (item {i + 1} of the list)", index=i, name=self.name) from None
        return sorted({int(v) if kind == "int" else float(v) for v in value})

    def json_default(self) -> Any:
        """The default as JSON (tuples as lists)."""
        return list(self.default) if isinstance(self.default, tuple) else self.default


def show_value(value: Any) -> str:
    """A value as a message shows it: true/false, nothing (null), a mapping, a list, or its repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)


def _did_you_mean(value: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_message(name: str, known: Sequence[str], *, what: str = "parameter") -> str:
    """"has no parameter 'x' (did you mean 'y'?); its parameters are: …" (the tail of a message)."""
    hint = difflib.get_close_matches(name, list(known), n=1)
    return (f"has no {what} '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            + (f"; its {what}s are: {', '.join(sorted(known))}." if known else "; it takes none."))


# ----------------------------------------------------------------------------- typed parameter objects

_PARAM = "backbone_lens.param"
_INFER = {bool: "bool", int: "int", float: "float", str: "str"}


def param(default: Any, help: str = "", *, type: str | None = None, **kw: Any) -> Any:  # noqa: A002
    """Declare a field of a :class:`Params` dataclass (the field's name becomes the parameter's name).

    ``type`` is inferred from the default (bool, int, float, str, a tuple of str → str_list) unless given.
    """
    if type is None:
        if isinstance(default, tuple):
            type = "str_list" if all(isinstance(x, str) for x in default) else \
                "int_list" if all(isinstance(x, int) for x in default) else "float_list"
        elif default.__class__ in _INFER:
            type = _INFER[default.__class__]
        else:
            raise TypeError(f"param(): give type= for a default of {default!r}")
    if "choices" in kw and type != "choice" and type not in ("str_list", "int_list"):
        raise TypeError("param(): choices need type='choice', 'str_list' or 'int_list'")
    return field(default=default, metadata={_PARAM: {"type": type, "help": help, **kw}})


P = TypeVar("P", bound="Params")


class Params:
    """Base of typed parameter objects: frozen dataclasses whose fields are declared with :func:`param`."""

    _declared: ClassVar[dict[type, tuple[Param, ...]]] = {}

    @classmethod
    def declared(cls) -> tuple[Param, ...]:
        """The :class:`Param` of every field, in field order."""
        if cls not in Params._declared:
            out = []
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                meta = f.metadata.get(_PARAM)
                if meta is None:
                    raise TypeError(f"{cls.__name__}.{f.name} is not declared with param()")
                out.append(Param(f.name, default=f.default, **meta))
            Params._declared[cls] = tuple(out)
        return Params._declared[cls]

    @classmethod
    def param(cls, name: str) -> Param | None:
        return next((p for p in cls.declared() if p.name == name), None)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls.declared()}

    @classmethod
    def build(cls: type[P], raw: Mapping[str, Any] | None = None, *, lenient: bool = False,
              ignore_unknown: bool = False) -> P:
        """Validate ``raw`` (name → value; missing names take their defaults) into a parameter object.

        Raises :class:`ParamError` naming the parameter ("lam: expected a number from 0 to 1, got 2").
        """
        raw = dict(raw or {})
        names = [p.name for p in cls.declared()]
        unknown = [k for k in raw if k not in names]
        if unknown and not ignore_unknown:
            k = unknown[0]
            raise ParamError(f"{cls.title()} " + unknown_name_message(k, names), name=k)
        values = {}
        for p in cls.declared():
            if p.name not in raw:
                values[p.name] = p.default
                continue
            try:
                values[p.name] = p.coerce(raw[p.name], lenient=lenient)
            except ParamError as e:
                raise ParamError(f"{p.name}: {e}", index=e.index, name=p.name) from None
        return cls(**values)  # type: ignore[call-arg]

    @classmethod
    def title(cls) -> str:
        return cls.__name__

    def replace(self: P, **changes: Any) -> P:
        """A copy with ``changes`` validated."""
        return type(self).build({**self.to_dict(plain=False), **changes})

    def to_dict(self, *, plain: bool = True) -> dict[str, Any]:
        """name → value (tuples as lists when ``plain``: JSON and YAML friendly)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        if plain:
            out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        return out


def same_param(params_type: type, name: str, **changes: Any) -> Any:
    """A new dataclass field declared exactly as the field ``name`` of the :class:`Params` class ``params_type``
    (default, type, range, help): for a section parameter that *is* that analysis parameter, so that its
    declaration lives in one place (``lam: float = same_param(ProjectionParams, "lam")``). ``changes``: what the
    new field declares otherwise (``default=12``, ``help=...``)."""
    f = next((f for f in dataclasses.fields(params_type) if f.name == name), None)
    if f is None:
        raise TypeError(f"{params_type.__name__} declares no parameter {name!r}")
    default = changes.pop("default", f.default)
    metadata = {k: {**v, **changes} for k, v in f.metadata.items()} if changes else f.metadata
    return dataclasses.field(default=default, metadata=metadata)


__all__ = ["Param", "ParamError", "Params", "param", "same_param", "show_value", "unknown_name_message"]
