"""The one per-batch function of a corpus audit: (model, a batch of texts, params) → arrays per job.

Both engines call :func:`compute_batch` (through :func:`run_batch`, which adds the cache), so a batch's numbers do
not depend on where it ran. A batch that raises is run again text by text: the texts that still raise are
reported with their row and left out of that job's arrays, the others keep their results.

Arrays per job (k = texts of the batch that succeeded, ``row``: (k,) int64 their positions in the batch):

* ``embed``: ``pooled`` (k, d) float32, ``n_tokens`` (k,) int32, ``truncated`` (k,) bool; with ``all_layers``
  also ``layer_pooled`` (k, L+1, d) float16 (layer 0 = the embedding output);
* ``predict``: ``probs`` (k, C) float32;
* ``entropy``: ``entropy``, ``confidence``, ``ig_delta`` (k,) float64, ``n_tokens``, ``predicted`` (k,) int64;
* ``class-tokens``: ``predicted`` (k,) int64, and per word occurrence (m,): ``word_row`` (the text's position in
  the batch), ``word`` (str) and ``share`` (float64, the word's share of its text's positive evidence);
* ``saliency`` (``params.saliency_method``, explaining the predicted class): per token (m,), the texts one after
  the other, ``scores`` float32 and ``token_id`` int64; per text ``n_tokens`` (k,) int64 (text j's tokens are
  ``offsets[j]:offsets[j + 1]`` with ``offsets = [0, *cumsum(n_tokens)]``), ``predicted`` (k,) int64,
  ``top_share`` (k,) float64 (largest |score| / sum of |scores|) and ``entropy`` (k,) float64 (normalised
  entropy of |scores|);
* ``games`` (K = 11 levels 0, 0.1 … 1 of :data:`core.analyses.saliency.faithfulness.LEVELS`): ``n_tokens``,
  ``target`` (k,) int64 (the intact prediction); ``hide_predicted``, ``reveal_predicted`` (k, K) int64 and
  ``hide_probability``, ``reveal_probability`` (k, K) float64 (the target's probability) for the method's token
  order, the same four with the prefix ``random_`` for the random order;
* ``attack`` (the model's own prediction attacked): ``attacked``, ``flipped`` (k,) bool; ``edits`` (words
  changed), ``n_words``, ``queries``, ``predicted``, ``adversarial_predicted`` (k,) int64; ``similarity``,
  ``entropy_original``, ``entropy_adversarial`` (the detection's classifier-entropy score),
  ``confidence_original``, ``confidence_adversarial`` (k,) float64.

Every job also holds ``failed_row`` (f,) int64 and ``failed_error`` (f,) str.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from core.analyses.corpus.explain_jobs import _attack, _games, _saliency, prepare_jobs
from core.analyses.corpus.params import CorpusParams

if TYPE_CHECKING:  # pragma: no cover
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

Arrays = dict[str, np.ndarray]
GroupFn = Callable[["LoadedModel", Sequence[str], "Sequence[str] | None", CorpusParams, tuple[str, ...]],
                   dict[str, Arrays]]
NEEDS_HEAD = ("predict", "entropy", "class-tokens", "saliency", "games", "attack", "map")
ERROR_CHARS = 300


def kind_of(job: str) -> str:
    """The cache kind of a job's batch entries."""
    return f"corpus-{job}"


def _encode(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
            jobs: tuple[str, ...]) -> dict[str, Arrays]:
    from core.models.embeddings import extract_embeddings_from_texts

    layers = params.all_layers and "embed" in jobs
    emb = extract_embeddings_from_texts(model, texts, pairs, batch_size=params.batch_size, all_layers=layers)
    out: dict[str, Arrays] = {}
    if "embed" in jobs:
        out["embed"] = {"pooled": emb.pooled.astype(np.float32), "n_tokens": emb.n_tokens.astype(np.int32),
                        "truncated": emb.truncated.astype(bool)}
        if layers:
            assert emb.layer_pooled is not None
            out["embed"]["layer_pooled"] = np.ascontiguousarray(emb.layer_pooled.transpose(1, 0, 2), np.float16)
    if "predict" in jobs:
        assert emb.probs is not None
        out["predict"] = {"probs": emb.probs.astype(np.float32)}
    return out


def _entropy(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
             jobs: tuple[str, ...]) -> dict[str, Arrays]:  # noqa: ARG001
    from core.analyses.transformer.instance_view import entropy_arrays

    return {"entropy": entropy_arrays(model, texts, pairs, steps=params.entropy_steps,
                                      baseline=params.entropy_baseline, batch_size=min(16, params.batch_size))}


def _class_tokens(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
                  jobs: tuple[str, ...]) -> dict[str, Arrays]:  # noqa: ARG001
    from core.analyses.saliency.class_tokens import word_shares
    from core.analyses.saliency.registry import explain

    res = explain(model, list(texts), params.class_method, None if pairs is None else list(pairs),
                  batch_size=min(16, params.batch_size))
    rows, words, shares = [], [], []
    for i, r in enumerate(res):
        keys, s = word_shares(r, model.tokenizer)
        rows += [i] * len(keys)
        words += keys
        shares.append(s)
    return {"class-tokens": {"predicted": np.array([r.predicted for r in res], np.int64),
                             "word_row": np.asarray(rows, np.int64), "word": np.asarray(words, dtype=np.str_),
                             "share": np.concatenate(shares) if shares else np.zeros(0, np.float64)}}


# job groups: the jobs one pass computes together
GROUPS: tuple[tuple[tuple[str, ...], GroupFn], ...] = (
    (("embed", "predict"), _encode), (("entropy",), _entropy), (("class-tokens",), _class_tokens),
    (("saliency",), _saliency), (("games",), _games), (("attack",), _attack))


def _short_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:ERROR_CHARS]


def _one_by_one(fn: GroupFn, model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None,
                params: CorpusParams, jobs: tuple[str, ...]) -> tuple[dict[str, Arrays], list[tuple[int, str]]]:
    """``fn`` per text; the texts that raise are returned as (row, error), the others' arrays concatenated."""
    parts: list[tuple[int, dict[str, Arrays]]] = []
    failed: list[tuple[int, str]] = []
    for i, t in enumerate(texts):
        try:
            parts.append((i, fn(model, [t], None if pairs is None else [pairs[i]], params, jobs)))
        except Exception as e:  # noqa: BLE001 - a poisoned text is reported, not fatal
            failed.append((i, _short_error(e)))
    out: dict[str, Arrays] = {}
    for job in jobs:
        if not parts:
            out[job] = {}
            continue
        names = parts[0][1][job].keys()
        merged = {}
        for name in names:
            pieces = [np.full(len(p[job][name]), i, np.int64) if name.endswith("_row") else p[job][name]
                      for i, p in parts]
            merged[name] = np.concatenate(pieces)
        merged["row"] = np.asarray([i for i, _ in parts], np.int64)
        out[job] = merged
    return out, failed


def compute_batch(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, jobs: Sequence[str],
                  params: CorpusParams) -> dict[str, Arrays]:
    """The arrays of ``jobs`` for one batch of texts (see the module docstring): the one function both engines run."""
    out: dict[str, Arrays] = {}
    for group, fn in GROUPS:
        want = tuple(j for j in group if j in jobs)
        if not want:
            continue
        try:
            res = fn(model, texts, pairs, params, want)
            for j in want:
                res[j]["row"] = np.arange(len(texts), dtype=np.int64)
            failed: list[tuple[int, str]] = []
        except Exception:  # noqa: BLE001 - find the text that raised
            res, failed = _one_by_one(fn, model, texts, pairs, params, want)
        for j in want:
            out[j] = {**res[j], "failed_row": np.asarray([r for r, _ in failed], np.int64),
                      "failed_error": np.asarray([e for _, e in failed], dtype=np.str_)}
    return out


@dataclass(frozen=True)
class BatchDone:
    """What one worker reports for one batch: texts, failed texts, jobs computed here (0: all were cached)."""

    batch: int
    n: int
    failed: int
    computed: int
    seconds: float
    pid: int


def run_batch(model: "LoadedModel", cache: "ArrayCache", batch: int, texts: Sequence[str],
              pairs: Sequence[str] | None, keys: Mapping[str, str], params: CorpusParams,
              *, model_fingerprint: str) -> BatchDone:
    """Compute the jobs of one batch whose cache entries (``keys``: job → key) are missing, and store them."""
    t0 = time.perf_counter()
    prepare_jobs(model, params, tuple(keys))  # a worker's own model copy gets the head the driver attached
    if model.fingerprint != model_fingerprint:  # a worker that resolved the reference to other weights
        from core.foundation.errors import ModelError

        raise ModelError(f"The worker loaded {model.ref} with weights {model.fingerprint}, the driver "
                         f"{model_fingerprint}; every worker must see the same model files.")
    missing = [j for j, k in keys.items() if cache.load(kind_of(j), k) is None]
    failed = 0
    if missing:
        arrays = compute_batch(model, texts, pairs, missing, params)
        for j in missing:
            failed = max(failed, len(arrays[j]["failed_row"]))
            cache.save(kind_of(j), keys[j], arrays[j], {"batch": batch, "n": len(texts)},
                       description=f"corpus {j} batch {batch} of {model.ref}")
    return BatchDone(batch, len(texts), failed, len(missing), time.perf_counter() - t0, os.getpid())


__all__ = ["BatchDone", "GROUPS", "NEEDS_HEAD", "compute_batch", "kind_of", "prepare_jobs", "run_batch"]
