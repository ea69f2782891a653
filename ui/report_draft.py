"""The session's report draft: findings collected with "Add to report" on the analysis pages, turned into a
report spec (YAML) that ``python -m reports build`` runs exactly as the Report page does.

A finding is one report section — its kind and the exact parameters the page used — plus the auditor's
note, the page it came from and, when the user had selected texts, those texts. Every page adds sections of its
own kinds only (:data:`PAGE_KINDS`), and a finding is checked when it is offered: its parameters against the
section kind's typed ``Params`` declaration (``SECTIONS[kind].params_type.build``, the same declaration the report
validates with), its model and dataset against the draft's, and the whole draft with it through
``reports.spec.parse_spec``. A finding that could not be built is never added: the reason shows next to the button.

The draft also holds the report's title, authors, audience, notes and checks (one per line).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import streamlit as st
import yaml

from core.foundation.errors import BackboneLensError
from core.foundation.params import ParamError
from ui import state
from ui.errors import user_message

DRAFT_KEY = "bl.report.draft"

# the section kinds each page adds (its own analyses): a Projection finding is a projection section, never another
PAGE_KINDS: dict[str, tuple[str, ...]] = {
    "Workspace": ("overview",), "Projection": ("projection",), "Saliency": ("saliency_examples", "faithfulness"),
    "Instance": ("instance",), "Heads & attention": ("heads", "attention"), "Layers": ("layers",),
    "Topics": ("topics",), "Compare": ("comparison",), "Adversarial": ("adversarial",), "Multi-task": ("multitask",),
    "Training": ("overview",), "Corpus": ("corpus",),
}


@dataclass(frozen=True)
class Finding:
    """One section of the draft: ``kind`` and ``params`` as the spec takes them; ``texts`` the selected texts
    (kept for the record and shown on the Report page); ``page`` the page it was added on (a key of
    :data:`PAGE_KINDS`), ``view`` which of its views."""

    kind: str
    params: dict[str, Any]
    page: str
    note: str = ""
    title: str | None = None
    texts: tuple[str, ...] = ()
    uid: int = 0
    view: str = ""


@dataclass(frozen=True)
class Draft:
    title: str = "Classifier audit"
    authors: str = ""
    audience: str = ""
    notes: str = ""
    checks: str = ""  # one check per line
    model: str = ""
    dataset: state.DatasetChoice | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    mlm: str = ""  # the decoding head (spec `mlm:`) a finding was made with; one per report
    next_uid: int = 1


def draft() -> Draft:
    d = st.session_state.get(DRAFT_KEY)
    if d is None:
        d = Draft()
        st.session_state[DRAFT_KEY] = d
    return d


def save(d: Draft) -> None:
    st.session_state[DRAFT_KEY] = d


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return v.item()
    return v


# ----------------------------------------------------------------------------- words for internal names


def kind_title(kind: str) -> str:
    """The reader's name of a section kind ("Saliency examples", not ``saliency_examples``)."""
    from reports.sections import SECTIONS

    return SECTIONS.titles().get(kind, kind.replace("_", " ").capitalize())


def _value_words(v: Any) -> str:
    """A parameter's value as the report's provenance words it (yes/no, lists joined), names without underscores."""
    from reports.render import fmt_param

    text = fmt_param(v)
    return text.replace("_", " ") if re.fullmatch(r"[a-z0-9_, .]+", text) else text


def describe_params(params: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """A finding's parameters as words: "texts: 40 · attack: char · normalize: yes" (``labels`` renames them)."""
    names = {"n": "texts", "lam": "λ", "k": "k", **(labels or {})}
    parts = [f"{names.get(k, k.replace('_', ' '))}: {_value_words(v)}" for k, v in params.items()
             if k not in ("texts", "pairs")]
    return " · ".join(parts)


def quote_texts(texts: Sequence[str], rows: Sequence[int] | None = None, *, limit: int = 240) -> str:
    """The texts as a Markdown list for a section's note, escaped so that their ``#``, ``*`` or ``<`` show as
    written (the report sanitises notes; the texts stay text)."""
    out = []
    for i, t in enumerate(texts):
        t = " ".join(str(t).split())
        t = t if len(t) <= limit else t[: limit - 1] + "…"
        t = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", t)
        row = f" (dataset row {rows[i]})" if rows is not None and i < len(rows) else ""
        out.append(f"- “{t}”{row}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- checking a finding


def _param_problem(kind: str, params: dict[str, Any], labels: Mapping[str, str]) -> str | None:
    """Why ``params`` do not fit the section kind's declaration (None when they do): the ParamError, with the
    page's name of the parameter."""
    from reports.sections import SECTIONS

    sk = SECTIONS[kind]
    try:
        if sk.params_type is not None:
            sk.params_type.build(params)
        else:
            for k, v in params.items():
                p = sk.param(k)
                if p is None:
                    raise ParamError(f"{k}: the section has no such parameter", name=k)
                p.coerce(v)
    except ParamError as e:
        name = e.name or ""
        msg = str(e)
        if name and msg.startswith(f"{name}: "):
            msg = msg[len(name) + 2:]
        label = labels.get(name) or {"n": "Texts"}.get(name) or name.replace("_", " ").capitalize()
        return f"{label}: the report's {kind_title(kind).lower()} section needs {msg.removeprefix('expected ')}."
    return None


def _selection_problem(kind: str, d: Draft) -> str | None:
    """Why a section that takes the report's model or dataset would not show this page's (None when it would)."""
    from reports.sections import SECTIONS

    if not d.findings:
        return None  # the first finding sets the report's model and dataset
    sk = SECTIONS[kind]
    model, choice = state.current_model_ref(), state.current_dataset_choice()
    declared = {p.name for p in sk.params}
    if not declared & {"model", "models"} and d.model and d.model != model:
        return (f"This draft reports on `{d.model}` (its first finding's model), and a {kind_title(kind).lower()} "
                f"section always shows the report's model, not `{model}`. Remove the draft's findings on the Report "
                "page to start a report on this model, or switch back on the Workspace page.")
    if "dataset" not in declared and d.dataset is not None and \
            replace(d.dataset, n=None, seed=0) != replace(choice, n=None, seed=0):
        return (f"This draft reports on `{d.dataset.ref}`, and a {kind_title(kind).lower()} section always uses the "
                f"report's dataset, not `{choice.ref}`. Remove the draft's findings on the Report page to start a "
                "report on this dataset, or switch back on the Workspace page.")
    return None


def _finding(kind: str, params: dict[str, Any], *, page: str, note: str = "", title: str | None = None,
             texts: Sequence[str] = (), view: str = "", d: Draft | None = None,
             mlm: str | None = None) -> tuple[Finding, Draft]:
    """The finding and the draft with it (not saved). A ``dataset`` equal to the report's is left out, so the
    section reads the report's dataset with its columns and encoding; ``mlm`` (a decoding head the finding was
    made with) becomes the report's."""
    d = d or draft()
    choice = d.dataset or state.current_dataset_choice()
    plain = {k: _plain(v) for k, v in params.items() if v is not None}
    if plain.get("dataset") == choice.ref:
        plain.pop("dataset")
    f = Finding(kind, plain, page, note.strip(), title, tuple(texts), d.next_uid, view)
    return f, replace(d, findings=(*d.findings, f), next_uid=d.next_uid + 1, model=d.model or state.current_model_ref(),
                      dataset=d.dataset or state.current_dataset_choice(), mlm=d.mlm or (mlm or "").strip())


def _declares(kind: str, name: str) -> bool:
    from reports.sections import SECTIONS

    return SECTIONS[kind].param(name) is not None


def _head_problem(mlm: str | None, d: Draft) -> str | None:
    """Why a finding made with the decoding head ``mlm`` cannot join the draft (one head per report)."""
    head = (mlm or "").strip()
    if head and d.mlm and head != d.mlm:
        return (f"This draft decodes saliency through `{d.mlm}` (the report's decoding head), not `{head}`. Use that "
                "head here, or remove the draft's findings on the Report page to start again.")
    return None


def check_finding(kind: str, params: dict[str, Any], *, page: str, labels: Mapping[str, str] | None = None,
                  mlm: str | None = None) -> str | None:
    """Why this finding could not be built as a report section (None when it can): the section kind's typed
    parameter declaration, the draft's model, dataset and decoding head (``mlm``: the one the finding was made
    with), and the whole draft with it through the spec parser."""
    if kind not in PAGE_KINDS.get(page, ()):
        raise ValueError(f"the {page} page adds {', '.join(PAGE_KINDS.get(page, ())) or 'no'} sections, not {kind}")
    plain = {k: _plain(v) for k, v in params.items() if v is not None}
    problem = (_param_problem(kind, plain, labels or {}) or _selection_problem(kind, draft())
               or _head_problem(mlm, draft()))
    if problem:
        return problem
    _, d = _finding(kind, plain, page=page, mlm=mlm)
    try:
        validated_spec(d)
    except BackboneLensError as e:
        return "The report spec would not be valid with it: " + user_message(e)
    return None


def add_finding(kind: str, params: dict[str, Any], *, page: str, note: str = "", title: str | None = None,
                texts: Sequence[str] = (), view: str = "", mlm: str | None = None) -> Finding:
    """Append a finding (and, on the first one, take the report's model and dataset from the Workspace; ``mlm``, a
    decoding head the finding was made with, becomes the report's); raises ValueError with the reason when it could
    not be built."""
    problem = check_finding(kind, params, page=page, mlm=mlm)
    if problem:
        raise ValueError(problem)
    f, d = _finding(kind, params, page=page, note=note, title=title, texts=texts, view=view, mlm=mlm)
    save(d)
    return f


def move(uid: int, step: int) -> None:
    d = draft()
    items = list(d.findings)
    i = next(k for k, f in enumerate(items) if f.uid == uid)
    j = min(max(i + step, 0), len(items) - 1)
    items[i], items[j] = items[j], items[i]
    save(replace(d, findings=tuple(items)))


def remove(uid: int) -> None:
    d = draft()
    save(replace(d, findings=tuple(f for f in d.findings if f.uid != uid)))


def set_note(uid: int, note: str) -> None:
    d = draft()
    save(replace(d, findings=tuple(replace(f, note=note) if f.uid == uid else f for f in d.findings)))


# ----------------------------------------------------------------------------- the spec


def _dataset_entry(choice: state.DatasetChoice) -> Any:
    entry: dict[str, Any] = {"ref": choice.ref}
    for k in ("text_column", "text_pair_column", "label_column"):
        if getattr(choice, k):
            entry[k] = getattr(choice, k)
    if choice.label_names:
        entry["label_names"] = list(choice.label_names)
    if choice.encoding and choice.encoding != "utf-8":
        entry["encoding"] = choice.encoding
    return entry if len(entry) > 1 else choice.ref


def check_lines(d: Draft) -> list[str]:
    """The draft's checks, one per entry (blank and ``#`` lines left out)."""
    return [c.strip() for c in d.checks.splitlines() if c.strip() and not c.strip().startswith("#")]


def spec_dict(d: Draft, *, checks: bool = True) -> dict[str, Any]:
    """The draft as a spec mapping (not yet validated); ``checks=False`` leaves the checks out."""
    choice = d.dataset or state.current_dataset_choice()
    out: dict[str, Any] = {"title": d.title.strip() or "Classifier audit"}
    authors = [a.strip() for a in d.authors.split(",") if a.strip()]
    if authors:
        out["authors"] = authors
    if d.audience.strip():
        out["audience"] = d.audience.strip()
    if d.notes.strip():
        out["notes"] = d.notes.strip()
    out["model"] = d.model or state.current_model_ref()
    if d.mlm:
        out["mlm"] = d.mlm
    out["dataset"] = _dataset_entry(choice)
    if choice.n is not None:
        out["sample_size"] = int(choice.n)
    out["seed"] = int(choice.seed)
    sections = []
    for f in d.findings:
        sec: dict[str, Any] = {"kind": f.kind}
        if f.title:
            sec["title"] = f.title
        sec.update(f.params)
        if f.note.strip():
            sec["note"] = f.note.strip()
        sections.append(sec)
    out["sections"] = sections
    if checks and check_lines(d):
        out["checks"] = check_lines(d)
    return out


def section_ids(d: Draft) -> list[str]:
    """The id each finding's section gets in the spec (its kind; kind_2, … when repeated): what checks name."""
    from reports.spec import _default_ids

    return _default_ids([f.kind for f in d.findings])


def spec_yaml(d: Draft, *, checks: bool = True) -> str:
    head = ("# Backbone Lens report spec, written by the dashboard's Report page.\n"
            "# Build it with:  python -m reports build THIS_FILE --out OUT_DIR\n")
    return head + yaml.safe_dump(spec_dict(d, checks=checks), sort_keys=False, allow_unicode=True, width=100)


def validated_spec(d: Draft, base_dir: Path | None = None, *, checks: bool = True) -> Any:
    """The draft through ``reports.spec.parse_spec`` (raises SpecError with field and line on a problem)."""
    from reports.spec import parse_spec

    return parse_spec(spec_yaml(d, checks=checks), source="report spec", base_dir=base_dir)


# ----------------------------------------------------------------------------- checks


def check_options(d: Draft) -> list[tuple[str, str]]:
    """The figures a check on this draft can name, as (name, words): the report model's ``accuracy``, ``macro_f1``
    and ``n``, then every figure each section publishes (``SECTION.FIGURE``; a figure per method, score or task
    where the section's settings say which ones it computes)."""
    from core.analyses.adversarial.detection import SUSPICION_SCORES
    from reports.checks import GLOBAL_METRICS, metric_spec
    from reports.sections import SECTIONS

    words = {"accuracy": "accuracy of the report model", "macro_f1": "macro-F1 of the report model",
             "n": "texts the report model is evaluated on"}
    out = [(g, words.get(g, g)) for g in GLOBAL_METRICS]
    for sid, f in zip(section_ids(d), d.findings):
        title = kind_title(f.kind)
        for name in metric_spec(f.kind).names:
            if "*" not in name:
                out.append((f"{sid}.{name}", f"{title} · {name.replace('_', ' ')}"))
                continue
            head, _, tail = name.partition(".")
            if f.kind == "faithfulness" and head == "*":
                methods = list(f.params.get("methods") or SECTIONS["faithfulness"].defaults()["methods"])
                out += [(f"{sid}.{m}.{tail}", f"{title} · {m.replace('_', ' ')} · {tail.replace('_', ' ')}")
                        for m in [*methods, "random"]]
            elif f.kind == "adversarial" and head == "*":
                out += [(f"{sid}.{s}.{tail}", f"{title} · {s.replace('_', ' ')} · {tail.replace('_', ' ')}")
                        for s in SUSPICION_SCORES]
    return out


def check_problem(expr: str, d: Draft) -> str | None:
    """Why ``expr`` is not a valid check of this draft (None when it is): its syntax, and whether the figures it
    names exist in the draft's sections."""
    from reports.checks import CheckSyntaxError, name_problem, parse_check

    try:
        c = parse_check(expr)
    except CheckSyntaxError as e:
        return str(e)
    ids = dict(zip(section_ids(d), (f.kind for f in d.findings)))
    for path in c.names():
        problem = name_problem(path, ids)
        if problem:
            return problem
    return None


def set_checks(lines: Sequence[str]) -> None:
    d = draft()
    save(replace(d, checks="\n".join(lines)))


# ----------------------------------------------------------------------------- the button


def add_button(kind: str, params: dict[str, Any], *, page: str, key: str, texts: Sequence[str] = (),
               rows: Sequence[int] | None = None, title: str | None = None, label: str = "Add to report",
               help: str | None = None, container: Any = None, labels: Mapping[str, str] | None = None,
               view: str = "", mlm: str | None = None) -> None:
    """An "Add to report" popover: the auditor's note and a button that stores this finding (section ``kind`` with
    ``params``) in the session's report draft; the Report page builds it.

    The finding is checked first (:func:`check_finding`); when it could not be built, the reason shows here, next to
    the disabled button, in the page's words (``labels``: parameter → the page's widget label). Selected ``texts``
    (with their dataset ``rows``) can be quoted in the note; ``mlm``: the decoding head the view was made with (it
    becomes the report's ``mlm:``)."""
    where = container if container is not None else st
    name = kind_title(kind).lower()
    problem = check_finding(kind, params, page=page, labels=labels, mlm=mlm)
    with where.popover(label, icon=":material/post_add:", help=help or (
            f"Store this view as a {name} section of the report draft (with its exact settings); the Report page "
            "lists the draft and builds the HTML/PDF.")):
        st.caption(f"Report section: **{kind_title(kind)}** · {describe_params(params, labels) or 'default settings'}")
        # keyed by the draft's next id: once this finding is added, the next one starts with an empty note
        note = st.text_area("Note for the report (Markdown)", key=f"bl.report-note.{key}.{draft().next_uid}",
                            height=90, placeholder="What should the reader see here?")
        quote = False
        if texts and not _declares(kind, "texts"):
            n = len(texts)
            quote = st.checkbox(f"Quote the {n} selected text{'s' if n != 1 else ''} in the note",
                                value=True, key=f"bl.report-quote.{key}")
        if problem:
            st.error(problem, icon=":material/error:")
        if st.button("Add", key=f"bl.report-add.{key}", type="primary", icon=":material/add:",
                     disabled=problem is not None):
            full = (note or "").strip()
            if quote:
                full = (full + "\n\n" if full else "") + "Selected texts:\n\n" + quote_texts(texts, rows)
            try:
                add_finding(kind, params, page=page, note=full, title=title, texts=texts, view=view, mlm=mlm)
            except ValueError as e:  # the draft changed since the check above (another tab)
                st.error(str(e), icon=":material/error:")
                return
            n_f = len(draft().findings)
            st.toast(f"Added to the report draft ({n_f} finding{'s' if n_f != 1 else ''}). Open the Report page to "
                     "build it.", icon=":material/check_circle:")


__all__ = ["Draft", "Finding", "PAGE_KINDS", "add_button", "add_finding", "check_finding", "check_lines",
           "check_options", "check_problem", "set_checks",
           "describe_params", "draft", "kind_title", "move", "quote_texts", "remove", "save", "section_ids",
           "set_note", "spec_dict", "spec_yaml", "validated_spec"]
