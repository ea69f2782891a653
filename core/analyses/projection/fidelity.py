"""Fidelity of a 2-D map: Q_kNN error and Q_data against the predicted labels, trustworthiness and
continuity against the embeddings.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
from core.analyses.projection.background import DecisionBackground
from core.analyses.projection.distances import ProjectionError, _block_distance, _prepare


@dataclass(frozen=True)
class Fidelity:
    """Fidelity of a 2-D projection. q_knn_error: LOO k-NN error in 2-D against predicted labels;
    q_data: share of points whose predicted class equals the background class under them;
    trustworthiness / continuity of k_tc-neighbourhoods against the unsupervised metric in embedding space
    (on ``tc_sample`` points when n is larger)."""

    q_knn_error: float
    q_data: float
    trustworthiness: float
    continuity: float
    k: int
    k_tc: int
    tc_sample: int

    def to_dict(self) -> dict:
        return {"q_knn_error": self.q_knn_error, "q_data": self.q_data, "trustworthiness": self.trustworthiness,
                "continuity": self.continuity, "k": self.k, "k_tc": self.k_tc, "tc_sample": self.tc_sample}


def q_knn_error(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN classification error in 2-D (majority vote, ties → smallest class index)."""
    from sklearn.neighbors import NearestNeighbors

    n = len(points)
    if n < k + 2:
        raise ProjectionError(f"Q_kNN with k = {k} needs at least {k + 2} points, got {n}.")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    is_self = idx == np.arange(n)[:, None]
    # drop the point itself (or, if duplicates hid it, the farthest of the k + 1)
    drop = np.where(is_self.any(1), is_self.argmax(1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    nb = idx[keep].reshape(n, k)
    n_cls = int(labels.max()) + 1
    votes = np.zeros((n, n_cls), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(n), k), labels[nb].ravel()), 1)
    return float((votes.argmax(1) != labels).mean())


def q_data(points: np.ndarray, predictions: np.ndarray, background: DecisionBackground) -> float:
    """Share of points whose predicted class equals the background class of their grid cell."""
    return float((background.class_at(points) == predictions).mean())


def _ranks_of(D: torch.Tensor, cols: torch.Tensor, block: int = 256) -> torch.Tensor:
    """D: (m, m) with +inf diagonal; cols: (m, k) → the rank of each cols[i, j] among row i (1 = nearest),
    counted as 1 + the number of strictly closer points (no sort of whole rows)."""
    out = torch.empty_like(cols)
    for s in range(0, D.shape[0], block):
        d = D[s:s + block]
        ref = d.gather(1, cols[s:s + block])  # (b, k)
        out[s:s + block] = (d.unsqueeze(1) < ref.unsqueeze(2)).sum(2) + 1
    return out


@torch.inference_mode()
def trustworthiness_continuity(X: np.ndarray, points: np.ndarray, *, k: int = 10, metric: str = "cosine",
                               sample: int = 4000, seed: int = 0) -> tuple[float, float, int, int]:
    """Trustworthiness and continuity (Venna & Kaski) of k-neighbourhoods, the high-D side under ``metric``.

    Computed exactly on all points when n ≤ ``sample``, else on a uniform random subsample of that size
    (neighbourhoods within the subsample); k is lowered for tiny samples. Returns (T, C, points used, k used).
    """
    n = len(X)
    idx = np.arange(n)
    if n > sample:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    m = len(idx)
    k = min(k, (m - 1) // 2 - 1) if m < 2 * k + 3 else k
    if k < 1:
        raise ProjectionError(f"Trustworthiness needs more points, got {m}.")
    Xp = _prepare(X[idx], metric, torch.device("cpu"))
    Dh = _block_distance(Xp, Xp, metric)
    P = torch.from_numpy(np.ascontiguousarray(points[idx], dtype=np.float32))
    Dl = torch.cdist(P, P)
    diag = torch.arange(m)
    Dh[diag, diag] = float("inf")
    Dl[diag, diag] = float("inf")
    nn_h = Dh.topk(k, dim=1, largest=False).indices
    nn_l = Dl.topk(k, dim=1, largest=False).indices
    norm = 2.0 / (m * k * (2 * m - 3 * k - 1))
    # trustworthiness: 2-D neighbours that are not high-D neighbours, penalised by their high-D rank
    t = 1.0 - norm * float((_ranks_of(Dh, nn_l) - k).clamp_min(0).sum())
    c = 1.0 - norm * float((_ranks_of(Dl, nn_h) - k).clamp_min(0).sum())
    return t, c, m, k


def fidelity(points: np.ndarray, X: np.ndarray, predictions: np.ndarray, background: DecisionBackground, *,
             k: int = 5, k_tc: int = 10, metric: str = "cosine", tc_sample: int = 4000, seed: int = 0) -> Fidelity:
    t, c, m, k_used = trustworthiness_continuity(X, points, k=k_tc, metric=metric, sample=tc_sample, seed=seed)
    return Fidelity(q_knn_error=q_knn_error(points, predictions, k), q_data=q_data(points, predictions, background),
                    trustworthiness=t, continuity=c, k=k, k_tc=k_used, tc_sample=m)


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest 2-D neighbours that two layouts (n, 2) have in common."""
    from sklearn.neighbors import NearestNeighbors

    ia = NearestNeighbors(n_neighbors=k + 1).fit(a).kneighbors(a)[1][:, 1:]
    ib = NearestNeighbors(n_neighbors=k + 1).fit(b).kneighbors(b)[1][:, 1:]
    shared = [len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(ia, ib)]
    return float(np.mean(shared) / k)
