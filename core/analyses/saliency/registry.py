"""The saliency method registry: one call signature for every method.

A method is registered once with :func:`register` and called with one signature::

    get_method("decoded_gradcam")(model, texts, pairs=None, target=None, layer=4)
        -> list[SaliencyResult]          # one per text (pair)

Scores are per *word piece* of the model's tokenizer, without special tokens and padding;
:func:`core.analyses.saliency.words.merge_words` merges them into words. Declared parameters
(:class:`~core.foundation.params.Param`) are validated by the registry, so every method rejects unknown or
out-of-range values with the same kind of message, and the dashboard builds its widgets from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from core.foundation.params import Param, ParamError, unknown_name_message
from core.foundation.progress import Progress
from core.foundation.registry import Registry
from core.models.loading import LoadedModel
from core.analyses.saliency.forward import check_layer, default_layer, resolve_targets
from core.analyses.saliency.inputs import Inputs, _check_texts, effective_replacement
from core.analyses.saliency.result import SaliencyError, SaliencyResult
from core.analyses.saliency.runner import run_batched


MethodFn = Callable[..., list[SaliencyResult]]


@dataclass(frozen=True)
class SaliencyMethod:
    """A registered method: ``fn(model, inputs, targets, probs, **params) -> (b, T) scores[, extras]``."""

    name: str
    title: str
    fn: Callable[..., Any]
    params: tuple[Param, ...]
    signed: bool
    description: str
    needs_mlm_head: bool = False
    uses_target: bool = True
    cost: str = ""
    fused: bool = False  # fn(model, inputs, resolve, **params) -> (scores, probs, targets): one forward pass

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def resolve_params(self, model: LoadedModel | None, params: dict[str, Any]) -> dict[str, Any]:
        """Validated parameters with defaults filled in (``layer`` defaults to the model's 2/3 depth).

        Values may be typed or text (a command line's ``steps=20``); see :meth:`Param.coerce`.
        """
        known = [p.name for p in self.params]
        for k in params:
            if k not in known:
                raise SaliencyError(f"{self.name} " + unknown_name_message(k, known))
        out = {}
        for p in self.params:
            v = params.get(p.name, p.default)
            if p.name == "layer" and v is None and model is not None:
                v = default_layer(model)
            try:
                out[p.name] = p.coerce(v, lenient=True)
            except ParamError as e:
                where = f"{self.name}: parameter '{p.name}'"
                if e.out_of_range:
                    raise SaliencyError(f"{where} must be {p.range_text()}, got {e.value:g}.") from None
                raise SaliencyError(f"{where} {e}.") from None
            if p.name == "replacement" and model is not None:
                out[p.name] = effective_replacement(model, out[p.name])
            if p.name == "layer" and model is not None and out[p.name] is not None:
                out[p.name] = check_layer(model, out[p.name])
        return out

    def __call__(self, model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                 target: int | str | Sequence[int | str] | None = None, batch_size: int = 16,
                 max_length: int | None = None, progress: Progress | None = None,
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


def require_mlm_head(model: LoadedModel, method: str = "decoded_gradcam") -> None:
    """Attach a head fitted earlier for this encoder (see ``core.training.mlm_head``) or explain how to get one."""
    if model.mlm_head is not None:
        return
    from core.models.storage import attach_fitted_mlm_head

    if attach_fitted_mlm_head(model):
        return
    head, base = (("an LM head", "causal-LM") if model.causal else ("a masked-LM head", "masked-LM"))
    raise SaliencyError(
        f"{method} decodes hidden states through {head}, and model {model.ref} has none. Give the {base} "
        f"checkpoint it was fine-tuned from as its decoding head (`--mlm REF`; `mlm:` in a report spec), fit "
        f"one (about a minute on a CPU, the routine the demo uses) with `python -m core mlm-head --model {model.ref} "
        "--dataset bundled:bbc`, or use layer_gradcam (no decoding).")


METHODS: Registry[SaliencyMethod] = Registry("saliency method", error=SaliencyError)


def register(name: str, *, title: str, params: Sequence[Param] = (), signed: bool, description: str,
             needs_mlm_head: bool = False, uses_target: bool = True, cost: str = "", fused: bool = False):
    """Register ``fn(model, inputs, targets, probs, **params) -> scores (b, T) | (scores, extras)``
    (``fused``: ``fn(model, inputs, resolve, **params) -> (scores, probs, targets)``, see
    :func:`core.analyses.saliency.runner.run_batched`). The package imports every method module, so
    importing :mod:`core.analyses.saliency` registers them all."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        METHODS.add(name, SaliencyMethod(name, title, fn, tuple(params), signed, description, needs_mlm_head,
                                         uses_target, cost, fused), title=title)
        return fn
    return deco


def method_names() -> tuple[str, ...]:
    return METHODS.names()


def get_method(name: str) -> SaliencyMethod:
    """The registered method ``name``; an unknown name raises an error listing the valid ones."""
    return METHODS.get(name)


def explain(model: LoadedModel, texts: Sequence[str], method: str, pairs: Sequence[str] | None = None, *,
            target: int | str | Sequence[int | str] | None = None, batch_size: int = 16,
            progress: Progress | None = None, **params: Any) -> list[SaliencyResult]:
    """``get_method(method)(model, texts, pairs, target=…, **params)``."""
    return get_method(method)(model, texts, pairs, target=target, batch_size=batch_size, progress=progress, **params)
