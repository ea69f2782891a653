"""The import structure: no circle inside ``core``, arrows only point down.

Read from the ``import`` statements (every one, also inside functions) with :mod:`ast`; nothing is
imported. ``core/__main__.py`` is the ``python -m core`` launcher of :mod:`cli` and is left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# inside core: a package may import only those listed (itself always)
LAYERS = {
    "core.foundation": (),
    "core.data": ("core.foundation",),
    "core.models": ("core.foundation", "core.data"),
    "core.training": ("core.foundation", "core.data", "core.models"),
    "core.analyses": ("core.foundation", "core.data", "core.models"),
}
UPPER = ("figures", "cli", "ui", "reports", "pages", "app", "streamlit")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (``from a import b`` counts ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def graph(package: str) -> dict[str, set[str]]:
    """module → the modules of this repository it imports (modules of ``package`` only as keys)."""
    files = {module_name(p): p for p in ROOT.joinpath(*package.split(".")).rglob("*.py")}
    known = {module_name(p) for top in ("core", "figures", "cli", "ui", "reports") for p in ROOT.joinpath(top).rglob("*.py")}
    g = {}
    for mod, path in files.items():
        if mod == "core.__main__":
            continue
        g[mod] = {m for m in imports_of(path) if m in known and m != mod}
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["core", "figures", "cli", "reports", "ui"])
def test_no_import_circle(package):
    assert cycles(graph(package)) == []


def test_core_never_imports_upward():
    bad = []
    for mod, path in ((module_name(p), p) for p in ROOT.joinpath("core").rglob("*.py")):
        if mod == "core.__main__":
            continue
        for m in imports_of(path):
            if m.split(".")[0] in UPPER:
                bad.append(f"{mod} imports {m}")
    assert bad == []


def test_core_layers_point_down():
    bad = []
    for mod, deps in graph("core").items():
        own = next((layer for layer in LAYERS if mod == layer or mod.startswith(layer + ".")), None)
        if own is None:
            continue
        allowed = (own, *LAYERS[own])
        for d in deps:
            if d.startswith("core.") and not any(d == a or d.startswith(a + ".") for a in allowed):
                bad.append(f"{mod} imports {d}")
    assert bad == []


def test_figures_never_import_ui_cli_or_reports():
    bad = [f"{mod} imports {d}" for mod, deps in graph("figures").items() for d in deps
           if d.split(".")[0] in ("ui", "cli", "reports")]
    assert bad == []
