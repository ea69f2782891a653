"""Report specs: YAML → validated, frozen :class:`ReportSpec`.

A spec looks like::

    title: BBC topic classifier – audit
    author: ML platform team          # optional
    audience: Product owners          # optional
    model: demo:bbc-finetuned
    dataset: bundled:bbc              # or {ref: data.csv, text_column: body, label_column: topic, encoding: latin-1}
    sample_size: 400                  # optional, > 0
    seed: 0                           # optional, default 0
    sections:
      - kind: overview
        normalize: true

Every problem raises :class:`core.foundation.errors.SpecError` with one line naming the file, the
line, the field and what was expected, e.g.
``spec.yaml line 7: sections[0].kind: unknown section kind 'overveiw'; expected one of:
overview, projection (did you mean 'overview'?)``.

The schema is data (``TOP_LEVEL``, ``DATASET_KEYS`` and the section registry), so new
top-level keys and section kinds are one entry each."""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
import yaml
from core.foundation.errors import SpecError
from reports.paths import PathPolicy, PathRefused
from reports.spec_data import DatasetSpec, ReportSpec, SectionSpec, _default_ids  # noqa: F401 - part of this API

SECTION_REF_PARAMS = {"model": "model", "models": "model", "dataset": "dataset"}  # section params naming files


@dataclass
class _Node:
    """A YAML value with the (1-based) line it starts on; mappings keep their keys' lines."""

    value: Any  # scalar, list[_Node] or dict[str, _Node]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    def plain(self) -> Any:
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        return self.value


# A spec is a short hand-written file: these bounds keep a hostile one (nested YAML aliases, the "billion laughs",
# or an alias to itself) from hanging or exhausting `validate` and `build` before any key is checked.
MAX_SPEC_BYTES = 1_000_000
MAX_VALUES = 20_000
MAX_DEPTH = 40


class _Ctx:
    def __init__(self, source: str, policy: PathPolicy | None = None) -> None:
        self.source = source
        self.values = 0
        self.policy = policy
        self.loader = yaml.SafeLoader("")  # one scalar constructor for the whole spec

    def localise(self, ref: str, what: str, line: int | None, path: str) -> str:
        """``ref`` through the path policy (unchanged without one); a refused path is a SpecError at ``line``."""
        if self.policy is None:
            return ref
        try:
            return self.policy.localise(ref, what=what)
        except PathRefused as e:
            raise self.error(line, path, str(e)) from None

    def error(self, line: int | None, path: str, problem: str) -> SpecError:
        where = f"{self.source} line {line}" if line else self.source
        err = SpecError(f"{where}: {path}: {problem}" if path else f"{where}: {problem}")
        err.line = line  # type: ignore[attr-defined]
        err.field = path  # type: ignore[attr-defined]
        return err


def _convert(node: yaml.Node, ctx: _Ctx, path: str, parents: tuple[int, ...] = ()) -> _Node:
    line = node.start_mark.line + 1
    if id(node) in parents:
        raise ctx.error(line, path, "a YAML alias refers to a value that contains it (a loop); write the value out")
    if len(parents) >= MAX_DEPTH:
        raise ctx.error(line, path, f"nested more than {MAX_DEPTH} levels deep; a report spec is a flat file")
    ctx.values += 1
    if ctx.values > MAX_VALUES:
        raise ctx.error(line, path, f"the spec expands to more than {MAX_VALUES:,} values (YAML aliases repeat what "
                        "they name); write it out without nested aliases")
    parents = (*parents, id(node))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Node] = {}
        lines: dict[str, int] = {}
        for knode, vnode in node.value:
            kline = knode.start_mark.line + 1
            if not isinstance(knode, yaml.ScalarNode):
                raise ctx.error(kline, path, "keys must be plain names")
            key = str(_scalar(knode, ctx, path))
            sub = f"{path}.{key}" if path else key
            if key in out:
                raise ctx.error(kline, sub, f"duplicate key (first given on line {lines[key]})")
            out[key] = _convert(vnode, ctx, sub, parents)
            lines[key] = kline
        return _Node(out, line, lines)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_convert(v, ctx, f"{path}[{i}]", parents) for i, v in enumerate(node.value)], line)
    return _Node(_scalar(node, ctx, path), line)


def _scalar(node: yaml.ScalarNode, ctx: _Ctx, path: str) -> Any:
    try:
        return ctx.loader.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise ctx.error(node.start_mark.line + 1, path, f"unreadable value ({e.problem or e})") from None


def _compose(text: str, ctx: _Ctx) -> _Node | None:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise ctx.error(None, "", f"the file is larger than {MAX_SPEC_BYTES // 1_000_000} MB; a report spec is a short "
                        "hand-written file")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ctx.error(line, "", f"not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ctx.error(None, "", f"not valid YAML: {e}") from None
    return None if root is None else _convert(root, ctx, "")


@dataclass(frozen=True)
class FieldDef:
    """A top-level key: ``check(node, path, ctx) -> value`` raises SpecError via ``ctx.error``."""

    name: str
    expected: str
    check: Callable[[_Node, str, _Ctx], Any]
    required: bool = False
    default: Any = None


def _text(node: _Node, path: str, ctx: _Ctx) -> str:
    if not isinstance(node.value, str) or not node.value.strip():
        raise ctx.error(node.line, path, f"expected a non-empty text, got {_describe(node)}")
    return node.value.strip()


def _opt_text(node: _Node, path: str, ctx: _Ctx) -> str | None:
    return None if node.value is None else _text(node, path, ctx)


def _int(minimum: int | None, *, nullable: bool) -> Callable[[_Node, str, _Ctx], int | None]:
    def check(node: _Node, path: str, ctx: _Ctx) -> int | None:
        v = node.value
        if v is None and nullable:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or (minimum is not None and v < minimum):
            want = "a whole number" + (f" ≥ {minimum}" if minimum is not None else "")
            raise ctx.error(node.line, path, f"expected {want}, got {_describe(node)}")
        return v
    return check


DATASET_KEYS: dict[str, str] = {
    "ref": "bundled:bbc, bundled:tweets, bundled:snli or a file path",
    "text_column": "the column holding the text",
    "text_pair_column": "the column holding the second text of a pair",
    "label_column": "the column holding the label",
    "label_names": "a list of label names (for integer labels)",
    "encoding": "the text encoding of the file, e.g. utf-8 or latin-1",
}


def _dataset(node: _Node, path: str, ctx: _Ctx) -> DatasetSpec:
    if isinstance(node.value, str):
        return DatasetSpec(ref=_text(node, path, ctx))
    if not isinstance(node.value, dict):
        raise ctx.error(node.line, path, "expected a dataset reference (e.g. bundled:bbc) or a mapping with "
                        f"ref and column names, got {_describe(node)}")
    _reject_unknown(node, path, DATASET_KEYS, ctx)
    if "ref" not in node.value:
        raise ctx.error(node.line, f"{path}.ref", f"missing; expected {DATASET_KEYS['ref']}")
    kw: dict[str, Any] = {}
    for key, sub in node.value.items():
        p = f"{path}.{key}"
        if key == "label_names":
            if not isinstance(sub.value, list) or not sub.value or not all(
                    isinstance(v.value, (str, int)) and not isinstance(v.value, bool) for v in sub.value):
                raise ctx.error(sub.line, p, f"expected a list of label names, got {_describe(sub)}")
            kw[key] = tuple(str(v.value) for v in sub.value)
        elif key == "encoding":
            enc = _text(sub, p, ctx)
            import codecs
            try:
                codecs.lookup(enc)
            except LookupError:
                raise ctx.error(sub.line, p, f"unknown text encoding {enc!r}; expected e.g. utf-8 or latin-1") from None
            kw[key] = enc
        else:
            kw[key] = _opt_text(sub, p, ctx) if key != "ref" else _text(sub, p, ctx)
    return DatasetSpec(**kw)


SECTION_COMMON_KEYS = ("kind", "title", "id", "note")


_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def _sections(node: _Node, path: str, ctx: _Ctx) -> tuple[SectionSpec, ...]:
    from reports.sections import SECTIONS

    if not isinstance(node.value, list) or not node.value:
        raise ctx.error(node.line, path, "expected a non-empty list of sections, each like {kind: overview}, "
                        f"got {_describe(node)}")
    out = []
    kinds = list(SECTIONS)
    for i, item in enumerate(node.value):
        p = f"{path}[{i}]"
        if isinstance(item.value, str):  # shorthand: "- overview"
            item = _Node({"kind": item}, item.line, {"kind": item.line})
        if not isinstance(item.value, dict):
            raise ctx.error(item.line, p, f"expected a mapping like {{kind: overview}}, got {_describe(item)}")
        if "kind" not in item.value:
            raise ctx.error(item.line, f"{p}.kind", f"missing; expected one of: {', '.join(kinds)}")
        knode = item.value["kind"]
        kind = knode.value
        if not isinstance(kind, str) or kind not in SECTIONS:
            raise ctx.error(knode.line, f"{p}.kind", f"unknown section kind {kind!r}; expected one of: "
                            f"{', '.join(kinds)}{_did_you_mean(str(kind), kinds)}")
        sk = SECTIONS[kind]
        allowed = {**{k: "" for k in SECTION_COMMON_KEYS}, **{prm.name: prm.expected() for prm in sk.params}}
        _reject_unknown(item, p, allowed, ctx, what=f"parameter of section kind '{kind}'")
        params = sk.defaults()
        title = note = sid = None
        for key, sub in item.value.items():
            if key == "kind":
                continue
            if key == "title":
                title = _opt_text(sub, f"{p}.title", ctx)
                continue
            if key == "note":
                note = _opt_text(sub, f"{p}.note", ctx)
                continue
            if key == "id":
                sid = _text(sub, f"{p}.id", ctx)
                if not _ID.match(sid) or sid in GLOBAL_NAMES:
                    raise ctx.error(sub.line, f"{p}.id", f"expected a name of letters, digits, _ and - that is not "
                                    f"{', '.join(GLOBAL_NAMES)}, got {sid!r}")
                continue
            prm = sk.param(key)
            assert prm is not None
            try:
                params[key] = prm.coerce(sub.plain())
            except ValueError as e:
                i = getattr(e, "index", None)  # a bad item of a list: point at its own line
                if i is not None and isinstance(sub.value, list) and 0 <= i < len(sub.value):
                    raise ctx.error(sub.value[i].line, f"{p}.{key}[{i}]", str(e)) from None
                raise ctx.error(sub.line, f"{p}.{key}", str(e)) from None
        out.append(SectionSpec(kind=kind, params=params, title=title, line=item.line, id=sid or "", note=note))
    defaults = _default_ids([x.kind for x in out])
    seen: dict[str, int] = {}
    final = []
    for i, (sec, item) in enumerate(zip(out, node.value)):
        sid = sec.id or defaults[i]
        if sid in seen:
            raise ctx.error(sec.line, f"{path}[{i}].id", f"id '{sid}' is already used by sections[{seen[sid]}]; give "
                            "each section its own id")
        seen[sid] = i
        final.append(SectionSpec(sec.kind, sec.params, sec.title, sec.line, sid, sec.note))
    return tuple(final)


GLOBAL_NAMES = ("accuracy", "macro_f1", "n")


def _authors(node: _Node, path: str, ctx: _Ctx) -> tuple[str, ...]:
    if isinstance(node.value, str):
        return (_text(node, path, ctx),)
    if not isinstance(node.value, list) or not node.value:
        raise ctx.error(node.line, path, f"expected a name or a list of names, got {_describe(node)}")
    return tuple(_text(v, f"{path}[{i}]", ctx) for i, v in enumerate(node.value))


def _named(what: str, check: Callable[[_Node, str, _Ctx], Any]) -> Callable[[_Node, str, _Ctx], dict[str, Any]]:
    def parse(node: _Node, path: str, ctx: _Ctx) -> dict[str, Any]:
        if not isinstance(node.value, dict) or not node.value:
            raise ctx.error(node.line, path, f"expected a mapping of names to {what}, e.g. "
                            f"{{finetuned: demo:bbc-finetuned}}, got {_describe(node)}")
        out = {}
        for key, sub in node.value.items():
            if not _ID.match(key):
                raise ctx.error(node.key_lines.get(key, node.line), f"{path}.{key}",
                                "expected a name of letters, digits, _ and -")
            out[key] = check(sub, f"{path}.{key}", ctx)
        return out
    return parse


def _checks(node: _Node, path: str, ctx: _Ctx) -> tuple[Any, ...]:
    from reports.checks import CheckSyntaxError, parse_check

    if not isinstance(node.value, list):
        raise ctx.error(node.line, path, "expected a list of checks like 'accuracy >= 0.9', got "
                        f"{_describe(node)}")
    out = []
    for i, item in enumerate(node.value):
        p = f"{path}[{i}]"
        name = None
        expr_node = item
        if isinstance(item.value, dict):
            _reject_unknown(item, p, {"check": "", "name": ""}, ctx)
            if "check" not in item.value:
                raise ctx.error(item.line, f"{p}.check", "missing; expected a comparison like 'accuracy >= 0.9'")
            expr_node = item.value["check"]
            if "name" in item.value:
                name = _text(item.value["name"], f"{p}.name", ctx)
        if not isinstance(expr_node.value, str):
            raise ctx.error(expr_node.line, p, f"expected a comparison like 'accuracy >= 0.9', got "
                            f"{_describe(expr_node)}")
        try:
            out.append(parse_check(expr_node.value, name=name, line=expr_node.line))
        except CheckSyntaxError as e:
            raise ctx.error(expr_node.line, p, str(e)) from None
    return tuple(out)


TOP_LEVEL: dict[str, FieldDef] = {f.name: f for f in [
    FieldDef("title", "a non-empty text", _text, required=True),
    FieldDef("author", "a text", _opt_text),
    FieldDef("authors", "a name or a list of names", _authors),
    FieldDef("audience", "a text", _opt_text),
    FieldDef("notes", "Markdown text: the auditor's notes for the executive summary", _opt_text),
    FieldDef("models", "a mapping of names to model references", _named("model references", _text)),
    FieldDef("datasets", "a mapping of names to datasets", _named("datasets", _dataset)),
    FieldDef("model", "a model reference (demo:NAME, bundled:minilm, a folder or hub id) or a name from models",
             _text),
    FieldDef("dataset", "a dataset reference, a mapping with ref and columns, or a name from datasets", _dataset),
    FieldDef("mlm", "a base checkpoint (a *ForMaskedLM folder or hub id; a *ForCausalLM for a decoder) whose head "
             "decoded saliency reads hidden states through", _opt_text),
    FieldDef("sample_size", "a whole number ≥ 1", _int(1, nullable=True)),
    FieldDef("seed", "a whole number", _int(None, nullable=False), default=0),
    FieldDef("sections", "a non-empty list of sections", _sections, required=True),
    FieldDef("checks", "a list of checks like 'accuracy >= 0.9'", _checks, default=()),
]}


def _describe(node: _Node) -> str:
    v = node.value
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "an empty list" if not v else "a list"
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{type(v).__name__} {v!r}".replace("str ", "text ", 1)


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _reject_unknown(node: _Node, path: str, allowed: dict[str, Any], ctx: _Ctx, *, what: str = "key") -> None:
    for key in node.value:
        if key not in allowed:
            sub = f"{path}.{key}" if path else key
            raise ctx.error(node.key_lines.get(key, node.line), sub,
                            f"unknown {what}; expected one of: {', '.join(allowed)}"
                            f"{_did_you_mean(key, list(allowed))}")


def parse_spec(text: str, *, source: str = "spec", base_dir: str | Path | None = None,
               policy: PathPolicy | None = None) -> ReportSpec:
    """Validate YAML ``text``; ``source`` names it in errors. Model and dataset paths go through ``policy`` (default:
    the policy of a spec in ``base_dir``, see :mod:`reports.paths`; none when neither is given, e.g. a dashboard
    draft of the local user): relative paths resolve against the spec's folder and must stay in allowed folders."""
    if policy is None and base_dir is not None:
        policy = PathPolicy.for_spec(base_dir)
    ctx = _Ctx(source, policy)
    root = _compose(text, ctx)
    if root is None or root.value is None:
        raise ctx.error(1, "", "the spec is empty; expected a mapping with title, model, dataset and sections")
    if not isinstance(root.value, dict):
        raise ctx.error(root.line, "", f"expected a mapping with title, model, dataset and sections, "
                        f"got {_describe(root)}")
    _reject_unknown(root, "", TOP_LEVEL, ctx)
    values: dict[str, Any] = {}
    for name, fd in TOP_LEVEL.items():
        if name in root.value:
            values[name] = fd.check(root.value[name], name, ctx)
        elif fd.required:
            raise ctx.error(root.line, name, f"missing; expected {fd.expected}")
        else:
            values[name] = fd.default
    def line_of(key: str, sub: str | None = None) -> int | None:
        node = root.value.get(key)
        if node is None:
            return root.line
        return node.key_lines.get(sub, node.line) if sub is not None and isinstance(node.value, dict) else node.line

    def loc_model(ref: str, key: str = "model", sub: str | None = None) -> str:
        return ctx.localise(ref, "model", line_of(key, sub), f"{key}.{sub}" if sub else key)

    def loc_data(d: DatasetSpec, key: str = "dataset", sub: str | None = None) -> DatasetSpec:
        ref = ctx.localise(d.ref, "dataset", line_of(key, sub), f"{key}.{sub}" if sub else key)
        return DatasetSpec(**{**asdict(d), "ref": ref})

    models: dict[str, str] = {k: loc_model(v, "models", k) for k, v in (values.pop("models") or {}).items()}
    datasets: dict[str, DatasetSpec] = {k: loc_data(v, "datasets", k)
                                        for k, v in (values.pop("datasets") or {}).items()}
    model_name = dataset_name = None
    model = values.pop("model")
    if model is None:
        if not models:
            raise ctx.error(root.line, "model", "missing; expected a model reference (demo:NAME, bundled:minilm, a "
                            "folder or hub id), or models with names")
        model_name = next(iter(models))
    elif model in models:
        model_name = model
    else:
        model = loc_model(model)
    dataset = values.pop("dataset")
    if dataset is None:
        if not datasets:
            raise ctx.error(root.line, "dataset", "missing; expected a dataset reference or a mapping with ref and "
                            "columns, or datasets with names")
        dataset_name = next(iter(datasets))
    elif dataset.ref in datasets and dataset == DatasetSpec(ref=dataset.ref):
        dataset_name = dataset.ref
    else:
        dataset = loc_data(dataset)
    model_ref = models[model_name] if model_name else model
    if values.get("mlm"):
        values["mlm"] = loc_model(values["mlm"], "mlm")
    dataset_spec = datasets[dataset_name] if dataset_name else dataset
    if model_name is None and models:
        models = {**models, "model": model_ref} if "model" not in models else models
    if dataset_name is None and datasets:
        datasets = {**datasets, "dataset": dataset_spec} if "dataset" not in datasets else datasets
    authors = values.pop("authors") or ()
    author = values.pop("author")
    if author and authors:
        raise ctx.error(root.key_lines.get("author"), "author", "give author or authors, not both")
    if author:
        authors = (author,)
    sections: tuple[SectionSpec, ...] = values.pop("sections")
    checks = values.pop("checks") or ()
    ids = {sec.id: sec.kind for sec in sections}
    from reports.checks import name_problem

    for i, c in enumerate(checks):
        for path in c.names():
            problem = name_problem(path, ids)
            if problem:
                raise ctx.error(c.line, f"checks[{i}]", problem)
    sections = tuple(_check_section_paths(sec, i, models, datasets, ctx) for i, sec in enumerate(sections))
    return ReportSpec(source=None, title=values.pop("title"), model=model_ref, dataset=dataset_spec,
                      sections=sections, author=", ".join(authors) if authors else None, authors=tuple(authors),
                      models=models, datasets=datasets,
                      checks=tuple(checks), model_name=model_name, dataset_name=dataset_name, **values)


def _check_section_paths(sec: SectionSpec, i: int, models: dict[str, str], datasets: dict[str, DatasetSpec],
                         ctx: _Ctx) -> SectionSpec:
    """Refuse ``model``/``models``/``dataset`` paths of a section that the path policy does not allow (names of the
    spec's ``models``/``datasets`` and scheme references pass). The section keeps the references as written: the
    build resolves them against the spec's folder (``reports.sections.shared.local_ref``)."""
    if ctx.policy is not None:
        for key, what in SECTION_REF_PARAMS.items():
            v = sec.params.get(key)
            names = models if what == "model" else datasets
            refs = [v] if isinstance(v, str) else list(v) if isinstance(v, tuple) else []
            for j, r in enumerate(refs):
                if r not in names:
                    ctx.localise(r, what, sec.line, f"sections[{i}].{key}" + (f"[{j}]" if isinstance(v, tuple) else ""))
    return sec


def load_spec(path: str | Path, *, allow: Sequence[str | Path] = (), any_path: bool = False) -> ReportSpec:
    """Read and validate a spec file; relative file references resolve against its folder, and every file it
    names must lie under that folder, the cache, ``allow`` or ``$BACKBONE_LENS_ALLOWED_PATHS`` (``any_path``:
    no restriction); see :mod:`reports.paths`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError(f"Spec file not found: {p}")
    if p.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{p.name}: the file is larger than {MAX_SPEC_BYTES // 1_000_000} MB; a report spec is a "
                        "short hand-written file.")
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{p.name}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start}).") from None
    policy = PathPolicy.for_spec(p.parent, allow=allow, any_path=any_path)
    spec = parse_spec(text, source=p.name, base_dir=p.parent, policy=policy)
    from dataclasses import replace

    return replace(spec, source=str(p.resolve()))
