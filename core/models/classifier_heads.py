"""Classification heads as standalone modules.

Every classifier in Backbone Lens is ``encoder → pooled embedding (b, d) → head → logits (b, C)``.
For Hugging Face ``*ForSequenceClassification`` checkpoints the head is the checkpoint's own code after the
base model (:class:`core.models.families.SequenceHead`); for our own models it is an :class:`MLPHead` on
CLS, mean-pooled or last-token states.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


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


