"""The result of a saliency method: per-token scores of one text (pair), and its error type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
import numpy as np
from core.foundation.errors import BackboneLensError


class SaliencyError(BackboneLensError):
    """Bad input to a saliency method (empty text, unknown target or layer, missing MLM head …)."""


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
