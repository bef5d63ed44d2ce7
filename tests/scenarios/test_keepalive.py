"""Keepalive: a half-open peer (row 16); a proxy's idle timeout (row 27).

Over websockets wsstate's own keepalive runs. ASGI has no ping message, so over
Starlette wsstate's keepalive sends nothing, and a half-open peer is detected by
uvicorn's own ping (``ws_ping_interval``) and reaches the table as a lost
transport — under uvicorn's legacy implementation as soon as it sends its Close
1011, though it holds sends and its disconnect until its closing handshake gave
up, after its fixed 10 s close timeout (``server_closing_facts``; docs/starlette.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import pytest
from support.harness import (
    CLOSE_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    SLACK,
    Harness,
    Pair,
    assert_peer_gone,
    assert_sends_absorbed,
)
from support.transports import Transport, open_pair, site_of, write_transport
from websockets.frames import Opcode

from wsstate import ClosedBy, State
from wsstate.testing import Side

# -- 16. half-open: the peer vanishes without FIN or RST -------------------------------


@pytest.mark.scenario(16)
@pytest.mark.transports("websockets", "aiohttp", "tornado")  # wsstate's own keepalive
async def test_16_half_open_detected_by_our_keepalive(h: Harness, transport: Transport) -> None:
    h.wsstate_warnings = 1  # keepalive_timeout in OPEN
    h.wsstate_info = True  # close_timeout in CLOSING: the 1011 is never answered
    pair = await open_pair(h, transport)
    conn = pair.conn
    assert pair.link is not None
    await asyncio.sleep(PING_INTERVAL * 1.5)  # keepalive running, pongs coming back
    loop = asyncio.get_running_loop()
    pair.link.blackhole()
    start = loop.time()
    assert await conn.try_send("into the void") is True  # undetectable yet: it "goes out"
    await asyncio.wait_for(conn.wait_closed(), PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + 1)
    elapsed = loop.time() - start
    assert elapsed <= PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert elapsed >= PING_TIMEOUT  # not before a pong could have come back
    assert_peer_gone(
        pair, closed_by=ClosedBy.TIMEOUT, clean=False, code=1011, reason="keepalive ping timeout"
    )
    assert len(h.records(logging.WARNING)) == 1
    await assert_sends_absorbed(pair)
    # The guarded endpoint said why (the black hole ate it); its buffers are released.
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1011]
    assert write_transport(pair).get_write_buffer_size() == 0
    pair.link.blackhole(False)  # the held-back reset reaches the raw peer


@pytest.mark.scenario(16)
@pytest.mark.transports("websockets", "aiohttp", "tornado")  # wsstate's own keepalive
async def test_16_a_peer_that_stopped_reading_is_detected_behind_a_full_buffer(
    h: Harness, transport: Transport
) -> None:
    # websockets' ping() waits for its write buffer to drain before it returns the
    # pong waiter: the keepalive waited there, outside its pong deadline, for as
    # long as the peer did not read (OPEN for good, write_timeout off). The pong
    # deadline now counts from the ping handed to the transport, as on the others.
    h.wsstate_warnings = 1  # keepalive_timeout in OPEN
    h.wsstate_info = True  # close_timeout in CLOSING: the 1011 waits behind the buffer
    pair = await open_pair(h, transport, write_timeout=None)
    conn = pair.conn
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)  # the peer's side stops reading what we send
    chunk = random.Random(16).randbytes(4 * 1024 * 1024)  # incompressible, buffers full
    loop = asyncio.get_running_loop()
    sending = asyncio.create_task(conn.try_send(chunk))
    start = loop.time()
    await asyncio.wait_for(conn.wait_closed(), PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + 1)
    assert loop.time() - start <= PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert (conn.closed_by, conn.close_code, conn.close_reason) == (
        ClosedBy.TIMEOUT,
        1011,
        "keepalive ping timeout",
    )
    await asyncio.wait_for(sending, 1.0)  # written or dropped: it returned
    pair.link.slow_reader(False, pair.out)


# On uvicorn's legacy "websockets" implementation too: it reports the closure only
# once its closing handshake gave up, after its fixed 10 s close timeout, but the
# adapter reports its keepalive's Close 1011 as a lost transport at once
# (server_closing_facts; docs/starlette.md).
@pytest.mark.scenario(16)
@pytest.mark.transports("asgi")
async def test_16_half_open_peer_detected_by_uvicorns_ping(
    h: Harness, transport: Transport
) -> None:
    interval = 0.15
    site = await site_of(h, transport, ws_ping_interval=interval, ws_ping_timeout=interval)
    pair = await site.pair(ping_interval=None)
    assert pair.link is not None
    await asyncio.sleep(interval * 1.5)  # uvicorn's pings answered
    assert pair.conn.state is State.OPEN
    loop = asyncio.get_running_loop()
    pair.link.blackhole()
    start = loop.time()
    await asyncio.wait_for(pair.conn.wait_closed(), 2 * interval + CLOSE_TIMEOUT + 1)
    assert loop.time() - start <= 2 * interval + SLACK
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)
    pair.link.blackhole(False)


@pytest.mark.scenario(16)
@pytest.mark.transports("asgi")
async def test_16_half_open_while_sending_over_asgi(h: Harness, transport: Transport) -> None:
    # A tick broadcast keeps sending to a peer that vanished: uvicorn's ping finds
    # it, and that is what the connection reports (a lost transport), never a slow
    # reader, and nothing at ERROR. uvicorn's legacy implementation then holds
    # every send during its closing handshake, up to its fixed 10 s close timeout,
    # far longer than the write timeout: the adapter sees the server's own
    # keepalive Close (server_closing_facts) and reports the loss at once, before
    # a held send could time out as a slow reader. Not scaled down here: the
    # defect showed only with the real 10 s.
    interval = 0.15
    site = await site_of(h, transport, ws_ping_interval=interval, ws_ping_timeout=interval)
    pair = await site.pair(ping_interval=None, write_timeout=1.0)
    conn = pair.conn
    assert pair.link is not None
    await asyncio.sleep(interval * 1.5)  # uvicorn's pings answered
    sent = 0

    async def tick() -> None:
        nonlocal sent
        while await conn.try_send(f"tick {sent}"):
            sent += 1
            await asyncio.sleep(0.02)

    ticking = asyncio.create_task(tick())
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    pair.link.blackhole()
    start = loop.time()
    await asyncio.wait_for(conn.wait_closed(), 2 * interval + 0.1 + CLOSE_TIMEOUT + 1)
    await asyncio.wait_for(ticking, 1.0)
    assert conn.close_reason != "slow reader"
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert loop.time() - start <= 2 * interval + 0.1 + SLACK
    assert sent > 5
    assert not h.records(logging.WARNING)
    await assert_sends_absorbed(pair)
    pair.link.blackhole(False)


@pytest.mark.scenario(16)
@pytest.mark.transports("asgi")
async def test_16_no_keepalive_of_ours_over_asgi(h: Harness, transport: Transport) -> None:
    # ASGI has no ping message: wsstate's keepalive sends nothing; a half-open peer
    # is left to the server's own keepalive (the test above).
    pair = await open_pair(h, transport, ping_interval=0.05)
    await asyncio.sleep(0.3)
    assert pair.conn.state is State.OPEN
    assert await pair.conn.ping() is False  # ASGI cannot send a ping: not reported as sent
    assert [f for f in pair.frames_out() if f.opcode is Opcode.PING] == []
    await pair.conn.close()


# -- 27. a proxy's idle timeout cuts the connection -----------------------------------------


async def idle_timeout(pair: Pair, idle: float, cut: Callable[[], Awaitable[None]]) -> None:
    """A proxy's idle timeout: ``cut()`` once no byte crossed for ``idle`` seconds."""
    assert pair.link is not None
    loop = asyncio.get_running_loop()
    last, since = -1, loop.time()
    while True:
        total = sum(pair.link.forwarded.values()) + sum(pair.link.dropped.values())
        if total != last:
            last, since = total, loop.time()
        elif loop.time() - since >= idle:
            await cut()
            return
        await asyncio.sleep(0.01)


@pytest.mark.scenario(27)
async def test_27_keepalive_shorter_than_proxy_idle_timeout_keeps_it_open(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport, ping_interval=0.1, ping_timeout=0.2)
    assert pair.link is not None
    watchdog = asyncio.create_task(idle_timeout(pair, 0.3, pair.link.fin))
    await asyncio.sleep(0.9)  # the application is idle three idle timeouts long
    assert not watchdog.done()
    watchdog.cancel()
    assert pair.conn.state is State.OPEN
    assert sum(f.opcode is Opcode.PING for f in pair.frames_out()) >= 5
    assert await pair.conn.close() is True


@pytest.mark.scenario(27)
@pytest.mark.parametrize("cut", ["fin", "blackhole-then-reset"])
async def test_27_proxy_idle_timeout_cuts_the_connection(
    h: Harness, transport: Transport, cut: str
) -> None:
    # The keepalive is longer than the proxy's idle timeout, so the proxy cuts:
    # either both ways with FIN (nginx), or it stops forwarding, then resets the
    # upstream leg only. Either way: peer gone.
    h.wsstate_warnings = 1  # a guarded client behind a silent proxy: keepalive timeout
    h.wsstate_info = True  # ... then the close timeout in CLOSING
    interval, idle = 0.3, 0.15
    pair = await open_pair(h, transport, ping_interval=interval, ping_timeout=PING_TIMEOUT)
    link = pair.link
    assert link is not None

    async def fin() -> None:
        await link.fin()

    async def blackhole_then_reset() -> None:
        link.blackhole()
        await asyncio.sleep(0.05)
        await link.reset(Side.SERVER)

    loop = asyncio.get_running_loop()
    start = loop.time()
    watchdog = asyncio.create_task(
        idle_timeout(pair, idle, fin if cut == "fin" else blackhole_then_reset)
    )
    await asyncio.wait_for(pair.conn.wait_closed(), 3.0)
    await watchdog
    bound = idle + 0.05 + interval + PING_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert loop.time() - start <= bound
    assert_peer_gone(pair, closed_by={ClosedBy.TRANSPORT, ClosedBy.TIMEOUT}, clean=False)
    if pair.conn.closed_by is ClosedBy.TIMEOUT:
        assert pair.conn.close_code == 1011
    else:
        assert pair.conn.close_code == 1006
        assert not h.records(logging.WARNING)
    await assert_sends_absorbed(pair)
    link.blackhole(False)
