"""The Projection page's controls and its selected-texts panel (the map and the metrics are drawn by the page).

Texts are named everywhere by their *dataset row*: the position of the text in the full dataset (``Sample.indices``),
the same number the Saliency, Instance and Topics pages show for that text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ui import state
from ui.state import DatasetChoice
from ui.widgets import AUTO_EVALUATE_MAX, _init, one_line, text_columns
from ui.widgets import selected_points  # noqa: F401 - the Projection page reads it from here

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.run import ProjectionRun

COLOR_LABELS = {"prediction": "Predicted class", "true label": "True label", "correct": "Correct or not"}
PROJECTION_N = (100, 5000)  # smallest and largest sample size offered on the Projection page


def projection_controls() -> state.ProjectionControls:
    """Sample size, λ, metric, colouring and held-out toggle of the Projection page; returns (and stores) them."""
    k = {n: f"bl.w.proj.{n}" for n in ("n", "lam", "metric", "color", "heldout")}
    cur = state.projection_controls()
    for key, val in (("n", cur.n), ("lam", cur.lam), ("metric", cur.metric), ("color", cur.color_by),
                     ("heldout", cur.heldout)):
        _init(k[key], val)
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1.2], gap="medium")
    n = c1.number_input("Sample size", min_value=PROJECTION_N[0], max_value=PROJECTION_N[1], step=100, key=k["n"],
                        help="Examples drawn deterministically (by the Workspace seed) from the chosen dataset. "
                             "The distance graph grows with n; above "
                             f"{AUTO_EVALUATE_MAX:,} examples the projection waits for a click.")
    lam = c2.slider("λ: weight of the classifier's view", 0.0, 1.0, step=0.05, key=k["lam"],
                    help="0 = the embedding's own distances only (plain UMAP); 1 = only the discriminative "
                         "distance along the classifier's decisions; 0.8 (default) mixes them as the DeepView "
                         "papers recommend. Once the distances are computed, moving λ takes a second or two.")
    metric = c3.selectbox("Embedding distance", ("cosine", "euclidean"), key=k["metric"],
                          help="The unsupervised distance between pooled embeddings (the 1 − λ part).")
    color = c4.selectbox("Colour points by", list(COLOR_LABELS), key=k["color"], format_func=COLOR_LABELS.get)
    heldout = st.toggle("Held-out test split only", key=k["heldout"],
                        help="When the model was trained on this dataset, project only its held-out test "
                             "examples (fewer points, but honest errors). Ignored for other datasets.")
    controls = state.ProjectionControls(n=int(n), lam=round(float(lam), 2), metric=metric, color_by=color,
                                        heldout=bool(heldout))
    state.set_projection_controls(controls)
    return controls


def focus_caption(model_ref: str, choice: DatasetChoice) -> None:
    """The focus text chosen earlier, when it belongs to this model and dataset (another model's focus text is not
    this page's: it is named as such, not shown as if it were)."""
    focus = state.focus_text()
    if focus is None:
        return
    if focus.matches(model_ref, choice):
        row = f", dataset row {focus.index}" if focus.index is not None else ""
        st.caption(f"Focus text for later pages ({focus.source or 'chosen earlier'}{row}): "
                   f"“{one_line(focus.text, 140)}” — predicted {focus.prediction or '–'}, "
                   f"true label {focus.label or '–'}.")
    else:
        st.caption(f"The focus text chosen earlier belongs to `{focus.model_ref}` on `{focus.dataset.ref}`, not to "
                   "this model and dataset; choose one below to replace it.")


def selected_texts_panel(run: ProjectionRun, rows: list[int], *, model_ref: str, choice: DatasetChoice,
                         source: str) -> None:
    """The texts of the selected projection ``rows`` in a table (named by their dataset row), and a picker that
    makes one of them the focus text of later pages (``ui.state.set_focus_text``)."""
    import pandas as pd

    focus_caption(model_ref, choice)
    if not rows:
        st.caption("Drag a box over the map, or click a point (shift-click for more), to list texts here.")
        return
    names = run.label_names
    index = run.sample.indices

    def name(i: int) -> str | None:
        return names[i] if 0 <= i < len(names) else None

    pred, conf = run.projection.predictions, run.projection.confidence
    frame = pd.DataFrame({
        "row": [int(index[i]) for i in rows],
        "text": [run.texts[i] for i in rows],
        **({"second text": [run.sample.text_pairs[i] for i in rows]} if run.sample.text_pairs is not None else {}),
        "true label": [name(int(run.labels[i])) or "—" for i in rows],
        "predicted": [name(int(pred[i])) for i in rows],
        "confidence": [float(conf[i]) for i in rows],
    })
    st.dataframe(frame, hide_index=True, column_config=text_columns())
    if st.session_state.get("bl.w.proj.focus_row") not in rows:
        st.session_state.pop("bl.w.proj.focus_row", None)
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    row = c1.selectbox("Text to open in later pages", rows, key="bl.w.proj.focus_row",
                       format_func=lambda i: f"dataset row {int(index[i])} · {name(int(pred[i]))} · "
                                             f"{one_line(run.texts[i], 90)}")
    if c2.button("Open in later pages", icon=":material/push_pin:", key="bl.w.proj.focus"):
        state.set_focus_text(state.FocusText(
            text=run.texts[row], model_ref=model_ref.strip(), dataset=choice,
            text_pair=run.sample.text_pairs[row] if run.sample.text_pairs is not None else None,
            index=int(index[row]), label=name(int(run.labels[row])), prediction=name(int(pred[row])),
            confidence=float(conf[row]), source=source))
        st.rerun()  # show the new focus text above
