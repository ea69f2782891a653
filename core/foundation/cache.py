"""On-disk cache of computed arrays, keyed by fingerprints.

An entry is ``<root>/<kind>/<key>.npz`` plus a manifest ``<key>.json`` written *after*
the arrays, holding the sha256 of the ``.npz``. Both are written atomically (temporary
file + ``os.replace``), so a crash leaves either the old entry or none. On load the
checksum and the format version are verified; a corrupt or stale entry is deleted and
recomputed, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from core.foundation.files import atomic_write_bytes, atomic_write_text, file_sha256  # noqa: F401 - used here
from core.foundation.settings import cache_root

FORMAT_VERSION = 1


def fingerprint(obj: Any, *, length: int = 20) -> str:
    """Stable hex digest of a JSON-serialisable object (dict keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"not serialisable: {type(o).__name__}")


@dataclass(frozen=True)
class CacheEntry:
    """A loaded cache entry: its arrays, the metadata stored with them, and where."""

    kind: str
    key: str
    arrays: Mapping[str, np.ndarray]
    meta: Mapping[str, Any]
    path: Path
    hit: bool


@dataclass(frozen=True)
class CacheEntryInfo:
    kind: str
    key: str
    size_bytes: int
    created: float
    description: str
    path: Path


class ArrayCache:
    """A folder of fingerprinted ``.npz`` entries (see module docstring)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root() / "arrays"

    def key(self, parts: Mapping[str, Any]) -> str:
        return fingerprint({"v": FORMAT_VERSION, **parts}, length=32)

    def _paths(self, kind: str, key: str) -> tuple[Path, Path]:
        d = self.root / kind
        return d / f"{key}.npz", d / f"{key}.json"

    def load(self, kind: str, key: str) -> CacheEntry | None:
        """The entry, or None if absent, corrupt or stale (a bad entry is removed)."""
        npz, man = self._paths(kind, key)
        if not man.exists() or not npz.exists():
            return None
        try:
            manifest = json.loads(man.read_text("utf-8"))
            if manifest.get("format") != FORMAT_VERSION or manifest.get("key") != key:
                raise ValueError("stale")
            if file_sha256(npz) != manifest["sha256"]:
                raise ValueError("checksum mismatch")
            with np.load(npz, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 - any defect means: recompute
            self.remove(kind, key)
            return None
        return CacheEntry(kind, key, arrays, manifest.get("meta", {}), npz, hit=True)

    def save(
        self,
        kind: str,
        key: str,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
        *,
        description: str = "",
    ) -> CacheEntry:
        import io

        npz, man = self._paths(kind, key)
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        data = buf.getvalue()
        atomic_write_bytes(npz, data)
        manifest = {
            "format": FORMAT_VERSION,
            "kind": kind,
            "key": key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "created": time.time(),
            "description": description,
            "meta": dict(meta or {}),
        }
        atomic_write_text(man, json.dumps(manifest, default=_json_default, indent=1))
        return CacheEntry(kind, key, dict(arrays), manifest["meta"], npz, hit=False)

    def get_or_compute(
        self,
        kind: str,
        parts: Mapping[str, Any],
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]],
        *,
        description: str = "",
    ) -> CacheEntry:
        key = self.key({"kind": kind, **parts})
        entry = self.load(kind, key)
        if entry is not None:
            return entry
        arrays, meta = compute()
        return self.save(kind, key, arrays, meta, description=description)

    def remove(self, kind: str, key: str) -> None:
        for p in self._paths(kind, key):
            p.unlink(missing_ok=True)

    def entries(self) -> list[CacheEntryInfo]:
        out: list[CacheEntryInfo] = []
        if not self.root.exists():
            return out
        for man in sorted(self.root.glob("*/*.json")):
            try:
                m = json.loads(man.read_text("utf-8"))
                npz = man.with_suffix(".npz")
                out.append(
                    CacheEntryInfo(
                        kind=m["kind"],
                        key=m["key"],
                        size_bytes=npz.stat().st_size if npz.exists() else 0,
                        created=float(m.get("created", 0.0)),
                        description=str(m.get("description", "")),
                        path=npz,
                    )
                )
            except Exception:  # noqa: BLE001 - a broken manifest is listed as such below
                out.append(CacheEntryInfo(man.parent.name, man.stem, 0, 0.0, "(unreadable)", man))
        return out
