"""Run a method over texts: tokenise, batch texts of similar length, and cut scores down to each text's
content tokens.
"""
from __future__ import annotations

from core.foundation.progress import Counter, Progress

from typing import Any, Callable, Sequence
import numpy as np
import torch
from core.models.loading import LoadedModel
from core.models.memory import each_batch
from core.analyses.saliency.forward import logits_of, resolve_targets
from core.analyses.saliency.inputs import Inputs, prepare_inputs
from core.analyses.saliency.result import SaliencyResult


def build_results(model: LoadedModel, inp: Inputs, scores: np.ndarray, targets: np.ndarray, probs: np.ndarray, *,
                  method: str, params: dict, signed: bool, extras: Sequence[dict] | None = None
                  ) -> list[SaliencyResult]:
    """Cut (b, T) position scores down to each text's content tokens."""
    content = inp.content.cpu().numpy()
    ids = inp.input_ids.cpu().numpy()
    res = []
    for i in range(len(inp)):
        pos = np.flatnonzero(content[i])
        tid = ids[i, pos]
        res.append(SaliencyResult(
            text=inp.texts[i], text_pair=None if inp.pairs is None else inp.pairs[i],
            tokens=tuple(model.tokenizer.convert_ids_to_tokens(tid.tolist())),
            scores=np.asarray(scores[i, pos], dtype=np.float32), token_ids=tid.astype(np.int64), positions=pos,
            segments=inp.segments[i, pos].copy(), word_ids=inp.word_ids[i, pos].copy(),
            offsets=inp.offsets[i, pos].copy(), target=int(targets[i]), label_names=tuple(model.label_names),
            probabilities=np.asarray(probs[i], dtype=np.float32), method=method, params=dict(params), signed=signed,
            truncated=bool(inp.truncated[i]), extras=dict(extras[i]) if extras else {}))
    return res


ComputeFn = Callable[[Inputs, Any, Any], Any]


def run_batched(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, compute: ComputeFn, *,
                method: str, params: dict, signed: bool, target: Any = None, batch_size: int = 16,
                max_length: int | None = None, progress: Progress | None = None,
                fused: bool = False) -> dict[Any, list[SaliencyResult]]:
    """Tokenise, batch texts of similar length, and turn ``compute(inputs, targets, probs) -> {key: scores
    (b, T) | (scores, extras)}`` into ``{key: [SaliencyResult per text, in input order]}``.

    ``fused``: the method runs the only forward pass itself; it is called as ``compute(inputs, resolve,
    None) -> ({key: scores}, probs, targets)`` with ``resolve(probs (b, C)) -> targets (b,)``.
    """
    inp = prepare_inputs(model, texts, pairs, max_length=max_length)
    order = np.argsort(-inp.attention_mask.sum(1).cpu().numpy(), kind="stable")
    results: dict[Any, list[SaliencyResult | None]] = {}
    count = Counter(progress, method, len(inp), "texts")

    def run(rows: np.ndarray) -> None:
        sub = inp.select(rows)
        want = _subset_target(target, rows)
        if fused:
            res, probs, targets = compute(sub, lambda pr: resolve_targets(model, want, pr), None)
        else:
            with torch.inference_mode():
                logits, _ = logits_of(model, sub.batch())
            probs = torch.softmax(logits.float(), -1).cpu().numpy()
            targets = resolve_targets(model, want, probs)
            res = compute(sub, targets, probs)
        for key, out in res.items():
            scores, extras = out if isinstance(out, tuple) else (out, None)
            slot = results.setdefault(key, [None] * len(inp))
            pk = dict(params, layer=key) if isinstance(key, int) and "layer" in params else params
            for r, one in zip(rows, build_results(model, sub, scores, targets, probs, method=method, params=pk,
                                                  signed=signed, extras=extras)):
                slot[r] = one
        count.advance(len(rows))

    longest = int(inp.attention_mask.sum(1).max()) if len(inp) else 1
    size = model.batch_size_for(batch_size, longest, grad=True)
    each_batch(order, size, run, device=model.device, what=method, notes=model.notes)
    return {k: [r for r in v if r is not None] for k, v in results.items()}


def _subset_target(target: Any, rows: np.ndarray) -> Any:
    if isinstance(target, (list, tuple, np.ndarray)):
        return [target[i] for i in rows]
    return target
