"""``saliency_examples``: a few texts explained by several saliency methods, side by side.

The texts are either given in the spec or picked automatically from a sample of the dataset
(its held-out test split when the model was trained on it): the most confident correct
prediction, the most confident wrong one and the most uncertain one. Each example shows the
highlighted text of every method (``figures.saliency.saliency_comparison_html``, checked and
re-serialised by the report's ``highlight`` filter) and the words each method ranks first."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.analyses.saliency_params import EXPLAIN_METHODS, GRADCAM, method_names
from core.foundation.params import Params, param
from reports.sections.registry import register
from reports.sections.shared import sample_facts


if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.saliency import SaliencyResult
    from core.models.loading import LoadedModel
    from reports.context import ReportContext


KINDS = {"correct": "Confident and correct", "wrong": "Confident but wrong", "uncertain": "Most uncertain"}


KIND_HELP = {"correct": "the correct prediction with the highest probability",
             "wrong": "the wrong prediction with the highest probability",
             "uncertain": "the prediction with the lowest probability of its predicted class",
             "given": "a text given in the report specification"}


TOP_WORDS = 3


def method_info(model: "LoadedModel", name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Title, description and the parameters used, for the report's method table."""
    from core.analyses.saliency import get_method

    m = get_method(name)
    title = m.title
    if "layer" in params and params["layer"] is not None:
        title = f"{title}, layer {params['layer']}"
    return {"name": name, "title": title, "method_title": m.title, "signed": m.signed,
            "description": m.description.replace("`", ""), "cost": m.cost.replace("`", ""), "params": dict(params),
            "needs_mlm_head": m.needs_mlm_head}


def pick_examples(probs: np.ndarray, labels: np.ndarray, kinds: Sequence[str], per_kind: int = 1
                  ) -> tuple[list[tuple[str, int]], list[str]]:
    """[(kind, row)] for each kind in ``kinds`` (no row twice) and a note for each kind with too few rows.

    probs: (n, C) predicted probabilities; labels: (n,) true class ids of the model (−1 = unknown).
    correct / wrong: labelled rows whose argmax does / does not match, most confident first;
    uncertain: all rows, lowest top probability first. Ties keep dataset order.
    """
    pred, top = probs.argmax(1), probs.max(1)
    known = labels >= 0
    pools = {"correct": np.flatnonzero(known & (pred == labels)), "wrong": np.flatnonzero(known & (pred != labels)),
             "uncertain": np.arange(len(probs))}
    taken: set[int] = set()
    out: list[tuple[str, int]] = []
    notes: list[str] = []
    n, n_known = len(probs), int(known.sum())
    for kind in kinds:
        rows = pools[kind]
        order = rows[np.argsort(top[rows] if kind == "uncertain" else -top[rows], kind="stable")]
        got = [int(i) for i in order if int(i) not in taken][:per_kind]
        taken.update(got)
        out.extend((kind, i) for i in got)
        if len(got) < per_kind:
            if kind in ("correct", "wrong") and not n_known:
                notes.append(f"No {KINDS[kind].lower()} example: the texts have no true labels the model knows.")
            elif kind == "wrong" and not got and not len(rows):
                notes.append(f"No wrong prediction among the {n:,} texts examined, so there is no "
                             "“confident but wrong” example.")
            else:
                notes.append(f"Only {len(got)} of {per_kind} {KINDS[kind].lower()} examples could be picked "
                             f"from the {n:,} texts.")
    return out, notes


def top_words(result: "SaliencyResult", k: int = TOP_WORDS) -> list[str]:
    """The ``k`` words with the highest score (evidence *for* the explained class on signed methods);
    punctuation and symbols on their own are left out."""
    from core.analyses.saliency import merge_words

    w = merge_words(result)
    wordlike = np.array([any(ch.isalnum() for ch in x) for x in w.words], dtype=bool)
    ok = np.isfinite(w.scores) & (w.scores > 0) & wordlike
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(-w.scores[idx], kind="stable")][:k]
    return [w.words[i].strip() for i in idx]


@dataclass(frozen=True)
class SaliencyExamplesParams(Params):
    """The ``saliency_examples`` section: which methods, on which texts."""

    methods: tuple[str, ...] = param(EXPLAIN_METHODS, "saliency methods compared on every example, in this order",
                                     vocabulary=method_names, item="saliency method", nonempty=True)
    layer: int | None = param(None, "hidden layer of the Grad-CAM methods (0 = the embeddings); default: two "
                              "thirds of the depth", type="int", minimum=0)
    texts: tuple[str, ...] = param((), "texts to explain instead of picking examples from the dataset",
                                   type="str_list")
    kinds: tuple[str, ...] = param(tuple(KINDS), "which examples to pick: correct (most confident correct), wrong "
                                   "(most confident wrong), uncertain (lowest top probability)", type="str_list",
                                   choices=tuple(KINDS), item="example kind", nonempty=True)
    per_kind: int = param(1, "examples of each kind", minimum=1, maximum=5)
    n: int = param(200, "texts classified to pick the examples from: a random sample (report seed) of the "
                   "held-out test split when the model was trained on the dataset, else of the whole dataset",
                   minimum=1)
    ig_steps: int = param(50, "integration steps of Integrated Gradients", minimum=1, maximum=1000)


@register("saliency_examples", title="Saliency examples", params=SaliencyExamplesParams)
def compute(ctx: "ReportContext", p: SaliencyExamplesParams) -> dict:
    """Texts highlighted by several saliency methods side by side: confident, wrong and uncertain predictions."""
    from core.analyses.projection.run import model_labels
    from core.analyses.saliency import SaliencyError, default_layer, get_method
    from core.foundation.errors import BackboneLensError
    from core.models.embeddings import extract_embeddings
    from core.models.heldout import heldout_sample

    model = ctx.model
    methods, given = list(p.methods), list(p.texts)
    base: dict[str, Any] = {"source": "texts" if given else "dataset", "split": None, "split_note": None,
                            "n": len(given), "n_pool": None, "seed": ctx.spec.seed, "trained_on_dataset": False,
                            "per_kind": p.per_kind, "kinds": list(p.kinds)}
    try:
        model.require_head()
        layer = default_layer(model) if p.layer is None else p.layer
        base.update(layer=layer, layer_is_default=p.layer is None, num_layers=model.num_layers)
        if given:
            texts, pairs, true = given, None, [None] * len(given)
            picks = [("given", i) for i in range(len(given))]
            notes: list[str] = []
            idx_info: list[int | None] = [None] * len(given)
        else:
            sample = heldout_sample(model, ctx.full_dataset, p.n, seed=ctx.spec.seed)
            base.update(sample_facts(sample))
            ds = sample.dataset
            ctx.say("saliency_examples", 0.05, f"classifying {len(ds):,} texts to pick examples")
            emb = extract_embeddings(model, ds)
            assert emb.probs is not None
            labels, label_note = model_labels(model, ds)
            picks, notes = pick_examples(np.asarray(emb.probs), labels, base["kinds"], base["per_kind"])
            if label_note:
                notes.insert(0, label_note)
            rows = [i for _, i in picks]
            texts = [ds.texts[i] for i in rows]
            pairs = [ds.text_pairs[i] for i in rows] if ds.text_pairs is not None else None
            true = [model.label_names[labels[i]] if labels[i] >= 0 else None for i in rows]
            idx_info = rows
        if not picks:
            return {"available": False, "reason": "No example could be picked. " + " ".join(notes), **base}
        results: dict[str, list["SaliencyResult"]] = {}
        infos, skipped = [], []
        for j, name in enumerate(methods):
            spec = get_method(name)
            mp: dict[str, Any] = {}
            if spec.param("layer") is not None:
                mp["layer"] = layer
            if name == "integrated_gradients":
                mp["steps"] = p.ig_steps
            ctx.say("saliency_examples", 0.1 + 0.85 * j / len(methods),
                    f"{spec.title} on {len(texts)} text{'s' if len(texts) != 1 else ''}")
            try:
                results[name] = spec(model, texts, pairs, **mp)
            except SaliencyError as e:
                skipped.append({"name": name, "title": spec.title, "reason": str(e)})
                continue
            infos.append(method_info(model, name, results[name][0].params))
        if not results:
            return {"available": False, "reason": "No saliency method could be computed: "
                    + " ".join(f"{s['title']}: {s['reason']}" for s in skipped), **base, "skipped": skipped}
    except BackboneLensError as e:  # no head, empty text, bad layer …: one sentence in the report
        ctx.say("saliency_examples", 1.0, f"saliency examples not computed: {e}")
        return {"available": False, "reason": str(e), **base}
    per_text = [[results[m["name"]][i] for m in infos] for i in range(len(picks))]
    return saliency_examples_fragment(per_text, infos, kinds=[k for k, _ in picks], true_labels=true,
                                      rows=idx_info, notes=notes, skipped=skipped, context=base)


def saliency_examples_fragment(per_text: Sequence[Sequence["SaliencyResult"]], methods: Sequence[dict[str, Any]], *,
                               kinds: Sequence[str], true_labels: Sequence[str | None],
                               rows: Sequence[int | None] | None = None, notes: Sequence[str] = (),
                               skipped: Sequence[dict[str, str]] = (), context: dict[str, Any] | None = None
                               ) -> dict[str, Any]:
    """The snapshot fragment from already-computed saliency results (pure; no model needed).

    per_text[i][j]: the result of method ``methods[j]`` (see :func:`method_info`) on example i.
    """
    from figures.saliency import saliency_comparison_html

    titles = [m["title"] for m in methods]
    examples = []
    counts: dict[str, int] = {}
    for i, (kind, res) in enumerate(zip(kinds, per_text)):
        r0 = res[0]
        counts[kind] = counts.get(kind, 0) + 1
        true = true_labels[i]
        examples.append({
            "kind": kind, "kind_title": KINDS.get(kind, "Given text"), "kind_help": KIND_HELP.get(kind, ""),
            "number": counts[kind], "row": None if rows is None else rows[i],
            "true_label": true, "predicted_label": r0.predicted_label, "probability": r0.probability,
            "correct": None if true is None else true == r0.predicted_label,
            "explained_label": r0.target_label, "truncated": r0.truncated,
            "words": len(r0.text.split()) + (len(r0.text_pair.split()) if r0.text_pair else 0),
            "html": saliency_comparison_html(list(res), titles=titles),
            "top_words": [{"method": m["name"], "title": m["title"], "words": top_words(r)}
                          for m, r in zip(methods, res)],
            "extras": [{"method": m["name"], **{k: v for k, v in r.extras.items()
                                                if isinstance(v, (int, float, str, bool))}}
                       for m, r in zip(methods, res) if r.extras],
        })
    for ex in examples:
        ex["of"] = counts[ex["kind"]]
    ctx = {"source": "dataset", "split": None, "split_note": None, "n": len(examples), "n_pool": None, "seed": 0,
           "trained_on_dataset": False, "layer": None, "layer_is_default": True, "num_layers": None,
           **(context or {})}
    out: dict[str, Any] = {"available": True, "reason": None, **ctx, "methods": list(methods),
                           "skipped": list(skipped), "examples": examples, "notes": list(notes),
                           "signed_any": any(m["signed"] for m in methods),
                           "uses_gradcam": any(m["name"] in GRADCAM for m in methods)}
    out["findings"] = _findings(out)
    return out


def _findings(d: dict[str, Any]) -> list[str]:
    out = []
    ex, methods = d["examples"], d["methods"]
    if len(methods) > 1 and ex:
        agree = 0
        for e in ex:
            firsts = {(t["words"][0].lower() if t["words"] else None) for t in e["top_words"]}
            agree += len(firsts) == 1 and None not in firsts
        who = "Both methods" if len(methods) == 2 else f"All {len(methods)} methods"
        out.append(f"{who} rank the same word first in {agree} of the {len(ex)} examples"
                   + ("." if agree else "; the word each method ranks first differs in every example."))
    wrong = [e for e in ex if e["correct"] is False]
    for e in wrong:
        out.append(f"{e['kind_title']} example: the model predicts {e['predicted_label']} "
                   f"({e['probability']:.0%}) for a text labelled {e['true_label']}; the highlighted words are the "
                   f"evidence the methods credit for {e['predicted_label']}.")
    if any(e["truncated"] for e in ex):
        out.append("At least one example is longer than the model's input and was cut; only the part the model "
                   "read carries scores.")
    return out
