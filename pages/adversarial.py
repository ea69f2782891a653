"""Adversarial: small edits that flip the classifier, and whether the DeepView map gives the edited texts away."""
import pandas as pd
import streamlit as st

from core.analyses.adversarial.attacks import ATTACK_KINDS, AttackError, AttackParams, attack_minutes
from core.analyses.adversarial.detection import SCORES, flagged_rows
from core.analyses.saliency import METHODS
from figures.adversarial import adversarial_diffs_html, adversarial_projection_chart, detection_chart
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors, user_message

N_DEFAULT = 40
Col = st.column_config

st.title("Adversarial")
st.caption("How easily do small edits flip the classifier, and does the DeepView map give the edited texts away? "
           "The attack edits the words the decision rests on most — replacing them with words the masked-LM head "
           "proposes, or swapping, deleting or disguising letters — until the prediction flips, within a budget of "
           "changed words and while the text keeps its meaning (sentence-embedding similarity). The flipped texts "
           "are then projected together with the clean ones: suspicion scores that rank them first would detect "
           "them.")

widgets.keep_widgets("bl.w.adv.")
model_ref, choice, model = widgets.classifier_selection(
    "An attack tries to flip a classifier's prediction, so it needs one.")
titles = METHODS.titles()
for key, value in {"n": N_DEFAULT, **{k: v for k, v in AttackParams().to_dict().items()
                                      if k in ("attack", "max_change", "min_similarity", "importance")}}.items():
    st.session_state.setdefault(f"bl.w.adv.{key}", value)
if st.session_state["bl.w.adv.importance"] not in titles:
    st.session_state["bl.w.adv.importance"] = AttackParams.importance

c1, c2, c3 = st.columns([1, 2, 2], gap="medium")
n = int(c1.number_input("Texts", min_value=4, max_value=1000, step=10, key="bl.w.adv.n",
                        help="Drawn by the Workspace seed, from the held-out test split when the model was trained "
                             "on this dataset. Texts the model already gets wrong are not attacked."))
kind = c2.radio("Attack", ATTACK_KINDS.names(), key="bl.w.adv.attack", format_func=ATTACK_KINDS.title,
                horizontal=True, help="word: the masked-LM head reads the sentence once and proposes 30 substitutes "
                "per word. char: swap two inner letters, delete one, or replace a letter by a look-alike from another "
                "script (Latin a → Cyrillic а).")
importance = c3.selectbox("Word order from", list(titles), key="bl.w.adv.importance", format_func=titles.get,
                          help="The saliency method that decides which words are attacked first (occlusion, as in "
                               "BERT-Attack: the drop in the class's probability when a word is masked).")
c4, c5 = st.columns(2, gap="large")
max_change = c4.slider("Largest share of words changed", 0.05, 1.0, step=0.05, key="bl.w.adv.max_change",
                       help="The attack gives up on a text once this share of its words has been edited.")
min_sim = c5.slider("Least similarity to the original", 0.0, 0.95, step=0.05, key="bl.w.adv.min_similarity",
                    help="Cosine similarity of the all-MiniLM-L6-v2 sentence embeddings of the original and the "
                         "edited text; edits below it are refused. 0 turns the check off.")
params = AttackParams(attack=kind, importance=importance, max_change=round(float(max_change), 2),
                      min_similarity=round(float(min_sim), 2), seed=choice.seed)

with user_errors():
    head_ok = kind != "word" or cached.mlm_head_ready(model_ref)
if not head_ok:
    st.error(f"The word attack asks a masked-LM head for substitute words, and `{model.ref}` has none: choose the "
             "character attack, or fit a decoding head for this encoder on the Saliency page (about "
             f"{cached.MLM_FIT_SECONDS} s, kept for next time).", icon=":material/error:")
    st.page_link("pages/saliency.py", label="Fit a decoding head on the Saliency page", icon=":material/highlight:")
    st.stop()

with user_errors():
    examples = cached.example_texts(model_ref, choice, n)  # the texts the attack will take (same sample)
tokens, low, high = attack_minutes(examples.texts, model.max_length, n)
message = (f"Attacks {n:,} texts of about {tokens:.0f} tokens each: roughly {low}–{high} min on a 2-core CPU "
           "(about 1 s per tweet on an idle machine, tens of seconds per long news article: every candidate edit is "
           "one pass through the model; much faster on a GPU). Then the clean and adversarial texts are projected "
           "together (seconds). Results are cached, so a repeat is instant.")
if not widgets.confirm_gate(("attack", model_ref, choice, n, params), message, "Run the attack",
                            widget_key="bl.w.adv-go.run"):
    st.stop()

with user_errors():
    res = cached.attack(model_ref, choice, n, params)
s = res.summary()
report_draft.add_button("adversarial", {"model": model_ref, "dataset": choice.ref, "n": n, "attack": params.attack,
                                        "importance": params.importance, "max_change": params.max_change,
                                        "min_similarity": params.min_similarity},
                        page="Adversarial", key="adversarial.attack")

# ------------------------------------------------------------------------------ summary
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

# ------------------------------------------------------------------------------ detection
st.subheader("Can the map spot them?")
det = None
with user_errors(stop=False):
    try:
        det = cached.detection(model_ref, choice, n, params)
    except AttackError as e:  # too few adversarial texts: a result, not a mistake
        st.info(f"{user_message(e)} Try more texts, a larger share of changed words or a lower similarity floor.",
                icon=":material/info:")
if det is not None:
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    widgets.show_chart(adversarial_projection_chart(det, width=420, height=380), container=left)
    best = max(det.auroc, key=det.auroc.get)
    pale = det.in_pale_region
    right.markdown(f"**Reading:** the best detector here is {SCORES.title(best).lower()} (AUROC "
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

# ------------------------------------------------------------------------------ texts
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
if rows:
    frame = pd.DataFrame(rows)
    for col in [c for c in frame if c.endswith(("_adversarial", "_original"))]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")  # '' (no adversarial text) → empty cell
    cols = ["index", "status", "diff", "label", "prediction_before", "probability_before", "prediction_after",
            "probability_after", "words_changed", "similarity", "queries",
            *[f"{k}_adversarial" for k in SCORES if f"{k}_adversarial" in frame]]
    pct = lambda label: Col.NumberColumn(label, format="%.0f%%", width="small")  # noqa: E731
    visible = frame[cols].copy()
    visible[["probability_before", "probability_after"]] *= 100
    st.dataframe(visible, hide_index=True, column_config={
        "index": Col.NumberColumn("Row", width="small", help="Position in the attacked sample"),
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
    d2.download_button("Download all rows (CSV)", frame.to_csv(index=False).encode("utf-8"),
                       icon=":material/download:",
                       file_name=f"adversarial-{res.attack}-{model.ref.replace(':', '-').replace('/', '-')}.csv",
                       mime="text/csv", key="bl.adv-go.csv")

    flipped = [r for r in rows if r["status"] == "success"]
    if flipped:
        by_index = {r["index"]: r for r in flipped}
        if st.session_state.get("bl.adv.focus_row") not in by_index:
            st.session_state["bl.adv.focus_row"] = flipped[0]["index"]
        e1, e2 = st.columns([4, 1], vertical_alignment="bottom")
        row = e1.selectbox("Adversarial text to explain", list(by_index), key="bl.adv.focus_row",
                           format_func=lambda i: f"row {i} · {by_index[i]['prediction_before']} → "
                                                 f"{by_index[i]['prediction_after']} · "
                                                 f"{widgets.one_line(by_index[i]['adversarial'], 90)}")
        if e2.button("Explain in Saliency", icon=":material/highlight:", key="bl.adv-go.saliency",
                     help="Opens the adversarial text on the Saliency page: which tokens carry the flipped "
                          "decision?"):
            r = by_index[row]
            widgets.open_in_saliency(state.FocusText(
                text=r["adversarial"], model_ref=model_ref.strip(), dataset=choice,
                text_pair=r.get("adversarial_pair"), index=None, label=r["label"] or None,
                prediction=r["prediction_after"], confidence=float(r["probability_after"]),
                source=f"Adversarial page ({res.attack} attack, row {row})"))
