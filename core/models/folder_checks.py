"""Checks of a model folder before anything is loaded from it, so a broken folder fails with one sentence that
names the file, instead of loading into silent nonsense (a missing tokenizer turns every word into [UNK]) or an
unexplained library error (a truncated ``model.safetensors``)."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from core.foundation.errors import ModelError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model", "spm.model")
PICKLE_WEIGHTS = ("pytorch_model.bin", "model.bin")


def safetensors_problem(file: Path) -> str | None:
    """Why ``file`` is not a complete safetensors file (None when its header and size agree): the 8-byte header
    length, a JSON header, and tensor data that ends exactly at the end of the file."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "it is shorter than a safetensors header"
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100_000_000):
                return "its header length does not fit the file (truncated or not a safetensors file)"
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return f"its header is unreadable ({type(e).__name__})"
    if not isinstance(header, dict):
        return "its header is not a table of tensors"
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            a, b = info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            return f"tensor {name!r} has no data offsets"
        end = max(end, int(b))
    if 8 + n + end != size:
        return f"it holds {size:,} bytes but its header describes {8 + n + end:,} (the file is truncated or damaged)"
    return None


def check_model_folder(path: Path) -> list[str]:
    """Raise :class:`ModelError` for a folder that cannot be loaded correctly; return notes for one that loads
    with a caveat (weights only in a pickle checkpoint)."""
    notes: list[str] = []
    files = {f.name for f in path.iterdir() if f.is_file()}
    if not any(t in files for t in TOKENIZER_FILES):
        raise ModelError(f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:4])} …): without them every "
                         "word would become an unknown token. Save the tokenizer into the folder with "
                         "tokenizer.save_pretrained(folder).")
    for name in sorted(files):
        if name.endswith(".safetensors"):
            problem = safetensors_problem(path / name)
            if problem:
                raise ModelError(f"Cannot read {path / name}: {problem}. Copy or save the model again.")
    if not any(n.endswith(".safetensors") and not n.startswith(("head.", "mlm_head.")) for n in files):
        pickles = [n for n in files if n in PICKLE_WEIGHTS or (n.startswith("pytorch_model-") and n.endswith(".bin"))]
        if pickles:
            notes.append(f"weights read from a pickle checkpoint ({sorted(pickles)[0]}) with torch's weights-only "
                         "loader; safetensors files are preferred (model.save_pretrained writes them)")
    return notes


def check_tokenizer_fits(tokenizer: Any, encoder: Any, path: Path | str) -> None:
    """The tokenizer's ids must index the model's word embeddings: no id past the matrix, and not a vocabulary
    far smaller than it (the tokenizer of another model)."""
    emb = encoder.get_input_embeddings() if hasattr(encoder, "get_input_embeddings") else None
    rows = getattr(emb, "num_embeddings", None)
    if rows is None:
        return
    n = len(tokenizer)
    if n > rows:
        raise ModelError(f"The tokenizer of {path} has {n:,} tokens but the model's embedding matrix has {rows:,} "
                         "rows: the tokenizer belongs to another model.")
    if n < rows // 2:
        raise ModelError(f"The tokenizer of {path} has {n:,} tokens for an embedding matrix of {rows:,} rows: the "
                         "tokenizer belongs to another model (save the model's own tokenizer into the folder).")


__all__ = ["TOKENIZER_FILES", "check_model_folder", "check_tokenizer_fits", "safetensors_problem"]
