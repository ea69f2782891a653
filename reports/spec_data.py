"""The report spec as data: the frozen dataclasses a validated spec becomes (parsing and validation are in
:mod:`reports.spec`, which needs the section registry; this module needs nothing of it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
import yaml


@dataclass(frozen=True)
class DatasetSpec:
    """Where the data comes from and how to read it (columns only matter for files)."""

    ref: str
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    label_names: tuple[str, ...] | None = None
    encoding: str = "utf-8"

    def load_kwargs(self) -> dict[str, Any]:
        return {"text_column": self.text_column, "text_pair_column": self.text_pair_column,
                "label_column": self.label_column, "encoding": self.encoding,
                "label_names": list(self.label_names) if self.label_names else None}


@dataclass(frozen=True)
class SectionSpec:
    """One section: its registered ``kind``, resolved params (defaults filled in), optional heading, its ``id``
    (what checks name it by) and the auditor's Markdown ``note``."""

    kind: str
    params: dict[str, Any]
    title: str | None = None
    line: int | None = None
    id: str = ""
    note: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """A validated report spec (see module docstring)."""

    title: str
    model: str
    dataset: DatasetSpec
    sections: tuple[SectionSpec, ...]
    author: str | None = None
    audience: str | None = None
    sample_size: int | None = None
    seed: int = 0
    source: str | None = None  # the spec file, if read from one
    authors: tuple[str, ...] = ()
    notes: str | None = None
    models: dict[str, str] = field(default_factory=dict)  # name → reference (the report's model included)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)  # name → dataset (the report's included)
    checks: tuple[Any, ...] = ()  # reports.checks.Check
    model_name: str | None = None
    dataset_name: str | None = None
    mlm: str | None = None  # a base checkpoint whose (masked-)LM head decoded saliency reads through

    def section_ids(self) -> dict[str, str]:
        """``{id: kind}`` of the sections, in order."""
        return {s.id: s.kind for s in self.sections}

    def model_ref(self, name_or_ref: str | None) -> str:
        """A model name of ``models`` → its reference; anything else is a reference already."""
        if name_or_ref is None:
            return self.model
        return self.models.get(name_or_ref, name_or_ref)

    def dataset_spec(self, name_or_ref: str | None) -> DatasetSpec:
        if name_or_ref is None:
            return self.dataset
        return self.datasets.get(name_or_ref) or DatasetSpec(ref=name_or_ref)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able form (what :func:`parse_spec` reads back)."""
        def ds_plain(d: DatasetSpec) -> Any:
            dd = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(d).items()
                  if v is not None and not (k == "encoding" and v == "utf-8")}
            return dd if len(dd) > 1 else dd["ref"]

        out: dict[str, Any] = {"title": self.title}
        if self.authors:
            out["authors"] = list(self.authors)
        elif self.author:
            out["author"] = self.author
        if self.audience:
            out["audience"] = self.audience
        if self.notes:
            out["notes"] = self.notes
        named_models = {k: v for k, v in self.models.items()}
        if len(named_models) > 1 or self.model_name:
            out["models"] = named_models
            out["model"] = self.model_name or self.model
        else:
            out["model"] = self.model
        if len(self.datasets) > 1 or self.dataset_name:
            out["datasets"] = {k: ds_plain(v) for k, v in self.datasets.items()}
            out["dataset"] = self.dataset_name or self.dataset.ref
        else:
            out["dataset"] = ds_plain(self.dataset)
        if self.sample_size is not None:
            out["sample_size"] = self.sample_size
        out["seed"] = self.seed
        ids = _default_ids([s.kind for s in self.sections])
        out["sections"] = [{"kind": s.kind, **({"id": s.id} if s.id and s.id != ids[i] else {}),
                            **({"title": s.title} if s.title else {}),
                            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in s.params.items()},
                            **({"note": s.note} if s.note else {})}
                           for i, s in enumerate(self.sections)]
        if self.checks:
            out["checks"] = [c.expr if not c.name else {"check": c.expr, "name": c.name} for c in self.checks]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _default_ids(kinds: list[str]) -> list[str]:
    """A section's default id: its kind, or kind_2, kind_3 … for the second and later of a kind."""
    seen: dict[str, int] = {}
    out = []
    for k in kinds:
        seen[k] = seen.get(k, 0) + 1
        out.append(k if seen[k] == 1 else f"{k}_{seen[k]}")
    return out
