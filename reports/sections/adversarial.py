"""``adversarial``: adversarial texts against the classifier and whether DeepView shows them as suspicious.

A word attack (BERT-Attack style: the masked-LM head proposes substitutes) or a character attack
(swaps, deletions, look-alike letters) edits the most important words of correctly classified
held-out texts until the prediction flips (``core.analyses.adversarial.attacks.attack_dataset``, disk-cached). The
clean texts and the successful adversarial versions are then projected together with DeepView
(``core.analyses.adversarial.detection.detect``) to answer the paper's question: do adversarial texts sit in pale,
uncertain regions of the map? The section may attack another model than the report's (``model``,
``dataset`` params).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports.sections.registry import Param, figure, register
from reports.sections.shared import dataset_facts, for_print, model_facts, section_dataset, section_model
from reports.sections.shared import saliency_method_names

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.adversarial.attacks import AttackResult
    from core.analyses.adversarial.detection import DetectionResult
    from reports.context import ReportContext

CONTEXT_WORDS = 12  # unchanged words kept on each side of an edit in the diff column
ATTACK_WORDS = {"word": "word attack (BERT-Attack style: substitutes proposed by the masked-LM head)",
                "char": "character attack (swapped or deleted inner letters, look-alike letters from other scripts)"}
SCORE_WORDS = {"entropy": "Classifier entropy", "background_uncertainty": "Background uncertainty",
               "neighbour_disagreement": "2-D neighbour disagreement"}
SCORE_HELP = {"entropy": "how unsure the classifier is about the text itself (entropy of its probabilities)",
              "background_uncertainty": "how pale the map's background is where the text lands (1 − the head's "
                                        "confidence at that spot)",
              "neighbour_disagreement": "the share of the text's nearest neighbours on the map with another "
                                        "predicted class"}


@register("adversarial", title="Adversarial texts", params=[
    Param("model", "str", None, "the classifier to attack (default: the report's model)"),
    Param("dataset", "str", None, "dataset reference the texts come from, e.g. bundled:tweets (default: the "
          "report's dataset)"),
    Param("n", "int", 60, "texts drawn (report seed) from the held-out test split when the model was trained on the "
          "dataset, else from all of it; misclassified ones are not attacked", minimum=12),
    Param("attack", "choice", "word", "word (substitutes from the masked-LM head) or char (letter edits)",
          choices=("word", "char")),
    Param("importance", "str", "occlusion", "saliency method that decides which words are edited first",
          vocabulary=saliency_method_names, item="saliency method"),
    Param("max_change", "float", 0.4, "largest share of a text's words the attack may change", minimum=0.01,
          maximum=1),
    Param("top_k", "int", 30, "candidate replacements tried per word", minimum=1, maximum=200),
    Param("min_similarity", "float", 0.7, "least cosine similarity of MiniLM sentence embeddings between the "
          "original and the adversarial text (0 turns the check off)", minimum=0, maximum=0.99),
    Param("lam", "float", 0.8, "λ of the DeepView projection of clean and adversarial texts", minimum=0, maximum=1),
    Param("top", "int", 10, "rows of the table of adversarial texts (0: no table)", minimum=0, maximum=100),
])
def compute(ctx: "ReportContext", params: dict) -> dict:
    """Adversarial texts (word or character attack) and whether they sit in pale, uncertain regions of the map."""
    from core.analyses.adversarial.attacks import AttackError, attack_dataset
    from core.analyses.adversarial.detection import detect
    from core.data.sampling import sample
    from core.analyses.projection.run import ProjectionSettings, model_labels
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import select_evaluation_split

    n = int(params.get("n", 60))
    attack = params.get("attack", "word")
    context: dict[str, Any] = {"n_requested": n, "seed": ctx.spec.seed, "attack": attack,
                               "model_ref": ctx.spec.model_ref(params.get("model"))}
    try:
        model = section_model(ctx, params.get("model"))
        model.require_head()
        ds_ref = params.get("dataset") or ctx.spec.dataset.ref
        full = section_dataset(ctx, params.get("dataset"))
        pool, split, split_note = select_evaluation_split(model, full)
        ds = sample(pool, n, seed=ctx.spec.seed)
        _, label_note = model_labels(model, ds)
        context.update(split=split, split_note=split_note, n_pool=len(pool), label_note=label_note or None,
                       model=model_facts(model), dataset=dataset_facts(full, ds, ds_ref))
        res, hit = attack_dataset(
            model, ds, attack=attack, importance=params.get("importance", "occlusion"),
            max_change=float(params.get("max_change", 0.4)), top_k=int(params.get("top_k", 30)),
            min_similarity=float(params.get("min_similarity", 0.7)), seed=ctx.spec.seed,
            progress=lambda st, f, msg: ctx.say("adversarial", f, f"{attack} attack: {msg}"))
    except BackboneLensError as e:  # no head, no masked-LM head for the word attack, unknown model …
        ctx.say("adversarial", 1.0, f"adversarial texts not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    context["cache_hit"] = hit
    det, why = None, None
    if not res.successes:
        why = (f"No attack succeeded on the {res.n_attacked:,} texts attacked, so there are no adversarial texts to "
               "project or detect.")
    else:
        try:
            det = detect(model, res, lam=float(params.get("lam", 0.8)),
                         settings=ProjectionSettings(seed=ctx.spec.seed), progress=ctx.say)
        except AttackError as e:  # too few texts to project
            why = str(e)
    return adversarial_fragment(res, det, top=int(params.get("top", 10)), detection_note=why, context=context)


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
        "attack_words": ATTACK_WORDS.get(res.attack, res.attack), "params": dict(res.params),
        "summary": s, "counts": counts, "rows": rows, "n": len(res.outcomes), "detection": None,
        "detection_note": detection_note, "seconds": res.seconds,
    }
    if det is not None:
        n_adv = int(det.is_adversarial.sum())
        n_clean = int((~det.is_adversarial).sum())
        scores = [{"name": name, "title": SCORE_WORDS.get(name, name), "help": SCORE_HELP.get(name, ""),
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
