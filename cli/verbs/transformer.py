"""CLI verbs inside the transformer: ``layers`` (where in depth the classes separate), ``heads`` (attention-head
importance with the pruning check), ``attention`` (attention maps of one text) and ``instance`` (IG attribution,
integrated-Hessians interactions, attribution entropy). Imported by :mod:`core.cli`."""
from __future__ import annotations

import argparse
from typing import Any

from cli.common import add_dataset, add_model, add_output, open_dataset, progress_bar, verb
from core.foundation.errors import BackboneLensError
from cli.common import open_model


@verb("layers", "per-layer separability of the true labels: k-NN accuracy and silhouette at every layer")
def _layers_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--k", type=int, default=10, help="neighbours of the k-NN vote (default 10)")
    add_output(p)


@_layers_cfg.handler
def _layers(args: argparse.Namespace) -> Any:
    from core.data.sampling import sample
    from core.models.heldout import heldout_pool
    from core.analyses.transformer.layers import layer_sweep
    from core.models.refs import load_model

    refs = [r.strip() for r in args.model.split(",") if r.strip()]
    if not refs:
        raise BackboneLensError("--model is empty.")
    if args.k < 1:
        raise BackboneLensError(f"--k must be at least 1, got {args.k}.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code) for r in refs]
    full = open_dataset(args, sample=False)
    pool, split, by = heldout_pool(models, full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    where = (f"held-out test split ({by.ref} was trained on {full.name})" if by is not None
             else f"all of {full.name}")
    results = [layer_sweep(m, ds, k=args.k, seed=args.seed, progress=progress_bar(args, args.verb))[0] for m in models]
    out = {"dataset": ds.name, "n": len(ds), "texts_from": where, "models": [r.to_json() for r in results]}
    if len(results) == 1:
        out.update(results[0].to_json())
    if args.json:
        return out
    lines = [f"{len(ds)} texts ({where}); k = {args.k}; chance {results[0].chance:.3f}"]
    for r in results:
        lines.append(f"{r.model_ref}: classes separate by layer {r.separation_layer()}")
        lines += [f"  layer {int(l):2d}  k-NN accuracy {a:.3f}  silhouette {s:+.3f}"
                  for l, a, s in zip(r.layers, r.knn_accuracy, r.silhouette)]
    return "\n".join(lines)


@verb("heads", "attention-head importance (attention attribution or head-mask gradient) with the pruning check")
def _heads_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", choices=("attribution", "mask"), default="attribution",
                   help="attribution: Hao et al. (integrated gradients of the logit w.r.t. each head's attention); "
                        "mask: Michel et al. (|gradient of the loss w.r.t. a head mask|)")
    p.add_argument("--steps", type=int, default=10, help="integration nodes of the attribution (default 10)")
    p.add_argument("--no-compare", action="store_true", help="skip the other method and the rank correlation")
    p.add_argument("--no-pruning", action="store_true", help="skip the pruning check")
    p.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    add_output(p)


@_heads_cfg.handler
def _heads(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.head_importance import head_importance
    from cli.common import open_model
    from core.data.sampling import sample
    from core.analyses.projection.run import model_labels
    from core.models.heldout import heldout_pool

    if args.steps < 1:
        raise BackboneLensError(f"--steps must be at least 1, got {args.steps}.")
    if args.max_length is not None and args.max_length < 4:
        raise BackboneLensError("--max-length must be at least 4.")
    model = open_model(args)
    model.require_head()
    full = open_dataset(args, sample=False)
    pool, _, by = heldout_pool([model], full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    labels = model_labels(model, ds)[0]
    res = head_importance(model, list(ds.texts), None if ds.text_pairs is None else list(ds.text_pairs),
                          labels=labels, method=args.method, compare=not args.no_compare,
                          prune=not args.no_pruning, steps=args.steps, seed=args.seed, max_length=args.max_length,
                          progress=progress_bar(args, args.verb))
    out = {**res.to_json(), "dataset": ds.name,
           "texts_from": "held-out test split" if by is not None else f"all of {full.name}"}
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
    p.add_argument("--max-tokens", type=int, default=48, help="tokens shown (default 48; the model reads all)")
    add_output(p)


@_attention_cfg.handler
def _attention(args: argparse.Namespace) -> Any:
    from core.analyses.transformer.attention_maps import attention_maps, check_layer_head
    from cli.common import open_model

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
    add_model(p)
    p.add_argument("--text", default=None, help="the text to explain (or --dataset for the entropy study)")
    p.add_argument("--text-pair", default=None, help="second segment (sentence pairs)")
    p.add_argument("--target", default=None, help="class to explain: number or label name (default: predicted)")
    p.add_argument("--ig-steps", type=int, default=None,
                   help="integrated-gradients steps (default 50 for a text, 20 for the entropy study)")
    p.add_argument("--steps", type=int, default=32, help="integrated-Hessians path points (default 32)")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens with interaction rows (default 16)")
    p.add_argument("--baseline", choices=("pad", "mask", "zero"), default="pad")
    add_dataset(p, required=False)
    add_output(p)


@_instance_cfg.handler
def _instance(args: argparse.Namespace) -> Any:
    from cli.common import open_model
    from core.analyses.transformer.instance_view import entropy_study, instance_view

    if (args.text is None) == (args.dataset is None):
        raise BackboneLensError("Give either --text (one text) or --dataset (the entropy study), not both.")
    if args.ig_steps is not None and args.ig_steps < 1:
        raise BackboneLensError(f"--ig-steps must be at least 1, got {args.ig_steps}.")
    model = open_model(args)
    model.require_head()
    if args.text is not None:
        v = instance_view(model, args.text, args.text_pair, target=args.target, ig_steps=args.ig_steps or 50,
                          steps=args.steps, baseline=args.baseline, max_tokens=args.max_tokens,
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
    from core.data.sampling import sample
    from core.models.heldout import heldout_pool

    full = open_dataset(args, sample=False)
    pool, _, by = heldout_pool([model], full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    st = entropy_study(model, ds, steps=args.ig_steps or 20, baseline=args.baseline, progress=progress_bar(args, args.verb))
    out = {**st.to_json(), "texts_from": "held-out test split" if by is not None else f"all of {full.name}"}
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


def parse_clusters(text: str) -> int | str:
    """``auto`` or a whole number (range checks happen in :func:`core.analyses.transformer.topics.check_n_clusters`)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise BackboneLensError(f"--clusters takes a whole number or auto, got '{text}'.") from None


@verb("topics", "cluster the embeddings, name each cluster with c-TF-IDF words, error rate per cluster")
def _topics_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--method", choices=("kmeans", "agglomerative", "hdbscan"), default="kmeans",
                   help="clustering of the L2-normalised pooled embeddings (default kmeans)")
    p.add_argument("--clusters", default="auto", help="number of clusters, or auto: the best silhouette over "
                   "k = 2..min(12, n/10) (default auto; HDBSCAN always finds its own)")
    p.add_argument("--top-n", type=int, default=10, help="topic words per cluster (default 10)")
    p.add_argument("--rerank", action="store_true", help="re-rank the 30 best c-TF-IDF words by the cosine "
                   "similarity of their embedding to the cluster centroid (KeyBERTInspired)")
    p.add_argument("--reduce", choices=("none", "umap"), default="none",
                   help="cluster the embeddings as they are (default) or after UMAP to 5 dimensions")
    add_output(p)


@_topics_cfg.handler
def _topics(args: argparse.Namespace) -> Any:
    from core.data.sampling import sample
    from core.models.heldout import heldout_pool
    from core.analyses.transformer.topics import check_n_clusters, topics

    k = parse_clusters(args.clusters)
    if args.top_n < 1:
        raise BackboneLensError(f"--top-n must be at least 1, got {args.top_n}.")
    if args.n is not None:
        check_n_clusters(k, args.n, args.method)  # fail before loading the model
    model = open_model(args)
    full = open_dataset(args, sample=False)
    pool, _, by = heldout_pool([model], full)
    note = (f"{by.ref} was trained on {full.name}; the texts come from its held-out test split." if by is not None
            else f"{model.ref} was not trained on {full.name}; texts are sampled from all of it.")
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    res = topics(model, ds, method=args.method, n_clusters=k, top_n=args.top_n, rerank=args.rerank,
                 reduce=args.reduce, seed=args.seed, progress=progress_bar(args, args.verb))
    out = {**res.to_json(), "split": note}
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
    if res.method == "hdbscan":
        lines.append(f"  noise {res.noise} texts (in no cluster)")
    lines += [*res.notes, note]
    return "\n".join(lines)
