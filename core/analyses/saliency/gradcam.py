"""Decoded layer Grad-CAM (Hou & Castanon, ICML 2023) and plain layer Grad-CAM.

For target class c and the hidden states h_l (n positions × K) of layer l:

* α = ∂y_c/∂h_l ⊙ h_l (n × K);
* P̂_l = softmax(f_lm(h_l)) (n × V), the masked-LM head's reading of every position;
* D̂_l = the columns of P̂_l at the input tokens' vocabulary ids, transposed (T × n);
* s_l = ReLU(Σ_k (D̂_l α)_{·,k}) = ReLU(D̂_l a) with a_j = Σ_k α_jk.

Plain layer Grad-CAM is the ablation without decoding: s_l = ReLU(a) (position = token).
One forward and one backward pass give α at every layer, so a layer sweep costs one MLM-head
read-out per layer on top.
"""
from __future__ import annotations

from core.foundation.progress import Progress

from typing import Any, Callable, Sequence

import numpy as np
import torch

from core.models.loading import LoadedModel
from core.analyses.saliency.inputs import Inputs
from core.foundation.params import Param
from core.analyses.saliency.registry import register, require_mlm_head
from core.analyses.saliency.result import SaliencyResult
from core.analyses.saliency.forward import check_layer, logits_of
from core.analyses.saliency.runner import run_batched


def layer_alphas(model: LoadedModel, inp: Inputs, targets: np.ndarray | Callable[[np.ndarray], np.ndarray],
                 layers: Sequence[int]) -> tuple[list[torch.Tensor], list[torch.Tensor], np.ndarray, np.ndarray]:
    """Per layer: hidden states h_l (b, T, K) and α_l = ∂y_c/∂h_l ⊙ h_l (b, T, K), detached; plus the
    probabilities (b, C) and targets (b,). ``targets`` may be a function of the probabilities, so that
    the one forward pass that is differentiated also decides what to explain."""
    with torch.enable_grad():
        logits, out = logits_of(model, inp.batch(), hidden_states=True)
        probs = torch.softmax(logits.detach().float(), -1).cpu().numpy()
        tg = np.asarray(targets(probs) if callable(targets) else targets)
        t = torch.as_tensor(tg, dtype=torch.long, device=model.device)
        hs = [out.hidden_states[li] for li in layers]
        y = logits.gather(1, t[:, None]).sum()
        grads = torch.autograd.grad(y, hs)
    return [h.detach() for h in hs], [(g * h).detach() for g, h in zip(grads, hs)], probs, tg


def decode_positions(model: LoadedModel, h: torch.Tensor, inp: Inputs, *, layer: int | None = None,
                     rows_per_pass: int = 8) -> torch.Tensor:
    """D̂ as (b, n, T): P̂[b, j, ids[b, t]] = probability that position j decodes to input token t, reading the
    hidden states ``h`` of ``layer`` through the model's decoding head (a decoder's: the logit lens)."""
    assert model.mlm_head is not None
    b, T, _ = h.shape
    out = torch.empty((b, T, T), dtype=torch.float32, device=h.device)
    with torch.inference_mode():
        for s in range(0, b, rows_per_pass):
            hh = h[s:s + rows_per_pass]
            logp = torch.log_softmax(model.decode(hh, layer).float(), dim=-1)  # (r, n, V)
            ids = inp.input_ids[s:s + rows_per_pass]
            out[s:s + rows_per_pass] = logp.gather(2, ids[:, None, :].expand(-1, T, -1)).exp()
    return out


def decoded_scores(model: LoadedModel, inp: Inputs, h: torch.Tensor, alpha: torch.Tensor, *,
                   layer: int | None = None) -> np.ndarray:
    """s = ReLU(D̂ a) (b, T): each position's evidence a_j moved onto the input tokens it decodes to."""
    a = alpha.float().sum(-1) * inp.attention_mask.float()  # (b, n): padding carries nothing
    D = decode_positions(model, h, inp, layer=layer)  # (b, n, T)
    return torch.relu(torch.einsum("bnt,bn->bt", D, a)).cpu().numpy()


def plain_scores(inp: Inputs, alpha: torch.Tensor) -> np.ndarray:
    return torch.relu(alpha.float().sum(-1)).cpu().numpy()


def gradcam_all_layers(model: LoadedModel, inp: Inputs, targets: np.ndarray | Callable[[np.ndarray], np.ndarray],
                       layers: Sequence[int], *, decoded: bool = True
                       ) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """({layer: (b, T) scores}, probs (b, C), targets (b,)) for every layer in ``layers``: one forward and
    one backward pass."""
    hs, alphas, probs, tg = layer_alphas(model, inp, targets, layers)
    return ({li: (decoded_scores(model, inp, h, a, layer=li) if decoded else plain_scores(inp, a))
             for li, h, a in zip(layers, hs, alphas)}, probs, tg)


def gradcam_layer_sweep(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                        layers: Sequence[int] | None = None, decoded: bool = True, target: Any = None,
                        batch_size: int = 16, max_length: int | None = None,
                        progress: Progress | None = None) -> dict[int, list[SaliencyResult]]:
    """{layer: results per text} of (decoded) layer Grad-CAM for every layer (default 0 … L), one backward pass."""
    model.require_head()
    layers = [check_layer(model, li) for li in (range(model.num_layers + 1) if layers is None else layers)]
    name = "decoded_gradcam" if decoded else "layer_gradcam"
    if decoded:
        require_mlm_head(model, name)
    return run_batched(model, texts, pairs,
                       lambda sub, resolve, _: gradcam_all_layers(model, sub, resolve, layers, decoded=decoded),
                       method=name, params={"layer": None}, signed=False, target=target, batch_size=batch_size,
                       max_length=max_length, progress=progress, fused=True)


_LAYER = Param("layer", "int", None, help="hidden-state layer: 0 = embeddings … L = last (default: 2/3 of the "
                     "depth)", minimum=0)


@register("decoded_gradcam", title="Decoded layer Grad-CAM", signed=False, needs_mlm_head=True, fused=True,
          cost="1 backward pass + 1 MLM-head read-out", params=[_LAYER],
          description="Grad-CAM at a hidden layer, projected back onto the input tokens through the masked-LM "
                      "head: each position's evidence goes to the input tokens it decodes to (Hou & Castanon, "
                      "ICML 2023).")
def decoded_gradcam(model: LoadedModel, inp: Inputs, resolve: Callable[[np.ndarray], np.ndarray], *, layer: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores, probs, targets = gradcam_all_layers(model, inp, resolve, [layer], decoded=True)
    return scores[layer], probs, targets


@register("layer_gradcam", title="Layer Grad-CAM (not decoded)", signed=False, cost="1 backward pass", fused=True,
          params=[_LAYER],
          description="Grad-CAM at a hidden layer read as if position = token (the ablation the decoding paper "
                      "argues against): ReLU(Σ_k ∂y/∂h ⊙ h) per position.")
def layer_gradcam(model: LoadedModel, inp: Inputs, resolve: Callable[[np.ndarray], np.ndarray], *, layer: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores, probs, targets = gradcam_all_layers(model, inp, resolve, [layer], decoded=False)
    return scores[layer], probs, targets
