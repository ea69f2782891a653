"""``projection``: DeepView discriminative projection with decision background, fidelity metrics, λ sweep."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.analyses.projection.params import ProjectionParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import for_print

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.run import ProjectionRun
    from reports.context import ReportContext

COLOR_BY = ("prediction", "true label", "correct")  # = figures.projection.COLOR_MODES
CHART_WIDTH, CHART_HEIGHT = 430, 390
_COLOR_WORDS = {"prediction": "the class the model predicts for it",
                "true label": "its true label (grey: unlabelled)",
                "correct": "whether the model's prediction matches its true label (orange: wrong, grey: correct)"}


@dataclass(frozen=True)
class ProjectionSectionParams(Params):
    """The section's spec keys: its sample size, colouring and λ sweep, and the parameters of
    :class:`~core.analyses.projection.params.ProjectionParams` it exposes (declared there)."""

    n: int | None = param(None, "texts to project: a random sample of the dataset drawn with the report's seed "
                          "(default: the report's sample, i.e. sample_size or all examples)", type="int", minimum=50)
    lam: float = same_param(ProjectionParams, "lam")
    metric: str = same_param(ProjectionParams, "metric")
    color_by: str = param("prediction", "colour the points by prediction, true label or correct", type="choice",
                          choices=COLOR_BY)
    sweep: tuple[float, ...] | None = param(None, "λ values to compare (e.g. [0, 0.2, 0.4, 0.6, 0.8, 1]); adds a "
                                            "table and a chart of the fidelity metrics per λ", type="float_list",
                                            minimum=0, maximum=1)
    exact: bool = same_param(ProjectionParams, "exact")
    n_interp: int = same_param(ProjectionParams, "n_interp")
    neighbors: int = same_param(ProjectionParams, "neighbors")
    resolution: int = same_param(ProjectionParams, "resolution")

    def projection(self, *, seed: int) -> ProjectionParams:
        """The analysis parameters this section exposes (the others at their defaults), with the report's seed."""
        shared = {k: v for k, v in self.to_dict(plain=False).items() if ProjectionParams.param(k) is not None}
        return ProjectionParams(**shared, seed=seed)


@register("projection", title="Discriminative projection", params=ProjectionSectionParams)
def compute(ctx: "ReportContext", p: ProjectionSectionParams) -> dict:
    """DeepView map of the texts with the classifier's decision background, fidelity metrics and a λ sweep."""
    from core.analyses.projection.run import run_projection, run_sweep
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    model, seed = ctx.model, ctx.spec.seed
    # all of the dataset (the template says so when the model was trained on it): the section's own n, else
    # the report's sample
    sample = heldout_sample(model, ctx.full_dataset, ctx.spec.sample_size if p.n is None else p.n, seed=seed,
                            heldout=False)
    params = p.projection(seed=seed)
    context = {"n": len(sample), "n_total": sample.n_total, "seed": seed,
               "trained_on_dataset": bool(sample.trained_by)}
    try:
        run = run_projection(model, sample, params, progress=ctx.say)
        sweep = run_sweep(model, sample, p.sweep, params, progress=ctx.say).to_list() if p.sweep else None
    except BackboneLensError as e:  # no head, too few texts, exact mode on too many: one sentence in the report
        ctx.say("projection", 1.0, f"projection not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    return projection_fragment(run, sweep, color_by=p.color_by,
                               context={**context, "label_note": run.label_note or None})


def projection_fragment(run: "ProjectionRun", sweep: Sequence[dict] | None = None, *,
                        color_by: str = "prediction", context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from already-computed core results (pure; no model needed).

    The true labels are ``run.labels``: (n,) the model's class ids (−1 = unlabelled); ``sweep``:
    ``Sweep.to_list()`` rows.
    """
    from figures.projection import lambda_sweep_chart, run_chart

    p, st = run.projection, run.params
    labels = run.labels
    fid = p.fidelity.to_dict()
    ctx = {"n": run.n, "n_total": run.n, "seed": st.seed, "trained_on_dataset": False, "label_note": None,
           **(context or {})}
    labelled = labels >= 0
    n_labelled = int(labelled.sum())
    n_wrong = int((labels[labelled] != p.predictions[labelled]).sum())
    bg = p.background
    chart = run_chart(run, color_by=color_by, title=f"Discriminative projection, λ = {p.lam:g}", width=CHART_WIDTH,
                      height=CHART_HEIGHT)
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
        "settings": st.settings(), "params": p.params, "fidelity": fid,
        "n_labelled": n_labelled, "n_wrong": n_wrong, "classes": classes, "n_edges": run.n_edges,
        "seconds": {"embeddings": run.embed_seconds, "distances": run.graph_seconds, **p.seconds},
        "cache": {"distance_graph": run.graph_cache_hit, "projection": run.projection_cache_hit},
        "figure": figure(for_print(chart), caption=caption, alt=alt),
        "sweep": None,
    }
    if sweep:
        rows = [{**r, "current": abs(r["lam"] - p.lam) < 1e-9} for r in sweep]
        out["sweep"] = {"rows": rows, "figure": figure(
            for_print(lambda_sweep_chart(rows, width=380, height=210)),
            caption="Fidelity of the map for each λ (same texts, same distance graph). Q_kNN error: lower is "
                    "better; Q_data and trustworthiness: higher is better. Continuity is in the table.",
            alt="Line chart of Q_kNN error, Q_data and trustworthiness for λ = "
                + ", ".join(f"{r['lam']:g}" for r in rows))}
    out["findings"] = _findings(out)
    return out


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
