"""A slow reader (row 17): a bounded buffer, the producer waits at most the write timeout,
then the connection is closed 1008 with one WARNING.

Over ASGI the buffer is the server's (uvicorn's transport): its send waits for the
peer to read, bounded by wsstate's write timeout all the same. uvicorn's legacy
implementation cannot have two writes waiting at once (websockets' legacy
protocol asserts a single drain waiter): the adapter never lets its Close overlap
a send in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket

import pytest
from support.harness import (
    CLOSE_TIMEOUT,
    SLACK,
    WRITE_TIMEOUT,
    Harness,
    assert_peer_gone,
)
from support.transports import Transport, open_pair, write_transport
from websockets.exceptions import ConnectionClosed

from wsstate import ClosedBy, Hub


@pytest.mark.scenario(17)
async def test_17_slow_reader_closed_with_1008(h: Harness, transport: Transport) -> None:
    h.wsstate_warnings = 1  # transport_stalled in OPEN
    h.wsstate_info = True  # close_timeout in CLOSING: the 1008 cannot even be written
    # No keepalive: its pings would be stuck behind the data and time out first.
    pair = await open_pair(h, transport, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    buffer = write_transport(pair)
    limit = buffer.get_write_buffer_limits()[1]
    chunk = random.Random(17).randbytes(64 * 1024)  # incompressible
    pair.link.slow_reader(True, pair.out)  # nobody reads what the guarded endpoint sends
    loop = asyncio.get_running_loop()
    durations, largest = [], 0
    async with asyncio.timeout(5.0):
        while True:
            before = loop.time()
            ok = await conn.try_send(chunk)
            durations.append(loop.time() - before)
            largest = max(largest, buffer.get_write_buffer_size())
            if not ok:
                break
    stalled_at = loop.time() - durations[-1]  # when the stalled send started
    await asyncio.wait_for(conn.wait_closed(), CLOSE_TIMEOUT + 1)
    # The producer waited at most write_timeout; CLOSED within write + close timeout.
    assert max(durations) <= WRITE_TIMEOUT + SLACK
    assert durations[-1] >= WRITE_TIMEOUT - 0.05
    assert loop.time() - stalled_at <= WRITE_TIMEOUT + CLOSE_TIMEOUT + SLACK
    # Bounded: the write buffer never held more than its limit plus one message.
    assert largest <= limit + len(chunk) + 14
    assert pair.link.buffered <= pair.link.proxy.buffer_limit + pair.link.proxy.read_size
    assert_peer_gone(pair, closed_by=ClosedBy.TIMEOUT, clean=False, code=1008, reason="slow reader")
    assert len(h.records(logging.WARNING)) == 1
    assert await conn.try_send(chunk) is False  # at once
    assert conn.stats.dropped == 2
    pair.link.slow_reader(False)


@pytest.mark.scenario(17)
async def test_17_slow_reader_with_concurrent_producers(h: Harness, transport: Transport) -> None:
    # Several tasks send while the reader is slow (a broadcast tick and an echo
    # handler, say): the stall closes the connection once, nothing else is logged
    # above WARNING, every producer returns within the write timeout.
    h.wsstate_warnings = 1
    h.wsstate_info = True
    pair = await open_pair(h, transport, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    chunk = random.Random(171).randbytes(64 * 1024)
    pair.link.slow_reader(True, pair.out)
    loop = asyncio.get_running_loop()
    longest = 0.0

    async def produce() -> None:
        nonlocal longest
        while True:
            before = loop.time()
            ok = await conn.try_send(chunk)
            longest = max(longest, loop.time() - before)
            if not ok:
                return

    async with asyncio.timeout(5.0):
        await asyncio.gather(*(produce() for _ in range(4)))
    await asyncio.wait_for(conn.wait_closed(), CLOSE_TIMEOUT + 1)
    assert longest <= WRITE_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert_peer_gone(pair, closed_by=ClosedBy.TIMEOUT, clean=False, code=1008, reason="slow reader")
    pair.link.slow_reader(False)


@pytest.mark.scenario(17)
async def test_17_close_while_a_send_waits_for_a_slow_reader(
    h: Harness, transport: Transport
) -> None:
    # The application closes (a shutdown, a handler's finally) while a send waits for
    # a reader that stopped reading: the Close and the waiting send must not both
    # wait on the stack's buffer at once (uvicorn's legacy implementation asserts a
    # single drain waiter: an ERROR with its AssertionError), the send gives up
    # within the write timeout, close() returns within write and close timeouts.
    h.wsstate_warnings = 1  # transport_stalled, where the send's timeout comes first
    h.wsstate_info = True  # close_timeout in CLOSING: the Close cannot be written
    pair = await open_pair(h, transport, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    chunk = random.Random(172).randbytes(64 * 1024)
    pair.link.slow_reader(True, pair.out)
    sends: list[asyncio.Task[bool]] = []
    async with asyncio.timeout(3.0):
        while not sends or sends[-1].done():  # until one send waits: in flight
            sends.append(asyncio.create_task(conn.try_send(chunk)))
            await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(conn.close(), WRITE_TIMEOUT + CLOSE_TIMEOUT + 1)
    assert loop.time() - start <= WRITE_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert (await asyncio.wait_for(sends[-1], 1.0)) is False
    assert conn.closed_by in (ClosedBy.LOCAL, ClosedBy.TIMEOUT)
    assert conn.clean is False
    pair.link.slow_reader(False)


@pytest.mark.scenario(17)
async def test_17_a_hub_closing_a_member_with_broadcasts_queued_sends_its_close(
    h: Harness, transport: Transport
) -> None:
    # A hub member behind a slow reader with two broadcasts or more queued; the hub
    # closes (a shutdown) and the reader comes back after the write timeout, within
    # the close timeout. The backlog is dropped and the Close goes out. On aiohttp
    # the dropped writes, closed before they started, stayed counted in flight:
    # the Close waited for them for good, the peer saw 1006 at the close timeout,
    # and the adapter's task waiting for them never ended.
    h.wsstate_warnings = 1  # the stalled write: transport_stalled in CLOSING, or none
    h.wsstate_info = True  # the close timer may end it where the stack holds the Close
    pair = await open_pair(h, transport, ping_interval=None, close_timeout=3.0)
    conn = pair.conn
    assert pair.link is not None
    if transport.exposes_write_buffer:
        sock = write_transport(pair).get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    hub = Hub()
    hub.add(conn)
    pair.link.slow_reader(True, pair.out)
    big = random.Random(1717).randbytes(256 * 1024)
    queued = 0
    async with asyncio.timeout(5.0):
        while queued < 2:
            queued += (await hub.broadcast(big)).queued
            await asyncio.sleep(0.005)
    closing = asyncio.create_task(hub.close(1001, "server shutdown"))
    await asyncio.sleep(WRITE_TIMEOUT + 0.5)  # after the write timeout, within close's
    pair.link.slow_reader(False, pair.out)
    await asyncio.wait_for(closing, 5.0)
    await asyncio.wait_for(conn.wait_closed(), 5.0)
    async with asyncio.timeout(5.0):
        with contextlib.suppress(ConnectionClosed):
            async for _ in pair.peer:
                pass
    assert pair.peer.close_code == 1001, (pair.peer.close_code, conn.closed_by, conn.clean)
    assert (conn.closed_by, conn.clean) == (ClosedBy.LOCAL, transport.local_close_clean)
    assert not [t for t in getattr(conn.transport, "_tasks", ()) if not t.done()]
