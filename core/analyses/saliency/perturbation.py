"""Perturbation baselines: occlusion (single tokens or n-gram windows) and Shapley value sampling.

Both measure the target class's *probability* on perturbed copies of the input, where a hidden
token is replaced by the mask token (default), the pad token, or deleted. Perturbed copies of
many texts are evaluated together in length-bucketed batches (:func:`probs_of_sequences`).
"""
from __future__ import annotations

import numpy as np

from core.models.loading import LoadedModel
from core.analyses.saliency.inputs import Inputs, perturb_ids, replacement_ids
from core.foundation.params import Param
from core.analyses.saliency.registry import register
from core.analyses.saliency.forward import probs_of_sequences

_REPLACEMENT = Param("replacement", "choice", "mask", "what a hidden token becomes: the mask token, the pad "
                           "token, or nothing (deleted)", choices=("mask", "pad", "delete"))


@register("occlusion", title="Occlusion", signed=True, cost="one forward pass per window",
          params=[Param("window", "int", 1, "tokens hidden together (1 = leave one token out; n = sliding "
                              "n-gram windows, a token's score is the mean over the windows covering it)", minimum=1, maximum=64),
                  _REPLACEMENT],
          description="The drop of the target-class probability when a token (or a window of n tokens) is "
                      "hidden (Zeiler & Fergus, 2014).")
def occlusion(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, window: int,
              replacement: str) -> np.ndarray:
    mask_id, pad_id = replacement_ids(model, replacement)
    rows = inp.sequences()
    seqs, owner = [], []
    for i, (ids, tt, pos) in enumerate(rows):
        w = min(window, len(pos))
        for k in range(len(pos) - w + 1):
            hide = np.zeros(len(ids), dtype=bool)
            hide[pos[k:k + w]] = True
            seqs.append(perturb_ids(ids, tt, hide, replacement, mask_id=mask_id, pad_id=pad_id))
            owner.append((i, k, w))
    p = probs_of_sequences(model, seqs)
    scores = np.zeros(inp.input_ids.shape, dtype=np.float32)
    counts = np.zeros(inp.input_ids.shape, dtype=np.float32)
    for (i, k, w), pr in zip(owner, p):
        drop = probs[i, targets[i]] - pr[targets[i]]
        pos = rows[i][2][k:k + w]
        scores[i, pos] += drop
        counts[i, pos] += 1
    return scores / np.maximum(counts, 1)


@register("shapley", title="Shapley value sampling", signed=True,
          cost="samples × (tokens − 1) + 2 forward passes",
          params=[Param("samples", "int", 10, "random permutations (the budget)", minimum=1, maximum=1000),
                  Param("seed", "int", 0, "random seed of the permutations", minimum=0),
                  Param("replacement", "choice", "mask", "what an absent token becomes",
                              choices=("mask", "pad", "delete"))],
          description="Shapley values of the tokens for the target-class probability, estimated by permutation "
                      "sampling (Castro et al., 2009; Štrumbelj & Kononenko, 2010): tokens are revealed one by "
                      "one in random orders and each is credited with the change it causes.")
def shapley(model: LoadedModel, inp: Inputs, targets: np.ndarray, probs: np.ndarray, *, samples: int, seed: int,
            replacement: str) -> np.ndarray:
    mask_id, pad_id = replacement_ids(model, replacement)
    rows = inp.sequences()
    seqs, plan = [], []
    for i, (ids, tt, pos) in enumerate(rows):
        rng = np.random.default_rng([seed, i, len(pos)])
        perms = [rng.permutation(len(pos)) for _ in range(samples)]
        empty = np.zeros(len(ids), dtype=bool)
        empty[pos] = True
        start = len(seqs)
        seqs.append(perturb_ids(ids, tt, empty, replacement, mask_id=mask_id, pad_id=pad_id))  # nothing revealed
        for perm in perms:  # the full text is not evaluated again: its value is probs[i]
            hide = empty.copy()
            for k in perm[:-1]:
                hide[pos[k]] = False
                seqs.append(perturb_ids(ids, tt, hide, replacement, mask_id=mask_id, pad_id=pad_id))
        plan.append((i, start, perms))
    p = probs_of_sequences(model, seqs)
    scores = np.zeros(inp.input_ids.shape, dtype=np.float32)
    for i, start, perms in plan:
        pos, c = rows[i][2], targets[i]
        v_empty, v_full = p[start, c], probs[i, c]
        acc = np.zeros(len(pos), dtype=np.float64)
        cur = start + 1
        for perm in perms:
            m = len(perm) - 1
            vals = np.concatenate([[v_empty], p[cur:cur + m, c], [v_full]])
            cur += m
            acc[perm] += np.diff(vals)
        scores[i, pos] = acc / len(perms)
    return scores
