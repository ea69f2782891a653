"""CLI verb ``topics``: cluster a model's embeddings, name the clusters, show their error rates."""
from __future__ import annotations

import argparse
from typing import Any

from core.cli import add_dataset, add_model, add_output, open_dataset, open_model, stage_printer, verb
from core.errors import BackboneLensError


def parse_clusters(text: str) -> int | str:
    """``auto`` or a whole number (range checks happen in :func:`core.topics.check_n_clusters`)."""
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
    from core.data import sample
    from core.evaluate import heldout_pool
    from core.topics import check_n_clusters, topics

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
                 reduce=args.reduce, seed=args.seed, progress=stage_printer(args))
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
