"""Synthetic study area for map tests (no real data needed).

Four 1 km square wards in a 2 x 2 grid near Ealing (EPSG:27700, south-west corner at
easting 515000, northing 181000), two towns, two PCN footprints that cut across the
towns, 16 LSOAs, two neighbour wards, ~30 services (including hostile names that must
be escaped) and a grid of homes.  Columns follow docs/architecture.md exactly.
"""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from locmap.data.area import AreaData
from locmap.export import ATTRIBUTION
from locmap.settings import Settings

CRS = "EPSG:27700"
X0_M, Y0_M = 515000.0, 181000.0
WARD_SIDE_M = 1000.0

#: hostile strings used in names/addresses; the browser test checks none of them runs
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_TEMPLATE = "Tick `${window.__xss=1}` \\ & Co"
SCRIPT_CLOSE_ADDRESS = "1 High St </script><script>window.__xss=1</script>"

SERVICE_TYPES = ("childrens_centre", "gp_practice", "pharmacy", "library", "primary_school")


def _bands(rng: np.random.Generator, n: int, scale: float) -> dict[str, np.ndarray]:
    p04 = rng.uniform(0.5, 1.5, n) * scale * 0.07
    p511 = rng.uniform(0.5, 1.5, n) * scale * 0.09
    p1219 = rng.uniform(0.5, 1.5, n) * scale * 0.10
    total = scale * rng.uniform(0.8, 1.2, n) + p04 + p511 + p1219
    return {"pop_total": total, "pop_0_4": p04, "pop_5_11": p511, "pop_12_19": p1219,
            "pop_0_19": p04 + p511 + p1219}


def make_area(seed: int = 7) -> AreaData:
    """A small synthetic :class:`AreaData` (EPSG:27700)."""
    rng = np.random.default_rng(seed)
    # ------------------------------------------------------------- wards (2 x 2)
    ward_rows = []
    names = [("E05000001", "North West Ward", "Northolt"), ("E05000002", "North East Ward", "Northolt"),
             ("E05000003", "South West Ward", "Southall & <b>Hanwell</b>"),
             ("E05000004", "South East Ward", "Southall & <b>Hanwell</b>")]
    cells = [(0, 1), (1, 1), (0, 0), (1, 0)]
    for (code, nm, town), (i, j) in zip(names, cells):
        g = box(X0_M + i * WARD_SIDE_M, Y0_M + j * WARD_SIDE_M,
                X0_M + (i + 1) * WARD_SIDE_M, Y0_M + (j + 1) * WARD_SIDE_M)
        ward_rows.append({"ward_cd": code, "ward_nm": nm, "town": town, "town_confidence": "high",
                          "lad_cd": "E09000009", "geometry": g})
    wards = gpd.GeoDataFrame(ward_rows, crs=CRS)
    # ------------------------------------------------------------- LSOAs (4 per ward)
    lsoa_rows = []
    k = 0
    for w in ward_rows:
        minx, miny, maxx, maxy = w["geometry"].bounds
        half = WARD_SIDE_M / 2
        for a in range(2):
            for b in range(2):
                k += 1
                g = box(minx + a * half, miny + b * half, minx + (a + 1) * half, miny + (b + 1) * half)
                pcn = "PCN_W" if g.centroid.x < X0_M + WARD_SIDE_M else "PCN_E"
                lsoa_rows.append({
                    "lsoa21cd": f"E0100{k:04d}", "lsoa21nm": f"Ealing {k:03d}A",
                    "msoa21nm": f"Ealing {k // 4:03d}", "ward_cd": w["ward_cd"], "ward_nm": w["ward_nm"],
                    "town": w["town"], "pcn_code": pcn,
                    "pcn_name": "West PCN" if pcn == "PCN_W" else "East <i>PCN</i>",
                    "lad_cd": "E09000009", "geometry": g})
    lsoa = gpd.GeoDataFrame(lsoa_rows, crs=CRS)
    for col, vals in _bands(rng, len(lsoa), 1500.0).items():
        lsoa[col] = vals
    lsoa["imd_score"] = rng.uniform(5, 50, len(lsoa))
    lsoa["imd_rank"] = rng.integers(1, 32844, len(lsoa))
    lsoa["imd_decile"] = (lsoa["imd_rank"] // 3285 + 1).clip(1, 10)
    lsoa["idaci_rank"] = rng.integers(1, 32844, len(lsoa))
    lsoa["idaci_decile"] = (lsoa["idaci_rank"] // 3285 + 1).clip(1, 10)
    lsoa["idaci_numerator"] = lsoa["pop_0_19"] * rng.uniform(0.05, 0.4, len(lsoa))
    lsoa = lsoa[["lsoa21cd", "lsoa21nm", "msoa21nm", "ward_cd", "ward_nm", "town", "pcn_code",
                 "pcn_name", "lad_cd", "pop_total", "pop_0_4", "pop_5_11", "pop_12_19", "pop_0_19",
                 "imd_score", "imd_rank", "imd_decile", "idaci_rank", "idaci_decile",
                 "idaci_numerator", "geometry"]]
    bands = ["pop_total", "pop_0_4", "pop_5_11", "pop_12_19", "pop_0_19"]
    ward_pop = lsoa.groupby("ward_cd")[bands].sum()
    wards = wards.join(ward_pop, on="ward_cd")
    wards = wards[["ward_cd", "ward_nm", "town", "town_confidence", "lad_cd", *bands, "geometry"]]
    # ------------------------------------------------------------- towns
    towns = wards.dissolve(by="town", aggfunc={b: "sum" for b in bands}).reset_index()
    towns["n_wards"] = 2
    towns["uncertain_wards"] = ""
    towns = towns[["town", "n_wards", "uncertain_wards", *bands, "geometry"]]
    # ------------------------------------------------------------- PCNs (approximate footprints)
    pcns = lsoa.dissolve(by=["pcn_code", "pcn_name"], aggfunc={b: "sum" for b in bands}).reset_index()
    pcns["n_practices"] = 3
    pcns["footprint_method"] = "lsoa_majority_registered"
    pcns = pcns[["pcn_code", "pcn_name", "n_practices", "footprint_method", *bands, "geometry"]]
    pcn_members = pd.DataFrame({
        "practice_code": ["Y001", "Y002", "Y003"], "practice_name": ["A", "B", "C"],
        "pcn_code": ["PCN_W", "PCN_E", "PCN_E"], "pcn_name": ["West PCN", "East <i>PCN</i>"] + ["East <i>PCN</i>"],
        "vintage": "2025-10"})
    borough = gpd.GeoDataFrame({"lad_cd": ["E09000009"], "lad_nm": ["Ealing"]},
                               geometry=[wards.union_all()], crs=CRS)
    neighbour_wards = gpd.GeoDataFrame({
        "ward_cd": ["E05009999", "E05009998"], "ward_nm": ["Over The Border", "Hillingdon Edge"],
        "lad_cd": ["E09000017", "E09000017"], "lad_nm": ["Hillingdon", "Hillingdon"],
        "touches_area": [True, True]},
        geometry=[box(X0_M - 800, Y0_M, X0_M, Y0_M + 1000), box(X0_M - 800, Y0_M + 1000, X0_M, Y0_M + 2000)],
        crs=CRS)
    # ------------------------------------------------------------- services
    srows = []
    sid = 0
    for stype, n in zip(SERVICE_TYPES, (3, 5, 6, 2, 12)):
        for _ in range(n):
            sid += 1
            x = X0_M + rng.uniform(50, 1950)
            y = Y0_M + rng.uniform(50, 1950)
            srows.append({"service_id": f"S{sid:03d}", "name": f"{stype.replace('_', ' ').title()} {sid}",
                          "service_type": stype, "subtype": "", "address": f"{sid} Test Road",
                          "postcode": "W5 1AA", "easting": x, "northing": y, "lad_cd": "E09000009",
                          "lad_nm": "Ealing", "in_study_area": True, "located": True,
                          "location_quality": "postcode", "capacity": np.nan,
                          "source": "synthetic", "vintage": "2025", "status": "open"})
    srows[0]["name"] = XSS_SCRIPT
    srows[1]["name"] = XSS_IMG
    srows[2]["name"] = XSS_TEMPLATE
    srows[3]["address"] = SCRIPT_CLOSE_ADDRESS
    # a cross-border service
    srows[4].update(easting=X0_M - 300, northing=Y0_M + 500, lad_cd="E09000017", lad_nm="Hillingdon",
                    in_study_area=False)
    # two services with no location
    for nm in ("Mobile Toy Library", "<b>Outreach</b> Team"):
        sid += 1
        srows.append({"service_id": f"S{sid:03d}", "name": nm, "service_type": "library", "subtype": "",
                      "address": "", "postcode": "", "easting": np.nan, "northing": np.nan,
                      "lad_cd": "E09000009", "lad_nm": "Ealing", "in_study_area": True, "located": False,
                      "location_quality": "none", "capacity": np.nan, "source": "synthetic",
                      "vintage": "2025", "status": "open"})
    sdf = pd.DataFrame(srows)
    geoms = [Point(e, n) if np.isfinite(e) else None for e, n in zip(sdf["easting"], sdf["northing"])]
    services = gpd.GeoDataFrame(sdf, geometry=geoms, crs=CRS)
    # ------------------------------------------------------------- homes (grid, 100 m)
    xs, ys = np.meshgrid(np.arange(X0_M + 50, X0_M + 2000, 100), np.arange(Y0_M + 50, Y0_M + 2000, 100))
    pts = gpd.GeoDataFrame(geometry=[Point(x, y) for x, y in zip(xs.ravel(), ys.ravel())], crs=CRS)
    pts = gpd.sjoin(pts, lsoa[["lsoa21cd", "ward_cd", "town", "pcn_code", "geometry"]],
                    predicate="within").drop(columns="index_right")
    pts = pts.reset_index(drop=True)
    pts.insert(0, "home_id", [f"H{i:05d}" for i in range(len(pts))])
    pts.insert(1, "postcode", "W5 1AA")
    per = pts.groupby("lsoa21cd")["home_id"].transform("count")
    share = pts["lsoa21cd"].map(lsoa.set_index("lsoa21cd")["pop_total"]) / per
    for b in bands:
        pts[b] = pts["lsoa21cd"].map(lsoa.set_index("lsoa21cd")[b]) / per
    del share
    homes = pts[["home_id", "postcode", "lsoa21cd", "ward_cd", "town", "pcn_code", *bands, "geometry"]]
    homes = gpd.GeoDataFrame(homes, geometry="geometry", crs=CRS)
    pack = SimpleNamespace(name="synthetic", key_service_types=list(SERVICE_TYPES[:2]))
    rejects = pd.DataFrame({"file": ["services.csv"], "row": [9], "reason": ["bad postcode"],
                            "detail": ["ZZ9 9ZZ"]})
    return AreaData(pack=pack, settings=Settings(), wards=wards, lsoa=lsoa, towns=towns, pcns=pcns,
                    pcn_members=pcn_members, borough=borough, neighbour_wards=neighbour_wards,
                    services=services, rejects=rejects, homes=homes, attribution=ATTRIBUTION)


def make_access(area: AreaData, method: str = "estimated") -> gpd.GeoDataFrame:
    """Homes with ``minutes__<type>`` columns: straight line x 1.3 at 4 km/h to the nearest service."""
    homes = area.homes.copy()
    xy = np.column_stack([homes.geometry.x, homes.geometry.y])
    for stype in SERVICE_TYPES:
        s = area.located_services(stype)
        sxy = np.column_stack([s.geometry.x, s.geometry.y])
        d = np.sqrt(((xy[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)).min(axis=1)
        homes[f"minutes__{stype}"] = d * 1.3 / (4000.0 / 60.0)
    homes["method"] = method
    return homes


def make_gaps(area: AreaData) -> gpd.GeoDataFrame:
    """Two gap polygons (homes beyond 15 minutes of a GP / children's centre)."""
    return gpd.GeoDataFrame({
        "service_type": ["gp_practice", "childrens_centre"], "threshold_minutes": [15.0, 15.0],
        "gap_pop_0_4": [120.5, 64.2], "gap_pop_0_19": [610.0, 300.0], "n_homes": [40, 22],
        "name": ["Gap <b>one</b>", "Gap two"]},
        geometry=[box(X0_M + 1500, Y0_M + 1500, X0_M + 1950, Y0_M + 1950),
                  box(X0_M + 60, Y0_M + 60, X0_M + 500, Y0_M + 400)], crs=CRS)


def make_localities(area: AreaData) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Localities = towns (one renamed with a template-literal attack) and their scorecard."""
    loc = area.towns[["town", "geometry"]].rename(columns={"town": "locality"}).copy()
    loc.loc[loc.index[0], "locality"] = "Northolt"
    loc.loc[loc.index[1], "locality"] = XSS_TEMPLATE
    card = pd.DataFrame({"locality": loc["locality"].to_list(), "pop_0_4": [1200.0, 1500.0],
                         "pct_0_4_within_15min_gp": [81.2, 64.0], "rank": [1, 2],
                         "note": ["ok", "<script>window.__xss=1</script>"]})
    return loc, card


# ----------------------------------------------------------------------------- hostile text
#: Payloads that must stay inert in every output (issue 12): template evaluation and syntax
#: errors, script/HTML injection, matplotlib mathtext, spreadsheet formulas.
RCE_CANARY = "CANARY"
HOSTILE_PAYLOADS: tuple[str, ...] = (
    "{{7*7}}",
    "{{ cycler.__init__.__globals__.os.system('touch CANARY') }}",
    "{% for x in range(3) %}",
    "{#",
    "{{",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "$\\alpha$",
    '=HYPERLINK("http://x","y")',
)
#: a map title carrying every payload
HOSTILE_TITLE = "Title " + " | ".join(HOSTILE_PAYLOADS)
#: text fields of the synthetic area that carry a payload, and how each is labelled
HOSTILE_FIELDS: tuple[str, ...] = ("service name", "service address", "service subtype", "service type",
                                   "unlocated service name", "ward name", "town name", "LSOA name",
                                   "PCN name", "locality name", "scorecard text", "gap text",
                                   "area title", "map title")


def hostile(i: int, prefix: str = "Hub") -> str:
    """``"<prefix> <payload i>"`` (payloads cycle), e.g. ``"Hub {{7*7}}"``."""
    return f"{prefix} {HOSTILE_PAYLOADS[i % len(HOSTILE_PAYLOADS)]}"


def make_hostile_area(seed: int = 7) -> AreaData:
    """:func:`make_area` with a payload in every text field that can reach a map or sheet.

    Service ``i`` is named ``hostile(i)`` (so every payload is a name, an address and a subtype
    of some service); one located service has a payload as its type code; wards, towns, LSOAs,
    PCNs and the pack title carry payloads too.
    """
    area = make_area(seed)
    n = len(HOSTILE_PAYLOADS)
    svc = area.services.copy()
    svc["name"] = [hostile(i) for i in range(len(svc))]
    svc["address"] = [hostile(i + 1, "1") for i in range(len(svc))]
    svc["subtype"] = [hostile(i + 2, "sub") for i in range(len(svc))]
    svc.loc[svc.index[len(svc) // 2], "service_type"] = HOSTILE_PAYLOADS[0]
    wards = area.wards.assign(ward_nm=[hostile(i, "Ward") for i in range(len(area.wards))])
    towns_map = {t: hostile(i + 3, "Town") for i, t in enumerate(area.towns["town"])}
    towns = area.towns.assign(town=area.towns["town"].map(towns_map))
    wards["town"] = area.wards["town"].map(towns_map)
    lsoa = area.lsoa.assign(lsoa21nm=[hostile(i, "LSOA") for i in range(len(area.lsoa))],
                            ward_nm=area.lsoa["ward_cd"].map(wards.set_index("ward_cd")["ward_nm"]),
                            town=area.lsoa["town"].map(towns_map))
    pcns = area.pcns.assign(pcn_name=[hostile(i + 5, "PCN") for i in range(len(area.pcns))])
    pack = SimpleNamespace(name="synthetic", title=hostile(n - 1, "Area"),
                           key_service_types=list(SERVICE_TYPES[:2]))
    return AreaData(pack=pack, settings=area.settings, wards=wards, lsoa=lsoa, towns=towns, pcns=pcns,
                    pcn_members=area.pcn_members, borough=area.borough, neighbour_wards=area.neighbour_wards,
                    services=svc, rejects=area.rejects, homes=area.homes, attribution=area.attribution)


def make_hostile_layers(area: AreaData) -> dict:
    """Access, gaps, localities and scorecard for :func:`make_hostile_area`, with payloads in text."""
    loc, card = make_localities(area)
    names = [hostile(7 + 2 * i, "Loc") for i in range(len(loc))]  # "Loc $\alpha$", "Loc {{7*7}}"
    loc = loc.assign(locality=names)
    card = card.assign(locality=names, note=[hostile(i + 4, "note") for i in range(len(card))],
                       size_vs_guide=[hostile(8, "size"), hostile(3, "size")])
    gaps = make_gaps(area).assign(name=[hostile(i + 6, "gap") for i in range(2)])
    return dict(access=make_access(area), gaps=gaps, localities=loc, scorecard=card)
