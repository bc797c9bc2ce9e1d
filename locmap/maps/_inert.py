"""Render folium/branca pages without ever compiling rendered text as a Jinja2 template.

Why this module exists
----------------------
folium and branca render each element's macro, then wrap the *output* in
``branca.element.Element(output)``.  ``Element.__init__`` compiles its string argument with
``jinja2.Template`` and :meth:`branca.element.Figure.render` renders it again.  Anything that
reached the first render as data -- a service name in a popup, a GeoJSON property passed
through ``tojson``, a layer name -- is therefore evaluated as a template on the second pass:
``{{7*7}}`` shows as ``49``, ``{{ cycler.__init__.__globals__.os.system(...) }}`` runs a
shell command, and ``{%``, ``{#`` or an unclosed ``{{`` crash the render.

The fix, at the mechanism
-------------------------
Every map locmap builds hangs from an :class:`InertFigure`.  Its ``render`` (and so ``save``
and the notebook ``_repr_html_``, which both call ``render``) runs inside
:func:`inert_rendering`: while it is active, ``branca.element.Template`` -- the name
``Element.__init__`` looks up -- is a factory that returns a :class:`LiteralTemplate` for
calls made by the rendering thread.  A literal template renders to its source unchanged, so
output is never compiled again.  Element *class* templates (folium's own macros) were
compiled at import time and are untouched: the first, legitimate pass runs as before.

For text without template syntax, Jinja2's second pass only normalises line breaks to
``\\n`` and drops one trailing line break; :class:`LiteralTemplate` does exactly that, so a
page without hostile text is byte-identical with and without this module
(``tests/test_injection.py`` checks it).

The swap is process-global (branca offers no hook), so it is guarded: an ``RLock`` serialises
locmap renders (nested renders are allowed), the factory hands literal templates only to the
thread that holds the lock (other threads building branca elements meanwhile get real Jinja2
templates), and the original is restored in ``finally``.

Element ids
-----------
branca names each element ``<name>_<32 random hex digits>`` (``os.urandom``), so two renders of
the same inputs differ.  :func:`number_elements` renumbers every element in tree order before
rendering (``0000...0001``, ...), which makes pages byte-identical across runs and processes.
Numbers are given once per element, so rendering the same map twice gives the same page.
"""
from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import branca.element
from branca.element import Element, Figure

_NEWLINES = re.compile(r"\r\n|\r|\n")
_LOCK = threading.RLock()
_STATE = threading.local()
_SAVED: list[tuple[Any, Any]] = []
#: prefix of the ids of elements created while rendering (tree elements get plain numbers)
RENDER_ID_PREFIX = "r"


class LiteralTemplate:
    """Stand-in for ``jinja2.Template`` whose ``render`` returns the source text unchanged.

    Line breaks are normalised and one trailing line break is dropped, as Jinja2 does for
    plain text, so the output equals what Jinja2 would give for text without ``{{``, ``{%``
    or ``{#``.
    """

    #: ``MacroElement.render`` reads macros from ``template.module``; a literal has none.
    module = SimpleNamespace()

    def __init__(self, source: str, *_args: Any, **_kwargs: Any) -> None:
        lines = _NEWLINES.split(str(source))
        if lines and lines[-1] == "":
            lines.pop()
        self.source = "\n".join(lines)

    def render(self, *_args: Any, **_kwargs: Any) -> str:
        """The source text, never evaluated."""
        return self.source


def _active() -> bool:
    return getattr(_STATE, "depth", 0) > 0


def _template_factory(source: str, *args: Any, **kwargs: Any) -> Any:
    """``branca.element.Template`` while :func:`inert_rendering` is active."""
    if _active():
        return LiteralTemplate(source)
    return _SAVED[-1][0](source, *args, **kwargs)


def _render_id(cls: type) -> str:
    """``Element._generate_id`` while rendering: a per-render counter, not ``os.urandom``."""
    if not _active():
        return _SAVED[-1][1].__get__(None, cls)()
    _STATE.next_id += 1
    return f"{RENDER_ID_PREFIX}{_STATE.next_id:031x}"


@contextlib.contextmanager
def inert_rendering() -> Iterator[None]:
    """Within this block, branca elements built from strings by this thread are literal.

    Elements created in the block by this thread also get deterministic ids (a counter
    that restarts with each outermost block), so rendering the same map twice gives the
    same page.  Re-entrant; the originals are restored when the outermost block exits,
    also on error.
    """
    with _LOCK:
        depth = getattr(_STATE, "depth", 0)
        if depth == 0:
            _SAVED.append((branca.element.Template, Element.__dict__["_generate_id"]))
            branca.element.Template = _template_factory
            Element._generate_id = classmethod(_render_id)  # type: ignore[method-assign,assignment]
            _STATE.next_id = 0
        _STATE.depth = depth + 1
        try:
            yield
        finally:
            _STATE.depth = depth
            if depth == 0:
                branca.element.Template, Element._generate_id = _SAVED.pop()


# --------------------------------------------------------------------------- element ids
def _containers(el: Element) -> list[Element]:
    """The ``header``/``html``/``script`` sub-elements of Figure-like elements (Popup, Div)."""
    return [c for c in (getattr(el, k, None) for k in ("header", "html", "script"))
            if isinstance(c, Element) and c is not el]


def number_elements(root: Element) -> int:
    """Give every element under ``root`` a deterministic id in tree order.

    Elements numbered before keep their id; new ones continue the count.  Elements created
    while rendering already have deterministic ids (:data:`RENDER_ID_PREFIX`) and keep them.
    A parent's ``_children`` keys that were the child's default name follow the new name.

    Returns
    -------
    int
        Number of elements numbered by this call.
    """
    counter = [getattr(root, "_locmap_next_id", 1)]
    start = counter[0]

    def visit(el: Element) -> None:
        numbered = getattr(el, "_locmap_id", None) == el._id
        if not numbered and not el._id.startswith(RENDER_ID_PREFIX):
            el._id = el._locmap_id = f"{counter[0]:032x}"  # type: ignore[attr-defined]
            counter[0] += 1
        renamed = OrderedDict()
        for key, child in el._children.items():
            old = child.get_name()
            visit(child)
            renamed[child.get_name() if key == old else key] = child
        el._children = renamed
        for sub in _containers(el):
            visit(sub)

    visit(root)
    root._locmap_next_id = counter[0]  # type: ignore[attr-defined]
    return counter[0] - start


class InertFigure(Figure):
    """branca ``Figure`` whose rendering never compiles rendered text as a template.

    ``render`` numbers the elements (:func:`number_elements`) and renders inside
    :func:`inert_rendering`; ``save`` and ``_repr_html_`` (notebooks) go through ``render``.
    """

    def render(self, **kwargs: Any) -> str:
        number_elements(self)
        with inert_rendering():
            return super().render(**kwargs)


def attach(m: Element) -> InertFigure:
    """Hang ``m`` (e.g. a ``folium.Map``) from a new :class:`InertFigure` and return it."""
    fig = InertFigure()
    fig.add_child(m)
    return fig
