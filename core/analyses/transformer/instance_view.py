"""Instance view: Integrated-Gradients attribution of one text, pairwise token interactions by Integrated
Hessians, and the entropy of the attribution — per text and over a dataset.

**Integrated Hessians** (Janizek, Sturmfels & Lee, JMLR 2021) explain the IG attribution φ_i of a token
by IG once more: Γ_ij = IG_j(φ_i). For the target logit f of the word embeddings x (T tokens × d),
baseline x′ and Δ = x − x′, summed over the embedding dimensions of tokens i and j::

    Γ_ij = Σ_{a∈i, b∈j} Δ_a Δ_b ∫∫ αβ ∂²f/∂x_a∂x_b (x′ + αβΔ) dα dβ
           + [i = j] Σ_{a∈i} Δ_a ∫∫ ∂f/∂x_a (x′ + αβΔ) dα dβ

(the second, first-order term only on the diagonal). Each row sums to the token's IG attribution
(Σ_j Γ_ij = φ_i), so all entries sum to f(x) − f(x′). Both integrands depend on αβ only, so each
double integral is one integral over γ = αβ with a logarithmic weight: ∫₀¹ γ(−ln γ)·(Hessian term) dγ
and ∫₀¹ (−ln γ)·(gradient term) dγ, computed with Gauss–Legendre panels placed where the path's
attribution changes (:func:`integrated_hessians_tensor`). One point
costs one batched double backward pass with one batch row per explained token (row i back-propagates
Σ_{a∈i} Δ_a ∂f/∂x_a). Only the ``max_tokens`` tokens with the largest |IG| get rows, so long texts
stay affordable; their columns still run over every token (the row sums check completeness).

**Attribution entropy** is the Shannon entropy of p_i = |φ_i| / Σ_j |φ_j| over the content tokens,
divided by log T (1 = evidence spread evenly, 0 = on one token). Over a dataset, :func:`run_entropy`
asks whether it is higher on misclassified or low-confidence texts (AUROC), with the AUROC of text
length beside it because normalised entropy still grows with length.

torch is imported inside the functions that run the model, so that the parameters load without it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Progress, or_silent, scaled

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from core.analyses.saliency.result import SaliencyResult
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

BASELINES = ("pad", "mask", "zero")


class InstanceError(BackboneLensError):
    """Bad input to the instance view (empty text, no classifier head, too few texts …)."""


# ----------------------------------------------------------------------------- entropy


def attribution_entropy(scores: np.ndarray) -> float:
    """Normalised Shannon entropy in [0, 1] of |scores| (T,) as a distribution; 0 for one token or all zeros."""
    a = np.abs(np.asarray(scores, dtype=np.float64)).ravel()
    T = len(a)
    s = a.sum()
    if T < 2 or s <= 0:
        return 0.0
    p = a[a > 0] / s
    return float(-(p * np.log(p)).sum() / np.log(T))


# ----------------------------------------------------------------------------- integrated Hessians


PER_PANEL = 4  # Gauss–Legendre nodes per panel
SCOUT_POINTS = 129  # first-order gradients along the path that place the panels


def _panel_nodes(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Path points γ with the weights of the Hessian term (γ(−ln γ)) and of the first-order term (−ln γ),
    ``PER_PANEL`` Gauss–Legendre nodes in each panel [edges[m], edges[m+1]]. In the first panel γ = b·s² takes
    the logarithmic singularity at 0 away."""
    x, w = np.polynomial.legendre.leggauss(PER_PANEL)
    s, w = (x + 1) / 2, w / 2
    gam, wg = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == 0.0:
            g = hi * s ** 2
            ww = w * 2 * hi * s
        else:
            g = lo + (hi - lo) * s
            ww = w * (hi - lo)
        gam.append(g)
        wg.append(ww * -np.log(g))
    gam_a, wg_a = np.concatenate(gam), np.concatenate(wg)
    return gam_a, wg_a * gam_a, wg_a


def panel_edges(u: np.ndarray, grid: np.ndarray, panels: int, *, floor: float = 0.25) -> np.ndarray:
    """Panel edges on [0, 1] at equal shares of the path's variation: u (len(grid), K) first-order
    attributions Σ_a Δ_a ∂f/∂x_a of the explained tokens along the path, grid (G,) increasing from 0 to 1.
    A share ``floor`` of the mass is spread uniformly, so flat stretches still get panels."""
    tv = np.abs(np.diff(u, axis=0)).sum(1)
    tv = tv / tv.sum() if tv.sum() > 0 else np.full(len(tv), 1.0 / len(tv))
    mass = (1 - floor) * tv + floor * np.diff(grid)
    c = np.concatenate([[0.0], np.cumsum(mass)])
    c /= c[-1]
    edges = np.interp(np.linspace(0, 1, panels + 1), c, grid)
    edges[0], edges[-1] = 0.0, 1.0
    return np.maximum.accumulate(edges)


def integrated_hessians_tensor(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, x0: torch.Tensor,
                               rows: Sequence[int], *, steps: int = 32, max_batch: int = 32,
                               progress: Progress | None = None) -> torch.Tensor:
    """Integrated Hessians of a scalar function of token vectors.

    f: (B, T, d) → (B,), each batch row evaluated independently; x, x0: (T, d) input and baseline;
    rows: the tokens that get a row; steps: path points (rounded to a multiple of 4). Returns Γ
    (len(rows), T): Γ[k, j] = interaction of token rows[k] with token j (first-order term on j = rows[k]);
    Σ_j Γ[k, j] = the IG attribution of rows[k].

    Attribution along a path through a transformer is sharply peaked (most of it happens over a short
    stretch of α), so the points are not spread evenly: a cheap first-order scout pass (129 points) measures
    where the explained tokens' attributions change, and panels of 4 Gauss–Legendre nodes are placed at equal
    shares of that variation (a quarter of it spread uniformly).
    """
    import torch

    rows_t = torch.as_tensor(list(rows), dtype=torch.long, device=x.device)
    K = len(rows_t)
    if K == 0:
        raise InstanceError("No tokens to compute interactions for.")
    delta = (x - x0).detach()
    grid = np.linspace(0.0, 1.0, SCOUT_POINTS)
    u = []
    for s in range(0, len(grid), 2 * max_batch):
        gs = torch.as_tensor(grid[s:s + 2 * max_batch], dtype=x.dtype, device=x.device)
        with torch.enable_grad():
            E = (x0[None] + gs[:, None, None] * delta[None]).requires_grad_(True)
            (g,) = torch.autograd.grad(f(E).sum(), E)
        u.append((g[:, rows_t] * delta[rows_t][None]).sum(-1).double().cpu().numpy())
    edges = panel_edges(np.concatenate(u), grid, max(1, int(steps) // PER_PANEL))
    gam, wh, wg = _panel_nodes(edges)
    hess = torch.zeros(K, x.shape[0], dtype=torch.float64, device=x.device)
    first = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    per = max(1, max_batch // K)  # path points per pass
    sel = torch.arange(K, device=x.device)
    for s in range(0, len(gam), per):
        gs = torch.as_tensor(gam[s:s + per], dtype=x.dtype, device=x.device)
        P = len(gs)
        pts = (x0[None] + gs[:, None, None] * delta[None])  # (P, T, d)
        E = pts[:, None].expand(P, K, *x.shape).reshape(P * K, *x.shape).clone().requires_grad_(True)
        with torch.enable_grad():
            y = f(E)
            (g,) = torch.autograd.grad(y.sum(), E, create_graph=True)  # (P·K, T, d)
            gk = g.reshape(P, K, *x.shape)[:, sel, rows_t]  # (P, K, d): ∂f/∂x at row k's own token
            sk = (gk * delta[rows_t][None]).sum(-1)  # (P, K)
            (h,) = torch.autograd.grad(sk.sum(), E)  # row (p, k): Σ_{a∈rows[k]} Δ_a H[a, ·]
        hrow = (h.reshape(P, K, *x.shape) * delta[None, None]).sum(-1).double()  # (P, K, T)
        wht = torch.as_tensor(wh[s:s + per], dtype=torch.float64, device=x.device)
        wgt = torch.as_tensor(wg[s:s + per], dtype=torch.float64, device=x.device)
        hess += (hrow * wht[:, None, None]).sum(0)
        g0 = (g.detach().reshape(P, K, *x.shape)[:, 0] * delta[None]).sum(-1).double()  # (P, T)
        first += (g0 * wgt[:, None]).sum(0)
        if progress is not None:
            progress("interactions", min(s + per, len(gam)) / len(gam), f"path point {min(s + per, len(gam))} / {len(gam)}")
    out = hess
    out[sel, rows_t] += first[rows_t]
    return out.float()


@dataclass(frozen=True, eq=False)
class InstanceView:
    """IG attribution of one text and the Integrated Hessians interactions of its top tokens.

    ``attribution`` is the IG :class:`~core.analyses.saliency.result.SaliencyResult` (tokens (T,), scores (T,)).
    rows: (K,) indices into ``attribution.tokens`` of the tokens with interaction rows (text order);
    interactions: (K, K) Γ among them (diagonal = main effect incl. self-interaction); row_sums: (K,)
    Σ_j Γ over *all* tokens, to compare with the IG scores of ``rows``. entropy: normalised attribution
    entropy in [0, 1]."""

    attribution: "SaliencyResult"
    entropy: float
    rows: np.ndarray
    interactions: np.ndarray
    row_sums: np.ndarray
    steps: int
    ig_steps: int
    baseline: str
    seconds: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def row_tokens(self) -> tuple[str, ...]:
        return tuple(self.attribution.tokens[i] for i in self.rows)

    @property
    def completeness_error(self) -> float:
        """max_k |row_sum_k − IG_k| / max |IG|: how well the interaction rows add up to the attributions."""
        ig = self.attribution.scores[self.rows]
        return float(np.abs(self.row_sums - ig).max() / max(float(np.abs(self.attribution.scores).max()), 1e-12))

    def top_pairs(self, n: int = 10) -> list[tuple[str, str, float]]:
        """The ``n`` strongest off-diagonal interactions (symmetrised), strongest |Γ| first."""
        S = (self.interactions + self.interactions.T) / 2
        iu = np.triu_indices(len(S), 1)
        vals = S[iu]
        order = np.argsort(-np.abs(vals), kind="stable")[:n]
        toks = self.row_tokens
        return [(toks[iu[0][o]], toks[iu[1][o]], float(vals[o])) for o in order]

    def to_json(self) -> dict[str, Any]:
        a = self.attribution
        return {"text": a.text, "text_pair": a.text_pair, "target": a.target_label, "predicted": a.predicted_label,
                "probability": round(a.probability, 6), "tokens": list(a.tokens),
                "attribution": [round(float(s), 6) for s in a.scores], "entropy": round(self.entropy, 6),
                "ig_completeness": a.extras.get("relative_delta"),
                "interaction_tokens": list(self.row_tokens), "interaction_rows": [int(r) for r in self.rows],
                "interactions": np.round(self.interactions, 6).tolist(),
                "interaction_completeness_error": round(self.completeness_error, 6),
                "top_pairs": [{"a": x, "b": y, "interaction": round(v, 6)} for x, y, v in self.top_pairs()],
                "method": {"attribution": f"integrated gradients ({self.ig_steps} Gauss–Legendre steps, {self.baseline} "
                                          "baseline)",
                           "interactions": f"integrated Hessians (Janizek et al. 2021), {self.steps} path points"},
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "notes": list(self.notes)}


@dataclass(frozen=True)
class InstanceParams(Params):
    """How one text is explained in depth."""

    ig_steps: int = param(50, "integrated-gradients steps for the explained texts", minimum=2, maximum=1000)
    steps: int = param(32, "integrated-Hessians path points", minimum=4, maximum=512)
    max_tokens: int = param(16, "tokens with interaction rows (the most attributed)", minimum=2, maximum=40)
    baseline: str = param("pad", "the integrated-gradients baseline: pad, mask or zero", type="choice",
                          choices=BASELINES)


def instance_view(model: "LoadedModel", text: str, text_pair: str | None = None,
                  params: InstanceParams | None = None, *, target: int | str | None = None,
                  max_length: int | None = None, cache: "ArrayCache | None" = None,
                  progress: Progress | None = None) -> InstanceView:
    """IG attribution of ``text`` (for ``target``, default the prediction), its entropy, and the Integrated
    Hessians interactions among its ``params.max_tokens`` most attributed tokens (cached in ``cache`` when given).
    Stages: "attribution", "interactions"."""
    from core.analyses.saliency.registry import explain
    from core.analyses.saliency.forward import logits_of
    from core.analyses.saliency.inputs import prepare_inputs
    from core.analyses.saliency.gradients import ig_endpoints

    p = params or InstanceParams()
    ig_steps, steps, baseline, max_tokens = p.ig_steps, p.steps, p.baseline, p.max_tokens
    model.require_head()
    if not isinstance(text, str) or not text.strip():
        raise InstanceError("The text is empty.")
    if baseline not in BASELINES:
        raise InstanceError(f"Unknown baseline '{baseline}'; choose pad, mask or zero.")
    if not 4 <= int(steps) <= 512:
        raise InstanceError(f"Integrated Hessians needs 4 … 512 path points, got {steps}.")
    if int(max_tokens) < 2:
        raise InstanceError(f"Interactions need at least 2 tokens, not {max_tokens}.")
    say = or_silent(progress)
    t0 = time.perf_counter()
    say("attribution", 0.0, "integrated gradients")
    pairs = None if text_pair is None else [text_pair]
    ig = explain(model, [text], "integrated_gradients", pairs, target=target, steps=ig_steps, baseline=baseline,
                 max_length=max_length)[0]
    t_ig = time.perf_counter() - t0
    notes: list[str] = []
    if ig.truncated:
        notes.append(f"the text is longer than the model reads; only its first {model.max_length} tokens are "
                     "explained")
    T = len(ig.scores)
    K = min(T, int(max_tokens))
    top = np.sort(np.argsort(-np.abs(ig.scores), kind="stable")[:K])
    if K < T:
        notes.append(f"interactions for the {K} of {T} tokens with the largest |attribution|")
    t1 = time.perf_counter()
    n_notes = len(model.notes)
    model.ensure_eager_attention()  # PyTorch's fused CPU attention has no second derivative
    notes += [n.replace("to return attention weights", "for second derivatives") for n in model.notes[n_notes:]]
    inp = prepare_inputs(model, [text], pairs, max_length=max_length)
    e, e0 = ig_endpoints(model, inp, baseline)
    tgt = ig.target  # the class IG explained (the prediction unless ``target`` says otherwise)
    kw = {k: v for k, v in inp.batch().items() if k != "input_ids"}

    def f(E: torch.Tensor) -> torch.Tensor:
        B = E.shape[0]
        logits, _ = logits_of(model, {k: v.expand(B, -1) for k, v in kw.items()} | {"inputs_embeds": E})
        return logits[:, tgt]

    positions = ig.positions  # content token → model input position

    def interactions() -> np.ndarray:
        G = integrated_hessians_tensor(f, e[0], e0[0], positions[top].tolist(), steps=steps,
                                       progress=progress)
        return G.cpu().numpy()

    if cache is None:
        G = interactions()
    else:  # keyed: keyed by weights, input, target, rows and settings
        parts = {"model": model.fingerprint, "text": text, "pair": text_pair, "target": tgt, "baseline": baseline,
                 "rows": positions[top].tolist(), "steps": int(steps), "max_length": max_length}
        G = cache.get_or_compute("interactions", parts, lambda: ({"G": interactions()}, {}),
                                 description=f"integrated Hessians {model.ref}").arrays["G"]
    inter = G[:, positions[top]]
    row_sums = G.sum(1)
    return InstanceView(ig, attribution_entropy(ig.scores), top.astype(np.int64), inter.astype(np.float32),
                        row_sums.astype(np.float32), int(steps), int(ig_steps), baseline,
                        {"attribution": t_ig, "interactions": time.perf_counter() - t1}, tuple(notes))


# ----------------------------------------------------------------------------- dataset level


@dataclass(frozen=True)
class EntropyParams(Params):
    """What decides an attribution-entropy study apart from the model and the sample."""

    steps: int = param(20, "integrated-gradients steps per text in the study", minimum=2, maximum=500)
    baseline: str = param("pad", "the integrated-gradients baseline: pad, mask or zero", type="choice",
                          choices=BASELINES)
    low_quantile: float = param(0.25, "the share of the texts with the lowest confidence that counts as low "
                                "confidence", minimum=0, maximum=1)


@dataclass(frozen=True, eq=False)
class EntropyStudy:
    """Attribution entropy over a sample. Arrays (n,), aligned with the sample's texts: entropy (normalised),
    n_tokens, predicted (the model's class ids), confidence (probability of the prediction), correct (bool; None
    without labels), labelled (bool: texts with a true label; errors are judged among them), true (the true labels
    as the model's class ids, −1 = none). AUROCs: entropy separating errors from correct texts, and
    low-confidence (bottom ``low_quantile`` of confidence) from the rest; the same for text length as a control."""

    model_ref: str
    dataset_name: str
    entropy: np.ndarray
    n_tokens: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    correct: np.ndarray | None
    labelled: np.ndarray
    label_names: tuple[str, ...]
    steps: int
    baseline: str
    low_quantile: float
    seconds: float
    cached: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    sample: "Sample | None" = None
    true: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.entropy)

    def true_names(self) -> tuple[str, ...]:
        """(n,) the true label of each text in the model's names ('' = none)."""
        ids = np.full(self.n, -1) if self.true is None else self.true
        return tuple(self.label_names[int(i)] if i >= 0 else "" for i in ids)

    @property
    def low_confidence(self) -> np.ndarray:
        return self.confidence <= np.quantile(self.confidence, self.low_quantile)

    @staticmethod
    def _auroc(positive: np.ndarray, score: np.ndarray) -> float | None:
        from sklearn.metrics import roc_auc_score

        if positive.all() or not positive.any():
            return None
        return float(roc_auc_score(positive, score))

    @property
    def auroc_error(self) -> float | None:
        m = self.labelled
        return None if self.correct is None else self._auroc(~self.correct[m], self.entropy[m])

    @property
    def auroc_low_confidence(self) -> float | None:
        return self._auroc(self.low_confidence, self.entropy)

    @property
    def auroc_error_length(self) -> float | None:
        m = self.labelled
        return None if self.correct is None else self._auroc(~self.correct[m], self.n_tokens[m].astype(float))

    @property
    def auroc_low_confidence_length(self) -> float | None:
        return self._auroc(self.low_confidence, self.n_tokens.astype(float))

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        err = None if self.correct is None else ~self.correct[self.labelled]
        ent = self.entropy[self.labelled]
        return {"model": self.model_ref, "dataset": self.dataset_name, "n": self.n,
                "method": f"integrated gradients, {self.steps} steps, {self.baseline} baseline",
                "entropy_mean": round(float(self.entropy.mean()), 4),
                "entropy_errors_mean": None if err is None or not err.any() else round(float(ent[err].mean()), 4),
                "entropy_correct_mean": None if err is None or err.all() else round(float(ent[~err].mean()), 4),
                "errors": None if err is None else int(err.sum()),
                "auroc_error": r(self.auroc_error), "auroc_low_confidence": r(self.auroc_low_confidence),
                "auroc_error_length": r(self.auroc_error_length),
                "auroc_low_confidence_length": r(self.auroc_low_confidence_length),
                "low_confidence_quantile": self.low_quantile,
                "low_confidence_threshold": round(float(np.quantile(self.confidence, self.low_quantile)), 4),
                "seconds": round(self.seconds, 2), "cached": self.cached, "notes": list(self.notes)}


# integrated gradients of one tweet at 20 steps, MiniLM, idle 2-core CPU (500 tweets: 116 s); grows with the steps
IG_SECONDS_PER_TEXT = 0.25


def estimate_entropy_seconds(n: int, params: EntropyParams | None = None) -> float:
    """About how long an entropy study of ``n`` short texts takes the first time."""
    return n * IG_SECONDS_PER_TEXT * (params or EntropyParams()).steps / 20


def entropy_arrays(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None = None, *, steps: int,
                   baseline: str, batch_size: int = 16, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """IG attribution entropy of ``texts`` explaining the predicted class: arrays (n,) ``entropy``, ``n_tokens``,
    ``predicted``, ``confidence`` (probability of the prediction) and ``ig_delta`` (IG's relative completeness gap)."""
    from core.analyses.saliency.registry import explain

    res = explain(model, list(texts), "integrated_gradients", None if pairs is None else list(pairs), steps=steps,
                  baseline=baseline, batch_size=batch_size, progress=progress)
    return {"entropy": np.array([attribution_entropy(r.scores) for r in res], np.float64),
            "n_tokens": np.array([len(r.scores) for r in res], np.int64),
            "predicted": np.array([r.predicted for r in res], np.int64),
            "confidence": np.array([r.probability for r in res], np.float64),
            "ig_delta": np.array([r.extras.get("relative_delta", np.nan) for r in res], np.float64)}


def run_entropy(model: "LoadedModel", sample: "Sample", params: EntropyParams | None = None, *,
                cache: "ArrayCache | None" = None, progress: Progress | None = None,
                batch_size: int = 16) -> EntropyStudy:
    """IG attribution entropy of every text of ``sample`` (explaining the predicted class), cached on disk by
    model, texts and settings, with AUROCs for errors and low confidence. Stage: "attribution"."""
    from core.foundation.cache import ArrayCache
    from core.analyses.projection.run import model_labels

    p = params or EntropyParams()
    steps, baseline, low_quantile = p.steps, p.baseline, p.low_quantile
    dataset = sample.dataset
    model.require_head()
    if len(dataset) < 4:
        raise InstanceError(f"An entropy study needs at least 4 texts, got {len(dataset)}.")
    if not 0 < low_quantile < 1:
        raise InstanceError(f"The low-confidence share must be between 0 and 1, got {low_quantile}.")
    cache = cache or ArrayCache()
    parts = {"model": model.fingerprint, "dataset": dataset.fingerprint, "steps": int(steps), "baseline": baseline,
             "method": "integrated_gradients"}
    t0 = time.perf_counter()

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        pairs = None if dataset.text_pairs is None else list(dataset.text_pairs)
        return entropy_arrays(model, list(dataset.texts), pairs, steps=steps, baseline=baseline,
                              batch_size=batch_size, progress=scaled(progress, 0.0, 1.0, stage="attribution")), {}

    entry = cache.get_or_compute("attribution-entropy", parts, compute,
                                 description=f"IG entropy {model.ref} × {dataset.name}")
    a = entry.arrays
    labels, note = model_labels(model, dataset)
    notes = [note] if note else []
    labelled = labels >= 0
    correct = None
    if labelled.any() and not note:
        if not labelled.all():
            notes.append(f"{int((~labelled).sum())} unlabelled texts count as neither correct nor wrong")
        correct = a["predicted"] == labels
    return EntropyStudy(model.ref, dataset.name, a["entropy"], a["n_tokens"], a["predicted"], a["confidence"], correct,
                        labelled, tuple(model.label_names), int(steps), baseline, float(low_quantile),
                        time.perf_counter() - t0, entry.hit, tuple(notes), sample, labels)


__all__ = ["BASELINES", "EntropyParams", "EntropyStudy", "IG_SECONDS_PER_TEXT", "InstanceError", "InstanceParams",
           "InstanceView", "attribution_entropy", "entropy_arrays", "estimate_entropy_seconds", "instance_view", "integrated_hessians_tensor", "run_entropy"]
