"""Token saliency: one registry of methods with one call signature (see :mod:`core.analyses.saliency.registry`).

Methods: decoded_gradcam, layer_gradcam (``gradcam``); gradient, grad_x_input, smoothgrad,
integrated_gradients (``gradients``); occlusion, shapley (``perturbation``); attention,
attention_rollout (``attention``). Importing this package registers them all.

The dataset-level analyses built on them take a :class:`~core.data.sampling.Sample` and typed parameters
(:mod:`core.analyses.saliency_params`, torch-free): :func:`core.analyses.saliency.faithfulness.run_games`
(hiding and revealing games) and :func:`core.analyses.saliency.class_tokens.run_class_tokens`.
"""
from core.analyses.saliency import attention, gradcam, gradients, perturbation  # noqa: F401 - registration
from core.analyses.saliency.forward import default_layer
from core.analyses.saliency.inputs import Inputs, prepare_inputs
from core.analyses.saliency.registry import METHODS, SaliencyMethod, explain, get_method, method_names
from core.analyses.saliency.result import SaliencyError, SaliencyResult
from core.analyses.saliency.words import WordSaliency, merge_words

__all__ = ["METHODS", "Inputs", "SaliencyError", "SaliencyMethod", "SaliencyResult", "WordSaliency",
           "default_layer", "explain", "get_method", "merge_words", "method_names", "prepare_inputs"]
