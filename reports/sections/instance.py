"""``instance``: single texts explained in depth — Integrated-Gradients attribution, token interactions by
integrated Hessians (Janizek et al., 2021) and attribution entropy — and, over a sample, whether spread-out
evidence (high entropy) goes with the model's errors and low confidence (AUROC, with text length as control).

Texts are given (``texts``) or, by default, the ``examples`` texts of the entropy sample whose evidence is most
spread out. Figures for checks: ``auroc_error``, ``auroc_low_confidence``, ``length_auroc_error``,
``mean_entropy``, ``texts``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analyses.transformer.instance_view import EntropyParams, InstanceParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import dataset_facts, for_print, model_facts, section_dataset, section_model

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.instance_view import EntropyStudy, InstanceView
    from reports.context import ReportContext


@dataclass(frozen=True)
class InstanceSectionParams(Params):
    model: str | None = param(None, "model reference for this section (default: the report's model)", type="str")
    dataset: str | None = param(None, "dataset for the entropy study (default: the report's dataset)", type="str")
    texts: tuple[str, ...] | None = param(None, "texts to explain in depth (default: the most spread-out ones of the "
                                          "study)", type="str_list")
    examples: int = param(2, "texts taken from the study when none are given", minimum=0, maximum=10)
    study_n: int = param(200, "texts of the entropy study (held-out split when the model was trained on the "
                         "dataset); 0 = no study", minimum=0)
    study_steps: int = same_param(EntropyParams, "steps")
    ig_steps: int = same_param(InstanceParams, "ig_steps")
    steps: int = same_param(InstanceParams, "steps")
    max_tokens: int = same_param(InstanceParams, "max_tokens", default=12)


@register("instance", title="Instance view", params=InstanceSectionParams)
def compute(ctx: "ReportContext", p: InstanceSectionParams) -> dict:
    """IG + integrated Hessians for a few texts, and the attribution-entropy study."""
    from core.analyses.transformer.instance_view import instance_view, run_entropy
    from core.foundation.cache import ArrayCache
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    context: dict[str, Any] = {"model_ref": ctx.spec.model_ref(p.model), "seed": ctx.spec.seed}
    try:
        model = section_model(ctx, p.model)
        model.require_head()
        study = None
        texts = list(p.texts or ())
        if p.study_n > 0:
            full = section_dataset(ctx, p.dataset)
            sample = heldout_sample([model], full, p.study_n, seed=ctx.spec.seed, classifiers_only=True)
            study = run_entropy(model, sample, EntropyParams(steps=p.study_steps), progress=ctx.say)
            context.update(split=sample.split, split_note=sample.reason,
                           dataset=dataset_facts(full, sample.dataset, full.name))
            if not texts:
                order = np.argsort(-study.entropy, kind="stable")[:p.examples]
                texts = [sample.texts[i] for i in order]
        if not texts:
            raise BackboneLensError("Give texts to explain or an entropy study (study_n > 0) to pick them from.")
        views, cache = [], ArrayCache()
        one = InstanceParams(ig_steps=p.ig_steps, steps=p.steps, max_tokens=p.max_tokens)
        for i, t in enumerate(texts):
            ctx.say("instance", i / len(texts), f"explaining text {i + 1} of {len(texts)}")
            views.append(instance_view(model, t, params=one, cache=cache))
    except BackboneLensError as e:
        return {"available": False, "reason": str(e), **context}
    context["model"] = model_facts(model)
    return instance_fragment(views, study, context=context)


def instance_fragment(views: "list[InstanceView]", study: "EntropyStudy | None" = None, *,
                      context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from computed :class:`core.analyses.transformer.instance_view.InstanceView` results and an optional
    :class:`core.analyses.transformer.instance_view.EntropyStudy` (pure; no model)."""
    from figures.instance import entropy_study_chart, interaction_chart
    from figures.saliency import saliency_html

    examples = []
    for v in views:
        a = v.attribution
        examples.append({
            "predicted": a.predicted_label, "probability": a.probability, "target": a.target_label,
            "entropy": v.entropy, "completeness_error": v.completeness_error,
            "ig_delta": a.extras.get("relative_delta"), "notes": list(v.notes),
            "html": saliency_html(a, words=True, header=False),
            "top_pairs": [{"a": x, "b": y, "value": val} for x, y, val in v.top_pairs(6)],
            "figure": figure(for_print(interaction_chart(v, cell=max(14, min(26, 360 // max(len(v.rows), 1))))),
                             caption=(f"Token interactions (integrated Hessians, {v.steps} path points) among the "
                                      f"{len(v.rows)} most attributed tokens. Red: the two tokens together push "
                                      f"'{a.target_label}' more than their separate effects; blue: less. Look for "
                                      "strong pairs the single-token attribution above cannot show (negations, "
                                      "phrases)."),
                             alt="Heat map of pairwise token interactions")})
    out: dict[str, Any] = {"available": True, "reason": None, **(context or {}), "examples": examples, "study": None}
    metrics: dict[str, Any] = {"texts": len(examples)}
    if study is not None:
        j = study.to_json()
        out["study"] = {**j, "figure": figure(
            for_print(entropy_study_chart(study, width=230, height=150)),
            caption=(f"Attribution entropy (normalised, 0 = all evidence on one token, 1 = spread evenly) of "
                     f"{study.n:,} texts. Left: its distribution for correct and misclassified texts; right: "
                     "against the model's confidence. If the error curve sits to the right, spread-out evidence "
                     "flags mistakes."),
            alt="Density of attribution entropy by correctness and scatter of entropy against confidence")}
        metrics.update(auroc_error=j["auroc_error"], auroc_low_confidence=j["auroc_low_confidence"],
                       length_auroc_error=j["auroc_error_length"], mean_entropy=j["entropy_mean"])
    out["metrics"] = metrics
    return out
