"""Fit a masked-LM decoding head for an encoder shipped without one (e.g. all-MiniLM-L6-v2).

The head is dense + GELU + LayerNorm + bias on top of the decoder tied to the real word
embeddings (:class:`core.models.decoding_heads.DecodingHead`). It is trained on *frozen final hidden
states* with two targets, as decoded saliency needs both: masked positions → the
original token (the masked-LM objective) and unmasked positions → their own token.

**Time budget** (``max_seconds``): it covers reading the hidden states of the training texts and the optimiser
steps. Reading stops when half of the budget is spent (the texts read so far train the head; the report says
how many), so at least half is left for steps; a fit that gets no step is an error. The held-out evaluation
afterwards is not part of the budget: it reads the test texts once and is reported with its own time.
Threads are chosen as for fine-tuning (:func:`core.foundation.settings.choose_threads`)."""
from __future__ import annotations

from core.foundation.errors import BackboneLensError

from core.foundation.progress import Progress

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
import numpy as np
import torch
from torch.nn import functional as F
from core.models.decoding_heads import DecodingHead
from core.models.loading import LoadedModel
from core.models.storage import fitted_head_path


@dataclass(frozen=True)
class MLMHeadReport:
    """Held-out accuracy of a decoding head: masked top-1/top-5, unmasked top-1 per layer."""

    steps: int  # optimiser steps done (a report is only made for a head that trained: steps ≥ 1)
    seconds: float
    train_positions: int
    masked_top1: float
    masked_top5: float
    unmasked_top1: float
    unmasked_top1_by_layer: tuple[float, ...]
    n_masked: int
    n_unmasked: int
    budget_seconds: float | None = None  # the budget: reading the training states + the optimiser steps
    collect_seconds: float | None = None  # reading the hidden states of the training texts
    train_seconds: float | None = None  # the optimiser steps
    eval_seconds: float | None = None  # the held-out evaluation (after the budget)
    texts_used: int | None = None  # training texts read within the budget
    texts_given: int | None = None
    threads: int | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__, unmasked_top1_by_layer=list(self.unmasked_top1_by_layer))


def _collect(model: LoadedModel, texts: Sequence[str], *, max_length: int, mask_prob: float, keep_unmasked: float,
             rng: np.random.Generator, batch_size: int = 32, layers: bool = False, until: float | None = None):
    """Hidden states, targets and masks of the positions drawn from ``texts``; ``until``: a perf_counter time
    after which no new batch starts (at least one batch is read). The last item is the number of texts read."""
    tok = model.tokenizer
    special = set(tok.all_special_ids)
    mask_id = tok.mask_token_id
    H, Y, M, LH = [], [], [], []
    n_read = 0
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            if until is not None and i > 0 and time.perf_counter() >= until:
                break
            batch = model.tokenize(texts[i:i + batch_size], max_length=max_length)
            n_read = min(len(texts), i + batch_size)
            ids = batch["input_ids"].clone()
            valid = batch["attention_mask"].bool() & ~torch.isin(ids, torch.tensor(sorted(special), device=ids.device))
            r = torch.from_numpy(rng.random(ids.shape)).to(ids.device)
            masked = valid & (r < mask_prob)
            keep = valid & ~masked & (r < mask_prob + keep_unmasked * (1 - mask_prob))
            inp = dict(batch)
            inp["input_ids"] = torch.where(masked, torch.full_like(ids, mask_id), ids)
            out = model.encode(inp, hidden_states=layers)
            sel = masked | keep
            H.append(out.last_hidden[sel].float().cpu())
            Y.append(ids[sel].cpu())
            M.append(masked[sel].cpu())
            if layers:
                assert out.hidden_states is not None
                LH.append(torch.stack([h[keep] for h in out.hidden_states]).float().cpu())
    res = [torch.cat(H), torch.cat(Y), torch.cat(M)]
    if layers:
        res.append(torch.cat(LH, dim=1))
    return (*res, n_read)


COLLECT_SHARE = 0.5  # reading hidden states stops when this share of the budget is spent


def fit_decoding_head(model: LoadedModel, train_texts: Sequence[str], test_texts: Sequence[str], *,
                      max_length: int = 128, mask_prob: float = 0.15, keep_unmasked: float = 0.25,
                      max_seconds: float = 60.0, max_steps: int = 4000, batch_size: int = 512, lr: float = 2e-3,
                      seed: int = 0, threads: int | None = None, progress: Progress | None = None
                      ) -> tuple[DecodingHead, MLMHeadReport]:
    """Train a DecodingHead on frozen final states of ``model`` within ``max_seconds`` (reading the training
    states and the steps, see the module docstring); report held-out accuracy on ``test_texts``."""
    from core.foundation.settings import choose_threads, torch_threads

    tc = choose_threads(threads)
    with torch_threads(tc.n):
        return _fit(model, list(train_texts), list(test_texts), max_length=max_length, mask_prob=mask_prob,
                    keep_unmasked=keep_unmasked, max_seconds=max_seconds, max_steps=max_steps,
                    batch_size=batch_size, lr=lr, seed=seed, threads=tc.n, progress=progress)


def _fit(model: LoadedModel, train_texts: list[str], test_texts: list[str], *, max_length: int, mask_prob: float,
         keep_unmasked: float, max_seconds: float, max_steps: int, batch_size: int, lr: float, seed: int,
         threads: int, progress: Progress | None) -> tuple[DecodingHead, MLMHeadReport]:
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tw = f"{threads} thread{'s' if threads != 1 else ''}"
    if progress is not None:
        progress("mlm-head", 0.0, f"reading hidden states of up to {len(train_texts):,} texts · {tw}")
    H, Y, M, n_read = _collect(model, train_texts, max_length=max_length, mask_prob=mask_prob,
                               keep_unmasked=keep_unmasked, rng=rng, until=t0 + COLLECT_SHARE * max_seconds)
    t_collect = time.perf_counter() - t0
    emb = model.encoder.get_input_embeddings()
    head = DecodingHead(emb, eps=getattr(model.encoder.config, "layer_norm_eps", 1e-12)).to(model.device)
    with torch.no_grad():  # start from the identity transform so the tied decoder works from step 0
        head.dense.weight.copy_(torch.eye(head.dense.in_features))
        head.dense.bias.zero_()
    emb.weight.requires_grad_(False)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.0)
    n = len(Y)
    H, Y = H.to(model.device), Y.to(model.device)
    w = torch.where(M, 1.0, 0.5).to(model.device)  # masked positions weigh double: the harder target
    step, t_step = 0, 0.0
    g = torch.Generator().manual_seed(seed)
    # a step starts only when it fits in what is left (its cost estimated from the steps so far)
    while step < max_steps and time.perf_counter() - t0 + (t_step / step if step else 0.0) <= max_seconds:
        ts = time.perf_counter()
        b = torch.randint(0, n, (batch_size,), generator=g).to(model.device)
        loss = (F.cross_entropy(head(H[b]), Y[b], reduction="none") * w[b]).sum() / w[b].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        t_step += time.perf_counter() - ts
        if progress is not None and step % 20 == 0:  # the budget ends at max_steps or max_seconds, what comes first
            done = max(step / max_steps, (time.perf_counter() - t0) / max_seconds)
            progress("mlm-head", min(done, 1.0), f"step {step:,}: loss {float(loss):.2f} · {tw}")
    emb.weight.requires_grad_(True)
    head.eval()
    t_train = time.perf_counter() - t0
    if step == 0:  # a head that never trained is the identity transform: never report it as fitted
        raise BackboneLensError(
            f"The decoding head got no training step: reading the hidden states of {n_read:,} of "
            f"{len(train_texts):,} texts took {t_collect:.0f} s of the {max_seconds:g} s budget. Give more time "
            "(--seconds) or fewer texts.")
    te = time.perf_counter()
    report = evaluate_decoding_head(model, head, test_texts, max_length=max_length, mask_prob=mask_prob, seed=seed + 1)
    report = MLMHeadReport(**{**report.__dict__, "train_positions": n, "steps": step,
                              "seconds": time.perf_counter() - t0, "budget_seconds": max_seconds,
                              "collect_seconds": round(t_collect, 2), "train_seconds": round(t_train - t_collect, 2),
                              "eval_seconds": round(time.perf_counter() - te, 2), "texts_used": n_read,
                              "texts_given": len(train_texts), "threads": threads})
    return head, report


def evaluate_decoding_head(model: LoadedModel, head: torch.nn.Module, texts: Sequence[str], *, max_length: int = 128,
                           mask_prob: float = 0.15, seed: int = 1) -> MLMHeadReport:
    rng = np.random.default_rng(seed)
    H, Y, M, LH, _ = _collect(model, list(texts), max_length=max_length, mask_prob=mask_prob, keep_unmasked=0.5,
                              rng=rng, layers=True)
    with torch.inference_mode():
        H, Y = H.to(model.device), Y.to(model.device)
        top5 = torch.cat([head(H[i:i + 2048]).topk(5, -1).indices for i in range(0, len(H), 2048)])
        hit1 = (top5[:, 0] == Y).cpu()
        hit5 = (top5 == Y[:, None]).any(1).cpu()
        Yu = Y[~M.to(Y.device)]
        by_layer = []
        for li in range(LH.shape[0]):
            h = LH[li].to(model.device)
            pred = torch.cat([head(h[i:i + 2048]).argmax(-1) for i in range(0, len(h), 2048)])
            by_layer.append(float((pred == Yu).float().mean()))
    m = M.bool()
    return MLMHeadReport(
        masked_top1=float(hit1[m].float().mean()) if m.any() else float("nan"),
        masked_top5=float(hit5[m].float().mean()) if m.any() else float("nan"),
        unmasked_top1=float(hit1[~m].float().mean()),
        unmasked_top1_by_layer=tuple(by_layer), n_masked=int(m.sum()), n_unmasked=int((~m).sum()),
        train_positions=0, steps=0, seconds=0.0,
    )


def fit_and_store(model: LoadedModel, train_texts: Sequence[str], test_texts: Sequence[str], *,
                  max_seconds: float = 75.0, progress: Progress | None = None
                  ) -> tuple[Path, MLMHeadReport]:
    """Fit a decoding head with the demo's routine, store it under the cache keyed by the encoder, attach it."""
    import json

    from safetensors.torch import save

    from core.foundation.cache import atomic_write_bytes, atomic_write_text

    if model.encoder.get_input_embeddings() is None:
        from core.foundation.errors import ModelError

        raise ModelError(f"Model {model.ref} has no word-embedding matrix to tie a decoding head to.")
    head, report = fit_decoding_head(model, train_texts, test_texts, max_seconds=max_seconds, progress=progress,
                                     max_length=min(128, model.max_length))
    f = fitted_head_path(model)
    atomic_write_bytes(f, save({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}))
    atomic_write_text(f.with_suffix(".json"), json.dumps({"model": model.ref, "report": report.to_json()}, indent=2))
    model.set_mlm_head(head)
    return f, report
