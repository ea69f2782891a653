"""Train classifiers in the two settings of the papers.

* ``pretrained``: the encoder is frozen; an :class:`MLPHead` is trained on pooled embeddings
  (CLS, or mean for sentence-transformers models), which come from the embedding cache.
* ``finetuned``: encoder and head are trained together (the head may start from a
  pre-trained-setting head: linear-probe-then-fine-tune, Kumar et al. 2022).
  :func:`finetune_multitask` is the same routine for one shared encoder with one head per
  task; :func:`finetune` is its one-task case.

Both use a seed, the validation split for early stopping (best state restored), and a
progress callback; :func:`save_classifier` writes ``save_pretrained`` files plus metadata.
"""
from __future__ import annotations

from core.foundation.progress import Progress

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data.datasets import TextDataset
from core.models.embeddings import extract_embeddings
from core.foundation.errors import BackboneLensError
from core.models.classifier_heads import MLPHead
from core.models.loading import LoadedModel

SETTINGS = ("pretrained", "finetuned")


@dataclass(frozen=True)
class TrainConfig:
    setting: str = "pretrained"
    seed: int = 0
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    encoder_lr: float = 3e-5
    weight_decay: float = 0.01
    patience: int = 10
    max_length: int | None = None
    max_seconds: float | None = None
    eval_every: int | None = None  # fine-tuning: validate every this many steps (default: each epoch)


@dataclass(frozen=True)
class TrainResult:
    """What training did: the epochs run, best validation accuracy, and the curve."""

    setting: str
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    val_loss: float
    seconds: float
    history: tuple[dict, ...] = field(default=())
    stopped_by: str = "epochs"


def _seed_all(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


def _check(train: TextDataset, val: TextDataset, label_names) -> None:
    for name, ds in (("training", train), ("validation", val)):
        if len(ds) == 0 or not ds.has_labels:
            raise BackboneLensError(f"The {name} split is empty or unlabelled; training needs labelled examples.")
    if len(label_names) < 2:
        raise BackboneLensError("Training a classifier needs at least two labels.")


def train_pretrained_head(model: LoadedModel, train: TextDataset, val: TextDataset, cfg: TrainConfig, *,
                          progress: Progress | None = None, cache=None) -> tuple[MLPHead, TrainResult]:
    """Fit an MLPHead on frozen pooled embeddings; ``model`` is not changed."""
    _check(train, val, train.label_names)
    g = _seed_all(cfg.seed)
    t0 = time.perf_counter()
    Xtr = extract_embeddings(model, train, max_length=cfg.max_length, cache=cache).pooled
    Xva = extract_embeddings(model, val, max_length=cfg.max_length, cache=cache).pooled
    ytr, yva = torch.from_numpy(train.labels), torch.from_numpy(val.labels)
    mtr, mva = ytr >= 0, yva >= 0
    Xtr_t, ytr = torch.from_numpy(Xtr)[mtr], ytr[mtr]
    Xva_t, yva = torch.from_numpy(Xva)[mva], yva[mva]
    head = MLPHead(model.hidden_size, len(train.label_names))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lossf = nn.CrossEntropyLoss()
    best = (math.inf, 0.0, 0, copy.deepcopy(head.state_dict()))
    hist, bad, stopped = [], 0, "epochs"
    for ep in range(1, cfg.epochs + 1):
        head.train()
        perm = torch.randperm(len(Xtr_t), generator=g)
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            opt.zero_grad()
            lossf(head(Xtr_t[b]), ytr[b]).backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            lv = head(Xva_t)
            vl, va = float(lossf(lv, yva)), float((lv.argmax(1) == yva).float().mean())
        hist.append({"epoch": ep, "val_loss": vl, "val_accuracy": va})
        if progress is not None:
            progress("head", ep / cfg.epochs, f"epoch {ep}: val acc {va:.3f}")
        if vl < best[0] - 1e-4:
            best, bad = (vl, va, ep, copy.deepcopy(head.state_dict())), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                stopped = "early stopping"
                break
        if cfg.max_seconds and time.perf_counter() - t0 > cfg.max_seconds:
            stopped = "time budget"
            break
    head.load_state_dict(best[3])
    head.eval()
    return head, TrainResult("pretrained", len(hist), best[2], best[1], best[0], time.perf_counter() - t0,
                             tuple(hist), stopped)


def _evaluate_batches(model: LoadedModel, head: nn.Module, val: TextDataset, max_length: int,
                      batch_size: int) -> tuple[float, float]:
    lossf = nn.CrossEntropyLoss(reduction="sum")
    tot_l, tot_c, tot_n = 0.0, 0, 0
    model.encoder.eval()
    head.eval()
    order = np.argsort([-len(t) for t in val.texts])
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            y = torch.from_numpy(val.labels[idx]).to(model.device)
            batch = model.tokenize([val.texts[j] for j in idx],
                                   None if val.text_pairs is None else [val.text_pairs[j] for j in idx],
                                   max_length=max_length)
            lg = head(model.encode(batch).pooled)
            tot_l += float(lossf(lg, y))
            tot_c += int((lg.argmax(1) == y).sum())
            tot_n += len(idx)
    return tot_l / tot_n, tot_c / tot_n


def _tokenize_rows(model: LoadedModel, ds: TextDataset, idx: np.ndarray, max_length: int) -> dict[str, torch.Tensor]:
    return model.tokenize([ds.texts[j] for j in idx],
                          None if ds.text_pairs is None else [ds.text_pairs[j] for j in idx],
                          max_length=max_length)


def finetune(model: LoadedModel, train: TextDataset, val: TextDataset, cfg: TrainConfig, *,
             init_head: MLPHead | None = None, progress: Progress | None = None) -> tuple[MLPHead, TrainResult]:
    """Fine-tune ``model.encoder`` in place together with a head; returns the head (best state restored).

    The one-task case of :func:`finetune_multitask` (same optimiser, schedule, RNG draws and stopping).
    """
    heads, res = finetune_multitask(model, {"task": (train, val)}, cfg,
                                    init_heads=None if init_head is None else {"task": init_head}, progress=progress)
    return heads["task"], res


def finetune_multitask(model: LoadedModel, tasks: dict[str, tuple[TextDataset, TextDataset]], cfg: TrainConfig, *,
                       init_heads: dict[str, MLPHead] | None = None, max_lengths: dict[str, int] | None = None,
                       progress: Progress | None = None) -> tuple[dict[str, MLPHead], TrainResult]:
    """Fine-tune one shared ``model.encoder`` in place with one head per task; returns the heads (best state).

    ``tasks``: name → (train, validation). Each step is one batch of one task; within an epoch the order of
    the tasks' batches is a seeded shuffle, so each task gets steps in proportion to its number of batches.
    The validation loss that drives early stopping is the mean of the tasks' validation losses; history rows
    of several tasks also carry ``task_val_accuracy`` and ``task_val_loss`` (name → value). Pair datasets are
    tokenized as (text, pair). ``max_lengths``: per-task token limits (default ``cfg.max_length`` or the
    model's). With one task this is exactly the single-task routine (no task shuffle is drawn).
    """
    if not tasks:
        raise BackboneLensError("Fine-tuning needs at least one task.")
    names = list(tasks)
    for train, val in tasks.values():
        _check(train, val, train.label_names)
    unknown = sorted(set(init_heads or {}) - set(names)) + sorted(set(max_lengths or {}) - set(names))
    if unknown:
        raise BackboneLensError(f"Initial heads or lengths for unknown tasks: {', '.join(unknown)}; the tasks are "
                                f"{', '.join(names)}.")
    g = _seed_all(cfg.seed)
    t0 = time.perf_counter()
    default_len = int(cfg.max_length or model.max_length)
    mls = {t: int((max_lengths or {}).get(t) or default_len) for t in names}
    heads: dict[str, MLPHead] = {}
    for t in names:
        init = (init_heads or {}).get(t)
        heads[t] = copy.deepcopy(init) if init is not None else MLPHead(model.hidden_size,
                                                                         len(tasks[t][0].label_names))
        heads[t].to(model.device)
    keep = {t: np.flatnonzero(tasks[t][0].labels >= 0) for t in names}
    head_params = [p for h in heads.values() for p in h.parameters()]
    opt = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": cfg.encoder_lr},
        {"params": head_params, "lr": cfg.lr},
    ], weight_decay=cfg.weight_decay)
    n_batches = {t: math.ceil(len(keep[t]) / cfg.batch_size) for t in names}
    steps_per_epoch = sum(n_batches.values())
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    lossf = nn.CrossEntropyLoss()
    eval_every = cfg.eval_every or steps_per_epoch
    clip_params = list(model.encoder.parameters()) + head_params

    def validate() -> tuple[float, float, dict[str, tuple[float, float]]]:
        per = {t: _evaluate_batches(model, heads[t], tasks[t][1], mls[t], 64) for t in names}
        return (sum(v[0] for v in per.values()) / len(per), sum(v[1] for v in per.values()) / len(per), per)

    def row(base: dict, per: dict[str, tuple[float, float]]) -> dict:
        if len(names) > 1:
            base["task_val_accuracy"] = {t: v[1] for t, v in per.items()}
            base["task_val_loss"] = {t: v[0] for t, v in per.items()}
        return base

    def snapshot() -> tuple[dict, dict[str, dict]]:
        return copy.deepcopy(model.encoder.state_dict()), {t: copy.deepcopy(h.state_dict()) for t, h in heads.items()}

    vl, va, per = validate()
    best = (vl, va, 0, *snapshot())
    hist = [row({"step": 0, "val_loss": vl, "val_accuracy": va}, per)]
    bad, step, stopped = 0, 0, "epochs"
    done = False
    epochs_run = 0
    for ep in range(cfg.epochs):
        epochs_run = ep + 1
        perms = {t: keep[t][torch.randperm(len(keep[t]), generator=g).numpy()] for t in names}
        order = np.concatenate([np.full(n_batches[t], i) for i, t in enumerate(names)]).astype(np.int64)
        if len(names) > 1:  # one task: no extra draw, so the single-task run is unchanged
            order = order[torch.randperm(len(order), generator=g).numpy()]
        cursor = dict.fromkeys(names, 0)
        for ti in order:
            t = names[int(ti)]
            train, head = tasks[t][0], heads[t]
            model.encoder.train()
            head.train()
            idx = perms[t][cursor[t]:cursor[t] + cfg.batch_size]
            cursor[t] += cfg.batch_size
            batch = _tokenize_rows(model, train, idx, mls[t])
            y = torch.from_numpy(train.labels[idx]).to(model.device)
            loss = lossf(head(model.encode(batch).pooled), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clip_params, 1.0)
            opt.step()
            sched.step()
            step += 1
            over_time = bool(cfg.max_seconds and time.perf_counter() - t0 > cfg.max_seconds)
            if step % eval_every == 0 or step == total or over_time:
                vl, va, per = validate()
                hist.append(row({"step": step, "epoch": ep + 1, "train_loss": float(loss.detach()), "val_loss": vl,
                                 "val_accuracy": va}, per))
                if vl < best[0] - 1e-4:
                    best, bad = (vl, va, step, *snapshot()), 0
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        stopped, done = "early stopping", True
            if progress is not None:
                progress("finetune", step / total, f"step {step}/{total}" + (f" ({t})" if len(names) > 1 else "")
                         + f": loss {float(loss.detach()):.3f}")
            if over_time and not done:
                stopped, done = "time budget", True
            if done:
                break
        if done:
            break
    model.encoder.load_state_dict(best[3])
    for t, h in heads.items():
        h.load_state_dict(best[4][t])
        h.eval()
    model.encoder.eval()
    model.forget_fingerprints()
    return heads, TrainResult("finetuned", epochs_run, best[2], best[1], best[0], time.perf_counter() - t0,
                              tuple(hist), stopped)


def training_metadata(result: TrainResult, cfg: TrainConfig, *, base_ref: str, dataset: TextDataset,
                      split_seed: int, n_train: int, n_val: int, extra: dict[str, Any] | None = None) -> dict:
    return {
        "format": "backbone-lens-classifier/1",
        "setting": result.setting,
        "base_model": base_ref,
        "dataset": dataset.name,
        "data_fingerprint": dataset.source_fingerprint,
        "split": {"method": "hash", "seed": split_seed, "fractions": [0.7, 0.1, 0.2]},
        "n_train": n_train,
        "n_validation": n_val,
        "training": {**cfg.__dict__, "epochs_run": result.epochs_run, "best": result.best_epoch,
                     "stopped_by": result.stopped_by, "seconds": round(result.seconds, 1),
                     "val_accuracy": result.val_accuracy, "val_loss": result.val_loss},
        **(extra or {}),
    }
