"""The decision background: an inverse map from the 2-D layout back to embedding space, classified by
the head on a grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from core.analyses.projection.distances import ProjectionError


def grid_cells(points: np.ndarray, extent: Sequence[float], g: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) int64 of each 2-D point (n, 2) on a g × g grid over ``extent`` (x0, x1, y0, y1); row = y bin,
    points outside clipped to the border cells (computed in float64)."""
    points = np.asarray(points, np.float64)
    x0, x1, y0, y1 = (float(v) for v in extent)
    col = np.clip(((points[:, 0] - x0) / max(x1 - x0, 1e-12) * g).astype(np.int64), 0, g - 1)
    row = np.clip(((points[:, 1] - y0) / max(y1 - y0, 1e-12) * g).astype(np.int64), 0, g - 1)
    return row, col


@dataclass(frozen=True, eq=False)
class DecisionBackground:
    """The head evaluated on a regular 2-D grid mapped back to embedding space.

    extent: (x_min, x_max, y_min, y_max) of the grid; cell (r, c) covers x-bin c and y-bin r.
    classes: (g, g) int64 predicted class; confidence: (g, g) float32 max probability;
    probs: (g, g, C) float32.
    """

    extent: tuple[float, float, float, float]
    resolution: int
    classes: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray

    def cell_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid (row, col) of each 2-D point (n, 2)."""
        return grid_cells(points, self.extent, self.resolution)

    def class_at(self, points: np.ndarray) -> np.ndarray:
        row, col = self.cell_of(points)
        return self.classes[row, col]


class InverseMap:
    """Map 2-D points back to embedding space by Cauchy-kernel weighted interpolation of the k nearest
    projected points: x(y) = Σ w_i x_i / Σ w_i, w_i = 1 / (1 + ‖y − y_i‖² / σ²).

    σ is the median distance from a projected point to its k-th nearest projected neighbour, so the kernel
    adapts to the layout's scale. No training, deterministic, O(k·d) per query point.
    """

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, Y: np.ndarray, X: np.ndarray) -> "InverseMap":
        """Y: (n, 2) projected points; X: (n, d) their embeddings."""
        from sklearn.neighbors import NearestNeighbors

        self.k_ = int(min(self.k, len(Y)))
        self.nn_ = NearestNeighbors(n_neighbors=self.k_).fit(Y)
        self.X_ = np.asarray(X, dtype=np.float32)
        d, _ = NearestNeighbors(n_neighbors=min(self.k_ + 1, len(Y))).fit(Y).kneighbors(Y)
        self.sigma_ = float(max(np.median(d[:, -1]), 1e-6))
        return self

    def transform(self, Q: np.ndarray) -> np.ndarray:
        """Q: (m, 2) → (m, d) float32."""
        dist, idx = self.nn_.kneighbors(Q)
        w = 1.0 / (1.0 + (dist / self.sigma_) ** 2)
        w = (w / w.sum(1, keepdims=True)).astype(np.float32)
        return np.einsum("mk,mkd->md", w, self.X_[idx])


@torch.inference_mode()
def decision_background(points: np.ndarray, X: np.ndarray, head: nn.Module, *, resolution: int = 100,
                        k: int = 10, margin: float = 0.05) -> DecisionBackground:
    """Evaluate the head on a resolution × resolution grid over the points' bounding box (plus a margin)."""
    if resolution < 2:
        raise ProjectionError(f"The background resolution must be at least 2, got {resolution}.")
    lo, hi = points.min(0), points.max(0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * span, hi + margin * span
    g = resolution
    xs = lo[0] + (np.arange(g) + 0.5) / g * (hi[0] - lo[0])
    ys = lo[1] + (np.arange(g) + 0.5) / g * (hi[1] - lo[1])
    gx, gy = np.meshgrid(xs, ys)  # (g, g): row = y, col = x
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    Xg = InverseMap(k).fit(points, X).transform(grid)
    dev = next(head.parameters()).device
    probs = np.concatenate([
        torch.softmax(head.eval()(torch.from_numpy(Xg[s:s + 8192]).to(dev)).float(), -1).cpu().numpy()
        for s in range(0, len(Xg), 8192)])
    probs = probs.reshape(g, g, -1).astype(np.float32)
    return DecisionBackground(extent=(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])), resolution=g,
                              classes=probs.argmax(-1).astype(np.int64), confidence=probs.max(-1), probs=probs)
