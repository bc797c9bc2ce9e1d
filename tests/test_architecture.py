"""The package's shape: every module imports, no import cycles, layers import only earlier layers,
the library never imports the command line, and locmap's own modules are imported at the top
(except in the command line, whose commands import the library when they run)."""
from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

import locmap

PKG = Path(locmap.__file__).parent

#: Layers in flow order; a module may import its own layer and earlier ones (plus the foundation).
LAYERS = ["data", "distance", "access", "localities", "maps", "finder", "report", "api", "batch", "cli"]
FOUNDATION = {"locmap", "locmap.settings", "locmap.errors", "locmap.export", "locmap.bands",
              "locmap._progress", "locmap.tables", "locmap._text", "locmap._digest", "locmap._interrupt"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


@functools.cache
def _tree(mod: str) -> ast.Module:
    """``mod``'s source parsed once per test process and shared by the checks below (read only)."""
    return ast.parse(MODULES[mod].read_text())


@functools.cache
def _nodes(mod: str) -> tuple[ast.AST, ...]:
    """Every node of ``mod``'s tree (``ast.walk`` order), walked once per test process."""
    return tuple(ast.walk(_tree(mod)))


def _resolve(mod: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if not MODULES[mod].name == "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(mod: str, top_level_only: bool) -> set[str]:
    """locmap modules imported by ``mod`` (``from pkg import mod`` counts as the submodule)."""
    tree = _tree(mod)
    nodes = tree.body if top_level_only else _nodes(mod)
    if top_level_only:  # module-level statements, including those inside if/try at top level
        nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                 if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    found = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            found |= {a.name for a in n.names if a.name.startswith("locmap")}
        elif isinstance(n, ast.ImportFrom):
            target = _resolve(mod, n)
            if not target.startswith("locmap"):
                continue
            for a in n.names:
                sub = f"{target}.{a.name}"
                found.add(sub if sub in MODULES else target)
    return found - {mod}


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) < 2:
        return None
    name = parts[1]
    if name in ("summaries", "results"):
        return "api"
    if name == "notebooks":
        return "api"
    return name if name in LAYERS else None


def test_every_module_imports():
    for info in pkgutil.walk_packages(locmap.__path__, "locmap."):
        if info.name != "locmap.__main__":
            importlib.import_module(info.name)


def test_no_import_cycle_inside_the_package():
    g = nx.DiGraph()
    for mod in MODULES:
        for dep in _imports(mod, top_level_only=True):
            if dep in MODULES:
                g.add_edge(mod, dep)
    cycles = list(nx.simple_cycles(g))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_no_library_module_imports_the_command_line():
    offenders = {mod: sorted(d for d in _imports(mod, top_level_only=False) if d.startswith("locmap.cli"))
                 for mod in MODULES if not mod.startswith("locmap.cli") and mod != "locmap.__main__"}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_layers_import_only_earlier_layers():
    bad = []
    for mod in MODULES:
        mine = _layer(mod)
        if mine is None:
            continue
        for dep in _imports(mod, top_level_only=False):
            theirs = _layer(dep)
            if dep in FOUNDATION or theirs is None or theirs == mine:
                continue
            if LAYERS.index(theirs) > LAYERS.index(mine):
                bad.append(f"{mod} -> {dep}")
    assert bad == []


#: Command-line modules import the library when a command runs (docs/decisions.md: imports on
#: demand), so that building the parser and ``--help`` stay light; at their top they import only
#: these (tests/test_imports.py checks the whole import graph).
CLI_TOP_LEVEL = {"locmap", "locmap.settings", "locmap.errors", "locmap.bands", "locmap._text",
                 "locmap._interrupt"}


def test_own_modules_are_imported_at_the_top_not_inside_functions():
    """Outside ``locmap.cli``: a command's function may import the library it runs."""
    local = []
    for mod in MODULES:
        if mod.startswith("locmap.cli"):
            continue
        for fn in (n for n in _nodes(mod) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for n in ast.walk(fn):
                if isinstance(n, ast.ImportFrom) and _resolve(mod, n).startswith("locmap"):
                    local.append(f"{mod}:{n.lineno}")
                elif isinstance(n, ast.Import) and any(a.name.startswith("locmap") for a in n.names):
                    local.append(f"{mod}:{n.lineno}")
    assert local == []


def _runtime_top_level_imports(mod: str) -> set[str]:
    """locmap modules imported at the top of ``mod`` when it runs (``if TYPE_CHECKING:`` left out)."""
    tree = _tree(mod)
    found = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or (
                isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)):
            continue
        for n in ast.walk(stmt):
            if isinstance(n, ast.Import):
                found |= {a.name for a in n.names if a.name.startswith("locmap")}
            elif isinstance(n, ast.ImportFrom) and _resolve(mod, n).startswith("locmap"):
                target = _resolve(mod, n)
                found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in n.names}
    return found - {mod}


def test_command_line_modules_import_only_light_modules_at_the_top():
    heavy = {mod: sorted(d for d in _runtime_top_level_imports(mod)
                         if d not in CLI_TOP_LEVEL and not d.startswith("locmap.cli"))
             for mod in MODULES if mod.startswith("locmap.cli")}
    assert {m: d for m, d in heavy.items() if d} == {}


def test_no_soft_fallback_around_own_imports():
    """``try: import locmap...`` / ``except ImportError`` around the package's own modules hides bugs."""
    soft = []
    for mod in MODULES:
        for t in (n for n in _nodes(mod) if isinstance(n, ast.Try)):
            own = [n for stmt in t.body for n in ast.walk(stmt)
                   if isinstance(n, ast.ImportFrom) and _resolve(mod, n).startswith("locmap")]
            if own:
                soft.append(f"{mod}:{t.lineno}")
    assert soft == []


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if m != "locmap.__main__"))
def test_module_has_a_docstring(mod):
    assert ast.get_docstring(_tree(mod)), mod


def test_architecture_doc_lists_every_module_as_the_code_is():
    root = PKG.parent
    proc = subprocess.run([sys.executable, str(root / "docs" / "gen_architecture.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
