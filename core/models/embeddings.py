"""Batched, cached extraction of pooled embeddings, per-layer pooled states and probabilities.

Texts are tokenized once without padding, sorted by length (longest first), and run in batches padded
only to the longest member (dynamic padding) under ``torch.inference_mode``. A batch holds the requested
number of texts; on CUDA it also stays within a token budget from the free memory (rows × longest length,
:meth:`LoadedModel.token_budget`), so the batches of short texts are larger than those of long ones, and the
tokenised batches are copied from pinned memory (:func:`core.models.memory.to_device`). Forward passes run
under the model's autocast precision (:meth:`LoadedModel.with_precision`); results are float32. Encoder
outputs are cached on disk under a key made of the encoder's weight fingerprint, the
dataset's content fingerprint and the parameters; probabilities are recomputed from the
cached pooled embeddings through the (cheap) head, so models sharing an encoder share
their cache entries.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from core.foundation.cache import ArrayCache
from core.data.datasets import TextDataset
from core.foundation.errors import BackboneLensError
from core.models.loading import LoadedModel
from core.models.memory import each_batch, to_device
from core.foundation.progress import Counter, Progress



@dataclass(frozen=True, eq=False)
class EmbeddingSet:
    """Embeddings of n texts.

    pooled: (n, d) float32, final layer, the model's pooling; probs: (n, C) float32 or None;
    layer_pooled: (L+1, n, d) float32 or None (layer 0 = embeddings output);
    n_tokens: (n,) int32 tokens after truncation; truncated: (n,) bool.
    """

    pooled: np.ndarray
    probs: np.ndarray | None
    layer_pooled: np.ndarray | None
    n_tokens: np.ndarray
    truncated: np.ndarray
    model_fingerprint: str
    dataset_fingerprint: str
    params: dict = field(default_factory=dict)
    cache_hit: bool = False
    seconds: float = 0.0

    @property
    def predictions(self) -> np.ndarray | None:
        return None if self.probs is None else self.probs.argmax(1)


def _run_encoder(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, *,
                 max_length: int, batch_size: int, all_layers: bool,
                 progress: Progress | None) -> dict[str, np.ndarray]:
    tok = model.tokenizer
    enc = tok(list(texts), None if pairs is None else list(pairs), truncation=True if pairs is None else "longest_first",
              max_length=max_length, padding=False)
    lengths = np.array([len(x) for x in enc["input_ids"]], dtype=np.int32)
    if getattr(enc, "encodings", None):  # fast tokenizers record what truncation cut off
        truncated = np.array([len(e.overflowing) > 0 for e in enc.encodings], dtype=bool)
    else:
        full = tok(list(texts), None if pairs is None else list(pairs), truncation=False, verbose=False)
        truncated = np.array([len(f) > max_length for f in full["input_ids"]], dtype=bool)
    n, d, L = len(texts), model.hidden_size, model.num_layers
    pooled = np.zeros((n, d), dtype=np.float32)
    layer_pooled = np.zeros((L + 1, n, d), dtype=np.float32) if all_layers else None
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    count = Counter(progress, "embeddings", n, "texts")
    order = np.argsort(-lengths, kind="stable")

    def run(idx: np.ndarray) -> None:
        feats = [{k: enc[k][i] for k in keys} for i in idx]
        batch = to_device(tok.pad(feats, padding=True, return_tensors="pt"), model.device)
        out = model.encode(batch, hidden_states=all_layers)
        pooled[idx] = out.pooled.float().cpu().numpy()
        if all_layers:
            assert out.hidden_states is not None and layer_pooled is not None
            for li, hs in enumerate(out.hidden_states):
                layer_pooled[li, idx] = model.pool(hs.float(), batch["attention_mask"]).cpu().numpy()
        count.advance(len(idx))

    budget = model.token_budget(int(lengths.max()) if n else 1)  # None off CUDA: batches of batch_size texts
    with torch.inference_mode():
        each_batch(order, batch_size, run, device=model.device, what="embeddings", notes=model.notes,
                   lengths=lengths, max_tokens=budget)
    out_arrays = {"pooled": pooled, "n_tokens": lengths, "truncated": truncated}
    if layer_pooled is not None:
        out_arrays["layer_pooled"] = layer_pooled
    return out_arrays


def probs_from_pooled(model: LoadedModel, pooled: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """(n, d) → (n, C) float32 softmax of the model's head."""
    model.require_head()
    out = []
    with torch.inference_mode():
        for i in range(0, len(pooled), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(pooled[i:i + batch_size])).to(model.device)
            out.append(torch.softmax(model.logits(x).float(), -1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.num_labels), np.float32)


def extract_embeddings(
    model: LoadedModel,
    dataset: TextDataset,
    *,
    all_layers: bool = False,
    max_length: int | None = None,
    batch_size: int = 32,
    cache: ArrayCache | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> EmbeddingSet:
    """Pooled embeddings (and probabilities when the model has a head) for ``dataset``."""
    if len(dataset) == 0:
        raise BackboneLensError("The dataset is empty; there is nothing to embed.")
    if batch_size < 1:
        raise BackboneLensError(f"Batch size must be at least 1, got {batch_size}.")
    max_length = int(max_length or model.max_length)
    t0 = time.perf_counter()
    params: dict[str, Any] = {"max_length": max_length, "pooling": model.pooling, "all_layers": all_layers}
    parts = {"encoder": model.encoder_fingerprint, "dataset": dataset.fingerprint, **params}

    def compute():
        return _run_encoder(model, dataset.texts, dataset.text_pairs, max_length=max_length, batch_size=batch_size,
                            all_layers=all_layers, progress=progress), {"n": len(dataset), **params}

    if use_cache:
        cache = cache or ArrayCache()
        entry = cache.get_or_compute("embeddings", parts, compute,
                                     description=f"{model.ref} on {dataset.name} (n={len(dataset)})")
        arrays, hit = entry.arrays, entry.hit
        if hit:
            Counter(progress, "embeddings", len(dataset), "texts (cached)")(len(dataset))
    else:
        arrays, hit = compute()[0], False
    probs = probs_from_pooled(model, arrays["pooled"]) if model.has_head else None
    return EmbeddingSet(
        pooled=arrays["pooled"], probs=probs, layer_pooled=arrays.get("layer_pooled"),
        n_tokens=arrays["n_tokens"], truncated=arrays["truncated"].astype(bool),
        model_fingerprint=model.fingerprint, dataset_fingerprint=dataset.fingerprint,
        params=params, cache_hit=hit, seconds=time.perf_counter() - t0,
    )


def extract_embeddings_from_texts(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                                  batch_size: int = 32, all_layers: bool = False,
                                  progress: Progress | None = None) -> EmbeddingSet:
    """Uncached extraction for ad-hoc texts (every layer's pooled states too with ``all_layers``)."""
    from core.data.datasets import _make

    ds = _make("texts", list(texts), None, (), None if pairs is None else list(pairs))
    return extract_embeddings(model, ds, all_layers=all_layers, batch_size=batch_size, use_cache=False,
                              progress=progress)


def predict_proba(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                  batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
    """(n, C) float32 class probabilities of ad-hoc texts (length-sorted, dynamically padded batches)."""
    model.require_head()
    probs = extract_embeddings_from_texts(model, texts, pairs, batch_size=batch_size, progress=progress).probs
    assert probs is not None
    return probs
