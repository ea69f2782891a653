"""What report sections share (sections never import each other; they import this module).

Models and datasets a section names itself, beside the report's own (``model``/``dataset`` params);
held-out samples; the saliency methods a spec may name; results one section computes and a later one
reuses through the build's memo (head importance for the attention section's top heads).

A report spec has one top-level model and dataset; the application sections (``comparison``,
``adversarial``) may name others. Each is loaded once per build through the context's memo, so two
sections naming the same model share it, and its load time shows in the provenance timings. The
fragment of such a section records what it used (:func:`model_facts`, :func:`dataset_facts`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.head_importance import HeadImportance, HeadImportanceParams
    from core.data.datasets import TextDataset
    from core.data.sampling import Sample
    from core.models.loading import LoadedModel
    from reports.context import ReportContext


def local_ref(ctx: "ReportContext", ref: str, what: str = "model") -> str:
    """A section's model or dataset reference as the build reads it: a relative path resolves against the spec's
    folder — never the current folder — and must be allowed by the path policy (:mod:`reports.paths`; checked
    again here because the file may have changed since validation)."""
    if not ctx.spec.source:
        return ref
    from reports.paths import PathPolicy, PathRefused
    from core.foundation.errors import SpecError

    try:
        return PathPolicy.for_spec(Path(ctx.spec.source).parent, allow=ctx.allowed_paths,
                                   any_path=ctx.any_path).localise(ref, what=what)
    except PathRefused as e:
        raise SpecError(str(e)) from None


def section_model(ctx: "ReportContext", ref: str | None) -> "LoadedModel":
    """The report's model when ``ref`` is None or the same reference (or its name in the spec's ``models``), else
    ``ref`` (a name of ``models`` or a reference) loaded once per build."""
    ref = None if ref is None else ctx.spec.model_ref(ref)
    if ref is None or ref == ctx.spec.model:
        return ctx.model

    return ctx._once(f"load_model:{ref}", lambda: ctx.open_model(ref, local_ref(ctx, ref)))


def section_dataset(ctx: "ReportContext", ref: str | None) -> "TextDataset":
    """The report's whole dataset when ``ref`` is None or the same (or its name in the spec's ``datasets``), else
    ``ref`` (a name of ``datasets``, with its columns, or a reference) loaded once."""
    spec = ctx.spec.dataset_spec(ref)
    if ref is None or spec == ctx.spec.dataset or ref == ctx.spec.dataset.ref:  # a bare ref keeps the columns
        return ctx.full_dataset

    def load():
        from core.data.refs import load_dataset

        ctx.say("load", 0.5, f"loading dataset {spec.ref}")
        return load_dataset(local_ref(ctx, spec.ref, "dataset"), **spec.load_kwargs())
    plain = all(v is None for k, v in spec.load_kwargs().items() if k != "encoding") and spec.encoding == "utf-8"
    return ctx._once(f"load_dataset:{spec.ref}" if plain else f"load_dataset:{spec.ref}:{spec.load_kwargs()}", load)


def model_facts(m: "LoadedModel") -> dict[str, Any]:
    """What the provenance of a section records about a model it used."""
    meta = m.metadata or {}
    return {"ref": m.ref, "fingerprint": m.fingerprint, "model_type": m.model_type, "setting": meta.get("setting"),
            "base_model": meta.get("base_model"), "trained_on": meta.get("dataset"),
            "label_names": list(m.label_names), "has_head": bool(m.has_head), "max_length": m.max_length}


def dataset_facts(full: "TextDataset", sample: "TextDataset", ref: str) -> dict[str, Any]:
    return {"ref": ref, "name": full.name, "n_total": len(full), "n": len(sample),
            "source_fingerprint": full.source_fingerprint, "sample_fingerprint": sample.fingerprint}


def shorten(text: str, limit: int = 300) -> str:
    """``text`` cut at a word boundary near ``limit`` characters, with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[:limit]) + " …"


def for_print(chart: Any) -> Any:
    """A copy of a dashboard chart for a static report: no per-point ARIA labels (they would carry dataset
    texts into the SVG, unseen) and legend titles and labels never cut short."""
    chart = chart.copy(deep=True)
    chart.config.aria = False
    chart.config.legend.labelLimit = 0
    chart.config.legend.titleLimit = 0
    return chart


def saliency_method_names() -> tuple[str, ...]:
    """The registered saliency methods (imported only when a spec names some: core.saliency loads torch)."""
    from core.analyses.saliency import method_names

    return method_names()


def sample_facts(sample: "Sample") -> dict[str, Any]:
    """Where a section's texts come from, as its fragment records it: the split, the reason (one sentence), the
    counts, the seed, and whether the model was trained on the dataset."""
    return {"split": sample.split, "split_note": sample.reason, "n_pool": sample.n_pool, "n": len(sample),
            "n_total": sample.n_total, "seed": sample.seed, "trained_on_dataset": bool(sample.trained_by)}


LATEST = "heads:latest:"  # memo key prefix: the first heads result per model in this build (for ``attention``)
HEADS_N = 100  # texts of the heads section by default, and of the head importance the attention section computes


def head_importance_once(ctx: "ReportContext", model: "LoadedModel", sample: "Sample",
                         params: "HeadImportanceParams") -> "HeadImportance":
    """``core.analyses.transformer.head_importance.run_head_importance`` once per build, model, texts and settings
    (disk-cached across builds)."""
    from core.analyses.transformer.head_importance import run_head_importance

    ds = sample.dataset
    key = (f"head_importance:{model.ref}:{len(ds)} texts {ds.fingerprint[:10]}:{params.method}:steps={params.steps}:"
           f"compare={params.compare}:prune={params.prune}")
    return ctx._once(key, lambda: run_head_importance(model, sample, params, progress=ctx.say))
