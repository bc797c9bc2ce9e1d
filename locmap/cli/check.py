"""``locmap check``: load and validate an area pack; print every layer's counts, totals and rejects."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from locmap._text import terminal_safe
from locmap.cli._options import add_common, load_area


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check", help="load and validate an area pack; print every layer's counts, totals and rejects",
        description="Load every layer of an area pack, run the checks (towns tile the borough, population "
                    "conserved, every input row used or rejected) and print a summary. Exit code 2 on a "
                    "data error.")
    add_common(p, minutes=False)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--rejects", type=Path, default=None,
                   help="also write the rejected input rows (file, row, reason) to this CSV")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    area = load_area(args)
    from locmap import api, export  # after the checks of load_area: bad input fails before the library is imported

    s = api.check_summary(area)
    print(json.dumps(s, indent=2, default=str) if args.json else "\n".join(map(terminal_safe, summary_lines(s))))
    if args.rejects:
        export.write_csv(area.rejects, args.rejects)
        print(terminal_safe(f"rejects written to {args.rejects}"))
    return 0


def summary_lines(s: dict) -> list[str]:
    """The human-readable ``locmap check`` report of :func:`locmap.api.check_summary`."""
    p, t, h = s["population"], s["towns_tile_borough"], s["homes"]
    lines = [f"{s['title']} ({s['area']}), CRS {s['crs']}, loaded in {s['load_seconds']} s",
             "layers: " + ", ".join(f"{k} {v}" for k, v in s["layers"].items()),
             f"towns tile the borough: {t['parts_km2']:.3f} km² vs {t['whole_km2']:.3f} km² "
             f"(diff {t['area_diff_share']:.4%}, overlaps {t['overlap_m2']:.1f} m²)"]
    for r in s["towns"]:
        unc = f"  [uncertain: {r['uncertain_wards']}]" if r["uncertain_wards"] else ""
        lines.append(f"  {r['town']:<10} {r['n_wards']} wards{unc}")
    lines += [f"population: LSOA 2021 total {p['lsoa21_total']:,.0f}; Census 2021 MSOA sum "
              f"{p['census_msoa_sum']:,.0f}; borough figure {p['census_borough_total']:,.0f} (difference "
              f"{p['perturbation_difference']:+.0f}: ONS cell-key perturbation)",
              "  bands: " + ", ".join(f"{k} {v:,.0f}" for k, v in p["bands"].items()),
              f"homes: {h['n_homes']} residential postcodes (excluded {h['excluded_large_user']} large-user, "
              f"{h['excluded_stacked']} stacked); total {p['homes_total']:,.0f}",
              f"PCNs ({s['pcn_footprint']}):"]
    lines += [f"  {r['pcn_code']} {r['pcn_name']:<28} {r['n_practices']:>2} practices, {r['n_lsoas']:>3} LSOAs"
              for r in s["pcns"]]
    lines.append("services (in area / neighbours within buffer):")
    lines += [f"  {t_:<18} {r.get('in_area', 0):>4} / {r.get('neighbours', 0)}"
              for t_, r in s["services_by_type"].items()]
    if s["unlocated_services"]:
        lines.append("unlocated services (kept; supply a postcode with --services):")
        lines += [f"  {r['service_type']}: {r['name']}" for r in s["unlocated_services"]]
    lines.append("input rows (used + rejected = read):")
    lines += [f"  {r['file']:<60} read {r['read']:>4} used {r['used']:>4} rejected {r['rejected']:>4}"
              for r in s["rows"]]
    lines.append("rejects by reason: " + ", ".join(f"{k} {v}" for k, v in s["rejects_by_reason"].items()))
    lines += [f"note: {n}" for n in s["notes"]]
    return lines
