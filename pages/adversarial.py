"""Adversarial: small edits that flip the classifier, and whether the DeepView map gives the edited texts away."""
import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.adversarial.attacks import AttackError
from core.analyses.adversarial.detection import flagged_rows
from figures.adversarial import adversarial_diffs_html, adversarial_projection_chart, detection_chart
from core.analyses.saliency import get_method, method_names
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors, user_message

N_DEFAULT = 40
ATTACKS = {"word": "Word substitution (BERT-Attack)", "char": "Character edits (DeepWordBug + look-alikes)"}
SECONDS_PER_TOKEN2 = 0.0016  # 2-core CPU, nothing else running: median 0.95 s per attacked tweet (~25 tokens;
# benchmarks/attack_throughput.py); cost grows about with tokens² (one query per token × candidates per word)
SCORES = {"entropy": "Classifier entropy", "background_uncertainty": "Background uncertainty",
          "neighbour_disagreement": "Neighbour disagreement"}

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
titles = {m: get_method(m).title for m in method_names()}
st.session_state.setdefault("bl.w.adv.n", N_DEFAULT)
st.session_state.setdefault("bl.w.adv.attack", "word")
st.session_state.setdefault("bl.w.adv.max_change", 0.4)
st.session_state.setdefault("bl.w.adv.min_similarity", 0.7)
st.session_state.setdefault("bl.w.adv.importance", "occlusion")
if st.session_state["bl.w.adv.importance"] not in titles:
    st.session_state["bl.w.adv.importance"] = "occlusion"

c1, c2, c3 = st.columns([1, 2, 2], gap="medium")
n = int(c1.number_input("Texts", min_value=4, max_value=1000, step=10, key="bl.w.adv.n",
                        help="Drawn by the Workspace seed, from the held-out test split when the model was trained "
                             "on this dataset. Texts the model already gets wrong are not attacked."))
kind = c2.radio("Attack", list(ATTACKS), key="bl.w.adv.attack", format_func=ATTACKS.get, horizontal=True,
                help="word: the masked-LM head reads the sentence once and proposes 30 substitutes per word. "
                     "char: swap two inner letters, delete one, or replace a letter by a look-alike from another "
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
settings = cached.AttackSettings(attack=kind, importance=importance, max_change=round(float(max_change), 2),
                                 min_similarity=round(float(min_sim), 2))

with user_errors():
    head_ok = kind != "word" or cached.mlm_head_ready(model_ref)
if not head_ok:
    st.error(f"The word attack asks a masked-LM head for substitute words, and `{model.ref}` has none: choose the "
             "character attack, or fit a decoding head for this encoder on the Saliency page (about "
             f"{cached.MLM_FIT_SECONDS} s, kept for next time).", icon=":material/error:")
    st.page_link("pages/saliency.py", label="Fit a decoding head on the Saliency page", icon=":material/highlight:")
    st.stop()

with user_errors():
    sample = cached.example_texts(model_ref, choice, n)  # the texts the attack will take (same sample)
tokens = min(model.max_length, 1.3 * float(np.mean([len(t.split()) for t in sample.texts]) if sample.texts else 0))
low, high = (max(1, round(n * SECONDS_PER_TOKEN2 * tokens ** 2 * f / 60)) for f in (0.5, 3.0))
message = (f"Attacks {n:,} texts of about {tokens:.0f} tokens each: roughly {low}–{high} min on a 2-core CPU "
           "(about 1 s per tweet on an idle machine, tens of seconds per long news article: every candidate edit is "
           "one pass through the model; much faster on a GPU). Then the clean and adversarial texts are projected together (seconds). "
           "Results are cached, so a repeat is instant.")
if not widgets.confirm_gate(("attack", model_ref, choice, n, settings), message, "Run the attack",
                            widget_key="bl.w.adv-go.run"):
    st.stop()

with user_errors():
    av = cached.attack(model_ref, choice, n, settings)
res = av.result
s = res.summary()
report_draft.add_button("adversarial", {"model": model_ref, "dataset": choice.ref, "n": n, "attack": settings.attack,
                                        "importance": settings.importance, "max_change": settings.max_change,
                                        "min_similarity": settings.min_similarity},
                        page="Adversarial", key="adversarial.attack")

# ------------------------------------------------------------------------------ summary
st.subheader("How the attack went")
m = st.columns(4)
m[0].metric("Success rate", f"{res.success_rate:.0%}", border=True,
            help=f"{s['successes']} of the {s['attacked']} attacked texts flipped ({s['skipped_misclassified']} "
                 "already misclassified texts were not attacked).")
m[1].metric("Words changed per success", f"{res.mean_words_changed:.1f}" if res.successes else "–", border=True,
            help=f"Mean over the successful attacks: {res.mean_share_changed:.0%} of a text's words.")
q = res.queries_per_success
m[2].metric("Queries per success", "–" if q is None else f"{q:,.0f}", border=True,
            help="Texts passed through the model (word ranking included), failed attacks counted too, divided by "
                 "the successes. Fewer = an easier target.")
m[3].metric("Texts per minute", "–" if not s["sentences_per_minute"] else f"{s['sentences_per_minute']:.1f}",
            border=True, help="Speed of the attack on this machine (when it was computed).")
info = [f"{res.attack} attack on {av.n:,} texts {av.note}", f"{s['skipped_misclassified']} already misclassified",
        f"{s['no_candidates']} without an editable word or candidate", f"{res.seconds:.0f} s"
        + (" (from the disk cache)" if av.cache_hit else "")]
if s["mean_similarity"] is not None:
    info.insert(1, f"mean similarity of the flipped texts {s['mean_similarity']:.2f}")
st.caption("**How it was computed:** " + " · ".join(info) + ".")
if av.label_note:
    st.caption(av.label_note)

# ------------------------------------------------------------------------------ detection
st.subheader("Can the map spot them?")
det = None
with user_errors(stop=False):
    try:
        det = cached.detection(model_ref, choice, n, settings)
    except AttackError as e:  # too few adversarial texts: a result, not a mistake
        st.info(f"{user_message(e)} Try more texts, a larger share of changed words or a lower similarity floor.",
                icon=":material/info:")
if det is not None:
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    widgets.show_chart(adversarial_projection_chart(det, width=420, height=380), container=left)
    best = max(det.auroc, key=det.auroc.get)
    pale = det.in_pale_region
    right.markdown(f"**Reading:** the best detector here is {SCORES.get(best, best).lower()} (AUROC "
                   f"{det.auroc[best]:.2f}; 0.5 = chance, 1 = every adversarial text ranked above every clean one). "
                   f"{pale['adversarial']:.0%} of the adversarial texts but {pale['clean']:.0%} of the clean ones lie "
                   "where the background is paler than under 90 % of the clean texts: the more adversarial texts "
                   "sit in pale regions, the better the map shows that they lie near a decision boundary.")
    right.caption(f"Projection of {len(det.is_adversarial):,} texts (clean originals of every attacked text and "
                  f"the successful adversarial versions) at λ = {det.run.lam:g}.")
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
    widgets.show_chart(detection_chart(det, width=260, height=100), container=left)
    right.dataframe(pd.DataFrame([{"score": SCORES.get(k, k), "auroc": det.auroc[k], "p_at_k": det.precision_at_k[k]}
                                  for k in SCORES if k in det.auroc]), hide_index=True, column_config={
        "score": st.column_config.TextColumn("Suspicion score", width="medium"),
        "auroc": st.column_config.NumberColumn("AUROC", format="%.2f", width="small"),
        "p_at_k": st.column_config.NumberColumn(f"Prec.@{det.k}", format="%.2f", width="small",
                                                help=f"Share of adversarial texts among the {det.k} most suspicious "
                                                     f"(base rate {det.base_rate:.2f})")})
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
            *[f"{s}_adversarial" for s in SCORES if f"{s}_adversarial" in frame]]
    pct = lambda label: st.column_config.NumberColumn(label, format="%.0f%%", width="small")  # noqa: E731
    visible = frame[cols].copy()
    visible[["probability_before", "probability_after"]] *= 100
    st.dataframe(visible, hide_index=True, column_config={
        "index": st.column_config.NumberColumn("Row", width="small", help="Position in the attacked sample"),
        "status": st.column_config.TextColumn("Outcome", width="small",
                                              help="success: flipped; failed: held within the limits; "
                                                   "no_candidates: nothing could be edited"),
        "diff": st.column_config.TextColumn("Text, edited ([-removed-] {+inserted+})", width="large"),
        "label": st.column_config.TextColumn("True label", width="small"),
        "prediction_before": st.column_config.TextColumn("Before", width="small"),
        "probability_before": pct("Conf. before"),
        "prediction_after": st.column_config.TextColumn("After", width="small"),
        "probability_after": pct("Conf. after"),
        "words_changed": st.column_config.NumberColumn("Words changed", width="small"),
        "similarity": st.column_config.NumberColumn("Similarity", format="%.2f", width="small"),
        "queries": st.column_config.NumberColumn("Queries", width="small"),
        **{f"{k}_adversarial": st.column_config.NumberColumn(v, format="%.2f", width="small",
                                                             help="Suspicion score of the adversarial text "
                                                                  "(higher = more suspicious)")
           for k, v in SCORES.items()}})
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
