"""The connection's shortcuts decide exactly as the table's rows they stand for.

With the ``wsstate`` logger below DEBUG, a connection guarded open performs its
initial effects and the ``handshake_ok`` row composed at import
(``connection._opening``), and rows that change nothing but the log (a message
in OPEN, a loss once CLOSED) are not fed. With DEBUG on, every row is fed as
written. Both ways must leave the same connection behind: real websockets
servers and clients on loopback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from support.harness import eventually, port_of
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

import wsstate
from wsstate import ClosedBy, GuardedConnection, State, _lifetime
from wsstate._timers import Timer
from wsstate.connection import _FED_LOST

LOGGER = logging.getLogger("wsstate")


@pytest.fixture(params=["rows fed", "shortcuts"])
def level(request: pytest.FixtureRequest) -> Iterator[str]:
    before = LOGGER.level
    LOGGER.setLevel(logging.DEBUG if request.param == "rows fed" else logging.WARNING)
    try:
        yield request.param
    finally:
        LOGGER.setLevel(before)


def snapshot(conn: GuardedConnection) -> dict[str, Any]:
    """What the table's rows decided, as the connection holds it."""
    return {
        "state": conn.state,
        "closed_by": conn.closed_by,
        "code": conn.close_code,
        "reason": conn.close_reason,
        "clean": conn.clean,
        "timers": sorted(e.value for e in conn._timers or {}),
        "keepalive": type(conn._keepalive).__name__,
        "deferred": conn._deferred,
        "listed": conn in _lifetime.live(conn._loop),
        "loss fed": bool(conn._flags & _FED_LOST),
    }


async def test_the_same_connection_either_way(level: str) -> None:
    got: list[bytes | str] = []
    stop = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            got.append(message)
            if message == "bye":
                await ws.close(4000, "server done")
        await stop.wait()

    async with serve(handler, "127.0.0.1", 0) as server:
        try:
            await _close_by_the_server(port_of(server), got, level)
        finally:
            stop.set()  # the server's handler ends, whatever failed


async def _close_by_the_server(port: int, got: list[bytes | str], level: str) -> None:
    conn = wsstate.guard(await connect(f"ws://127.0.0.1:{port}"))
    opened = snapshot(conn)
    assert opened == {
        "state": State.OPEN,
        "closed_by": None,
        "code": None,
        "reason": None,
        "clean": False,
        "timers": [],  # the open timer: cancelled by handshake_ok, never armed
        "keepalive": Timer.__name__,  # handshake_ok's arm_keepalive
        "deferred": None,
        "listed": True,
        "loss fed": False,
    }, level
    await conn.send("hello")
    await conn.send("bye")  # the server closes: peer_close, then the loss in CLOSED
    with pytest.raises(wsstate.ConnectionClosed):
        await conn.recv()
    await conn.wait_closed()
    await eventually(lambda: bool(conn._flags & _FED_LOST))
    assert snapshot(conn) == {
        "state": State.CLOSED,
        "closed_by": ClosedBy.REMOTE,
        "code": 4000,
        "reason": "server done",
        "clean": True,
        "timers": [],
        "keepalive": type(None).__name__,
        "deferred": None,
        "listed": False,
        "loss fed": True,
    }, level
    assert got == ["hello", "bye"]


async def test_messages_received_in_open_either_way(level: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(5):
            await ws.send(f"m{i}")
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        conn = wsstate.guard(await connect(f"ws://127.0.0.1:{port_of(server)}"))
        assert [await conn.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
        assert conn.state is State.OPEN
        assert conn.stats.received == 5
        assert await conn.close() is True
        assert (conn.state, conn.closed_by, conn.close_code, conn.clean) == (
            State.CLOSED,
            ClosedBy.LOCAL,
            1000,
            True,
        )


async def test_a_loss_while_open_is_fed_either_way(level: str) -> None:
    # Only a loss once CLOSED changes nothing; in OPEN it is the table's abnormal
    # closure, logged or not.
    async def handler(ws: ServerConnection) -> None:
        ws.transport.abort()  # RST, no Close frame
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        conn = wsstate.guard(await connect(f"ws://127.0.0.1:{port_of(server)}"))
        async with asyncio.timeout(5):
            await conn.wait_closed()
        assert (conn.state, conn.closed_by, conn.close_code, conn.clean) == (
            State.CLOSED,
            ClosedBy.TRANSPORT,
            1006,
            False,
        ), level
        assert conn._flags & _FED_LOST
