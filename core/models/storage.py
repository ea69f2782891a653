"""Writing models: Backbone Lens folders (encoder, tokenizer, head, metadata) and fitted decoding heads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from core.models.decoding_heads import DecodingHead
from core.foundation.files import staged_folder
from core.models.classifier_heads import MLPHead, save_module
from core.models.loading import LoadedModel
from core.models.loading import HEAD_FILE, META_FILE, MLM_FILE


def save_model(model: LoadedModel, folder: str | Path, metadata: dict[str, Any]) -> Path:
    """Write encoder (save_pretrained, safetensors), tokenizer, head and metadata to ``folder`` atomically."""
    folder = Path(folder)
    with staged_folder(folder) as tmp:
        model.encoder.save_pretrained(tmp, safe_serialization=True)
        model.tokenizer.save_pretrained(tmp)
        meta = dict(metadata)
        meta.setdefault("pooling", model.pooling)
        meta.setdefault("label_names", list(model.label_names))
        meta.setdefault("max_length", model.max_length)
        if isinstance(model.head, MLPHead):
            meta["head"] = model.head.spec()
            save_module(model.head, tmp / HEAD_FILE)
        if isinstance(model.mlm_head, DecodingHead):
            save_module(model.mlm_head, tmp / MLM_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
    return folder


def fitted_head_path(model: LoadedModel) -> Path:
    """Where a head fitted by :func:`fit_and_store` for this encoder lives (keyed by the encoder's weights)."""
    from core.foundation.settings import cache_root

    return cache_root() / "mlm-heads" / f"{model.encoder_fingerprint}.safetensors"


def attach_fitted_mlm_head(model: LoadedModel) -> bool:
    """Attach a head fitted earlier for exactly this encoder, if there is one; say so in the model's notes."""
    if model.mlm_head is not None:
        return True
    f = fitted_head_path(model)
    if not f.exists():
        return False
    from core.models.decoding_heads import load_decoding_head

    model.set_mlm_head(load_decoding_head(model.encoder, f).to(model.device).eval())
    model.notes.append(f"using the masked-LM decoding head fitted by Backbone Lens for this encoder ({f.name})")
    return True
