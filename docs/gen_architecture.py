"""Regenerate the module table of docs/architecture.md from the code.

Usage: python docs/gen_architecture.py [--check]

Every module of the ``locmap`` package gets one line: its first docstring line and the locmap
modules it imports.  The text between the ``modules:start``/``modules:end`` markers is replaced;
everything else in docs/architecture.md is hand-written.  ``--check`` exits 1 when the file is out
of date (tests/test_architecture.py runs it).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "locmap"
DOC = ROOT / "docs" / "architecture.md"
START, END = "<!-- modules:start -->", "<!-- modules:end -->"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_line(tree: ast.Module) -> str:
    doc = ast.get_docstring(tree) or ""
    line = " ".join(doc.strip().split("\n\n")[0].split())
    return line.replace("|", "\\|")


def locmap_imports(name: str, path: Path, tree: ast.Module) -> list[str]:
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (n.level - 1)]
                base = ".".join(pkg + ([n.module] if n.module else []))
            if base.startswith("locmap"):
                for a in n.names:  # ``from locmap.access import nearest`` names a module
                    sub = f"{base}.{a.name}"
                    is_mod = (PKG.parent / (sub.replace(".", "/") + ".py")).is_file() or \
                        (PKG.parent / sub.replace(".", "/") / "__init__.py").is_file()
                    found.add(sub if is_mod else base)
        elif isinstance(n, ast.Import):
            found |= {a.name for a in n.names if a.name.startswith("locmap")}
    found.discard(name)
    return sorted(f.removeprefix("locmap.") for f in found)


def table() -> str:
    rows = ["| module | what it does | imports (locmap.) |", "|---|---|---|"]
    for path in sorted(PKG.rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text())
        rows.append(f"| `{name}` | {first_line(tree)} | {', '.join(locmap_imports(name, path, tree))} |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = DOC.read_text()
    new = render(current)
    if "--check" in argv:
        if new != current:
            print("docs/architecture.md is out of date: run python docs/gen_architecture.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
