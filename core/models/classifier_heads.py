"""Classification heads as standalone modules.

Every classifier in Backbone Lens is ``encoder → pooled embedding (b, d) → head → logits (b, C)``.
For Hugging Face ``*ForSequenceClassification`` checkpoints the head is adapted from the
checkpoint's own modules so that it maps the pooled state to the same logits the full
model produces; for our own models it is an :class:`MLPHead` on CLS or mean-pooled states.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from core.foundation.errors import ModelError


class MLPHead(nn.Module):
    """BERT-style head: dropout → Linear(d, h) → tanh → dropout → Linear(h, C)."""

    def __init__(self, dim: int, num_labels: int, hidden: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = hidden or dim
        self.dim, self.num_labels, self.hidden = dim, num_labels, hidden
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled: (b, d) → logits (b, C)."""
        x = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out(self.dropout(x))

    def spec(self) -> dict[str, Any]:
        """What the metadata records to rebuild this head (see :meth:`from_spec`)."""
        return {"type": "mlp", "dim": self.dim, "num_labels": self.num_labels, "hidden": self.hidden,
                "dropout": float(self.dropout.p)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], file: Path | None = None) -> "MLPHead":
        """The head described by ``spec``, with the weights of the safetensors ``file`` when given."""
        head = cls(spec["dim"], spec["num_labels"], spec.get("hidden"), spec.get("dropout", 0.1))
        if file is not None:
            from safetensors.torch import load_file

            head.load_state_dict(load_file(str(file)))
        return head


def save_module(module: nn.Module, file: Path) -> None:
    """A module's state dict as a safetensors file (tensors moved to the CPU)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(file))


class HFSequenceHead(nn.Module):
    """The head of a HF ``*ForSequenceClassification`` model, as a function of the CLS state (b, d)."""

    SUPPORTED = ("bert", "distilbert", "roberta", "xlm-roberta", "camembert", "deberta", "deberta-v2",
                 "electra", "albert", "mpnet")

    def __init__(self, model: nn.Module, model_type: str) -> None:
        super().__init__()
        if model_type not in self.SUPPORTED:
            raise ModelError(
                f"Classifier heads of model type '{model_type}' are not supported yet "
                f"(supported: {', '.join(self.SUPPORTED)})."
            )
        self.model_type = model_type
        self.parts = nn.ModuleDict()
        self.parts["classifier"] = model.classifier
        if model_type == "bert":
            pooler = getattr(model.bert, "pooler", None)
            if pooler is None:
                raise ModelError("This BERT classifier has no pooler; it cannot be split into encoder and head.")
            self.parts["pooler"] = pooler
        elif model_type == "albert":
            self.parts["pooler"] = model.albert.pooler
            self.parts["pooler_activation"] = model.albert.pooler_activation
        elif model_type == "distilbert":
            self.parts["pre_classifier"] = model.pre_classifier
        elif model_type in ("deberta", "deberta-v2"):
            self.parts["pooler"] = model.pooler

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        p, t = self.parts, self.model_type
        if t == "bert":
            return p["classifier"](p["pooler"](pooled[:, None, :]))
        if t == "albert":
            return p["classifier"](p["pooler_activation"](p["pooler"](pooled)))
        if t == "distilbert":
            return p["classifier"](F.relu(p["pre_classifier"](pooled)))
        if t in ("deberta", "deberta-v2"):
            return p["classifier"](p["pooler"](pooled[:, None, :]))
        # roberta-style heads take the sequence and read position 0 themselves
        return p["classifier"](pooled[:, None, :])
