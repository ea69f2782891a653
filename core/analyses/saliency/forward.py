"""Forward helpers of the saliency methods: logits of a batch, probabilities of id sequences, targets
and layers.
"""
from __future__ import annotations

from typing import Any, Sequence
import numpy as np
import torch

from core.models.memory import each_batch
from core.models.loading import LoadedModel
from core.analyses.saliency.result import SaliencyError


def logits_of(model: LoadedModel, batch: dict[str, torch.Tensor], *, hidden_states: bool = False,
              attentions: bool = False) -> tuple[torch.Tensor, Any]:
    """Classifier logits (b, C) for a batch given as ids or ``inputs_embeds``, and the encoder output."""
    out = model.encode(batch, hidden_states=hidden_states, attentions=attentions)
    return model.logits(out.pooled), out


def probs_of_sequences(model: LoadedModel, seqs: Sequence[tuple[np.ndarray, np.ndarray]], *, batch_size: int = 32
                       ) -> np.ndarray:
    """Class probabilities (N, C) for id sequences given as (input_ids (T_i,), token_type_ids (T_i,)).

    Batches sequences of similar length together (dynamic padding), so perturbations by deletion
    and long/short texts cost what their lengths cost.
    """
    n = len(seqs)
    pad = model.tokenizer.pad_token_id or 0
    out = np.zeros((n, model.num_labels), dtype=np.float32)
    order = np.argsort([len(s[0]) for s in seqs], kind="stable")
    dev = model.device
    pad_idx = _position_padding_idx(model)

    def run(rows: np.ndarray) -> None:
        T = max(len(seqs[i][0]) for i in rows)
        ids = np.full((len(rows), T), pad, dtype=np.int64)
        tt = np.zeros((len(rows), T), dtype=np.int64)
        am = np.zeros((len(rows), T), dtype=np.int64)
        for r, i in enumerate(rows):
            a, t = seqs[i]
            ids[r, :len(a)], tt[r, :len(a)], am[r, :len(a)] = a, t, 1
        batch = {"input_ids": torch.from_numpy(ids).to(dev), "attention_mask": torch.from_numpy(am).to(dev),
                 "token_type_ids": torch.from_numpy(tt).to(dev)}
        if pad_idx is not None:  # RoBERTa-style position ids skip pad ids: a pad replacement must not shift them
            batch["position_ids"] = (pad_idx + 1 + torch.arange(T, device=dev)).expand(len(rows), T)
        logits, _ = logits_of(model, batch)
        out[rows] = torch.softmax(logits.float(), -1).cpu().numpy()

    if n:
        size = model.batch_size_for(batch_size, max(len(s[0]) for s in seqs))
        with torch.inference_mode():
            each_batch(order, size, run, device=dev, what="perturbed texts", notes=model.notes)
    return out


def _position_padding_idx(model: LoadedModel) -> int | None:
    """The padding index of RoBERTa-family position embeddings (positions count from it), else None."""
    if model.family != "roberta":
        return None
    emb = getattr(model.encoder, "embeddings", None)
    return getattr(emb, "padding_idx", None)


def resolve_targets(model: LoadedModel, target: int | str | Sequence[int | str] | None, probs: np.ndarray
                    ) -> np.ndarray:
    """(b,) class ids: the predicted class where ``target`` is None, else the given id or label name."""
    C = model.num_labels
    b = len(probs)
    if target is None:
        return probs.argmax(1).astype(np.int64)
    items = list(target) if isinstance(target, (list, tuple, np.ndarray)) else [target] * b
    if len(items) != b:
        raise SaliencyError(f"{len(items)} targets for {b} texts.")
    out = []
    names = ", ".join(f"{i} = {n}" for i, n in enumerate(model.label_names))
    for t in items:
        if isinstance(t, str) and t in model.label_names:  # a label name first, even if it looks like a number
            out.append(model.label_names.index(t))
            continue
        if isinstance(t, str) and not t.strip().lstrip("-").isdigit():
            if t not in model.label_names:
                raise SaliencyError(f"Target '{t}' is not one of the model's labels ({names}).")
            out.append(model.label_names.index(t))
            continue
        try:
            ti = int(t)
        except (TypeError, ValueError):
            raise SaliencyError(f"Target {t!r} is neither a label name nor a class number ({names}).") from None
        if not 0 <= ti < C:
            raise SaliencyError(f"Target {ti} is outside the label set: this model has classes {names}.")
        out.append(ti)
    return np.asarray(out, dtype=np.int64)


def check_layer(model: LoadedModel, layer: int) -> int:
    L = model.num_layers
    try:
        li = int(layer)
    except (TypeError, ValueError):
        raise SaliencyError(f"Layer must be a whole number from 0 to {L}, got {layer!r}.") from None
    if not 0 <= li <= L:
        raise SaliencyError(f"Layer {li} is out of range: this model has layers 0 (the embeddings) to {L}.")
    return li


def default_layer(model: LoadedModel) -> int:
    """Two thirds of the depth (4 of 6, 8 of 12): the region where the paper found decoded Grad-CAM best."""
    return max(1, round(2 * model.num_layers / 3))
