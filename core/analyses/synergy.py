"""How much the tasks of a multi-task model share.

The primary number is Q_NN@k between the DeepView projections of one shared sample set under each task's
head; beside it LCMC, a transfer probe on each head's logits, and linear CKA of the heads' hidden
activations.

:func:`run_synergy` takes the model, the texts of every task and :class:`SynergyParams`. It is the one
dataset-level analysis that does not take a single :class:`~core.data.sampling.Sample`: a multi-task model's
tasks come from different datasets, so it takes one Sample per task (:func:`task_samples` draws each from
the held-out test split of the task's dataset). No torch at load time (report specs read the params).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Progress, or_silent

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.params import ProjectionParams
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.classifier_heads import MLPHead
    from core.models.loading import LoadedModel
    from core.models.multitask import MultiTaskModel


@dataclass(frozen=True)
class SynergyParams(Params):
    """How the tasks of a multi-task model are compared (one place for the defaults: CLI, report, page)."""

    n_per_task: int = param(150, "held-out texts of each task", minimum=10, maximum=5000)
    k: int = param(10, "neighbourhood size of the primary metric Q_NN@k", minimum=1)
    ks: tuple[int, ...] = param((5, 10, 20), "neighbourhood sizes of the Q_NN table beside it", minimum=1)
    lam: float = param(0.8, "λ of every DeepView projection", minimum=0, maximum=1)
    seed: int = param(0, "seed of the samples, the joint map, the projections and the probes' folds")


PRIMARY_METRIC = "q_nn@{k} of task-specific DeepView projections on shared samples"


@dataclass(frozen=True, eq=False)
class TaskProjection:
    """A task's own DeepView projection of its held-out sample (its head, its texts).

    points: (n, 2) float32; predictions, labels: (n,) int64 (labels −1 = unknown); fidelity: Fidelity.to_dict().
    """

    task: str
    points: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    fidelity: dict
    key: str


@dataclass(frozen=True, eq=False)
class SynergyResult:
    """How much the tasks of a multi-task model organise one shared representation alike.

    N = Σ n_t samples of all tasks; T tasks. ``task_ids``: (N,) int64 index into ``tasks``; ``labels``: (N,)
    label ids within each sample's own task; ``joint_points``: (N, 2) float32 UMAP of the shared embeddings.
    ``shared_points``: (T, N, 2) float32, the DeepView projection of all N samples under head s;
    ``matrix``: (T, T) Q_NN@k between ``shared_points[s]`` and ``shared_points[t]`` (the primary metric);
    ``lcmc``: (T, T) = matrix − k / (N − 1); ``q_nn_by_k``: (len(ks), T, T).
    ``transfer``: (T, T) rows = source head s, columns = target task t: 5-fold CV accuracy of a logistic
    probe reading head s's logits on task t's samples; ``chance``: (T,) majority share of task t;
    ``full_probe``: (T,) the probe on the full pooled embedding. ``cka``: (T, T) linear CKA of the heads'
    hidden activations tanh(dense(x)) on the N samples. ``params``: the settings as run (JSON); ``samples``:
    each task's texts and why.
    """

    model_ref: str
    tasks: tuple[str, ...]
    label_names: tuple[tuple[str, ...], ...]
    metric: str
    k: int
    ks: tuple[int, ...]
    lam: float
    texts: tuple[str, ...]
    task_ids: np.ndarray
    labels: np.ndarray
    joint_points: np.ndarray
    shared_points: np.ndarray
    matrix: np.ndarray
    lcmc: np.ndarray
    q_nn_by_k: np.ndarray
    transfer: np.ndarray
    chance: np.ndarray
    full_probe: np.ndarray
    cka: np.ndarray
    silhouette: float
    knn_task_accuracy: float
    knn_k: int
    per_task: dict[str, TaskProjection]
    shared_fidelity: tuple[dict, ...]
    reading: tuple[str, ...]
    seconds: dict[str, float]
    params: dict = field(default_factory=dict)
    samples: Mapping[str, "Sample"] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.texts)

    def point_labels(self, unknown: str = "–") -> list[str]:
        """"task: label" of each of the N texts (``unknown`` for a text without a label)."""
        return [f"{self.tasks[t]}: {self.label_names[t][y]}" if y >= 0 else f"{self.tasks[t]}: {unknown}"
                for t, y in zip(self.task_ids, self.labels)]

    def q_nn_rows(self) -> list[dict[str, float]]:
        """One row per k of ``ks``: Q_NN between the maps of every pair of tasks (column "a vs b")."""
        T = len(self.tasks)
        return [{"k": kk, **{f"{self.tasks[a]} vs {self.tasks[b]}": float(q[a, b])
                             for a in range(T) for b in range(a + 1, T)}} for kk, q in zip(self.ks, self.q_nn_by_k)]

    def fidelity_rows(self) -> list[dict[str, Any]]:
        """One row per task: its own map's fidelity (q_knn, q_data, trust, cont) and that of the map of all
        texts under its head (shared_q_knn, shared_trust)."""
        rows = []
        for i, t in enumerate(self.tasks):
            own, shared = self.per_task[t].fidelity, self.shared_fidelity[i]
            rows.append({"task": t, "n": len(self.per_task[t].points), "q_knn": own.get("q_knn_error"),
                         "q_data": own.get("q_data"), "trust": own.get("trustworthiness"),
                         "cont": own.get("continuity"), "shared_q_knn": shared.get("q_knn_error"),
                         "shared_trust": shared.get("trustworthiness")})
        return rows

    def to_json(self) -> dict[str, Any]:
        def mat(a: np.ndarray) -> list:
            return [[_num(v) for v in row] for row in np.asarray(a)]

        return {"model": self.model_ref, "tasks": list(self.tasks), "metric": self.metric, "k": self.k,
                "ks": list(self.ks), "lam": self.lam, "n": self.n,
                "matrix": mat(self.matrix), "lcmc": mat(self.lcmc),
                "q_nn_by_k": {str(k): mat(m) for k, m in zip(self.ks, self.q_nn_by_k)},
                "transfer": {"matrix": mat(self.transfer), "chance": [_num(v) for v in self.chance],
                             "full_probe": [_num(v) for v in self.full_probe],
                             "rows": "source head", "columns": "target task"},
                "cka": mat(self.cka),
                "dataset_separation": {"silhouette": _num(self.silhouette),
                                       "knn_task_accuracy": _num(self.knn_task_accuracy), "k": self.knn_k},
                "per_task": {t: {"n": int(len(p.points)),
                                 "fidelity": {k: _num(v) if isinstance(v, float) else v for k, v in p.fidelity.items()}}
                             for t, p in self.per_task.items()},
                "shared_fidelity": {t: {k: _num(v) if isinstance(v, float) else v for k, v in f.items()}
                                    for t, f in zip(self.tasks, self.shared_fidelity)},
                "reading": list(self.reading), "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "params": self.params}


def _num(v: Any) -> float | None:
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def task_samples(mt: "MultiTaskModel", n: int = SynergyParams.n_per_task, *, seed: int = 0) -> dict[str, "Sample"]:
    """``n`` texts of every task of ``mt`` drawn with ``seed`` from the held-out test split of the task's dataset
    (the split seed the model recorded; a multi-task model is trained on the training split of each task)."""
    from core.data.refs import load_dataset
    from core.data.sampling import draw

    if n < 10:
        raise BackboneLensError(f"Synergy needs at least 10 texts per task, got {n}.")
    out = {}
    for t in mt.tasks:
        own = mt.metadata.get("tasks", {}).get(t, {})
        split_seed = int(own.get("split", mt.metadata.get("split", {})).get("seed", 0))
        out[t] = draw(load_dataset(mt.datasets[t]), n, seed=seed, split="test", split_seed=split_seed,
                      trained_by=f"{mt.ref}#{t}", models=(f"{mt.ref}#{t}",))
    return out


def _probe_accuracy(F: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> float:
    """Mean stratified-CV accuracy of a standardised logistic regression from F (n, f) to labels y (n,)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = y >= 0
    F, y = F[keep], y[keep]
    counts = np.bincount(y)
    ok = np.isin(y, np.flatnonzero(counts >= 2))  # a class seen once cannot be split across folds
    F, y = F[ok], y[ok]
    present = np.bincount(y)[np.bincount(y) > 0]
    if len(present) < 2:
        return float("nan")
    cv = StratifiedKFold(n_splits=int(min(folds, present.min())), shuffle=True, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(probe, F, y, cv=cv, scoring="accuracy").mean())


def _head_outputs(head: "MLPHead", X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), hidden activations tanh(dense(x)) (N, h)) with dropout off."""
    import torch

    dev = next(head.parameters()).device
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(dev)
        hidden = torch.tanh(head.dense(x))
        return head.out(hidden).float().cpu().numpy(), hidden.float().cpu().numpy()


def _pairs_text(tasks: Sequence[str], pair: tuple[int, int]) -> str:
    return f"{tasks[pair[0]]} and {tasks[pair[1]]}"


def synergy_reading(tasks: Sequence[str], matrix: np.ndarray, lcmc: np.ndarray, cka: np.ndarray,
                    transfer: np.ndarray, chance: np.ndarray, full_probe: np.ndarray, *, k: int,
                    n: int) -> tuple[str, ...]:
    """Plain sentences generated from the numbers (no conclusion is fixed in advance)."""
    T = len(tasks)
    pairs = [(s, t) for s in range(T) for t in range(s + 1, T)]
    best = max(pairs, key=lambda p: matrix[p])
    out = []
    if T == 2:
        out.append(f"The DeepView projections of the same {n} texts under the {tasks[0]} and the {tasks[1]} head "
                   f"share {matrix[best]:.0%} of each text's {k} nearest neighbours (Q_NN@{k} = {matrix[best]:.2f}).")
    else:
        worst = min(pairs, key=lambda p: matrix[p])
        out.append(f"By Q_NN@{k} of the task-specific DeepView projections of the same {n} texts, the closest "
                   f"tasks are {_pairs_text(tasks, best)} ({matrix[best]:.2f}) and the most distant "
                   f"{_pairs_text(tasks, worst)} ({matrix[worst]:.2f}).")
    above = [p for p in pairs if lcmc[p] > 0]
    lo = min(pairs, key=lambda p: lcmc[p])
    if T == 2:
        out.append(f"LCMC, the overlap beyond what random neighbourhoods share, is {lcmc[best]:+.2f}: "
                   + ("above chance (0)." if lcmc[best] > 0 else "not above chance (0)."))
    else:
        out.append(f"LCMC is above chance (0) for {len(above)} of {len(pairs)} pairs (lowest: "
                   f"{_pairs_text(tasks, lo)}, {lcmc[lo]:+.2f}).")
    best_cka = max(pairs, key=lambda p: cka[p])
    if T == 2:
        out[-1] += f" Linear CKA of the two heads' hidden activations on these texts is {cka[best_cka]:.2f}."
    else:
        same = "the same pair as" if best_cka == best else "not the pair closest by"
        out.append(f"By linear CKA of the heads' hidden activations the closest tasks are "
                   f"{_pairs_text(tasks, best_cka)} ({cka[best_cka]:.2f}), {same} Q_NN.")
    off = [(s, t) for s in range(T) for t in range(T) if s != t and np.isfinite(transfer[s, t])]
    if off:
        def say(st: tuple[int, int]) -> str:
            s, t = st
            return (f"the {tasks[s]} head's logits predict {tasks[t]} labels at {transfer[s, t]:.2f} "
                    f"(chance {chance[t]:.2f}, full embedding {full_probe[t]:.2f})")
        margin = {st: transfer[st] - chance[st[1]] for st in off}
        n_above = sum(m > 0.02 for m in margin.values())
        if len(off) <= 2:
            text = "; ".join(say(st) for st in off)
        else:
            hi, lo2 = max(off, key=margin.get), min(off, key=margin.get)
            text = f"best, {say(hi)}; weakest, {say(lo2)}"
        out.append(f"Transfer probes beat chance by more than 0.02 in {n_above} of {len(off)} cross-task cases: "
                   f"{text}.")
    return tuple(out)


def _joint_map(mt: "MultiTaskModel", X: np.ndarray, task_ids: np.ndarray, sample_parts: list, seed: int,
               n_epochs: int, cache: "ArrayCache") -> tuple[np.ndarray, float, float, int]:
    """UMAP (N, 2) of the shared embeddings X (N, d) (cached), and how far the encoder keeps the tasks apart:
    (points, silhouette of the task ids, share of texts whose k nearest neighbours mostly share their task, k)."""
    import warnings

    from sklearn.metrics import silhouette_score

    from core.analyses.compare import knn_indices

    N = len(X)
    umap_params = {"n_neighbors": min(15, N - 1), "min_dist": 0.1, "metric": "cosine", "random_state": seed,
                   "n_epochs": n_epochs}

    def joint_map():
        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {"points": umap.UMAP(**umap_params).fit_transform(X).astype(np.float32)}, {}

    joint = cache.get_or_compute(
        "synergy-joint-map", {"encoder": mt.base.encoder_fingerprint, "pooling": mt.base.pooling,
                              "samples": sample_parts, **umap_params},
        joint_map, description=f"{mt.ref}: joint map of {N} texts").arrays["points"]
    sil = float(silhouette_score(X, task_ids, metric="cosine"))
    kk = min(10, N - 2)
    nb = knn_indices(X, kk, metric="cosine")
    votes = np.zeros((N, len(mt.tasks)), np.int64)
    np.add.at(votes, (np.repeat(np.arange(N), kk), task_ids[nb].ravel()), 1)
    return joint, sil, float((votes.argmax(1) == task_ids).mean()), kk


def _shared_projection(view: "LoadedModel", head: "MLPHead", X: np.ndarray, logits: np.ndarray, lam: float,
                       settings: "ProjectionParams", parts: dict, cache: "ArrayCache") -> tuple[np.ndarray, dict]:
    """The DeepView projection (N, 2) of all shared texts X (N, d) under one task's head (cached), and its
    fidelity; ``logits``: (N, C) the head's outputs on X."""
    from core.analyses.projection.distances import compute_distance_graph
    from core.analyses.projection.layout import project

    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)

    def compute():
        g = compute_distance_graph(X, head, predictions=probs.argmax(1), metric=settings.metric,
                                   n_interp=settings.n_interp, exact=settings.exact,
                                   n_neighbors=settings.n_neighbors, k_own=settings.k_own,
                                   k_other=settings.k_other, seed=settings.seed)
        p = project(g, X, head, lam, probs=probs, n_neighbors=settings.n_neighbors,
                    min_dist=settings.min_dist, resolution=settings.resolution, k=settings.k,
                    k_tc=settings.k_tc, seed=settings.seed, n_epochs=settings.n_epochs)
        return {"points": p.points, "predictions": p.predictions}, {"fidelity": p.fidelity.to_dict()}

    entry = cache.get_or_compute(
        "synergy-projection", {"model": view.fingerprint, **parts, "lam": round(lam, 6), **settings.graph_parts(),
                               **settings.embed_parts()},
        compute, description=f"{view.ref}: shared synergy projection n={len(X)} λ={lam:g}")
    return np.asarray(entry.arrays["points"], dtype=np.float32), dict(entry.meta["fidelity"])


def _probes(X: np.ndarray, y: np.ndarray, task_ids: np.ndarray, logits: Sequence[np.ndarray], seed: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transfer probes: (transfer (T, T), chance (T,), full-embedding probe (T,)); rows of ``transfer`` = the
    head whose ``logits`` (N, C_s) are read, columns = the task whose labels y (N,) are predicted."""
    T = len(logits)
    transfer = np.full((T, T), np.nan)
    chance, full = np.zeros(T), np.zeros(T)
    for j in range(T):
        m = task_ids == j
        yt = y[m]
        lab = yt[yt >= 0]
        chance[j] = np.bincount(lab).max() / len(lab) if len(lab) else np.nan
        full[j] = _probe_accuracy(X[m], yt, seed)
        for i in range(T):
            transfer[i, j] = _probe_accuracy(logits[i][m], yt, seed)
    return transfer, chance, full


def run_synergy(mt: "MultiTaskModel", samples: Mapping[str, "Sample"] | None = None,
                params: SynergyParams = SynergyParams(), *, projection: "ProjectionParams | None" = None,
                cache: "ArrayCache | None" = None, progress: Progress | None = None) -> SynergyResult:
    """Compare the tasks of ``mt`` on one shared sample set: the texts of every task together.

    ``samples``: task → its texts (every task of ``mt``); None draws ``params.n_per_task`` held-out texts of
    each task (:func:`task_samples`). ``projection``: how to project (its λ replaced by ``params.lam``; default
    seeded with ``params.seed``).
    """
    from core.analyses.compare import check_ks, compare_spaces, linear_cka
    from core.analyses.projection.distances import check_lambda
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import run_projection
    from core.foundation.cache import ArrayCache
    from core.models.embeddings import extract_embeddings
    from core.models.evaluate import map_labels

    tasks = mt.tasks
    if len(tasks) < 2:
        raise BackboneLensError(f"Synergy needs at least two tasks; {mt.ref} has one ({tasks[0]}).")
    if params.n_per_task < 10:
        raise BackboneLensError(f"Synergy needs at least 10 texts per task, got {params.n_per_task}.")
    lam, k, seed = check_lambda(params.lam), int(params.k), int(params.seed)
    settings = dataclasses.replace(projection or ProjectionParams(seed=seed), lam=lam)
    cache = cache or ArrayCache()
    say = or_silent(progress)
    sec: dict[str, float] = {}
    t0 = time.perf_counter()
    if samples is None:
        samples = task_samples(mt, params.n_per_task, seed=seed)
    missing = [t for t in tasks if t not in samples]
    if missing:
        raise BackboneLensError(f"No samples given for task(s) {', '.join(missing)} of {mt.ref}.")
    datasets = {t: samples[t].dataset for t in tasks}

    # a. shared embeddings, each task's texts at its own token limit ----------------------------------
    views = {t: mt.for_task(t) for t in tasks}
    embs, Xs, ids, labels = {}, [], [], []
    for i, t in enumerate(tasks):
        say("embeddings", i / len(tasks), f"embedding {len(datasets[t]):,} held-out {t} texts")
        embs[t] = extract_embeddings(views[t], datasets[t], cache=cache)
        Xs.append(embs[t].pooled)
        ids.append(np.full(len(datasets[t]), i, np.int64))
        labels.append(map_labels(views[t], datasets[t]).astype(np.int64))
    X = np.concatenate(Xs).astype(np.float32)
    task_ids, y = np.concatenate(ids), np.concatenate(labels)
    N = len(X)
    all_ks = check_ks(tuple(params.ks) + (k,), N)
    sec["embeddings"] = time.perf_counter() - t0

    # b. joint map and how far the encoder keeps the tasks' texts apart ------------------------------
    t0 = time.perf_counter()
    say("joint map", 0.0, f"UMAP of all {N:,} texts")
    sample_parts = [[t, datasets[t].fingerprint, mt.max_length_of(t)] for t in tasks]
    joint, sil, knn_acc, kk = _joint_map(mt, X, task_ids, sample_parts, seed, settings.n_epochs, cache)
    sec["joint_map"] = time.perf_counter() - t0

    # c. each task's own DeepView projection of its own held-out texts ---------------------------------
    t0 = time.perf_counter()
    per_task: dict[str, TaskProjection] = {}
    for i, t in enumerate(tasks):
        say("projections", i / len(tasks), f"DeepView projection of {t} (λ = {lam:g})")
        run = run_projection(views[t], samples[t], settings, cache=cache, emb=embs[t])
        per_task[t] = TaskProjection(t, run.projection.points, run.projection.predictions.astype(np.int64),
                                     run.labels, run.fidelity.to_dict(), run.key)
    sec["task_projections"] = time.perf_counter() - t0

    # d. the synergy matrix: projections of the shared samples under each head --------------------------
    t0 = time.perf_counter()
    outputs = {t: _head_outputs(mt.heads[t], X) for t in tasks}
    shared, shared_fid = [], []
    for i, t in enumerate(tasks):
        say("synergy", i / len(tasks), f"DeepView projection of all {N:,} texts under the {t} head")
        pts, fid = _shared_projection(views[t], mt.heads[t], X, outputs[t][0], lam, settings,
                                      {"samples": sample_parts, "pooling": mt.base.pooling}, cache)
        shared.append(pts)
        shared_fid.append(fid)
    T = len(tasks)
    q_by_k = np.zeros((len(all_ks), T, T))
    for a in range(T):
        for b in range(a, T):
            q_by_k[:, a, b] = q_by_k[:, b, a] = compare_spaces(shared[a], shared[b], all_ks, metric="euclidean").q_nn
    matrix = q_by_k[all_ks.index(k)].copy()
    lcmc_m = matrix - k / (N - 1)
    sec["synergy"] = time.perf_counter() - t0

    # e. transfer probes on each head's logits; f. CKA of the heads' hidden activations ---------------
    t0 = time.perf_counter()
    say("transfer", 0.0, "logistic-regression probes")
    transfer, chance, full = _probes(X, y, task_ids, [outputs[t][0] for t in tasks], seed)
    cka = np.array([[linear_cka(outputs[s][1], outputs[t][1]) for t in tasks] for s in tasks])
    sec["transfer_cka"] = time.perf_counter() - t0
    say("done", 1.0, "synergy computed")
    reading = synergy_reading(tasks, matrix, lcmc_m, cka, transfer, chance, full, k=k, n=N)
    return SynergyResult(
        model_ref=mt.ref, tasks=tasks, label_names=tuple(mt.label_names[t] for t in tasks),
        metric=PRIMARY_METRIC.format(k=k), k=k, ks=all_ks, lam=lam,
        texts=tuple(x for t in tasks for x in datasets[t].texts), task_ids=task_ids, labels=y,
        joint_points=joint, shared_points=np.stack(shared), matrix=matrix, lcmc=lcmc_m, q_nn_by_k=q_by_k,
        transfer=transfer, chance=chance, full_probe=full, cka=cka, silhouette=sil, knn_task_accuracy=knn_acc,
        knn_k=kk, per_task=per_task, shared_fidelity=tuple(shared_fid), reading=reading, seconds=sec,
        params={"n_per_task": {t: len(datasets[t]) for t in tasks}, "seed": seed,
                "max_lengths": {t: mt.max_length_of(t) for t in tasks}, "settings": settings.settings(),
                "datasets": {t: datasets[t].name for t in tasks}},
        samples={t: samples[t] for t in tasks})


__all__ = ["PRIMARY_METRIC", "SynergyParams", "SynergyResult", "TaskProjection", "run_synergy", "synergy_reading",
           "task_samples"]
