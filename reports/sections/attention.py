"""``attention``: what the attention heads look at in a few texts (BertViz's head and model views, printed).

For each text (or text pair) the model's attention weights are read for every layer and head
(``core.analyses.transformer.attention_maps``): the token-to-token map of the chosen heads (rows = the attending token, columns =
the token attended to), an overview grid of every head's small map, and for a pair the cross-segment attention
(the share of attention each text's tokens pay to the other text, per layer and head). The heads are given as
``layer.head`` (``2.5``; ``3.mean`` = the layer's mean over heads) or taken from the head importance of the same
model (``top_heads``: the ``heads`` section's result when one comes earlier in the spec, else computed with that
section's defaults); without either, the last layer's mean is shown. The texts are given (``texts`` and optional
``pairs``), picked by ``rows`` of the dataset, or drawn from the held-out test split (``examples``).

Numbers for checks (``metrics``): ``texts`` and, for text pairs, ``first_to_second`` and ``second_to_first`` (the
cross-segment shares averaged over heads and pair texts); per text: ``n_tokens``, ``cross_mean`` and
``cross_baseline`` (the shares uniform attention would give).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.foundation.params import Params, param
from reports.sections.registry import figure, register
from reports.sections.shared import (HEADS_N, LATEST, dataset_facts, for_print, head_importance_once, model_facts,
                                     section_dataset, section_model, shorten)

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.attention_maps import AttentionMaps
    from core.models.loading import LoadedModel
    from reports.context import ReportContext

HEAD_SPEC = re.compile(r"^\s*(\d+)\s*[.:]\s*(\d+|mean)\s*$")
TOP_LINKS = 5  # strongest token-to-token links listed under each head map


def parse_heads(specs: Sequence[str], n_layers: int, n_heads: int) -> list[tuple[int, int | None]]:
    """``["2.5", "3.mean"]`` → [(2, 5), (3, None)]; raises ``AttentionMapError`` naming the bad item."""
    from core.analyses.transformer.attention_maps import AttentionMapError, check_layer_head

    out: list[tuple[int, int | None]] = []
    for s in specs:
        m = HEAD_SPEC.match(s)
        if not m:
            raise AttentionMapError(f"Head {s!r} is not of the form layer.head, e.g. 2.5 (layer 2, head 5) or "
                                    "3.mean (layer 3, mean over its heads).")
        layer, head = int(m.group(1)), None if m.group(2) == "mean" else int(m.group(2))
        check_layer_head(n_layers, n_heads, layer, head or 0)
        if (layer, head) not in out:
            out.append((layer, head))
    return out


@dataclass(frozen=True)
class AttentionSectionParams(Params):
    model: str | None = param(None, "the model whose attention is shown (default: the report's model; any encoder)",
                              type="str")
    texts: tuple[str, ...] = param((), "texts to show (default: texts of the dataset, see rows and examples)",
                                   type="str_list")
    pairs: tuple[str, ...] = param((), "second texts, one for each of texts, to show text pairs", type="str_list")
    dataset: str | None = param(None, "dataset reference the rows or examples come from (default: the report's "
                                "dataset)", type="str")
    rows: tuple[int, ...] | None = param(None, "positions of texts in the whole dataset (from 0), when texts is not "
                                         "given", type="int_list", minimum=0)
    examples: int = param(1, "texts drawn (report seed) from the held-out test split when the model was trained on "
                          "the dataset, else from all of it, when neither texts nor rows are given", minimum=1,
                          maximum=5)
    heads: tuple[str, ...] = param((), "heads to show large, as layer.head from 0 (e.g. 2.5) or layer.mean",
                                   type="str_list")
    top_heads: int = param(0, f"also show the most important heads of the model's head importance (the heads "
                           f"section's result when it comes earlier, else {HEADS_N} texts, attention attribution, 10 "
                           "steps)", minimum=0, maximum=6)
    max_tokens: int = param(40, "tokens shown on each map (the model reads the whole text)", minimum=4, maximum=48)
    grid: bool = param(True, "add the overview of every head's map for each text")


@register("attention", title="Attention maps", params=AttentionSectionParams)
def compute(ctx: "ReportContext", p: AttentionSectionParams) -> dict:
    """Token-to-token attention of chosen heads, every head at a glance, and cross-segment attention for pairs."""
    from core.analyses.transformer.attention_maps import attention_maps
    from core.foundation.errors import BackboneLensError

    texts, pairs = list(p.texts or ()), list(p.pairs or ())
    context: dict[str, Any] = {"model_ref": ctx.spec.model_ref(p.model), "seed": ctx.spec.seed,
                               "max_tokens": p.max_tokens, "source": "texts" if texts else "dataset"}
    try:
        model = section_model(ctx, p.model)
        context["model"] = model_facts(model)
        if pairs and len(pairs) != len(texts):
            return {"available": False, "reason": f"pairs has {len(pairs)} second text{'s' if len(pairs) != 1 else ''}"
                    f" for {len(texts)} text{'s' if len(texts) != 1 else ''}; give one second text for each text.",
                    **context}
        items: list[dict[str, Any]] = []
        if texts:
            items = [{"text": t, "text_pair": pairs[i] if pairs else None, "row": None, "label": None}
                     for i, t in enumerate(texts)]
        else:
            items, facts = _dataset_items(ctx, p, model)
            context.update(facts)
        maps = [attention_maps(model, it["text"], it["text_pair"], max_tokens=p.max_tokens) for it in items]
        L, H = maps[0].n_layers, maps[0].n_heads
        chosen = parse_heads(list(p.heads or ()), L, H)
        top_note = None
        if p.top_heads:
            ranked, top_note = _top_heads(ctx, model, p.top_heads)
            chosen += [lh for lh in ranked if lh not in chosen]
        if not chosen:
            chosen = [(L - 1, None)]
        if model.has_head:
            from core.models.embeddings import predict_proba

            probs = [predict_proba(model, [it["text"]], None if it["text_pair"] is None else [it["text_pair"]])[0]
                     for it in items]
            for it, pr in zip(items, probs):
                c = int(np.argmax(pr))
                it.update(prediction=model.label_names[c], probability=float(pr[c]))
    except BackboneLensError as e:  # empty text, bad head, a model without attention weights …: one sentence
        ctx.say("attention", 1.0, f"attention maps not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    context["top_note"] = top_note
    return attention_fragment(maps, items, chosen, grid=p.grid, context=context)


def _dataset_items(ctx: "ReportContext", p: AttentionSectionParams, model: "LoadedModel"
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The texts picked by ``rows`` (positions in the whole dataset) or drawn as ``examples``."""
    from core.analyses.transformer.attention_maps import AttentionMapError
    from core.models.heldout import heldout_sample

    ds_ref = p.dataset or ctx.spec.dataset.ref
    full = section_dataset(ctx, p.dataset)
    rows = list(p.rows or ())
    if rows:
        bad = [r for r in rows if r >= len(full)]
        if bad:
            raise AttentionMapError(f"Row {bad[0]} does not exist; the dataset has rows 0 … {len(full) - 1}.")
        picked, note = rows, f"rows {', '.join(map(str, rows))} of {full.name}"
        ds = full
        idx = rows
    else:
        sample = heldout_sample([model], full, p.examples, seed=ctx.spec.seed, classifiers_only=True)
        ds = sample.dataset
        idx = list(range(len(ds)))
        picked = [int(i) for i in sample.indices]
        note = (f"drawn at random (seed {ctx.spec.seed}) from the held-out test split of {full.name}"
                if sample.split == "test" else f"drawn at random (seed {ctx.spec.seed}) from {full.name}")
    names = ds.label_names
    items = [{"text": ds.texts[i], "text_pair": ds.text_pairs[i] if ds.text_pairs is not None else None, "row": r,
              "label": names[int(ds.labels[i])] if ds.labels is not None and 0 <= int(ds.labels[i]) < len(names)
              else None} for i, r in zip(idx, picked)]
    return items, {"texts_note": note, "dataset": dataset_facts(full, ds if not rows else full, ds_ref)}


def _top_heads(ctx: "ReportContext", model: "LoadedModel", k: int) -> tuple[list[tuple[int, int]], str]:
    """The ``k`` most important heads: from a heads section earlier in this build, else computed with its defaults."""
    from core.analyses.transformer.head_importance import HeadImportanceParams
    from core.models.heldout import heldout_sample

    res = ctx._memo.get(LATEST + model.fingerprint)
    if res is not None:
        return res.ranking()[:k], (f"the {k} most important by {res.method} head importance on {res.n:,} texts, "
                                   "from the head-importance section")
    sample = heldout_sample([model], ctx.full_dataset, HEADS_N, seed=ctx.spec.seed, classifiers_only=True)
    res = head_importance_once(ctx, model, sample, HeadImportanceParams(compare=False, prune=False))
    return res.ranking()[:k], f"the {k} most important by attention attribution on {res.n:,} texts"


# ----------------------------------------------------------------------------- the fragment (pure)


def top_links(A: np.ndarray, tokens: Sequence[str], special: np.ndarray, k: int = TOP_LINKS) -> list[dict[str, Any]]:
    """The ``k`` strongest query → key weights of a map between two different tokens that are not special."""
    A = np.asarray(A, float).copy()
    sp = np.asarray(special, bool)
    A[sp, :] = -1
    A[:, sp] = -1
    np.fill_diagonal(A, -1)
    order = np.argsort(-A.ravel(), kind="stable")[:k]
    out = []
    for i in order:
        q, key = divmod(int(i), A.shape[1])
        if A[q, key] <= 0:
            break
        out.append({"query": tokens[q], "key": tokens[key], "q": q, "k": key, "weight": float(A[q, key])})
    return out


def attention_fragment(maps: Sequence["AttentionMaps"], items: Sequence[dict[str, Any]],
                       heads: Sequence[tuple[int, int | None]], *, grid: bool = True,
                       context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from computed attention maps (pure; no model). ``items[i]`` describes text i: text,
    text_pair, row, label and, when known, prediction and probability."""
    from figures.attention import attention_grid_chart, attention_map_chart, cross_segment_chart

    ctx = {"model_ref": maps[0].model_ref if maps else None, "model": None, "dataset": None, "texts_note": None,
           "top_note": None, "seed": 0, "max_tokens": None, "source": "texts", **(context or {})}
    out_texts = []
    for i, (r, it) in enumerate(zip(maps, items), start=1):
        T = r.shown
        cell = int(max(8, min(13, 440 // max(T, 1))))  # fits the printed column unscaled, two maps a page
        shown_maps = []
        for layer, head in heads:
            A = r.mean_heads(layer) if head is None else r.head(layer, head)
            what = f"layer {layer}, mean of the heads" if head is None else f"layer {layer}, head {head}"
            shown_maps.append({
                "layer": layer, "head": head, "what": what,
                "links": top_links(A, r.tokens, r.special),
                "figure": figure(for_print(attention_map_chart(r, layer, head, cell=cell, legend="swatches")),
                                 caption=(f"Text {i}, {what}: each row is a token attending, its cells the share of "
                                          "its attention on each token (white = none, dark blue = the largest weight "
                                          "on this map, at least 0.25; a row of the whole map sums to 1)."
                                          + (f" Only the first {T} of {r.n_tokens} tokens are shown." if r.cropped
                                             else "")
                                          + (" Vermillion lines: where the second text starts." if r.cross is not None
                                             else "")),
                                 alt=f"Heat map of the attention of {what} between the first {T} tokens of text {i}")})
        fig_grid = None
        if grid:
            fig_grid = figure(for_print(attention_grid_chart(r, cell=max(24, min(40, 480 // max(r.n_heads, 1))),
                                                             title=f"Text {i}: every head's attention")),
                              caption=(f"All {r.n_layers * r.n_heads} heads ({r.n_layers} layers × {r.n_heads} heads, "
                                       "from 0) on text " + str(i) + ", one small map each, on one scale from 0 "
                                       "(white) to 1 (dark blue). A pale map spreads its attention; a dark column is a "
                                       "token that the head attends to from everywhere (often [CLS] or [SEP]); a "
                                       "diagonal line is a head that looks at the token itself or its neighbour."),
                              alt=f"Grid of {r.n_layers * r.n_heads} small attention maps of text {i}")
        entry: dict[str, Any] = {
            "number": i, "text": shorten(r.text, 600), "text_pair": None if r.text_pair is None else shorten(
                r.text_pair, 400), "row": it.get("row"), "label": it.get("label"),
            "prediction": it.get("prediction"), "probability": it.get("probability"),
            "tokens": list(r.tokens), "n_tokens": r.n_tokens, "shown": r.shown, "cropped": r.cropped,
            "truncated_input": r.truncated_input, "notes": list(r.notes), "maps": shown_maps, "figure_grid": fig_grid,
            "cross": None, "cross_mean": None, "cross_baseline": None, "cross_layers": None, "figure_cross": None}
        if r.cross is not None:
            n_first = None if r.cropped else int((r.segments == 0).sum())
            entry.update(
                cross={"first_to_second": np.round(r.cross[..., 0], 4).tolist(),
                       "second_to_first": np.round(r.cross[..., 1], 4).tolist()},
                cross_mean={"first_to_second": float(r.cross[..., 0].mean()),
                            "second_to_first": float(r.cross[..., 1].mean())},
                cross_baseline=None if n_first is None else {
                    "first_to_second": (r.n_tokens - n_first) / r.n_tokens, "second_to_first": n_first / r.n_tokens},
                cross_layers=[{"layer": layer, "first_to_second": float(r.cross[layer, :, 0].mean()),
                               "second_to_first": float(r.cross[layer, :, 1].mean()),
                               "max_first_to_second": float(r.cross[layer, :, 0].max()),
                               "max_head_first_to_second": int(r.cross[layer, :, 0].argmax()),
                               "max_second_to_first": float(r.cross[layer, :, 1].max()),
                               "max_head_second_to_first": int(r.cross[layer, :, 1].argmax())}
                              for layer in range(r.n_layers)],
                figure_cross=figure(for_print(cross_segment_chart(r, vertical=True, legend="swatches")),
                                    caption=(f"Text {i}: for every layer and head, the mean share of a token's "
                                             "attention that goes to the other text (all tokens read, not only those "
                                             "shown). [CLS] and the first [SEP] count as the first text, so the "
                                             "second text's attention to [CLS] counts as attention to the first."),
                                    alt=f"Two heat maps of cross-segment attention per layer and head, text {i}"))
        out_texts.append(entry)
    pairs = [t["cross_mean"] for t in out_texts if t["cross_mean"] is not None]
    metrics: dict[str, Any] = {"texts": len(out_texts)}
    if pairs:
        metrics |= {d: float(np.mean([c[d] for c in pairs])) for d in ("first_to_second", "second_to_first")}
    return {"available": True, "reason": None, **ctx, "heads": [{"layer": l, "head": h} for l, h in heads],
            "n_layers": maps[0].n_layers if maps else None, "n_heads": maps[0].n_heads if maps else None,
            "texts": out_texts, "metrics": metrics}
