"""CLI verbs inside the transformer: ``layers`` (where in depth the classes separate), ``heads`` (attention-head
importance with the pruning check), ``attention`` (attention maps of one text), ``instance`` (IG attribution,
integrated-Hessians interactions, attribution entropy) and ``topics`` (clusters named by their words).

Defaults, choices and method names come from the analyses' parameter classes and registries
(:mod:`core.analyses.transformer`); the texts of a dataset are drawn with
:func:`core.models.heldout.heldout_sample` (the held-out test split when a model was trained on the dataset)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Sequence

from cli.common import add_dataset, add_model, add_output, open_dataset, open_model, progress_bar, verb
from core.analyses.transformer.attention_maps import DEFAULT_MAX_TOKENS
from core.analyses.transformer.head_importance import HEAD_METHODS, HeadImportanceParams
from core.analyses.transformer.instance_view import BASELINES, EntropyParams, InstanceParams
from core.analyses.transformer.layers import LayersParams
from core.analyses.transformer.topics import CLUSTERING, REDUCTIONS, TopicsParams
from core.foundation.errors import BackboneLensError

if TYPE_CHECKING:  # pragma: no cover
    from core.data.sampling import Sample
    from core.models.loading import LoadedModel


def _default(params: type, name: str) -> Any:
    return params.param(name).default


def _sample(args: argparse.Namespace, models: "Sequence[LoadedModel]") -> "Sample":
    """``--n`` texts (all without it) of ``--dataset`` drawn with ``--seed``, from the held-out test split when one
    of ``models`` (a classifier) was trained on it."""
    from core.models.heldout import heldout_sample

    return heldout_sample(models, open_dataset(args, sample=False), args.n, seed=args.seed, classifiers_only=True)


def _texts_from(sample: "Sample") -> str:
    return "held-out test split" if sample.split == "test" else f"all of {sample.source}"


@verb("layers", "per-layer separability of the true labels: k-NN accuracy and silhouette at every layer")
def _layers_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    k = LayersParams.param("k")
    p.add_argument("--k", type=int, default=k.default, help=f"{k.help} (default {k.default})")
    add_output(p)


@_layers_cfg.handler
def _layers(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.layers import run_layers
    from core.models.refs import load_model

    refs = [r.strip() for r in args.model.split(",") if r.strip()]
    if not refs:
        raise BackboneLensError("--model is empty.")
    if args.k < 1:
        raise BackboneLensError(f"--k must be at least 1, got {args.k}.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code,
                         dtype=getattr(args, "dtype", None)) for r in refs]
    sample = _sample(args, models)
    where = _texts_from(sample) + (f" ({sample.trained_by} was trained on {sample.source})"
                                   if sample.split == "test" else "")
    res = run_layers(models, sample, LayersParams(k=args.k), progress=progress_bar(args, args.verb))
    results = res.separability
    out = {"dataset": sample.dataset.name, "n": len(sample), "texts_from": where,
           "models": [r.to_json() for r in results]}
    if len(results) == 1:
        out.update(results[0].to_json())
    if args.json:
        return out
    lines = [f"{len(sample)} texts ({where}); k = {args.k}; chance {results[0].chance:.3f}"]
    for r in results:
        sep = r.separation_layer()
        lines.append(f"{r.model_ref}: " + (f"classes separate by layer {sep}" if sep is not None
                                           else "no layer's neighbour vote beats chance"))
        lines += [f"  layer {int(l):2d}  k-NN accuracy {a:.3f}  silhouette {s:+.3f}"
                  for l, a, s in zip(r.layers, r.knn_accuracy, r.silhouette)]
    return "\n".join(lines)


@verb("heads", "attention-head importance (attention attribution or head-mask gradient) with the pruning check")
def _heads_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", choices=HEAD_METHODS.names(), default=_default(HeadImportanceParams, "method"),
                   help="attribution: Hao et al. (integrated gradients of the logit w.r.t. each head's attention); "
                        "mask: Michel et al. (|gradient of the loss w.r.t. a head mask|)")
    steps = _default(HeadImportanceParams, "steps")
    p.add_argument("--steps", type=int, default=steps, help=f"integration nodes of the attribution (default {steps})")
    p.add_argument("--no-compare", action="store_true", help="skip the other method and the rank correlation")
    p.add_argument("--no-pruning", action="store_true", help="skip the pruning check")
    p.add_argument("--max-length", type=int, default=None, help=HeadImportanceParams.param("max_length").help)
    add_output(p)


@_heads_cfg.handler
def _heads(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.head_importance import run_head_importance

    if args.steps < 1:
        raise BackboneLensError(f"--steps must be at least 1, got {args.steps}.")
    if args.max_length is not None and args.max_length < 4:
        raise BackboneLensError("--max-length must be at least 4.")
    model = open_model(args)
    model.require_head()
    sample = _sample(args, [model])
    params = HeadImportanceParams(method=args.method, steps=args.steps, compare=not args.no_compare,
                                  prune=not args.no_pruning, max_length=args.max_length)
    res = run_head_importance(model, sample, params, progress=progress_bar(args, args.verb))
    out = {**res.to_json(), "dataset": sample.dataset.name, "texts_from": _texts_from(sample)}
    if model.notes:
        out["model_notes"] = list(model.notes)
    if args.json:
        return out
    lines = [f"{res.method} importance of {model.ref}'s heads on {res.n} texts; top heads: "
             + ", ".join(f"L{l}H{h}" for l, h in res.ranking()[:5])]
    if res.spearman is not None:
        lines.append(f"Spearman rank correlation with the other method: {res.spearman:.3f}")
    if res.pruning is not None:
        p = res.pruning
        lines.append(f"pruning check (accuracy against {p.reference}):")
        lines += [f"  k={k:3d}  least important first {a:.3f}  most important first {b:.3f}  random {c:.3f}"
                  for k, a, b, c in zip(p.ks, p.least_first, p.most_first, p.random)]
    return "\n".join(lines)


@verb("attention", "token-to-token attention of one text (or pair): one head's map, or cross-segment shares")
def _attention_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    p.add_argument("--text", required=True, help="the text")
    p.add_argument("--text-pair", default=None, help="second segment (sentence pairs)")
    p.add_argument("--layer", type=int, default=None, help="layer, 0-based (default: the last)")
    p.add_argument("--head", type=int, default=0, help="head, 0-based (default 0)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"tokens shown (default {DEFAULT_MAX_TOKENS}; the model reads all)")
    add_output(p)


@_attention_cfg.handler
def _attention(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.attention_maps import attention_maps, check_layer_head

    model = open_model(args)
    maps = attention_maps(model, args.text, args.text_pair, max_tokens=args.max_tokens)
    layer = maps.n_layers - 1 if args.layer is None else args.layer
    check_layer_head(maps.n_layers, maps.n_heads, layer, args.head)
    out = maps.to_json(layer, args.head)
    if args.json:
        return out
    A = maps.head(layer, args.head)
    lines = [f"layer {layer}, head {args.head} of {model.ref}: {maps.n_layers} layers × {maps.n_heads} heads, "
             f"{maps.shown} of {maps.n_tokens} tokens shown"] + [f"note: {n}" for n in maps.notes]
    for i, t in enumerate(maps.tokens):
        j = int(A[i].argmax())
        lines.append(f"  {t:>14s} → {maps.tokens[j]:<14s} {A[i, j]:.2f}")
    if maps.cross is not None:
        c = maps.cross[layer, args.head]
        lines.append(f"cross-segment attention at this head: first → second {c[0]:.2f}, second → first {c[1]:.2f}")
    return "\n".join(lines)


@verb("instance", "one text: IG attribution, integrated-Hessians token interactions, attribution entropy; or, "
      "with --dataset, is attribution entropy higher on errors and low-confidence texts (AUROC)")
def _instance_cfg(p: argparse.ArgumentParser) -> None:
    one, study = InstanceParams(), EntropyParams()
    add_model(p)
    p.add_argument("--text", default=None, help="the text to explain (or --dataset for the entropy study)")
    p.add_argument("--text-pair", default=None, help="second segment (sentence pairs)")
    p.add_argument("--target", default=None, help="class to explain: number or label name (default: predicted)")
    p.add_argument("--ig-steps", type=int, default=None,
                   help=f"integrated-gradients steps (default {one.ig_steps} for a text, {study.steps} for the "
                        "entropy study)")
    p.add_argument("--steps", type=int, default=one.steps,
                   help=f"integrated-Hessians path points (default {one.steps})")
    p.add_argument("--max-tokens", type=int, default=one.max_tokens,
                   help=f"tokens with interaction rows (default {one.max_tokens})")
    p.add_argument("--baseline", choices=BASELINES, default=one.baseline)
    add_dataset(p, required=False)
    add_output(p)


@_instance_cfg.handler
def _instance(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.instance_view import instance_view, run_entropy

    if (args.text is None) == (args.dataset is None):
        raise BackboneLensError("Give either --text (one text) or --dataset (the entropy study), not both.")
    if args.ig_steps is not None and args.ig_steps < 1:
        raise BackboneLensError(f"--ig-steps must be at least 1, got {args.ig_steps}.")
    model = open_model(args)
    model.require_head()
    if args.text is not None:
        params = InstanceParams(ig_steps=args.ig_steps or InstanceParams().ig_steps, steps=args.steps,
                                max_tokens=args.max_tokens, baseline=args.baseline)
        v = instance_view(model, args.text, args.text_pair, params, target=args.target,
                          progress=progress_bar(args, args.verb))
        out = {"model": model.ref, **v.to_json()}
        if args.json:
            return out
        a = v.attribution
        lines = [f"{model.ref}: predicted {a.predicted_label} ({a.probability:.1%}); explaining {a.target_label}; "
                 f"attribution entropy {v.entropy:.3f} (0 = one token, 1 = even)"]
        lines += [f"note: {n}" for n in v.notes]
        lines += [f"  {t:>14s} {s:+.4f}" for t, s in zip(a.tokens, a.scores)]
        lines.append(f"strongest interactions (integrated Hessians; rows add up to the attributions within "
                     f"{v.completeness_error:.1%}):")
        lines += [f"  {x} × {y}: {val:+.4f}" for x, y, val in v.top_pairs()]
        return "\n".join(lines)
    sample = _sample(args, [model])
    params = EntropyParams(steps=args.ig_steps or EntropyParams().steps, baseline=args.baseline)
    st = run_entropy(model, sample, params, progress=progress_bar(args, args.verb))
    out = {**st.to_json(), "texts_from": _texts_from(sample)}
    if args.json:
        return out

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"
    return "\n".join([
        f"attribution entropy of {st.n} texts ({out['texts_from']}), {model.ref}: mean {out['entropy_mean']:.3f}",
        f"  errors: {out['errors']}; mean entropy on errors {out['entropy_errors_mean']} vs correct "
        f"{out['entropy_correct_mean']}",
        f"  AUROC of entropy for errors {f(st.auroc_error)} (text length alone: {f(st.auroc_error_length)})",
        f"  AUROC of entropy for low confidence (bottom {st.low_quantile:.0%}) {f(st.auroc_low_confidence)} "
        f"(length alone: {f(st.auroc_low_confidence_length)})"] + [f"note: {n}" for n in st.notes])


def parse_clusters(text: str) -> int | None:
    """None for ``auto``, else a whole number (range checks happen in
    :func:`core.analyses.transformer.topics.check_n_clusters`)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise BackboneLensError(f"--clusters takes a whole number or auto, got '{text}'.") from None


@verb("topics", "cluster the embeddings, name each cluster with c-TF-IDF words, error rate per cluster")
def _topics_cfg(p: argparse.ArgumentParser) -> None:
    d = TopicsParams()
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", choices=CLUSTERING.names(), default=d.method,
                   help=f"clustering of the L2-normalised pooled embeddings (default {d.method})")
    p.add_argument("--clusters", default="auto", help="number of clusters, or auto: the best silhouette over "
                   "k = 2..min(12, n/10) (default auto; HDBSCAN always finds its own)")
    p.add_argument("--top-n", type=int, default=d.top_n, help=f"topic words per cluster (default {d.top_n})")
    p.add_argument("--rerank", action="store_true", help="re-rank the 30 best c-TF-IDF words by the cosine "
                   "similarity of their embedding to the cluster centroid (KeyBERTInspired)")
    p.add_argument("--reduce", choices=REDUCTIONS, default=d.reduce,
                   help="cluster the embeddings as they are (default) or after UMAP to 5 dimensions")
    add_output(p)


@_topics_cfg.handler
def _topics(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.topics import check_params, run_topics

    params = TopicsParams(method=args.method, n_clusters=parse_clusters(args.clusters), top_n=args.top_n,
                          rerank=args.rerank, reduce=args.reduce)
    if args.top_n < 1:
        raise BackboneLensError(f"--top-n must be at least 1, got {args.top_n}.")
    if args.n is not None:
        check_params(params, args.n)  # fail before loading the model
    model = open_model(args)
    sample = _sample(args, [model])
    res = run_topics(model, sample, params, progress=progress_bar(args, args.verb))
    out = {**res.to_json(), "split": sample.reason}
    if args.json:
        return out
    sil = "n/a" if res.silhouette is None else f"{res.silhouette:.3f}"
    err = "n/a" if res.error_rate is None else f"{res.error_rate:.1%}"
    lines = [f"{res.k} {res.method} clusters of {res.n} texts of {res.dataset_name} ({model.ref}); "
             f"silhouette {sil}, overall error rate {err}"]
    if res.k_scores:
        lines.append("  silhouette by k: " + ", ".join(f"{kk}: {v:.3f}" for kk, v in res.k_scores.items()))
    for t in res.topics:
        e = "n/a" if t.error_rate is None else f"{t.error_rate:6.1%}"
        lines.append(f"  #{t.id:<2d} {t.size:5d} texts  error {e}  {', '.join(t.words)}")
    if res.has_noise:
        lines.append(f"  noise {res.noise} texts (in no cluster)")
    lines += [*res.notes, sample.reason]
    return "\n".join(lines)
