"""Where in depth the classes separate, over a whole corpus: per-layer scores summed from the cached ``embed``
batches of an audit run with ``all_layers`` (every layer's pooled states, (k, L+1, d) float16 per batch).

The sample-level scores of :mod:`core.analyses.transformer.layers` (k-NN accuracy, silhouette) need all pairs of
texts; these need two passes over the batches and memory for one (C, L+1, d) array only:

* **nearest-centroid accuracy** — each text's class is the class whose mean unit-normalised pooled state is the
  nearest by cosine, against the true labels (chance = the largest class's share);
* **Fisher ratio** — between-class over within-class scatter of the unit-normalised states, each per degree of
  freedom: (B / (C − 1)) / (W / (N − C)), with W = Σ_c (N_c − ‖S_c‖² / N_c) and B = Σ_c ‖S_c‖² / N_c − ‖S‖² / N for
  class sums S_c. 0 = no separation; larger = classes further apart than they are wide.

The texts are grouped by their true labels; an unlabelled corpus is grouped by the predicted classes (and says so).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

LAYER_COLUMNS = ["layer", "grouping", "texts", "centroid_accuracy", "fisher_ratio", "chance"]


def _unit(X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def layer_table(batches: Sequence[tuple[int, str]], load: Callable[[str], Mapping[str, np.ndarray] | None],
                labels: np.ndarray, predicted: np.ndarray) -> tuple[tuple, ...]:
    """Rows (layer, grouping, texts, centroid_accuracy, fisher_ratio, chance), layer 0 = the embedding output.

    batches: (start, embed key) per batch; ``load(key)`` gives a cached embed entry with ``layer_pooled`` (k, L+1, d)
    and ``row`` (k,); labels, predicted: (n,) class ids (−1 = none)."""
    grouping = "true label" if (labels >= 0).any() else "predicted class"
    group = labels if grouping == "true label" else predicted
    C = int(group.max()) + 1 if (group >= 0).any() else 0
    if C < 2:
        return ()
    sums: np.ndarray | None = None
    counts = np.zeros(C, np.int64)
    for start, key in batches:  # pass 1: class sums of the unit vectors, per layer
        e = load(key)
        if e is None or "row" not in e or "layer_pooled" not in e:
            continue
        g = group[start + e["row"]]
        keep = g >= 0
        U = _unit(e["layer_pooled"][keep])  # (k, L+1, d)
        if sums is None:
            sums = np.zeros((C, U.shape[1], U.shape[2]))
        for c in np.unique(g[keep]):
            sums[c] += U[g[keep] == c].sum(0)
        counts += np.bincount(g[keep], minlength=C)
    if sums is None or (counts > 0).sum() < 2:
        return ()
    present = counts > 0
    N, Cp = int(counts.sum()), int(present.sum())
    sq = (sums[present] ** 2).sum(-1)  # (Cp, L+1) ‖S_c‖²
    within = (counts[present][:, None] - sq / counts[present][:, None]).sum(0)
    between = (sq / counts[present][:, None]).sum(0) - (sums[present].sum(0) ** 2).sum(-1) / N
    # float cancellation leaves ±1e-12-sized scatter where every text has the same state (a CLS token's embedding
    # output): no spread between classes is no separation, 0
    tol = 1e-9 * N
    between, within = np.clip(between, 0, None), np.clip(within, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        fisher = np.where(between <= tol, 0.0, np.where(within <= tol, np.inf, (between / max(Cp - 1, 1))
                                                        / (within / max(N - Cp, 1))))
    centroids = _unit(sums)  # (C, L+1, d)
    centroids[~present] = 0.0
    right = np.zeros(sums.shape[1], np.int64)
    for start, key in batches:  # pass 2: nearest centroid (cosine) per layer
        e = load(key)
        if e is None or "row" not in e or "layer_pooled" not in e:
            continue
        g = group[start + e["row"]]
        keep = g >= 0
        U = _unit(e["layer_pooled"][keep])
        sim = np.einsum("kld,cld->klc", U, centroids)
        sim[..., ~present] = -np.inf
        right += (sim.argmax(-1) == g[keep][:, None]).sum(0)
    chance = float(counts.max() / N)
    return tuple((layer, grouping, N, float(right[layer] / N), float(fisher[layer]), chance)
                 for layer in range(sums.shape[1]))


__all__ = ["LAYER_COLUMNS", "layer_table"]
