"""Third-party imports made lazy where a package does heavy work at import time that most runs never use.

Standard library only: ``tests/conftest.py`` calls :func:`defer_iri_grammars` before any test module
imports nbformat (the xdist controller starts without pandas).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


def defer_iri_grammars() -> None:
    """Build ``rfc3987_syntax``'s IRI grammars when jsonschema first checks an IRI, not when it is imported.

    nbformat (so papermill, and every ``locmap notebooks``) imports jsonschema, whose format checkers
    import ``rfc3987_syntax`` if it is installed (jupyter-events installs it); that package builds 38
    Lark parsers at import time, ~1.3 s of CPU in every such process.  nbformat validates notebooks
    without a format checker, so it never uses them.  This puts a stand-in module in its place (only if
    it is installed and not yet imported): jsonschema's ``iri`` and ``iri-reference`` checks are still
    registered, and their first use (e.g. an Open Referral file, whose validator checks formats) imports
    the real package and answers with it; any other attribute does the same.  No check is lost or changed.
    """
    name = "rfc3987_syntax"
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = types.ModuleType(name, "Stand-in: the real rfc3987_syntax is imported on first use.")

    def real() -> types.ModuleType:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return importlib.import_module(name)

    def is_valid_syntax(term: str, value: str) -> bool:
        return real().is_valid_syntax(term, value)

    def attribute(attr: str) -> Any:
        if attr.startswith("__"):  # the import system's own questions (``__path__``...): a plain module
            raise AttributeError(attr)
        return getattr(real(), attr)

    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.__getattr__ = attribute
    sys.modules[name] = stand_in
