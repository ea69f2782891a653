"""DeepView discriminative distances on a sparse candidate graph (arXiv 1909.09154, 2403.18872).

The maths, on arrays and a torch head; no model loading, caching or plotting here
(see :mod:`core.analyses.projection.run` for the glue and :mod:`figures.projection` for charts).

Distance (DeepView). For embeddings x_i, x_j and the head's class probabilities f(·):

* d_disc(i, j) = Σ_k √JS(f(p_k), f(p_{k+1})) over the straight path p_k = x_i + k/(m+1)·(x_j − x_i),
  k = 0 … m+1, with m = ``n_interp`` interior points (natural log, as the reference implementation);
* d_unsup(i, j) = cosine distance 1 − cos(x_i, x_j) (default) or Euclidean distance;
* d_λ = λ · d_disc / s_disc + (1 − λ) · d_unsup / s_unsup, where each scale s is the maximum of that
  distance over one fixed, seeded uniform sample of min(20·n, 10⁶) pairs — the same sample in sparse and
  exact mode, so both mix with identical weights. It estimates the global maximum that the reference
  implementation divides by (exact mode records both; see ``DistanceGraph.params``).

Sparse mode evaluates d_disc only on a candidate graph, found by exact brute force over row chunks (on the
GPU when the head lives there): each point's ``n_neighbors`` nearest by d_unsup; its ``k_own`` nearest under
a cheap discriminative proxy λ₀·H(p_i, p_j) + (1 − λ₀)·d_unsup/s, with H the Hellinger distance between the
end points' predicted distributions (one matrix product), for λ₀ in ``proxy_lams`` (default 0.4, 0.8, 1);
and its ``k_other`` nearest of every other predicted class, which places the classes relative to each other.
On BBC with n = 2,000 this candidate set holds every one of the exact d_λ 29 nearest neighbours for
λ ∈ {0, 0.4, 0.6, 0.8, 0.9, 1} (benchmarks/projection_agreement.py).

When the head starts with a linear layer (BERT pooler, RoBERTa/our MLP head, DistilBERT
pre-classifier), path points are interpolated after that layer: W(x_i + t(x_j − x_i)) + b =
a_i + t(a_j − a_i), so each path point costs O(h) instead of O(d·h).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.analyses.projection.params import METRICS
from core.foundation.errors import BackboneLensError
from core.foundation.progress import Progress


class ProjectionError(BackboneLensError):
    """Input that the projection cannot work with (one sentence, shown as is)."""


@dataclass(frozen=True, eq=False)
class DistanceGraph:
    """Both distances on a set of undirected pairs of n points.

    rows, cols: (E,) int64 with rows < cols; d_unsup, d_disc: (E,) float32, raw (unscaled).
    unsup_scale, disc_scale: the normalising maxima. exact: all n(n−1)/2 pairs are present.
    """

    n: int
    rows: np.ndarray
    cols: np.ndarray
    d_unsup: np.ndarray
    d_disc: np.ndarray
    unsup_scale: float
    disc_scale: float
    exact: bool
    metric: str
    n_interp: int
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n_edges(self) -> int:
        return int(self.rows.shape[0])

    def mixed(self, lam: float) -> np.ndarray:
        """d_λ on every edge: (E,) float32."""
        lam = check_lambda(lam)
        du = self.d_unsup / np.float32(self.unsup_scale or 1.0)
        dd = self.d_disc / np.float32(self.disc_scale or 1.0)
        return (np.float32(lam) * dd + np.float32(1.0 - lam) * du).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows, "cols": self.cols, "d_unsup": self.d_unsup, "d_disc": self.d_disc}

    def meta(self) -> dict:
        return {"n": self.n, "unsup_scale": self.unsup_scale, "disc_scale": self.disc_scale, "exact": self.exact,
                "metric": self.metric, "n_interp": self.n_interp, "params": self.params, "seconds": self.seconds}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "DistanceGraph":
        return cls(n=int(meta["n"]), rows=arrays["rows"], cols=arrays["cols"], d_unsup=arrays["d_unsup"],
                   d_disc=arrays["d_disc"], unsup_scale=float(meta["unsup_scale"]),
                   disc_scale=float(meta["disc_scale"]), exact=bool(meta["exact"]), metric=meta["metric"],
                   n_interp=int(meta["n_interp"]), params=dict(meta.get("params", {})),
                   seconds=float(meta.get("seconds", 0.0)))


def check_lambda(lam: float) -> float:
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0.0 or lam > 1.0:
        raise ProjectionError(f"λ must lie in [0, 1], got {lam:g}.")
    return lam


def check_inputs(X: np.ndarray, probs: np.ndarray | None = None, *, k: int = 5, head: nn.Module | None = None,
                 ) -> None:
    """One clear sentence for each kind of input the projection cannot use."""
    if X.ndim != 2:
        raise ProjectionError(f"Embeddings must be a 2-D array (n, d), got shape {tuple(X.shape)}.")
    n, d = X.shape
    if n < k + 2:
        raise ProjectionError(f"A projection needs at least k + 2 = {k + 2} points, got {n}.")
    bad = ~np.isfinite(X).all(1)
    if bad.any():
        raise ProjectionError(f"{int(bad.sum())} of {n} embeddings contain NaN or infinite values "
                              f"(first at row {int(np.flatnonzero(bad)[0])}).")
    if head is not None:
        width = head_input_width(head)
        if width is not None and width != d:
            raise ProjectionError(f"The embeddings are {d}-dimensional but the classification head expects "
                                  f"{width}; they come from different models.")
    if probs is not None:
        if probs.shape[0] != n:
            raise ProjectionError(f"{probs.shape[0]} predictions for {n} embeddings.")
        n_pred = len(np.unique(probs.argmax(1)))
        if n_pred < 2:
            raise ProjectionError("The model predicts a single class for every point in this sample; a "
                                  "discriminative projection needs at least two predicted classes.")


def head_input_width(head: nn.Module) -> int | None:
    """The input width of a head's first linear layer (None when it cannot be told)."""
    for m in head.modules():
        if isinstance(m, nn.Linear):
            return int(m.in_features)
    return None


@dataclass(frozen=True, eq=False)
class _SplitHead:
    weight: torch.Tensor | None  # (h, d) or None (no linear first layer: interpolate inputs)
    bias: torch.Tensor | None
    rest: Callable[[torch.Tensor], torch.Tensor]  # (..., h) → logits (..., C)


def split_head(head: nn.Module, probe: torch.Tensor | None = None) -> _SplitHead:
    """Split ``head`` into its first affine map and the rest, when the pooled vector enters it through one Linear.

    :class:`core.models.classifier_heads.MLPHead` is split by construction; any other head that offers
    ``first_affine`` (every HF classifier, :class:`core.models.families.SequenceHead`) is split when that holds,
    checked on ``probe`` (n, d; default: 8 seeded random vectors) against the whole head. Otherwise the whole head is applied to interpolated
    embeddings (same result, O(d·h) per point).
    """
    from core.models.classifier_heads import MLPHead

    if isinstance(head, MLPHead):
        return _SplitHead(head.dense.weight, head.dense.bias, lambda a: head.out(torch.tanh(a)))
    if probe is None and hasattr(head, "first_affine"):
        width = head_input_width(head)
        if width is not None:
            dev = next(head.parameters()).device
            probe = torch.randn(8, width, generator=torch.Generator().manual_seed(0)).to(dev)
    if probe is not None and hasattr(head, "first_affine"):
        found = head.first_affine(probe)
        if found is not None:
            lin, rest = found
            return _SplitHead(lin.weight, lin.bias, rest)
    return _SplitHead(None, None, head)


def _log_probs(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.double(), dim=-1)


def _sqrt_js_path(lp: torch.Tensor) -> torch.Tensor:
    """lp: (B, P, C) log-probabilities along paths → Σ_k √JS(p_k, p_{k+1}): (B,)."""
    a, b = lp[:, :-1], lp[:, 1:]
    lm = torch.logaddexp(a, b) - math.log(2.0)
    js = 0.5 * (a.exp() * (a - lm)).sum(-1) + 0.5 * (b.exp() * (b - lm)).sum(-1)
    return js.clamp_min(0.0).sqrt().sum(-1)


@torch.inference_mode()
def discriminative_distances(X: torch.Tensor, head: nn.Module, rows: np.ndarray, cols: np.ndarray, *,
                             n_interp: int = 10, batch_size: int | None = None,
                             progress: Progress | None = None, label: str = "discriminative distance",
                             ) -> np.ndarray:
    """d_disc for each pair (rows[e], cols[e]): (E,) float32. X: (n, d) on the head's device."""
    if n_interp < 0:
        raise ProjectionError(f"n_interp must be 0 or more, got {n_interp}.")
    head.eval()
    split = split_head(head, X[:16])
    if split.weight is None:
        A = X
    elif split.bias is None:  # decoder score heads have no bias
        A = X @ split.weight.T  # (n, h)
    else:
        A = torch.addmm(split.bias, X, split.weight.T)  # (n, h)
    h = A.shape[1]
    # end points once per point; only the n_interp interior points are evaluated per pair
    lp_end = torch.cat([_log_probs(split.rest(A[s:s + 8192])) for s in range(0, A.shape[0], 8192)])
    t = torch.linspace(0.0, 1.0, n_interp + 2, device=X.device, dtype=A.dtype)[1:-1].view(1, n_interp, 1)
    if batch_size is None:
        batch_size = max(128, int(16e6 // (max(n_interp, 1) * h * 4)))  # ≈ 16 MB blocks stay in cache
    E = len(rows)
    out = np.empty(E, dtype=np.float32)
    r_t = torch.from_numpy(np.ascontiguousarray(rows))
    c_t = torch.from_numpy(np.ascontiguousarray(cols))
    for s in range(0, E, batch_size):
        ri = r_t[s:s + batch_size].to(X.device)
        ci = c_t[s:s + batch_size].to(X.device)
        parts = [lp_end[ri][:, None, :]]
        if n_interp > 0:
            ai = A[ri]
            path = torch.addcmul(ai.unsqueeze(1), t, (A[ci] - ai).unsqueeze(1))  # (B, m, h)
            logits = split.rest(path.reshape(-1, h)).reshape(len(ri), n_interp, -1)
            parts.append(_log_probs(logits))
        parts.append(lp_end[ci][:, None, :])
        out[s:s + batch_size] = _sqrt_js_path(torch.cat(parts, 1)).float().cpu().numpy()
        if progress is not None and (s // batch_size) % 16 == 0:
            progress("distances", min(s + batch_size, E) / max(E, 1), f"{label}: {min(s + batch_size, E):,}/{E:,} pairs")
    if progress is not None:
        progress("distances", 1.0, f"{label}: {E:,}/{E:,} pairs")
    return out


def _prepare(X: np.ndarray, metric: str, device: torch.device) -> torch.Tensor:
    if metric not in METRICS:
        raise ProjectionError(f"Unknown metric '{metric}'; choose one of {', '.join(METRICS)}.")
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    if metric == "cosine":
        norms = Xt.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ProjectionError("Some embeddings are all zeros; the cosine distance is undefined for them.")
        Xt = Xt / norms
    return Xt


def _block_distance(Q: torch.Tensor, R: torch.Tensor, metric: str, r_sq: torch.Tensor | None = None,
                    q_sq: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """(b, d) × (m, d) → (b, m) distances, in place in ``out`` when given; Q and R as prepared by
    :func:`_prepare`; r_sq, q_sq: squared row norms (Euclidean only, computed when missing)."""
    D = torch.mm(Q, R.T, out=out) if out is not None else Q @ R.T
    if metric == "cosine":
        return D.neg_().add_(1.0).clamp_min_(0.0)
    r_sq = (R * R).sum(1) if r_sq is None else r_sq
    q_sq = (Q * Q).sum(1) if q_sq is None else q_sq
    return D.mul_(-2.0).add_(q_sq[:, None]).add_(r_sq[None, :]).clamp_min_(0.0).sqrt_()


@torch.inference_mode()
def pair_distances(Xp: torch.Tensor, rows: np.ndarray, cols: np.ndarray, metric: str,
                   batch_size: int = 16384) -> np.ndarray:
    """d_unsup on pairs: (E,) float32. Xp as prepared by :func:`_prepare`."""
    out = np.empty(len(rows), dtype=np.float32)
    for s in range(0, len(rows), batch_size):
        ri = torch.from_numpy(rows[s:s + batch_size]).to(Xp.device)
        ci = torch.from_numpy(cols[s:s + batch_size]).to(Xp.device)
        a, b = Xp[ri], Xp[ci]
        if metric == "cosine":
            d = (1.0 - (a * b).sum(1)).clamp_min(0.0)
        else:
            d = (a - b).norm(dim=1)
        out[s:s + batch_size] = d.float().cpu().numpy()
    return out


@torch.inference_mode()
def candidate_pairs(Xp: torch.Tensor, predictions: np.ndarray, metric: str, *, n_neighbors: int = 30,
                    k_own: int | None = None, k_other: int = 3, chunk: int | None = None,
                    probs: np.ndarray | None = None, proxy_lams: Sequence[float] = (0.8,),
                    progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Undirected candidate pairs (rows < cols), exact brute force over row chunks.

    Per point: its ``n_neighbors`` nearest by d_unsup; with ``probs`` (n, C) its ``k_own`` nearest under the
    proxy λ₀·Hellinger(p_i, p_j) + (1 − λ₀)·d_unsup/s for each λ₀ in ``proxy_lams`` (without ``probs``: its
    ``k_own`` nearest of its own predicted class); and its ``k_other`` nearest of each other predicted class.
    Returns (rows, cols) int64 arrays.
    """
    n = Xp.shape[0]
    k_own = 2 * n_neighbors if k_own is None else k_own
    classes = np.unique(predictions)
    cls_cols = {int(c): torch.from_numpy(np.flatnonzero(predictions == c)).to(Xp.device) for c in classes}
    pred_t = torch.from_numpy(predictions.astype(np.int64)).to(Xp.device)
    r_sq = (Xp * Xp).sum(1) if metric == "euclidean" else None
    sqrt_p = u_scale = None
    if probs is not None:
        sqrt_p = torch.from_numpy(np.sqrt(np.clip(probs, 0, 1)).astype(np.float32)).to(Xp.device)
        ra, rb = _random_pairs(n, min(20 * n, 200_000), 0)
        u_scale = float(pair_distances(Xp, ra, rb, metric).max()) or 1.0
        k_own_unsup = 0  # the proxy neighbours take the place of the own-class neighbours
    else:
        k_own_unsup = k_own
    if chunk is None:
        chunk = max(64, min(4096, int(16e6 // max(n, 1))))  # ≈ 64 MB of float32 distances per block
    chunk = min(chunk, n)
    # Block buffers are allocated once and reused: fresh (b, n) temporaries in every block fragment glibc's
    # per-thread arenas (measured at n = 100,000: +20 MB resident per block, 15 GB in all).
    dev = Xp.device
    buf_d = torch.empty((chunk, n), device=dev)
    buf_h = torch.empty((chunk, n), device=dev) if sqrt_p is not None else None
    buf_p = torch.empty((chunk, n), device=dev) if sqrt_p is not None else None
    buf_c = {c: torch.empty((chunk, len(cc)), device=dev) for c, cc in cls_cols.items()}
    src_all: list[torch.Tensor] = []
    dst_all: list[torch.Tensor] = []
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        b = e - s
        D = _block_distance(Xp[s:e], Xp, metric, r_sq, None if r_sq is None else r_sq[s:e], out=buf_d[:b])
        ar = torch.arange(b, device=dev)
        D[ar, ar + s] = float("inf")  # never its own neighbour
        k = min(n_neighbors, n - 1)
        idx = D.topk(k, dim=1, largest=False).indices
        src_all.append((ar + s)[:, None].expand(-1, k).reshape(-1))
        dst_all.append(idx.reshape(-1))
        if sqrt_p is not None:
            # discriminative proxy: Hellinger distance of the end points' predictions, mixed like d_λ
            hel = buf_h[:b]
            torch.mm(sqrt_p[s:e], sqrt_p.T, out=hel)
            hel.neg_().add_(1.0).clamp_min_(0.0).sqrt_()
            hel[ar, ar + s] = float("inf")
            kp = min(k_own, n - 1)
            for lam0 in proxy_lams:
                # λ₀·H + (1 − λ₀)·D/s ranks like H + D·(1 − λ₀)/(λ₀·s): one fused pass (λ₀ > 0)
                if lam0 >= 1.0:
                    prox = hel
                elif lam0 <= 0.0:
                    prox = D
                else:
                    prox = torch.add(hel, D, alpha=(1.0 - lam0) / (lam0 * u_scale), out=buf_p[:b])
                idx = prox.topk(kp, dim=1, largest=False).indices
                src_all.append((ar + s)[:, None].expand(-1, kp).reshape(-1))
                dst_all.append(idx.reshape(-1))
        rows_pred = pred_t[s:e]
        for c, cc in cls_cols.items():
            own = rows_pred == c
            kk_own = min(k_own_unsup, len(cc) - 1) if bool(own.any()) else 0
            kk_oth = min(k_other, len(cc)) if bool((~own).any()) else 0
            kk = max(kk_own, kk_oth)
            if kk <= 0:
                continue
            sub = torch.index_select(D, 1, cc, out=buf_c[c][:b]).topk(kk, dim=1, largest=False).indices
            nb = cc[sub]  # (b, kk) global indices
            take = torch.where(own, kk_own, kk_oth)  # neighbours kept per row
            keep = torch.arange(kk, device=dev)[None, :] < take[:, None]
            src_all.append((ar + s)[:, None].expand(-1, kk)[keep])
            dst_all.append(nb[keep])
        if progress is not None:
            progress("distances", e / max(n, 1), f"nearest neighbours: {e:,}/{n:,} points")
    src = torch.cat(src_all).cpu().numpy().astype(np.int64)
    dst = torch.cat(dst_all).cpu().numpy().astype(np.int64)
    ok = src != dst
    a, b = np.minimum(src[ok], dst[ok]), np.maximum(src[ok], dst[ok])
    key = np.unique(a * n + b)
    return key // n, key % n


def _random_pairs(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=m)
    b = rng.integers(0, n - 1, size=m)
    b = b + (b >= a)  # b ≠ a
    return np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)


def compute_distance_graph(X: np.ndarray, head: nn.Module, *, predictions: np.ndarray | None = None,
                           metric: str = "cosine", n_interp: int = 10, exact: bool = False,
                           n_neighbors: int = 30, k_own: int | None = None, k_other: int = 3,
                           proxy_lams: Sequence[float] = (0.4, 0.8, 1.0), scale_sample: int | None = None,
                           max_exact: int = 6000, seed: int = 0,
                           device: str | torch.device | None = None, progress: Progress | None = None,
                           ) -> DistanceGraph:
    """d_unsup and d_disc on the candidate graph (or on all pairs with ``exact``). X: (n, d)."""
    t0 = time.perf_counter()
    X = np.asarray(X)
    check_inputs(X, k=5, head=head)
    n = X.shape[0]
    dev = torch.device(device) if device is not None else next(head.parameters()).device
    head = head.to(dev)
    Xp = _prepare(X, metric, dev)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(dev)
    if predictions is None:
        with torch.inference_mode():
            predictions = torch.cat([head.eval()(Xt[s:s + 8192]).argmax(1) for s in range(0, n, 8192)]).cpu().numpy()
    k_own_ = 2 * n_neighbors if k_own is None else k_own
    # the normalising maxima come from one fixed, seeded sample of pairs in both modes, so that the sparse
    # and the exact graph mix their two distances with identical weights
    m = scale_sample if scale_sample is not None else min(20 * n, 1_000_000)
    sa, sb = _random_pairs(n, max(m, 1), seed)
    if exact:
        if n > max_exact:
            raise ProjectionError(f"Exact mode evaluates all n² pairs and is limited to n ≤ {max_exact}; "
                                  f"got n = {n}. Use the sparse mode (the default) for larger samples.")
        rows, cols = np.triu_indices(n, 1)
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
        n_graph = len(rows)
        d_unsup = pair_distances(Xp, rows, cols, metric)
        d_disc = discriminative_distances(Xt, head, rows, cols, n_interp=n_interp, progress=progress)
        cond = sa * n - sa * (sa + 1) // 2 + (sb - sa - 1)  # condensed index of (sa, sb), sa < sb
        su, sd = d_unsup[cond], d_disc[cond]
        extra = {"global_unsup_max": float(d_unsup.max()), "global_disc_max": float(d_disc.max())}
    else:
        with torch.inference_mode():
            probs = torch.cat([torch.softmax(head.eval()(Xt[s:s + 8192]).float(), -1)
                               for s in range(0, n, 8192)]).cpu().numpy()
        rows, cols = candidate_pairs(Xp, predictions, metric, n_neighbors=n_neighbors, k_own=k_own_,
                                     k_other=k_other, probs=probs, proxy_lams=proxy_lams, progress=progress)
        n_graph = len(rows)
        rows, cols = np.concatenate([rows, sa]), np.concatenate([cols, sb])
        d_unsup = pair_distances(Xp, rows, cols, metric)
        d_disc = discriminative_distances(Xt, head, rows, cols, n_interp=n_interp, progress=progress)
        su, sd = d_unsup[n_graph:], d_disc[n_graph:]
        rows, cols, d_unsup, d_disc = rows[:n_graph], cols[:n_graph], d_unsup[:n_graph], d_disc[:n_graph]
        extra = {}
    unsup_scale = float(su.max()) if len(su) else 1.0
    disc_scale = float(sd.max()) if len(sd) else 1.0
    params = {"n_neighbors": n_neighbors, "k_own": k_own_, "k_other": k_other,
              "proxy_lams": list(proxy_lams), "scale_sample": m, "seed": seed, **extra, "device": str(dev),
              "linear_first_layer": split_head(head, Xt[:16]).weight is not None}
    return DistanceGraph(n=n, rows=rows, cols=cols, d_unsup=d_unsup, d_disc=d_disc,
                         unsup_scale=unsup_scale if unsup_scale > 0 else 1.0,
                         disc_scale=disc_scale if disc_scale > 0 else 1.0, exact=exact, metric=metric,
                         n_interp=n_interp, params=params, seconds=time.perf_counter() - t0)


def knn_graph(graph: DistanceGraph, lam: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-nearest-neighbour lists under d_λ, self first (UMAP's convention).

    Returns indices (n, k) int64 (−1 where a point has fewer than k − 1 candidates) and distances (n, k) float32.
    """
    n = graph.n
    d = graph.mixed(lam)
    k = min(k, n)
    src = np.concatenate([graph.rows, graph.cols])
    dst = np.concatenate([graph.cols, graph.rows])
    dd = np.concatenate([d, d])
    order = np.lexsort((dst, dd, src))  # by source, then distance, then index (stable ties)
    src, dst, dd = src[order], dst[order], dd[order]
    counts = np.bincount(src, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(src)) - starts[src]
    keep = pos < k - 1
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    idx[:, 0] = np.arange(n)
    dist[:, 0] = 0.0
    idx[src[keep], pos[keep] + 1] = dst[keep]
    dist[src[keep], pos[keep] + 1] = dd[keep]
    return idx, dist
