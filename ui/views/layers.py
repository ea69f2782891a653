"""The Layers page's result panels: separability curves per model, and one layer as a map with its numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.projection.run import ProjectionRun
from core.analyses.transformer.layers import LayerMap, LayersResult
from figures.layers import MAP_SUBTITLES, layer_projection_chart, layer_separability_chart
from figures.projection import run_chart
from ui import cached, widgets


def show_separability(res: LayersResult, k: int) -> None:
    """Each model's separation layer and last-layer accuracy, the curves, notes, the numbers per layer and how
    they were computed."""
    seps = res.separability
    for col, s in zip(st.columns(len(seps), gap="medium"), seps):
        L = len(s.knn_accuracy) - 1
        box = col.container(border=True)
        box.markdown(f"**{s.model_ref}**")
        a, b = box.columns(2)
        sep = s.separation_layer()
        a.metric("Classes separate at", "no layer" if sep is None else f"layer {sep}",
                 help="The first layer whose k-NN accuracy gains 90% of the rise from chance to the best "
                      f"layer (layer {int(s.knn_accuracy.argmax())}, {s.knn_accuracy.max():.1%}).")
        b.metric(f"k-NN accuracy, layer {L}", f"{s.knn_accuracy[L]:.1%}",
                 delta=f"{s.knn_accuracy[L] - s.knn_accuracy[0]:+.1%} vs layer 0",
                 help=f"Chance (the majority label's share): {s.chance:.1%}. Silhouette at layer {L}: "
                      f"{s.silhouette[L]:+.3f} (layer 0: {s.silhouette[0]:+.3f}).")
    widgets.show_chart(layer_separability_chart(list(seps), width=330, height=220))
    notes = list(dict.fromkeys(s.note for s in seps if s.note))
    if notes:
        st.info(" ".join(notes), icon=":material/info:")
    with st.expander("The numbers per layer"):
        st.dataframe(pd.DataFrame([{"model": s.model_ref, "layer": int(layer), "knn": float(a), "silhouette": float(si)}
                                   for s in seps for layer, a, si in zip(s.layers, s.knn_accuracy, s.silhouette)]),
                     hide_index=True, column_config={
            "model": st.column_config.TextColumn("Model"), "layer": st.column_config.NumberColumn("Layer", width="small"),
            "knn": st.column_config.NumberColumn(f"k-NN accuracy (k = {k})", format="percent"),
            "silhouette": st.column_config.NumberColumn("Silhouette", format="%+.3f")})
    st.caption(f"**How it was computed:** {seps[0].n:,} labelled texts {res.sample.note}; the model's own pooling (CLS or "
               f"mean) of each layer's hidden states; leave-one-out {k}-NN vote and silhouette with cosine distance; "
               "chance = the majority label's share. "
               + " · ".join(f"{r} {t:.1f} s" for r, t in zip(res.refs, res.seconds)) + " (0 s when cached).")


def show_layer_map(mv: LayerMap, run: ProjectionRun | None, *, model_ref: str, layer: int, last: int, method: str,
                   color_by: str, entropy: np.ndarray | None, knn: float, silhouette: float, chance: float) -> None:
    """The map of ``layer`` (DeepView's background when ``run`` is given) and that layer's numbers beside it."""
    L = last
    rows = mv.rows
    where = "embeddings (layer 0)" if layer == 0 else f"layer {layer} of {L}"
    title = f"{model_ref} · {where} · {cached.METHOD_NAMES[method]}"
    left, right = st.columns([3, 1], gap="medium")
    if run is not None and color_by != "attribution entropy":
        chart = run_chart(run, color_by=color_by, title=title, width=520, height=440)
    else:
        chart = layer_projection_chart(mv.points, mv.sample.texts, color_by=color_by, true=rows.true,
                                       predicted=rows.predicted, correct=rows.correct, entropy=entropy,
                                       label_names=mv.sample.label_names if color_by == "true label" else mv.label_names,
                                       title=title, subtitle=MAP_SUBTITLES[method], width=520, height=440)
    widgets.show_chart(chart, container=left)
    with right:
        st.metric(f"Layer {layer}: k-NN accuracy", f"{knn:.1%}", border=True,
                  help=f"Measured in the full pooled space of this layer (not on the 2-D map); chance {chance:.1%}.")
        st.metric(f"Layer {layer}: silhouette", f"{silhouette:+.3f}", border=True,
                  help="Of the true labels, cosine, in the full pooled space (not on the map).")
        if rows.correct is not None:
            st.metric("Wrong final predictions", f"{rows.correct.count('wrong')} of "
                      f"{sum(c != 'unlabelled' for c in rows.correct)}", border=True,
                      help="Of the model's final predictions on these texts (the same at every layer).")
        if entropy is not None:
            st.metric("Mean attribution entropy", f"{float(entropy.mean()):.2f}", border=True,
                      help="Normalised entropy of |IG attribution| over the tokens, averaged over the texts.")
        st.caption(f"Map: {mv.seconds:.1f} s (0 s when cached).")
    if rows.note and color_by == "correct":
        st.caption(rows.note)
    if method != "deepview" and run is None and layer == L and rows.predicted is not None:
        st.caption("The classifier reads the last layer: choose *DeepView* under Projection to see its decisions as a "
                   "background, or open the Projection page for the full DeepView tools.")
