"""``layers``: where in depth do the classes separate? Per-layer separability of one or more models on the same texts.

Every layer l = 0 (the embedding layer's output) … L of each model gives each text a pooled hidden state;
``core.analyses.transformer.layers.run_layers`` scores each layer by the leave-one-out k-NN accuracy of the true labels (cosine)
against chance (the majority label's share) and by the cosine silhouette of the true labels. The separation
layer is the first layer that gains 90% of the rise from chance to the best layer. Optionally the first
model's states at a few layers are drawn as 2-D maps (PCA, t-SNE or UMAP). The section names its models
itself (``models``; default the report's model), e.g. a pre-trained and a fine-tuned model of the same data.

Figures for pass/fail checks (``metrics``, e.g. ``layers.separation_layer <= 4``): the first model's
``separation_layer``, ``knn_accuracy_first``, ``knn_accuracy_last``, ``knn_accuracy_best``, ``best_layer``,
``silhouette_first``, ``silhouette_last``, ``chance``, ``num_layers``, and the same for every model under
``model_1``, ``model_2`` … (``layers.model_2.knn_accuracy_last > layers.model_1.knn_accuracy_last``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.analyses.transformer.layers import MAP_METHODS, LayersParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import dataset_facts, for_print, model_facts, section_dataset, section_model

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.layers import LayerSeparability
    from reports.context import ReportContext


@dataclass(frozen=True)
class LayersSectionParams(Params):
    models: tuple[str, ...] | None = param(
        None, "the models whose layers are scored: one or more model references, e.g. [demo:bbc-pretrained, "
        "demo:bbc-finetuned] (default: the report's model)", type="str_list", item="model reference")
    dataset: str | None = param(None, "dataset reference for this section, e.g. bundled:bbc (default: the report's "
                                "dataset)", type="str")
    n: int = param(300, "texts scored: a random sample (report seed) of the held-out test split when a model was "
                   "trained on the dataset, else of the whole dataset", minimum=10)
    k: int = same_param(LayersParams, "k")
    maps: tuple[int, ...] | None = param(None, "layers of the first model to draw as 2-D maps, e.g. [0, 3, 6] (none "
                                         "by default); layers beyond the model's last are left out with a note",
                                         type="int_list", minimum=0)
    projection: str = param("pca", "how the maps are drawn: " + ", ".join(MAP_METHODS.names()[:-1]) + " or "
                            + MAP_METHODS.names()[-1], type="choice", choices=MAP_METHODS.names())


@register("layers", title="Separability by layer", params=LayersSectionParams)
def compute(ctx: "ReportContext", p: LayersSectionParams) -> dict:
    """At which layer the true labels become separable: k-NN accuracy and silhouette per layer, per model."""
    from core.analyses.transformer.layers import map_layer, row_labels, run_layers
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    refs = list(dict.fromkeys(p.models or ())) or [ctx.spec.model]
    context: dict[str, Any] = {"refs": refs, "n_requested": p.n, "seed": ctx.spec.seed, "k": p.k}
    try:
        models = [section_model(ctx, r) for r in refs]
        ds_ref = p.dataset or ctx.spec.dataset.ref
        full = section_dataset(ctx, p.dataset)
        sample = heldout_sample(models, full, p.n, seed=ctx.spec.seed, classifiers_only=True)
        res = run_layers(models, sample, LayersParams(k=p.k), progress=ctx.say)
        maps, notes = [], []
        L = len(res.separability[0].knn_accuracy) - 1
        late = [layer for layer in p.maps or () if layer > L]
        if late:
            notes.append(f"{models[0].ref} has layers 0 … {L}, so the map{'s' if len(late) > 1 else ''} of layer"
                         f"{'s' if len(late) > 1 else ''} {', '.join(map(str, late))} "
                         f"{'are' if len(late) > 1 else 'is'} left out.")
        for layer in (x for x in p.maps or () if x <= L):
            ctx.say("layers", 1.0, f"mapping layer {layer} with {MAP_METHODS.title(p.projection)}")
            maps.append((layer, map_layer(models[0], sample, p.projection, layer=layer).points))
    except BackboneLensError as e:  # no labels, too few texts, k too large, unknown model …: one sentence
        ctx.say("layers", 1.0, f"layer separability not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    context.update(split=sample.split, split_note=sample.reason, n_pool=sample.n_pool,
                   models=[model_facts(m) for m in models], dataset=dataset_facts(full, sample.dataset, ds_ref),
                   notes=notes)
    return layers_fragment(res.separability, maps=maps, true=row_labels(models[0], sample.dataset, None).true,
                           label_names=sample.label_names, projection=p.projection, context=context)


# ----------------------------------------------------------------------------- the fragment (pure)


def _model_numbers(s: "LayerSeparability") -> dict[str, Any]:
    acc, sil = np.asarray(s.knn_accuracy, float), np.asarray(s.silhouette, float)
    L = len(acc) - 1
    best = int(acc.argmax())
    return {"model": s.model_ref, "n": s.n, "k": s.k, "chance": float(s.chance), "num_layers": L,
            "labels": list(s.label_names), "separation_layer": s.separation_layer(),
            "knn_accuracy_first": float(acc[0]), "knn_accuracy_last": float(acc[L]),
            "knn_accuracy_best": float(acc[best]), "best_layer": best,
            "silhouette_first": float(sil[0]), "silhouette_last": float(sil[L]),
            "silhouette_best": float(sil.max()), "silhouette_best_layer": int(sil.argmax()),
            "layers": [{"layer": int(i), "knn_accuracy": float(a), "silhouette": float(b)}
                       for i, (a, b) in enumerate(zip(acc, sil))],
            "note": s.note or None, "seconds": float(s.seconds)}


def layers_fragment(seps: Sequence["LayerSeparability"], *, maps: Sequence[tuple[int, np.ndarray]] = (),
                    true: Sequence[str] | None = None, label_names: Sequence[str] = (), projection: str = "pca",
                    context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from computed :class:`core.analyses.transformer.layers.LayerSeparability` results (pure; no model).

    ``maps``: (layer, points (n, 2)) of the first model, drawn with ``true`` (label name per text) as colour."""
    from figures.layers import layer_projection_grid, layer_separability_chart

    ctx = {"split": None, "split_note": None, "n_pool": None, "seed": 0, "models": [], "dataset": None,
           "notes": [], **(context or {})}
    results = [_model_numbers(s) for s in seps]
    first = results[0]
    n, k = first["n"], first["k"]
    refs = [r["model"] for r in results]
    who = refs[0] if len(refs) == 1 else " and ".join([", ".join(refs[:-1]), refs[-1]])
    fig = figure(
        for_print(layer_separability_chart(list(seps), width=250, height=170)),
        caption=(f"Left: leave-one-out {k}-NN accuracy of the true labels at every layer of {who} (layer 0 = the "
                 f"embedding layer's output), on the same {n:,} texts; grey dashes = chance, the majority label's "
                 "share. Right: silhouette of the true labels (cosine; 0 = no separation). A ring marks each model's "
                 "separation layer. Look at where each curve leaves chance and where it levels off: that is the "
                 "depth at which the encoder has sorted the texts by class."),
        alt=f"Two line charts of k-NN accuracy and silhouette against the layer for {who}")
    fig_maps = None
    if maps and true is not None:
        name = MAP_METHODS.titles().get(projection, projection)
        width = 150 if len(maps) <= 4 else 110
        fig_maps = figure(
            for_print(layer_projection_grid(list(maps), list(true), label_names=label_names, method=name,
                                            width=width, height=int(width * 0.9),
                                            title=f"{name} maps of {refs[0]} at {len(maps)} layers")),
            caption=(f"The same {n:,} texts drawn in 2-D ({name} of the pooled hidden states"
                     f"{'' if projection == 'pca' else ', cosine distance'}) at layer{'s' if len(maps) > 1 else ''} "
                     f"{', '.join(str(l) for l, _ in maps)} of "
                     f"{refs[0]}, each dot coloured by its true label. Each panel has its own coordinates: look at "
                     "whether the colours form separate groups, and from which layer on."),
            alt=f"{len(maps)} scatter plots of the texts at layers {', '.join(str(l) for l, _ in maps)}")
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "n": n, "k": k, "projection": projection,
        "model_refs": refs, "results": results, "by_model": {r["model"]: r for r in results},
        **{key: first[key] for key in ("separation_layer", "knn_accuracy_first", "knn_accuracy_last",
                                       "knn_accuracy_best", "best_layer", "silhouette_first", "silhouette_last",
                                       "chance", "num_layers")},
        "maps": [int(l) for l, _ in maps], "figure": fig, "figure_maps": fig_maps,
    }
    # the figures pass/fail checks read (reports.checks, generic ``metrics``): the first model's at the top level,
    # every model's under model_1, model_2 … (model references hold characters a check name cannot)
    keys = ("separation_layer", "knn_accuracy_first", "knn_accuracy_last", "knn_accuracy_best", "best_layer",
            "silhouette_first", "silhouette_last", "chance", "num_layers")
    out["metrics"] = {**{key: first[key] for key in keys},
                      **{f"model_{i + 1}": {key: r[key] for key in keys} for i, r in enumerate(results)}}
    out["findings"] = _findings(out)
    out["headline"] = _headline(out)
    return out


def _finetune_pair(fa: dict | None, fb: dict | None) -> bool:
    if not fa or not fb:
        return False
    return ({fa.get("setting"), fb.get("setting")} == {"pretrained", "finetuned"}
            and fa.get("base_model") == fb.get("base_model") and fa.get("trained_on") == fb.get("trained_on")
            and fa.get("trained_on") is not None)


def _headline(d: dict[str, Any]) -> str:
    parts = [f"{r['model']} " + (f"by layer {r['separation_layer']} of {r['num_layers']}"
                                 if r["separation_layer"] is not None else "at no layer above chance")
             + f" (k-NN accuracy {r['knn_accuracy_last']:.1%} at the last layer)" for r in d["results"]]
    return (f"On {d['n']:,} texts the true labels become separable in " + "; in ".join(parts)
            + f"; chance is {d['chance']:.1%}.")


def _findings(d: dict[str, Any]) -> list[str]:
    out = []
    n = d["n"]
    for r in d["results"]:
        lift = r["knn_accuracy_last"] - r["chance"]
        s = (f"In {r['model']}, a {r['k']}-NN vote names the true label of {r['knn_accuracy_first']:.1%} of the texts "
             f"at the embedding layer and {r['knn_accuracy_last']:.1%} at the last layer ({r['num_layers']}); "
             + (f"the curve reaches 90% of its rise by layer {r['separation_layer']}"
                if r["separation_layer"] is not None else "no layer's vote beats chance"))
        if r["best_layer"] != r["num_layers"]:
            s += (f", and peaks before the end, at layer {r['best_layer']} ({r['knn_accuracy_best']:.1%}): the last "
                  "layers trade some label structure for something else")
        out.append(s + ".")
        if lift < 0.05:
            out.append(f"At the last layer of {r['model']}, the neighbour vote is hardly above chance "
                       f"({r['knn_accuracy_last']:.1%} vs {r['chance']:.1%}): its pooled states do not sort the texts "
                       "by these labels.")
        sil = r["silhouette_last"]
        if sil < 0.05:
            out.append(f"The silhouette of {r['model']} stays low ({r['silhouette_first']:+.2f} → {sil:+.2f}): the "
                       "classes are not compact, well-apart clusters even where neighbours mostly share a label.")
        else:
            out.append(f"The silhouette of {r['model']} grows from {r['silhouette_first']:+.2f} to {sil:+.2f}: the "
                       "classes form increasingly compact and apart groups.")
    res = d["results"]
    if len(res) >= 2:
        a, b = res[0], res[1]
        facts = {f["ref"]: f for f in d.get("models") or []}
        lead = "Fine-tuning" if _finetune_pair(facts.get(a["model"]), facts.get(b["model"])) else "The difference"
        diff = b["knn_accuracy_last"] - a["knn_accuracy_last"]
        dl = (None if None in (a["separation_layer"], b["separation_layer"])
              else b["separation_layer"] - a["separation_layer"])
        when = ("(one of the two never rises above chance, so the layers are not compared)" if dl is None
                else f"at the same layer as {a['model']}" if dl == 0 else f"{abs(dl)} layer{'s' if abs(dl) > 1 else ''} "
                f"{'earlier' if dl < 0 else 'later'} than {a['model']}")
        out.append(f"{lead}: {b['model']} separates the classes {when} and ends {abs(diff) * 100:.1f} percentage "
                   f"points {'higher' if diff >= 0 else 'lower'} at the last layer "
                   f"({b['knn_accuracy_last']:.1%} vs {a['knn_accuracy_last']:.1%}).")
    se = math.sqrt(max(d["knn_accuracy_last"] * (1 - d["knn_accuracy_last"]), 1e-9) / max(n, 1))
    out.append(f"With {n:,} texts, an accuracy carries a standard error of about {se:.1%}; layer-to-layer steps "
               "smaller than twice that are within sampling noise.")
    return out
