"""``locmap calibrate``: refit the shipped distance model from the data (docs/distance-model.md)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from locmap.errors import UnknownAreaError
from locmap.settings import Settings


#: locmap.distance.model.MODEL_FILE.name, as a literal so that the parser imports nothing heavy
#: (tests/test_imports.py checks it is the library's)
SHIPPED_MODEL_NAME = "london-v1.json"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "calibrate", help="refit the London distance model (estimated street distance) from the data",
        description="Fit road = intercept + circuity x straight line on the IoD2019 road distances of every "
                    "London LSOA 2011 (GP practices and primary schools), with its spatially blocked "
                    f"cross-validated error, and write the model file. The file shipped in the package "
                    f"({SHIPPED_MODEL_NAME}) is this command's output.")
    p.add_argument("--region", required=True, help="region to fit (only 'london')")
    p.add_argument("--data-root", type=Path, default=None, help="data folder (default: LOCMAP_DATA_ROOT "
                   "or ../shared/data)")
    p.add_argument("--out", type=Path, default=None,
                   help="write the model here (default: print it); compare with the shipped file")
    p.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from locmap import export  # at call time: the parser imports nothing heavy (docs/decisions.md)
    from locmap.distance.model import MODEL_FILE, fit_london, model_json

    if args.region != "london":
        raise UnknownAreaError(f"--region {args.region!r}: the distance model can be fitted for 'london' only")
    settings = Settings.from_env(progress=False, **({"data_root": args.data_root} if args.data_root else {}))
    text = model_json(fit_london(settings.resolve_data_root()))
    if args.out is None:
        print(text, end="")
        return 0
    export.write_text(args.out, text)
    same = MODEL_FILE.exists() and MODEL_FILE.read_text(encoding="utf-8") == text
    print(f"wrote {args.out} ({'identical to' if same else 'DIFFERS from'} the shipped {MODEL_FILE.name})")
    return 0
