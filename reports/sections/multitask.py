"""``multitask``: do the tasks of a multi-task model organise its shared encoder alike (task synergy)?

A multi-task model has one shared encoder and one head per task (``core.models.multitask``). The same
held-out texts of every task are projected with DeepView under each task's head; the primary number
is Q_NN@k between those projections (how many of each text's k nearest neighbours two heads' maps
share). Beside it: LCMC (Q_NN above chance), transfer probes (how well one head's outputs predict
another task's labels), linear CKA of the heads' hidden activations, each task's own projection
fidelity and a joint map of all texts (``core.analyses.synergy.run_synergy``, disk-cached projections). The
section names its model itself (``model``, default ``demo:multitask-pretrained``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analyses.synergy import SynergyParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import for_print

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.synergy import SynergyResult
    from core.models.multitask import MultiTaskModel
    from reports.context import ReportContext


@dataclass(frozen=True)
class MultitaskParams(Params):
    """The ``multitask`` section's parameters (``n_per_task``, ``k`` and ``lam`` as :class:`SynergyParams`
    declares them)."""

    model: str = param("demo:multitask-pretrained", "a multi-task model with two or more tasks (one shared "
                       "encoder, one head per task): demo:multitask-pretrained, demo:multitask-finetuned or a folder "
                       "written by `python -m core multitask train`")
    n_per_task: int = same_param(SynergyParams, "n_per_task", help="held-out texts of each task (random sample "
                                 "with the report's seed from the test split of the task's dataset)")
    k: int = same_param(SynergyParams, "k")
    lam: float = same_param(SynergyParams, "lam")


@register("multitask", title="Multi-task synergy", params=MultitaskParams)
def compute(ctx: "ReportContext", p: MultitaskParams) -> dict:
    """How much the tasks of a multi-task model share: Q_NN of task-specific projections, transfer, CKA."""
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.synergy import run_synergy
    from core.foundation.errors import BackboneLensError
    from core.models.refs import load_multitask
    from reports.sections.shared import local_ref

    ref = ctx.spec.model_ref(p.model)  # a name of the spec's models
    context: dict[str, Any] = {"model_ref": ref, "seed": ctx.spec.seed, "n_per_task_requested": p.n_per_task,
                               "k": p.k}
    try:
        def load():
            ctx.say("load", 0.0, f"loading multi-task model {ref}")
            return load_multitask(local_ref(ctx, ref))

        mt = ctx._once(f"load_multitask:{ref}", load)
        if len(mt.tasks) < 2:  # the same rule as run_synergy(), said before anything is embedded
            raise BackboneLensError(f"{ref} has a single task ({mt.tasks[0]}); task synergy needs a model with two "
                                    "or more tasks, e.g. demo:multitask-pretrained.")
        context["model"] = multitask_facts(mt)
        params = SynergyParams(n_per_task=p.n_per_task, k=p.k, lam=p.lam, seed=ctx.spec.seed)
        res = run_synergy(mt, None, params, projection=ProjectionParams(seed=ctx.spec.seed), progress=ctx.say)
    except BackboneLensError as e:  # not a multi-task model, one task, k too large …: one sentence in the report
        ctx.say("multitask", 1.0, f"synergy not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    return multitask_fragment(res, context=context)


def multitask_facts(mt: "MultiTaskModel") -> dict[str, Any]:
    meta = mt.metadata or {}
    return {"ref": mt.ref, "encoder_fingerprint": mt.base.encoder_fingerprint, "setting": meta.get("setting"),
            "base_model": meta.get("base_model"), "model_type": mt.base.model_type,
            "tasks": [{"task": t, "dataset": mt.datasets[t], "labels": list(mt.label_names[t]),
                       "max_length": mt.max_length_of(t)} for t in mt.tasks]}


# ----------------------------------------------------------------------------- the fragment (pure)


def multitask_fragment(res: "SynergyResult", *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from a computed :class:`core.analyses.synergy.SynergyResult` (pure; no model)."""
    from figures.synergy import joint_projection_chart, matrix_chart

    ctx = {"model": None, "model_ref": res.model_ref, "seed": res.params.get("seed", 0), **(context or {})}
    tasks, T, N, k = list(res.tasks), len(res.tasks), res.n, res.k
    groups = [tasks[i] for i in res.task_ids]
    point_labels = res.point_labels("(no label)")
    n_by_task = {t: int((res.task_ids == i).sum()) for i, t in enumerate(tasks)}
    fig_joint = figure(
        for_print(joint_projection_chart(res.joint_points, groups, point_labels, res.texts, color_by="task",
                                         title=f"All {N:,} held-out texts in one map", width=400, height=250)),
        caption=(f"UMAP of the shared encoder's pooled embeddings of the held-out texts of every task "
                 f"({', '.join(f'{n_by_task[t]:,} {t}' for t in tasks)}; cosine distance), colour and shape = the "
                 "task a text comes from. Look at whether the tasks' texts mix or form separate islands: separate "
                 "islands mean the encoder already tells the datasets apart before any head is applied."),
        alt=f"Scatter plot of {N} texts of the tasks {', '.join(tasks)} in one 2-D map, coloured by task")
    cell = 52 if T <= 3 else 38
    fig_qnn = figure(
        for_print(matrix_chart(res.matrix, tasks, title=f"Q_NN@{k} of the projections",
                               value_title=f"Q_NN@{k}", cell=cell,
                               subtitle=f"{N:,} texts under each head")),
        caption=(f"The primary metric: all {N:,} texts projected with DeepView under each task's head; a cell is "
                 f"the share of a text's {k} nearest neighbours the two maps have in common (chance "
                 f"{k / (N - 1):.2f}). High off the diagonal = the tasks organise the encoder alike."),
        alt=f"Heat map of Q_NN@{k} between the projections of the tasks {', '.join(tasks)}")
    chance = ", ".join(f"{t} {c:.2f}" for t, c in zip(tasks, res.chance))
    fig_transfer = figure(
        for_print(matrix_chart(np.nan_to_num(res.transfer, nan=0.0), tasks, tasks, title="Transfer probes",
                               value_title="accuracy", row_title="head", col_title="labels of task",
                               cell=cell, subtitle="Probe on a head's logits")),
        caption=(f"Row = the head whose logits a logistic regression reads, column = the task whose labels it "
                 f"predicts (5-fold accuracy). Chance: {chance}. Well above chance off the diagonal = one head "
                 "carries information about the other task."),
        alt=f"Heat map of transfer probe accuracy between the tasks {', '.join(tasks)}")
    fig_cka = figure(
        for_print(matrix_chart(res.cka, tasks, title="Linear CKA of the heads", value_title="CKA", cell=cell,
                               subtitle="Hidden activations")),
        caption=(f"Linear CKA between the heads' hidden activations (tanh of the first layer) on the same {N:,} "
                 "texts: 1 = the same up to rotation and scale, 0 = unrelated."),
        alt=f"Heat map of linear CKA between the heads of the tasks {', '.join(tasks)}")
    pairs = []
    for s in range(T):
        for t in range(s + 1, T):
            pairs.append({"a": tasks[s], "b": tasks[t], "q_nn": {str(kk): float(res.q_nn_by_k[i, s, t])
                                                                 for i, kk in enumerate(res.ks)},
                          "lcmc": float(res.lcmc[s, t]), "cka": float(res.cka[s, t]),
                          "transfer_ab": _f(res.transfer[s, t]), "transfer_ba": _f(res.transfer[t, s])})
    per_task = []
    for i, t in enumerate(tasks):
        own = res.per_task[t].fidelity if t in res.per_task else {}
        shared = res.shared_fidelity[i] if i < len(res.shared_fidelity) else {}
        per_task.append({"task": t, "labels": list(res.label_names[i]), "n": n_by_task[t],
                         "dataset": res.params.get("datasets", {}).get(t),
                         "max_length": res.params.get("max_lengths", {}).get(t),
                         "own": {x: own.get(x) for x in ("q_knn_error", "q_data", "trustworthiness", "continuity")},
                         "shared": {x: shared.get(x) for x in ("q_knn_error", "q_data", "trustworthiness",
                                                               "continuity")},
                         "chance": _f(res.chance[i]), "own_probe": _f(res.transfer[i, i]),
                         "full_probe": _f(res.full_probe[i])})
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx, "tasks": tasks, "n": N, "n_by_task": n_by_task, "k": k,
        "ks": list(res.ks), "lam": res.lam, "metric": res.metric, "chance_q_nn": k / (N - 1),
        "matrix": _m(res.matrix), "lcmc": _m(res.lcmc), "transfer": _m(res.transfer), "cka": _m(res.cka),
        "pairs": pairs, "kpi_pairs": _kpi_pairs(pairs, k), "per_task": per_task, "reading": list(res.reading),
        "separation": {"silhouette": _f(res.silhouette), "knn_task_accuracy": _f(res.knn_task_accuracy),
                       "k": res.knn_k},
        "seconds": dict(res.seconds),
        "figure_joint": fig_joint, "figure_qnn": fig_qnn, "figure_transfer": fig_transfer, "figure_cka": fig_cka,
    }
    out["findings"] = _findings(out)
    return out


def _kpi_pairs(pairs: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The pair of tasks closest by Q_NN@k and the most distant one (the only pair of a two-task model)."""
    key = str(k)
    if len(pairs) == 1:
        return [{**pairs[0], "which": "Q_NN"}]
    hi = max(pairs, key=lambda p: p["q_nn"][key])
    lo = min(pairs, key=lambda p: p["q_nn"][key])
    return [{**hi, "which": "closest"}, {**lo, "which": "most distant"}]


def _f(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _m(a: np.ndarray) -> list[list[float | None]]:
    return [[_f(v) for v in row] for row in np.asarray(a)]


def _findings(d: dict[str, Any]) -> list[str]:
    out = list(d["reading"])
    sep = d["separation"]
    if sep["knn_task_accuracy"] is not None:
        acc = sep["knn_task_accuracy"]
        out.append(f"The shared encoder keeps the tasks' texts apart: a vote of each text's {sep['k']} nearest "
                   f"neighbours names its task correctly for {acc:.0%} of the texts (silhouette "
                   f"{sep['silhouette']:.2f})" + (", so the tasks occupy different regions of the embedding space "
                                                   "and overlap in neighbourhoods has to come from the heads."
                                                   if acc >= 0.9 else ", only in part: their texts mix."))
    weak = [p["task"] for p in d["per_task"]
            if (p["own"].get("trustworthiness") or 1) < 0.8 or (p["own"].get("q_knn_error") or 0) > 0.2]
    if weak:
        names = weak[0] if len(weak) == 1 else ", ".join(weak[:-1]) + " and " + weak[-1]
        out.append(f"Read the projection{'s' if len(weak) > 1 else ''} of {names} with care: "
                   f"{'its' if len(weak) == 1 else 'their'} own DeepView map{'s are' if len(weak) > 1 else ' is'} "
                   "not faithful (trustworthiness below 0.8 or Q_kNN error above 20%; see the table).")
    if d["n"] < 200:
        out.append(f"With {d['n']:,} texts in all, Q_NN values a few hundredths apart are within sampling noise.")
    return out
