"""The corpus map: a DeepView map of landmark texts, and every text of the corpus placed on it (forward map).

A whole corpus (10⁵–10⁷ texts) cannot be laid out by UMAP on its own, and the dashboard must not draw 10⁷
points; so the ``map`` job of a corpus audit

1. draws ``map_landmarks`` landmarks, uniformly and seeded, from the texts whose ``embed`` and ``predict`` jobs
   succeeded, and reads their pooled embeddings and probabilities from the cached batches;
2. lays them out with DeepView exactly as :mod:`core.analyses.projection` does on a sample (the sparse d_λ
   graph, UMAP, the decision background on the inverse map, the fidelity metrics), at λ = ``map_lam``;
3. places **every** text by a forward map onto that layout: its d_λ to the landmarks under the landmark graph's
   own two scales — the cheap proxy λ·Hellinger(p, p_l) + (1 − λ)·d_unsup/s_unsup and d_unsup each nominate
   ``map_candidates`` landmarks, the exact d_λ (DeepView's discriminative path distance through the head) ranks
   them — and puts the text at the membership-weighted mean of its ``map_k`` nearest landmarks' positions, with
   the memberships umap-learn's ``transform`` gives new points (:func:`membership_weights`). That is the point
   ``transform`` starts from (``init_graph_transform``); its refinement epochs are not run. Landmarks keep their
   own map position;
4. sums what the dashboard and the report read: a ``map_grid`` × ``map_grid`` density of all texts by outcome
   (correct, wrong, unlabelled) and predicted class over the map's extent, clusters × errors (k-means with
   ``clusters`` centroids — at most one per 5 landmarks — on the landmarks' normalised embeddings, every text
   assigned to its nearest centroid by cosine, named by c-TF-IDF of the landmark texts), and a placement check:
   each landmark placed from the other landmarks (leave-one-out) against its own map position. Texts whose
   embedding or probabilities are not finite are left off the map.

The placement runs in the driver for both engines: it reads the cached embeddings batch by batch, never holds
the corpus's embeddings at once, touches only the head (no backbone pass) and is itself cached per batch
(kind ``corpus-place``), so a rerun places nothing again. :func:`region` reads the texts of a map region back
from ``placements.parquet`` (sorted by grid cell, filtered while reading).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from core.analyses.corpus.params import CorpusError, CorpusParams
from core.analyses.projection.background import grid_cells
from core.foundation.files import utf8_safe
from core.foundation.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from torch import nn

    from core.analyses.projection.layout import Projection
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

OUTCOMES = ("correct", "wrong", "unlabelled")
MAP_VERSION = 1  # bump when the landmark map or the placement changes
TEXT_CHARS = 200
CLUSTER_WORDS = 6
# clusters smaller than this (share of the texts, and texts) are listed but never named the worst: their error
# lift is noise
MIN_CLUSTER_SHARE, MIN_CLUSTER_TEXTS = 0.01, 10
METHOD = ("forward map: each text at the weighted mean of its k nearest landmarks' map positions under DeepView's "
          "d_λ, weighted by the memberships umap-learn's transform gives new points (its starting point, without its "
          "refinement epochs)")


@dataclass(frozen=True, eq=False)
class LandmarkMap:
    """The DeepView map of the landmarks.

    rows: (m,) int64 positions of the landmarks in the audited dataset; X: (m, d) float32 pooled embeddings;
    probs: (m, C) float32; projection: their points (m, 2), background and fidelity; unsup_scale, disc_scale: the
    landmark graph's normalising maxima (placement measures d_λ with them); centroids: (K, d) float32 unit-norm
    cluster centroids; key: the cache key of the map.
    """

    rows: np.ndarray
    X: np.ndarray
    probs: np.ndarray
    projection: "Projection"
    unsup_scale: float
    disc_scale: float
    metric: str
    n_interp: int
    centroids: np.ndarray
    key: str


@dataclass(frozen=True, eq=False)
class CorpusDensity:
    """The corpus map as the dashboard and the report read it (no per-text rows).

    extent: (x0, x1, y0, y1) of the map and its grids; counts: (3, C, g, g) int64 texts per outcome
    (:data:`OUTCOMES`), predicted class and density cell (row = y bin, column = x bin); bg_classes (r, r) int64 and
    bg_confidence (r, r) float32: the landmark map's decision background; landmarks: rows (position, row, x, y,
    predicted, true, confidence, cluster, text) with predicted/true as class names ('—' = none); clusters: rows
    (cluster, texts, labelled, wrong, accuracy, error_share, lift, top_true, top_predicted, mean_confidence, x, y,
    words); checks: the landmark map's fidelity and the placement check; method: how texts were placed.
    """

    extent: tuple[float, float, float, float]
    counts: np.ndarray
    bg_classes: np.ndarray
    bg_confidence: np.ndarray
    landmarks: tuple[tuple, ...]
    clusters: tuple[tuple, ...]
    checks: Mapping[str, float | None]
    method: str

    @property
    def grid(self) -> int:
        return int(self.counts.shape[-1])


@dataclass(frozen=True, eq=False)
class Placements:
    """Every placed text: position (n,) in the audited dataset, row (n,) in the full dataset, x, y (n,) float32,
    predicted (n,) int64, outcome (n,) int64 index into :data:`OUTCOMES`, confidence (n,) float32, cluster (n,)
    int64. Only :func:`write_density` holds it, to write ``placements.parquet``."""

    position: np.ndarray
    row: np.ndarray
    x: np.ndarray
    y: np.ndarray
    predicted: np.ndarray
    outcome: np.ndarray
    confidence: np.ndarray
    cluster: np.ndarray


# --- the maths: distances to landmarks and the forward placement ------------------------------------------------


def landmark_neighbours(X: np.ndarray, P: np.ndarray, lm: LandmarkMap, head: "nn.Module", *, lam: float, k: int,
                        candidates: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest landmarks of each text under d_λ: indices (b, k) int64 into the landmarks, distances (b, k)
    float32, nearest first. X: (b, d) pooled embeddings, P: (b, C) probabilities; ``exclude``: (b,) a landmark
    index each text may not use (−1 = none; the leave-one-out check)."""
    import torch

    from core.analyses.projection.distances import _block_distance, _prepare, discriminative_distances

    m, b = len(lm.X), len(X)
    usable = m - (1 if exclude is not None else 0)
    k = min(k, usable)
    c = min(max(candidates, k), usable)
    dev = next(head.parameters()).device
    with torch.inference_mode():
        du = _block_distance(_prepare(X, lm.metric, dev), _prepare(lm.X, lm.metric, dev), lm.metric)  # (b, m)
        sp = torch.from_numpy(np.sqrt(np.clip(P, 0, None))).double().to(dev)
        sl = torch.from_numpy(np.sqrt(np.clip(lm.probs, 0, None))).double().to(dev)
        hell = (1.0 - sp @ sl.T).clamp_min(0.0).sqrt().float()  # (b, m) Hellinger distance of the predictions
        du_s = du / float(lm.unsup_scale)
        proxy = lam * hell + (1.0 - lam) * du_s
        if exclude is not None:
            ex = torch.from_numpy(np.asarray(exclude, np.int64)).to(dev)
            has = ex >= 0
            ar = torch.arange(b, device=dev)[has]
            proxy[ar, ex[has]] = float("inf")
            du_s = du_s.clone()
            du_s[ar, ex[has]] = float("inf")
        cand = torch.cat([torch.topk(proxy, c, dim=1, largest=False).indices,
                          torch.topk(du_s, c, dim=1, largest=False).indices], 1)  # (b, 2c)
        cand, _ = torch.sort(cand, dim=1)
        dup = torch.zeros_like(cand, dtype=torch.bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        du_c = torch.gather(du, 1, cand).cpu().numpy()
        cand_np = cand.cpu().numpy()
        Xt = torch.from_numpy(np.concatenate([np.asarray(X, np.float32), lm.X])).to(dev)
    rows = np.repeat(np.arange(b, dtype=np.int64), cand_np.shape[1])
    dd = discriminative_distances(Xt, head, rows, b + cand_np.ravel(), n_interp=lm.n_interp).reshape(cand_np.shape)
    d = lam * dd / np.float32(lm.disc_scale) + (1.0 - lam) * du_c / np.float32(lm.unsup_scale)
    d = np.where(dup.cpu().numpy(), np.inf, d).astype(np.float32)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand_np, order, 1), np.take_along_axis(d, order, 1)


def membership_weights(dist: np.ndarray) -> np.ndarray:
    """UMAP's out-of-sample memberships of (b, k) ascending distances to landmarks → (b, k) float64, rows summing
    to 1: exp(−(d − ρ) / σ) with ρ, σ from :func:`umap.umap_.smooth_knn_dist` at local connectivity 0, as
    umap-learn's ``transform`` computes them for new points (its ``init_graph_transform`` then averages the
    neighbours' positions with these weights)."""
    from umap.umap_ import smooth_knn_dist

    d = np.ascontiguousarray(dist, dtype=np.float32)
    sigmas, rhos = smooth_knn_dist(d, float(d.shape[1]), local_connectivity=0.0)
    gap = d - rhos[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where((gap <= 0) | (sigmas[:, None] == 0), 1.0, np.exp(-gap / sigmas[:, None]))
    w = np.where(np.isfinite(d), w, 0.0)
    return w / np.maximum(w.sum(1, keepdims=True), 1e-300)


def place(X: np.ndarray, P: np.ndarray, lm: LandmarkMap, head: "nn.Module", *, lam: float, k: int, candidates: int,
          exclude: np.ndarray | None = None) -> np.ndarray:
    """Map positions (b, 2) float32 of texts with embeddings X (b, d) and probabilities P (b, C) (see the module
    docstring, step 3)."""
    idx, dist = landmark_neighbours(X, P, lm, head, lam=lam, k=k, candidates=candidates, exclude=exclude)
    w = membership_weights(dist)
    return np.einsum("bk,bkj->bj", w, lm.projection.points[idx].astype(np.float64)).astype(np.float32)


def nearest_centroid(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(b,) int64: the centroid (K, d unit-norm) of highest cosine similarity to each row of X (b, d)."""
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return (Xn @ centroids.T).argmax(1).astype(np.int64)


# --- the landmark map ---------------------------------------------------------------------------------------------


def choose_landmarks(ok_positions: np.ndarray, m: int, seed: int) -> np.ndarray:
    """``m`` positions drawn uniformly without replacement from ``ok_positions`` (all when fewer), sorted."""
    ok = np.asarray(ok_positions, np.int64)
    if len(ok) <= m:
        return np.sort(ok)
    return np.sort(np.random.default_rng(seed).choice(ok, size=m, replace=False))


def landmark_map(model: "LoadedModel", X: np.ndarray, probs: np.ndarray, rows: np.ndarray, texts: Sequence[str],
                 params: CorpusParams, *, cache: "ArrayCache", progress: Progress | None = None) -> LandmarkMap:
    """The DeepView map of the landmarks (X (m, d), probs (m, C), positions ``rows`` (m,)) and their k-means
    centroids, cached under the model, the landmark texts and the map's parameters."""
    from core.analyses.projection.layout import project
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import _projection_from_cache, _projection_to_cache
    from core.foundation.cache import fingerprint

    pp = ProjectionParams(lam=params.map_lam, seed=params.map_seed)
    if len(X) < pp.k + 2:
        raise CorpusError(f"The corpus map needs at least {pp.k + 2} texts that went through embed and predict; "
                          f"{len(X)} did.")
    # the texts and the very arrays laid out (text pairs and max_length change them, not the texts' fingerprint)
    digest = hashlib.blake2b(digest_size=16)
    for a in (X, probs):
        digest.update(np.ascontiguousarray(a, np.float32).tobytes())
    arrays = digest.hexdigest()
    parts = {"model": model.fingerprint, "texts": fingerprint(list(texts), length=32), "arrays": arrays, "m": len(X),
             "lam": pp.lam, "seed": pp.seed, "clusters": params.clusters, "graph": pp.graph_parts(),
             "embed": pp.embed_parts(), "version": MAP_VERSION}

    def compute() -> tuple[dict, dict]:
        from sklearn.cluster import KMeans

        from core.analyses.projection.distances import compute_distance_graph

        if progress is not None:
            progress("map", 0.0, f"DeepView map of {len(X):,} landmarks")
        head = model.head
        graph = compute_distance_graph(X, head, predictions=probs.argmax(1), metric=pp.metric, n_interp=pp.n_interp,
                                       n_neighbors=min(pp.n_neighbors, len(X) - 1), k_own=min(pp.k_own, len(X) - 1),
                                       k_other=pp.k_other, seed=pp.seed)
        proj = project(graph, X, head, pp.lam, probs=probs, n_neighbors=min(pp.n_neighbors, len(X) - 1),
                       min_dist=pp.min_dist, resolution=pp.resolution, k=pp.k, k_tc=pp.k_tc, seed=pp.seed,
                       n_epochs=pp.n_epochs)
        K = int(min(params.clusters, max(1, len(X) // 5)))
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        km = KMeans(n_clusters=K, n_init=4, random_state=params.map_seed).fit(Xn)
        cents = km.cluster_centers_ / np.maximum(np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True), 1e-12)
        arrays, meta = _projection_to_cache(proj)
        arrays.update({"rows": rows, "X": X.astype(np.float32), "probs": probs.astype(np.float32),
                       "centroids": cents.astype(np.float32)})
        meta.update({"unsup_scale": graph.unsup_scale, "disc_scale": graph.disc_scale, "metric": graph.metric,
                     "n_interp": graph.n_interp})
        return arrays, meta

    entry = cache.get_or_compute("corpus-map", parts, compute, description=f"{model.ref}: corpus map, {len(X)} "
                                                                           "landmarks")
    a, meta = entry.arrays, entry.meta
    return LandmarkMap(a["rows"], a["X"], a["probs"], _projection_from_cache(a, meta), float(meta["unsup_scale"]),
                       float(meta["disc_scale"]), str(meta["metric"]), int(meta["n_interp"]), a["centroids"],
                       entry.key)


# --- the pass over the corpus -------------------------------------------------------------------------------------


def corpus_density(model: "LoadedModel", texts: Sequence[str], full_rows: np.ndarray, labels: np.ndarray,
                   batches: Sequence[tuple[int, str, str]], params: CorpusParams, *, cache: "ArrayCache",
                   load: Callable[[str, str], Mapping[str, np.ndarray] | None],
                   progress: Progress | None = None) -> tuple[CorpusDensity, Placements]:
    """The corpus map of an audited dataset (see the module docstring).

    texts: (n,) the audited texts; full_rows: (n,) their rows in the full dataset; labels: (n,) true classes as the
    model's ids (−1 = none); batches: (start, embed key, predict key) per planned batch;
    ``load(job, key)`` returns a cached batch entry's arrays (None when missing)."""
    t0 = time.perf_counter()
    n = len(texts)
    C = len(model.label_names)
    head = model.head
    # which texts have both an embedding and a prediction
    ok = np.zeros(n, bool)
    for start, ek, pk in batches:
        e, p = load("embed", ek), load("predict", pk)
        if e is None or p is None:
            raise CorpusError(f"A batch of the embed or predict job (texts {start}…) is missing from the cache.")
        both = _usable(e, p)
        ok[start + both] = True
    lm_pos = choose_landmarks(np.flatnonzero(ok), params.map_landmarks, params.map_seed)
    X_l, P_l = _gather(lm_pos, batches, load, model.hidden_size, C)
    lm = landmark_map(model, X_l, P_l, lm_pos, [texts[i] for i in lm_pos], params, cache=cache, progress=progress)
    is_lm = {int(p): i for i, p in enumerate(lm_pos)}
    lam, k, c = params.map_lam, params.map_k, params.map_candidates
    # the forward placement, batch by batch, cached
    pos_parts, xy_parts, cl_parts, pr_parts, cf_parts = [], [], [], [], []
    place_parts = {"map": lm.key, "k": k, "candidates": c, "version": MAP_VERSION}
    done_texts = 0
    for bi, (start, ek, pk) in enumerate(batches):
        key = cache.key({"kind": "corpus-place", "embed": ek, "predict": pk, **place_parts})
        entry = cache.load("corpus-place", key)
        if entry is None:
            e, p = load("embed", ek), load("predict", pk)
            assert e is not None and p is not None
            both = _usable(e, p)
            if len(both):
                Xb = e["pooled"][np.searchsorted(e["row"], both)]
                Pb = p["probs"][np.searchsorted(p["row"], both)]
                pts = place(Xb, Pb, lm, head, lam=lam, k=k, candidates=c)
            else:  # every text of the batch failed (or gave no finite numbers)
                Xb = np.zeros((0, model.hidden_size), np.float32)
                Pb = np.zeros((0, C), np.float32)
                pts = np.zeros((0, 2), np.float32)
            for j, r in enumerate(both):  # a landmark keeps its own map position
                li = is_lm.get(start + int(r))
                if li is not None:
                    pts[j] = lm.projection.points[li]
            arrays = {"row": both.astype(np.int64), "points": pts.astype(np.float32),
                      "cluster": nearest_centroid(Xb, lm.centroids) if len(both) else np.zeros(0, np.int64),
                      "predicted": Pb.argmax(1).astype(np.int64) if len(both) else np.zeros(0, np.int64),
                      "confidence": Pb.max(1).astype(np.float32) if len(both) else np.zeros(0, np.float32)}
            entry = cache.save("corpus-place", key, arrays, {"start": start},
                               description=f"corpus map placement, batch at {start}")
        a = entry.arrays
        pos_parts.append(start + a["row"])
        xy_parts.append(a["points"])
        cl_parts.append(a["cluster"])
        pr_parts.append(a["predicted"])
        cf_parts.append(a["confidence"])
        done_texts += len(a["row"])
        if progress is not None and (bi % 8 == 0 or bi == len(batches) - 1):
            progress("placing", (bi + 1) / len(batches), f"{done_texts:,} texts placed on the map")
    pos = np.concatenate(pos_parts).astype(np.int64)
    xy = np.concatenate(xy_parts).astype(np.float32).reshape(-1, 2)
    cluster = np.concatenate(cl_parts).astype(np.int64)
    pred = np.concatenate(pr_parts).astype(np.int64)
    conf = np.concatenate(cf_parts).astype(np.float32)
    lab = labels[pos]
    outcome = np.where(lab < 0, 2, np.where(lab == pred, 0, 1)).astype(np.int64)
    bg = lm.projection.background
    extent = tuple(float(v) for v in bg.extent)
    g = params.map_grid
    gr, gc = grid_cells(xy, extent, g)
    counts = np.zeros((len(OUTCOMES), C, g, g), np.int64)
    np.add.at(counts, (outcome, pred, gr, gc), 1)
    checks = _checks(lm, head, params, xy, pred, outcome, lm_pos, pos)
    names = list(model.label_names)
    landmarks = tuple(
        (int(p), int(full_rows[p]), float(lm.projection.points[i, 0]), float(lm.projection.points[i, 1]),
         names[int(lm.projection.predictions[i])], names[int(labels[p])] if labels[p] >= 0 else "—",
         float(lm.projection.confidence[i]), int(nearest_centroid(lm.X[i:i + 1], lm.centroids)[0]),
         utf8_safe(texts[p])[:TEXT_CHARS]) for i, p in enumerate(lm_pos))
    clusters = _cluster_table(cluster, outcome, labels[pos], pred, conf, xy, lm, [texts[i] for i in lm_pos], names)
    checks = {**checks, "landmarks": float(len(lm_pos)), "placed": float(len(pos)), "seconds": time.perf_counter() - t0}
    density = CorpusDensity(extent, counts, bg.classes, bg.confidence, landmarks, clusters, checks, METHOD)
    placements = Placements(pos, np.asarray(full_rows)[pos].astype(np.int64), xy[:, 0].copy(), xy[:, 1].copy(), pred,
                            outcome, conf, cluster)
    return density, placements


def _usable(e: Mapping[str, np.ndarray], p: Mapping[str, np.ndarray]) -> np.ndarray:
    """Batch rows (sorted) with an embedding and a prediction, both finite."""
    if "row" not in e or "row" not in p:
        return np.zeros(0, np.int64)
    both = np.intersect1d(e["row"], p["row"])
    fin = (np.isfinite(e["pooled"][np.searchsorted(e["row"], both)]).all(1)
           & np.isfinite(p["probs"][np.searchsorted(p["row"], both)]).all(1))
    return both[fin].astype(np.int64)


def _gather(positions: np.ndarray, batches: Sequence[tuple[int, str, str]],
            load: Callable[[str, str], Mapping[str, np.ndarray] | None], d: int, C: int) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
    """Pooled embeddings (m, d) and probabilities (m, C) of the texts at ``positions`` (sorted), from the cache."""
    X = np.zeros((len(positions), d), np.float32)
    P = np.zeros((len(positions), C), np.float32)
    starts = np.array([b[0] for b in batches], np.int64)
    which = np.searchsorted(starts, positions, side="right") - 1
    for bi in np.unique(which):
        start, ek, pk = batches[int(bi)]
        e, p = load("embed", ek), load("predict", pk)
        assert e is not None and p is not None
        sel = np.flatnonzero(which == bi)
        local = positions[sel] - start
        X[sel] = e["pooled"][np.searchsorted(e["row"], local)]
        P[sel] = p["probs"][np.searchsorted(p["row"], local)]
    return X, P


def _checks(lm: LandmarkMap, head: "nn.Module", params: CorpusParams, xy: np.ndarray, pred: np.ndarray,
            outcome: np.ndarray, lm_pos: np.ndarray, pos: np.ndarray) -> dict[str, float | None]:
    """The landmark map's fidelity; Q_data of every placed text (its predicted class = the background's class
    where it lands); the leave-one-out check: each landmark placed from the others — Q_data of those placements,
    and the median distance to the landmark's own map position over the median distance between neighbouring
    landmarks on the map."""
    from sklearn.neighbors import NearestNeighbors

    proj = lm.projection
    bg = proj.background
    m = len(lm.X)
    step = max(1, min(m, params.batch_size))  # (chunk, m) distance matrices, as the placement's batches
    loo = np.concatenate([place(lm.X[s:s + step], lm.probs[s:s + step], lm, head, lam=params.map_lam, k=params.map_k,
                                candidates=params.map_candidates, exclude=np.arange(s, min(s + step, m)))
                          for s in range(0, m, step)])
    nn_d, _ = NearestNeighbors(n_neighbors=2).fit(proj.points).kneighbors(proj.points)
    spacing = float(np.median(nn_d[:, 1])) or 1.0
    shift = np.linalg.norm(loo - proj.points, axis=1)
    not_lm = ~np.isin(pos, lm_pos)
    f = proj.fidelity.to_dict()
    return {"map_q_knn_error": f.get("q_knn_error"), "map_q_data": f.get("q_data"),
            "map_trustworthiness": f.get("trustworthiness"), "map_continuity": f.get("continuity"),
            "placed_q_data": float((bg.class_at(xy[not_lm]) == pred[not_lm]).mean()) if not_lm.any() else None,
            "loo_q_data": float((bg.class_at(loo) == proj.predictions).mean()),
            "loo_median_shift": float(np.median(shift) / spacing),
            "wrong_share": float((outcome == 1).sum() / (outcome < 2).sum()) if (outcome < 2).any() else None}


def _cluster_table(cluster: np.ndarray, outcome: np.ndarray, labels: np.ndarray, pred: np.ndarray,
                   conf: np.ndarray, xy: np.ndarray, lm: LandmarkMap, lm_texts: Sequence[str],
                   names: Sequence[str]) -> tuple[tuple, ...]:
    """Rows (cluster, texts, labelled, wrong, accuracy, error_share, lift, top_true, top_predicted, mean_confidence,
    x, y, words): lift = the cluster's error rate over the corpus's; x, y: the mean map position of its texts."""
    from core.analyses.transformer.topics import TopicsError, class_tfidf, top_words

    K = len(lm.centroids)
    labelled = outcome < 2
    wrong_all = int((outcome == 1).sum())
    rate_all = wrong_all / max(int(labelled.sum()), 1)
    lm_cluster = nearest_centroid(lm.X, lm.centroids)
    try:
        words, scores = class_tfidf([[t for t, c in zip(lm_texts, lm_cluster) if c == k] for k in range(K)])
    except TopicsError:
        words, scores = np.zeros(0, str), np.zeros((K, 0))
    out = []
    for k in range(K):
        m = cluster == k
        if not m.any():
            continue
        lab_k, wrong_k = int((labelled & m).sum()), int(((outcome == 1) & m).sum())
        rate = wrong_k / lab_k if lab_k else None
        top_true = (names[int(np.bincount(labels[m & labelled], minlength=len(names)).argmax())]
                    if lab_k else "—")
        top_pred = names[int(np.bincount(pred[m], minlength=len(names)).argmax())]
        w = ", ".join(t for t, _ in top_words(words, scores[k], CLUSTER_WORDS)) if scores.shape[1] else ""
        out.append((k, int(m.sum()), lab_k, wrong_k, None if rate is None else 1.0 - rate,
                    wrong_k / wrong_all if wrong_all else None,
                    rate / rate_all if rate is not None and rate_all > 0 else None, top_true, top_pred,
                    float(conf[m].mean()), float(xy[m, 0].mean()), float(xy[m, 1].mean()), w))
    return tuple(out)


# --- Parquet ------------------------------------------------------------------------------------------------------

LANDMARK_COLUMNS = ["position", "row", "x", "y", "predicted", "true", "confidence", "cluster", "text"]
CLUSTER_COLUMNS = ["cluster", "texts", "labelled", "wrong", "accuracy", "error_share", "lift", "top_true",
                   "top_predicted", "mean_confidence", "x", "y", "words"]
ROW_GROUP = 65_536


def write_density(d: CorpusDensity, placements: Placements, folder: Path, label_names: Sequence[str]) -> None:
    """``density.parquet`` (outcome, predicted, gy, gx, count; non-zero cells), ``map_background.parquet`` (gy, gx,
    class, confidence), ``landmarks.parquet``, ``clusters.parquet``, ``placements.parquet`` (sorted by density cell,
    row groups of 65,536 texts) and ``map.json`` (extent, checks, method)."""
    import pandas as pd

    from core.foundation.files import atomic_write_bytes, atomic_write_text

    o, c, gy, gx = np.nonzero(d.counts)
    names = list(label_names)
    frames = {
        "density": pd.DataFrame({"outcome": np.asarray(OUTCOMES)[o], "predicted": np.asarray(names)[c],
                                 "gy": gy.astype(np.int32), "gx": gx.astype(np.int32),
                                 "count": d.counts[o, c, gy, gx].astype(np.int64)}),
        "map_background": pd.DataFrame({"gy": np.repeat(np.arange(d.bg_classes.shape[0]), d.bg_classes.shape[1]),
                                        "gx": np.tile(np.arange(d.bg_classes.shape[1]), d.bg_classes.shape[0]),
                                        "class": d.bg_classes.ravel().astype(np.int64),
                                        "confidence": d.bg_confidence.ravel().astype(np.float32)}),
        "landmarks": pd.DataFrame(list(d.landmarks), columns=LANDMARK_COLUMNS),
        "clusters": pd.DataFrame(list(d.clusters), columns=CLUSTER_COLUMNS).astype(
            {"accuracy": "float64", "error_share": "float64", "lift": "float64"}),
    }
    for name, df in frames.items():
        atomic_write_bytes(folder / f"{name}.parquet", df.to_parquet(index=False))
    gr, gc = grid_cells(np.stack([placements.x, placements.y], 1), d.extent, d.grid)
    cell = (gr * d.grid + gc).astype(np.int32)
    order = np.argsort(cell, kind="stable")
    pl = pd.DataFrame({"cell": cell[order], "position": placements.position[order], "row": placements.row[order],
                       "x": placements.x[order], "y": placements.y[order],
                       "predicted": placements.predicted[order].astype(np.int16),
                       "outcome": placements.outcome[order].astype(np.int8),
                       "confidence": placements.confidence[order], "cluster": placements.cluster[order].astype(np.int32)})
    atomic_write_bytes(folder / "placements.parquet", pl.to_parquet(index=False, row_group_size=ROW_GROUP))
    atomic_write_text(folder / "map.json", json.dumps({"extent": list(d.extent), "grid": d.grid,
                                                       "checks": dict(d.checks), "method": d.method}, indent=1))


MAP_FILES = ("density.parquet", "map_background.parquet", "landmarks.parquet", "clusters.parquet",
             "placements.parquet", "map.json")


def remove_density(folder: Path | str) -> None:
    """Remove the map's files from ``folder`` (an aggregates folder rewritten by a run without the map job)."""
    for name in MAP_FILES:
        (Path(folder) / name).unlink(missing_ok=True)


def read_density(folder: Path | str, label_names: Sequence[str]) -> CorpusDensity | None:
    """The corpus map written by :func:`write_density` (None when the audit ran no ``map`` job)."""
    import pandas as pd

    folder = Path(folder)
    if not (folder / "map.json").exists():
        return None
    meta = json.loads((folder / "map.json").read_text("utf-8"))
    g, C = int(meta["grid"]), len(label_names)
    idx = {n: i for i, n in enumerate(label_names)}
    counts = np.zeros((len(OUTCOMES), C, g, g), np.int64)
    df = pd.read_parquet(folder / "density.parquet")
    if len(df):
        counts[df["outcome"].map(OUTCOMES.index).to_numpy(), df["predicted"].map(idx).to_numpy(),
               df["gy"].to_numpy(), df["gx"].to_numpy()] = df["count"].to_numpy()
    bg = pd.read_parquet(folder / "map_background.parquet")
    r = int(bg["gy"].max()) + 1
    bg_classes = bg["class"].to_numpy().reshape(r, -1).astype(np.int64)
    bg_conf = bg["confidence"].to_numpy().reshape(r, -1).astype(np.float32)

    def rows(name: str) -> tuple[tuple, ...]:
        t = pd.read_parquet(folder / f"{name}.parquet")
        return tuple(tuple(None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v)
                           for v in rec) for rec in t.itertuples(index=False, name=None))

    return CorpusDensity(tuple(float(v) for v in meta["extent"]), counts, bg_classes, bg_conf, rows("landmarks"),
                         rows("clusters"), dict(meta["checks"]), str(meta["method"]))


def region(folder: Path | str, x: tuple[float, float], y: tuple[float, float], *, outcome: str | None = None,
           limit: int = 500) -> tuple["pd.DataFrame", int]:
    """The placed texts inside the box x × y (map coordinates): (a frame of at most ``limit`` of them — position,
    row, x, y, predicted (class id), outcome, confidence, cluster — least confident first, and how many lie in the
    box). Only the row groups of the box's band of grid rows are read (the file is sorted by cell = row · grid +
    column). ``outcome``: keep only 'correct', 'wrong' or 'unlabelled'."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    meta = json.loads((folder / "map.json").read_text("utf-8"))
    g = int(meta["grid"])
    (x0, x1), (y0, y1) = sorted(x), sorted(y)
    r0, _ = grid_cells(np.array([[x0, y0]]), meta["extent"], g)
    r1, _ = grid_cells(np.array([[x1, y1]]), meta["extent"], g)
    filters: list[Any] = [("cell", ">=", int(r0[0] * g)), ("cell", "<", int((r1[0] + 1) * g)),
                          ("x", ">=", float(x0)), ("x", "<=", float(x1)), ("y", ">=", float(y0)), ("y", "<=", float(y1))]
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise CorpusError(f"Unknown outcome '{outcome}'; choose from: {', '.join(OUTCOMES)}.")
        filters.append(("outcome", "==", OUTCOMES.index(outcome)))
    t = pq.read_table(folder / "placements.parquet", filters=filters)
    total = t.num_rows
    top = t.sort_by([("confidence", "ascending"), ("position", "ascending")]).slice(0, limit)  # in Arrow
    return top.drop_columns(["cell"]).to_pandas(), total


__all__ = ["CorpusDensity", "LandmarkMap", "METHOD", "OUTCOMES", "Placements", "choose_landmarks", "corpus_density",
           "MIN_CLUSTER_SHARE", "MIN_CLUSTER_TEXTS", "landmark_map", "landmark_neighbours", "MAP_FILES", "remove_density", "membership_weights", "nearest_centroid", "place", "read_density",
           "region", "write_density"]
