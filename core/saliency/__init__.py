"""Token saliency: one registry of methods with one call signature (see :mod:`core.saliency.base`).

Methods: decoded_gradcam, layer_gradcam (``gradcam``); gradient, grad_x_input, smoothgrad,
integrated_gradients (``gradients``); occlusion, shapley (``perturbation``); attention,
attention_rollout (``attention``).
"""
from core.saliency.base import (Inputs, MethodParam, SaliencyError, SaliencyMethod, SaliencyResult, default_layer,
                                explain, get_method, method_names, prepare_inputs)
from core.saliency.words import WordSaliency, merge_words

__all__ = ["Inputs", "MethodParam", "SaliencyError", "SaliencyMethod", "SaliencyResult", "WordSaliency",
           "default_layer", "explain", "get_method", "merge_words", "method_names", "prepare_inputs"]
