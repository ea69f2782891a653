"""``corpus``: a corpus audit's aggregates — accuracy, confidence and attribution-entropy distributions, per-class
counts, class-representative tokens, saliency concentration, the mean faithfulness-game curves, the attack's
success and detection score, and the texts that could not be processed.

``core.analyses.corpus.engine.run_corpus`` runs the jobs over every text in cached, resumable batches, on the local
engine or on Ray (``engine``; default ``$BACKBONE_LENS_ENGINE``, else local; ``ray_address`` for a running cluster),
and writes the aggregates as Parquet beside the cache. This section reads those Parquet tables back
(:func:`core.analyses.corpus.aggregates.read_aggregates`), never the per-text arrays. The texts are the held-out
test split when the model was trained on the dataset (``n`` of them; all when ``n`` is larger).

With the ``map`` job the section also shows the corpus map — a DeepView map of landmark texts with every other text
placed on it (:mod:`core.analyses.corpus.density`), as density and as error rate — and the clusters whose error rate
stands out.

Figures for pass/fail checks (``metrics``): ``accuracy``, ``mean_confidence``, ``mean_entropy``,
``auroc_entropy_error``, ``failed`` (texts that raised), ``texts``, ``saliency_mean_entropy``, ``games_gap``
(revealing − hiding accuracy AUC of the saliency method) and ``attack_success_rate`` (share of the texts the model
gets right whose prediction the attack flips); with ``map``: ``map_q_data``, ``placed_q_data`` and
``max_cluster_lift`` (the highest cluster error rate over the corpus's, clusters of at least 1 % of the texts and
10 texts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.analyses.corpus.params import ENGINES, CorpusParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import dataset_facts, for_print, model_facts, section_dataset, section_model, shorten

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.corpus.aggregates import CorpusAggregates
    from reports.context import ReportContext

FAILURES_SHOWN = 10
# quantity → (chart title, subtitle, caption, alt text) of its histogram
HISTOGRAMS = {
    "confidence": ("Confidence", "texts per bin; colour = whether the prediction is right",
                   "How sure the classifier is of each prediction (the probability of the predicted class), counted "
                   "in bins over every audited text, with the wrong predictions stacked on the right ones. A "
                   "calibrated model's wrong predictions gather at low confidence; wrong predictions at high "
                   "confidence are the errors nobody will question.",
                   "Stacked histogram of prediction confidence, correct against wrong"),
    "entropy": ("Attribution entropy", "integrated gradients; 1 = evidence spread over all tokens",
                "The normalised entropy of each text's integrated-gradients attribution: low when the decision rests "
                "on a few tokens, near 1 when it is spread evenly. If wrong predictions sit higher, entropy flags "
                "texts the model is unsure about without labels.",
                "Stacked histogram of attribution entropy, correct against wrong"),
    "saliency_entropy": ("Saliency entropy", "1 = saliency spread over all tokens",
                         "The normalised entropy of each text's saliency (the method of the saliency job, absolute "
                         "scores): low when a few tokens carry the explanation. Wrong predictions that sit apart "
                         "from right ones mean the explanation's shape says something about the error.",
                         "Stacked histogram of saliency entropy, correct against wrong")}
GAMES_CAPTION = ("Mean hiding (left) and revealing (right) curves over every audited text: the most salient tokens of "
                 "each text under the saliency method are replaced (hiding) or kept alone (revealing), a growing share "
                 "at a time, against the same games in a random order (dashed). A faithful method makes accuracy fall "
                 "faster than random when hiding and rise faster when revealing.")


@dataclass(frozen=True)
class CorpusSectionParams(Params):
    model: str | None = param(None, "the classifier audited (default: the report's model)", type="str")
    dataset: str | None = param(None, "dataset reference, e.g. bundled:tweets (default: the report's dataset)",
                                type="str")
    n: int = param(1000, "texts audited: a random sample (report seed) of the held-out test split when the model "
                   "was trained on the dataset, else of the whole dataset; a number above their count audits all",
                   minimum=10)
    jobs: tuple[str, ...] = same_param(CorpusParams, "jobs", default=("embed", "predict", "entropy"))
    batch_size: int = same_param(CorpusParams, "batch_size")
    entropy_steps: int = same_param(CorpusParams, "entropy_steps")
    top_k: int = same_param(CorpusParams, "top_k")
    saliency_method: str = same_param(CorpusParams, "saliency_method")
    attack_kind: str = same_param(CorpusParams, "attack_kind")
    all_layers: bool = same_param(CorpusParams, "all_layers")
    map_landmarks: int = same_param(CorpusParams, "map_landmarks")
    clusters: int = same_param(CorpusParams, "clusters")
    engine: str | None = param(None, "where the batches run: local or ray (default: $BACKBONE_LENS_ENGINE, else "
                               "local); the numbers do not depend on it", type="choice", choices=ENGINES)
    ray_address: str | None = param(None, "a running Ray cluster for engine ray (default: start a local instance)",
                                    type="str")


@register("corpus", title="Corpus audit", params=CorpusSectionParams)
def compute(ctx: "ReportContext", p: CorpusSectionParams) -> dict:
    """Accuracy, entropy, class tokens, saliency, games and attack success over a whole corpus, from Parquet files."""
    from core.analyses.corpus.aggregates import read_aggregates
    from core.analyses.corpus.engine import RayOptions, run_corpus
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    context: dict[str, Any] = {"model_ref": ctx.spec.model_ref(p.model), "n_requested": p.n, "seed": ctx.spec.seed}
    try:
        model = section_model(ctx, p.model)
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample([model], full, p.n, seed=ctx.spec.seed, classifiers_only=True)
        params = CorpusParams(jobs=p.jobs, batch_size=p.batch_size, entropy_steps=p.entropy_steps, top_k=p.top_k,
                              saliency_method=p.saliency_method, attack_kind=p.attack_kind,
                              map_landmarks=p.map_landmarks, clusters=p.clusters, all_layers=p.all_layers)
        res = run_corpus(model, sample.dataset, params, engine=p.engine, ray=RayOptions(address=p.ray_address),
                         progress=ctx.say)
        agg = read_aggregates(res.folder)
    except BackboneLensError as e:  # no head for predict, Ray unreachable, bad job …: one sentence in the report
        ctx.say("corpus", 1.0, f"corpus audit not run: {e}")
        return {"available": False, "reason": str(e), **context}
    context.update(split=sample.split, split_note=sample.reason, model=model_facts(model),
                   dataset=dataset_facts(full, sample.dataset, p.dataset or ctx.spec.dataset.ref),
                   engine=res.engine, batches=len(res.plans), computed_batches=res.computed,
                   cached_batches=res.cached, batch_size=p.batch_size, seconds=res.seconds,
                   aggregates=str(res.folder), jobs=list(res.jobs), entropy_steps=p.entropy_steps,
                   notes=list(res.notes),
                   saliency_method=p.saliency_method, attack_kind=p.attack_kind)
    return corpus_fragment(agg, context=context)


# ----------------------------------------------------------------------------- the fragment (pure)


def corpus_fragment(agg: "CorpusAggregates", *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from the aggregates alone (pure; no model, no per-text arrays)."""
    from figures.corpus import corpus_games_chart, outcome_histogram_chart

    ctx = {"jobs": [], "engine": None, "split_note": None, "notes": [], "model": None, "dataset": None, "model_ref": None,
           "saliency_method": CorpusParams.param("saliency_method").default,
           "attack_kind": CorpusParams.param("attack_kind").default, **(context or {})}
    s = dict(agg.summary)
    n = int(s.get("texts") or 0)
    quantities = {q for q, *_ in agg.histograms}
    figs: dict[str, Any] = {f"figure_{q}": None for q in (*HISTOGRAMS, "layers")}
    for q, (title, subtitle, caption, alt) in HISTOGRAMS.items():
        if q in quantities:
            figs[f"figure_{q}"] = figure(
                for_print(outcome_histogram_chart(agg, q, title=f"{title} over {n:,} texts", subtitle=subtitle)),
                caption=caption, alt=alt)
    classes = [{"label": lab, "true": t, "predicted": pr, "correct": c, "recall": (c / t if t else None),
                "precision": (c / pr if pr else None), "mean_confidence": mc, "mean_entropy": me,
                "words": [w for w, _ in agg.words(lab)]}
               for lab, t, pr, c, mc, me in agg.per_class]
    if not classes and agg.class_tokens:
        classes = [{"label": lab, "words": [w for w, _ in agg.words(lab)]} for lab in agg.label_names]
    failures = [{"row": f.row, "error": f.error, "text": shorten(f.text, 160)} for f in agg.failures[:FAILURES_SHOWN]]
    if agg.games:
        figs["figure_games"] = figure(for_print(corpus_games_chart(agg, width=230, height=170)),
                                      caption=GAMES_CAPTION, alt="Line charts of mean hiding and revealing accuracy "
                                      "against the share of tokens, the saliency method against a random order")
    metrics = {"texts": n, "failed": int(s.get("failed") or 0), "accuracy": s.get("accuracy"),
               "mean_confidence": s.get("mean_confidence"), "mean_entropy": s.get("mean_entropy"),
               "auroc_entropy_error": s.get("auroc_entropy_error"), "saliency_mean_entropy": s.get(
                   "saliency_mean_entropy"), "games_gap": s.get("games_gap"),
               "attack_success_rate": _attack_rate(s)}
    if agg.layers:
        from figures.corpus import layer_separation_chart

        figs["figure_layers"] = figure(for_print(layer_separation_chart(agg.layers, title=f"Where in depth the "
                                                                        f"classes separate, over {n:,} texts")),
                                       caption="At every layer, each text is given the class whose mean "
                                               "(unit-normalised) pooled state is nearest; the curve is how often "
                                               "that is its " + agg.layers[0][1] + ". Where it rises is where the "
                                               "backbone starts to tell the classes apart.",
                                       alt="Line chart of nearest-centroid accuracy per layer")
    corpus_map = _map_fragment(agg)
    if corpus_map is not None:
        metrics.update(corpus_map["metrics"])
    attack = {"classes": [{"label": lab, "texts": k, "flipped": f, "rate": r, "edits": e}
                          for lab, k, f, r, e in agg.attack_per_class],
              "detection": [{"feature": f, "group": g, "mean": m, "texts": k} for f, g, m, k in agg.attack_detection]}
    out: dict[str, Any] = {"available": True, "reason": None, "figure_games": None, **ctx, "n": n, "summary": s,
                           "classes": classes, "class_tokens": bool(agg.class_tokens), "failures": failures,
                           "n_failures": len(agg.failures), "metrics": metrics, "attack": attack, "map": corpus_map,
                           **figs}
    out["findings"] = _findings(out)
    return out


CLUSTERS_SHOWN = 8


def _map_fragment(agg: "CorpusAggregates") -> dict[str, Any] | None:
    """The corpus map's figures, checks and the clusters by error lift (None without the map job)."""
    from core.analyses.corpus.density import MIN_CLUSTER_SHARE, MIN_CLUSTER_TEXTS
    from figures.corpus import density_chart

    d = agg.density
    if d is None:
        return None
    c = dict(d.checks)
    n = int(c["placed"])
    figs = {mode: figure(for_print(density_chart(d, agg.label_names, mode=mode, width=460, height=400)),
                         caption=caption, alt=alt) for mode, caption, alt in (
        ("all texts", f"Every one of the {n:,} texts on a DeepView map of {int(c['landmarks']):,} landmark texts: "
                      "each square counts the texts placed there (darker = more, log scale) and takes the colour of "
                      "the class most of them are predicted as; the background is the classifier's decision on the "
                      "map. Numbers mark the clusters of the table below.",
         "Density map of the corpus over the classifier's decision regions"),
        ("error rate", "The same map coloured by the share of wrong predictions among the labelled texts of each "
                       "square (squares with fewer than 5 labelled texts are left out): where the errors "
                       "concentrate.", "Map of the error rate across the corpus"))}
    big = [r for r in d.clusters if r[1] >= max(MIN_CLUSTER_TEXTS, MIN_CLUSTER_SHARE * n) and r[6] is not None]
    rows = sorted(d.clusters, key=lambda r: -(r[6] or 0))[:CLUSTERS_SHOWN]
    clusters = [{"cluster": r[0], "texts": r[1], "wrong": r[3], "accuracy": r[4], "error_share": r[5], "lift": r[6],
                 "top_true": r[7], "top_predicted": r[8], "words": r[12]} for r in rows]
    worst = max(big, key=lambda r: r[6]) if big else None
    return {"figure_density": figs["all texts"], "figure_error_rate": figs["error rate"], "checks": c,
            "method": d.method, "clusters": clusters, "n_clusters": len(d.clusters),
            "worst": None if worst is None else {"cluster": worst[0], "texts": worst[1], "lift": worst[6],
                                                 "error_share": worst[5], "words": worst[12]},
            "metrics": {"map_q_data": c.get("map_q_data"), "placed_q_data": c.get("placed_q_data"),
                        "max_cluster_lift": None if worst is None else worst[6]}}


def _attack_rate(s: dict[str, Any]) -> float | None:
    """The attack verb's success rate (texts the model gets right); over every text when none is labelled."""
    right = s.get("attack_success_rate_correct")
    return right if right is not None else s.get("attack_success_rate")


def _findings(d: dict[str, Any]) -> list[str]:
    s, out = d["summary"], []
    if s.get("accuracy") is not None:
        out.append(f"The classifier is right on {s['accuracy']:.1%} of the {int(s['labelled']):,} labelled texts, "
                   f"with a mean confidence of {s['mean_confidence']:.1%}.")
        wrong = [c for c in d["classes"] if c.get("recall") is not None]
        if wrong:
            worst = min(wrong, key=lambda c: c["recall"])
            out.append(f"Recall is lowest for {worst['label']}: {worst['recall']:.1%} of its {worst['true']:,} texts "
                       "are recognised.")
    auroc = s.get("auroc_entropy_error")
    if auroc is not None:
        out.append(f"Attribution entropy separates wrong from right predictions with an AUROC of {auroc:.2f}"
                   + (" (0.5 = no better than chance)." if abs(auroc - 0.5) < 0.05 else "."))
    if s.get("games_hide_auc") is not None and s.get("games_random_hide_auc") is not None:
        better = (s["games_hide_auc"] < s["games_random_hide_auc"]
                  and s["games_reveal_auc"] > s["games_random_reveal_auc"])
        out.append(f"In the faithfulness games the saliency method's hiding AUC is {s['games_hide_auc']:.2f} (random "
                   f"{s['games_random_hide_auc']:.2f}) and its revealing AUC {s['games_reveal_auc']:.2f} (random "
                   f"{s['games_random_reveal_auc']:.2f}): " + ("it finds the tokens the decisions rest on."
                                                               if better else "it does no better than a random order "
                                                               "in at least one game."))
    rate = d["metrics"]["attack_success_rate"]
    if rate is not None:
        edits = s.get("attack_mean_edits")
        out.append(f"The attack flips {rate:.1%} of the predictions it was aimed at"
                   + ("." if edits is None else f", changing {edits:.1f} words per flipped text on average."))
    worst = (d.get("map") or {}).get("worst")
    if worst and worst["lift"] > 1.0 and worst["error_share"] is not None:
        out.append(f"Errors concentrate in cluster {worst['cluster']} ({worst['words'] or 'no common words'}): "
                   f"{worst['texts']:,} texts, {worst['error_share']:.1%} of all errors, an error rate "
                   f"{worst['lift']:.2f}× the corpus's.")
    if d["n_failures"]:
        out.append(f"{d['n_failures']:,} texts raised and were skipped; they are listed with their rows below and "
                   "left out of every figure.")
    return out
