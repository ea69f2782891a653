"""``overview``: model facts, dataset statistics, accuracy, per-class scores and confusion matrix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.foundation.params import Params, param
from reports.sections.registry import figure, register

if TYPE_CHECKING:  # pragma: no cover
    from core.data.datasets import DatasetStats
    from core.models.evaluate import EvaluationResult
    from reports.context import ReportContext


@dataclass(frozen=True)
class OverviewParams(Params):
    """Parameters of the ``overview`` section."""

    normalize: bool = param(True, "colour confusion-matrix cells by share of their true label (counts stay printed)")
    show_length_chart: bool = param(True, "include the text-length histogram")


@register("overview", title="Overview", params=OverviewParams)
def compute(ctx: "ReportContext", params: OverviewParams) -> dict:
    """Model facts, dataset statistics with charts, accuracy, macro-F1, per-class table, confusion matrix."""
    ev, reason = None, None
    try:
        ev = ctx.evaluation()
    except Exception as e:  # noqa: BLE001 - a model without head or labels still gets an overview
        from core.foundation.errors import BackboneLensError

        if not isinstance(e, BackboneLensError):
            raise
        reason = str(e)
    return overview_fragment(ctx.model_facts(), ctx.dataset_facts(), ctx.stats(), ev,
                             normalize=params.normalize, show_length_chart=params.show_length_chart,
                             unavailable_reason=reason)


def overview_fragment(model: dict[str, Any], dataset: dict[str, Any], stats: "DatasetStats",
                      ev: "EvaluationResult | None", *, normalize: bool = True, show_length_chart: bool = True,
                      unavailable_reason: str | None = None) -> dict[str, Any]:
    """The snapshot fragment from already-computed core results (pure; no model needed)."""
    from figures.dataset import confusion_matrix_chart, label_balance_chart, length_histogram_chart

    total = max(1, sum(stats.label_counts))
    labels = [{"label": n, "count": int(c), "share": c / total} for n, c in zip(stats.label_names, stats.label_counts)]
    figs = []
    if any(stats.label_counts):
        figs.append(figure(label_balance_chart(stats, width=230), caption="Label balance: examples per label "
                           "in the examined sample (bar labels give the share).",
                           alt="Bar chart of examples per label"))
    if show_length_chart and stats.n:
        figs.append(figure(length_histogram_chart(stats, width=230, bins=25),
                           caption="Text length in whitespace-separated words; the dashed line marks the median.",
                           alt="Histogram of text lengths"))
    ds = {**dataset, "n_used": stats.n, "n_unlabelled": stats.n_unlabelled, "is_pair": stats.is_pair,
          "labels": labels, "length": stats.length_summary if stats.n else None, "figures": figs}
    perf: dict[str, Any] = {"available": ev is not None, "reason": unavailable_reason}
    findings: list[str] = []
    if ev is not None:
        cm = ev.confusion_matrix
        per_class = [dict(d) for d in ev.per_class]
        perf.update(accuracy=ev.accuracy, macro_f1=ev.macro_f1, n=ev.n, split=ev.split, note=ev.note,
                    labels=list(ev.labels), confusion_matrix=cm.tolist(), per_class=per_class,
                    normalize=normalize, dataset_fingerprint=ev.dataset_fingerprint,
                    figure=figure(confusion_matrix_chart(ev, normalize=normalize, width=280),
                                  caption=("Confusion matrix. Rows are true labels, columns are predictions; "
                                           "each cell prints its count" + (", colour shows the share of the row."
                                                                           if normalize else ", colour shows the count.")
                                           + " The diagonal holds the correct predictions."),
                                  alt="Confusion matrix heat map"))
        split_words = "held-out test" if ev.split == "test" else "examined"
        findings.append(f"The model labels {ev.accuracy:.1%} of the {ev.n:,} {split_words} examples correctly "
                        f"(macro-F1 {ev.macro_f1:.3f}).")
        recorded = (model.get("heldout") or {}).get("accuracy")
        if isinstance(recorded, (int, float)):
            n_rec = (model.get("heldout") or {}).get("n")
            findings.append(f"Accuracy recorded when the model was built: {recorded:.1%}"
                            + (f" on {n_rec:,} examples." if n_rec else "."))
        present = [d for d in per_class if d["support"] > 0]
        if len(present) > 1:
            worst = min(present, key=lambda d: d["f1"])
            best = max(present, key=lambda d: d["f1"])
            if worst["f1"] < best["f1"]:
                findings.append(f"Weakest label: '{worst['label']}' (F1 {worst['f1']:.3f}, recall {worst['recall']:.1%}); "
                                f"strongest: '{best['label']}' (F1 {best['f1']:.3f}).")
        off = cm.copy()
        np.fill_diagonal(off, 0)
        if off.sum() > 0:
            i, j = np.unravel_index(int(off.argmax()), off.shape)
            findings.append(f"Most frequent mistake: '{ev.labels[i]}' predicted as '{ev.labels[j]}' "
                            f"({int(off[i, j])} of {int(cm[i].sum())} such examples).")
        else:
            findings.append("No example was misclassified.")
    findings.extend(training_findings(model))
    counts = [c for c in stats.label_counts if c > 0]
    if len(counts) > 1 and max(counts) / min(counts) >= 3:
        findings.append(f"The labels are imbalanced: the largest class has {max(counts) / min(counts):.1f}× "
                        "as many examples as the smallest.")
    trunc = dataset.get("truncated_share")
    if isinstance(trunc, (int, float)) and trunc > 0:
        findings.append(f"{trunc:.0%} of the texts are longer than the model's {model.get('max_length')}-token "
                        "window and are truncated before classification.")
    return {"model": model, "dataset": ds, "performance": perf, "findings": findings}


def training_findings(model: dict[str, Any]) -> list[str]:
    """Sentences on how a model trained by Backbone Lens was trained: which texts went where, the optimiser steps
    against the time budget and the threads (nothing for a model without that record)."""
    t = model.get("training") or {}
    params = t.get("params") or {}
    out = []
    splits = t.get("splits") or {}
    if splits:
        parts = "; ".join(f"{w} {splits[s]}" for s, w in (("train", "trained on"), ("validation", "validated on"),
                                                             ("test", "tested on")) if splits.get(s))
        setting = f" in the {model.get('setting')} setting" if model.get("setting") else ""
        base = f" from {t['base_model']}" if t.get("base_model") else ""
        out.append(f"{model.get('name') or model.get('ref')} was trained by Backbone Lens{base}{setting}: {parts}.")
    steps, secs = params.get("steps"), params.get("seconds")
    if isinstance(steps, int) and isinstance(secs, (int, float)) and steps > 0:
        budget = t.get("budget") or {}
        limit = budget.get("seconds") if isinstance(budget, dict) else None
        line = f"Training took {steps:,} optimiser steps in {secs:,.0f} s"
        if isinstance(limit, (int, float)):
            line += f" of its {limit:,.0f} s budget, which covers {budget.get('covers', 'the training')}"
        if params.get("stopped_by"):
            line += f" (stopped by {params['stopped_by']})"
        if t.get("threads"):
            line += f", with {t['threads']}"
        out.append(line + ".")
    return out
