"""The saliency registry, its result type and the tokenised inputs every method shares.

A method is registered once with :func:`register` and called with one signature::

    get_method("decoded_gradcam")(model, texts, pairs=None, target=None, layer=4)
        -> list[SaliencyResult]          # one per text (pair)

Scores are per *word piece* of the model's tokenizer, without special tokens and padding;
:func:`core.saliency.words.merge_words` merges them into words. Declared parameters
(:class:`MethodParam`) are validated by the registry, so every method rejects unknown or
out-of-range values with the same kind of message, and the dashboard builds its widgets
from them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from core.errors import BackboneLensError
from core.models import LoadedModel


class SaliencyError(BackboneLensError):
    """Bad input to a saliency method (empty text, unknown target or layer, missing MLM head …)."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class SaliencyResult:
    """Per-token saliency of one text (or text pair) under one method.

    tokens: (T,) word pieces without special tokens; scores: (T,) float32; token_ids: (T,) int64;
    positions: (T,) index of each token in the model input; segments: (T,) 0 = first text, 1 = second;
    word_ids: (T,) word index within its segment (−1 unknown); offsets: (T, 2) character spans in
    its segment's text (−1 without a fast tokenizer). ``target`` is the class explained;
    ``probabilities`` (C,) the model's output on the unperturbed input. ``signed``: scores can be
    negative (evidence against the target). ``extras`` holds method diagnostics (e.g. the IG
    completeness delta).
    """

    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    scores: np.ndarray
    token_ids: np.ndarray
    positions: np.ndarray
    segments: np.ndarray
    word_ids: np.ndarray
    offsets: np.ndarray
    target: int
    label_names: tuple[str, ...]
    probabilities: np.ndarray
    method: str
    params: dict
    signed: bool
    truncated: bool
    extras: dict = field(default_factory=dict)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_label(self) -> str:
        return self.label_names[self.predicted]

    @property
    def probability(self) -> float:
        """Probability of the predicted class."""
        return float(self.probabilities[self.predicted])

    @property
    def target_label(self) -> str:
        return self.label_names[self.target]

    @property
    def target_probability(self) -> float:
        return float(self.probabilities[self.target])

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "parameters": self.params, "text": self.text, "text_pair": self.text_pair,
            "tokens": list(self.tokens), "scores": [float(s) for s in self.scores],
            "segments": [int(s) for s in self.segments], "signed": self.signed,
            "target": self.target, "target_label": self.target_label,
            "target_probability": self.target_probability, "predicted": self.predicted,
            "predicted_label": self.predicted_label, "probability": self.probability,
            "probabilities": dict(zip(self.label_names, (float(p) for p in self.probabilities))),
            "truncated": self.truncated, **({"extras": self.extras} if self.extras else {}),
        }


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class Inputs:
    """A tokenised batch on the model's device.

    input_ids, attention_mask, token_type_ids: (b, T); content: (b, T) bool, the real tokens (not
    special, not padding); segments, word_ids: (b, T) int64 (−1 outside content); offsets:
    (b, T, 2) int64; truncated: (b,) bool.
    """

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    content: torch.Tensor
    segments: np.ndarray
    word_ids: np.ndarray
    offsets: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, ids: torch.Tensor | None = None, rows: slice | torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """The encoder's keyword arguments for ``rows`` (default: all), with ``ids`` instead of input_ids."""
        r = slice(None) if rows is None else rows
        return {"input_ids": self.input_ids[r] if ids is None else ids,
                "attention_mask": self.attention_mask[r], "token_type_ids": self.token_type_ids[r]}

    def sequences(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per text, without padding: input ids (T_i,), token types (T_i,), positions of its content tokens."""
        ids, tt = self.input_ids.cpu().numpy(), self.token_type_ids.cpu().numpy()
        am, content = self.attention_mask.cpu().numpy().astype(bool), self.content.cpu().numpy()
        return [(ids[i][am[i]], tt[i][am[i]], np.flatnonzero(content[i][am[i]])) for i in range(len(self))]

    def select(self, rows: Sequence[int]) -> "Inputs":
        """The sub-batch of ``rows``, trimmed to its longest sequence."""
        idx = torch.as_tensor(list(rows), dtype=torch.long, device=self.input_ids.device)
        T = int(self.attention_mask[idx].sum(1).max())
        ix = np.asarray(list(rows))
        return Inputs(tuple(self.texts[i] for i in ix), None if self.pairs is None else tuple(self.pairs[i] for i in ix),
                      self.input_ids[idx, :T], self.attention_mask[idx, :T], self.token_type_ids[idx, :T],
                      self.content[idx, :T], self.segments[ix, :T], self.word_ids[ix, :T], self.offsets[ix, :T],
                      self.truncated[ix])


def _check_texts(texts: Sequence[str], pairs: Sequence[str] | None) -> None:
    if isinstance(texts, str):
        raise SaliencyError("Pass a list of texts, not a single string.")
    if len(texts) == 0:
        raise SaliencyError("No text given.")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise SaliencyError("The text is empty." if len(texts) == 1 else f"Text {i + 1} is empty.")
    if pairs is not None:
        if len(pairs) != len(texts):
            raise SaliencyError(f"{len(texts)} texts but {len(pairs)} second texts; give one per text.")
        for i, t in enumerate(pairs):
            if not isinstance(t, str) or not t.strip():
                raise SaliencyError("The second text is empty." if len(pairs) == 1
                                    else f"Second text {i + 1} is empty.")


def prepare_inputs(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                   max_length: int | None = None) -> Inputs:
    """Tokenise ``texts`` (and ``pairs``), truncating to the model's maximum length (flagged per text)."""
    _check_texts(texts, pairs)
    tok = model.tokenizer
    ml = int(max_length or model.max_length)
    texts, pairs = [str(t) for t in texts], None if pairs is None else [str(p) for p in pairs]
    fast = bool(getattr(tok, "is_fast", False))
    if ml > model.max_length:
        raise SaliencyError(f"max_length {ml} is more than this model reads ({model.max_length} tokens).")
    enc = tok(texts, pairs, truncation=True if pairs is None else "longest_first", max_length=ml, padding=True,
              padding_side="right", return_tensors="pt", return_offsets_mapping=fast, return_token_type_ids=True,
              return_special_tokens_mask=True)
    full = tok(texts, pairs, truncation=False, add_special_tokens=True)["input_ids"]
    truncated = np.array([len(x) > ml for x in full], dtype=bool)
    ids = enc["input_ids"]
    b, T = ids.shape
    am = enc["attention_mask"]
    # special tokens by position (those the tokenizer added), not by id: an [UNK] in the text is content
    content = am.bool() & ~enc["special_tokens_mask"].bool()
    segments = np.full((b, T), -1, dtype=np.int64)
    word_ids = np.full((b, T), -1, dtype=np.int64)
    offsets = np.full((b, T, 2), -1, dtype=np.int64)
    for i in range(b):
        if fast:
            seq = enc.sequence_ids(i)
            wid = enc.word_ids(i)
            segments[i] = [-1 if s is None else s for s in seq]
            word_ids[i] = [-1 if w is None else w for w in wid]
            offsets[i] = enc["offset_mapping"][i].numpy()
        else:  # slow tokenizers: segments from token types, no word ids or offsets
            tt = enc["token_type_ids"][i].numpy()
            segments[i] = np.where(content[i].numpy(), tt, -1)
    segments[~content.numpy()] = -1
    word_ids[~content.numpy()] = -1
    tti = enc.get("token_type_ids", torch.zeros_like(ids))
    dev = model.device
    return Inputs(tuple(texts), None if pairs is None else tuple(pairs), ids.to(dev), am.to(dev), tti.to(dev),
                  content.to(dev), segments, word_ids, offsets, truncated)


def perturb_ids(ids: np.ndarray, types: np.ndarray, hide: np.ndarray, replacement: str, *, mask_id: int,
                pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """One sequence with the positions ``hide`` (bool (T,)) replaced by the mask or pad token, or deleted."""
    if replacement == "delete":
        keep = ~hide
        return ids[keep], types[keep]
    new = ids.copy()
    new[hide] = mask_id if replacement == "mask" else pad_id
    return new, types


def replacement_ids(model: LoadedModel, replacement: str) -> tuple[int, int]:
    """(mask id, pad id) of the tokenizer; a missing mask token is an error when it is asked for."""
    tok = model.tokenizer
    if replacement not in ("mask", "pad", "delete"):
        raise SaliencyError(f"Replacement must be mask, pad or delete, got {replacement!r}.")
    if replacement == "mask" and tok.mask_token_id is None:
        raise SaliencyError(f"The tokenizer of {model.ref} has no mask token; use replacement pad or delete.")
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    return (tok.mask_token_id if tok.mask_token_id is not None else pad), pad


# ----------------------------------------------------------------------------- forward helpers


def encoder_kwargs(model: LoadedModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    kw = dict(batch)
    if model.model_type == "distilbert" or "token_type_ids" not in model._forward_args():
        kw.pop("token_type_ids", None)
    return kw


def logits_of(model: LoadedModel, batch: dict[str, torch.Tensor], *, hidden_states: bool = False,
              attentions: bool = False) -> tuple[torch.Tensor, Any]:
    """Classifier logits (b, C) for a batch given as ids or ``inputs_embeds``, and the encoder output."""
    out = model.encode(batch, hidden_states=hidden_states, attentions=attentions)
    return model.logits(out.pooled), out


def probs_of_sequences(model: LoadedModel, seqs: Sequence[tuple[np.ndarray, np.ndarray]], *, batch_size: int = 32
                       ) -> np.ndarray:
    """Class probabilities (N, C) for id sequences given as (input_ids (T_i,), token_type_ids (T_i,)).

    Batches sequences of similar length together (dynamic padding), so perturbations by deletion
    and long/short texts cost what their lengths cost.
    """
    n = len(seqs)
    pad = model.tokenizer.pad_token_id or 0
    out = np.zeros((n, model.num_labels), dtype=np.float32)
    order = np.argsort([len(s[0]) for s in seqs], kind="stable")
    dev = model.device
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            rows = order[s:s + batch_size]
            T = max(len(seqs[i][0]) for i in rows)
            ids = np.full((len(rows), T), pad, dtype=np.int64)
            tt = np.zeros((len(rows), T), dtype=np.int64)
            am = np.zeros((len(rows), T), dtype=np.int64)
            for r, i in enumerate(rows):
                a, t = seqs[i]
                ids[r, :len(a)], tt[r, :len(a)], am[r, :len(a)] = a, t, 1
            batch = {"input_ids": torch.from_numpy(ids).to(dev), "attention_mask": torch.from_numpy(am).to(dev),
                     "token_type_ids": torch.from_numpy(tt).to(dev)}
            pad_idx = _position_padding_idx(model)
            if pad_idx is not None:  # RoBERTa-style position ids skip pad ids: a pad replacement must not shift them
                batch["position_ids"] = (pad_idx + 1 + torch.arange(T, device=dev)).expand(len(rows), T)
            logits, _ = logits_of(model, batch)
            out[rows] = torch.softmax(logits.float(), -1).cpu().numpy()
    return out


def _position_padding_idx(model: LoadedModel) -> int | None:
    """The padding index of RoBERTa-family position embeddings (positions count from it), else None."""
    if model.model_type not in ("roberta", "xlm-roberta", "camembert"):
        return None
    emb = getattr(model.encoder, "embeddings", None)
    return getattr(emb, "padding_idx", None)


def resolve_targets(model: LoadedModel, target: int | str | Sequence[int | str] | None, probs: np.ndarray
                    ) -> np.ndarray:
    """(b,) class ids: the predicted class where ``target`` is None, else the given id or label name."""
    C = model.num_labels
    b = len(probs)
    if target is None:
        return probs.argmax(1).astype(np.int64)
    items = list(target) if isinstance(target, (list, tuple, np.ndarray)) else [target] * b
    if len(items) != b:
        raise SaliencyError(f"{len(items)} targets for {b} texts.")
    out = []
    names = ", ".join(f"{i} = {n}" for i, n in enumerate(model.label_names))
    for t in items:
        if isinstance(t, str) and t in model.label_names:  # a label name first, even if it looks like a number
            out.append(model.label_names.index(t))
            continue
        if isinstance(t, str) and not t.strip().lstrip("-").isdigit():
            if t not in model.label_names:
                raise SaliencyError(f"Target '{t}' is not one of the model's labels ({names}).")
            out.append(model.label_names.index(t))
            continue
        try:
            ti = int(t)
        except (TypeError, ValueError):
            raise SaliencyError(f"Target {t!r} is neither a label name nor a class number ({names}).") from None
        if not 0 <= ti < C:
            raise SaliencyError(f"Target {ti} is outside the label set: this model has classes {names}.")
        out.append(ti)
    return np.asarray(out, dtype=np.int64)


def check_layer(model: LoadedModel, layer: int) -> int:
    L = model.num_layers
    try:
        li = int(layer)
    except (TypeError, ValueError):
        raise SaliencyError(f"Layer must be a whole number from 0 to {L}, got {layer!r}.") from None
    if not 0 <= li <= L:
        raise SaliencyError(f"Layer {li} is out of range: this model has layers 0 (the embeddings) to {L}.")
    return li


def default_layer(model: LoadedModel) -> int:
    """Two thirds of the depth (4 of 6, 8 of 12): the region where the paper found decoded Grad-CAM best."""
    return max(1, round(2 * model.num_layers / 3))


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


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class MethodParam:
    """A declared parameter: kind is int, float, choice or bool; low/high bound numbers."""

    name: str
    kind: str
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def coerce(self, value: Any, method: str) -> Any:
        where = f"{method}: parameter '{self.name}'"
        if value is None and self.default is None:
            return None
        if self.kind == "choice":
            if value not in self.choices:
                raise SaliencyError(f"{where} must be one of {', '.join(map(str, self.choices))}, got {value!r}.")
            return value
        if self.kind == "bool":
            if isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        try:
            v = int(value) if self.kind == "int" else float(value)
            if self.kind == "int" and float(value) != v:
                raise ValueError
        except (TypeError, ValueError):
            raise SaliencyError(f"{where} must be {'a whole number' if self.kind == 'int' else 'a number'}, "
                                f"got {value!r}.") from None
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            lo = "-∞" if self.low is None else f"{self.low:g}"
            hi = "∞" if self.high is None else f"{self.high:g}"
            raise SaliencyError(f"{where} must be between {lo} and {hi}, got {v:g}.")
        return v


MethodFn = Callable[..., list[SaliencyResult]]


@dataclass(frozen=True)
class SaliencyMethod:
    """A registered method: ``fn(model, inputs, targets, probs, **params) -> (b, T) scores[, extras]``."""

    name: str
    title: str
    fn: Callable[..., Any]
    params: tuple[MethodParam, ...]
    signed: bool
    description: str
    needs_mlm_head: bool = False
    uses_target: bool = True
    cost: str = ""
    fused: bool = False  # fn(model, inputs, resolve, **params) -> (scores, probs, targets): one forward pass

    def param(self, name: str) -> MethodParam | None:
        return next((p for p in self.params if p.name == name), None)

    def resolve_params(self, model: LoadedModel | None, params: dict[str, Any]) -> dict[str, Any]:
        """Validated parameters with defaults filled in (``layer`` defaults to the model's 2/3 depth)."""
        known = {p.name for p in self.params}
        for k in params:
            if k not in known:
                hint = difflib.get_close_matches(k, known, n=1)
                raise SaliencyError(f"{self.name} has no parameter '{k}'"
                                    + (f" (did you mean '{hint[0]}'?)" if hint else "")
                                    + (f"; its parameters are: {', '.join(sorted(known))}." if known
                                       else "; it takes none."))
        out = {}
        for p in self.params:
            v = params.get(p.name, p.default)
            if p.name == "layer" and v is None and model is not None:
                v = default_layer(model)
            out[p.name] = p.coerce(v, self.name)
            if p.name == "layer" and model is not None and out[p.name] is not None:
                out[p.name] = check_layer(model, out[p.name])
        return out

    def __call__(self, model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                 target: int | str | Sequence[int | str] | None = None, batch_size: int = 16,
                 max_length: int | None = None, progress: Callable[[int, int], None] | None = None,
                 **params: Any) -> list[SaliencyResult]:
        """Scores for every text (pair): one :class:`SaliencyResult` each, in input order."""
        model.require_head()
        p = self.resolve_params(model, params)
        _check_texts(texts, pairs)
        if target is not None:  # a bad target is reported before anything is computed
            resolve_targets(model, target, np.zeros((len(texts), model.num_labels)))
        if self.needs_mlm_head:
            require_mlm_head(model, self.name)
        if self.fused:
            def compute(sub: Inputs, resolve: Any, _: Any) -> tuple[dict, np.ndarray, np.ndarray]:
                scores, probs, targets = self.fn(model, sub, resolve, **p)
                return {None: scores}, probs, targets
        else:
            def compute(sub: Inputs, t: Any, pr: Any) -> dict:  # type: ignore[misc]
                return {None: self.fn(model, sub, t, pr, **p)}
        return run_batched(model, texts, pairs, compute, method=self.name, params=p, signed=self.signed,
                           target=target, batch_size=batch_size, max_length=max_length, progress=progress,
                           fused=self.fused)[None]


ComputeFn = Callable[[Inputs, Any, Any], Any]


def run_batched(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, compute: ComputeFn, *,
                method: str, params: dict, signed: bool, target: Any = None, batch_size: int = 16,
                max_length: int | None = None, progress: Callable[[int, int], None] | None = None,
                fused: bool = False) -> dict[Any, list[SaliencyResult]]:
    """Tokenise, batch texts of similar length, and turn ``compute(inputs, targets, probs) -> {key: scores
    (b, T) | (scores, extras)}`` into ``{key: [SaliencyResult per text, in input order]}``.

    ``fused``: the method runs the only forward pass itself; it is called as ``compute(inputs, resolve,
    None) -> ({key: scores}, probs, targets)`` with ``resolve(probs (b, C)) -> targets (b,)``.
    """
    inp = prepare_inputs(model, texts, pairs, max_length=max_length)
    order = np.argsort(-inp.attention_mask.sum(1).cpu().numpy(), kind="stable")
    results: dict[Any, list[SaliencyResult | None]] = {}
    done = 0
    for s in range(0, len(inp), batch_size):
        rows = order[s:s + batch_size]
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
            for r, res in zip(rows, build_results(model, sub, scores, targets, probs, method=method, params=pk,
                                                  signed=signed, extras=extras)):
                slot[r] = res
        done += len(rows)
        if progress:
            progress(done, len(inp))
    return {k: [r for r in v if r is not None] for k, v in results.items()}


def _subset_target(target: Any, rows: np.ndarray) -> Any:
    if isinstance(target, (list, tuple, np.ndarray)):
        return [target[i] for i in rows]
    return target


def require_mlm_head(model: LoadedModel, method: str = "decoded_gradcam") -> None:
    """Attach a head fitted earlier for this encoder (see ``core.mlm``) or explain how to get one."""
    if model.mlm_head is not None:
        return
    from core.mlm import attach_fitted_mlm_head

    if attach_fitted_mlm_head(model):
        return
    raise SaliencyError(
        f"{method} decodes hidden states through a masked-LM head, and model {model.ref} has none. Fit one "
        f"(about a minute on a CPU, the routine the demo uses) with `python -m core mlm-head --model {model.ref} "
        "--dataset bundled:bbc`, or use layer_gradcam (no decoding).")


_METHODS: dict[str, SaliencyMethod] = {}


def register(name: str, *, title: str, params: Sequence[MethodParam] = (), signed: bool, description: str,
             needs_mlm_head: bool = False, uses_target: bool = True, cost: str = "", fused: bool = False):
    """Register ``fn(model, inputs, targets, probs, **params) -> scores (b, T) | (scores, extras)``
    (``fused``: ``fn(model, inputs, resolve, **params) -> (scores, probs, targets)``, see :func:`run_batched`)."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[name] = SaliencyMethod(name, title, fn, tuple(params), signed, description, needs_mlm_head,
                                        uses_target, cost, fused)
        return fn
    return deco


def method_names() -> tuple[str, ...]:
    _load_all()
    return tuple(_METHODS)


def get_method(name: str) -> SaliencyMethod:
    """The registered method ``name``; an unknown name raises an error listing the valid ones."""
    _load_all()
    key = str(name).strip()
    if key not in _METHODS:
        hint = difflib.get_close_matches(key, _METHODS, n=1)
        raise SaliencyError(f"Unknown saliency method '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                            + f"; choose one of: {', '.join(_METHODS)}.")
    return _METHODS[key]


def _load_all() -> None:
    from core.saliency import attention, gradcam, gradients, perturbation  # noqa: F401 - registration


def explain(model: LoadedModel, texts: Sequence[str], method: str, pairs: Sequence[str] | None = None, *,
            target: int | str | Sequence[int | str] | None = None, batch_size: int = 16,
            progress: Callable[[int, int], None] | None = None, **params: Any) -> list[SaliencyResult]:
    """``get_method(method)(model, texts, pairs, target=…, **params)``."""
    return get_method(method)(model, texts, pairs, target=target, batch_size=batch_size, progress=progress, **params)
