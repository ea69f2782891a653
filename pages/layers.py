"""Layers: where in depth do the classes separate? Per-layer separability of one or two models on the same texts,
and a 2-D map of any layer coloured by label, prediction, correctness or attribution entropy."""
import pandas as pd
import streamlit as st

from core.analyses.transformer.instance_view import estimate_entropy_seconds
from core.analyses.transformer.layers import LayersParams
from figures.layers import LAYER_COLOR_TITLES, MAP_SUBTITLES, layer_projection_chart, layer_separability_chart
from figures.projection import projection_chart
from ui import cached, report_draft, widgets
from ui.errors import user_errors

N_RANGE, N_DEFAULT = (20, 3000), 300

st.title("Layers")
st.caption("Where in depth do the classes separate? Every layer of the encoder gives each text a pooled hidden state "
           "(layer 0 = the embedding layer). For each layer we ask how well the **true labels** separate there: "
           "**k-NN accuracy** (a vote of each text's k nearest other texts, cosine) against chance, and the "
           "**silhouette** (−1 … 1: how compact and apart the classes are). Compare a pre-trained (frozen) encoder "
           "with a fine-tuned one to see at which depth fine-tuning makes the difference.")

widgets.keep_widgets("bl.w.lay.")
choice = widgets.dataset_selection()
options = widgets.model_options() + cached.multitask_task_refs()
task = choice.ref.split(":", 1)[1] if choice.ref.startswith("bundled:") else ""
defaults = [m for m in (f"demo:{task}-pretrained", f"demo:{task}-finetuned") if m in options] or options[:1]
st.session_state.setdefault("bl.w.lay.models", defaults)
st.session_state.setdefault("bl.w.lay.n", N_DEFAULT)
st.session_state.setdefault("bl.w.lay.k", LayersParams().k)
st.session_state["bl.w.lay.models"] = [m for m in st.session_state["bl.w.lay.models"] if m in options][:2]

c1, c2, c3 = st.columns([3, 1, 1], gap="medium")
refs = c1.multiselect("Models (one or two)", options, key="bl.w.lay.models", max_selections=2,
                      help="E.g. the pre-trained (frozen encoder + head) and the fine-tuned model of the same data: "
                           "their curves are drawn together. A bare encoder is scored against the dataset's labels "
                           "too (it has no predictions).")
n = int(c2.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=50, key="bl.w.lay.n",
                        help="Drawn by the Workspace seed; from the held-out test split when one of the models was "
                             "trained on this dataset."))
k = int(c3.number_input("k (neighbours)", min_value=LayersParams.param("k").minimum, max_value=100, step=1,
                        key="bl.w.lay.k", help="The k nearest other texts (cosine) that vote on each text's label."))
if not refs:
    st.error("Choose one or two models.", icon=":material/error:")
    st.stop()
if not widgets.confirm_gate(("layers", tuple(refs), choice, n), f"Each model embeds the {n:,} texts and keeps the "
                            "pooled hidden state of every layer (about 10–40 s per model for 300 texts on a 2-core "
                            "CPU the first time; cached on disk afterwards), then scores every layer in a few seconds.",
                            "Compute the layer curves", widget_key="bl.w.lay-go.run"):
    st.stop()
with user_errors():
    res = cached.layer_separability(refs, choice, n, k)
seps = res.separability

# ------------------------------------------------------------------------------ the curves
for col, s in zip(st.columns(len(seps), gap="medium"), seps):
    L = len(s.knn_accuracy) - 1
    box = col.container(border=True)
    box.markdown(f"**{s.model_ref}**")
    a, b = box.columns(2)
    a.metric("Classes separate at", f"layer {s.separation_layer()}",
             help="The first layer whose k-NN accuracy gains 90% of the rise from chance to the best "
                  f"layer (layer {int(s.knn_accuracy.argmax())}, {s.knn_accuracy.max():.1%}).")
    b.metric(f"k-NN accuracy, layer {L}", f"{s.knn_accuracy[L]:.1%}",
             delta=f"{s.knn_accuracy[L] - s.knn_accuracy[0]:+.1%} vs layer 0",
             help=f"Chance (the majority label's share): {s.chance:.1%}. Silhouette at layer {L}: "
                  f"{s.silhouette[L]:+.3f} (layer 0: {s.silhouette[0]:+.3f}).")
widgets.show_chart(layer_separability_chart(list(seps), width=330, height=220))
report_draft.add_button("layers", {"models": list(res.refs), "dataset": choice.ref, "n": n, "k": k},
                        page="Layers", key="layers.curves",
                        help="Store the separability curves of these models as a layers section of the report "
                             "draft (add the maps of a few layers by editing the spec: maps: [0, 3, 6]).")
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

# ------------------------------------------------------------------------------ one layer as a map
st.subheader("One layer as a map")
if st.session_state.get("bl.w.lay.which") not in range(len(res.refs)):
    st.session_state["bl.w.lay.which"] = 0
m1, m2, m3, m4 = st.columns([2, 2, 2, 2], gap="medium")
which = int(m1.selectbox("Model", list(range(len(res.refs))), key="bl.w.lay.which", format_func=res.refs.__getitem__,
                         disabled=len(res.refs) == 1))
s = seps[which]
L = len(s.knn_accuracy) - 1
if not 0 <= st.session_state.setdefault("bl.w.lay.layer", L) <= L:
    st.session_state["bl.w.lay.layer"] = L
layer = int(m2.slider("Layer", 0, L, key="bl.w.lay.layer", help="0 = the embedding layer's output; "
                      f"{L} = the last layer, the one the classifier reads."))
head = res.has_head[which]
methods = [m for m in cached.METHOD_NAMES if m != "deepview" or (head and layer == L)]
if st.session_state.get("bl.w.lay.method") not in methods:
    st.session_state["bl.w.lay.method"] = "pca"
method = m3.selectbox("Projection", methods, key="bl.w.lay.method",
                      format_func=lambda m: cached.METHOD_NAMES[m] + (" (last layer)" if m == "deepview" else ""),
                      help="PCA: linear, fast, keeps large distances. t-SNE and UMAP (cosine): keep neighbourhoods, "
                           "take a few seconds. DeepView needs the classifier head, so it is offered at the last "
                           "layer only (the same map as on the Projection page, λ = 0.8).")
colors = ["true label"] + (["prediction", "correct", "attribution entropy"] if head else [])
if st.session_state.get("bl.w.lay.color") not in colors:
    st.session_state["bl.w.lay.color"] = "true label"
color_by = m4.selectbox("Colour points by", colors, key="bl.w.lay.color", format_func=LAYER_COLOR_TITLES.get,
                        help="Attribution entropy: how spread the integrated-gradients attribution of the predicted "
                             "class is over the tokens (0 = on one token, 1 = evenly). A bare encoder has no "
                             "prediction, so only the true label is offered.")

entropy = None
if color_by == "attribution entropy":
    if widgets.confirm_gate(("entropy", tuple(res.refs), choice, n, which),
                            f"Attribution entropy runs integrated gradients (20 steps) on each of the {n:,} texts "
                            f"with {res.refs[which]}: about {max(1, round(estimate_entropy_seconds(n) / 60))} min "
                            "for short texts on a 2-core CPU the first time (longer texts take longer), cached "
                            "afterwards. Until then the map is coloured by the true label.",
                            "Compute attribution entropy", widget_key="bl.w.lay-go.entropy"):
        with user_errors():
            entropy = cached.layer_entropy(res.refs, choice, n, which)
    if entropy is None:
        color_by = "true label"
with user_errors():
    mv, run = cached.layer_map(res.refs, choice, n, which, layer, method)

left, right = st.columns([3, 1], gap="medium")
where = "embeddings (layer 0)" if layer == 0 else f"layer {layer} of {L}"
title = f"{res.refs[which]} · {where} · {cached.METHOD_NAMES[method]}"
rows = mv.rows
if run is not None and color_by != "attribution entropy":
    p = run.projection
    chart = projection_chart(p.points, p.predictions, p.confidence, run.labels, run.label_names, mv.sample.texts,
                             bg_classes=p.background.classes, bg_confidence=p.background.confidence,
                             extent=p.background.extent, color_by=color_by, width=520, height=440, title=title)
else:
    chart = layer_projection_chart(mv.points, mv.sample.texts, color_by=color_by, true=rows.true,
                                   predicted=rows.predicted, correct=rows.correct, entropy=entropy,
                                   label_names=mv.sample.label_names if color_by == "true label" else mv.label_names,
                                   title=title, subtitle=MAP_SUBTITLES[method], width=520, height=440)
widgets.show_chart(chart, container=left)
with right:
    st.metric(f"Layer {layer}: k-NN accuracy", f"{s.knn_accuracy[layer]:.1%}", border=True,
              help=f"Measured in the full pooled space of this layer (not on the 2-D map); chance {s.chance:.1%}.")
    st.metric(f"Layer {layer}: silhouette", f"{s.silhouette[layer]:+.3f}", border=True,
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
if method != "deepview" and head and layer == L:
    st.caption("The classifier reads the last layer: choose *DeepView* under Projection to see its decisions as a "
               "background, or open the Projection page for the full DeepView tools.")
