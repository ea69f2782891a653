"""Train multi-task models: one shared encoder with one MLP head per bundled task, in the demo's two
settings — ``pretrained`` (one head per task on the frozen encoder) and ``finetuned`` (encoder and all heads
together, starting from the pre-trained heads) — with the demo's data splits.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from core.data.datasets import TextDataset
from core.data.refs import load_dataset
from core.data.sampling import sample, take_split
from core.foundation.errors import BackboneLensError
from core.foundation.progress import Progress, or_silent, scaled
from core.foundation.registry import Registry
from core.models.classifier_heads import MLPHead
from core.models.loading import META_FILE, LoadedModel
from core.models.multitask import MULTITASK_FORMAT, MultiTaskModel, _check_target, save_multitask
from core.models.refs import load_model, load_multitask
from core.training.demo_workspace import BASE, MULTITASK_DEMO_MODELS, PROFILES, SPLIT_SEED, demo_root
from core.training.finetune import SETTINGS, TrainConfig, TrainResult, finetune_multitask, train_pretrained_head

TASKS = {"bbc": "bundled:bbc", "tweets": "bundled:tweets", "snli": "bundled:snli"}
# the two settings: name → what the model is, with the title a "…-setting model" takes
MULTITASK_SETTINGS: Registry[str] = Registry("setting", error=BackboneLensError)
MULTITASK_SETTINGS.add("pretrained", "frozen encoder, one head per task", title="pre-trained")
MULTITASK_SETTINGS.add("finetuned", "encoder fine-tuned with all heads", title="fine-tuned")
# minutes to train demo:multitask-<setting> with a demo profile on a 2-core CPU (shown before a training click)
TRAIN_MINUTES = {"pretrained": {"full": "2–4", "small": "1"}, "finetuned": {"full": "8–12", "small": "2"}}


def train_minutes(setting: str, profile: str) -> str:
    """About how many minutes training ``setting`` with the demo ``profile`` takes ("2–4"; full when unknown)."""
    by_profile = TRAIN_MINUTES[setting]
    return by_profile.get(profile, by_profile["full"])



@dataclass(frozen=True)
class TaskPlan:
    """Sample sizes and token limit of one bundled task under one demo profile (None = all)."""

    pre_n: int | None
    ft_n: int
    max_length: int
    eval_n: int | None


_SNLI = {"full": TaskPlan(8000, 2560, 64, 2000), "small": TaskPlan(600, 96, 64, 200)}


def task_plan(task: str, profile: str) -> TaskPlan:
    """The demo's sizes for bbc / tweets (core.training.demo_workspace.PROFILES); SNLI sized like the tweets."""
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
                      say: Progress) -> tuple[dict[str, MLPHead], dict[str, dict]]:
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
            progress=scaled(say, 0.0, 1.0, stage=f"head:{t}"))
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
                    progress: Progress | None = None) -> MultiTaskModel:
    """Train a multi-task model on bundled tasks with the demo's data splits and settings, evaluate each task
    on its held-out test split and save it (default ``<demo>/multitask-<setting>``, replaced atomically).

    ``max_seconds``: the fine-tuning budget (default: the profile's per-model budget × the number of tasks);
    in the pre-trained setting each head gets ``max_seconds / tasks``.
    """
    from core.models.evaluate import evaluate
    from core.models.heldout import heldout_sample

    tasks = check_tasks(tasks)
    if setting not in SETTINGS:
        raise BackboneLensError(f"Unknown setting '{setting}'; choose one of: {', '.join(SETTINGS)}.")
    if profile not in PROFILES:
        raise BackboneLensError(f"Unknown profile '{profile}'; choose one of: {', '.join(PROFILES)}.")
    if max_seconds is not None and not max_seconds > 0:
        raise BackboneLensError(f"The time budget must be positive, got {max_seconds:g} seconds.")
    folder = Path(out).expanduser() if out else demo_root() / f"multitask-{setting}"
    _check_target(folder)
    say = or_silent(progress)
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
            progress=say)
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
        view = mt.for_task(t)
        ev = evaluate(view, heldout_sample(view, data[t], plans[t].eval_n, seed=0))
        assert ev.split == "test", "held-out evaluation must not see training data"
        tasks_meta[t]["heldout"] = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split, "macro_f1": ev.macro_f1}
    meta["seconds"] = round(time.perf_counter() - t_all, 1)
    save_multitask(mt, folder)
    in_demo = folder.parent.resolve() == demo_root().resolve() and folder.name in MULTITASK_DEMO_MODELS
    mt.base.ref, mt.base.path = (f"demo:{folder.name}" if in_demo else str(folder)), folder
    say("done", 1.0, f"saved to {folder}")
    return mt
