"""The ``locmap`` command line.  Every command calls the same library functions as the notebooks.

Sub-commands live in small modules (``cli_network``, ``cli_access``, ``cli_localities``,
``cli_maps``, ``cli_notebooks``), each with ``add_parser(subparsers)``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from locmap.errors import LocmapError
from locmap.settings import DATA_ROOT_ENV, Settings

SUBCOMMAND_MODULES = ("network", "access", "localities", "maps", "notebooks")

DESCRIPTION = """\
locmap maps the needs and assets of a place so that council and NHS planners can choose
where to start an integrated early-support (family hub) pathfinder: who lives beyond
pram-pushing distance of key services, and which candidate locality is the best prototype.

Data are read in place from the folder named by ${env} (default ../shared/data).
Distances are along streets when a street network is configured for the area, otherwise
"estimated street distance (calibrated)" (straight line x a circuity fitted to IoD2019).
""".replace("${env}", DATA_ROOT_ENV)

EPILOG = """\
examples:
  locmap check --area ealing                 summary of every layer, totals and rejects
  locmap run --area ealing --out out/        the whole job: tables, maps, scorecards
  locmap access --area ealing --profile pram --minutes 10 15 20
  locmap localities --area ealing --scheme towns
  locmap sites --locality Southall --p 2 --minutes 15
  locmap map --area ealing --layers need,services,gaps --out maps/ealing.html
  locmap notebooks --area ealing --out out/notebooks
"""


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every area command takes."""
    p.add_argument("--area", default="ealing", help="area pack name (data/areas/NAME.toml) or path (default: ealing)")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"folder with the shared datasets (default: ${DATA_ROOT_ENV} or ../shared/data)")
    p.add_argument("--services", type=Path, default=None,
                   help="your own services CSV to add/replace/remove services (docs/services.md)")
    p.add_argument("--network", type=Path, default=None,
                   help="OSM street network file (.osm.pbf/.osm/.graphml); default: the area pack's, else estimated")
    p.add_argument("--profile", choices=("pram", "walk"), default=None, help="street profile (default: pram)")
    p.add_argument("--speed-kmh", type=float, default=None, help="pram-pushing speed in km/h (default: 4.0)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def settings_from_args(args) -> Settings:
    minutes = getattr(args, "minutes", None)
    return Settings.from_env(
        data_root=getattr(args, "data_root", None),
        profile=getattr(args, "profile", None),
        walk_speed_kmh=getattr(args, "speed_kmh", None),
        thresholds_minutes=tuple(float(m) for m in minutes) if minutes else None,
        progress=False if getattr(args, "no_progress", False) else None,
        user_services=getattr(args, "services", None),
        network_file=getattr(args, "network", None),
    )


def area_from_args(args):
    from locmap.data.area import load_area  # noqa: PLC0415

    return load_area(args.area, settings_from_args(args))


# ---------------------------------------------------------------------------------- check
def summarise(area) -> dict:
    """A JSON-able summary of every layer: counts, CRS, totals, rejects."""
    from locmap.bands import BANDS  # noqa: PLC0415

    c = area.checks
    svc = area.services
    by_type = (svc.assign(where=svc["in_study_area"].map({True: "in_area", False: "neighbours"}))
               .groupby(["service_type", "where"]).size().unstack(fill_value=0))
    unloc = svc.loc[~svc["located"], ["service_type", "name"]]
    return {
        "area": area.pack.name, "title": area.pack.title, "crs": str(area.lsoa.crs),
        "layers": {
            "wards": len(area.wards), "towns": len(area.towns), "lsoa21": len(area.lsoa), "pcns": len(area.pcns),
            "neighbour_wards": len(area.neighbour_wards), "homes": len(area.homes), "services": len(svc),
        },
        "towns": area.towns[["town", "n_wards", "uncertain_wards"]].to_dict("records"),
        "towns_tile_borough": c["tiling"]["towns"],
        "population": {
            "lsoa21_total": round(float(area.lsoa["pop_total"].sum()), 3),
            "census_msoa_sum": c["population"]["census_msoa_total"],
            "census_borough_total": c["population"]["census_lad_total"],
            "perturbation_difference": (c["population"]["census_lad_total"] or 0) - c["population"]["census_msoa_total"],
            "bands": {b: round(float(area.lsoa[b].sum()), 3) for b in BANDS},
            "homes_total": round(float(area.homes["pop_total"].sum()), 3),
        },
        "homes": {k: v for k, v in c["homes"].items() if k != "lsoas_without_postcode"},
        "pcns": area.pcns[["pcn_code", "pcn_name", "n_practices", "n_lsoas"]].to_dict("records"),
        "pcn_footprint": "APPROXIMATE: nearest member practice per LSOA",
        "pcn_membership_differences": len(c["pcn_membership_differences"]),
        "services_by_type": {t: {k: int(v) for k, v in r.items()} for t, r in by_type.iterrows()},
        "unlocated_services": unloc.to_dict("records"),
        "rows": c["services_accounting"][["file", "read", "used", "rejected"]].to_dict("records"),
        "rejects_by_reason": area.rejects.groupby("reason").size().astype(int).to_dict(),
        "notes": area.notes,
        "load_seconds": round(c["load_seconds"], 2),
    }


def run_check(args) -> int:
    area = area_from_args(args)
    s = summarise(area)
    if args.json:
        print(json.dumps(s, indent=2, default=str))
    else:
        p = s["population"]
        print(f"{s['title']} ({s['area']}), CRS {s['crs']}, loaded in {s['load_seconds']} s")
        print("layers: " + ", ".join(f"{k} {v}" for k, v in s["layers"].items()))
        t = s["towns_tile_borough"]
        print(f"towns tile the borough: {t['parts_km2']:.3f} km² vs {t['whole_km2']:.3f} km² "
              f"(diff {t['area_diff_share']:.4%}, overlaps {t['overlap_m2']:.1f} m²)")
        for r in s["towns"]:
            unc = f"  [uncertain: {r['uncertain_wards']}]" if r["uncertain_wards"] else ""
            print(f"  {r['town']:<10} {r['n_wards']} wards{unc}")
        print(f"population: LSOA 2021 total {p['lsoa21_total']:,.0f}; Census 2021 MSOA sum {p['census_msoa_sum']:,.0f}; "
              f"borough figure {p['census_borough_total']:,.0f} (difference {p['perturbation_difference']:+.0f}: ONS cell-key perturbation)")
        print("  bands: " + ", ".join(f"{k} {v:,.0f}" for k, v in p["bands"].items()))
        h = s["homes"]
        print(f"homes: {h['n_homes']} residential postcodes (excluded {h['excluded_large_user']} large-user, "
              f"{h['excluded_stacked']} stacked); total {p['homes_total']:,.0f}")
        print(f"PCNs ({s['pcn_footprint']}):")
        for r in s["pcns"]:
            print(f"  {r['pcn_code']} {r['pcn_name']:<28} {r['n_practices']:>2} practices, {r['n_lsoas']:>3} LSOAs")
        print("services (in area / neighbours within buffer):")
        for t_, r in s["services_by_type"].items():
            print(f"  {t_:<18} {r.get('in_area', 0):>4} / {r.get('neighbours', 0)}")
        if s["unlocated_services"]:
            print("unlocated services (kept; supply a postcode with --services):")
            for r in s["unlocated_services"]:
                print(f"  {r['service_type']}: {r['name']}")
        print("input rows (used + rejected = read):")
        for r in s["rows"]:
            print(f"  {r['file']:<60} read {r['read']:>4} used {r['used']:>4} rejected {r['rejected']:>4}")
        print("rejects by reason: " + ", ".join(f"{k} {v}" for k, v in s["rejects_by_reason"].items()))
        for n in s["notes"]:
            print(f"note: {n}")
    if args.rejects:
        from locmap.export import write_csv  # noqa: PLC0415

        write_csv(area.rejects, args.rejects)
        print(f"rejects written to {args.rejects}")
    return 0


# ---------------------------------------------------------------------------------- run
def run_run(args) -> int:
    """The main job: data check, access, localities, maps, into one output folder."""
    from locmap.pipeline import run_pipeline  # noqa: PLC0415

    s = settings_from_args(args)
    out = run_pipeline(args.area, s, Path(args.out), maps=not args.no_maps)
    print(f"outputs written to {args.out}:")
    for p in out:
        print(f"  {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="locmap", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from locmap import __version__  # noqa: PLC0415

    parser.add_argument("--version", action="version", version=f"locmap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("check", help="load and validate an area pack; print every layer's counts, totals and rejects",
                       description="Load every layer of an area pack, run the checks (towns tile the borough, "
                                   "population conserved, every input row used or rejected) and print a summary. "
                                   "Exit code 2 on a fatal data error.")
    add_common(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--rejects", type=Path, default=None, help="also write the rejects table to this CSV")
    p.set_defaults(func=run_check)
    p = sub.add_parser("run", help="the whole job on an area: tables, scorecards and maps into --out",
                       description="Run the whole job for an area pack: data check, pram-distance access, "
                                   "coverage and gaps, locality scorecards, maps.")
    add_common(p)
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--minutes", nargs="+", type=float, default=None, help="thresholds in minutes (default 10 15 20)")
    p.add_argument("--no-maps", action="store_true", help="skip HTML/PNG maps")
    p.set_defaults(func=run_run)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"locmap.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except LocmapError as exc:
        print(f"locmap: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine, not the data: disk full, permission denied, ...
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"locmap: error: {where}{exc.strerror or exc}\n  What to do: check the path exists, "
              "is writable/readable by you and the disk has space, then run the command again.",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
