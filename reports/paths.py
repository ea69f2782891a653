"""Which files a report spec may name (the path policy).

An audit report is handed to people who did not write its spec, and CI jobs build specs they did not write,
so a spec must not pull arbitrary files of the machine into a report. The policy:

* a relative path in a spec resolves against the spec's own folder (never the current directory);
* after resolving symlinks, every model folder and dataset file a spec names must lie under the spec's folder,
  the Backbone Lens cache (``$BACKBONE_LENS_CACHE``: demo models, uploads) or a folder allowed explicitly —
  ``--allow-path DIR`` (repeatable) or ``$BACKBONE_LENS_ALLOWED_PATHS`` (folders separated by ``:``);
* ``--allow-any-path`` lifts the rule for a local run on one's own files;
* references that are not paths (``bundled:…``, ``demo:…``, hub ids) are not files and pass.

``reports validate`` and ``reports build`` both apply it, to the top-level ``model``/``dataset`` (and
``models``/``datasets``) and to the ``model``/``models``/``dataset`` parameters of sections.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

ALLOWED_ENV = "BACKBONE_LENS_ALLOWED_PATHS"
_SCHEME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:")


class PathRefused(ValueError):
    """A reference that names a file outside the allowed folders (the message says which and how to allow it)."""


@dataclass(frozen=True)
class PathPolicy:
    """``base``: the spec's folder (relative paths resolve against it); ``roots``: folders whose files may be named
    (resolved); ``any_path``: no restriction."""

    base: Path | None
    roots: tuple[Path, ...]
    any_path: bool = False

    @classmethod
    def for_spec(cls, base: str | Path | None, *, allow: Iterable[str | Path] = (), any_path: bool = False
                 ) -> "PathPolicy":
        """The policy of a spec in folder ``base``: that folder, the cache, ``allow`` and the environment's folders."""
        from core.foundation.settings import cache_root

        env = [x for x in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if x.strip()]
        b = None if base is None else Path(base).expanduser().resolve()
        roots = [r for r in (b, cache_root()) if r is not None] + [Path(x) for x in (*allow, *env)]
        return cls(b, tuple(dict.fromkeys(Path(r).expanduser().resolve() for r in roots)), any_path)

    def allows(self, path: Path) -> bool:
        real = path.resolve()
        return self.any_path or any(real == r or r in real.parents for r in self.roots)

    def localise(self, ref: str, *, what: str = "dataset") -> str:
        """``ref`` as the build will read it: scheme references and hub ids unchanged, paths made absolute against
        the spec's folder and checked (raises :class:`PathRefused`)."""
        ref = str(ref).strip()
        if not ref or _SCHEME.match(ref) and not re.match(r"^[A-Za-z]:[\\/]", ref):
            return ref
        p = Path(ref).expanduser()
        if not p.is_absolute():
            if self.base is None:
                return ref
            cand = self.base / p
            if not cand.exists() and what == "model":
                return ref  # not a folder beside the spec: a hub id (or a name the build knows), never a local path
            p = cand
        if not p.exists():
            return str(p)  # the loader names it as missing
        if not self.allows(p):
            shown = ", ".join(str(r) for r in self.roots) or "none"
            raise PathRefused(
                f"{what} {ref!r} resolves to {p.resolve()}, outside the folders a spec may read ({shown}); move it "
                "next to the spec, allow its folder with --allow-path DIR (or $BACKBONE_LENS_ALLOWED_PATHS), or "
                "pass --allow-any-path for a local run")
        return str(p.resolve())

    def localise_all(self, refs: Sequence[str], *, what: str) -> list[str]:
        return [self.localise(r, what=what) for r in refs]


__all__ = ["ALLOWED_ENV", "PathPolicy", "PathRefused"]
