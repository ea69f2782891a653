"""Model comparison on the same texts: Q_NN, LCMC, linear CKA and prediction agreement.

Two models are compared on *texts*, never on token ids: each model embeds the same list of
texts with its own tokenizer, and the i-th row of every array belongs to the i-th text.

* ``Q_NN(k)`` (Lee & Verleysen 2009): the mean share of each point's k nearest neighbours that
  two spaces have in common, ``(1 / nk) Σ_i |N_k^A(i) ∩ N_k^B(i)|``; 1 = identical neighbourhoods.
* ``LCMC(k)`` (Chen & Buja 2009): ``Q_NN(k) − k / (n − 1)``, the overlap above what two random
  neighbourhoods of size k share on average; 0 = chance.
* linear CKA (Kornblith et al. 2019): ``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` on column-centred X, Y.

:func:`run_comparison` computes them between the models' embedding spaces and between their
DeepView projections (the paper's model comparison, arXiv 2403.18872), over a range of k, on one
:class:`~core.data.sampling.Sample`; :class:`CompareParams` declares its parameters once.
This module imports no torch at load time (report specs read :class:`CompareParams`).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Progress, or_silent

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.background import DecisionBackground
    from core.analyses.projection.params import ProjectionParams
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

class ComparisonError(BackboneLensError):
    """Inputs that cannot be compared (different samples, too few points, bad k)."""


@dataclass(frozen=True)
class CompareParams(Params):
    """How models are compared (the one place for these defaults and ranges: CLI, report section, page)."""

    k: tuple[int, ...] = param((5, 10, 20), "neighbourhood sizes k of Q_NN and LCMC", minimum=1)
    lam: float = param(0.8, "λ of every model's DeepView projection", minimum=0, maximum=1)
    projections: bool = param(True, "compare the models' DeepView projections too (false: embeddings only)")
    k_points: int = param(10, "nearest embedding neighbours behind each text's disagreement score", minimum=1)


# ----------------------------------------------------------------------------- metrics


def check_ks(ks: Sequence[int], n: int) -> tuple[int, ...]:
    """Sorted unique k values, each 1 ≤ k ≤ n − 2 (so LCMC's baseline k/(n−1) stays below 1)."""
    out = sorted({int(k) for k in ks})
    if not out:
        raise ComparisonError("Give at least one neighbourhood size k.")
    if out[0] < 1:
        raise ComparisonError(f"Neighbourhood sizes must be at least 1, got {out[0]}.")
    if n < 4:
        raise ComparisonError(f"Comparing neighbourhoods needs at least 4 texts, got {n}.")
    if out[-1] > n - 2:
        raise ComparisonError(f"k = {out[-1]} is too large for {n} texts; the largest usable k is {n - 2}.")
    return tuple(out)


def knn_indices(X: np.ndarray, k: int, *, metric: str = "cosine", block: int = 1024) -> np.ndarray:
    """Indices (n, k) of each row's k nearest other rows, nearest first (ties: lower index first).

    X: (n, d). metric: ``cosine`` or ``euclidean``. Exact, in row blocks (memory O(block · n)).
    """
    import torch

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if metric not in ("cosine", "euclidean"):
        raise ComparisonError(f"Unknown metric '{metric}'; use cosine or euclidean.")
    if not 1 <= k <= n - 1:
        raise ComparisonError(f"k = {k} needs at least {k + 1} points, got {n}.")
    T = torch.from_numpy(X)
    if metric == "cosine":
        T = T / T.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sq = (T * T).sum(1)
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, block):
        Q = T[s:s + block]
        if metric == "cosine":
            D = 1.0 - Q @ T.T
        else:
            D = (sq[s:s + block, None] + sq[None, :] - 2.0 * Q @ T.T).clamp_min(0.0)
        D[torch.arange(len(Q)), torch.arange(s, s + len(Q))] = float("inf")
        # stable sort = ties broken by index, so hand-made examples have one answer
        idx = torch.sort(D, dim=1, stable=True).indices[:, :k]
        out[s:s + len(Q)] = idx.numpy()
    return out


def neighbour_overlap_per_point(A: np.ndarray, B: np.ndarray, k: int) -> np.ndarray:
    """|N_k^A(i) ∩ N_k^B(i)| / k for each point. A, B: (n, ≥k) neighbour indices, nearest first."""
    a, b = A[:, :k], B[:, :k]
    return (a[:, :, None] == b[:, None, :]).any(2).sum(1) / float(k)


def q_nn(A: np.ndarray, B: np.ndarray, k: int) -> float:
    """Q_NN(k) from two neighbour-index arrays (n, ≥k): the mean shared share of the k nearest."""
    return float(neighbour_overlap_per_point(A, B, k).mean())


def lcmc(A: np.ndarray, B: np.ndarray, k: int) -> float:
    """LCMC(k) = Q_NN(k) − k / (n − 1)."""
    n = A.shape[0]
    return q_nn(A, B, k) - k / (n - 1)


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA between X (n, d1) and Y (n, d2) — rows are the same items; 1 = same up to rotation/scale."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ComparisonError(f"CKA needs the same items in both spaces, got {X.shape[0]} and {Y.shape[0]} rows.")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    hsic = np.linalg.norm(Y.T @ X) ** 2
    den = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(hsic / den) if den > 0 else 0.0


@dataclass(frozen=True)
class SpaceComparison:
    """Q_NN and LCMC of two spaces over ``ks``, and each point's overlap at ``k_points``."""

    ks: tuple[int, ...]
    q_nn: tuple[float, ...]
    lcmc: tuple[float, ...]
    k_points: int
    overlap: np.ndarray = field(repr=False)  # (n,) share of the k_points nearest neighbours in common

    def to_json(self) -> dict[str, Any]:
        return {"ks": list(self.ks), "q_nn": [round(v, 6) for v in self.q_nn],
                "lcmc": [round(v, 6) for v in self.lcmc], "k_points": self.k_points}


def compare_spaces(Xa: np.ndarray, Xb: np.ndarray, ks: Sequence[int] = CompareParams.k, *, metric: str = "cosine",
                   k_points: int | None = None, texts_a: Sequence[str] | None = None,
                   texts_b: Sequence[str] | None = None) -> SpaceComparison:
    """Q_NN(k) and LCMC(k) between two spaces of the same n items. Xa: (n, da), Xb: (n, db).

    When ``texts_a`` and ``texts_b`` are given they must be the same texts in the same order.
    """
    if Xa.shape[0] != Xb.shape[0]:
        raise ComparisonError(f"The two sample sets differ in size ({Xa.shape[0]} vs {Xb.shape[0]} texts); "
                              "models can only be compared on the same texts.")
    if texts_a is not None and texts_b is not None:
        diff = [i for i, (x, y) in enumerate(zip(texts_a, texts_b)) if x != y]
        if len(texts_a) != len(texts_b) or diff:
            first = diff[0] if diff else min(len(texts_a), len(texts_b))
            raise ComparisonError(f"The two sample sets are not the same texts (first difference at row {first}); "
                                  "models can only be compared on the same texts in the same order.")
    n = Xa.shape[0]
    ks = check_ks(ks, n)
    k_points = int(k_points or min(10, n - 2))
    kmax = max(ks[-1], k_points)
    A = knn_indices(Xa, kmax, metric=metric)
    B = knn_indices(Xb, kmax, metric=metric)
    q = tuple(q_nn(A, B, k) for k in ks)
    lc = tuple(v - k / (n - 1) for v, k in zip(q, ks))
    return SpaceComparison(ks=ks, q_nn=q, lcmc=lc, k_points=k_points,
                           overlap=neighbour_overlap_per_point(A, B, k_points).astype(np.float32))


def align_predictions(names_a: Sequence[str], names_b: Sequence[str], pred_b: np.ndarray) -> np.ndarray | None:
    """Model b's predicted ids as model a's ids (matched by label name); None when the label sets differ."""
    if sorted(names_a) != sorted(names_b):
        return None
    pos = {n: i for i, n in enumerate(names_a)}
    lut = np.array([pos[n] for n in names_b], dtype=np.int64)
    return lut[np.asarray(pred_b, dtype=np.int64)]


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class PairComparison:
    """Model ``a`` against model ``b`` (indices into :attr:`ModelComparison.model_refs`)."""

    a: int
    b: int
    embeddings: SpaceComparison
    projection: SpaceComparison | None
    cka: float
    prediction_agreement: float | None
    note: str = ""

    def to_json(self, refs: Sequence[str]) -> dict[str, Any]:
        per_k = []
        for i, k in enumerate(self.embeddings.ks):
            row: dict[str, Any] = {"k": k, "q_nn": {"embeddings": round(self.embeddings.q_nn[i], 6)},
                                   "lcmc": {"embeddings": round(self.embeddings.lcmc[i], 6)}}
            if self.projection is not None:
                row["q_nn"]["projection"] = round(self.projection.q_nn[i], 6)
                row["lcmc"]["projection"] = round(self.projection.lcmc[i], 6)
            per_k.append(row)
        return {"a": refs[self.a], "b": refs[self.b], "per_k": per_k, "cka": round(self.cka, 6),
                "prediction_agreement": None if self.prediction_agreement is None
                else round(self.prediction_agreement, 6), "note": self.note}


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Two or more models on the same n texts (``sample``: which texts and why).

    pooled[m]: (n, d_m); probs[m]: (n, C_m) or None; predictions[m]: (n,) or None (bare encoder);
    points[m]: (n, 2) DeepView points or None; labels: (n,) true ids in model 0's label space, −1 unknown.
    """

    model_refs: tuple[str, ...]
    label_names: tuple[tuple[str, ...], ...]
    sample: "Sample"
    labels: np.ndarray
    pooled: tuple[np.ndarray, ...]
    probs: tuple[np.ndarray | None, ...]
    predictions: tuple[np.ndarray | None, ...]
    points: tuple[np.ndarray | None, ...]
    backgrounds: tuple["DecisionBackground | None", ...]
    projection_keys: tuple[str | None, ...]
    fidelity: tuple[dict | None, ...]
    pairs: tuple[PairComparison, ...]
    params: CompareParams
    seconds: dict[str, float]
    notes: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.sample)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(self.sample.texts)

    @property
    def text_pairs(self) -> tuple[str, ...] | None:
        pairs = self.sample.text_pairs
        return None if pairs is None else tuple(pairs)

    @property
    def dataset_name(self) -> str:
        return self.sample.dataset.name

    @property
    def lam(self) -> float:
        return float(self.params.lam)

    @property
    def ks(self) -> tuple[int, ...]:
        return self.pairs[0].embeddings.ks

    def disagreement(self, pair: int = 0) -> np.ndarray:
        """Per-text disagreement score of one pair, in [0, 2]: 1 if the predictions differ (0 when label
        sets differ), plus the share of the k nearest embedding neighbours the two models do not share."""
        p = self.pairs[pair]
        score = 1.0 - p.embeddings.overlap.astype(np.float64)
        pa, pb = self.predictions[p.a], self.predictions[p.b]
        if p.prediction_agreement is not None and pa is not None and pb is not None:
            aligned = align_predictions(self.label_names[p.a], self.label_names[p.b], pb)
            score = score + (aligned != pa)
        return score

    def true_label(self, i: int) -> str | None:
        """The true label of text ``i`` in model 0's label names (None when unknown)."""
        if self.labels[i] < 0 or not self.label_names[0]:
            return None
        return self.label_names[0][self.labels[i]]

    def prediction(self, m: int, i: int) -> tuple[str, float] | None:
        """Model ``m``'s predicted label of text ``i`` and its probability (None for a bare encoder)."""
        if self.predictions[m] is None:
            return None
        c = int(self.predictions[m][i])
        return self.label_names[m][c], float(self.probs[m][i, c])

    def top_disagreements(self, pair: int = 0, top: int = 20) -> list[dict[str, Any]]:
        """The ``top`` texts the pair disagrees on most: prediction first, then neighbourhood."""
        p = self.pairs[pair]
        score = self.disagreement(pair)
        order = np.argsort(-score, kind="stable")[:top]
        rows = []
        for i in order:
            row: dict[str, Any] = {"index": int(i), "text": self.texts[i], "score": round(float(score[i]), 4),
                                   "neighbour_overlap": round(float(p.embeddings.overlap[i]), 4)}
            if self.text_pairs is not None:
                row["text_pair"] = self.text_pairs[i]
            if self.labels[i] >= 0:
                row["label"] = self.true_label(i) if self.label_names[0] else int(self.labels[i])
            for side, m in (("a", p.a), ("b", p.b)):
                pred = self.prediction(m, int(i))
                if pred is not None:
                    row[f"prediction_{side}"] = pred[0]
                    row[f"confidence_{side}"] = round(pred[1], 4)
            rows.append(row)
        return rows

    def per_k_rows(self, pair: int = 0) -> list[dict[str, float]]:
        """One row per k of one pair: Q_NN and LCMC of the embeddings (``q_nn_emb``, ``lcmc_emb``) and of the
        projections (``q_nn_proj``, ``lcmc_proj``, when both models have one) and chance, k / (n − 1)."""
        p = self.pairs[pair]
        rows = []
        for i, k in enumerate(self.ks):
            row = {"k": k, "q_nn_emb": p.embeddings.q_nn[i], "lcmc_emb": p.embeddings.lcmc[i]}
            if p.projection is not None:
                row |= {"q_nn_proj": p.projection.q_nn[i], "lcmc_proj": p.projection.lcmc[i]}
            rows.append({**row, "chance": k / (self.n - 1)})
        return rows

    def to_json(self, *, top: int = 20) -> dict[str, Any]:
        out: dict[str, Any] = {"models": list(self.model_refs), "dataset": self.dataset_name, "n": self.n,
                               "ks": list(self.ks), "lam": self.lam,
                               "pairs": [p.to_json(self.model_refs) for p in self.pairs],
                               "fidelity": {r: f for r, f in zip(self.model_refs, self.fidelity)},
                               "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                               "notes": list(self.notes)}
        first = out["pairs"][0]
        # the two-model case (the common one) also at top level
        out.update(per_k=first["per_k"], cka=first["cka"], prediction_agreement=first["prediction_agreement"])
        out["disagreements"] = self.top_disagreements(0, top)
        return out


def pair_matrices(cmp: ModelComparison) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of models at once: (cka, agreement), both (m, m) float64 and symmetric with 1 on the diagonal;
    agreement is NaN for a pair whose predictions are not compared (a bare encoder, different label sets)."""
    m = len(cmp.model_refs)
    cka = np.eye(m)
    agree = np.full((m, m), np.nan)
    for p in cmp.pairs:
        cka[p.a, p.b] = cka[p.b, p.a] = p.cka
        if p.prediction_agreement is not None:
            agree[p.a, p.b] = agree[p.b, p.a] = p.prediction_agreement
    np.fill_diagonal(agree, 1.0)
    return cka, agree


def trained_dataset(models: Sequence["LoadedModel"]) -> str | None:
    """The dataset reference every classifier among ``models`` records as its training data (None when they
    record none or different ones)."""
    trained = {m.metadata.get("dataset") for m in models if m.has_head} - {None}
    return next(iter(trained)) if len(trained) == 1 else None


def _unique_refs(models: Sequence["LoadedModel"]) -> list[str]:
    """The models' references, numbered when one is given twice."""
    refs = [m.ref for m in models]
    return [f"{r} ({i + 1})" for i, r in enumerate(refs)] if len(set(refs)) < len(refs) else refs


def _pair(models: Sequence["LoadedModel"], a: int, b: int, pooled: list, points: list, preds: list,
          params: CompareParams) -> PairComparison:
    emb_cmp = compare_spaces(pooled[a], pooled[b], params.k, metric="cosine", k_points=params.k_points)
    proj_cmp = (compare_spaces(points[a], points[b], params.k, metric="euclidean", k_points=params.k_points)
                if points[a] is not None and points[b] is not None else None)
    agree, note = None, ""
    if preds[a] is not None and preds[b] is not None:
        aligned = align_predictions(models[a].label_names, models[b].label_names, preds[b])
        if aligned is None:
            note = (f"The label sets differ ({', '.join(models[a].label_names)} vs "
                    f"{', '.join(models[b].label_names)}), so predictions are not compared; "
                    "embeddings and projections are.")
        else:
            agree = float((aligned == preds[a]).mean())
    else:
        note = "At least one model has no classifier head; only embeddings are compared."
    return PairComparison(a, b, emb_cmp, proj_cmp, linear_cka(pooled[a], pooled[b]), agree, note)


def run_comparison(models: Sequence["LoadedModel"], sample: "Sample", params: CompareParams = CompareParams(), *,
                   projection: "ProjectionParams | None" = None, cache: "ArrayCache | None" = None,
                   progress: Progress | None = None) -> ModelComparison:
    """Embed the texts of ``sample`` with every model (cached), project with DeepView at ``params.lam``
    (cached; ``projection``: how to project, its λ replaced by ``params.lam``), compare every pair over
    ``params.k``.

    ``models``: two or more. Bare encoders are compared on embeddings only. Draw ``sample`` with
    :func:`core.models.heldout.heldout_sample` (``classifiers_only=True``), so no model is judged on its
    own training texts.
    """
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import model_labels, run_projection
    from core.foundation.cache import ArrayCache
    from core.models.embeddings import extract_embeddings

    if len(models) < 2:
        raise ComparisonError("A comparison needs at least two models.")
    dataset = sample.dataset
    n = len(dataset)
    params = dataclasses.replace(params, k=check_ks(params.k, n))
    cache = cache or ArrayCache()
    projection = dataclasses.replace(projection or ProjectionParams(), lam=params.lam)
    say = or_silent(progress)
    sec: dict[str, float] = {"embeddings": 0.0, "projections": 0.0, "metrics": 0.0}
    pooled, probs, preds, points, keys, fids, bgs = [], [], [], [], [], [], []
    notes: list[str] = []
    refs = _unique_refs(models)
    for i, m in enumerate(models):
        t0 = time.perf_counter()
        say("embeddings", i / len(models), f"embedding {n:,} texts with {refs[i]}")
        emb = extract_embeddings(m, dataset, cache=cache)
        sec["embeddings"] += time.perf_counter() - t0
        pooled.append(emb.pooled)
        probs.append(emb.probs)
        preds.append(None if emb.probs is None else emb.probs.argmax(1))
        if emb.truncated.any():
            notes.append(f"{refs[i]} truncated {int(emb.truncated.sum())} of {n} texts at {m.max_length} tokens.")
        run = None
        if params.projections and m.has_head:
            t0 = time.perf_counter()
            say("projections", i / len(models), f"DeepView projection of {refs[i]} (λ = {params.lam:g})")
            run = run_projection(m, sample, projection, cache=cache, emb=emb)
            sec["projections"] += time.perf_counter() - t0
        elif params.projections:
            notes.append(f"{refs[i]} has no classifier head, so it has no DeepView projection; "
                         "its embeddings are compared.")
        points.append(None if run is None else run.projection.points)
        bgs.append(None if run is None else run.projection.background)
        keys.append(None if run is None else run.key)
        fids.append(None if run is None else run.fidelity.to_dict())
    if len({m.max_length for m in models}) > 1:
        notes.append("The models cut texts at different lengths ("
                     + ", ".join(f"{r}: {m.max_length}" for r, m in zip(refs, models)) + " tokens).")
    t0 = time.perf_counter()
    pairs: list[PairComparison] = []
    n_pairs = max(1, len(models) * (len(models) - 1) // 2)
    for a in range(len(models)):
        for b in range(a + 1, len(models)):
            say("metrics", len(pairs) / n_pairs, f"Q_NN and LCMC: {refs[a]} vs {refs[b]}")
            pairs.append(_pair(models, a, b, pooled, points, preds, params))
    sec["metrics"] = time.perf_counter() - t0
    say("metrics", 1.0, "done")
    labels = model_labels(models[0], dataset)[0] if models[0].has_head else np.full(n, -1, np.int64)
    return ModelComparison(
        model_refs=tuple(refs), label_names=tuple(tuple(m.label_names) for m in models), sample=sample,
        labels=labels, pooled=tuple(pooled), probs=tuple(probs), predictions=tuple(preds), points=tuple(points),
        backgrounds=tuple(bgs), projection_keys=tuple(keys), fidelity=tuple(fids), pairs=tuple(pairs),
        params=params, seconds=sec, notes=tuple(notes))


__all__ = ["CompareParams", "ComparisonError", "ModelComparison", "PairComparison", "SpaceComparison",
           "align_predictions", "check_ks", "compare_spaces", "knn_indices", "lcmc", "linear_cka",
           "neighbour_overlap_per_point", "pair_matrices", "q_nn", "run_comparison", "trained_dataset"]
