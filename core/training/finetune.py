"""Train classifiers in the two settings of the papers.

* ``pretrained``: the encoder is frozen; an :class:`MLPHead` is trained on pooled embeddings
  (CLS, or mean for sentence-transformers models), which come from the embedding cache.
* ``finetuned``: encoder and head are trained together (the head may start from a
  pre-trained-setting head: linear-probe-then-fine-tune, Kumar et al. 2022).
  :func:`finetune_multitask` is the same routine for one shared encoder with one head per
  task; :func:`finetune` is its one-task case.

Both use a seed, the validation split for early stopping (best state restored), and a
progress callback; :func:`save_classifier` writes ``save_pretrained`` files plus metadata.

**Time budget** (``TrainConfig.max_seconds``): it covers everything the training function does — embedding
(pre-trained setting) or tokenizing and optimising (fine-tuned), and *every* validation pass, the first one
included. A fine-tuning step starts only when it and the closing validation pass fit in what is left (both
estimated from the ones measured so far), so a run ends within the budget up to one step's misestimate; a
validation set too large for the budget is refused after its first batches, before the time is spent, and a
budget that leaves no optimiser step is an error, never a model with no training. The held-out evaluation
after training is not part of it (the caller caps it: :mod:`core.training.user_models`).

**Threads**: the run uses ``TrainConfig.threads`` intra-op threads, or
:func:`core.foundation.settings.choose_threads` picks them (physical cores, fewer on a loaded machine); the
progress line and :attr:`TrainResult.threads` say what was used.
"""
from __future__ import annotations

from core.foundation.progress import Progress, or_silent

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from core.data.datasets import TextDataset
from core.models.embeddings import extract_embeddings
from core.foundation.errors import BackboneLensError
from core.foundation.settings import ThreadChoice, choose_threads, torch_threads
from core.models.classifier_heads import MLPHead
from core.models.loading import LoadedModel

SETTINGS = ("pretrained", "finetuned")
EMBED_CHUNK = 256  # pre-trained setting under a budget: training texts are embedded in chunks of this many
HEAD_SHARE = 0.1  # … and embedding stops when less than this share of the budget would be left for the head
VALIDATION_SHARE = 0.5  # a first validation pass projected to take more than this share of the budget is refused

Record = Callable[[dict], None]  # receives each validation row (plus "seconds" and "eta_seconds") as it happens


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
    max_seconds: float | None = None  # the time budget (see the module docstring for what it covers)
    eval_every: int | None = None  # fine-tuning: validate every this many steps (default: each epoch)
    threads: int | None = None  # intra-op threads (None: chosen by core.foundation.settings.choose_threads)


@dataclass(frozen=True)
class TrainResult:
    """What training did: the epochs run, best validation accuracy, and the curve.

    ``steps``: optimiser steps done; ``threads``: the thread choice (``ThreadChoice.to_json``); ``budget``: the
    budget, what it covers and where the time went (None without a budget); ``n_train_used``: training texts
    actually used (fewer than given when the pre-trained setting's budget ended the embedding);
    ``texts_per_second``: inference speed measured on the validation texts (for capping a later evaluation).
    """

    setting: str
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    val_loss: float
    seconds: float
    history: tuple[dict, ...] = field(default=())
    stopped_by: str = "epochs"
    steps: int = 0
    threads: dict | None = None
    budget: dict | None = None
    n_train_used: int | None = None
    texts_per_second: float | None = None

    def to_json(self) -> dict:
        return {"setting": self.setting, "epochs_run": self.epochs_run, "best": self.best_epoch,
                "val_accuracy": self.val_accuracy, "val_loss": self.val_loss, "seconds": round(self.seconds, 1),
                "stopped_by": self.stopped_by, "steps": self.steps, "threads": self.threads, "budget": self.budget,
                "n_train_used": self.n_train_used}


class _Clock:
    """Elapsed time against an optional budget."""

    def __init__(self, budget: float | None) -> None:
        if budget is not None and not budget > 0:
            raise BackboneLensError(f"The time budget must be positive, got {budget:g} seconds.")
        self.budget, self.t0 = budget, time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def fits(self, cost: float) -> bool:
        return self.budget is None or self.elapsed() + cost <= self.budget


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


def _threads_word(tc: ThreadChoice) -> str:
    return f"{tc.n} thread{'s' if tc.n != 1 else ''}"


def _too_slow(what: str, n: int, projected: float, budget: float, option: str) -> BackboneLensError:
    return BackboneLensError(
        f"{what} the {n:,} validation texts would take about {projected:.0f} s of the {budget:g} s budget (more "
        f"than {VALIDATION_SHARE:.0%}); give fewer validation texts ({option}) or more time.")


# ----------------------------------------------------------------------------- pre-trained setting


def train_pretrained_head(model: LoadedModel, train: TextDataset, val: TextDataset, cfg: TrainConfig, *,
                          progress: Progress | None = None, cache=None, on_record: Record | None = None
                          ) -> tuple[MLPHead, TrainResult]:
    """Fit an MLPHead on frozen pooled embeddings; ``model`` is not changed.

    With a budget, the validation texts are embedded first (refused early when they alone would take more
    than half of it), then the training texts in a seeded random order, in chunks, while at least
    :data:`HEAD_SHARE` of the budget stays for the head; the head trains epoch by epoch while the next epoch
    fits. ``TrainResult.n_train_used`` says how many training texts were embedded in time.
    """
    _check(train, val, train.label_names)
    tc = choose_threads(cfg.threads)
    with torch_threads(tc.n):
        return _train_pretrained(model, train, val, cfg, tc, progress=progress, cache=cache, on_record=on_record)


def _embed(model: LoadedModel, ds: TextDataset, cfg: TrainConfig, cache, progress) -> tuple[np.ndarray, float | None]:
    """(pooled (n, d), texts per second or None when read from the cache)."""
    e = extract_embeddings(model, ds, max_length=cfg.max_length, cache=cache, progress=progress)
    return e.pooled, (None if e.cache_hit or e.seconds <= 0 else len(ds) / e.seconds)


def _train_pretrained(model: LoadedModel, train: TextDataset, val: TextDataset, cfg: TrainConfig, tc: ThreadChoice,
                      *, progress: Progress | None, cache, on_record: Record | None) -> tuple[MLPHead, TrainResult]:
    g = _seed_all(cfg.seed)
    clock = _Clock(cfg.max_seconds)
    B = cfg.max_seconds
    tw = _threads_word(tc)
    say = or_silent(progress)
    say("embeddings", 0.0, f"embedding {len(val):,} validation texts · {tc.describe()}")
    rate: float | None = None
    if B is None:
        Xva, rate = _embed(model, val, cfg, cache, None)
        Xtr, r2 = _embed(model, train, cfg, cache, None)
        rate = rate or r2
        used = np.arange(len(train))
    else:
        first = val.subset(np.arange(min(len(val), EMBED_CHUNK)))
        X0, rate = _embed(model, first, cfg, cache, None)
        if rate and len(val) / rate > VALIDATION_SHARE * B:
            raise _too_slow("Embedding", len(val), len(val) / rate, B, "--n-validation")
        Xva = X0 if len(first) == len(val) else np.concatenate(
            [X0, _embed(model, val.subset(np.arange(len(first), len(val))), cfg, cache, None)[0]])
        order = np.random.default_rng(cfg.seed).permutation(len(train))
        parts, used_parts, t_chunk = [], [], None
        for i in range(0, len(order), EMBED_CHUNK):
            idx = np.sort(order[i:i + EMBED_CHUNK])
            if parts and t_chunk is not None and not clock.fits(t_chunk + HEAD_SHARE * B):
                break
            t = time.perf_counter()
            X, r = _embed(model, train.subset(idx), cfg, cache, None)
            t_chunk = time.perf_counter() - t
            rate = rate or r
            parts.append(X)
            used_parts.append(idx)
            done = sum(len(p) for p in used_parts)
            say("embeddings", done / len(train), f"{done:,}/{len(train):,} training texts · {tw}")
        Xtr, used = np.concatenate(parts), np.concatenate(used_parts)
    t_embed = clock.elapsed()
    ytr, yva = torch.from_numpy(train.labels[used]), torch.from_numpy(val.labels)
    mtr, mva = ytr >= 0, yva >= 0
    Xtr_t, ytr = torch.from_numpy(Xtr)[mtr], ytr[mtr]
    Xva_t, yva = torch.from_numpy(Xva)[mva], yva[mva]
    head = MLPHead(model.hidden_size, len(train.label_names))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lossf = nn.CrossEntropyLoss()
    best = (math.inf, 0.0, 0, copy.deepcopy(head.state_dict()))
    hist, bad, stopped, steps, t_epoch = [], 0, "epochs", 0, 0.0
    if len(used) < len(train):
        stopped = "time budget"
    for ep in range(1, cfg.epochs + 1):
        if ep > 1 and not clock.fits(t_epoch):
            stopped = "time budget"
            break
        t = time.perf_counter()
        head.train()
        perm = torch.randperm(len(Xtr_t), generator=g)
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            opt.zero_grad()
            lossf(head(Xtr_t[b]), ytr[b]).backward()
            opt.step()
            steps += 1
        head.eval()
        with torch.no_grad():
            lv = head(Xva_t)
            vl, va = float(lossf(lv, yva)), float((lv.argmax(1) == yva).float().mean())
        t_epoch = time.perf_counter() - t
        row = {"epoch": ep, "val_loss": vl, "val_accuracy": va}
        hist.append(row)
        left = (cfg.epochs - ep) * t_epoch
        if B is not None:
            left = min(left, max(0.0, B - clock.elapsed()))
        if on_record is not None:
            on_record({**row, "step": steps, "seconds": clock.elapsed(), "eta_seconds": left})
        if progress is not None:
            progress("head", ep / cfg.epochs, f"epoch {ep}: val acc {va:.3f} · {tw}")
        if vl < best[0] - 1e-4:
            best, bad = (vl, va, ep, copy.deepcopy(head.state_dict())), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                stopped = "early stopping"
                break
    head.load_state_dict(best[3])
    head.eval()
    seconds = clock.elapsed()
    budget = None if B is None else {
        "seconds": B, "covers": "embedding the validation and training texts and every epoch of the head",
        "embedding_seconds": round(t_embed, 2), "head_seconds": round(seconds - t_embed, 2)}
    return head, TrainResult("pretrained", len(hist), best[2], best[1], best[0], seconds, tuple(hist), stopped,
                             steps=steps, threads=tc.to_json(), budget=budget, n_train_used=int(len(used)),
                             texts_per_second=rate)


# ----------------------------------------------------------------------------- fine-tuned setting


def _evaluate_batches(model: LoadedModel, head: nn.Module, val: TextDataset, max_length: int,
                      batch_size: int, *, check: Callable[[int, float], None] | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) of ``head`` over ``val``; ``check(texts_done, seconds)`` runs after each batch (it
    may raise to stop a pass that will not fit)."""
    lossf = nn.CrossEntropyLoss(reduction="sum")
    tot_l, tot_c, tot_n = 0.0, 0, 0
    model.encoder.eval()
    head.eval()
    order = np.argsort([-len(t) for t in val.texts])
    t0 = time.perf_counter()
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
            if check is not None:
                check(tot_n, time.perf_counter() - t0)
    return tot_l / tot_n, tot_c / tot_n


def _tokenize_rows(model: LoadedModel, ds: TextDataset, idx: np.ndarray, max_length: int) -> dict[str, torch.Tensor]:
    return model.tokenize([ds.texts[j] for j in idx],
                          None if ds.text_pairs is None else [ds.text_pairs[j] for j in idx],
                          max_length=max_length)


def finetune(model: LoadedModel, train: TextDataset, val: TextDataset, cfg: TrainConfig, *,
             init_head: MLPHead | None = None, progress: Progress | None = None,
             on_record: Record | None = None) -> tuple[MLPHead, TrainResult]:
    """Fine-tune ``model.encoder`` in place together with a head; returns the head (best state restored).

    The one-task case of :func:`finetune_multitask` (same optimiser, schedule, RNG draws and stopping).
    """
    heads, res = finetune_multitask(model, {"task": (train, val)}, cfg,
                                    init_heads=None if init_head is None else {"task": init_head}, progress=progress,
                                    on_record=on_record)
    return heads["task"], res


def finetune_multitask(model: LoadedModel, tasks: dict[str, tuple[TextDataset, TextDataset]], cfg: TrainConfig, *,
                       init_heads: dict[str, MLPHead] | None = None, max_lengths: dict[str, int] | None = None,
                       progress: Progress | None = None, on_record: Record | None = None
                       ) -> tuple[dict[str, MLPHead], TrainResult]:
    """Fine-tune one shared ``model.encoder`` in place with one head per task; returns the heads (best state).

    ``tasks``: name → (train, validation). Each step is one batch of one task; within an epoch the order of
    the tasks' batches is a seeded shuffle, so each task gets steps in proportion to its number of batches.
    The validation loss that drives early stopping is the mean of the tasks' validation losses; history rows
    of several tasks also carry ``task_val_accuracy`` and ``task_val_loss`` (name → value). Pair datasets are
    tokenized as (text, pair). ``max_lengths``: per-task token limits (default ``cfg.max_length`` or the
    model's). With one task this is exactly the single-task routine (no task shuffle is drawn). The time
    budget is honest (module docstring).
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
    tc = choose_threads(cfg.threads)
    with torch_threads(tc.n):
        return _finetune(model, tasks, names, cfg, tc, init_heads=init_heads, max_lengths=max_lengths,
                         progress=progress, on_record=on_record)


def _finetune(model: LoadedModel, tasks: dict[str, tuple[TextDataset, TextDataset]], names: list[str],
              cfg: TrainConfig, tc: ThreadChoice, *, init_heads, max_lengths, progress: Progress | None,
              on_record: Record | None) -> tuple[dict[str, MLPHead], TrainResult]:
    g = _seed_all(cfg.seed)
    clock = _Clock(cfg.max_seconds)
    B = cfg.max_seconds
    tw = _threads_word(tc)
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
    n_val = sum(len(tasks[t][1]) for t in names)
    timing = {"validation": 0.0, "passes": 0, "last_pass": 0.0, "steps": 0.0, "last_step": 0.0, "longest_step": 0.0}

    def validate(initial: bool = False) -> tuple[float, float, dict[str, tuple[float, float]]]:
        """One pass over every task's validation texts; the first pass under a budget is refused after its first
        64 texts when it is projected to take more than VALIDATION_SHARE of the budget."""
        t0 = time.perf_counter()
        per, before = {}, 0
        for name in names:
            check = None
            if initial and B is not None:
                def check(done: int, _secs: float, base: int = before) -> None:
                    if base + done >= min(64, n_val):
                        projected = (time.perf_counter() - t0) / (base + done) * n_val
                        if projected > VALIDATION_SHARE * B:
                            raise _too_slow("Validating on", n_val, projected, B, "--n-validation")
            per[name] = _evaluate_batches(model, heads[name], tasks[name][1], mls[name], 64, check=check)
            before += len(tasks[name][1])
        secs = time.perf_counter() - t0
        timing["validation"] += secs
        timing["passes"] += 1
        timing["last_pass"] = secs
        return (sum(v[0] for v in per.values()) / len(per), sum(v[1] for v in per.values()) / len(per), per)

    def row(base: dict, per: dict[str, tuple[float, float]]) -> dict:
        if len(names) > 1:
            base["task_val_accuracy"] = {t: v[1] for t, v in per.items()}
            base["task_val_loss"] = {t: v[0] for t, v in per.items()}
        return base

    def snapshot() -> tuple[dict, dict[str, dict]]:
        return copy.deepcopy(model.encoder.state_dict()), {t: copy.deepcopy(h.state_dict()) for t, h in heads.items()}

    def eta(step: int) -> float:
        per_step = timing["steps"] / max(1, step)
        passes_left = max(0, (total - step) // max(1, eval_every)) + 1
        left = (total - step) * per_step + passes_left * timing["last_pass"]
        return left if B is None else min(left, max(0.0, B - clock.elapsed()))

    def record(r: dict, step: int) -> None:
        if on_record is not None:
            on_record({**r, "seconds": clock.elapsed(), "eta_seconds": eta(step)})

    if progress is not None:
        progress("finetune", 0.0, f"validating on {n_val:,} texts before the first step · {tc.describe()}")
    vl, va, per = validate(initial=True)
    best = (vl, va, 0, *snapshot())
    hist = [row({"step": 0, "val_loss": vl, "val_accuracy": va}, per)]
    record(hist[-1], 0)
    bad, step, stopped = 0, 0, "epochs"
    done = False
    epochs_run = 0
    last_validated = 0
    for ep in range(cfg.epochs):
        epochs_run = ep + 1
        perms = {t: keep[t][torch.randperm(len(keep[t]), generator=g).numpy()] for t in names}
        order = np.concatenate([np.full(n_batches[t], i) for i, t in enumerate(names)]).astype(np.int64)
        if len(names) > 1:  # one task: no extra draw, so the single-task run is unchanged
            order = order[torch.randperm(len(order), generator=g).numpy()]
        cursor = dict.fromkeys(names, 0)
        for ti in order:
            # a step starts only when it and the closing validation pass fit in what is left of the budget
            step_cost = max(timing["steps"] / step, timing["last_step"]) if step else 0.0
            if B is not None and not clock.fits(step_cost + timing["last_pass"]):
                if step == 0:
                    raise BackboneLensError(
                        f"The time budget of {B:g} s leaves no time for a training step: the validation pass over "
                        f"{n_val:,} texts took {timing['last_pass']:.1f} s. Give more time or fewer validation "
                        "texts.")
                stopped, done = "time budget", True
                break
            t = names[int(ti)]
            train, head = tasks[t][0], heads[t]
            t_step = time.perf_counter()
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
            timing["last_step"] = time.perf_counter() - t_step
            timing["steps"] += timing["last_step"]
            timing["longest_step"] = max(timing["longest_step"], timing["last_step"])
            if step % eval_every == 0 or step == total:
                vl, va, per = validate()
                last_validated = step
                hist.append(row({"step": step, "epoch": ep + 1, "train_loss": float(loss.detach()), "val_loss": vl,
                                 "val_accuracy": va}, per))
                record(hist[-1], step)
                if vl < best[0] - 1e-4:
                    best, bad = (vl, va, step, *snapshot()), 0
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        stopped, done = "early stopping", True
            if progress is not None:
                frac = step / total if B is None else max(step / total, min(1.0, clock.elapsed() / B))
                progress("finetune", frac, f"step {step}/{total}" + (f" ({t})" if len(names) > 1 else "")
                         + f": loss {float(loss.detach()):.3f} · {tw}")
            if done:
                break
        if done:
            break
    if stopped == "time budget" and last_validated != step:  # the pass the budget kept time for
        vl, va, per = validate()
        hist.append(row({"step": step, "epoch": epochs_run, "train_loss": float(loss.detach()), "val_loss": vl,
                         "val_accuracy": va}, per))
        record(hist[-1], step)
        if vl < best[0] - 1e-4:
            best = (vl, va, step, *snapshot())
    model.encoder.load_state_dict(best[3])
    for t, h in heads.items():
        h.load_state_dict(best[4][t])
        h.eval()
    model.encoder.eval()
    model.forget_fingerprints()
    seconds = clock.elapsed()
    budget = None if B is None else {
        "seconds": B, "covers": "tokenizing and optimising, and every validation pass (the first one included)",
        "step_seconds": round(timing["steps"], 2), "longest_step_seconds": round(timing["longest_step"], 3),
        "validation_seconds": round(timing["validation"], 2), "validation_passes": timing["passes"]}
    rate = n_val * timing["passes"] / timing["validation"] if timing["validation"] > 0 else None
    return heads, TrainResult("finetuned", epochs_run, best[2], best[1], best[0], seconds, tuple(hist), stopped,
                              steps=step, threads=tc.to_json(), budget=budget, n_train_used=None,
                              texts_per_second=rate)


def training_metadata(result: TrainResult, cfg: TrainConfig, *, base_ref: str, dataset: TextDataset,
                      split_seed: int, n_train: int, n_val: int, extra: dict[str, Any] | None = None,
                      split: dict[str, Any] | None = None) -> dict:
    """The ``backbone_lens.json`` record of a trained classifier. ``split``: how the texts were chosen
    (:meth:`core.data.sampling.TrainingSplits.to_json`; default: the 70/10/20 hash split of ``dataset``)."""
    return {
        "format": "backbone-lens-classifier/1",
        "setting": result.setting,
        "base_model": base_ref,
        "dataset": dataset.name,
        "data_fingerprint": dataset.source_fingerprint,
        "split": {"method": "hash", "seed": split_seed, "fractions": [0.7, 0.1, 0.2], **(split or {})},
        "n_train": n_train,
        "n_validation": n_val,
        "training": {**cfg.__dict__, "epochs_run": result.epochs_run, "best": result.best_epoch,
                     "stopped_by": result.stopped_by, "seconds": round(result.seconds, 1),
                     "val_accuracy": result.val_accuracy, "val_loss": result.val_loss, "steps": result.steps,
                     "threads": result.threads, "budget": result.budget},
        **(extra or {}),
    }
