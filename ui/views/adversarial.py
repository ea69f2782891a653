"""The Adversarial page's result panels: the summary of an attack, the detection in the joint DeepView map and the
attacked texts (readable diffs, the table, the CSV and the way to the Saliency page). Charts and the diff HTML come
from ``figures.adversarial``; nothing is computed here."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analyses.adversarial.attacks import AttackResult
from core.analyses.adversarial.detection import SCORES, DetectionResult, flagged_rows
from core.models.loading import LoadedModel
from figures.adversarial import adversarial_diffs_html, adversarial_projection_chart, detection_chart, score_title
from ui import state, widgets
from ui.state import DatasetChoice

Col = st.column_config


def show_summary(res: AttackResult) -> None:
    """How the attack went: success rate, words changed, queries, speed, and how it was computed."""
    s = res.summary()
    st.subheader("How the attack went")
    m = st.columns(4)
    q = res.queries_per_success
    for col, label, value, why in (
            (m[0], "Success rate", f"{res.success_rate:.0%}", f"{s['successes']} of the {s['attacked']} attacked texts "
             f"flipped ({s['skipped_misclassified']} already misclassified texts were not attacked)."),
            (m[1], "Words changed per success", f"{res.mean_words_changed:.1f}" if res.successes else "–",
             f"Mean over the successful attacks: {res.mean_share_changed:.0%} of a text's words."),
            (m[2], "Queries per success", "–" if q is None else f"{q:,.0f}", "Texts passed through the model (word "
             "ranking included), failed attacks counted too, divided by the successes. Fewer = an easier target."),
            (m[3], "Texts per minute", "–" if not s["sentences_per_minute"] else f"{s['sentences_per_minute']:.1f}",
             "Speed of the attack on this machine (when it was computed).")):
        col.metric(label, value, border=True, help=why)
    info = [f"{res.attack} attack on {len(res.sample):,} texts {res.sample.note}",
            f"{s['skipped_misclassified']} already misclassified",
            f"{s['no_candidates']} without an editable word or candidate", f"{res.seconds:.0f} s"
            + (" (from the disk cache)" if res.cache_hit else "")]
    if s["mean_similarity"] is not None:
        info.insert(1, f"mean similarity of the flipped texts {s['mean_similarity']:.2f}")
    st.caption("**How it was computed:** " + " · ".join(info) + ".")
    if res.label_note:
        st.caption(res.label_note)


def show_detection(det: DetectionResult) -> None:
    """Clean and adversarial texts in one map, the reading, and how well each suspicion score detects them."""
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    widgets.show_chart(adversarial_projection_chart(det, width=420, height=380), container=left)
    best = max(det.auroc, key=det.auroc.get)
    pale = det.in_pale_region
    right.markdown(f"**Reading:** the best detector here is {score_title(best)} (AUROC "
                   f"{det.auroc[best]:.2f}; 0.5 = chance, 1 = every adversarial text ranked above every clean one). "
                   f"{pale['adversarial']:.0%} of the adversarial texts but {pale['clean']:.0%} of the clean ones lie "
                   "where the background is paler than under 90 % of the clean texts: the more adversarial texts "
                   "sit in pale regions, the better the map shows that they lie near a decision boundary.")
    right.caption(f"Projection of {len(det.is_adversarial):,} texts (clean originals of every attacked text and "
                  f"the successful adversarial versions) at λ = {det.run.lam:g}.")
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    widgets.show_chart(detection_chart(det, width=260, height=100), container=left)
    right.dataframe(pd.DataFrame([{"score": SCORES.title(k), "auroc": det.auroc[k], "p_at_k": det.precision_at_k[k]}
                                  for k in SCORES if k in det.auroc]), hide_index=True, column_config={
        "score": Col.TextColumn("Suspicion score", width="medium"),
        "auroc": Col.NumberColumn("AUROC", format="%.2f", width="small"),
        "p_at_k": Col.NumberColumn(f"Prec.@{det.k}", format="%.2f", width="small", help="Share of adversarial texts "
                                   f"among the {det.k} most suspicious (base rate {det.base_rate:.2f})")})
    right.caption("**Classifier entropy:** how unsure the classifier is about the text. **Background "
                  "uncertainty:** how pale the map's background is under the point. **Neighbour disagreement:** the "
                  f"share of its {det.k_neighbours} nearest map neighbours predicted otherwise.")


def show_texts(res: AttackResult, det: DetectionResult | None, model: LoadedModel) -> list[dict]:
    """The successful attacks as readable diffs and every attacked text in a table (and as CSV); returns the rows
    (``core.analyses.adversarial.detection.flagged_rows``)."""
    st.subheader("The attacked texts")
    rows = flagged_rows(res, det)
    diffs = adversarial_diffs_html(rows, limit=10)
    if diffs:
        st.html(diffs)
        shown = min(10, len(res.successes))
        st.caption(f"The first {shown} of {len(res.successes)} successful attacks"
                   + (", most suspicious (entropy) first" if det is not None else "") + ". Struck through: removed; "
                   "bold: inserted; yellow: a look-alike letter from another script (hover it).")
    else:
        st.info("No text flipped: the model held on every attacked text within these limits.", icon=":material/info:")
    if not rows:
        return rows
    frame = pd.DataFrame(rows)
    for col in [c for c in frame if c.endswith(("_adversarial", "_original"))]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")  # '' (no adversarial text) → empty cell
    frame["dataset row"] = [int(res.sample.indices[i]) for i in frame["index"]]
    cols = ["dataset row", "status", "diff", "label", "prediction_before", "probability_before", "prediction_after",
            "probability_after", "words_changed", "similarity", "queries",
            *[f"{k}_adversarial" for k in SCORES if f"{k}_adversarial" in frame]]
    pct = lambda label: Col.NumberColumn(label, format="%.0f%%", width="small")  # noqa: E731
    visible = frame[cols].copy()
    visible[["probability_before", "probability_after"]] *= 100
    st.dataframe(visible, hide_index=True, column_config={
        "dataset row": Col.NumberColumn("Dataset row", width="small", format="%d",
                                        help="Position of the text in the whole dataset (the number other pages show "
                                             "for it)"),
        "status": Col.TextColumn("Outcome", width="small", help="success: flipped; failed: held within the limits; "
                                 "no_candidates: nothing could be edited"),
        "diff": Col.TextColumn("Text, edited ([-removed-] {+inserted+})", width="large"),
        "label": Col.TextColumn("True label", width="small"),
        "prediction_before": Col.TextColumn("Before", width="small"),
        "probability_before": pct("Conf. before"), "prediction_after": Col.TextColumn("After", width="small"),
        "probability_after": pct("Conf. after"), "words_changed": Col.NumberColumn("Words changed", width="small"),
        "similarity": Col.NumberColumn("Similarity", format="%.2f", width="small"),
        "queries": Col.NumberColumn("Queries", width="small"),
        **{f"{k}_adversarial": Col.NumberColumn(v, format="%.2f", width="small", help="Suspicion score of the "
                                                "adversarial text (higher = more suspicious)")
           for k, v in SCORES.titles().items()}})
    d1, d2 = st.columns([3, 2], vertical_alignment="bottom")
    d1.caption("The CSV holds every column: original and adversarial texts, predictions, and each suspicion score "
               "for the adversarial text and its clean original.")
    d2.download_button("Download all rows (CSV)", frame.to_csv(index=False).encode("utf-8"), icon=":material/download:",
                       file_name=f"adversarial-{res.attack}-{model.ref.replace(':', '-').replace('/', '-')}.csv",
                       mime="text/csv", key="bl.adv-go.csv")
    return rows


def explain_in_saliency(res: AttackResult, rows: list[dict], model_ref: str, choice: DatasetChoice) -> None:
    """A flipped text to choose and a button that opens it on the Saliency page."""
    flipped = [r for r in rows if r["status"] == "success"]
    if not flipped:
        return
    by_index = {r["index"]: r for r in flipped}
    if st.session_state.get("bl.adv.focus_row") not in by_index:
        st.session_state["bl.adv.focus_row"] = flipped[0]["index"]
    e1, e2 = st.columns([4, 1], vertical_alignment="bottom")
    row = e1.selectbox("Adversarial text to explain", list(by_index), key="bl.adv.focus_row",
                       format_func=lambda i: f"dataset row {int(res.sample.indices[i])} · "
                                             f"{by_index[i]['prediction_before']} → "
                                             f"{by_index[i]['prediction_after']} · "
                                             f"{widgets.one_line(by_index[i]['adversarial'], 90)}")
    if e2.button("Explain in Saliency", icon=":material/highlight:", key="bl.adv-go.saliency",
                 help="Opens the adversarial text on the Saliency page: which tokens carry the flipped decision?"):
        r = by_index[row]
        widgets.open_in_saliency(state.FocusText(
            text=r["adversarial"], model_ref=model_ref.strip(), dataset=choice, text_pair=r.get("adversarial_pair"),
            index=None, label=r["label"] or None, prediction=r["prediction_after"],
            confidence=float(r["probability_after"]),
            source=f"Adversarial page ({res.attack} attack on dataset row {int(res.sample.indices[row])})"))
