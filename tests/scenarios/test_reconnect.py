"""The reconnecting client's rows (29-34): wsstate.ReconnectingClient against a real server.

The client is wsstate's own websockets client, so these rows run on the
``ws-client`` transport only (the others give the reason). The server
(:class:`support.reconnect.Server`) accepts, refuses with a status and headers,
or accepts then closes with a code; backoff runs on an advanceable clock, so no
test waits for a delay in real time. Every test runs under a LoopWatch and fails
on an ERROR record (``no_errors``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from support.reconnect import Server, client, no_errors, serving, settle, until
from support.transports import Transport

import wsstate
from wsstate import ClientState

pytestmark = pytest.mark.usefixtures(no_errors.__name__)


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(29)
@serving
async def test_accept_then_close_stays_on_the_backoff_schedule(
    server: Server, transport: Transport
) -> None:
    server.mode, server.code = "accept_close", 1011
    c = client(server, backoff_initial=1.0, backoff_factor=2.0, backoff_max=30.0)
    async with c:
        while server.clock.now < 10.0:
            await until(lambda: c.state is ClientState.BACKOFF)
            n = len(server.requests)
            await settle(0.02)
            assert len(server.requests) == n, "an attempt without the clock moving: a tight loop"
            assert c.last_delay is not None
            # Never reset before min_uptime: the counter counts every accept-then-close.
            assert c.attempts == n
            cap = min(30.0, 1.0 * 2.0 ** (c.attempts - 1))
            assert 0 <= c.last_delay <= cap
            server.clock.advance(c.last_delay)
            await until(lambda n=n: len(server.requests) == n + 1 or server.clock.now >= 10.0)  # type: ignore[misc]
    # The schedule: attempts at 0 and after delays drawn at levels 1, 2, 4, 8...: a handful
    # in 10 s (websockets' loop makes one per round trip).
    assert 3 <= len(server.requests) <= 12, server.requests
    assert c.state is ClientState.STOPPED


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(31)
@pytest.mark.parametrize("status", [429, 503])
@serving
async def test_retry_after_is_a_floor_for_the_next_delay(
    server: Server, transport: Transport, status: int
) -> None:
    server.mode, server.status, server.headers = "refuse", status, {"Retry-After": "2"}
    c = client(server, backoff_initial=0.1)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)
        assert c.last_delay is not None
        assert c.last_delay >= 2.0
        server.clock.advance(1.99)
        await settle()
        assert len(server.requests) == 1
        server.mode = "accept"
        server.clock.advance(c.last_delay)
        await until(lambda: c.state is ClientState.OPEN)
        assert server.requests[1] >= 2.0
        assert c.generation == 1


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(31)
@serving
async def test_close_1013_with_seconds_is_a_floor(server: Server, transport: Transport) -> None:
    server.mode, server.code, server.reason = "accept_close", 1013, "3"
    c = client(server, backoff_initial=0.1)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)
        assert c.last_delay is not None
        assert c.last_delay >= 3.0


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(32)
@pytest.mark.parametrize("status", [401, 403, 404])
@serving
async def test_fatal_refusal_stops_without_retry(
    server: Server, transport: Transport, status: int
) -> None:
    server.mode, server.status = "refuse", status
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.STOPPED)
        server.clock.advance(120)
        await settle()
        assert len(server.requests) == 1
        assert c.last_refusal is not None
        assert c.last_refusal.value == status


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(32)
@serving
async def test_close_1008_stops(server: Server, transport: Transport) -> None:
    server.mode, server.code = "accept_close", 1008
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.STOPPED)
        server.clock.advance(120)
        await settle()
        assert len(server.requests) == 1


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(34)
@serving
async def test_buffered_sends_follow_on_opens_own_sends_in_order(
    server: Server, transport: Transport
) -> None:
    async def on_open(conn: wsstate.GuardedConnection) -> None:
        await conn.send("auth")

    c = client(server, on_open=on_open)
    assert await c.try_send("a")
    assert await c.try_send("b")
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        assert await c.try_send("c")
        await until(lambda: len(server.received[0]) == 4)
        assert server.received[0] == ["auth", "a", "b", "c"]
        await server.close_all(1012)
        await until(lambda: c.state is ClientState.BACKOFF)
        await c.send("d")
        await c.send("e")
        server.clock.advance(c.last_delay or 0)
        await until(lambda: len(server.received) == 2 and len(server.received[1]) == 3)
        assert server.received[1] == ["auth", "d", "e"]
        assert c.stats.flushed == 4


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(34)
@serving
async def test_buffer_overflow_refuses_with_one_warning(
    server: Server, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    c = client(server, max_buffered=2)
    assert await c.try_send("1")
    assert await c.try_send("2")
    assert not await c.try_send("3")
    assert not await c.try_send("4")
    with pytest.raises(wsstate.ConnectionClosed):
        await c.send("5")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert c.stats.refused == 3
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        await until(lambda: bool(server.received) and len(server.received[0]) == 2)
        assert server.received[0] == ["1", "2"]


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(33)
@serving
async def test_close_during_backoff_returns_at_once_and_no_attempt_follows(
    server: Server,
    transport: Transport,
) -> None:
    server.mode, server.status = "refuse", 503
    c = client(server)
    c.start()
    await until(lambda: c.state is ClientState.BACKOFF)
    started = time.perf_counter()
    assert await c.close()
    assert time.perf_counter() - started < 0.1
    assert c.state is ClientState.STOPPED
    assert not await c.close()
    server.clock.advance(1000)
    await settle()
    assert len(server.requests) == 1
    assert not await c.try_send("late")


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(33)
@serving
async def test_close_while_connecting_cancels_the_attempt(
    server: Server, transport: Transport
) -> None:
    c = client(server)
    c.start()
    assert c.state is ClientState.CONNECTING
    assert await c.close()
    assert c.state is ClientState.STOPPED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above across the await
    assert c.connection is None


@pytest.mark.transports("ws-client")
@pytest.mark.scenario(30)
@serving
async def test_a_fleet_through_a_server_restart_is_spread(
    server: Server, transport: Transport
) -> None:
    fleet = [client(server, backoff_initial=1.0, rng=random.Random(i)) for i in range(200)]
    for c in fleet:
        c.start()
    await until(lambda: all(c.state is ClientState.OPEN for c in fleet), within=20)
    await server.close_all(1012)  # the restart
    await until(lambda: all(c.state is ClientState.BACKOFF for c in fleet), within=20)
    starts = sorted(server.clock.now + (c.last_delay or 0) for c in fleet)
    # No 100 ms window holds more than a quarter of the reconnects.
    worst = max(sum(1 for t in starts if s <= t < s + 0.1) for s in starts)
    assert worst <= len(fleet) // 4, worst
    n = len(server.requests)
    server.clock.advance(1.0)
    await until(lambda: all(c.state is ClientState.OPEN for c in fleet), within=20)
    assert len(server.requests) == n + len(fleet)
    await asyncio.gather(*(c.close() for c in fleet))
