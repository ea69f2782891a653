"""The session's report draft: findings collected with "Add to report" on the analysis pages, turned into a
report spec (YAML) that ``python -m reports build`` runs exactly as the Report page does.

A finding is one report section — its kind and the exact parameters the page used — plus the auditor's
note, the page it came from and, when the user had selected texts, those texts. The draft also holds the
report's title, authors, audience, notes and checks. The spec is always produced through
``reports.spec.parse_spec``, so what the page shows, downloads and builds has passed the same validation as
a hand-written spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import streamlit as st
import yaml

from ui import state

DRAFT_KEY = "bl.report.draft"


@dataclass(frozen=True)
class Finding:
    """One section of the draft: ``kind`` and ``params`` as the spec takes them; ``texts`` the selected texts
    (kept for the record and shown on the Report page); ``page`` where it was added."""

    kind: str
    params: dict[str, Any]
    page: str
    note: str = ""
    title: str | None = None
    texts: tuple[str, ...] = ()
    uid: int = 0


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


def add_finding(kind: str, params: dict[str, Any], *, page: str, note: str = "", title: str | None = None,
                texts: Sequence[str] = ()) -> Finding:
    """Append a finding (and, on the first one, take the report's model and dataset from the Workspace)."""
    d = draft()
    f = Finding(kind, {k: _plain(v) for k, v in params.items() if v is not None}, page, note.strip(), title,
                tuple(texts), d.next_uid)
    d = replace(d, findings=(*d.findings, f), next_uid=d.next_uid + 1,
                model=d.model or state.current_model_ref(), dataset=d.dataset or state.current_dataset_choice())
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


def spec_dict(d: Draft) -> dict[str, Any]:
    """The draft as a spec mapping (not yet validated)."""
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
    checks = [c.strip() for c in d.checks.splitlines() if c.strip() and not c.strip().startswith("#")]
    if checks:
        out["checks"] = checks
    return out


def section_ids(d: Draft) -> list[str]:
    """The id each finding's section gets in the spec (its kind; kind_2, … when repeated): what checks name."""
    from reports.spec import _default_ids

    return _default_ids([f.kind for f in d.findings])


def spec_yaml(d: Draft) -> str:
    head = ("# Backbone Lens report spec, written by the dashboard's Report page.\n"
            "# Build it with:  python -m reports build THIS_FILE --out OUT_DIR\n")
    return head + yaml.safe_dump(spec_dict(d), sort_keys=False, allow_unicode=True, width=100)


def validated_spec(d: Draft, base_dir: Path | None = None) -> Any:
    """The draft through ``reports.spec.parse_spec`` (raises SpecError with field and line on a problem)."""
    from reports.spec import parse_spec

    return parse_spec(spec_yaml(d), source="report spec", base_dir=base_dir)


def add_button(kind: str, params: dict[str, Any], *, page: str, key: str, texts: Sequence[str] = (),
               title: str | None = None, label: str = "Add to report", help: str | None = None,
               container: Any = None) -> None:
    """An "Add to report" popover: the auditor's note and a button that stores this finding (section ``kind`` with
    ``params``) in the session's report draft; the Report page builds it."""
    where = container if container is not None else st
    with where.popover(label, icon=":material/post_add:", help=help or (
            f"Store this view as a '{kind}' section of the report draft (with its exact settings); the Report page "
            "lists the draft and builds the HTML/PDF.")):
        note = st.text_area("Note for the report (Markdown)", key=f"bl.report-note.{key}", height=90,
                            placeholder="What should the reader see here?")
        if texts:
            st.caption(f"{len(texts)} selected text{'s' if len(texts) != 1 else ''} go with it.")
        if st.button("Add", key=f"bl.report-add.{key}", type="primary", icon=":material/add:"):
            add_finding(kind, params, page=page, note=note or "", title=title, texts=texts)
            n = len(draft().findings)
            st.session_state.pop(f"bl.report-note.{key}", None)
            st.toast(f"Added to the report draft ({n} finding{'s' if n != 1 else ''}). Open the Report page to "
                     "build it.", icon=":material/check_circle:")


__all__ = ["Draft", "Finding", "add_button", "add_finding", "draft", "move", "remove", "save", "section_ids", "set_note", "spec_dict", "spec_yaml",
           "validated_spec"]
