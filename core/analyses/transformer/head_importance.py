"""Attention-head importance and the pruning check.

Heads are switched off or scaled by a *head mask* ξ (L, H): head h of layer l contributes ξ_{l,h} · A_h V_h to
its layer's attention output. Scaling the attention probabilities A_h by ξ is the same as scaling the head's
context vector, so the mask is applied by a forward pre-hook on each layer's attention output projection
(which receives the heads' context vectors side by side) — for every family (encoders and decoders; ALBERT's
shared layer; with grouped-query attention the heads are the query heads: masking one zeroes its context vector,
while the key/value head it shares with other query heads stays), without changing the model's code.

* **Attention attribution** (Hao et al., AAAI 2021): ``Attr(A_h) = A_h ⊙ ∫₀¹ ∂F(αA)/∂A dα`` with all heads of the
  layer scaled together and F the logit of the explained class; summed over the matrix entries it equals
  ``∫₀¹ ∂F/∂ξ_{l,h}(α) dα`` along the path ξ_l = α·1 — computed with Gauss–Legendre nodes, all nodes of one text
  and layer in one batch. Head importance = the mean over texts of the summed attribution.
* **Head-mask gradient** (Michel et al., NeurIPS 2019): ``I_h = E_x |∂L(x)/∂ξ_h|`` at ξ = 1, L the cross-entropy
  against the true label (the prediction when unlabelled); one forward and backward pass per batch, per-text
  masks so that the absolute value is taken per text.
* **Pruning check**: mask the k least important heads, and separately the k most important, and measure
  accuracy for k = 0, 1, 2, …, beside a random order — if the ranking is real, removing the most important
  heads hurts far more than removing the least important ones.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Counter, Progress, or_silent
from core.foundation.registry import Registry

if TYPE_CHECKING:  # pragma: no cover - torch is imported inside the functions that run the model
    import torch

    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel


class HeadError(BackboneLensError):
    """A model or input the head analysis cannot handle."""


def _attention_outputs(model: "LoadedModel") -> list[torch.nn.Module]:
    """Each layer's attention output projection (input: the heads' context vectors side by side), for any family
    (:func:`core.models.families.attention_outputs`; ALBERT's shared layer is the same module at every depth)."""
    from core.foundation.errors import ModelError
    from core.models.families import attention_outputs

    try:
        return attention_outputs(model.encoder, model.num_layers)
    except ModelError as e:
        raise HeadError(f"Head masking is not supported for {model.ref} ({model.model_type}): {e}") from None


def head_shape(model: "LoadedModel") -> tuple[int, int]:
    """(layers, heads per layer) of a model whose heads can be masked (else :class:`HeadError`). With grouped-query
    attention the heads are the query heads."""
    from core.analyses.transformer.attention_maps import attention_shape

    return len(_attention_outputs(model)), attention_shape(model)[1]


@contextmanager
def head_mask(model: "LoadedModel", mask: torch.Tensor) -> Iterator[None]:
    """Apply ``mask`` — (L, H) for all texts or (b, L, H) per text — to the heads' outputs while the block runs.

    A module used at several depths (ALBERT's shared layer) gets one hook that counts its calls within a forward
    pass, so call k applies the mask of the k-th depth it serves.
    """
    outs = _attention_outputs(model)
    L, H = len(outs), head_shape(model)[1]
    if mask.shape[-2:] != (L, H):
        raise HeadError(f"A head mask for this model has shape (…, {L}, {H}), got {tuple(mask.shape)}.")
    depths: dict[int, list[int]] = {}
    modules: dict[int, torch.nn.Module] = {}
    for layer, mod in enumerate(outs):
        depths.setdefault(id(mod), []).append(layer)
        modules[id(mod)] = mod
    handles = []

    def make(layers: list[int]):
        calls = [0]

        def pre(_m: Any, args: tuple) -> tuple:
            layer = layers[calls[0] % len(layers)]
            calls[0] += 1
            x = args[0]  # (b, T, H·dh)
            b, T, D = x.shape
            m = mask[layer] if mask.dim() == 2 else mask[:, layer]
            m = m.to(x.dtype).reshape(-1 if mask.dim() == 3 else 1, 1, H, 1)
            return ((x.reshape(b, T, H, D // H) * m).reshape(b, T, D), *args[1:])
        return pre

    for key, layers in depths.items():
        handles.append(modules[key].register_forward_pre_hook(make(layers)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _batches(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, batch_size: int,
             max_length: int | None) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        yield idx, model.tokenize([texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx],
                                  max_length=max_length)


def _logits(model: "LoadedModel", batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.logits(model.encode(batch).pooled).float()


def mask_gradient_importance(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                             labels: Sequence[int] | None = None, batch_size: int = 16,
                             max_length: int | None = None, progress: Progress | None = None) -> np.ndarray:
    """Michel et al.: mean over texts of |∂ cross-entropy / ∂ξ_{l,h}| at ξ = 1. Returns (L, H)."""
    import torch

    model.require_head()
    L, H = head_shape(model)
    total = np.zeros((L, H))
    done = 0
    count = Counter(progress, "mask", len(texts), "texts")
    for idx, batch in _batches(model, texts, pairs, batch_size, max_length):
        xi = torch.ones(len(idx), L, H, device=model.device, requires_grad=True)
        with torch.enable_grad(), head_mask(model, xi):
            lg = _logits(model, batch)
            y = lg.argmax(1).detach()
            if labels is not None:
                lab = torch.as_tensor(np.asarray(labels)[idx], device=model.device)
                y = torch.where(lab >= 0, lab, y)
            loss = torch.nn.functional.cross_entropy(lg, y, reduction="sum")
            (g,) = torch.autograd.grad(loss, xi)
        total += g.abs().sum(0).cpu().numpy()
        done += len(idx)
        count(done)
    return total / max(1, len(texts))


def attention_attribution_importance(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                                     steps: int = 10, max_length: int | None = None, batch_size: int = 64,
                                     progress: Progress | None = None) -> np.ndarray:
    """Hao et al.: mean over texts of each head's summed attention attribution for the predicted class.
    Returns (L, H). Cost: per layer, ``steps`` copies of every text (forward + backward), ``batch_size``
    sequences per pass (several texts × their integration nodes)."""
    import torch

    model.require_head()
    if steps < 1:
        raise HeadError("steps must be at least 1.")
    L, H = head_shape(model)
    x, w = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((x + 1) / 2, dtype=torch.float32, device=model.device)
    weights = torch.tensor(w / 2, dtype=torch.float32, device=model.device)
    total = np.zeros((L, H))
    per = max(1, batch_size // steps)  # texts per pass
    done = 0
    count = Counter(progress, "attribution", len(texts), "texts")
    for idx, batch in _batches(model, texts, pairs, per, max_length):
        b = len(idx)
        with torch.no_grad():
            target = _logits(model, batch).argmax(1)  # (b,)
        rep = {k: v.repeat_interleave(steps, dim=0) for k, v in batch.items()}  # text-major: b × steps
        tgt = target.repeat_interleave(steps)
        a = alphas.repeat(b)
        wt = weights.repeat(b)
        for layer in range(L):
            xi = torch.ones(b * steps, L, H, device=model.device)
            xi[:, layer, :] = a[:, None]
            xi.requires_grad_(True)
            with torch.enable_grad(), head_mask(model, xi):
                F = _logits(model, rep).gather(1, tgt[:, None]).sum()
                (g,) = torch.autograd.grad(F, xi)
            total[layer] += (g[:, layer, :] * wt[:, None]).sum(0).cpu().numpy()
        done += b
        count(done)
    return total / max(1, len(texts))


def masked_accuracy(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, labels: np.ndarray,
                    mask: torch.Tensor, *, batch_size: int = 64, max_length: int | None = None) -> float:
    """Accuracy against ``labels`` (−1: the unmasked prediction is the reference) with heads masked by ``mask``."""
    import torch

    preds = np.zeros(len(texts), np.int64)
    with torch.inference_mode(), head_mask(model, mask.to(model.device)):
        for idx, batch in _batches(model, texts, pairs, batch_size, max_length):
            preds[idx] = _logits(model, batch).argmax(1).cpu().numpy()
    return float((preds == labels).mean())


def pruning_ks(n_heads: int) -> tuple[int, ...]:
    """0, 1, 2, 3, 4, 6, 8, 12, 16, 24, … up to all heads."""
    ks, k = [0, 1, 2, 3, 4], 4
    while k < n_heads:
        k = k + k // 2 if k < 8 else k * 3 // 2
        ks.append(min(k, n_heads))
    return tuple(sorted({x for x in ks if x <= n_heads}))


@dataclass(frozen=True)
class PruningCurves:
    """Accuracy (len(ks),) with the k least / most important heads masked, and with k random heads."""

    ks: tuple[int, ...]
    least_first: np.ndarray
    most_first: np.ndarray
    random: np.ndarray
    reference: str  # what accuracy is measured against

    @property
    def intact(self) -> float | None:
        """Accuracy with no head masked (None when k = 0 was not checked)."""
        return float(self.least_first[0]) if self.ks and self.ks[0] == 0 else None

    def gap(self, order: str = "most") -> float | None:
        """How much better than chance the ranking orders the heads, as a mean accuracy difference over the
        checked k with 0 < k < the largest k (all heads by default; at both ends every order gives the same
        accuracy):

        * ``"most"``: random order minus most-important-first — positive when masking the heads ranked most
          important hurts more than masking as many random heads;
        * ``"least"``: least-important-first minus random order — positive when the heads ranked least important
          matter less than random ones.

        None when no such k was checked."""
        if order not in ("most", "least"):
            raise HeadError(f"Unknown pruning order '{order}'; choose most or least.")
        ks = np.asarray(self.ks)
        inner = (ks > 0) & (ks < ks.max()) if len(ks) else ks.astype(bool)
        if not inner.any():
            return None
        diff = self.random - self.most_first if order == "most" else self.least_first - self.random
        return float(np.mean(np.asarray(diff)[inner]))

    def to_json(self) -> dict[str, Any]:
        return {"ks": list(self.ks), "least_important_first": [round(float(v), 4) for v in self.least_first],
                "most_important_first": [round(float(v), 4) for v in self.most_first],
                "random": [round(float(v), 4) for v in self.random], "accuracy_against": self.reference}


def pruning_curves(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, labels: np.ndarray | None,
                   importance: np.ndarray, *, ks: Sequence[int] | None = None, seed: int = 0,
                   max_length: int | None = None, progress: Progress | None = None) -> PruningCurves:
    """Mask heads in importance order (least first, most first) and in a seeded random order. importance: (L, H)."""
    import torch

    L, H = importance.shape
    ks = tuple(ks) if ks is not None else pruning_ks(L * H)
    if labels is None or (np.asarray(labels) < 0).all():
        ref = "the unmasked model's predictions"
        with torch.inference_mode():
            labels = np.zeros(len(texts), np.int64)
            for idx, batch in _batches(model, texts, pairs, 64, max_length):
                labels[idx] = _logits(model, batch).argmax(1).cpu().numpy()
    else:
        ref = "true labels"
        labels = np.asarray(labels)
    flat = importance.ravel()
    orders = {"least": np.argsort(flat, kind="stable"), "most": np.argsort(-flat, kind="stable"),
              "random": np.random.default_rng(seed).permutation(L * H)}
    out = {k: np.zeros(len(ks)) for k in orders}
    total, done = len(ks) * 3, 0
    count = Counter(progress, "pruning", total, "masked runs")
    for name, order in orders.items():
        for j, k in enumerate(ks):
            m = torch.ones(L * H)
            m[torch.as_tensor(order[:k], dtype=torch.long)] = 0.0
            out[name][j] = masked_accuracy(model, texts, pairs, labels, m.view(L, H), max_length=max_length)
            done += 1
            count(done, total)
    return PruningCurves(ks, out["least"], out["most"], out["random"], ref)


# ----------------------------------------------------------------------------- the methods


@dataclass(frozen=True)
class HeadMethod:
    """A head-importance method: ``importance(model, texts, pairs, labels, steps, max_length, progress)`` → (L, H);
    ``cite`` the paper, ``help`` one sentence on what it measures; ``signed``: negative values mean a head that works
    against the prediction."""

    importance: Callable[..., np.ndarray]
    cite: str
    help: str
    signed: bool


def _attribution(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, labels: Any, steps: int,
                 max_length: int | None, progress: Progress | None) -> np.ndarray:
    return attention_attribution_importance(model, texts, pairs, steps=steps, max_length=max_length, progress=progress)


def _mask(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, labels: Any, steps: int,
          max_length: int | None, progress: Progress | None) -> np.ndarray:
    return mask_gradient_importance(model, texts, pairs, labels=labels, max_length=max_length, progress=progress)


HEAD_METHODS: Registry[HeadMethod] = Registry("head-importance method", error=HeadError)
HEAD_METHODS.add("attribution", HeadMethod(
    _attribution, "Hao et al. 2021", "integrated gradients of the predicted class's logit with respect to each "
    "head's attention weights, scaled from 0 to 1; signed (negative = the head works against the prediction).",
    signed=True), title="Attention attribution")
HEAD_METHODS.add("mask", HeadMethod(
    _mask, "Michel et al. 2019", "|gradient of the loss with respect to a gate on each head's output| at the intact "
    "model; unsigned, one backward pass per batch (quick).", signed=False), title="Head-mask gradient")


def check_method(method: str) -> None:
    if method not in HEAD_METHODS:
        raise HeadError(f"Unknown head-importance method '{method}'; choose {' or '.join(HEAD_METHODS)}.")


def other_method(method: str) -> str:
    """The method a comparison puts beside ``method``."""
    check_method(method)
    return next(m for m in HEAD_METHODS if m != method)


@dataclass(frozen=True)
class HeadImportanceParams(Params):
    """What decides head importance apart from the model and the sample (its seed orders the random pruning)."""

    method: str = param("attribution", "attribution (attention attribution, Hao et al. 2021) or mask (head-mask "
                        "gradient, Michel et al. 2019)", type="choice", choices=HEAD_METHODS.names())
    steps: int = param(10, "integration steps of the attention attribution", minimum=1, maximum=100)
    compare: bool = param(True, "also compute the other method and the Spearman correlation of the rankings")
    prune: bool = param(True, "run the pruning check (accuracy with k heads masked in three orders)")
    max_length: int | None = param(None, "truncate texts to this many tokens", type="int", minimum=4)

    def stages(self) -> tuple[str, ...]:
        """The stages a run goes through, in order: the method, the other one (``compare``), "pruning"."""
        return (self.method, *((other_method(self.method),) if self.compare else ()),
                *(("pruning",) if self.prune else ()))


# seconds per text on an idle 2-core CPU, for tweets (a 128-token article costs roughly four tweets): attention
# attribution at 10 integration steps (it grows in proportion to the steps); the head-mask gradient; the pruning
# check (39 masked passes for 72 heads, about half the attribution's cost)
SECONDS_PER_TEXT = {"attribution": 0.78, "mask": 0.04, "pruning": 0.4}


def stage_seconds(params: HeadImportanceParams) -> dict[str, float]:
    """Seconds per text of each stage of a run with ``params`` (the weights of a progress bar over the stages)."""
    return {s: SECONDS_PER_TEXT[s] * (params.steps / 10 if s == "attribution" else 1) for s in params.stages()}


def estimate_seconds(n: int, params: HeadImportanceParams) -> float:
    """About how long a run on ``n`` tweets takes the first time: the attention attribution (when computed) and the
    pruning check (the head-mask gradient is quick)."""
    per = stage_seconds(params)
    return n * (per.get("attribution", 0.0) + SECONDS_PER_TEXT["pruning"])


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HeadImportance:
    """importance: (L, H) of ``method``; other: (L, H) of the other method when computed; spearman: their rank
    correlation; pruning: the check for ``method``'s ranking; seconds per stage.

    From :func:`run_head_importance` also: the ``sample`` of texts, the ``params``, ``cache_hit`` (read from the
    disk cache; seconds are then those of the first computation) and ``label_note`` (why accuracy is measured
    against the model's own predictions; '' when against true labels)."""

    model_ref: str
    method: str
    importance: np.ndarray
    other: np.ndarray | None
    spearman: float | None
    pruning: PruningCurves | None
    n: int
    seconds: dict[str, float]
    sample: "Sample | None" = None
    params: HeadImportanceParams | None = None
    cache_hit: bool = False
    label_note: str = ""

    @property
    def other_method(self) -> str:
        return other_method(self.method)

    def ranking(self) -> list[tuple[int, int]]:
        """(layer, head) of every head, most important first (ties: lower index first)."""
        L, H = self.importance.shape
        return [divmod(int(i), H) for i in np.argsort(-self.importance.ravel(), kind="stable")]

    def top_heads(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` most important heads: rank (from 1), layer, head, importance and, when the other method was
        computed, its importance and rank there (None otherwise)."""
        H = self.importance.shape[1]
        other_rank: dict[tuple[int, int], int] = {}
        if self.other is not None:
            order = np.argsort(-self.other.ravel(), kind="stable")
            other_rank = {divmod(int(i), H): r + 1 for r, i in enumerate(order)}
        return [{"rank": r, "layer": l, "head": h, "importance": float(self.importance[l, h]),
                 "other_importance": None if self.other is None else float(self.other[l, h]),
                 "other_rank": other_rank.get((l, h))} for r, (l, h) in enumerate(self.ranking()[:k], start=1)]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model_ref, "method": self.method, "n": self.n,
                               "layers": int(self.importance.shape[0]), "heads": int(self.importance.shape[1]),
                               "matrix": np.round(self.importance, 6).tolist(),
                               "top_heads": [{"layer": l, "head": h} for l, h in self.ranking()[:10]],
                               "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}
        if self.other is not None:
            out["other_method"] = self.other_method
            out["other_matrix"] = np.round(self.other, 6).tolist()
            out["spearman"] = None if self.spearman is None else round(self.spearman, 4)
        if self.pruning is not None:
            out["pruning"] = self.pruning.to_json()
        return out


def head_importance(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                    labels: np.ndarray | None = None, method: str = "attribution", compare: bool = True,
                    prune: bool = True, steps: int = 10, seed: int = 0, max_length: int | None = None,
                    progress: Progress | None = None) -> HeadImportance:
    """Head importance of ``texts`` (n,) by ``method`` (and the other method with ``compare``, with their Spearman
    correlation), plus the pruning check of ``method``'s ranking. labels: (n,) true labels as the model's ids (−1 =
    none); stages: the method names, then "pruning"."""
    from scipy.stats import spearmanr

    check_method(method)
    if len(texts) == 0:
        raise HeadError("No texts to measure head importance on.")
    say = or_silent(progress)
    head_shape(model)  # unsupported architectures fail before any work
    sec: dict[str, float] = {}
    res: dict[str, np.ndarray] = {}
    for m in ([method, other_method(method)] if compare else [method]):
        t0 = time.perf_counter()
        cb = (lambda st, frac, msg, m=m: say(m, frac, f"{m}: {msg}"))
        res[m] = HEAD_METHODS.get(m).importance(model, texts, pairs, labels, steps, max_length, cb)
        sec[m] = time.perf_counter() - t0
    other = next((res[m] for m in res if m != method), None)
    rho = None
    if other is not None:
        r = spearmanr(res[method].ravel(), other.ravel()).statistic
        rho = None if np.isnan(r) else float(r)
    curves = None
    if prune:
        t0 = time.perf_counter()
        curves = pruning_curves(model, texts, pairs, labels, res[method], seed=seed, max_length=max_length,
                                progress=progress)
        sec["pruning"] = time.perf_counter() - t0
    return HeadImportance(model.ref, method, res[method], other, rho, curves, len(texts), sec)


def run_head_importance(model: "LoadedModel", sample: "Sample", params: HeadImportanceParams | None = None, *,
                        cache: "ArrayCache | None" = None, progress: Progress | None = None) -> HeadImportance:
    """:func:`head_importance` on every text of ``sample`` (true labels matched to the model's by name; its own
    predictions are the reference when none match; the sample's seed orders the random pruning), cached on disk by
    model weights, texts and settings; a cached result keeps the seconds of its first computation."""
    from core.analyses.projection.run import model_labels
    from core.foundation.cache import ArrayCache

    p = params or HeadImportanceParams()
    check_method(p.method)
    model.require_head()
    cache = cache or ArrayCache()
    ds = sample.dataset
    labels, label_note = model_labels(model, ds)
    parts = {"model": model.fingerprint, "dataset": ds.fingerprint, "labels": labels.tolist(),
             "method": p.method, "compare": bool(p.compare), "prune": bool(p.prune),
             "steps": int(p.steps) if p.method == "attribution" or p.compare else None, "seed": int(sample.seed),
             "max_length": p.max_length}
    key = cache.key({"kind": "heads", **parts})
    entry = cache.load("heads", key)
    if entry is not None:
        a, meta = entry.arrays, entry.meta
        curves = None
        if "least_first" in a:
            curves = PruningCurves(tuple(int(k) for k in meta["ks"]), a["least_first"], a["most_first"], a["random"],
                                   str(meta["reference"]))
        return HeadImportance(model.ref, p.method, a["importance"], a["other"] if "other" in a else None,
                              meta.get("spearman"), curves, int(meta["n"]), dict(meta["seconds"]), sample, p, True,
                              label_note)
    pairs = None if ds.text_pairs is None else list(ds.text_pairs)
    res = head_importance(model, list(ds.texts), pairs, labels=labels, method=p.method, compare=p.compare,
                          prune=p.prune, steps=p.steps, seed=sample.seed, max_length=p.max_length, progress=progress)
    arrays = {"importance": res.importance}
    if res.other is not None:
        arrays["other"] = res.other
    meta: dict[str, Any] = {"n": res.n, "spearman": res.spearman, "seconds": res.seconds}
    if res.pruning is not None:
        pr = res.pruning
        arrays |= {"least_first": pr.least_first, "most_first": pr.most_first, "random": pr.random}
        meta |= {"ks": list(pr.ks), "reference": pr.reference}
    cache.save("heads", key, arrays, meta, description=f"{model.ref}: {p.method} head importance n={res.n}")
    return replace(res, sample=sample, params=p, label_note=label_note)


__all__ = ["HEAD_METHODS", "HeadError", "HeadImportance", "HeadImportanceParams", "HeadMethod", "PruningCurves",
           "SECONDS_PER_TEXT", "attention_attribution_importance", "check_method", "estimate_seconds",
           "head_importance", "head_mask", "head_shape", "mask_gradient_importance", "masked_accuracy",
           "other_method", "pruning_curves", "pruning_ks", "run_head_importance", "stage_seconds"]
