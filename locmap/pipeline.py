"""The main job (``locmap run`` / ``make demo``): every step of the CLI, in order, into one folder.

Each step is the same command a user can run on its own, so there is one code path per
output.  Steps: check (+ rejects) -> access (distances, coverage, gaps, 2SFCA) -> localities
(towns, PCNs, generated schemes; scorecards, alignment, sensitivity) -> hub sites for the
leading localities -> maps (HTML, offline HTML, print sheets).
"""
from __future__ import annotations

import time
from pathlib import Path

from locmap.settings import Settings


def _common_argv(area: str, settings: Settings) -> list[str]:
    argv = ["--area", str(area)]
    if settings.data_root is not None:
        argv += ["--data-root", str(settings.data_root)]
    if settings.user_services:
        argv += ["--services", str(settings.user_services)]
    if settings.network_file:
        argv += ["--network", str(settings.network_file)]
    argv += ["--profile", settings.profile, "--speed-kmh", str(settings.walk_speed_kmh)]
    if not settings.progress:
        argv += ["--no-progress"]
    return argv


def leading_locality(localities_dir: Path, scheme: str = "towns") -> str | None:
    """The locality most often ranked first in a scheme's sensitivity table (``sensitivity_<scheme>.csv``)."""
    import pandas as pd  # noqa: PLC0415

    f = Path(localities_dir) / f"sensitivity_{scheme}.csv"
    if not f.is_file():
        return None
    t = pd.read_csv(f)
    return str(t.sort_values(["p_first", "locality"], ascending=[False, True])["locality"].iloc[0])


def pipeline_steps(area: str, settings: Settings, out: Path, maps: bool = True,
                   locality: str | None = None) -> list[tuple[str, list[str]]]:
    """The (name, argv) of every step of the main job.

    ``locality`` (default: the town most often ranked first, known after the localities step)
    gets the hub-site suggestion and the print sheet.
    """
    c = _common_argv(area, settings)
    minutes = [str(m) for m in settings.thresholds_minutes]
    steps = [
        ("check", ["check", *c, "--rejects", str(out / "rejects.csv")]),
        ("access", ["access", *c, "--minutes", *minutes, "--out", str(out / "access")]),
        ("localities", ["localities", *c, "--scheme", "towns,pcns,auto", "--k", "3..7", "--minutes", *minutes,
                        "--out", str(out / "localities")]),
    ]
    if locality:
        steps.append(("sites", ["sites", *c, "--locality", locality, "--p", "2", "--minutes", "15",
                                "--existing", "childrens_centre", "--out", str(out / "sites")]))
    if maps:
        steps += [
            ("map", ["map", *c, "--out", str(out / "maps" / f"{area}.html")]),
            ("map-offline", ["map", *c, "--offline", "--out", str(out / "maps" / f"{area}_offline.html")]),
        ]
        if locality:
            steps.append(("sheet", ["sheet", *c, "--locality", locality, "--out", str(out / "sheets")]))
    return steps


def run_pipeline(area: str, settings: Settings, out: Path, maps: bool = True) -> list[Path]:
    """Run every step; raise on the first failing step.  Returns the files written under ``out``."""
    from locmap.cli import build_parser  # noqa: PLC0415
    from locmap.errors import LocmapError  # noqa: PLC0415

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parser = build_parser()
    timings = []
    done: set[str] = set()

    def run(name, argv):
        t0 = time.perf_counter()
        print(f"== locmap {' '.join(argv)}", flush=True)
        args = parser.parse_args(argv)
        rc = int(args.func(args) or 0)
        timings.append((name, time.perf_counter() - t0))
        if rc != 0:
            raise LocmapError(f"step '{name}' failed with exit code {rc}")
        done.add(name)

    for name, argv in pipeline_steps(area, settings, out, maps):
        if name in ("map", "map-offline"):
            continue  # after sites, below
        run(name, argv)
    lead = leading_locality(out / "localities")
    if lead:
        print(f"== leading town (most often ranked first): {lead}", flush=True)
    for name, argv in pipeline_steps(area, settings, out, maps, locality=lead):
        if name not in done:
            run(name, argv)
    lines = ["step,seconds"] + [f"{n},{s:.2f}" for n, s in timings]
    from locmap.export import write_text  # noqa: PLC0415

    write_text(out / "timings.csv", "\n".join(lines) + "\n")
    return sorted(p for p in out.rglob("*") if p.is_file())
