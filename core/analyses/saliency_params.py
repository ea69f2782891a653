"""The typed parameters of the dataset-level saliency analyses: faithfulness games and class-representative tokens.

This module is torch-free on purpose. Report specs validate against these declarations (and the dashboard
reads their defaults) without importing :mod:`core.analyses.saliency`, which loads torch; the saliency method
names a field accepts are looked up only when a value is checked (:func:`method_names`).

``FaithfulnessParams`` drives :func:`core.analyses.saliency.faithfulness.run_games`, ``ClassTokensParams``
drives :func:`core.analyses.saliency.class_tokens.run_class_tokens`. A method's own parameters (Integrated
Gradients' ``steps``, occlusion's ``window`` …) travel as ``NAME=VALUE`` texts, the form of the CLI's
``--param``, and are validated by the method's declarations when the analysis runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from core.foundation.params import Params, param

GRADCAM = ("decoded_gradcam", "layer_gradcam")  # the methods that read one hidden layer (and can sweep them)
EXPLAIN_METHODS = ("decoded_gradcam", "integrated_gradients", "occlusion", "attention_rollout")  # side by side
GAME_METHODS = ("decoded_gradcam", "layer_gradcam", "integrated_gradients", "occlusion")
REPLACEMENTS = ("mask", "pad", "delete")
GAMES_N = 100  # texts in the games unless asked otherwise (the report section's and the dashboard's default)


def method_names() -> tuple[str, ...]:
    """The registered saliency methods (imports :mod:`core.analyses.saliency`, and with it torch, when called)."""
    from core.analyses.saliency import method_names as names

    return names()


@dataclass(frozen=True)
class FaithfulnessParams(Params):
    """Which methods play the hiding and revealing games, and how.

    ``layers`` applies to the Grad-CAM methods: "all" sweeps every layer (0 = embeddings … L), a list sweeps
    those, "default" plays the method's own ``layer`` (two thirds of the depth unless ``method_params`` sets
    it). ``method_params``: ``METHOD.NAME=VALUE`` texts; a value given there wins over ``ig_steps``.
    """

    methods: tuple[str, ...] = param(GAME_METHODS, "saliency methods to test (a random order is always added)",
                                     vocabulary=method_names, item="saliency method", nonempty=True)
    layers: tuple[int, ...] | str = param(
        "all", "layers for decoded and plain Grad-CAM: all (a sweep over every layer, 0 = embeddings), default (two "
        "thirds of the depth only) or a list", type="int_list", choices=("all", "default"), minimum=0)
    replacement: str = param("mask", "what a hidden token becomes: mask, pad or delete", type="choice",
                             choices=REPLACEMENTS)
    max_length: int | None = param(None, "cut texts to this many tokens (default: the model's maximum)", type="int",
                                   minimum=4)
    ig_steps: int = param(20, "integration steps of Integrated Gradients (the method's own default is 50; 20 keeps "
                          "the games affordable)", minimum=1, maximum=1000)
    method_params: tuple[str, ...] = param((), "a method's own parameters as METHOD.NAME=VALUE (e.g. "
                                           "occlusion.window=2); they win over ig_steps", type="str_list")

    def layer_list(self, num_layers: int) -> tuple[int, ...] | None:
        """The Grad-CAM layers to sweep on a model with ``num_layers`` layers (None: the method's own layer)."""
        if self.layers == "default":
            return None
        return tuple(range(num_layers + 1)) if self.layers == "all" else tuple(int(x) for x in self.layers)

    def orders(self, num_layers: int) -> int:
        """Token orders played per text: one per method, one per swept Grad-CAM layer, and the random order."""
        sweep = self.layer_list(num_layers)
        return sum(len(sweep) if sweep is not None and m in GRADCAM else 1 for m in self.methods) + 1


@dataclass(frozen=True)
class ClassTokensParams(Params):
    """Which method's word scores are aggregated per predicted class, and how."""

    method: str = param("decoded_gradcam", "the saliency method whose word scores are aggregated", type="str",
                        vocabulary=method_names, item="saliency method")
    method_params: tuple[str, ...] = param((), "the method's parameters as NAME=VALUE (e.g. layer=6 or steps=20)",
                                           type="str_list")
    top_k: int = param(10, "words kept per class", minimum=1)
    min_docs: int = param(2, "a word must occur in this many texts of the class", minimum=1)
    idf: str = param("bundled", "IDF corpus: bundled (BBC + tweets), dataset (this dataset), or a text file with "
                     "one document per line")


def capped(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A method's parameters for a run over a dataset: Integrated Gradients with at most the games' ``ig_steps``
    (20) steps — enough for a token order, 2.5× quicker than its own default."""
    out = dict(params)
    if name == "integrated_gradients":
        cap = FaithfulnessParams.defaults()["ig_steps"]
        out["steps"] = min(int(out.get("steps", cap)), cap)
    return out


def as_assignments(values: Mapping[str, Any], *, prefix: str = "") -> tuple[str, ...]:
    """``{"steps": 20}`` → ``("PREFIXsteps=20",)``: parameters as the ``NAME=VALUE`` texts the params above hold."""
    return tuple(f"{prefix}{k}={v}" for k, v in values.items() if v is not None)


def split_assignments(items: Sequence[str]) -> dict[str, str]:
    """``("steps=20", …)`` → ``{"steps": "20", …}`` (texts; the method's declarations coerce them).

    Raises ValueError naming the item that has no ``=``.
    """
    out: dict[str, str] = {}
    for it in items:
        if "=" not in it:
            raise ValueError(f"write NAME=VALUE, got '{it}'")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


__all__ = ["ClassTokensParams", "EXPLAIN_METHODS", "FaithfulnessParams", "GAMES_N", "GAME_METHODS", "GRADCAM",
           "REPLACEMENTS", "as_assignments", "capped", "method_names", "split_assignments"]
