"""The peer's TCP connection lost without a Close: rows 2, 3, 4, 5 and 13.

Where stacks differ: the close code a reset shows below wsstate (1006 for
websockets and uvicorn's legacy implementation, 1005 for websockets-sansio and
wsproto; wsstate reports 1006 for all), and over ASGI a send into a connection
the peer has just reset may be taken by the server before it notices (the bytes
are lost, as over any TCP); the next send is then refused.
"""

from __future__ import annotations

import asyncio
import gc
import random

import pytest
from support.harness import Harness, assert_peer_gone, assert_sends_absorbed, eventually
from support.transports import Transport, native_close, open_pair, pause_reading

import wsstate
from wsstate import ClosedBy, State

# -- 2. peer resets TCP, no Close frame ------------------------------------------------


@pytest.mark.scenario(2)
async def test_02_peer_resets(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    assert pair.link is not None
    await pair.link.reset()
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    # Not clean, 1006, whatever the stack reported (its code differs per stack).
    assert native_close(pair)[0] == transport.lost_code
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)


# -- 3, 4, 5. send right after an abrupt disconnect, again, then close() ---------------


@pytest.mark.scenario(3, 4, 5)
@pytest.mark.parametrize("first", ["send", "try_send"])
async def test_03_04_05_send_after_reset_before_reader_noticed(
    h: Harness, transport: Transport, first: str
) -> None:
    pair = await open_pair(h, transport, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    await pause_reading(pair)
    await pair.link.reset()
    assert conn.state is State.OPEN  # nobody noticed yet
    # 3: sends hit the dead socket and are absorbed (where the stack may take the
    # first one before it notices, its bytes are lost, and the next is refused).
    outcomes = []
    closures = set()
    for i in range(3):
        if first == "send":
            try:
                await conn.send(f"right after the reset {i}")
            except wsstate.ConnectionClosed as exc:
                outcomes.append(False)
                closures.add((exc.state, exc.clean, exc.code))
            else:
                outcomes.append(True)
        else:
            outcomes.append(await conn.try_send(f"right after the reset {i}"))
        if outcomes.count(False) == 1 and not outcomes[-1]:  # the first refusal
            assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    allowed = [[False] * 3] + ([[True, False, False]] if transport.accepts_send_after_reset else [])
    assert outcomes in allowed, outcomes
    if first == "send":
        assert closures == {("CLOSED", False, 1006)}
    assert conn.stats.sent == outcomes.count(True)
    # 4: every further send, the same outcome.
    await assert_sends_absorbed(pair, times=5)
    # 5: close() in the error handler is a no-op.
    try:
        await conn.send("once more")
    except wsstate.ConnectionClosed:
        assert await conn.close() is False
        assert await conn.close(4000, "again") is False
    else:
        pytest.fail("send did not raise")
    assert conn.close_code == 1006
    assert conn.stats.sent == outcomes.count(True)
    assert conn.stats.dropped == outcomes.count(False) + 5 * 2 + 1


@pytest.mark.scenario(3)
async def test_03_send_in_flight_when_the_peer_resets(h: Harness, transport: Transport) -> None:
    # The other timing of row 3: the send already waits for the peer to read (its
    # buffers are full) when the reset comes; the transport fails under it.
    pair = await open_pair(h, transport, ping_interval=None, write_timeout=None)
    conn = pair.conn
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)
    chunk = random.Random(3).randbytes(256 * 1024)  # incompressible
    sends: list[asyncio.Task[None]] = []
    async with asyncio.timeout(3.0):
        while not sends or sends[-1].done():  # until one send waits: in flight
            sends.append(asyncio.create_task(conn.send(chunk)))
            await asyncio.sleep(0.02)
    await pair.link.reset()
    results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 1.0)
    failures = [r for r in results if r is not None]
    assert failures
    for failure in failures:  # never the transport's own exception
        assert type(failure) is wsstate.ConnectionClosed, repr(failure)
        assert (failure.code, failure.clean, failure.state) == (1006, False, "CLOSED")
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)
    pair.link.slow_reader(False)


# -- 13. fire-and-forget sends that fail ------------------------------------------------


@pytest.mark.scenario(13)
async def test_13_fire_and_forget_failures_are_retrieved_and_counted(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    await pause_reading(pair)
    await pair.link.reset()  # nobody noticed yet: the first send finds out
    n = 10
    for i in range(n):
        asyncio.create_task(conn.try_send(f"task {i}"))  # noqa: RUF006 - fire and forget
    from_loop = [conn.send_threadsafe(f"loop {i}") for i in range(n)]
    from_thread = await asyncio.to_thread(lambda: [conn.send_threadsafe(b"t") for _ in range(n)])
    # At most the first send was taken before the stack noticed (its bytes lost).
    await eventually(lambda: conn.stats.dropped + conn.stats.sent == 3 * n)
    assert conn.stats.sent <= (1 if transport.accepts_send_after_reset else 0)
    gc.collect()  # an unretrieved task exception is reported on collection
    await asyncio.sleep(0)
    assert all(from_loop)  # queued while the connection looked open
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert conn.stats.threadsafe_failures == sum(from_loop) + sum(from_thread)
    # The harness then checks that the loop's exception handler was never called.
