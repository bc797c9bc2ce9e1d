"""Self-contained (offline) HTML for folium maps.

folium links Leaflet and jQuery from CDNs, so a saved map opened without internet draws
nothing.  :func:`make_self_contained` rewrites a rendered page:

- ``<script src=...leaflet...js>`` / ``<link href=...leaflet...css>`` and jQuery are replaced by
  inline copies from the PyPI packages ``xstatic-leaflet`` and ``xstatic-jquery``;
- the images Leaflet's CSS refers to (layer-control icon) and the default marker PNGs are
  inlined as ``data:`` URIs (``L.Icon.Default`` is pointed at them);
- Bootstrap, glyphicons, Font Awesome and awesome-markers are dropped when the page does not use
  them (``locmap.maps.web.build_map(offline=True)`` never does);
- any other external script or stylesheet (MarkerCluster, Fullscreen, Search, ...) raises
  :class:`OfflineAssetError`: those plugins are simply not used in offline mode.

Only background tiles still come from the network; the banner added by
``build_map(offline=True)`` says so.
"""
from __future__ import annotations

import base64
import importlib
import os
import re
from functools import lru_cache
from pathlib import Path

from locmap.errors import LocmapError
from locmap.export import write_text


class OfflineAssetError(LocmapError):
    """A map page needs a web asset that locmap cannot embed."""

    remedy = ("build the map with locmap.maps.web.build_map(..., offline=True), which leaves out "
              "plugins whose files are not shipped with locmap (MarkerCluster, Fullscreen, Search).")


_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.I)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*/?>", re.I)

#: Asset URLs that are dropped when the page does not use them.
_OPTIONAL = {
    "bootstrap": ("bootstrap", ".modal(", ".tooltip(", "data-bs-"),
    "awesome-markers": ("AwesomeMarkers",),
    "fontawesome": ("AwesomeMarkers", "fa-"),
    "leaflet.awesome.rotate": ("AwesomeMarkers",),
}


def _xstatic_dir(module: str) -> Path:
    try:
        mod = importlib.import_module(f"xstatic.pkg.{module}")
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise OfflineAssetError(f"the Python package xstatic-{module} is not installed; "
                                f"pip install xstatic-{module}") from exc
    return Path(mod.BASE_DIR)


def _data_uri(path: Path, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@lru_cache(maxsize=1)
def _assets() -> dict[str, str]:
    leaf = _xstatic_dir("leaflet")
    jq = _xstatic_dir("jquery")
    css = (leaf / "leaflet.css").read_text(encoding="utf-8")
    images = leaf / "images"
    for img in sorted(images.glob("*.png"), key=lambda p: -len(p.name)):
        css = css.replace(f"images/{img.name}", _data_uri(img))
    icons = {k: _data_uri(images / f) for k, f in (
        ("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
        ("shadowUrl", "marker-shadow.png"))}
    icon_js = ("L.Icon.Default.imagePath = '';\nL.Icon.Default.mergeOptions({"
               + ", ".join(f"{k}: '{v}'" for k, v in icons.items()) + "});")
    return {
        "leaflet_js": (leaf / "leaflet.js").read_text(encoding="utf-8"),
        "leaflet_css": css,
        "jquery_js": (jq / "jquery.min.js").read_text(encoding="utf-8"),
        "icon_js": icon_js,
    }


def _inline_script(code: str) -> str:
    # a literal "</script" inside inline JS would end the element early
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def _inline_style(css: str) -> str:
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


def _is_external(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def external_assets(page: str) -> list[str]:
    """External script/stylesheet URLs a page still loads."""
    urls = [m.group(1) for m in _SCRIPT_SRC.finditer(page)]
    for m in _LINK_HREF.finditer(page):
        tag = m.group(0).lower()
        if "stylesheet" in tag or m.group(1).endswith(".css"):
            urls.append(m.group(1))
    return [u for u in urls if _is_external(u)]


def make_self_contained(page: str) -> str:
    """Rewrite a rendered folium page so it needs no CDN.

    Parameters
    ----------
    page : str
        HTML from ``folium.Map.get_root().render()``.

    Returns
    -------
    str
        The page with Leaflet, jQuery and marker images inlined.

    Raises
    ------
    OfflineAssetError
        If the page loads another external script or stylesheet that cannot be embedded.
    """
    assets = _assets()
    body_text = _SCRIPT_SRC.sub("", _LINK_HREF.sub("", page))
    problems: list[str] = []

    def script_sub(m: re.Match) -> str:
        url = m.group(1)
        low = url.lower()
        if not _is_external(url):
            return m.group(0)
        name = low.rsplit("/", 1)[-1]
        if "leaflet" in low and re.fullmatch(r"leaflet(\.min)?\.js|leaflet-src\.js", name):
            return _inline_script(assets["leaflet_js"]) + "\n" + _inline_script(assets["icon_js"])
        if "jquery" in name and name.endswith(".js"):
            return _inline_script(assets["jquery_js"])
        for key, markers in _OPTIONAL.items():
            if key in low and not any(mk in body_text for mk in markers):
                return ""
        problems.append(url)
        return m.group(0)

    def link_sub(m: re.Match) -> str:
        url = m.group(1)
        low = url.lower()
        if not _is_external(url):
            return m.group(0)
        name = low.rsplit("/", 1)[-1]
        if re.fullmatch(r"leaflet(\.min)?\.css", name):
            return _inline_style(assets["leaflet_css"])
        for key, markers in {**_OPTIONAL, "glyphicons": ("glyphicon",)}.items():
            if key in low and not any(mk in body_text for mk in markers):
                return ""
        problems.append(url)
        return m.group(0)

    out = _SCRIPT_SRC.sub(script_sub, page)
    out = _LINK_HREF.sub(link_sub, out)
    if problems:
        raise OfflineAssetError(
            "the map needs web assets that cannot be embedded for an offline copy: "
            + ", ".join(problems))
    return out


def save_map(m, path: str | os.PathLike, offline: bool = False) -> Path:
    """Write a folium map to ``path`` atomically (``locmap.export.write_text``).

    Parameters
    ----------
    m : folium.Map
        Map from :func:`locmap.maps.web.build_map` (use ``offline=True`` there too for offline).
    path : path-like
        Target ``.html`` file; an interrupted write leaves any old file in place.
    offline : bool
        Inline Leaflet/jQuery/marker images so the page works without internet
        (background tiles excepted).

    Returns
    -------
    Path
        ``path``.
    """
    page = m.get_root().render()
    if offline:
        page = make_self_contained(page)
    return write_text(path, page)
