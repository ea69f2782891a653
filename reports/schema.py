"""The report spec as a JSON Schema (draft 2020-12), generated from the same definitions the validator uses
(top-level fields of :mod:`reports.spec` and the section registry's declared parameters).

``python -m reports schema --out docs/report-spec.schema.json --overwrite`` writes it; editors with YAML language
servers can then complete and check specs. The validator remains the authority (it also checks model and
dataset names, section ids and the figure names of checks, and reports file lines); the schema is tested
to accept every example spec and the validator's normalised output.
"""
from __future__ import annotations

from typing import Any

from reports.checks import METRICS

_DATASET = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "bundled:bbc, bundled:tweets, bundled:snli or a file path"},
        {"type": "object", "required": ["ref"], "additionalProperties": False,
         "properties": {"ref": {"type": "string", "minLength": 1}, "text_column": {"type": ["string", "null"]},
                        "text_pair_column": {"type": ["string", "null"]}, "label_column": {"type": ["string", "null"]},
                        "label_names": {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
                        "encoding": {"type": "string"}}},
    ]
}
_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"}


def _param_schema(p: Any) -> dict[str, Any]:
    t = p.type
    s: dict[str, Any]
    if t == "bool":
        s = {"type": "boolean"}
    elif t in ("int", "float"):
        s = {"type": "integer" if t == "int" else "number"}
        if p.minimum is not None:
            s["minimum"] = p.minimum
        if p.maximum is not None:
            s["maximum"] = p.maximum
    elif t == "str":
        s = {"type": "string", "minLength": 1}
    elif t == "choice":
        s = {"enum": list(p.choices)}
    elif t == "str_list":
        item: dict[str, Any] = {"type": "string"}
        if p.choices:
            item["enum"] = list(p.choices)
        s = {"type": "array", "items": item}
        if p.nonempty or p.min_items:
            s["minItems"] = max(1 if p.nonempty else 0, p.min_items)
    else:  # float_list, int_list
        item = {"type": "integer" if t == "int_list" else "number"}
        if p.minimum is not None:
            item["minimum"] = p.minimum
        if p.maximum is not None:
            item["maximum"] = p.maximum
        s = {"type": "array", "items": item, "minItems": 1}
        if t == "int_list" and p.choices:
            s = {"oneOf": [s, {"enum": list(p.choices)}]}
    if p.default is None and "oneOf" not in s:
        s = {"oneOf": [s, {"type": "null"}]}
    s["description"] = p.help
    if p.default is not None:
        s["default"] = list(p.default) if isinstance(p.default, tuple) else p.default
    return s


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of a report spec."""
    from reports.sections import SECTIONS

    section_variants = []
    for name, kind in SECTIONS.items():
        props: dict[str, Any] = {"kind": {"const": name}, "title": {"type": "string"},
                                 "id": {**_NAME, "description": "the name checks use for this section"},
                                 "note": {"type": "string", "description": "the auditor's note (Markdown)"}}
        props.update({p.name: _param_schema(p) for p in kind.params})
        figs = METRICS[name].names if name in METRICS else tuple(getattr(kind, "metrics", ()) or ())
        section_variants.append({"type": "object", "title": kind.title,
                                 "description": kind.description + (f" Figures for checks: {', '.join(figs)}."
                                                                    if figs else ""),
                                 "required": ["kind"], "additionalProperties": False, "properties": props})
    section_variants.append({"enum": list(SECTIONS), "description": "shorthand: a section kind with its defaults"})
    check = {"type": "string", "pattern": "^[^<>=!]+(<=|>=|==|!=|<|>)[^<>=!]+$",
             "description": "one comparison: a figure name (accuracy, macro_f1, n or SECTION.FIGURE) against a "
                            "number or another figure, e.g. 'projection.q_knn_error < 0.05'"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://backbone-lens.local/report-spec.schema.json",
        "title": "Backbone Lens report spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "sections"],
        "anyOf": [{"required": ["model"]}, {"required": ["models"]}],
        "properties": {
            "title": {"type": "string", "minLength": 1},
            "author": {"type": ["string", "null"]},
            "authors": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
            "audience": {"type": ["string", "null"]},
            "notes": {"type": ["string", "null"], "description": "the auditor's notes (Markdown, sanitised)"},
            "models": {"type": "object", "minProperties": 1, "propertyNames": _NAME,
                       "additionalProperties": {"type": "string", "minLength": 1}},
            "datasets": {"type": "object", "minProperties": 1, "propertyNames": _NAME, "additionalProperties": _DATASET},
            "model": {"type": "string", "minLength": 1,
                      "description": "a model reference, or a name from models (default: the first)"},
            "dataset": {**_DATASET, "description": "a dataset, or a name from datasets (default: the first)"},
            "mlm": {"type": ["string", "null"], "description": "a base checkpoint (*ForMaskedLM, or *ForCausalLM for "
                    "a decoder) whose head decoded saliency reads hidden states through"},
            "sample_size": {"type": ["integer", "null"], "minimum": 1},
            "seed": {"type": "integer"},
            "sections": {"type": "array", "minItems": 1, "items": {"oneOf": section_variants}},
            "checks": {"type": "array", "items": {"oneOf": [check, {
                "type": "object", "required": ["check"], "additionalProperties": False,
                "properties": {"check": check, "name": {"type": "string"}}}]}},
        },
    }
