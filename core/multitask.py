"""Multi-task models (one shared encoder, one MLP head per task) and how much their tasks share.

* :class:`MultiTaskModel` – the shared encoder with a head, label names, dataset and token limit per
  task; :meth:`MultiTaskModel.for_task` gives one task as an ordinary :class:`LoadedModel`, so every
  analysis (projection, saliency, evaluation) runs on it. ``load_model("REF#task")`` does the same.
* Storage: ``save_pretrained`` files of the encoder, the tokenizer, ``heads/<task>.safetensors`` and a
  ``backbone_lens.json`` of format ``backbone-lens-multitask/1``; written atomically.
* :func:`train_multitask` – the demo's two settings for several bundled tasks at once: ``pretrained``
  (one head per task on the frozen encoder) and ``finetuned`` (encoder and all heads together, starting
  from the pre-trained heads).
* :func:`synergy` – whether the tasks organise the shared representation alike. The primary number is
  Q_NN@k between the DeepView projections of one shared sample set under each task's head; beside it
  LCMC, a transfer probe on each head's logits, and linear CKA of the heads' hidden activations.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from core.cache import ArrayCache
from core.data import TextDataset, load_dataset, sample, take_split
from core.errors import BackboneLensError, ModelError
from core.heads import MLPHead
from core.models import (META_FILE, MULTITASK_DEMO_MODELS, MULTITASK_FORMAT, LoadedModel, demo_root,
                         load_model, load_model_files, read_metadata, replace_folder, split_task_ref)
from core.training import SETTINGS, TrainConfig, TrainResult, attach_head, finetune_multitask, train_pretrained_head

StepProgress = Callable[[str, float, str], None]  # (stage, fraction 0..1, message)
TASKS = {"bbc": "bundled:bbc", "tweets": "bundled:tweets", "snli": "bundled:snli"}
HEADS_DIR = "heads"
PRIMARY_METRIC = "q_nn@{k} of task-specific DeepView projections on shared samples"
_TASK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _quiet(stage: str, frac: float, msg: str) -> None:
    return None


# ----------------------------------------------------------------------------- the model


@dataclass(eq=False)
class MultiTaskModel:
    """One shared encoder (``base``, whose own head is None) with one :class:`MLPHead` per task.

    ``label_names``, ``datasets`` (dataset references) and ``max_lengths`` (token limit used when embedding
    the task's texts; default the encoder's) are keyed by task, in the order of ``heads``.
    """

    base: LoadedModel
    heads: dict[str, MLPHead]
    label_names: dict[str, tuple[str, ...]]
    datasets: dict[str, str]
    metadata: dict = field(default_factory=dict)
    max_lengths: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.heads:
            raise BackboneLensError("A multi-task model needs at least one task head.")
        for t in self.heads:
            if not _TASK_NAME.fullmatch(t):
                raise BackboneLensError(f"Task name '{t}' may only hold letters, digits, '.', '_' and '-'.")
            if t not in self.label_names or t not in self.datasets:
                raise BackboneLensError(f"Task '{t}' has a head but no label names or dataset reference.")
            if len(self.label_names[t]) != self.heads[t].num_labels:
                raise BackboneLensError(f"Task '{t}' has {len(self.label_names[t])} label names for a head with "
                                        f"{self.heads[t].num_labels} outputs.")

    @property
    def ref(self) -> str:
        return self.base.ref

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.heads)

    def max_length_of(self, task: str) -> int:
        return int(self.max_lengths.get(task) or self.base.max_length)

    def task_metadata(self, task: str) -> dict[str, Any]:
        """What a single task's classifier records: the shared facts plus the task's own (dataset, split …)."""
        shared = {k: v for k, v in self.metadata.items() if k not in ("tasks", "format")}
        own = dict(self.metadata.get("tasks", {}).get(task, {}))
        return {**shared, **own, "format": "backbone-lens-classifier/1", "task": task,
                "label_names": list(self.label_names[task]), "max_length": self.max_length_of(task),
                "multitask": {"model": self.ref, "task": task, "tasks": list(self.tasks)}}

    def for_task(self, task: str) -> LoadedModel:
        """The shared encoder with ``task``'s head: an ordinary classifier (encoder shared, not copied)."""
        if task not in self.heads:
            raise BackboneLensError(f"{self.ref} has no task '{task}'; its tasks are {', '.join(self.tasks)}.")
        view = attach_head(self.base, self.heads[task], self.label_names[task])
        view.ref = f"{self.base.ref}#{task}"
        view.max_length = self.max_length_of(task)
        view.metadata = self.task_metadata(task)
        return view


# ----------------------------------------------------------------------------- storage


def _check_target(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / META_FILE).exists())):
        raise BackboneLensError(f"{folder} exists and is not a Backbone Lens model folder; it is left untouched.")


def save_multitask(mt: MultiTaskModel, folder: str | Path) -> Path:
    """Write encoder (safetensors), tokenizer, one head file per task and the metadata to ``folder`` atomically.

    An existing ``folder`` is replaced only if it is a Backbone Lens model folder.
    """
    from safetensors.torch import save_file

    folder = Path(folder).expanduser()
    _check_target(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        mt.base.encoder.save_pretrained(tmp, safe_serialization=True)
        mt.base.tokenizer.save_pretrained(tmp)
        (tmp / HEADS_DIR).mkdir()
        tasks_meta: dict[str, dict] = {}
        for t in mt.tasks:
            h = mt.heads[t]
            save_file({k: v.detach().cpu().contiguous() for k, v in h.state_dict().items()},
                      str(tmp / HEADS_DIR / f"{t}.safetensors"))
            own = dict(mt.metadata.get("tasks", {}).get(t, {}))
            tasks_meta[t] = {**own, "label_names": list(mt.label_names[t]), "dataset": mt.datasets[t],
                             "head": {"type": "mlp", "dim": h.dim, "num_labels": h.num_labels, "hidden": h.hidden,
                                      "dropout": float(h.dropout.p)},
                             "pair": bool(own.get("pair", False)), "max_length": mt.max_length_of(t),
                             "heldout": own.get("heldout")}
        meta = {**mt.metadata, "format": MULTITASK_FORMAT, "tasks": tasks_meta, "setting": mt.metadata.get("setting"),
                "pooling": mt.base.pooling, "max_length": max(mt.max_length_of(t) for t in mt.tasks)}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_multitask(ref: str) -> bool:
    return read_metadata(split_task_ref(ref)[0]).get("format") == MULTITASK_FORMAT


def load_multitask(ref: str, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
                   attn_implementation: str | None = None) -> MultiTaskModel:
    """Load a folder written by :func:`save_multitask` (``demo:multitask-…`` or a path; a ``#task`` suffix is
    ignored: the whole model is loaded)."""
    from safetensors.torch import load_file

    base_ref, _ = split_task_ref(ref)
    meta = read_metadata(base_ref)
    if meta.get("format") != MULTITASK_FORMAT:
        raise ModelError(f"{base_ref} is not a multi-task model; train one with `python -m core multitask train`.")
    base = load_model_files(base_ref, device=device, trust_remote_code=trust_remote_code,
                            attn_implementation=attn_implementation)
    assert base.path is not None
    heads: dict[str, MLPHead] = {}
    for t, tm in meta.get("tasks", {}).items():
        f = base.path / HEADS_DIR / f"{t}.safetensors"
        if not f.is_file():
            raise ModelError(f"{base_ref} lists task '{t}' but has no {HEADS_DIR}/{t}.safetensors.")
        hs = tm["head"]
        head = MLPHead(hs["dim"], hs["num_labels"], hs.get("hidden"), hs.get("dropout", 0.1))
        head.load_state_dict(load_file(str(f)))
        heads[t] = head.to(base.device).eval()
    base.head, base.label_names = None, ()
    tasks = meta.get("tasks", {})
    return MultiTaskModel(base=base, heads=heads, label_names={t: tuple(tm["label_names"]) for t, tm in tasks.items()},
                          datasets={t: tm["dataset"] for t, tm in tasks.items()}, metadata=meta,
                          max_lengths={t: int(tm["max_length"]) for t, tm in tasks.items() if tm.get("max_length")})


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TaskPlan:
    """Sample sizes and token limit of one bundled task under one demo profile (None = all)."""

    pre_n: int | None
    ft_n: int
    max_length: int
    eval_n: int | None


_SNLI = {"full": TaskPlan(8000, 2560, 64, 2000), "small": TaskPlan(600, 96, 64, 200)}


def task_plan(task: str, profile: str) -> TaskPlan:
    """The demo's sizes for bbc / tweets (core.demo.PROFILES); SNLI sized like the tweets."""
    from core.demo import PROFILES

    if task == "snli":
        return _SNLI[profile]
    P = PROFILES[profile]
    return TaskPlan(P.pre_n[task], P.ft_n[task], P.max_length[task], P.eval_n[task])


def check_tasks(tasks: str | Sequence[str]) -> tuple[str, ...]:
    """'bbc,tweets' or a sequence → validated task names (bundled tasks, no repeats, at least two)."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t and t.strip()]
    for t in names:
        if t not in TASKS:
            raise BackboneLensError(f"Unknown task '{t}'; choose from {', '.join(TASKS)}.")
    if len(set(names)) < len(names):
        raise BackboneLensError(f"A task is named twice in {', '.join(names)}.")
    if len(names) < 2:
        raise BackboneLensError("A multi-task model needs at least two tasks, got "
                                f"{'none' if not names else 'one (' + names[0] + ')'}.")
    return tuple(names)


def _record(res: TrainResult, cfg: TrainConfig, **extra: Any) -> dict:
    return {**cfg.__dict__, "epochs_run": res.epochs_run, "best": res.best_epoch, "stopped_by": res.stopped_by,
            "seconds": round(res.seconds, 1), "val_accuracy": res.val_accuracy, "val_loss": res.val_loss, **extra}


def _pretrained_heads(base: LoadedModel, tasks: tuple[str, ...], train: dict[str, TextDataset],
                      val: dict[str, TextDataset], plans: dict[str, TaskPlan], per_head_seconds: float | None,
                      say: StepProgress) -> tuple[dict[str, MLPHead], dict[str, dict]]:
    heads, records = {}, {}
    for t in tasks:
        ml = plans[t].max_length
        # the demo's configuration, so that a head here equals the demo's single-task head
        cfg = TrainConfig(setting="pretrained", seed=0, epochs=300, lr=2e-3, patience=15, max_length=ml,
                          max_seconds=per_head_seconds)
        base.max_length = ml
        say(f"head:{t}", 0.0, f"embedding {len(train[t]):,} {t} training texts with the frozen encoder")
        head, res = train_pretrained_head(
            base, train[t], val[t], cfg,
            progress=lambda e, n, i, t=t: say(f"head:{t}", e / n, f"epoch {e}: val acc {i['val_accuracy']:.3f}"))
        heads[t] = head
        records[t] = _record(res, cfg, n_train=len(train[t]))
    return heads, records


def _reusable_pretrained(tasks: tuple[str, ...], profile: str, base_ref: str) -> MultiTaskModel | None:
    folder = demo_root() / "multitask-pretrained"
    if not (folder / META_FILE).exists():
        return None
    meta = json.loads((folder / META_FILE).read_text("utf-8"))
    if (meta.get("format") != MULTITASK_FORMAT or tuple(meta.get("tasks", {})) != tasks
            or meta.get("profile") != profile or meta.get("base_model") != base_ref):
        return None
    return load_multitask("demo:multitask-pretrained")


def train_multitask(tasks: str | Sequence[str] = ("bbc", "tweets"), setting: str = "pretrained", *,
                    out: str | Path | None = None, profile: str = "full", max_seconds: float | None = None,
                    progress: StepProgress | None = None) -> MultiTaskModel:
    """Train a multi-task model on bundled tasks with the demo's data splits and settings, evaluate each task
    on its held-out test split and save it (default ``<demo>/multitask-<setting>``, replaced atomically).

    ``max_seconds``: the fine-tuning budget (default: the profile's per-model budget × the number of tasks);
    in the pre-trained setting each head gets ``max_seconds / tasks``.
    """
    from core.demo import BASE, PROFILES, SPLIT_SEED
    from core.evaluate import evaluate_model

    tasks = check_tasks(tasks)
    if setting not in SETTINGS:
        raise BackboneLensError(f"Unknown setting '{setting}'; choose one of: {', '.join(SETTINGS)}.")
    if profile not in PROFILES:
        raise BackboneLensError(f"Unknown profile '{profile}'; choose one of: {', '.join(PROFILES)}.")
    if max_seconds is not None and not max_seconds > 0:
        raise BackboneLensError(f"The time budget must be positive, got {max_seconds:g} seconds.")
    folder = Path(out).expanduser() if out else demo_root() / f"multitask-{setting}"
    _check_target(folder)
    say = progress or _quiet
    t_all = time.perf_counter()
    P = PROFILES[profile]
    plans = {t: task_plan(t, profile) for t in tasks}
    data = {t: load_dataset(TASKS[t]) for t in tasks}
    splits = {t: {s: take_split(ds, s, seed=SPLIT_SEED) for s in ("train", "validation")} for t, ds in data.items()}
    val = {t: sample(splits[t]["validation"], 400 if profile == "full" else 80, seed=3) for t in tasks}
    pre_train = {t: sample(splits[t]["train"], plans[t].pre_n, seed=3) if plans[t].pre_n else splits[t]["train"]
                 for t in tasks}
    split_meta = {"method": "hash", "seed": SPLIT_SEED, "fractions": [0.7, 0.1, 0.2]}
    tasks_meta: dict[str, dict] = {t: {"dataset": TASKS[t], "data_fingerprint": data[t].source_fingerprint,
                                       "split": split_meta, "pair": data[t].is_pair,
                                       "max_length": plans[t].max_length, "n_validation": len(val[t])}
                                   for t in tasks}
    training: dict[str, Any] = {}
    if setting == "pretrained":
        encoder_model = load_model(BASE)
        heads, records = _pretrained_heads(encoder_model, tasks, pre_train, val, plans,
                                           None if max_seconds is None else max_seconds / len(tasks), say)
        training["heads"] = records
        for t in tasks:
            tasks_meta[t]["n_train"] = len(pre_train[t])
    else:
        reuse = _reusable_pretrained(tasks, profile, BASE)
        if reuse is not None:
            say("heads", 1.0, "starting from the heads of demo:multitask-pretrained")
            init_heads, training["init_heads"] = reuse.heads, "demo:multitask-pretrained"
        else:
            init_heads, records = _pretrained_heads(load_model(BASE), tasks, pre_train, val, plans, None, say)
            training["init_heads"] = {"trained_in_this_run": records}
        encoder_model = load_model(BASE)  # a fresh copy of the encoder to fine-tune
        encoder_model.max_length = max(p.max_length for p in plans.values())
        ft_train = {t: sample(splits[t]["train"], plans[t].ft_n, seed=4) for t in tasks}
        n_ft = sum(len(d) for d in ft_train.values())
        cfg = TrainConfig(setting="finetuned", seed=0, epochs=P.ft_epochs, batch_size=16, lr=5e-4, encoder_lr=5e-5,
                          patience=3, max_length=encoder_model.max_length,
                          max_seconds=max_seconds if max_seconds else P.ft_seconds * len(tasks),
                          eval_every=max(4, n_ft // 16 // 4))
        say("finetune", 0.0, f"fine-tuning the shared encoder with {len(tasks)} heads")
        heads, res = finetune_multitask(
            encoder_model, {t: (ft_train[t], val[t]) for t in tasks}, cfg, init_heads=init_heads,
            max_lengths={t: plans[t].max_length for t in tasks},
            progress=lambda s, n, i: say("finetune", s / n, f"step {s}/{n} ({i.get('task', '')}): loss {i['loss']:.3f}"))
        training["finetune"] = _record(res, cfg, history=list(res.history))
        for t in tasks:
            tasks_meta[t]["n_train"] = len(ft_train[t])
    encoder_model.max_length = max(p.max_length for p in plans.values())
    encoder_model.head, encoder_model.label_names = None, ()
    meta = {"format": MULTITASK_FORMAT, "setting": setting, "base_model": BASE, "profile": profile,
            "split": split_meta, "tasks": tasks_meta, "training": training}
    mt = MultiTaskModel(base=encoder_model, heads=heads, label_names={t: data[t].label_names for t in tasks},
                        datasets={t: TASKS[t] for t in tasks}, metadata=meta,
                        max_lengths={t: plans[t].max_length for t in tasks})
    for i, t in enumerate(tasks):
        say("held-out", i / len(tasks), f"evaluating {t} on its held-out test split")
        ev = evaluate_model(mt.for_task(t), data[t], n=plans[t].eval_n, seed=0)
        assert ev.split == "test", "held-out evaluation must not see training data"
        tasks_meta[t]["heldout"] = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split, "macro_f1": ev.macro_f1}
    meta["seconds"] = round(time.perf_counter() - t_all, 1)
    save_multitask(mt, folder)
    in_demo = folder.parent.resolve() == demo_root().resolve() and folder.name in MULTITASK_DEMO_MODELS
    mt.base.ref, mt.base.path = (f"demo:{folder.name}" if in_demo else str(folder)), folder
    say("done", 1.0, f"saved to {folder}")
    return mt


# ----------------------------------------------------------------------------- synergy


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
    hidden activations tanh(dense(x)) on the N samples.
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

    @property
    def n(self) -> int:
        return len(self.texts)

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


def _heldout_samples(mt: MultiTaskModel, n: int, seed: int) -> dict[str, TextDataset]:
    out = {}
    for t in mt.tasks:
        own = mt.metadata.get("tasks", {}).get(t, {})
        split_seed = int(own.get("split", mt.metadata.get("split", {})).get("seed", 0))
        out[t] = sample(take_split(load_dataset(mt.datasets[t]), "test", seed=split_seed), n, seed=seed)
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


def _head_outputs(head: MLPHead, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), hidden activations tanh(dense(x)) (N, h)) with dropout off."""
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


def synergy(mt: MultiTaskModel, *, datasets: dict[str, TextDataset] | None = None, n_per_task: int = 150,
            k: int = 10, ks: Sequence[int] = (5, 10, 20), lam: float = 0.8, seed: int = 0,
            settings: Any = None, cache: ArrayCache | None = None,
            progress: StepProgress | None = None) -> SynergyResult:
    """Compare the tasks of ``mt`` on one shared sample set (``n_per_task`` held-out texts of each task).

    ``datasets``: the held-out texts of each task given directly (sampled to ``n_per_task``); default: each
    task's bundled dataset, test split of the model's split seed.
    """
    import warnings

    from core.compare import check_ks, compare_spaces, knn_indices, linear_cka
    from core.deepview import ProjectionSettings, run_projection
    from core.embeddings import extract_embeddings
    from core.evaluate import map_labels
    from core.projection import check_lambda, compute_distance_graph, project

    tasks = mt.tasks
    if len(tasks) < 2:
        raise BackboneLensError(f"Synergy needs at least two tasks; {mt.ref} has one ({tasks[0]}).")
    if n_per_task < 10:
        raise BackboneLensError(f"Synergy needs at least 10 texts per task, got {n_per_task}.")
    lam = check_lambda(lam)
    settings = settings or ProjectionSettings(seed=seed)
    cache = cache or ArrayCache()
    say = progress or _quiet
    sec: dict[str, float] = {}
    t0 = time.perf_counter()
    if datasets is None:
        datasets = _heldout_samples(mt, n_per_task, seed)
    else:
        missing = [t for t in tasks if t not in datasets]
        if missing:
            raise BackboneLensError(f"No samples given for task(s) {', '.join(missing)} of {mt.ref}.")
        datasets = {t: sample(datasets[t], n_per_task, seed=seed) for t in tasks}

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
    all_ks = check_ks(tuple(ks) + (k,), N)
    sec["embeddings"] = time.perf_counter() - t0

    # b. joint map and how far the encoder keeps the tasks' texts apart ------------------------------
    t0 = time.perf_counter()
    say("joint map", 0.0, f"UMAP of all {N:,} texts")
    from sklearn.metrics import silhouette_score

    sample_parts = [[t, datasets[t].fingerprint, mt.max_length_of(t)] for t in tasks]
    umap_params = {"n_neighbors": min(15, N - 1), "min_dist": 0.1, "metric": "cosine", "random_state": seed,
                   "n_epochs": settings.n_epochs}

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
    votes = np.zeros((N, len(tasks)), np.int64)
    np.add.at(votes, (np.repeat(np.arange(N), kk), task_ids[nb].ravel()), 1)
    knn_acc = float((votes.argmax(1) == task_ids).mean())
    sec["joint_map"] = time.perf_counter() - t0

    # c. each task's own DeepView projection of its own held-out texts ---------------------------------
    t0 = time.perf_counter()
    per_task: dict[str, TaskProjection] = {}
    for i, t in enumerate(tasks):
        say("projections", i / len(tasks), f"DeepView projection of {t} (λ = {lam:g})")
        run = run_projection(views[t], datasets[t], lam, settings, cache=cache, emb=embs[t])
        per_task[t] = TaskProjection(t, run.projection.points, run.projection.predictions.astype(np.int64),
                                     run.labels, run.fidelity.to_dict(), run.key)
    sec["task_projections"] = time.perf_counter() - t0

    # d. the synergy matrix: projections of the shared samples under each head --------------------------
    t0 = time.perf_counter()
    shared, shared_fid = [], []
    outputs = {t: _head_outputs(mt.heads[t], X) for t in tasks}
    for i, s in enumerate(tasks):
        say("synergy", i / len(tasks), f"DeepView projection of all {N:,} texts under the {s} head")
        head = mt.heads[s]
        logits = outputs[s][0]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)

        def compute(head=head, probs=probs):
            g = compute_distance_graph(X, head, predictions=probs.argmax(1), metric=settings.metric,
                                       n_interp=settings.n_interp, exact=settings.exact,
                                       n_neighbors=settings.n_neighbors, k_own=settings.k_own,
                                       k_other=settings.k_other, seed=settings.seed)
            p = project(g, X, head, lam, probs=probs, n_neighbors=settings.n_neighbors,
                        min_dist=settings.min_dist, resolution=settings.resolution, k=settings.k,
                        k_tc=settings.k_tc, seed=settings.seed, n_epochs=settings.n_epochs)
            return {"points": p.points, "predictions": p.predictions}, {"fidelity": p.fidelity.to_dict()}

        entry = cache.get_or_compute(
            "synergy-projection",
            {"model": views[s].fingerprint, "samples": sample_parts, "pooling": mt.base.pooling, "lam": round(lam, 6),
             **settings.graph_parts(), **settings.embed_parts()},
            compute, description=f"{views[s].ref}: shared synergy projection n={N} λ={lam:g}")
        shared.append(np.asarray(entry.arrays["points"], dtype=np.float32))
        shared_fid.append(dict(entry.meta["fidelity"]))
    T = len(tasks)
    q_by_k = np.zeros((len(all_ks), T, T))
    for a in range(T):
        for b in range(a, T):
            cmp = compare_spaces(shared[a], shared[b], all_ks, metric="euclidean")
            q_by_k[:, a, b] = q_by_k[:, b, a] = cmp.q_nn
    ki = all_ks.index(int(k))
    matrix = q_by_k[ki].copy()
    lcmc_m = matrix - k / (N - 1)
    sec["synergy"] = time.perf_counter() - t0

    # e. transfer probes on each head's logits; f. CKA of the heads' hidden activations ---------------
    t0 = time.perf_counter()
    say("transfer", 0.0, "logistic-regression probes")
    transfer = np.full((T, T), np.nan)
    chance, full = np.zeros(T), np.zeros(T)
    for j, t in enumerate(tasks):
        m = task_ids == j
        yt = y[m]
        lab = yt[yt >= 0]
        chance[j] = np.bincount(lab).max() / len(lab) if len(lab) else np.nan
        full[j] = _probe_accuracy(X[m], yt, seed)
        for i, s in enumerate(tasks):
            transfer[i, j] = _probe_accuracy(outputs[s][0][m], yt, seed)
    cka = np.array([[linear_cka(outputs[s][1], outputs[t][1]) for t in tasks] for s in tasks])
    sec["transfer_cka"] = time.perf_counter() - t0
    say("done", 1.0, "synergy computed")
    reading = synergy_reading(tasks, matrix, lcmc_m, cka, transfer, chance, full, k=k, n=N)
    return SynergyResult(
        model_ref=mt.ref, tasks=tasks, label_names=tuple(mt.label_names[t] for t in tasks),
        metric=PRIMARY_METRIC.format(k=k), k=int(k), ks=all_ks, lam=lam,
        texts=tuple(x for t in tasks for x in datasets[t].texts), task_ids=task_ids, labels=y,
        joint_points=joint, shared_points=np.stack(shared), matrix=matrix, lcmc=lcmc_m, q_nn_by_k=q_by_k,
        transfer=transfer, chance=chance, full_probe=full, cka=cka, silhouette=sil, knn_task_accuracy=knn_acc,
        knn_k=kk, per_task=per_task, shared_fidelity=tuple(shared_fid), reading=reading, seconds=sec,
        params={"n_per_task": {t: len(datasets[t]) for t in tasks}, "seed": seed,
                "max_lengths": {t: mt.max_length_of(t) for t in tasks}, "settings": settings.__dict__,
                "datasets": {t: datasets[t].name for t in tasks}})


__all__ = ["HEADS_DIR", "MultiTaskModel", "SynergyResult", "TASKS", "TaskPlan", "TaskProjection", "check_tasks",
           "is_multitask", "load_multitask", "save_multitask", "synergy", "synergy_reading", "task_plan",
           "train_multitask"]
