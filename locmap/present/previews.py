"""The workshop pack at a glance: the map by link and a thumbnail per print sheet (:func:`workshop_preview`).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from locmap.present.tables import link_to


@dataclass(frozen=True)
class Preview:
    """The workshop pack at a glance: the map embedded (by link) and a thumbnail per sheet."""

    html_text: str
    summary: str

    def _repr_html_(self) -> str:
        return self.html_text

    def __repr__(self) -> str:
        return self.summary


def _thumbnail(png: Path, width_px: int) -> str:
    with Image.open(png) as im:
        im = im.convert("RGB")
        im.thumbnail((width_px, width_px * 2))
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def workshop_preview(files: pd.DataFrame, width_px: int = 320, map_height_px: int = 480) -> Preview:
    """Preview of :func:`locmap.api.workshop_export`'s files: the (offline) map in an iframe
    linked from the notebook's folder, links to every file, and a thumbnail of each sheet."""
    parts, files = [], pd.DataFrame(files)
    maps = files[files["kind"].astype(str).str.startswith("map")]
    if len(maps):
        pick = maps[maps["kind"].str.contains("offline")]
        src = link_to(Path((pick if len(pick) else maps)["path"].iloc[0]))
        links = " · ".join(f"<a href='{html.escape(link_to(Path(p)), quote=True)}' target='_blank'>"
                           f"{html.escape(k)}: {html.escape(Path(p).name)}</a>" for k, p in zip(maps["kind"], maps["path"]))
        parts.append(f"<p><b>Interactive map</b> ({links})</p><iframe class='locmap-map' src='{html.escape(src, quote=True)}' "
                     f"sandbox='allow-scripts allow-popups' style='width:100%;height:{int(map_height_px)}px;"
                     f"border:1px solid #bbb'></iframe>")
    cells = []
    for loc, part in files[files["kind"] == "sheet"].groupby("locality", sort=False):
        png = [Path(p) for p in part["path"] if str(p).endswith(".png")]
        links = " · ".join(f"<a href='{html.escape(link_to(Path(p)), quote=True)}' target='_blank'>"
                           f"{html.escape(Path(p).suffix[1:].upper())}</a>" for p in part["path"])
        img = f"<img src='{_thumbnail(png[0], width_px)}' style='width:{width_px}px;border:1px solid #ccc'>" if png else ""
        cells.append(f"<div style='display:inline-block;margin:6px;vertical-align:top'>{img}"
                     f"<div><b>{html.escape(str(loc))}</b> {links}</div></div>")
    if cells:
        parts.append(f"<p><b>Print sheets</b> ({len(cells)})</p><div>{''.join(cells)}</div>")
    summary = f"{len(maps)} map file(s), {len(cells)} sheet(s): " + ", ".join(map(str, files["path"]))
    return Preview("<div class='locmap-preview'>" + "".join(parts) + "</div>", summary)
