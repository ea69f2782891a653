"""Writing files and folders so that a crash or an interrupt leaves the old version or the new one, never half.

``atomic_write_bytes`` / ``atomic_write_text``: a temporary file beside the target, fsync, ``os.replace``.
``staged_folder``: build a folder under a temporary sibling name and move it into place when the block ends
without an error (an existing folder is replaced; on an error the half-built folder is removed).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 files — Parquet, JSON — cannot hold) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_sha256(path: Path, *, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished folder ``tmp`` (a sibling of ``folder``) into place, replacing ``folder`` if present."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


@contextmanager
def staged_folder(folder: str | Path) -> Iterator[Path]:
    """``with staged_folder(f) as tmp:`` write into ``tmp``; at the end it becomes ``f`` (see module docstring)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        yield tmp
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["atomic_write_bytes", "atomic_write_text", "file_sha256", "replace_folder", "staged_folder", "utf8_safe"]
