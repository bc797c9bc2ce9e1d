"""Borough outlines and names for the finder: the study area (its ward union) and every other
borough of the pack's ``boroughs`` layer, or, for a pack without that layer, the neighbour
wards dissolved per borough (EPSG:27700)."""
from __future__ import annotations

import geopandas as gpd
import shapely

from locmap.data.area import AreaData
from locmap.data.io import read_layer

_CACHE: dict = {}


def borough_outlines(area: AreaData) -> gpd.GeoDataFrame:
    """``lad_cd, lad_nm, geometry``: the study area first, then the other boroughs known.

    Cached per loaded area (the key's objects stay referenced, so ids are not reused)."""
    key = (id(area.pack), id(area.borough), id(area.neighbour_wards))
    if key in _CACHE:
        return _CACHE[key][-1]
    rows = [(str(area.pack.lad_cd), str(area.pack.lad_nm), area.borough.geometry.union_all())]
    if area.pack.has_layer("boroughs"):
        layer, _ = read_layer(area.pack.layer("boroughs"), area.settings.resolve_data_root(), area.pack.crs,
                              required=("lad_cd",))
        names = layer["lad_nm"] if "lad_nm" in layer.columns else layer["lad_cd"]
        rows += [(str(c), str(n), g) for c, n, g in zip(layer["lad_cd"], names, layer.geometry)
                 if str(c) != rows[0][0]]
    nw = area.neighbour_wards
    if nw is not None and len(nw):
        known = {r[0] for r in rows}
        for lad, g in nw.groupby("lad_cd"):
            if str(lad) not in known:
                rows.append((str(lad), str(g["lad_nm"].iat[0] or lad), shapely.union_all(g.geometry.values)))
    out = gpd.GeoDataFrame({"lad_cd": [r[0] for r in rows], "lad_nm": [r[1] for r in rows]},
                           geometry=[r[2] for r in rows], crs=area.borough.crs)
    _CACHE[key] = (area.pack, area.borough, area.neighbour_wards, out)
    return out
