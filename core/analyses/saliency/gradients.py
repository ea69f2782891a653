"""Gradient baselines on the input word embeddings: gradient, gradient × input, SmoothGrad, IG.

"Input" is the word-embedding vector of each token (``inputs_embeds``); position and segment
embeddings are added by the model after it and stay fixed, as in Captum's BERT tutorials.
The explained output is the target class's logit.
"""
from __future__ import annotations

import numpy as np
import torch

from core.models.loading import LoadedModel
from core.analyses.saliency.inputs import Inputs
from core.foundation.params import Param
from core.analyses.saliency.registry import register
from core.analyses.saliency.forward import logits_of


def word_embeddings(model: LoadedModel, ids: torch.Tensor) -> torch.Tensor:
    """(b, T) ids → (b, T, d) word embeddings, detached."""
    with torch.no_grad():
        return model.encoder.get_input_embeddings()(ids).detach()


def target_gradient(model: LoadedModel, batch: dict[str, torch.Tensor], embeds: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """∂ logit_target / ∂ embeds (b, T, d) and the logits (b, C), for a batch fed by ``inputs_embeds``."""
    kw = {k: v for k, v in batch.items() if k != "input_ids"}
    with torch.enable_grad():
        e = embeds.detach().requires_grad_(True)
        logits, _ = logits_of(model, {**kw, "inputs_embeds": e})
        y = logits.gather(1, targets[:, None]).sum()
        (g,) = torch.autograd.grad(y, e)
    return g.detach(), logits.detach()


def _tensor(targets: np.ndarray, model: LoadedModel) -> torch.Tensor:
    return torch.as_tensor(targets, dtype=torch.long, device=model.device)


@register("gradient", title="Gradient (L2 norm)", signed=False, cost="1 backward pass",
          description="The L2 norm of the gradient of the target logit with respect to each token's word "
                      "embedding (Simonyan et al., 2014).")
def gradient(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray) -> np.ndarray:
    e = word_embeddings(model, inp.input_ids)
    g, _ = target_gradient(model, inp.batch(), e, _tensor(targets, model))
    return g.norm(dim=-1).float().cpu().numpy()


@register("grad_x_input", title="Gradient × input", signed=True, cost="1 backward pass",
          description="Σ_k gradient ⊙ word embedding per token (Shrikumar et al., 2016); signed.")
def grad_x_input(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray) -> np.ndarray:
    e = word_embeddings(model, inp.input_ids)
    g, _ = target_gradient(model, inp.batch(), e, _tensor(targets, model))
    return (g * e).sum(-1).float().cpu().numpy()


@register("smoothgrad", title="SmoothGrad", signed=False, cost="one backward pass per noisy copy (samples)",
          params=[Param("samples", "int", 20, "noisy copies averaged", minimum=1, maximum=500),
                  Param("noise", "float", 0.15, "noise σ as a share of the text's embedding value range",
                        minimum=0.0, maximum=2.0),
                  Param("seed", "int", 0, "random seed of the noise", minimum=0)],
          description="The L2 norm of the gradient averaged over copies of the input with Gaussian noise on "
                      "the word embeddings (Smilkov et al., 2017).")
def smoothgrad(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, samples: int,
               noise: float, seed: int, rows_per_pass: int = 64) -> np.ndarray:
    e = word_embeddings(model, inp.input_ids)
    b = len(inp)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = torch.zeros(e.shape, dtype=torch.float32, device=e.device)
    mask = inp.attention_mask.bool()
    sigma = torch.stack([noise * (e[i][mask[i]].max() - e[i][mask[i]].min()) for i in range(b)])  # (b,)
    per = max(1, rows_per_pass // b)  # noisy copies per pass
    t = _tensor(targets, model)
    done = 0
    while done < samples:
        s = min(per, samples - done)
        eps = torch.randn((s, *e.shape), generator=gen).to(e.device) * sigma[None, :, None, None]
        ee = (e[None] + eps).reshape(s * b, *e.shape[1:])
        batch = {k: v.repeat(s, 1) for k, v in inp.batch().items()}
        g, _ = target_gradient(model, batch, ee, t.repeat(s))
        out += g.reshape(s, *e.shape).float().sum(0)
        done += s
    return (out / samples).norm(dim=-1).cpu().numpy()


def _baseline_ids(model: LoadedModel, inp: Inputs, baseline: str) -> torch.Tensor:
    """Input ids of the IG baseline: content tokens replaced (special tokens kept), as in Captum's BERT tutorial."""
    tok = model.tokenizer
    rep = tok.mask_token_id if baseline == "mask" else tok.pad_token_id
    if rep is None:
        rep = tok.pad_token_id or 0
    return torch.where(inp.content, torch.full_like(inp.input_ids, int(rep)), inp.input_ids)


def ig_endpoints(model: LoadedModel, inp: Inputs, baseline: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, baseline) word embeddings (b, T, d) of Integrated Gradients: content tokens become the pad or mask
    token's embedding, or the zero vector; special tokens are kept."""
    e = word_embeddings(model, inp.input_ids)
    if baseline == "zero":
        return e, torch.where(inp.content[..., None], torch.zeros_like(e), e)
    return e, word_embeddings(model, _baseline_ids(model, inp, baseline))


@register("integrated_gradients", title="Integrated Gradients", signed=True, cost="one backward pass per integration step (steps)",
          params=[Param("steps", "int", 50, "integration points (Gauss–Legendre)", minimum=1, maximum=1000),
                  Param("baseline", "choice", "pad", "what content tokens become on the baseline: the pad "
                              "or mask token embedding, or the zero vector", choices=("pad", "mask", "zero"))],
          description="Integrated Gradients (Sundararajan et al., 2017) from a baseline input to the text, "
                      "summed over embedding dimensions; the completeness delta Σ attributions − (logit(x) − "
                      "logit(baseline)) is reported per text.")
def integrated_gradients(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, steps: int,
                         baseline: str, rows_per_pass: int = 64) -> tuple[np.ndarray, list[dict]]:
    e, e0 = ig_endpoints(model, inp, baseline)
    x, w = np.polynomial.legendre.leggauss(steps)
    alphas = torch.as_tensor((x + 1) / 2, dtype=e.dtype, device=e.device)
    weights = torch.as_tensor(w / 2, dtype=e.dtype, device=e.device)
    t = _tensor(targets, model)
    b = len(inp)
    scores = np.zeros(inp.input_ids.shape, dtype=np.float32)
    extras: list[dict] = []
    full = inp.batch()
    for i in range(b):
        row = {k: v[i:i + 1] for k, v in full.items()}
        T = int(inp.attention_mask[i].sum())
        row = {k: v[:, :T] for k, v in row.items()}
        ei, e0i = e[i:i + 1, :T], e0[i:i + 1, :T]
        diff = ei - e0i
        total = torch.zeros_like(ei)
        for s in range(0, steps, rows_per_pass):
            a = alphas[s:s + rows_per_pass]
            path = e0i + a[:, None, None] * diff  # (m, T, d)
            batch = {k: v.expand(len(a), -1) for k, v in row.items()}
            g, _ = target_gradient(model, batch, path, t[i].repeat(len(a)))
            total += (g * weights[s:s + rows_per_pass, None, None]).sum(0, keepdim=True)
        attr = (total * diff).sum(-1)[0]  # (T,)
        with torch.inference_mode():
            kw = {k: v for k, v in row.items() if k != "input_ids"}
            y1 = logits_of(model, {**kw, "inputs_embeds": ei})[0][0, t[i]]
            y0 = logits_of(model, {**kw, "inputs_embeds": e0i})[0][0, t[i]]
        gap = float(y1 - y0)
        delta = float(attr.sum()) - gap
        scores[i, :T] = attr.float().cpu().numpy()
        extras.append({"completeness_delta": delta, "logit_gap": gap,
                       "relative_delta": abs(delta) / max(abs(gap), 1e-6)})
    return scores, extras
