"""Projection: the DeepView discriminative projection of a sample, with its fidelity and a λ sweep."""
import pandas as pd
import streamlit as st

from figures.projection import lambda_sweep_chart, run_chart
from ui import cached, report_draft, widgets
from ui.errors import user_errors
from ui.views import projection as views

st.title("Projection")
st.caption("A DeepView map of the classifier: every text is a point, placed so that texts close in the "
           "embedding *and* treated alike by the classification head lie close together (λ weighs the two). "
           "The background shows what the head predicts across the map.")

model_ref, choice, model = widgets.classifier_selection(
    "The discriminative projection measures how the head's predictions change between texts, so it needs one.")

c = views.projection_controls()
if c.n > widgets.AUTO_EVALUATE_MAX and not widgets.confirm_gate(
        ("projection", model_ref, choice, c.n, c.heldout, c.metric),
        f"Projecting {c.n:,} examples embeds them and evaluates the discriminative distance on tens of thousands "
        f"of pairs, which may take several minutes here; up to {widgets.AUTO_EVALUATE_MAX:,} examples are "
        "projected automatically.", "Compute the projection", widget_key="bl.w.proj.go"):
    st.stop()

with user_errors():
    run = cached.project(model_ref, choice, c.n, c.lam, c.metric, heldout=c.heldout)
p, f = run.projection, run.fidelity

# ------------------------------------------------------------------------------ map and fidelity
left, right = st.columns([3, 1], gap="medium")
chart = run_chart(run, color_by=c.color_by, width=520, height=480, selectable=True,
                  title=f"{model.ref} · {run.dataset_name} · λ = {run.lam:g}")
selection = widgets.show_selectable_chart(chart, key=f"bl.w.proj.chart.{run.key}.{c.color_by}",
                                          selection_mode=["brush", "pick"], container=left)
with right:
    st.metric("Q_kNN error", f"{f.q_knn_error:.1%}", border=True,
              help=f"Leave-one-out {f.k}-nearest-neighbour error on the 2-D map, against the model's *predicted* "
                   "labels (not the true ones): the share of points whose map neighbours mostly carry another "
                   "prediction. Lower is better.")
    st.metric("Q_data", f"{f.q_data:.1%}", border=True,
              help="The share of points whose predicted class equals the background class under them, i.e. how "
                   "well the background agrees with the model at the data. Higher is better.")
    st.metric("Trustworthiness", f"{f.trustworthiness:.3f}", border=True,
              help=f"Are the {f.k_tc} nearest neighbours on the map also near in the embedding ({run.params.metric} "
                   f"distance)? 1 = no false neighbours. Measured on {f.tc_sample:,} points.")
    st.metric("Continuity", f"{f.continuity:.3f}", border=True,
              help=f"Do the {f.k_tc} nearest neighbours in the embedding stay near on the map? 1 = no neighbours "
                   f"torn apart. Measured on {f.tc_sample:,} points.")

hit = " (cached)"
if run.label_note:
    st.caption(run.label_note)
st.caption("**Background:** the head's prediction at each spot of the map (the map is inverted back into the "
           "embedding); colour = class, pale = uncertain. Hover a point for its text, labels and confidence.")
st.caption(f"**How it was computed:** {run.n:,} texts {run.sample.note} · discriminative distance on "
           f"{run.n_edges:,} pairs, {run.graph_seconds:.1f} s{hit if run.graph_cache_hit else ''} · UMAP, "
           f"background and metrics {sum(p.seconds.values()):.1f} s{hit if run.projection_cache_hit else ''} · "
           f"{run.params.metric} distance, λ = {run.lam:g}.")

# ------------------------------------------------------------------------------ selected texts
picked = views.selected_points(selection, p.points)
chosen = picked[:5]
report_draft.add_button("projection", {"n": c.n, "lam": run.lam, "metric": run.params.metric, "color_by": c.color_by},
                        page="Projection", key="projection.map", container=right,
                        texts=[run.texts[i] for i in chosen], rows=[int(run.sample.indices[i]) for i in chosen],
                        labels={"n": "Sample size", "color_by": "colour points by"},
                        help="Store this DeepView map (with its settings) as a projection section of the report draft; "
                             "the first five selected texts can be quoted in its note.")
st.subheader("Selected texts")
views.selected_texts_panel(run, picked, model_ref=model_ref, choice=choice, source=f"Projection, λ = {run.lam:g}")

# ------------------------------------------------------------------------------ λ sweep
st.divider()
st.subheader("Fidelity across λ")
if widgets.confirm_gate(("sweep", model_ref, choice, c.n, c.heldout, c.metric),
                        "The sweep projects this sample once for each λ in 0, 0.2, …, 1, reusing the distances "
                        "above (a few seconds per λ at this size).", "Run the λ sweep", widget_key="bl.w.proj.sweep"):
    with user_errors():
        rows = cached.lambda_sweep(model_ref, choice, c.n, c.metric, heldout=c.heldout)
        sweep = lambda_sweep_chart(rows, width=380, title=f"{run.n:,} texts, {run.params.metric} distance")
        left, right = st.columns([5, 6], gap="medium")
        widgets.show_chart(sweep, container=left)
        table = pd.DataFrame(rows)
        table[["q_knn_error", "q_data"]] *= 100
        number = lambda label, fmt: st.column_config.NumberColumn(label, format=fmt, width="small")  # noqa: E731
        right.dataframe(table, hide_index=True, column_config={
            "lam": number("λ", "%.1f"), "q_knn_error": number("Q_kNN error", "%.1f%%"),
            "q_data": number("Q_data", "%.1f%%"), "trustworthiness": number("Trustworth.", "%.3f"),
            "continuity": number("Continuity", "%.3f"), "seconds": number("Seconds", "%.1f")})
        right.caption("Q_kNN uses the model's predicted labels; trustworthiness and continuity compare "
                      "neighbourhoods on the map with those in the embedding. Seconds: time to project at that λ.")
