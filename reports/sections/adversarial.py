"""``adversarial``: adversarial texts against the classifier and whether DeepView shows them as suspicious.

A word attack (BERT-Attack style: the masked-LM head proposes substitutes) or a character attack
(swaps, deletions, look-alike letters) edits the most important words of correctly classified
held-out texts until the prediction flips (``core.analyses.adversarial.attacks.run_attack``, disk-cached). The
clean texts and the successful adversarial versions are then projected together with DeepView
(``core.analyses.adversarial.detection.run_detection``) to answer the paper's question: do adversarial texts sit in pale,
uncertain regions of the map? The section may attack another model than the report's (``model``,
``dataset`` params).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.analyses.adversarial.attacks import ATTACK_KINDS, AttackParams
from core.analyses.adversarial.detection import SCORES, DetectionParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import dataset_facts, for_print, model_facts, section_dataset, section_model

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.adversarial.attacks import AttackResult
    from core.analyses.adversarial.detection import DetectionResult
    from reports.context import ReportContext

CONTEXT_WORDS = 12  # unchanged words kept on each side of an edit in the diff column


@dataclass(frozen=True)
class AdversarialParams(Params):
    """The ``adversarial`` section's parameters (the attack's as :class:`AttackParams` declares them, ``lam`` as
    :class:`DetectionParams` does); the candidates and the seed are the attack's defaults and the report's seed."""

    model: str | None = param(None, "the classifier to attack (default: the report's model)", type="str")
    dataset: str | None = param(None, "dataset reference the texts come from, e.g. bundled:tweets (default: the "
                                "report's dataset)", type="str")
    n: int = param(60, "texts drawn (report seed) from the held-out test split when the model was trained on the "
                   "dataset, else from all of it; misclassified ones are not attacked", minimum=12)
    attack: str = same_param(AttackParams, "attack")
    importance: str = same_param(AttackParams, "importance")
    max_change: float = same_param(AttackParams, "max_change")
    top_k: int = same_param(AttackParams, "top_k")
    min_similarity: float = same_param(AttackParams, "min_similarity")
    lam: float = same_param(DetectionParams, "lam")
    top: int = param(10, "rows of the table of adversarial texts (0: no table)", minimum=0, maximum=100)


@register("adversarial", title="Adversarial texts", params=AdversarialParams)
def compute(ctx: "ReportContext", p: AdversarialParams) -> dict:
    """Adversarial texts (word or character attack) and whether they sit in pale, uncertain regions of the map."""
    from core.analyses.adversarial.attacks import AttackError, run_attack
    from core.analyses.adversarial.detection import run_detection
    from core.analyses.projection.params import ProjectionParams
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    context: dict[str, Any] = {"n_requested": p.n, "seed": ctx.spec.seed, "attack": p.attack,
                               "model_ref": ctx.spec.model_ref(p.model)}
    params = AttackParams(attack=p.attack, importance=p.importance, max_change=p.max_change, top_k=p.top_k,
                          min_similarity=p.min_similarity, seed=ctx.spec.seed)
    try:
        model = section_model(ctx, p.model)
        model.require_head()
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample(model, full, p.n, seed=ctx.spec.seed)
        context.update(split=sample.split, split_note=sample.reason, n_pool=sample.n_pool,
                       model=model_facts(model), dataset=dataset_facts(full, sample.dataset, p.dataset or
                                                                       ctx.spec.dataset.ref))
        res = run_attack(model, sample, params,
                         progress=lambda st, f, msg: ctx.say("adversarial", f, f"{p.attack} attack: {msg}"))
    except BackboneLensError as e:  # no head, no masked-LM head for the word attack, unknown model …
        ctx.say("adversarial", 1.0, f"adversarial texts not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    context.update(label_note=res.label_note or None, cache_hit=res.cache_hit)
    det, why = None, None
    if not res.successes:
        why = (f"No attack succeeded on the {res.n_attacked:,} texts attacked, so there are no adversarial texts to "
               "project or detect.")
    else:
        try:
            det = run_detection(model, res, DetectionParams(lam=p.lam),
                                projection=ProjectionParams(seed=ctx.spec.seed), progress=ctx.say)
        except AttackError as e:  # too few texts to project
            why = str(e)
    return adversarial_fragment(res, det, top=p.top, detection_note=why, context=context)


# ----------------------------------------------------------------------------- the fragment (pure)


def auroc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC from ``n_pos`` positives and ``n_neg`` negatives (Hanley & McNeil 1982)."""
    if n_pos < 1 or n_neg < 1:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def diff_runs(original: str, adversarial: str, *, context: int = CONTEXT_WORDS) -> list[dict[str, str]]:
    """The word diff as runs ``{"op": "=", "-", "+" or "…", "text"}``; long unchanged stretches keep ``context``
    words on each side of an edit. The template shows ``-`` as <del>, ``+`` as <ins>, text always escaped."""
    from core.analyses.adversarial.attacks import word_diff

    runs = word_diff(original, adversarial)
    out: list[dict[str, str]] = []
    for i, (op, text) in enumerate(runs):
        if op != "=":
            out.append({"op": op, "text": text})
            continue
        words = text.split()
        first, last = i == 0, i == len(runs) - 1
        keep_head = 0 if first else context
        keep_tail = 0 if last else context
        if len(words) <= keep_head + keep_tail + 1 or (first and last):
            out.append({"op": "=", "text": text})
            continue
        if keep_head:
            out.append({"op": "=", "text": " ".join(words[:keep_head])})
        out.append({"op": "…", "text": "…"})
        if keep_tail:
            out.append({"op": "=", "text": " ".join(words[-keep_tail:])})
    return out


def adversarial_fragment(res: "AttackResult", det: "DetectionResult | None", *, top: int = 10,
                         detection_note: str | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from computed attack and detection results (pure; no model)."""
    from core.analyses.adversarial.detection import flagged_rows
    from figures.adversarial import adversarial_projection_chart, detection_chart

    ctx = {"split": None, "split_note": None, "n_pool": None, "seed": res.params.get("seed", 0),
           "label_note": None, "cache_hit": False, "model": None, "dataset": None, "model_ref": res.model_ref,
           **(context or {})}
    s = res.summary()
    counts = {st: sum(o.status == st for o in res.outcomes) for st in ("success", "failed", "no_candidates",
                                                                        "skipped")}
    by_index = {o.index: o for o in res.outcomes}
    rows = []
    for r in flagged_rows(res, det):
        if r["status"] != "success" or len(rows) >= top:
            continue
        o = by_index[r["index"]]
        row = {"index": r["index"], "label": r["label"] or None, "diff": diff_runs(o.text, o.adversarial),
               "diff_pair": diff_runs(o.text_pair, o.adversarial_pair or "") if o.text_pair is not None else None,
               "prediction_before": r["prediction_before"], "probability_before": r["probability_before"],
               "prediction_after": r["prediction_after"], "probability_after": r["probability_after"],
               "words_changed": r["words_changed"], "n_words": o.n_words, "similarity": r["similarity"],
               "queries": r["queries"]}
        if det is not None:
            for name in det.scores:
                row[name] = {"adversarial": r.get(f"{name}_adversarial"), "original": r.get(f"{name}_original")}
        rows.append(row)
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "attack": res.attack,
        "attack_words": ATTACK_KINDS[res.attack] if res.attack in ATTACK_KINDS else res.attack,
        "params": dict(res.params),
        "summary": s, "counts": counts, "rows": rows, "n": len(res.outcomes), "detection": None,
        "detection_note": detection_note, "seconds": res.seconds,
    }
    if det is not None:
        n_adv = int(det.is_adversarial.sum())
        n_clean = int((~det.is_adversarial).sum())
        scores = [{"name": name, "title": SCORES.title(name), "help": SCORES.get(name),
                   "auroc": det.auroc[name], "se": auroc_se(det.auroc[name], n_adv, n_clean),
                   "precision_at_k": det.precision_at_k[name]} for name in det.scores]
        fid = det.run.fidelity.to_dict()
        out["detection"] = {
            "n_clean": n_clean, "n_adversarial": n_adv, "k": det.k, "k_neighbours": det.k_neighbours,
            "base_rate": det.base_rate, "lam": det.run.lam, "scores": scores,
            "pale": {"adversarial": det.in_pale_region["adversarial"], "clean": det.in_pale_region["clean"],
                     "confidence_below": det.in_pale_region["threshold"]},
            "fidelity": fid,
            "figure_map": figure(
                for_print(adversarial_projection_chart(det, width=470, height=380)),
                caption=(f"The {n_clean:,} sampled texts as written (circles) and the {n_adv:,} successful "
                         "adversarial versions (triangles, a grey line to their original) in one DeepView projection "
                         f"(λ = {det.run.lam:g}), coloured by the class the model predicts. Background: the "
                         "classifier's decision at each spot (colour = class, pale = uncertain). Look at where the "
                         "triangles land: on pale ground near a border, or deep inside another class's region."),
                alt=f"Scatter plot of {n_clean} clean and {n_adv} adversarial texts over the decision background"),
            "figure_scores": figure(
                for_print(detection_chart(det, width=300, height=90)),
                caption=("How well each suspicion score tells adversarial from clean texts. Top: AUROC (0.5 = "
                         f"chance, 1 = perfect). Bottom: the share of adversarial texts among the {det.k} highest "
                         f"scores (dashed: the base rate {det.base_rate:.2f}, what a random pick gets)."),
                alt="Bar charts of AUROC and precision at k for classifier entropy, background uncertainty and "
                    "2-D neighbour disagreement"),
        }
    out["findings"] = _findings(out)
    return out


def _findings(d: dict[str, Any]) -> list[str]:
    s, c = d["summary"], d["counts"]
    out = []
    if s["attacked"]:
        line = (f"The {d['attack']} attack flipped the prediction of {s['successes']:,} of the {s['attacked']:,} "
                f"correctly classified texts ({s['success_rate']:.1%})")
        if s["successes"]:
            line += (f", changing {s['mean_words_changed']:.1f} words on average ({s['mean_share_changed']:.0%} of "
                     f"a text's words) with {s['queries_per_success']:,.0f} model queries per success")
            if s.get("mean_similarity") is not None and d["params"].get("min_similarity"):
                line += (f"; the adversarial texts keep a MiniLM sentence similarity of {s['mean_similarity']:.2f} "
                         f"to their originals on average (at least {d['params']['min_similarity']:g} required)")
        out.append(line + ".")
    if c["skipped"]:
        out.append(f"{c['skipped']:,} of the {d['n']:,} texts were already misclassified and were not attacked.")
    det = d["detection"]
    if det is None:
        if d.get("detection_note"):
            out.append(d["detection_note"])
        return out
    sc = {x["name"]: x for x in det["scores"]}
    bg = sc.get("background_uncertainty")
    pale = det["pale"]
    if bg is not None:
        lo = bg["auroc"] - 2 * bg["se"]
        where = (f"{pale['adversarial']:.0%} of the adversarial texts land where the background is paler than under "
                 f"90% of the clean texts (the head's confidence there is below {pale['confidence_below']:.2f}; "
                 f"{pale['clean']:.0%} of the clean texts land there, by this definition)")
        auc = f"background uncertainty tells them from clean texts with AUROC {bg['auroc']:.2f} (± {bg['se']:.2f})"
        if lo > 0.5 and pale["adversarial"] >= 2 * max(pale["clean"], 0.05):
            out.append(f"Do the adversarial texts sit in pale, uncertain regions? Yes: {where}, and {auc}.")
        elif lo > 0.5:
            out.append(f"Do the adversarial texts sit in pale, uncertain regions? Partly: {auc}, above chance, but "
                       f"only {where}.")
        else:
            out.append(f"Do the adversarial texts sit in pale, uncertain regions? Not clearly: {where}, and {auc}, "
                       "which is within two standard errors of chance (0.5).")
    ent = sc.get("entropy")
    if bg is not None and ent is not None:
        diff = bg["auroc"] - ent["auroc"]
        noise = 2 * math.hypot(bg["se"], ent["se"])
        cmp = ("better than" if diff > noise else "worse than" if diff < -noise else "about as well as")
        out.append(f"The map's background separates them {cmp} the classifier's own entropy (AUROC "
                   f"{ent['auroc']:.2f}), which needs no projection.")
    nb = sc.get("neighbour_disagreement")
    if nb is not None:
        out.append(f"Disagreement with their {det['k_neighbours']} nearest neighbours on the map reaches AUROC "
                   f"{nb['auroc']:.2f}; among the {det['k']} most suspicious texts by that score "
                   f"{nb['precision_at_k']:.0%} are adversarial (a random pick: {det['base_rate']:.0%}).")
    se = max(x["se"] for x in det["scores"])
    out.append(f"With {det['n_adversarial']:,} adversarial and {det['n_clean']:,} clean texts, an AUROC has a "
               f"standard error of up to {se:.2f} (Hanley & McNeil); differences smaller than twice that are not "
               "reliable.")
    return out
