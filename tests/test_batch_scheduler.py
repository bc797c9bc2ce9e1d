"""``locmap batch --scheduler``: anything that is not a dask scheduler is refused in one line within
``--connect-timeout``; nothing here sends traffic beyond 127.0.0.1.

Before the handshake, a plain HTTP server on 127.0.0.1 kept ``distributed.Client(addr, timeout=1)``
retrying with no end (726 s until interrupted in the field), and the README's example address gave
``Unable to allocate 3.07 EiB`` and a traceback.
"""
from __future__ import annotations

import http.server
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest
from distributed import LocalCluster

from locmap.batch.cluster import connect, scheduler_identity
from locmap.cli import main
from locmap.errors import SchedulerUnreachableError

#: A hang detector, not a timing figure: a refusal within the connect timeout returns long
#: before this; the old client never returned at all.
HANG_S = 60.0
#: The connect timeout of the refusals that wait for it to run out (an HTTP server, a silent port, a
#: dashboard port, a closed port: dask retries until then): what is checked is that it is honoured,
#: not how long it is
TIMEOUT_S = 0.3


def within_deadline(call: Callable[[], object]) -> BaseException | object:
    """Run ``call`` in a thread; its result or exception, or fail when it has not returned in HANG_S."""
    box: list = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), f"still waiting after {HANG_S:g} s: the connect timeout was not honoured"
    return box[0]


@pytest.fixture
def http_server() -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 (answers every request, here dask's handshake, with 400)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()  # shutdown waits one poll
    yield f"tcp://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class _TalksFirst(socketserver.BaseRequestHandler):
    """Sends an HTTP reply the moment a client connects (a proxy or a banner), then closes."""

    def handle(self) -> None:
        self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def talks_first() -> Iterator[str]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TalksFirst)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()  # shutdown waits one poll
    yield f"tcp://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A port that accepts connections and never says anything."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()


@pytest.fixture
def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """An in-process LocalCluster: its scheduler, its dashboard and its worker on 127.0.0.1."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=":0", silence_logs=logging.CRITICAL) as c:
        yield c


def refusal(address: str, timeout_s: float = 1.0) -> str:
    exc = within_deadline(lambda: connect(address, timeout_s=timeout_s))
    assert isinstance(exc, SchedulerUnreachableError), f"{address}: {exc!r}"
    text = str(exc)
    assert text.startswith(f"cannot reach the dask scheduler {address!r}: ")
    assert "\n" not in text.split("What to do")[0].strip() and "EiB" not in text
    return text


def test_a_plain_http_server_is_refused_within_the_timeout(http_server):
    assert f"no dask scheduler answered within {TIMEOUT_S:g} s" in refusal(http_server, TIMEOUT_S)


def test_a_server_that_answers_first_with_http_is_refused_without_a_huge_allocation(talks_first):
    assert "not a dask scheduler" in refusal(talks_first)


def test_a_silent_port_and_a_closed_port_are_refused_within_the_timeout(silent_port, closed_port):
    assert f"no dask scheduler answered within {TIMEOUT_S:g} s" in refusal(silent_port, TIMEOUT_S)
    assert "cannot reach the dask scheduler" in refusal(closed_port, TIMEOUT_S)  # dask retries until the timeout


def test_the_dashboard_port_of_a_cluster_is_refused(cluster):
    dashboard = f"tcp://127.0.0.1:{cluster.scheduler.http_server.port}"
    text = refusal(dashboard, TIMEOUT_S)
    assert "no dask scheduler answered" in text or "not a dask scheduler" in text


def test_a_worker_address_is_refused_as_not_a_scheduler(cluster):
    worker = next(iter(cluster.scheduler.workers))
    assert "it is a dask Worker, not a dask scheduler" in refusal(worker)


def test_the_scheduler_itself_is_accepted(cluster):
    assert scheduler_identity(cluster.scheduler_address, 5.0)["type"] == "Scheduler"
    client = within_deadline(lambda: connect(cluster.scheduler_address, 5.0))
    with client:
        assert len(client.scheduler_info()["workers"]) == 1


def test_malformed_addresses_are_refused_at_once():
    assert "missing port number" in refusal("nonsense")
    assert "missing port number" in refusal("tcp://127.0.0.1")


@pytest.mark.realdata
def test_command_line_gives_one_error_line_and_exit_2_for_an_http_server(http_server, tmp_path, capsys):
    code = within_deadline(lambda: main(["batch", "--region", "london", "--out", str(tmp_path / "london"),
                                         "--boroughs", "city-of-london", "--scheduler", http_server,
                                         "--connect-timeout", f"{TIMEOUT_S:g}", "--no-progress"]))
    err = capsys.readouterr().err
    assert code == 2 and err.count("locmap: error:") == 1 and "Traceback" not in err
    assert f"cannot reach the dask scheduler '{http_server}'" in err
