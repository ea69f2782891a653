"""Layers: where in depth do the classes separate? Per-layer separability of one or two models on the same texts,
and a 2-D map of any layer coloured by label, prediction, correctness or attribution entropy."""
import streamlit as st

from core.analyses.transformer.instance_view import EntropyParams
from core.analyses.transformer.layers import LayersParams
from figures.layers import LAYER_COLOR_TITLES
from ui import cached, report_draft, widgets
from ui.views import layers as views
from ui.errors import user_errors

N_RANGE, N_DEFAULT = (20, 3000), 300

st.title("Layers")
st.caption("Where in depth do the classes separate? Every layer of the encoder gives each text a pooled hidden state "
           "(layer 0 = the embedding layer). For each layer we ask how well the **true labels** separate there: "
           "**k-NN accuracy** (a vote of each text's k nearest other texts, cosine) against chance, and the "
           "**silhouette** (−1 … 1: how compact and apart the classes are). Compare a pre-trained (frozen) encoder "
           "with a fine-tuned one to see at which depth fine-tuning makes the difference.")

widgets.keep_widgets("bl.w.lay.")
choice = widgets.workspace_dataset()
options = widgets.model_options() + cached.multitask_task_refs()
st.session_state.setdefault("bl.w.lay.n", N_DEFAULT)
st.session_state.setdefault("bl.w.lay.k", LayersParams().k)

c1, c2, c3 = st.columns([3, 1, 1], gap="medium")
refs = widgets.page_models_picker("bl.w.lay.models", options, label="Models (one or two)", max_selections=2,
                                  container=c1, help="Start as the Workspace model and its pre-trained / fine-tuned "
                                  "counterpart (the curves are drawn together). A bare encoder is scored against the "
                                  "dataset's labels too (it has no predictions).")
widgets.selection_sidebar(refs, choice)
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

views.show_separability(res, k)
report_draft.add_button("layers", {"models": list(res.refs), "dataset": choice.ref, "n": n, "k": k},
                        page="Layers", key="layers.curves",
                        help="Store the separability curves of these models as a layers section of the report "
                             "draft (add the maps of a few layers by editing the spec: maps: [0, 3, 6]).")

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
    with user_errors():
        ent_est = cached.estimates.entropy(res.refs[which], choice, n, EntropyParams())
    if widgets.confirm_gate(("entropy", tuple(res.refs), choice, n, which),
                            f"Attribution entropy runs integrated gradients (20 steps) on each of the {n:,} texts "
                            f"with {res.refs[which]}: **{ent_est.span()}** here ({ent_est.basis}), cached afterwards. "
                            "Until then the map is coloured by the true label.",
                            "Compute attribution entropy", widget_key="bl.w.lay-go.entropy"):
        with user_errors():
            entropy = cached.layer_entropy(res.refs, choice, n, which, expected=ent_est.seconds)
    if entropy is None:
        color_by = "true label"
with user_errors():
    mv, run = cached.layer_map(res.refs, choice, n, which, layer, method)

views.show_layer_map(mv, run, model_ref=res.refs[which], layer=layer, last=L, method=method, color_by=color_by,
                     entropy=entropy, knn=float(s.knn_accuracy[layer]), silhouette=float(s.silhouette[layer]),
                     chance=s.chance)
