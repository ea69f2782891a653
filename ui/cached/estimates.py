"""How long the dashboard's long jobs will take on this machine: each job's model passes counted from its parameters
and the token lengths of the very texts it will run on, priced by :mod:`core.models.throughput` (a short
calibration of the model, measured now and kept a few minutes per model and device).

The counts follow the code of each analysis (a method's passes per text, the games' perturbed texts per token
order, integrated Hessians' path points × rows, an attack's candidates per word); what is not a model pass (NumPy,
Python, UMAP) is left out, which is why an :class:`~core.models.throughput.Estimate` carries a range.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import streamlit as st

from core.analyses.adversarial.attacks import AttackParams
from core.analyses.saliency_params import GRADCAM, ClassTokensParams, FaithfulnessParams, capped
from core.analyses.transformer.head_importance import HeadImportanceParams
from core.analyses.transformer.instance_view import EntropyParams, InstanceParams
from core.models.loading import LoadedModel
from core.models.throughput import Estimate, Work, estimate, per_text
from ui.cached.common import get_model
from ui.state import DatasetChoice

LEVELS = tuple(round(x / 10, 1) for x in range(11))  # the games' levels (core.analyses.saliency.faithfulness.LEVELS)
SCOUT_POINTS = 129  # integrated Hessians' first-order scout pass (core.analyses.transformer.instance_view)
PER_PANEL = 4  # integrated Hessians' Gauss–Legendre nodes per panel


def token_lengths(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None,
                  max_length: int | None = None) -> np.ndarray:
    """(n,) tokens each text (pair) is fed to the model with, special tokens included, after truncation."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    enc = model.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True if pairs is None
                          else "longest_first", max_length=int(max_length or model.max_length))
    return np.asarray([len(x) for x in enc["input_ids"]], dtype=np.int64)


def _specials(model: LoadedModel, paired: bool) -> int:
    return int(model.tokenizer.num_special_tokens_to_add(pair=paired))


def method_work(model: LoadedModel, name: str, params: dict, T: np.ndarray, content: np.ndarray, *,
                layers: int = 1) -> Work:
    """The passes of saliency method ``name`` over texts of ``T`` tokens (``content`` without special tokens);
    ``layers``: Grad-CAM layers read from the one backward pass (decoded: one read-out each)."""
    one = np.ones(len(T))
    if name == "random":
        return Work()
    fused = name in GRADCAM
    w = Work() if fused else per_text("forward", one, T)  # the forward pass that finds the targets
    if name in ("gradient", "grad_x_input", "layer_gradcam"):
        return w + per_text("gradient", one, T)
    if name == "decoded_gradcam":
        return w + per_text("gradient", one, T) + per_text("readout", one * layers, T)
    if name == "integrated_gradients":
        return w + per_text("gradient", one * int(params.get("steps", 50)), T) + per_text("forward", 2 * one, T)
    if name == "smoothgrad":
        return w + per_text("gradient", one * int(params.get("samples", 20)), T)
    if name == "occlusion":
        win = int(params.get("window", 1))
        return w + per_text("forward", np.maximum(content - win + 1, 1), T)
    if name == "shapley":
        return w + per_text("forward", int(params.get("samples", 10)) * np.maximum(content - 1, 0) + 2, T)
    return w + per_text("forward", 2 * one, T)  # attention, attention_rollout: 2 forward passes


def games_work(model: LoadedModel, T: np.ndarray, content: np.ndarray, params: FaithfulnessParams,
               settings: dict[str, dict]) -> Work:
    """The games of ``params`` on texts of ``T`` tokens: each method's saliency and its perturbed texts, as named
    parts (one per method, and "random"), plus the intact texts scored once."""
    sweep = params.layer_list(model.num_layers)
    per_order = np.zeros(len(T))
    for i, c in enumerate(content):
        counts = {int(np.floor(lv * c + 0.5)) for lv in LEVELS}
        per_order[i] = 2 * sum(1 for k in counts if 0 < k < c)  # hide top k, and hide all but the top k
    delete = params.replacement == "delete"
    game_T = np.maximum(T - content / 2, 3) if delete else T  # deletions shorten the texts by half on average
    total = per_text("forward", np.ones(len(T)) + 1, T)  # intact texts, and every token hidden (shared by orders)
    for m in [*params.methods, "random"]:
        layers = len(sweep) if sweep is not None and m in GRADCAM else 1
        p = {**capped(m, settings.get(m, {}))} | ({"steps": params.ig_steps} if m == "integrated_gradients" else {})
        w = method_work(model, m, p, T, content, layers=layers) + per_text("forward", per_order * layers, game_T)
        total = total + w.named(m)
    return total


def _saliency_sample(model_ref: str, choice: DatasetChoice, n: int):
    from ui.cached.saliency import _sample

    return _sample(get_model(model_ref), choice, n)


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def games(model_ref: str, choice: DatasetChoice, n: int, params: FaithfulnessParams,
          settings: dict[str, dict]) -> Estimate:
    """How long the faithfulness games of ``params`` on ``n`` texts of ``choice`` take here (parts: per method)."""
    model = get_model(model_ref)
    smp = _saliency_sample(model_ref, choice, n)
    T = token_lengths(model, smp.texts, smp.text_pairs, params.max_length)
    content = T - _specials(model, smp.text_pairs is not None)
    return estimate(model, games_work(model, T, content, params, settings))


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def class_tokens(model_ref: str, choice: DatasetChoice, n: int, params: ClassTokensParams,
                 settings: dict) -> Estimate:
    """How long class-representative tokens over ``n`` texts take here (the method's saliency of every text)."""
    model = get_model(model_ref)
    smp = _saliency_sample(model_ref, choice, n)
    T = token_lengths(model, smp.texts, smp.text_pairs)
    content = T - _specials(model, smp.text_pairs is not None)
    return estimate(model, method_work(model, params.method, settings, T, content))


def instance_work(model: LoadedModel, text: str, pair: str | None, params: InstanceParams) -> Work:
    """The passes of the instance view of one text: Integrated Gradients ("attribution"), then integrated Hessians'
    scout pass and its path points × the rows' tokens of second derivatives ("interactions")."""
    T = token_lengths(model, [text], None if pair is None else [pair])
    K = min(int(T[0] - _specials(model, pair is not None)), int(params.max_tokens))
    points = PER_PANEL * max(1, int(params.steps) // PER_PANEL)
    ig = per_text("gradient", [params.ig_steps], T) + per_text("forward", [3], T)
    ih = per_text("gradient", [SCOUT_POINTS], T) + per_text("hessian", [points * max(K, 1)], T)
    return ig.named("attribution") + ih.named("interactions")


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def instance(model_ref: str, text: str, pair: str | None, params: InstanceParams) -> Estimate:
    """How long the instance view of one text takes here (see :func:`instance_work`)."""
    model = get_model(model_ref)
    return estimate(model, instance_work(model, text, pair, params))


def entropy_work(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, params: EntropyParams
                 ) -> Work:
    """The passes of an attribution-entropy study: Integrated Gradients of every text (and its forward passes)."""
    T = token_lengths(model, texts, pairs)
    one = np.ones(len(T))
    return per_text("gradient", one * params.steps, T) + per_text("forward", one * 3, T)


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def entropy(model_ref: str, choice: DatasetChoice, n: int, params: EntropyParams) -> Estimate:
    """How long the attribution-entropy study of ``n`` texts of ``choice`` takes here (see :func:`entropy_work`)."""
    from ui.cached.transformer import _sample

    model = get_model(model_ref)
    smp = _sample([model], choice, n)
    return estimate(model, entropy_work(model, smp.texts, smp.text_pairs, params))


def heads_work(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None,
               params: HeadImportanceParams) -> Work:
    """The passes of head importance, one named part per stage: attention attribution (every layer's heads scaled
    along ``steps`` nodes: layers × steps forward + backward passes per text), the head-mask gradient (one), and the
    pruning check (three masking orders × the checked numbers of heads, forward passes)."""
    from core.analyses.transformer.head_importance import head_shape, pruning_ks

    L, H = head_shape(model)
    T = token_lengths(model, texts, pairs, params.max_length)
    one = np.ones(len(T))
    cost = {"attribution": per_text("gradient", one * L * params.steps, T) + per_text("forward", one, T),
            "mask": per_text("gradient", one, T),
            "pruning": per_text("forward", one * (3 * len(pruning_ks(L * H)) + 1), T)}
    total = Work()
    for stage in params.stages():
        total = total + cost[stage].named(stage)
    return total


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def heads(model_ref: str, choice: DatasetChoice, n: int, params: HeadImportanceParams) -> Estimate:
    """How long head importance on ``n`` texts of ``choice`` takes here (parts: its stages)."""
    from ui.cached.transformer import _sample

    model = get_model(model_ref)
    smp = _sample([model], choice, n)
    return estimate(model, heads_work(model, smp.texts, smp.text_pairs, params))


def attack_work(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, params: AttackParams
                ) -> tuple[Work, Work]:
    """The passes of attacking ``texts``: (if every text flips at its first edited word, if no text flips before the
    limit of changed words). Per text: the word ranking (its saliency method), then per word tried its candidates,
    each scored by the similarity encoder and the classifier."""
    from core.analyses.adversarial.candidates import char_candidates, editable, stop_words
    from core.analyses.saliency import get_method

    T = token_lengths(model, texts, pairs)
    content = T - _specials(model, pairs is not None)
    stops = stop_words()
    imp = method_work(model, params.importance, get_method(params.importance).resolve_params(model, {}), T, content)
    if params.attack == "word" and params.candidates == "unmasked":
        imp = imp + per_text("forward", np.ones(len(T)), T) + per_text("readout", np.ones(len(T)), T)
    first, limit = np.zeros(len(T)), np.zeros(len(T))
    for i, t in enumerate(texts):
        words = [w.strip(".,;:!?\"'()[]") for w in t.split()][: int(content[i])]
        ok = [w for w in words if editable(w, stops) and (params.attack == "word" or len(w) >= 3)
              and not w.startswith(("@", "#", "http"))]
        cands = ([len(char_candidates(w, seed=params.seed)) for w in ok] if params.attack == "char"
                 else [params.top_k] * len(ok))
        budget = max(1, int(np.floor(params.max_change * max(1, len(words)))))
        first[i] = cands[0] if cands else 0
        limit[i] = sum(cands[:budget])
    sim_T = np.minimum(T, 128)
    both = []
    for per_word in (first, limit):
        w = imp + per_text("forward", per_word, T)
        if params.min_similarity > 0:
            w = w + per_text("forward", per_word + 1, sim_T)  # the similarity encoder (MiniLM-sized)
        both.append(w)
    return both[0], both[1]


@st.cache_data(show_spinner="Measuring this machine's speed…", ttl=120, max_entries=64)
def attack(model_ref: str, choice: DatasetChoice, n: int, params: AttackParams) -> tuple[Estimate, Estimate]:
    """How long attacking ``n`` texts of ``choice`` takes here, as (every text flips at its first edited word, no
    text flips before the limit of changed words): see :func:`attack_work`."""
    model = get_model(model_ref)
    smp = _saliency_sample(model_ref, choice, n)
    low, high = attack_work(model, smp.texts, smp.text_pairs, params)
    return estimate(model, low), estimate(model, high)


__all__ = ["attack", "attack_work", "class_tokens", "entropy", "entropy_work", "games", "games_work", "heads", "heads_work", "instance",
           "instance_work", "method_work", "token_lengths"]
