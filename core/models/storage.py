"""Writing models: Backbone Lens folders (encoder, tokenizer, head, metadata) and fitted decoding heads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from core.models.decoding_heads import DecodingHead
from core.models.classifier_heads import MLPHead
from core.models.loading import LoadedModel
from core.models.loading import HEAD_FILE, META_FILE, MLM_FILE


def save_model(model: LoadedModel, folder: str | Path, metadata: dict[str, Any]) -> Path:
    """Write encoder (save_pretrained, safetensors), tokenizer, head and metadata to ``folder`` atomically."""
    import shutil
    import tempfile

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        model.encoder.save_pretrained(tmp, safe_serialization=True)
        model.tokenizer.save_pretrained(tmp)
        meta = dict(metadata)
        meta.setdefault("pooling", model.pooling)
        meta.setdefault("label_names", list(model.label_names))
        meta.setdefault("max_length", model.max_length)
        if isinstance(model.head, MLPHead):
            h = model.head
            meta["head"] = {"type": "mlp", "dim": h.dim, "num_labels": h.num_labels, "hidden": h.hidden,
                            "dropout": float(h.dropout.p)}
            save_file({k: v.detach().cpu().contiguous() for k, v in h.state_dict().items()}, str(tmp / HEAD_FILE))
        if isinstance(model.mlm_head, DecodingHead):
            save_file({k: v.detach().cpu().contiguous() for k, v in model.mlm_head.state_dict().items()},
                      str(tmp / MLM_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished folder ``tmp`` (a sibling of ``folder``) into place, replacing ``folder`` if present."""
    import shutil

    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


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
