"""``topics``: clusters of the model's embeddings, named by their topic words, crossed with labels and errors.

``core.analyses.transformer.topics.run_topics`` clusters the L2-normalised pooled embeddings (k-means, agglomerative or HDBSCAN,
optionally after UMAP), names every cluster by class-based TF-IDF (optionally re-ranked KeyBERT-style) and
counts, per cluster, the true labels, the predictions and the classifier's error rate. The clusters are
drawn on a 2-D map of the same embeddings (``core.analyses.transformer.layers.map_layer``). The section may use another
model and dataset than the report's (``model``, ``dataset``).

Figures for pass/fail checks (``metrics``, e.g. ``topics.worst_error_rate < 0.3``): ``n_clusters``,
``silhouette``, ``error_rate`` (all texts), ``worst_error_rate`` / ``worst_cluster`` (the cluster the classifier
gets wrong most), ``largest_share`` (the largest cluster's share of the texts), ``label_purity`` (size-weighted
share of each cluster's main true label) and ``noise`` (HDBSCAN only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.analyses.transformer.layers import MAP_METHODS
from core.analyses.transformer.topics import CLUSTERING, TOPIC_MAPS, TopicsParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import (dataset_facts, for_print, model_facts, section_dataset,
                                     section_model, shorten)

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.topics import TopicsResult
    from reports.context import ReportContext

EXAMPLE_CHARS = 220


@dataclass(frozen=True)
class TopicsSectionParams(Params):
    model: str | None = param(None, "the model whose embeddings are clustered (default: the report's model)",
                              type="str")
    dataset: str | None = param(None, "dataset reference for this section, e.g. bundled:tweets (default: the "
                                "report's dataset)", type="str")
    n: int = param(300, "texts clustered: a random sample (report seed) of the held-out test split when the model "
                   "was trained on the dataset, else of the whole dataset", minimum=10)
    method: str = same_param(TopicsParams, "method")
    clusters: int | None = same_param(TopicsParams, "n_clusters")
    top_n: int = same_param(TopicsParams, "top_n")
    rerank: bool = same_param(TopicsParams, "rerank")
    reduce: str = same_param(TopicsParams, "reduce")
    map: str = param(TOPIC_MAPS[0], "how the clusters are drawn in 2-D: " + ", ".join(TOPIC_MAPS[:-1]) + " or "
                     + TOPIC_MAPS[-1], type="choice", choices=TOPIC_MAPS)
    examples: int = param(2, "typical texts shown per cluster (the nearest to its centre)", minimum=0, maximum=3)


@register("topics", title="Topics and errors", params=TopicsSectionParams)
def compute(ctx: "ReportContext", p: TopicsSectionParams) -> dict:
    """Clusters of the embeddings named by c-TF-IDF topic words, with label mix and error rate per cluster."""
    from core.analyses.transformer.layers import map_layer
    from core.analyses.transformer.topics import check_n_clusters, run_topics
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    tp = TopicsParams(method=p.method, n_clusters=p.clusters, top_n=p.top_n, rerank=p.rerank, reduce=p.reduce)
    context: dict[str, Any] = {"n_requested": p.n, "seed": ctx.spec.seed, "method": p.method,
                               "model_ref": ctx.spec.model_ref(p.model)}
    try:
        check_n_clusters(tp.k, p.n, p.method)  # HDBSCAN with a number, too many clusters: said before any model work
        model = section_model(ctx, p.model)
        ds_ref = p.dataset or ctx.spec.dataset.ref
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample([model], full, p.n, seed=ctx.spec.seed, classifiers_only=True)
        res = run_topics(model, sample, tp, progress=ctx.say)
        ctx.say("topics", 1.0, f"drawing the map with {MAP_METHODS.title(p.map)}")
        points = map_layer(model, sample, p.map).points
    except BackboneLensError as e:  # too few texts, bad k, no words to name topics …: one sentence in the report
        ctx.say("topics", 1.0, f"topics not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    context.update(split=sample.split, split_note=sample.reason, n_pool=sample.n_pool, model=model_facts(model),
                   dataset=dataset_facts(full, sample.dataset, ds_ref))
    return topics_fragment(res, points, list(sample.texts), map_method=p.map, examples=p.examples, context=context)


# ----------------------------------------------------------------------------- the fragment (pure)


def topics_fragment(res: "TopicsResult", points: np.ndarray | None, texts: Sequence[str], *, map_method: str = "umap",
                    examples: int = 2, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from a computed :class:`core.analyses.transformer.topics.TopicsResult` (pure; no model). ``points``: (n, 2)
    map of the same texts (None: no map)."""
    from figures.topics import topic_error_chart, topic_label_chart, topic_map_chart, topic_names

    ctx = {"split": None, "split_note": None, "n_pool": None, "seed": res.seed, "model": None,
           "dataset": None, "model_ref": res.model_ref, **(context or {})}
    names = topic_names(res)
    clusters = []
    for t in res.topics:
        clusters.append({"id": t.id, "name": names[t.id], "size": t.size, "share": t.size / max(res.n, 1),
                         "words": list(t.words), "word_scores": [float(s) for s in t.word_scores],
                         "label_mix": dict(t.label_mix), "prediction_mix": t.prediction_mix,
                         "main_label": max(t.label_mix, key=t.label_mix.get) if t.label_mix else None,
                         "main_label_share": (max(t.label_mix.values()) / max(sum(t.label_mix.values()), 1)
                                              if t.label_mix else None),
                         "error_rate": t.error_rate, "errors_of": t.n_scored, "confidence": t.confidence,
                         "examples": [shorten(x, EXAMPLE_CHARS) for x in t.examples[:examples]]})
    scored = [c for c in clusters if c["error_rate"] is not None]
    worst = max(scored, key=lambda c: (c["error_rate"], c["size"])) if scored else None
    method = CLUSTERING.titles().get(res.method, res.method)
    fig_map = fig_labels = fig_errors = None
    if points is not None and res.k:
        mname = MAP_METHODS.titles().get(map_method, map_method)
        fig_map = figure(
            for_print(topic_map_chart(np.asarray(points), res, texts, width=430, height=300,
                                      title=f"{res.k} {method} clusters of {res.n:,} texts",
                                      subtitle=f"{mname} of the pooled embeddings; colour = cluster")),
            caption=(f"Every text of the sample as a dot on a 2-D {mname} map of {res.model_ref}'s pooled embeddings "
                     "(cosine), coloured by its cluster (the legend names each by its three best topic words) and "
                     "each cluster marked at its centre by its number and best word"
                     + ("; grey: HDBSCAN noise" if res.noise else "") + ". The clusters were found in the "
                     "full embedding space, not on this map. Look for clusters that sit apart (a distinct topic) and "
                     "for ones that blur into each other."),
            alt=f"Scatter plot of {res.n} texts in {res.k} coloured clusters with their topic words")
    if res.k and res.label_names:
        fig_labels = figure(
            for_print(topic_label_chart(res, cell=46)),
            caption=("Each cluster's texts by true label (count; shade = share of the cluster). A cluster that is "
                     "one dark cell is a topic the labels follow; a cluster spread over several labels mixes classes "
                     "the model has to tell apart by something other than the topic."),
            alt="Heat map of clusters against true labels with text counts")
    if scored:
        fig_errors = figure(
            for_print(topic_error_chart(res, width=250)),
            caption=("The classifier's error rate in each cluster (of its labelled texts), against the dashed error "
                     "rate over all texts. Clusters well above the line are topics the model has not learnt; with "
                     "few texts in a cluster, a rate moves a lot with a single text."),
            alt="Bar chart of the error rate per cluster")
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "n": res.n, "n_clusters": res.k, "method": res.method,
        "method_name": method, "reduce": res.reduce, "rerank": res.rerank, "map": map_method,
        "word_score": "cosine similarity to the centroid" if res.rerank else "c-TF-IDF",
        "silhouette": res.silhouette, "error_rate": res.error_rate, "noise": res.noise if res.has_noise else None, "k_scores": {str(k): float(v) for k, v in res.k_scores.items()},
        "label_names": list(res.label_names), "label_cluster_table": res.label_cluster_table.astype(int).tolist(),
        "clusters": clusters, "worst_cluster": None if worst is None else worst["id"],
        "worst_error_rate": None if worst is None else worst["error_rate"], "notes": list(res.notes),
        "seconds": float(res.seconds), "params": res.params_json(),
        "figure_map": fig_map, "figure_labels": fig_labels, "figure_errors": fig_errors,
    }
    # the figures pass/fail checks read (reports.checks, generic ``metrics``)
    sized = [c for c in clusters if c["main_label_share"] is not None]
    out["metrics"] = {
        "n_clusters": res.k, "silhouette": res.silhouette, "error_rate": res.error_rate,
        "worst_error_rate": out["worst_error_rate"], "worst_cluster": out["worst_cluster"],
        "largest_share": clusters[0]["share"] if clusters else None,
        "label_purity": (sum(c["main_label_share"] * c["size"] for c in sized) / sum(c["size"] for c in sized)
                         if sized else None),
        **({"noise": res.noise} if res.has_noise else {})}
    out["findings"] = _findings(out)
    return out


def _findings(d: dict[str, Any]) -> list[str]:
    out = []
    cl = d["clusters"]
    if not cl:
        return list(d["notes"])
    sil = d["silhouette"]
    how = (f"chosen by the best silhouette over k = {min(map(int, d['k_scores']))} … {max(map(int, d['k_scores']))}"
           if d["k_scores"] else "found by HDBSCAN" if d["method"] == "hdbscan" else "as asked")
    out.append(f"{d['method_name'].capitalize()} splits the {d['n']:,} texts into {d['n_clusters']} clusters ({how})"
               + ("" if sil is None else f", silhouette {sil:.2f}") + "; the largest is "
               f"{cl[0]['name']} with {cl[0]['size']:,} texts ({cl[0]['share']:.0%}).")
    if d["label_names"]:
        pure = [c for c in cl if c["main_label_share"] is not None and c["main_label_share"] >= 0.8]
        if pure:
            out.append(f"{len(pure)} of the {len(cl)} clusters are at least 80% one label (e.g. "
                       f"{pure[0]['name']}: {pure[0]['main_label_share']:.0%} {pure[0]['main_label']}): there the "
                       "topic and the label go together.")
        else:
            out.append("No cluster is 80% or more one label: the topics the embeddings find cut across the labels.")
    if d["worst_cluster"] is not None and d["error_rate"] is not None:
        w = next(c for c in cl if c["id"] == d["worst_cluster"])
        ratio = w["error_rate"] / d["error_rate"] if d["error_rate"] > 0 else None
        s = (f"The classifier errs most in {w['name']}: {w['error_rate']:.0%} of its {w['errors_of']} labelled texts "
             f"are predicted wrongly, against {d['error_rate']:.1%} over all texts")
        if ratio is not None and ratio >= 1.5 and w["errors_of"] >= 10:
            s += f" ({ratio:.1f}×): a topic to add training data for"
        elif w["errors_of"] < 10:
            s += "; with so few texts this rate is uncertain"
        out.append(s + ".")
        best = min((c for c in cl if c["error_rate"] is not None), key=lambda c: (c["error_rate"], -c["size"]))
        if best["id"] != w["id"]:
            out.append(f"It does best in {best['name']} ({best['error_rate']:.0%} wrong of {best['errors_of']}).")
    if d["noise"]:
        out.append(f"HDBSCAN left {d['noise']:,} texts ({d['noise'] / d['n']:.0%}) in no cluster (noise).")
    out += [note for note in d["notes"]]
    return out
