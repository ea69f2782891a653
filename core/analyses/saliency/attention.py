"""Attention as saliency: last-layer attention of the pooled query, and attention rollout.

Neither depends on the target class (attention is the same whatever is explained). The query
row follows the model's pooling: the [CLS] row for CLS-pooled models, the mean of all rows for
mean-pooled ones (e.g. sentence-transformers MiniLM), unless ``query`` says otherwise.
Attention weights need the eager implementation; the model is switched to it once, with a note.
"""
from __future__ import annotations

import numpy as np
import torch

from core.models.loading import LoadedModel
from core.analyses.saliency.inputs import Inputs
from core.foundation.params import Param
from core.analyses.saliency.registry import register
from core.analyses.saliency.forward import logits_of

_QUERY = Param("query", "choice", "auto", help="whose attention: the [CLS] row, the mean of all rows, or auto "
                     "(follow the model's pooling)", choices=("auto", "cls", "mean"))


def _attentions(model: LoadedModel, inp: Inputs) -> torch.Tensor:
    """(L, b, T, T) attention averaged over heads."""
    with torch.inference_mode():
        _, out = logits_of(model, inp.batch(), attentions=True)
    return torch.stack([a.float().mean(1) for a in out.attentions])


def _query_row(model: LoadedModel, inp: Inputs, A: torch.Tensor, query: str) -> np.ndarray:
    """A: (b, T, T) → (b, T) attention paid by the pooled query."""
    q = ("cls" if model.pooling == "cls" else "mean") if query == "auto" else query
    if q == "cls":
        return A[:, 0, :].cpu().numpy()
    m = inp.attention_mask.float()
    return ((A * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)).cpu().numpy()


@register("attention", title="Attention (last layer)", signed=False, uses_target=False, cost="2 forward passes",
          params=[_QUERY],
          description="The last layer's attention from the pooled query to each token, averaged over heads.")
def attention(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, query: str) -> np.ndarray:
    return _query_row(model, inp, _attentions(model, inp)[-1], query)


def rollout(A: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): Π_l normalise(0.5·A_l + 0.5·I), A: (L, b, T, T) → (b, T, T)."""
    L, b, T, _ = A.shape
    eye = torch.eye(T, device=A.device)[None]
    R = eye.expand(b, T, T).clone()
    for layer in range(L):
        Ah = 0.5 * A[layer] + 0.5 * eye
        Ah = Ah / Ah.sum(-1, keepdim=True)
        R = Ah @ R
    return R * attention_mask.float()[:, None, :]


@register("attention_rollout", title="Attention rollout", signed=False, uses_target=False, cost="2 forward passes",
          params=[_QUERY],
          description="Attention rollout (Abnar & Zuidema, 2020): the product over layers of head-averaged "
                      "attention with the residual identity, read at the pooled query.")
def attention_rollout(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, query: str
                      ) -> np.ndarray:
    return _query_row(model, inp, rollout(_attentions(model, inp), inp.attention_mask), query)
