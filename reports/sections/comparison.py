"""``comparison``: two or more models on the same texts (the model comparison of arXiv 2403.18872).

Every model embeds the same held-out texts; ``core.analyses.compare.run_comparison`` measures, for each pair,
how many of each text's k nearest neighbours the two embedding spaces share (Q_NN, and LCMC = Q_NN
above chance), the same between the two DeepView projections, linear CKA of the embeddings and how
often the predictions agree. The section names its models itself (``models``, at least two
references); the report's model is not added to them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.analyses.compare import CompareParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import (dataset_facts, for_print, model_facts, section_dataset,
                                     section_model, shorten)

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.compare import ModelComparison
    from reports.context import ReportContext

HEADLINE_K = 10
TEXT_CHARS = 200  # disagreement table: texts cut to this many characters


@dataclass(frozen=True)
class ComparisonParams(Params):
    """The ``comparison`` section's parameters (``k`` and ``lam`` as :class:`CompareParams` declares them)."""

    models: tuple[str, ...] | None = param(
        None, "the models to compare: two or more model references (demo:NAME, a folder or a hub id), e.g. "
        "[demo:bbc-pretrained, demo:bbc-finetuned]; every pair is compared. Required: the report's own model is "
        "not added", type="str_list", item="model reference", min_items=2)
    dataset: str | None = param(None, "dataset reference for this section, e.g. bundled:bbc (default: the "
                                "report's dataset)", type="str")
    n: int = param(300, "texts compared: a random sample (report seed) of the held-out test split when any of "
                   "the models was trained on the dataset, else of the whole dataset", minimum=10)
    k: tuple[int, ...] = same_param(CompareParams, "k")
    lam: float = same_param(CompareParams, "lam")
    top: int = param(10, "rows of each pair's disagreement table (0: no table)", minimum=0, maximum=100)


@register("comparison", title="Model comparison", params=ComparisonParams)
def compute(ctx: "ReportContext", p: ComparisonParams) -> dict:
    """How alike two or more models see the same texts: Q_NN/LCMC of embeddings and projections, CKA, agreement."""
    from core.analyses.compare import run_comparison
    from core.analyses.projection.params import ProjectionParams
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    refs = list(dict.fromkeys(p.models or ()))
    context: dict[str, Any] = {"refs": refs, "n_requested": p.n, "seed": ctx.spec.seed, "lam": p.lam,
                               "ks": list(p.k)}
    if len(refs) < 2:
        reason = ("it needs two or more different models: give `models`, a list of model references such as "
                  "[demo:bbc-pretrained, demo:bbc-finetuned].")
        return {"available": False, "reason": reason, **context}
    try:
        models = [section_model(ctx, r) for r in refs]
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample(models, full, p.n, seed=ctx.spec.seed, classifiers_only=True)
        cmp = run_comparison(models, sample, CompareParams(k=p.k, lam=p.lam),
                             projection=ProjectionParams(seed=ctx.spec.seed), progress=ctx.say)
    except BackboneLensError as e:  # unknown model, too few texts, k too large …: one sentence in the report
        ctx.say("comparison", 1.0, f"comparison not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    names = unique_names([ctx.model_name(r) for r in refs])
    context.update(split=sample.split, split_note=sample.reason, n_pool=sample.n_pool,
                   models=[{**model_facts(m), "name": nm} for m, nm in zip(models, names)],
                   dataset=dataset_facts(full, sample.dataset, p.dataset or ctx.spec.dataset.ref))
    return comparison_fragment(cmp, top=p.top, context=context, names=names)


# ----------------------------------------------------------------------------- the fragment (pure)


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats told apart (``a``, ``a (2)``): two models may shorten to the same folder name."""
    out: list[str] = []
    for n in names:
        k, cand = 1, n
        while cand in out:
            k += 1
            cand = f"{n} ({k})"
        out.append(cand)
    return out


def headline_k(ks: Any) -> int:
    """The k quoted in sentences: 10 when computed, else the middle one."""
    ks = list(ks)
    return HEADLINE_K if HEADLINE_K in ks else ks[len(ks) // 2]


def _finetune_pair(fa: dict | None, fb: dict | None) -> bool:
    """Both models trained in our two settings, one pre-trained (frozen) and one fine-tuned, from the same base
    on the same data: the difference between them is what fine-tuning did."""
    if not fa or not fb:
        return False
    return ({fa.get("setting"), fb.get("setting")} == {"pretrained", "finetuned"}
            and fa.get("base_model") == fb.get("base_model") and fa.get("trained_on") == fb.get("trained_on")
            and fa.get("trained_on") is not None)


def comparison_fragment(cmp: "ModelComparison", *, top: int = 10, context: dict[str, Any] | None = None,
                        names: list[str] | None = None) -> dict[str, Any]:
    """The snapshot fragment from a computed :class:`core.analyses.compare.ModelComparison` (no model needed).
    ``names``: what the report calls each model (the spec's names; default: the references), used in every
    sentence, table header, chart title and legend; ``model_refs`` keeps the references."""
    from dataclasses import replace

    from figures.compare import comparison_metrics_chart, linked_projections_chart

    ctx = {"split": None, "split_note": None, "n_pool": None, "seed": 0, "models": [], "dataset": None,
           **(context or {})}
    refs = list(cmp.model_refs)
    names = list(names or refs)
    if len(names) != len(refs):
        raise ValueError(f"{len(names)} names for {len(refs)} models")
    cmp = replace(cmp, model_refs=tuple(names))  # the charts and sentences read the names
    facts = {f.get("name", f["ref"]): f for f in ctx["models"]}
    n, ks = cmp.n, list(cmp.ks)
    kh = headline_k(ks)
    ih = ks.index(kh)
    pairs = []
    for pi, p in enumerate(cmp.pairs):
        a, b = cmp.model_refs[p.a], cmp.model_refs[p.b]
        rows = []
        for i, k in enumerate(ks):
            rows.append({"k": k, "chance": k / (n - 1), "q_nn_embeddings": p.embeddings.q_nn[i],
                         "lcmc_embeddings": p.embeddings.lcmc[i],
                         "q_nn_projection": None if p.projection is None else p.projection.q_nn[i],
                         "lcmc_projection": None if p.projection is None else p.projection.lcmc[i],
                         "headline": k == kh})
        dis = []
        for r in cmp.top_disagreements(pi, top) if top else []:
            differ = ("prediction_a" in r and "prediction_b" in r and p.prediction_agreement is not None
                      and r["prediction_a"] != r["prediction_b"])
            dis.append({"row": r["index"], "text": shorten(r["text"], TEXT_CHARS),
                        "text_pair": shorten(r["text_pair"], TEXT_CHARS // 2) if r.get("text_pair") else None,
                        "label": r.get("label"), "prediction_a": r.get("prediction_a"),
                        "confidence_a": r.get("confidence_a"), "prediction_b": r.get("prediction_b"),
                        "confidence_b": r.get("confidence_b"), "neighbour_overlap": r["neighbour_overlap"],
                        "differ": bool(differ)})
        n_differ = None
        if p.prediction_agreement is not None:
            n_differ = int(round((1 - p.prediction_agreement) * n))
        fig_metrics = figure(
            for_print(comparison_metrics_chart(cmp, pi, width=255, height=150)),
            caption=(f"Left: Q_NN(k), the share of each text's k nearest neighbours that {a} and {b} have in common "
                     "(mean over the texts; 1 = identical neighbourhoods), between the embedding spaces (cosine) and "
                     "between the two DeepView projections; grey dashes = chance, k/(n − 1). Right: LCMC = Q_NN minus "
                     "chance. Look at the gap between the lines: a lower projection line means the classifiers group "
                     "the texts differently than their embeddings do."),
            alt=f"Two line charts of Q_NN and LCMC against k for {a} vs {b}, embeddings and projections")
        fig_maps = None
        if p.projection is not None:
            fig_maps = figure(
                for_print(linked_projections_chart(cmp, pi, width=280, height=190, selectable=False)),
                caption=(f"The DeepView projection of each model (λ = {cmp.lam:g}) of the same {n:,} texts, each "
                         "dot coloured by that model's prediction, over its decision background (colour = class, "
                         "pale = uncertain). Dots with a black ring are texts the two models predict differently"
                         + ("" if p.prediction_agreement is not None else " (not marked here: the label sets "
                            "differ)") + ". The two maps have their own coordinates: compare which texts are "
                         "grouped together, not where the groups lie."),
                alt=f"Two scatter plots side by side: the DeepView projections of {a} and {b}")
        pair = {"a": a, "b": b, "cka": p.cka, "agreement": p.prediction_agreement, "n_differ": n_differ,
                "note": p.note, "rows": rows, "k_points": p.embeddings.k_points,
                "has_projection": p.projection is not None,
                "q_embeddings": p.embeddings.q_nn[ih], "q_projection": None if p.projection is None
                else p.projection.q_nn[ih],
                "lcmc_embeddings": p.embeddings.lcmc[ih], "lcmc_projection": None if p.projection is None
                else p.projection.lcmc[ih],
                "fidelity_a": cmp.fidelity[p.a], "fidelity_b": cmp.fidelity[p.b],
                "finetune_pair": _finetune_pair(facts.get(a), facts.get(b)),
                "disagreements": dis, "figure_metrics": fig_metrics, "figure_maps": fig_maps}
        pair["headline"] = _headline(pair, n, kh)
        pair["findings"] = _findings(pair, n, kh)
        pairs.append(pair)
    fidelity = [{"ref": r, "name": nm, **(f or {})} for r, nm, f in zip(refs, names, cmp.fidelity) if f]
    return {"available": True, "reason": None, **ctx, "n": n, "ks": ks, "k_headline": kh, "lam": cmp.lam,
            "model_refs": refs, "model_names": names, "label_names": [list(x) for x in cmp.label_names],
            "dataset_name": cmp.dataset_name, "pairs": pairs, "fidelity": fidelity, "notes": list(cmp.notes),
            "seconds": dict(cmp.seconds), "headline": pairs[0]["headline"] if pairs else ""}


def _headline(p: dict[str, Any], n: int, k: int) -> str:
    parts = [f"linear CKA {p['cka']:.2f}"]
    if p["agreement"] is not None:
        parts.append(f"the same prediction for {p['agreement']:.1%} of the texts")
    q = f"Q_NN@{k} {p['q_embeddings']:.2f} between the embeddings"
    if p["q_projection"] is not None:
        q += f" and {p['q_projection']:.2f} between the DeepView projections"
    parts.append(q)
    return f"{p['a']} vs {p['b']} on {n:,} texts: " + ", ".join(parts[:-1]) + f"; {parts[-1]}."


def _findings(p: dict[str, Any], n: int, k: int) -> list[str]:
    out = []
    qe, qp = p["q_embeddings"], p["q_projection"]
    chance = k / (n - 1)
    if qp is not None:
        d = qe - qp
        if abs(d) < 0.05:
            out.append(f"The embeddings and the DeepView projections keep about the same share of neighbourhoods "
                       f"(Q_NN@{k} {qe:.2f} and {qp:.2f}): the two classifiers group the texts much as their "
                       "embeddings do.")
        elif d > 0:
            lead = ("Fine-tuning moved the neighbourhoods" if p["finetune_pair"] else
                    "The neighbourhoods differ more in what the classifiers use than in the embeddings")
            out.append(f"{lead}: the two models share {qe:.0%} of each text's {k} nearest neighbours in the "
                       f"embeddings (Q_NN@{k} {qe:.2f}) but only {qp:.0%} in the DeepView projections ({qp:.2f}), "
                       "which weigh in the classifier's decisions; texts the encoders place alike are grouped "
                       "differently once the heads are taken into account.")
        else:
            out.append(f"The DeepView projections agree more than the embeddings (Q_NN@{k} {qp:.2f} vs {qe:.2f}): "
                       "the two classifiers sort the texts into similar class regions although their embeddings "
                       "arrange them differently.")
        for space, lc in (("embeddings", p["lcmc_embeddings"]), ("projections", p["lcmc_projection"])):
            if lc < 0.05:
                out.append(f"In the {space}, the shared neighbourhoods are hardly above chance (LCMC@{k} {lc:+.2f}; "
                           f"two random neighbourhoods share {chance:.0%}).")
    else:
        out.append(f"The two models share {qe:.0%} of each text's {k} nearest neighbours in the embeddings "
                   f"(Q_NN@{k} {qe:.2f}; chance {chance:.2f}). There are no DeepView projections to compare: "
                   "at least one model has no classifier head.")
    cka = p["cka"]
    word = ("nearly the same space up to rotation and scale" if cka >= 0.9 else
            "clearly related spaces" if cka >= 0.6 else "largely different spaces")
    out.append(f"Linear CKA between the two embedding spaces is {cka:.2f} (1 = the same up to rotation and "
               f"scale): {word}.")
    if p["agreement"] is not None:
        nd = p["n_differ"]
        out.append(f"The two models predict the same class for {p['agreement']:.1%} of the {n:,} texts"
                   + (f"; {nd:,} {'text gets' if nd == 1 else 'texts get'} different predictions and "
                      f"{'is' if nd == 1 else 'are'} listed first in the disagreement table."
                      if nd else "; no text gets different predictions."))
    elif p["note"]:
        out.append(p["note"])
    for side in ("a", "b"):
        f = p[f"fidelity_{side}"]
        if f and (f.get("trustworthiness", 1) < 0.8 or f.get("q_knn_error", 0) > 0.2):
            out.append(f"Read the projection numbers with care: the map of {p[side]} has trustworthiness "
                       f"{f['trustworthiness']:.2f} and Q_kNN error {f['q_knn_error']:.0%}.")
    if n < 200:
        out.append(f"With {n:,} texts, differences in Q_NN of a few hundredths are within sampling noise.")
    return out
