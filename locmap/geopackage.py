"""GeoPackages that QGIS opens styled and older GDALs read quietly (docs/outputs.md).

:func:`write_styled_gpkg` writes layers as GeoPackage **1.2** (GDAL's dataset creation option
``VERSION``; GDAL 3.6, still in QGIS LTR installs, warns that 1.4 "may only be partially
supported") and adds QGIS's ``layer_styles`` table: one QML and one SLD style per layer, with the
colours and classes of locmap's maps (read from :mod:`locmap.maps.web` / :mod:`locmap.maps.palette`,
never copied):

* ``homes_access`` (points): homes coloured by pram-pushing minutes to the nearest service, the
  map's bands (0–10, 10–15, 15–20, 20+ minutes) and its "no reachable service" colour; one style
  per ``minutes__<type>`` column, the default being ``any_key_service`` (else the first);
* ``gaps`` (polygons): the map's gap colour and fill opacity, dashed outline.

The table follows QGIS's convention (``f_table_catalog, f_table_schema, f_table_name,
f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui,
update_time``, primary key ``id``) and is registered in ``gpkg_contents`` (data type
``attributes``), so ``ogrinfo`` lists it.  ``update_time`` is :data:`locmap.export.GPKG_DATE`,
so the same layers give the same bytes.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from locmap import export
from locmap.maps import web
from locmap.maps.palette import service_label

#: GeoPackage version written unless asked otherwise
GPKG_VERSION = "1.2"
STYLES_TABLE = "layer_styles"
STYLE_COLUMNS = ["f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                 "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"]
#: the column whose style QGIS applies first (the web map's first access layer is the key services)
DEFAULT_MINUTES_COLUMN = "minutes__any_key_service"
HOME_SIZE_MM = 1.6
GAP_OUTLINE_MM = 0.5
QGIS_VERSION = "3.28.0"


@dataclass(frozen=True)
class LayerStyle:
    """One row of ``layer_styles``: a named QML + SLD style of a layer."""

    layer: str
    name: str
    qml: str
    sld: str
    default: bool
    description: str


@dataclass(frozen=True)
class _Class:
    """One drawn class: label, OGC filter bounds on ``column`` (None = the rest), colour, opacity."""

    label: str
    lower: float | None
    upper: float | None
    colour: str
    opacity: float


# ------------------------------------------------------------------ classes from the maps
def access_classes() -> list[_Class]:
    """The web map's pram-distance bands, then "no reachable service" (the map's colours)."""
    out = [_Class(label, lo, None if math.isinf(hi) else hi, colour, web.HOMES_FILL_OPACITY)
           for lo, hi, label, colour in web.ACCESS_BANDS]
    return out + [_Class("No reachable service", None, None, web.NO_ACCESS_COLOUR, web.HOMES_FILL_OPACITY)]


def _rgba(colour: str, opacity: float = 1.0) -> str:
    c = colour.lstrip("#")
    return ",".join([str(int(c[i:i + 2], 16)) for i in (0, 2, 4)] + [str(round(255 * opacity))])


# ------------------------------------------------------------------ QML
def _options(parent: ET.Element, values: dict[str, str]) -> None:
    opt = ET.SubElement(parent, "Option", type="Map")
    for k, v in values.items():
        ET.SubElement(opt, "Option", name=k, type="QString", value=v)


def _marker_symbol(symbols: ET.Element, key: str, cls: _Class) -> None:
    sym = ET.SubElement(symbols, "symbol", type="marker", name=key, alpha="1", clip_to_extent="1",
                        force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
    _options(layer, {"color": _rgba(cls.colour, cls.opacity), "name": "circle", "outline_style": "no",
                     "size": str(HOME_SIZE_MM), "size_unit": "MM"})


def _fill_symbol(symbols: ET.Element, key: str) -> None:
    sym = ET.SubElement(symbols, "symbol", type="fill", name=key, alpha="1", clip_to_extent="1",
                        force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
    _options(layer, {"color": _rgba(web.GAP_COLOUR, web.GAP_FILL_OPACITY), "style": "solid",
                     "outline_color": _rgba(web.GAP_COLOUR), "outline_style": "dash",
                     "outline_width": str(GAP_OUTLINE_MM), "outline_width_unit": "MM"})


def _qgis_root() -> ET.Element:
    return ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")


def _qml_text(root: ET.Element) -> str:
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _qgis_filter(column: str, cls: _Class) -> str:
    if cls.lower is None and cls.upper is None:
        return "ELSE"
    parts = [f"{_quoted(column)} >= {cls.lower:g}"] if cls.lower is not None else []
    parts += [f"{_quoted(column)} < {cls.upper:g}"] if cls.upper is not None else []
    return " AND ".join(parts)


def access_qml(column: str) -> str:
    """Rule-based QML: homes coloured by the minutes in ``column`` (the map's bands)."""
    root = _qgis_root()
    renderer = ET.SubElement(root, "renderer-v2", type="RuleRenderer", symbollevels="0", enableorderby="0",
                             forceraster="0")
    rules = ET.SubElement(renderer, "rules", key="root")
    symbols = ET.SubElement(renderer, "symbols")
    for i, cls in enumerate(access_classes()):
        ET.SubElement(rules, "rule", key=f"r{i}", symbol=str(i), label=cls.label, filter=_qgis_filter(column, cls))
        _marker_symbol(symbols, str(i), cls)
    return _qml_text(root)


def gaps_qml() -> str:
    """Single-symbol QML: the map's gap colour, fill opacity and dashed outline."""
    root = _qgis_root()
    renderer = ET.SubElement(root, "renderer-v2", type="singleSymbol", symbollevels="0", enableorderby="0",
                             forceraster="0")
    _fill_symbol(ET.SubElement(renderer, "symbols"), "0")
    return _qml_text(root)


# ------------------------------------------------------------------ SLD (1.0)
SLD_NS = "http://www.opengis.net/sld"
OGC_NS = "http://www.opengis.net/ogc"


def _sld_root(layer: str, style: str) -> tuple[ET.Element, ET.Element]:
    ET.register_namespace("", SLD_NS)
    ET.register_namespace("ogc", OGC_NS)
    root = ET.Element(f"{{{SLD_NS}}}StyledLayerDescriptor", version="1.0.0")
    named = ET.SubElement(root, f"{{{SLD_NS}}}NamedLayer")
    ET.SubElement(named, f"{{{SLD_NS}}}Name").text = layer
    user = ET.SubElement(named, f"{{{SLD_NS}}}UserStyle")
    ET.SubElement(user, f"{{{SLD_NS}}}Name").text = style
    return root, ET.SubElement(user, f"{{{SLD_NS}}}FeatureTypeStyle")


def _css(parent: ET.Element, tag: str, values: dict[str, str]) -> None:
    el = ET.SubElement(parent, f"{{{SLD_NS}}}{tag}")
    for k, v in values.items():
        ET.SubElement(el, f"{{{SLD_NS}}}CssParameter", name=k).text = v


def _sld_filter(rule: ET.Element, column: str, cls: _Class) -> None:
    if cls.lower is None and cls.upper is None:
        ET.SubElement(rule, f"{{{SLD_NS}}}ElseFilter")
        return
    flt = ET.SubElement(rule, f"{{{OGC_NS}}}Filter")
    parent = ET.SubElement(flt, f"{{{OGC_NS}}}And") if cls.lower is not None and cls.upper is not None else flt
    for op, bound in (("PropertyIsGreaterThanOrEqualTo", cls.lower), ("PropertyIsLessThan", cls.upper)):
        if bound is not None:
            cmp_ = ET.SubElement(parent, f"{{{OGC_NS}}}{op}")
            ET.SubElement(cmp_, f"{{{OGC_NS}}}PropertyName").text = column
            ET.SubElement(cmp_, f"{{{OGC_NS}}}Literal").text = f"{bound:g}"


def access_sld(layer: str, column: str) -> str:
    """SLD 1.0 of :func:`access_qml` (same classes and colours)."""
    root, fts = _sld_root(layer, column)
    for cls in access_classes():
        rule = ET.SubElement(fts, f"{{{SLD_NS}}}Rule")
        ET.SubElement(rule, f"{{{SLD_NS}}}Name").text = cls.label
        _sld_filter(rule, column, cls)
        graphic = ET.SubElement(ET.SubElement(rule, f"{{{SLD_NS}}}PointSymbolizer"), f"{{{SLD_NS}}}Graphic")
        mark = ET.SubElement(graphic, f"{{{SLD_NS}}}Mark")
        ET.SubElement(mark, f"{{{SLD_NS}}}WellKnownName").text = "circle"
        _css(mark, "Fill", {"fill": cls.colour, "fill-opacity": f"{cls.opacity:g}"})
        ET.SubElement(graphic, f"{{{SLD_NS}}}Size").text = f"{HOME_SIZE_MM * 72 / 25.4:.1f}"  # pixels at 72 dpi
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def gaps_sld(layer: str) -> str:
    """SLD 1.0 of :func:`gaps_qml`."""
    root, fts = _sld_root(layer, "gaps")
    rule = ET.SubElement(fts, f"{{{SLD_NS}}}Rule")
    ET.SubElement(rule, f"{{{SLD_NS}}}Name").text = "Gap area"
    sym = ET.SubElement(rule, f"{{{SLD_NS}}}PolygonSymbolizer")
    _css(sym, "Fill", {"fill": web.GAP_COLOUR, "fill-opacity": f"{web.GAP_FILL_OPACITY:g}"})
    _css(sym, "Stroke", {"stroke": web.GAP_COLOUR, "stroke-width": "2", "stroke-dasharray": "5 3"})
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


# ------------------------------------------------------------------ styles of a layer
def styles_for(layer: str, gdf: gpd.GeoDataFrame) -> list[LayerStyle]:
    """The styles of one layer: per ``minutes__<type>`` column for homes, the gap style for gap
    polygons (a ``threshold_minutes`` column), none for anything else."""
    minutes = [c for c in gdf.columns if str(c).startswith("minutes__")]
    if minutes:
        default = DEFAULT_MINUTES_COLUMN if DEFAULT_MINUTES_COLUMN in minutes else minutes[0]
        return [LayerStyle(layer, f"minutes to {service_label(c.split('__', 1)[1])}", access_qml(c),
                           access_sld(layer, c), c == default,
                           f"homes by pram-pushing minutes to the nearest {service_label(c.split('__', 1)[1])} "
                           f"(column {c}); colours of locmap's maps") for c in minutes]
    if "threshold_minutes" in gdf.columns:
        return [LayerStyle(layer, "gap areas", gaps_qml(), gaps_sld(layer), True,
                           "areas beyond the threshold; colour of locmap's maps")]
    return []


def add_layer_styles(path: str | Path, styles: list[LayerStyle]) -> None:
    """Add QGIS's ``layer_styles`` table with ``styles`` to the GeoPackage at ``path`` (through GDAL,
    so it is registered in ``gpkg_contents``)."""
    if not styles:
        return
    geom = {s.layer: pyogrio.read_info(path, layer=s.layer).get("geometry_name") or "geom" for s in styles}
    rows = [{"f_table_catalog": "", "f_table_schema": "", "f_table_name": s.layer,
             "f_geometry_column": geom[s.layer], "styleName": s.name, "styleQML": s.qml, "styleSLD": s.sld,
             "useAsDefault": s.default, "description": s.description, "owner": "locmap", "ui": "",
             "update_time": pd.Timestamp(export.GPKG_DATE).tz_localize(None)} for s in styles]
    pyogrio.write_dataframe(pd.DataFrame(rows, columns=STYLE_COLUMNS), path, layer=STYLES_TABLE, driver="GPKG",
                            layer_options={"FID": "id"})


def write_styled_gpkg(layers: dict, path: str | Path, version: str | None = GPKG_VERSION) -> Path:
    """:func:`locmap.export.write_gpkg` as GeoPackage ``version`` (default 1.2; None = GDAL's
    default) with a ``layer_styles`` table for the layers locmap knows how to draw."""
    styles = [s for name, gdf in layers.items() for s in styles_for(name, gdf)]
    return export.write_gpkg(layers, path, version=version, finish=lambda tmp: add_layer_styles(tmp, styles))


__all__ = ["write_styled_gpkg", "add_layer_styles", "styles_for", "access_qml", "access_sld", "gaps_qml",
           "gaps_sld", "access_classes", "LayerStyle", "GPKG_VERSION", "STYLES_TABLE", "STYLE_COLUMNS"]
