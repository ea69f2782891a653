"""``heads``: which attention heads the classifier's decision rests on, and whether that ranking is real.

Every head of every layer gets an importance score on a sample of texts
(``core.analyses.transformer.head_importance``): attention
attribution (Hao et al. 2021, integrated gradients of the predicted class's logit with respect to the head's
attention weights) or the head-mask gradient (Michel et al. 2019, |∂ loss / ∂ gate| at the intact model), with
the other method beside it and the Spearman correlation of the two rankings. The pruning check masks heads in the
ranked order — most important first, least important first, and in a random order — and measures accuracy at
each number k of masked heads. Results are disk-cached by model weights, texts and settings.

Numbers meant for pass/fail checks (``metrics`` in the fragment, e.g. ``heads.pruning_gap > 0`` in a spec's checks;
``most_first``, ``least_first`` and ``random`` map each checked k to its accuracy) and beside it: ``spearman`` (None
without ``compare``),
``intact_accuracy``, ``pruning_gap`` (mean over the checked k with 0 < k < all heads of accuracy(random order) −
accuracy(most important first): positive = the heads ranked most important matter more than random ones),
``pruning_gap_least`` (the same mean of accuracy(least important first) − accuracy(random order): positive = the
heads ranked least important matter less than random ones), ``top_heads`` ([{rank, layer, head, ...}], 0-based)
and ``accuracy_at`` ({k: {least, most, random}} for every checked k)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analyses.transformer.head_importance import HEAD_METHODS, HeadImportanceParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import (HEADS_N, LATEST, dataset_facts, for_print, head_importance_once, model_facts,
                                     section_dataset, section_model)

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.head_importance import HeadImportance
    from reports.context import ReportContext


def label(layer: int, head: int) -> str:
    return f"L{layer}·H{head}"


@dataclass(frozen=True)
class HeadsSectionParams(Params):
    model: str | None = param(None, "the classifier whose heads are ranked (default: the report's model)", type="str")
    dataset: str | None = param(None, "dataset reference the texts come from, e.g. bundled:tweets (default: the "
                                "report's dataset)", type="str")
    n: int = param(HEADS_N, "texts: a random sample (report seed) of the held-out test split when the model was "
                   "trained on the dataset, else of the whole dataset", minimum=8)
    method: str = same_param(HeadImportanceParams, "method")
    steps: int = same_param(HeadImportanceParams, "steps")
    compare: bool = same_param(HeadImportanceParams, "compare")
    prune: bool = same_param(HeadImportanceParams, "prune")
    top: int = param(10, "rows of the table of the most important heads", minimum=1, maximum=50)


@register("heads", title="Attention heads", params=HeadsSectionParams)
def compute(ctx: "ReportContext", p: HeadsSectionParams) -> dict:
    """Attention-head importance (attribution or head-mask gradient) and the pruning check of the ranking."""
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    context: dict[str, Any] = {"model_ref": ctx.spec.model_ref(p.model), "n_requested": p.n, "seed": ctx.spec.seed,
                               "steps": p.steps}
    try:
        model = section_model(ctx, p.model)
        model.require_head()
        ds_ref = p.dataset or ctx.spec.dataset.ref
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample([model], full, p.n, seed=ctx.spec.seed, classifiers_only=True)
        context.update(split=sample.split, split_note=sample.reason, n_pool=sample.n_pool, model=model_facts(model),
                       dataset=dataset_facts(full, sample.dataset, ds_ref))
        res = head_importance_once(ctx, model, sample, HeadImportanceParams(method=p.method, steps=p.steps,
                                                                           compare=p.compare, prune=p.prune))
    except BackboneLensError as e:  # no head, unsupported architecture, unknown model …: one sentence
        ctx.say("heads", 1.0, f"head importance not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    ctx._memo.setdefault(LATEST + model.fingerprint, res)  # for an attention section's top heads
    context.update(label_note=res.label_note or None, cache_hit=res.cache_hit)
    return heads_fragment(res, top=p.top, context=context)


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def heads_fragment(res: "HeadImportance", *, top: int = 10, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from a computed :class:`core.analyses.transformer.head_importance.HeadImportance` (pure; no model)."""
    from figures.heads import head_cell_size, head_matrix_chart, pruning_curves_chart

    ctx = {"model_ref": res.model_ref, "model": None, "dataset": None, "split": None, "split_note": None,
           "n_pool": None, "label_note": None, "seed": 0, "steps": None, "cache_hit": False, **(context or {})}
    L, H = res.importance.shape
    method, other = res.method, res.other_method
    title, cite = HEAD_METHODS.title(method).lower(), HEAD_METHODS[method].cite
    other_title, other_cite = HEAD_METHODS.title(other).lower(), HEAD_METHODS[other].cite
    top_heads = [{**t, "label": label(t["layer"], t["head"])} for t in res.top_heads(top)]
    cell = head_cell_size(L, H, width=300)  # one above the other, each at full size in the printed column
    rho = "–" if res.spearman is None else f"{res.spearman:.2f}"
    fig_imp = figure(for_print(head_matrix_chart(
        res.importance, title=title.capitalize(), value_title="importance", cell=cell,
        subtitle="numbers: the five most important heads", legend="swatches")),
        caption=(f"Importance of each of the {L * H} heads ({L} layers × {H} heads, both counted from 0) by "
                 f"{title} ({cite}), averaged over {res.n:,} texts; the five most important carry their rank. "
                 + ("Orange cells help the predicted class, blue cells work against it." if method == "attribution"
                    and float(res.importance.min()) < 0 else "Darker = more important.")),
        alt=f"Heat map of {title} per attention head, {L} layers by {H} heads")
    fig_other = None
    if res.other is not None:
        fig_other = figure(for_print(head_matrix_chart(
            res.other, title=f"{other_title.capitalize()} (other method)", value_title="importance",
            cell=cell, subtitle=f"Spearman ρ = {rho} with the ranking above", legend="swatches")),
            caption=(f"The same heads ranked by {other_title} ({other_cite}). Spearman ρ = {rho}: "
                     "1 = the two methods rank the heads identically, 0 = unrelated rankings."),
            alt=f"Heat map of {other_title} per attention head")
    computed = res.other is not None
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "method": method, "method_title": title, "method_cite": cite,
        "other_method": other if computed else None, "other_title": other_title if computed else None,
        "other_cite": other_cite if computed else None,
        "n": res.n, "layers": L, "heads": H, "n_heads": L * H,
        "spearman": _f(res.spearman), "intact_accuracy": None, "pruning_gap": None, "pruning_gap_least": None,
        "accuracy_against": None, "top_heads": top_heads, "accuracy_at": {}, "pruning": None,
        "matrix": np.round(res.importance, 6).tolist(),
        "other_matrix": None if res.other is None else np.round(res.other, 6).tolist(),
        "seconds": {k: round(float(v), 2) for k, v in res.seconds.items()},
        "figure_importance": fig_imp, "figure_other": fig_other, "figure_pruning": None,
    }
    p = res.pruning
    if p is not None:
        rows = [{"k": int(k), "least": float(a), "most": float(b), "random": float(c)}
                for k, a, b, c in zip(p.ks, p.least_first, p.most_first, p.random)]
        out.update(intact_accuracy=_f(p.intact), pruning_gap=_f(p.gap("most")), pruning_gap_least=_f(p.gap("least")),
                   accuracy_against=p.reference, pruning=rows,
                   accuracy_at={str(r["k"]): {"least": r["least"], "most": r["most"], "random": r["random"]}
                                for r in rows})
        out["figure_pruning"] = figure(
            for_print(pruning_curves_chart(p, width=420, height=210)),
            caption=("The pruning check: accuracy (against " + p.reference + f", {res.n:,} texts) with k heads "
                     "switched off, in three orders. Look at the gap between the curves: if the ranking is real, "
                     "masking the most important heads first (vermillion) costs accuracy sooner than masking random "
                     "heads (grey, dashed), and masking the least important first (blue) costs the least; all three "
                     "meet at k = 0 (dotted: the intact model) and when every head is masked. The k axis is "
                     "stretched near 0, where the first heads are removed."),
            alt="Line chart of accuracy against the number of masked heads for three masking orders")
    out["findings"] = _findings(out)
    out["metrics"] = {"spearman": out["spearman"], "intact_accuracy": out["intact_accuracy"],
                      "pruning_gap": out["pruning_gap"], "pruning_gap_least": out["pruning_gap_least"],
                      "top_importance": top_heads[0]["importance"] if top_heads else None,
                      **({"most_first": {k: v["most"] for k, v in out["accuracy_at"].items()},
                          "least_first": {k: v["least"] for k, v in out["accuracy_at"].items()},
                          "random": {k: v["random"] for k, v in out["accuracy_at"].items()}}
                         if out["accuracy_at"] else {})}
    return out


def _findings(d: dict[str, Any]) -> list[str]:
    out = []
    th = d["top_heads"][:5]
    if th:
        layers = sorted({t["layer"] for t in th})
        out.append(f"The {len(th)} most important heads by {d['method_title']}: "
                   + ", ".join(t["label"] for t in th) + " (L = layer, H = head, from 0); they sit in "
                   + ("layer " if len(layers) == 1 else "layers ") + ", ".join(map(str, layers)) + f" of 0–"
                   f"{d['layers'] - 1}.")
    rho = d["spearman"]
    if rho is not None:
        how = ("agree closely" if rho >= 0.7 else "agree in part" if rho >= 0.4 else "agree little" if rho >= 0.1
               else "do not agree")
        out.append(f"The two methods {how} on the ranking (Spearman ρ = {rho:.2f} over all {d['n_heads']} heads).")
    gap, least = d["pruning_gap"], d["pruning_gap_least"]
    if gap is not None:
        one = 1 / max(1, d["n"])
        if gap > one:
            verdict = ("the ranking is real: the heads it ranks first matter more than random heads")
        elif gap < -one:
            verdict = "the ranking is not supported: masking random heads hurts more than masking the top-ranked ones"
        else:
            verdict = "no clear difference from random masking at this sample size"
        out.append(f"Pruning check: averaged over k, masking the k most important heads costs {abs(gap) * 100:.1f} "
                   f"accuracy points {'more' if gap >= 0 else 'less'} than masking k random heads — {verdict}."
                   + ("" if least is None else f" Masking the k least important heads costs {abs(least) * 100:.1f} "
                                               f"points {'less' if least >= 0 else 'more'} than random masking."))
    if d["n"] < 100:
        out.append(f"With {d['n']:,} texts one text is {100 / d['n']:.1f} accuracy points; read small gaps as noise.")
    return out
