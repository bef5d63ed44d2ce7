"""A slow member never holds up a broadcast (issue 15, acceptance 1).

Real websockets server and clients on loopback. One client stops reading (its
kernel buffers made small, so its server-side write buffer fills within a
second); twenty read everything. ``Hub.broadcast`` must return at once every
time: the stalled member's messages take its own bounded path, where the
table's slow-reader row closes it with 1008 after ``write_timeout``, on its own
timer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from support.harness import Harness, eventually
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import wsstate
from wsstate import BroadcastResult, ClosedBy, GuardedConnection, Hub, State

FAST = 20
WRITE_TIMEOUT = 5.0
PERIOD = 0.02
DURATION = WRITE_TIMEOUT + 1.5
SIZE = 16 * 1024


async def _read_all(client: ClientConnection) -> list[int]:
    seqs: list[int] = []
    try:
        async for message in client:
            assert isinstance(message, bytes)
            seqs.append(int.from_bytes(message[:4], "big"))
    except ConnectionClosed:
        pass
    return seqs


async def test_a_stalled_member_never_holds_up_a_broadcast(h: Harness) -> None:
    h.wsstate_warnings = 1  # the slow reader's 1008, once
    h.wsstate_info = True  # its close timer may end it (the table's INFO row)
    hub = Hub()
    conns: dict[str, GuardedConnection] = {}
    joined = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/stalled":
            ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
        conn = wsstate.guard(ws, write_timeout=WRITE_TIMEOUT, close_timeout=1.0, ping_interval=None)
        h.track(conn)
        conns[ws.request.path] = conn
        hub.add(conn)
        if len(conns) == FAST + 1:
            joined.set()
        await conn.wait_closed()

    server = await h.serve(handler, compression=None)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    fast = [
        await connect(f"{url}/fast{i}", compression=None, max_size=None, ping_interval=None)
        for i in range(FAST)
    ]
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled = await connect(f"{url}/stalled", sock=raw, compression=None, ping_interval=None)
    stalled.transport.pause_reading()
    await asyncio.wait_for(joined.wait(), 5.0)
    readers = [asyncio.create_task(_read_all(c)) for c in fast]

    durations: list[float] = []
    results: list[BroadcastResult] = []
    slow = conns["/stalled"]
    first_queued: float | None = None
    seq = 0
    start = time.monotonic()
    while time.monotonic() - start < DURATION:
        message = seq.to_bytes(4, "big") + bytes(SIZE)
        t0 = time.perf_counter()
        result = await hub.broadcast(message)
        durations.append(time.perf_counter() - t0)
        results.append(result)
        if first_queued is None and result.queued:
            first_queued = time.monotonic()
        seq += 1
        await asyncio.sleep(PERIOD)

    # The slow reader's bounded path: closed with 1008 after the write timeout.
    await eventually(lambda: slow.state is State.CLOSED, within=3.0)
    assert first_queued is not None, "the stalled member's buffer never filled"
    assert slow.closed_by is ClosedBy.TIMEOUT
    assert slow.close_code == 1008
    warnings = h.records(logging.WARNING)
    assert len(warnings) == 1
    assert "transport_stalled" in warnings[0].getMessage()
    assert warnings[0].created - first_queued >= WRITE_TIMEOUT - 0.1

    # No broadcast waited on anyone.
    assert max(durations) < 0.05, f"slowest broadcast {max(durations) * 1000:.1f} ms"
    for result in results:
        assert result.sent + result.queued + result.dropped in (FAST, FAST + 1)

    # Every fast member got every message, in order, nothing interleaved.
    assert await hub.close() == FAST
    got = await asyncio.wait_for(asyncio.gather(*readers), 10.0)
    for seqs in got:
        assert seqs == list(range(seq))
    for conn in conns.values():
        if conn is not slow:
            assert conn.stats.sent == seq
            assert conn.stats.dropped == 0
    stalled.transport.abort()
    await asyncio.gather(*(c.close() for c in fast))
    await stalled.close()
