"""Reaching a running dask scheduler: a handshake with a hard deadline before any client is made.

``distributed.Client(address, timeout=...)`` does not bound every way an address can fail: a
port that answers with something else (an HTTP server, a scheduler's dashboard, a proxy) can
keep it retrying long past its timeout (726 s seen) or end in ``MemoryError: Unable to allocate
3.07 EiB`` (the first bytes of an HTTP reply read as a dask frame length).  :func:`scheduler_identity`
asks the address who it is (dask's ``identity`` message) over one connection, the whole exchange
under one ``asyncio`` deadline, and accepts only an answer that says ``Scheduler``.
"""
from __future__ import annotations

import asyncio
from typing import Any

from distributed import Client
from distributed.comm import connect as comm_connect
from distributed.security import Security

from locmap.errors import SchedulerUnreachableError

#: What a dask scheduler calls itself in its ``identity`` reply.
SCHEDULER_TYPE = "Scheduler"


async def _identity(address: str, timeout_s: float) -> Any:
    comm = await comm_connect(address, timeout=timeout_s, **Security().get_connection_args("client"))
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _refuse(address: str, why: str) -> SchedulerUnreachableError:
    return SchedulerUnreachableError(f"cannot reach the dask scheduler {address!r}: {why}")


def scheduler_identity(address: str, timeout_s: float = 10.0) -> dict:
    """The ``identity`` reply of the dask scheduler at ``address`` (``type``, ``id``, ``workers`` ...).

    The connection, dask's comm handshake and the reply all happen within ``timeout_s`` seconds.

    Raises
    ------
    SchedulerUnreachableError
        The address is malformed, nothing answers, what answers does not speak dask's protocol
        within the deadline (an HTTP server, a dashboard port), or it is a dask server that is
        not a scheduler (a worker).  One line, with what to do.
    """
    try:
        reply = asyncio.run(asyncio.wait_for(_identity(address, timeout_s), timeout_s))
    except ValueError as exc:  # unknown scheme, missing port
        raise _refuse(address, str(exc)) from None
    except (TimeoutError, asyncio.TimeoutError):
        raise _refuse(address, f"no dask scheduler answered within {timeout_s:g} s (something that is not "
                               "a dask scheduler, e.g. its dashboard or an HTTP server, or a host that does not "
                               "answer)") from None
    except (MemoryError, EOFError, UnicodeError, TypeError) as exc:  # bytes read as a dask frame length ...
        raise _refuse(address, "what answers there is not a dask scheduler (its reply is not dask's protocol: "
                               f"{type(exc).__name__})") from None
    except OSError as exc:  # refused (dask retries until the timeout), reset, unreachable network
        raise _refuse(address, " ".join(str(exc).split()) or type(exc).__name__) from None
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != SCHEDULER_TYPE:
        what = f"a dask {kind}" if isinstance(kind, str) else "something that is not dask"
        raise _refuse(address, f"it is {what}, not a dask scheduler")
    return reply


def connect(address: str, timeout_s: float = 10.0) -> Client:
    """A :class:`~distributed.Client` of the running scheduler at ``address``, once
    :func:`scheduler_identity` has confirmed a scheduler answers there.

    Raises
    ------
    SchedulerUnreachableError
        As :func:`scheduler_identity`, or the client itself cannot connect in ``timeout_s``.
    """
    scheduler_identity(address, timeout_s)
    try:
        return Client(address, timeout=timeout_s)
    except (OSError, ValueError) as exc:  # timeout / refused between the handshake and the client
        raise _refuse(address, " ".join(str(exc).split())) from None


__all__ = ["SCHEDULER_TYPE", "scheduler_identity", "connect"]
