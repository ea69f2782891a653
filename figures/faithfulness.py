"""Hiding and revealing game curves, the Grad-CAM layer sweep, the AUC table and the games' caption.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import altair as alt
import pandas as pd
from core.analyses.saliency_params import GRADCAM
from figures.style import PALETTE, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.saliency.faithfulness import FaithfulnessResult, GameCurve


def curve_label(c: "GameCurve") -> str:
    """A reader's name for a curve: the method's title, with the layer for Grad-CAM ('random order' for random)."""
    if c.method == "random":
        return "random order"
    from core.analyses.saliency import method_names

    if c.method not in method_names():
        return c.name
    from core.analyses.saliency import get_method

    title = get_method(c.method).title
    return title if c.layer is None else f"{title}, layer {c.layer}"


def _game_frame(curves: Sequence["GameCurve"], metric: str) -> pd.DataFrame:
    recs = []
    for c in curves:
        for game, acc, prob in (("hiding", c.hide_accuracy, c.hide_probability),
                                ("revealing", c.reveal_accuracy, c.reveal_probability)):
            vals = acc if metric == "accuracy" else prob
            for lv, v in zip(c.levels, vals):
                recs.append({"method": curve_label(c), "game": game, "share": float(lv), "value": float(v)})
    return pd.DataFrame(recs)


def game_curves(res: "FaithfulnessResult", *, max_methods: int = 8) -> list["GameCurve"]:
    """The curves worth drawing: every method once (swept Grad-CAM at its best layer and layer 0), random last."""
    out, seen = [], set()
    for c in res.curves:
        if c.method == "random" or c.method in seen:
            continue
        if res.layers(c.method):
            best = res.best_layer(c.method)
            out.append(res.curve(c.method, best))
            if best != 0 and any(x.layer == 0 for x in res.layers(c.method)):
                out.append(res.curve(c.method, 0))
        else:
            out.append(c)
        seen.add(c.method)
    return out[:max_methods] + [res.random]


def faithfulness_chart(res: "FaithfulnessResult", *, metric: str = "accuracy", curves: Sequence["GameCurve"] | None = None,
                       width: int = 300, height: int = 220) -> alt.Chart:
    """Hiding (left) and revealing (right) curves: x = share of tokens hidden/kept, y = accuracy or probability."""
    return curves_chart(list(curves) if curves is not None else game_curves(res),
                        accuracy_against=res.accuracy_against, metric=metric, width=width, height=height)


def curves_chart(cs: Sequence["GameCurve"], *, accuracy_against: str, metric: str = "accuracy", width: int = 300,
                 height: int = 220) -> alt.Chart:
    """:func:`faithfulness_chart` of bare curves (e.g. a corpus audit's mean curves); ``accuracy_against``: "true
    labels" or "intact predictions"."""
    df = _game_frame(cs, metric)
    names = [curve_label(c) for c in cs]
    colors = [("#888888" if c.method == "random" else PALETTE[i % len(PALETTE)]) for i, c in enumerate(cs)]
    ytitle = f"accuracy (against {accuracy_against})" if metric == "accuracy" else "probability of the predicted class"
    base = alt.Chart(df).encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of tokens (most salient first)"),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=ytitle),
        color=alt.Color("method:N", sort=names, scale=alt.Scale(domain=names, range=colors), title="order",
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=0, titleLimit=0)),
        strokeDash=alt.condition(alt.datum.method == "random order", alt.value([5, 3]), alt.value([1, 0])),
        tooltip=["method:N", "game:N", alt.Tooltip("share:Q", format=".0%"), alt.Tooltip("value:Q", format=".1%")],
    )
    lines = base.mark_line(point=alt.OverlayMarkDef(size=18))
    panels = []
    for game, sub in (("hiding", "top tokens replaced — lower is more faithful"),
                      ("revealing", "only top tokens kept — higher is more faithful")):
        panels.append(lines.transform_filter(alt.datum.game == game).properties(
            width=width, height=height, title=alt.TitleParams(f"{game.capitalize()} game", subtitle=sub,
                                                              subtitleFontSize=10)))
    return _theme(alt.hconcat(*panels).resolve_scale(color="shared"))


def layer_sweep_chart(res: "FaithfulnessResult", *, width: int = 420, height: int = 220) -> alt.Chart:
    """Reveal − hide accuracy AUC gap per layer for decoded and plain Grad-CAM, with the random order as a rule."""
    recs = []
    for m, label in (("decoded_gradcam", "decoded Grad-CAM"), ("layer_gradcam", "plain layer Grad-CAM")):
        for c in res.layers(m):
            recs.append({"layer": c.layer, "method": label, "gap": c.gap, "hide": c.hide_auc, "reveal": c.reveal_auc})
    df = pd.DataFrame(recs)
    if df.empty:
        df = pd.DataFrame({"layer": [], "method": [], "gap": [], "hide": [], "reveal": []})
    order = ["decoded Grad-CAM", "plain layer Grad-CAM"]
    line = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("layer:O", title="layer (0 = embeddings)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("gap:Q", title="revealing AUC − hiding AUC (higher is better)"),
        color=alt.Color("method:N", sort=order, scale=alt.Scale(domain=order, range=PALETTE[:2]), title=None,
                        legend=alt.Legend(orient="bottom")),
        strokeDash=alt.StrokeDash("method:N", sort=order, legend=None),
        tooltip=["method:N", "layer:O", alt.Tooltip("gap:Q", format=".3f"), alt.Tooltip("hide:Q", format=".3f"),
                 alt.Tooltip("reveal:Q", format=".3f")])
    rnd = alt.Chart(pd.DataFrame({"gap": [res.random.gap], "label": ["random order"]})).mark_rule(
        color="#888888", strokeDash=[5, 3]).encode(y="gap:Q", tooltip=["label:N", alt.Tooltip("gap:Q", format=".3f")])
    txt = alt.Chart(pd.DataFrame({"gap": [res.random.gap], "label": ["random"]})).mark_text(
        align="left", dx=4, dy=-6, color="#666666", fontSize=10).encode(y="gap:Q", text="label:N", x=alt.value(0))
    return _theme((line + rnd + txt).properties(width=width, height=height,
                                                title=alt.TitleParams("Which layer explains best?",
                                                                      subtitle="decoded vs plain Grad-CAM per layer",
                                                                      subtitleFontSize=10)))


def faithfulness_frame(res: "FaithfulnessResult") -> pd.DataFrame:
    """One row per curve: method title, layer, hiding / revealing AUCs (accuracy and probability), gap,
    saliency seconds, and whether the row is the best layer of a Grad-CAM sweep."""
    from core.analyses.saliency import get_method

    best = {m: res.best_layer(m) for m in GRADCAM if res.layers(m)}
    rows = [{"method": "random order" if c.method == "random" else get_method(c.method).title,
             "layer": "–" if c.layer is None else str(c.layer), "hiding AUC": c.hide_auc,
             "revealing AUC": c.reveal_auc, "gap": c.gap, "hiding AUC (prob.)": c.hide_auc_prob,
             "revealing AUC (prob.)": c.reveal_auc_prob, "saliency s": c.saliency_seconds,
             "best layer": c.layer is not None and best.get(c.method) == c.layer} for c in res.curves]
    return pd.DataFrame(rows)


# columns of faithfulness_frame → (header, help, width): the dashboard's column settings
TABLE_COLUMNS = {
    "method": ("Method", "", "medium"), "layer": ("Layer", "", "small"),
    "hiding AUC": ("Hiding", "Area under the hiding game's accuracy curve: lower is better.", None),
    "revealing AUC": ("Revealing", "Area under the revealing game's accuracy curve: higher is better.", None),
    "gap": ("Gap", "Revealing AUC − hiding AUC: higher is better.", None),
    "hiding AUC (prob.)": ("Hiding (prob.)", "Hiding AUC of the predicted class's probability: lower is better.",
                           None),
    "revealing AUC (prob.)": ("Revealing (prob.)", "Revealing AUC of the predicted class's probability: higher is "
                                                   "better.", None),
    "saliency s": ("Saliency s", "Seconds to compute the method's scores on the sample (a layer sweep's time is "
                                 "shared by its layers).", "small"),
    "best layer": ("Best layer", "", "small"),
}
BEST_LAYER_TITLES = {"decoded_gradcam": "Best decoded Grad-CAM layer", "layer_gradcam": "Best plain Grad-CAM layer"}


def faithfulness_table(res: "FaithfulnessResult") -> "pd.io.formats.style.Styler":
    """:func:`faithfulness_frame` styled: the best layer of a sweep highlighted, the random order grey, AUCs to
    three decimals."""
    def highlight(row: pd.Series) -> list[str]:
        style = ("background-color: #fde7d9; font-weight: 600" if row["best layer"] else
                 "color: #777777" if row["method"] == "random order" else "")
        return [style] * len(row)

    aucs = ("hiding AUC", "revealing AUC", "gap", "hiding AUC (prob.)", "revealing AUC (prob.)")
    return faithfulness_frame(res).style.apply(highlight, axis=1).format(
        {k: "{:.3f}" for k in aucs} | {"saliency s": "{:.1f}"})


def games_caption(res: "FaithfulnessResult") -> str:
    """"**How it was computed:** …": the texts and where they come from, their length, the replacement, what
    accuracy is measured against, and the work done (or that the disk cache served it)."""
    note = f" {res.sample.note}" if res.sample is not None else ""
    return (f"**How it was computed:** {res.n:,} texts{note} · {res.mean_tokens:.0f} tokens on average"
            + (f", {res.truncated:,} truncated to {res.max_length}" if res.truncated else "")
            + f" · hidden tokens → {res.replacement} · accuracy against {res.accuracy_against} · "
            + (f"{res.evaluations:,} perturbed texts evaluated, {res.seconds:.0f} s (methods played before came "
               "from the disk cache)." if res.evaluations else "every method's curves came from the disk cache."))
