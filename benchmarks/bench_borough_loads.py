"""CPU of loading every generated London borough pack in one process, as a batch worker (and
tests/test_region.py) does: London first (its files parsed and memoised), then the 33 packs.

    PYTHONPATH=$PWD python benchmarks/bench_borough_loads.py          # this checkout
    cd /work/main && PYTHONPATH=$PWD python /path/to/bench_borough_loads.py   # another, to compare

Prints process CPU seconds (user + sys) for the London area, the first borough and the other 32.
"""
from __future__ import annotations

import time

from locmap.data.area import load_area
from locmap.data.region import load_region
from locmap.settings import Settings


def main() -> None:
    settings = Settings.from_env(progress=False)
    region = load_region("london", settings)
    t = time.process_time()
    load_area("london", settings)
    print(f"london: {time.process_time() - t:.2f} s CPU")
    slugs = list(region.boroughs["slug"])
    t = time.process_time()
    load_area(region.borough(slugs[0])["area"], settings, use_cache=False)
    print(f"first borough ({slugs[0]}): {time.process_time() - t:.2f} s CPU")
    t = time.process_time()
    for slug in slugs[1:]:
        load_area(region.borough(slug)["area"], settings, use_cache=False)
    print(f"other {len(slugs) - 1} boroughs: {time.process_time() - t:.2f} s CPU")


if __name__ == "__main__":
    main()
