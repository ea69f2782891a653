"""``projection``: DeepView discriminative projection with decision background, fidelity metrics, λ sweep."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from reports.sections.registry import Param, figure, register

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.run import ProjectionRun
    from reports.context import ReportContext

COLOR_BY = ("prediction", "true label", "correct")  # = figures.projection.COLOR_MODES
CHART_WIDTH, CHART_HEIGHT = 430, 390
_COLOR_WORDS = {"prediction": "the class the model predicts for it",
                "true label": "its true label (grey: unlabelled)",
                "correct": "whether the model's prediction matches its true label (orange: wrong, grey: correct)"}


@register("projection", title="Discriminative projection", params=[
    Param("n", "int", None, "texts to project: a random sample of the dataset drawn with the report's seed "
          "(default: the report's sample, i.e. sample_size or all examples)", minimum=50),
    Param("lam", "float", 0.8, "λ, the weight of the discriminative distance against the embedding distance "
          "(0 = embeddings only, 1 = classifier only)", minimum=0, maximum=1),
    Param("metric", "choice", "cosine", "the embedding distance: cosine or euclidean", choices=("cosine", "euclidean")),
    Param("color_by", "choice", "prediction", "colour the points by prediction, true label or correct",
          choices=COLOR_BY),
    Param("sweep", "float_list", None, "λ values to compare (e.g. [0, 0.2, 0.4, 0.6, 0.8, 1]); adds a table "
          "and a chart of the fidelity metrics per λ", minimum=0, maximum=1),
    Param("exact", "bool", False, "evaluate all n² pairs instead of the sparse candidate graph (n ≤ 6000)"),
    Param("n_interp", "int", 10, "interior points on each straight path between two embeddings", minimum=0),
    Param("neighbors", "int", 30, "UMAP neighbours (own-class candidates: twice as many)", minimum=2),
    Param("resolution", "int", 100, "background grid size (resolution × resolution cells)", minimum=2, maximum=400),
])
def compute(ctx: "ReportContext", params: dict) -> dict:
    """DeepView map of the texts with the classifier's decision background, fidelity metrics and a λ sweep."""
    from core.data.sampling import sample
    from core.analyses.projection.run import ProjectionSettings, run_projection, run_sweep
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import trained_on

    model = ctx.model
    n = params.get("n")
    ds = ctx.dataset if n is None else sample(ctx.full_dataset, n, seed=ctx.spec.seed)
    neighbors = int(params.get("neighbors", 30))
    settings = ProjectionSettings(metric=params.get("metric", "cosine"), n_interp=int(params.get("n_interp", 10)),
                                  exact=bool(params.get("exact", False)), n_neighbors=neighbors, k_own=2 * neighbors,
                                  resolution=int(params.get("resolution", 100)), seed=ctx.spec.seed)
    context = {"n": len(ds), "n_total": len(ctx.full_dataset), "seed": ctx.spec.seed,
               "trained_on_dataset": trained_on(model, ctx.full_dataset)}
    try:
        run = run_projection(model, ds, float(params.get("lam", 0.8)), settings, progress=ctx.say)
        sweep = run_sweep(model, ds, params["sweep"], settings, progress=ctx.say).to_list() \
            if params.get("sweep") else None
    except BackboneLensError as e:  # no head, too few texts, exact mode on too many: one sentence in the report
        ctx.say("projection", 1.0, f"projection not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    labels, label_note = run.labels, run.label_note or None  # model's label ids, matched by name in core
    return projection_fragment(run, labels, sweep, color_by=params.get("color_by", "prediction"),
                               context={**context, "label_note": label_note})


def projection_fragment(run: "ProjectionRun", labels: np.ndarray, sweep: Sequence[dict] | None = None, *,
                        color_by: str = "prediction", context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from already-computed core results (pure; no model needed).

    ``labels``: (n,) true labels as the model's class ids (−1 = unlabelled); ``sweep``: ``Sweep.to_list()`` rows.
    """
    from figures.projection import lambda_sweep_chart, projection_chart

    p, st = run.projection, run.settings
    fid = p.fidelity.to_dict()
    ctx = {"n": run.n, "n_total": run.n, "seed": st.seed, "trained_on_dataset": False, "label_note": None,
           **(context or {})}
    labelled = labels >= 0
    n_labelled = int(labelled.sum())
    n_wrong = int((labels[labelled] != p.predictions[labelled]).sum())
    bg = p.background
    chart = projection_chart(p.points, p.predictions, p.confidence, labels, run.label_names, run.texts,
                             bg_classes=bg.classes, bg_confidence=bg.confidence, extent=bg.extent,
                             color_by=color_by, title=f"Discriminative projection, λ = {p.lam:g}",
                             width=CHART_WIDTH, height=CHART_HEIGHT, seed=st.seed)
    dist = "cosine distance" if st.metric == "cosine" else "Euclidean distance"
    caption = (f"Each dot is one of the {run.n:,} texts, coloured by {_COLOR_WORDS[color_by]}. Texts close "
               f"together are close under the mixed distance (λ = {p.lam:g}: {p.lam:.0%} the classifier's "
               f"discriminative distance, {1 - p.lam:.0%} the {dist} of the embeddings). The background shows "
               "the classifier's decision at every location: colour = class, pale = uncertain. It is obtained "
               f"by mapping each cell of a {bg.resolution} × {bg.resolution} grid back into embedding space with a "
               "Cauchy-kernel inverse map (a weighted mean of the embeddings of the nearest projected texts) "
               "and then applying the model's classification head.")
    alt = (f"Scatter plot of {run.n:,} texts in two dimensions, coloured by {color_by}, over a background of "
           f"coloured regions showing the class the classifier assigns to each location.")
    counts = np.bincount(p.predictions, minlength=len(run.label_names))
    classes = [{"label": name, "predicted": int(c), "share": float(c) / max(1, run.n)}
               for name, c in zip(run.label_names, counts)]
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "lam": p.lam, "color_by": color_by,
        "settings": dict(st.__dict__), "params": p.params, "fidelity": fid,
        "n_labelled": n_labelled, "n_wrong": n_wrong, "classes": classes, "n_edges": run.n_edges,
        "seconds": {"embeddings": run.embed_seconds, "distances": run.graph_seconds, **p.seconds},
        "cache": {"distance_graph": run.graph_cache_hit, "projection": run.projection_cache_hit},
        "figure": figure(_for_print(chart), caption=caption, alt=alt),
        "sweep": None,
    }
    if sweep:
        rows = [{**r, "current": abs(r["lam"] - p.lam) < 1e-9} for r in sweep]
        out["sweep"] = {"rows": rows, "figure": figure(
            _for_print(lambda_sweep_chart(rows, width=380, height=210)),
            caption="Fidelity of the map for each λ (same texts, same distance graph). Q_kNN error: lower is "
                    "better; Q_data and trustworthiness: higher is better. Continuity is in the table.",
            alt="Line chart of Q_kNN error, Q_data and trustworthiness for λ = "
                + ", ".join(f"{r['lam']:g}" for r in rows))}
    out["findings"] = _findings(out)
    return out


def _for_print(chart: Any) -> Any:
    """A copy of a dashboard chart for a static report: no per-point ARIA labels (they would carry every
    dataset text into the SVG, unseen) and legend labels never cut short."""
    chart = chart.copy(deep=True)
    chart.config.aria = False
    chart.config.legend.labelLimit = 0
    return chart


def _findings(d: dict[str, Any]) -> list[str]:
    f, lam, n = d["fidelity"], d["lam"], d["n"]
    out = [f"At λ = {lam:g}, a vote of their {f['k']} nearest neighbours on the map gets the model's prediction "
           f"wrong for {f['q_knn_error']:.1%} of the texts (Q_kNN error), and {f['q_data']:.1%} of the texts lie "
           "on a background of the class the model predicts for them (Q_data)."]
    out.append(f"Trustworthiness {f['trustworthiness']:.3f} and continuity {f['continuity']:.3f}: "
               + ("neighbourhoods on the map largely reflect those in embedding space."
                  if min(f["trustworthiness"], f["continuity"]) >= 0.8 else
                  "neighbourhoods on the map reflect those in embedding space only in part; read distances "
                  "within a region with care."))
    if d["n_labelled"]:
        out.append(f"{d['n_wrong']:,} of the {d['n_labelled']:,} labelled texts are misclassified "
                   f"({d['n_wrong'] / d['n_labelled']:.1%}); colour by 'correct' to see where they lie.")
    rows = (d.get("sweep") or {}).get("rows") or []
    if len(rows) > 1:
        best_q = min(rows, key=lambda r: (r["q_knn_error"], -r["trustworthiness"]))
        best_t = max(rows, key=lambda r: r["trustworthiness"])
        out.append(f"Across the sweep, the Q_kNN error is lowest at λ = {best_q['lam']:g} "
                   f"({best_q['q_knn_error']:.1%}) and trustworthiness is highest at λ = {best_t['lam']:g} "
                   f"({best_t['trustworthiness']:.3f}).")
    if n < d["n_total"]:
        out.append(f"The map shows a random sample of {n:,} of the {d['n_total']:,} texts (seed {d['seed']}).")
    return out
