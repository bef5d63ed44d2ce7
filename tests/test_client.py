"""wsstate.ReconnectingClient against a real websockets server we control (issue 12, acceptance 2).

The server (:class:`Server`) accepts, refuses with a status and headers, or
accepts and closes at once with a code, as each test sets it. Backoff runs on
:class:`ManualClock`: time moves only when a test advances it, so a test of a
10 s schedule or of ``Retry-After: 2`` costs no real seconds. Every test runs
under a :class:`~wsstate.testing.loopwatch.LoopWatch` and asserts that nothing
was logged at ERROR.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

import wsstate
from wsstate import ClientState, ReconnectingClient
from wsstate.client import EFFECT_HANDLERS, OPERATION_OUTCOMES
from wsstate.machines.client import TABLE, Effect
from wsstate.testing.loopwatch import LoopWatch

pytestmark = pytest.mark.usefixtures("no_errors")


class ManualClock:
    """A clock that moves only when :meth:`advance` is called (the client's ``clock=``)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(self.now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while self._heap and self._heap[0][0] <= until:
            when, _, timer = heapq.heappop(self._heap)
            self.now = when
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
        self.now = until


@dataclass
class _Timer:
    when: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Server:
    """A websockets server whose answer each test sets."""

    clock: ManualClock
    mode: str = "accept"  # accept | refuse | accept_close
    status: int = 403
    headers: dict[str, str] = field(default_factory=dict)
    code: int = 1012
    reason: str = ""
    requests: list[float] = field(default_factory=list)
    """The clock's time of every opening handshake request."""
    received: list[list[str]] = field(default_factory=list)
    """Messages received, per connection."""
    connections: set[ServerConnection] = field(default_factory=set)
    ws: WsServer | None = None

    @property
    def uri(self) -> str:
        assert self.ws is not None
        port = next(iter(self.ws.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.requests.append(self.clock.now)
        if self.mode != "refuse":
            return None
        response = conn.respond(HTTPStatus(self.status), "refused\n")
        for key, value in self.headers.items():
            response.headers[key] = value
        return response

    async def handler(self, conn: ServerConnection) -> None:
        if self.mode == "accept_close":
            await conn.close(self.code, self.reason)
            return
        got: list[str] = []
        self.received.append(got)
        self.connections.add(conn)
        try:
            async for message in conn:
                got.append(str(message))
        finally:
            self.connections.discard(conn)

    async def close_all(self, code: int) -> None:
        await asyncio.gather(*(c.close(code) for c in list(self.connections)))


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG, logger="wsstate")
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def serving(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test with a fresh :class:`Server` (its first argument) on a new loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async def main() -> None:
            srv = Server(ManualClock())
            with LoopWatch() as watch:
                async with serve(
                    srv.handler, "127.0.0.1", 0, process_request=srv.process_request
                ) as ws:
                    srv.ws = ws
                    await test(srv, *args, **kwargs)
                watch.assert_not_called()

        asyncio.run(main())

    sig = inspect.signature(test)
    params = [p for p in sig.parameters.values() if p.name != "server"]
    run.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return run


def client(server: Server, **kwargs: Any) -> ReconnectingClient:
    kwargs.setdefault("rng", random.Random(12))
    kwargs.setdefault("close_timeout", 1.0)
    return ReconnectingClient(server.uri, clock=server.clock, **kwargs)


async def until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


# -- the table is what the runtime performs ---------------------------------------------


def test_every_declared_effect_has_a_handler() -> None:
    assert set(EFFECT_HANDLERS) == set(Effect)


def test_every_row_of_an_operation_has_exactly_one_handled_outcome() -> None:
    for event, outcomes in OPERATION_OUTCOMES.items():
        for (state, e), row in TABLE.items():
            if e is event and row.next is not None:
                assert [o for o in outcomes if o in row.effects], (state, event)


def test_options_are_checked_at_once() -> None:
    with pytest.raises(ValueError, match="backoff_factor"):
        ReconnectingClient("ws://127.0.0.1:1", backoff_factor=0.5)
    with pytest.raises(ValueError, match="close_timeout"):
        ReconnectingClient("ws://127.0.0.1:1", close_timeout=-1)


# -- scenario 29: accept then close --------------------------------------------------------


@pytest.mark.scenario(29)
@serving
async def test_accept_then_close_stays_on_the_backoff_schedule(server: Server) -> None:
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
            await until(lambda n=n: len(server.requests) == n + 1 or server.clock.now >= 10.0)
    # The schedule: attempts at 0 and after delays drawn at levels 1, 2, 4, 8...: a handful
    # in 10 s (websockets' loop makes one per round trip).
    assert 3 <= len(server.requests) <= 12, server.requests
    assert c.state is ClientState.STOPPED


# -- scenario 31: Retry-After --------------------------------------------------------------


@pytest.mark.scenario(31)
@pytest.mark.parametrize("status", [429, 503])
@serving
async def test_retry_after_is_a_floor_for_the_next_delay(server: Server, status: int) -> None:
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


@pytest.mark.scenario(31)
@serving
async def test_close_1013_with_seconds_is_a_floor(server: Server) -> None:
    server.mode, server.code, server.reason = "accept_close", 1013, "3"
    c = client(server, backoff_initial=0.1)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)
        assert c.last_delay is not None
        assert c.last_delay >= 3.0


# -- scenario 32: fatal refusals -------------------------------------------------------------


@pytest.mark.scenario(32)
@pytest.mark.parametrize("status", [401, 403, 404])
@serving
async def test_fatal_refusal_stops_without_retry(server: Server, status: int) -> None:
    server.mode, server.status = "refuse", status
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.STOPPED)
        server.clock.advance(120)
        await settle()
        assert len(server.requests) == 1
        assert c.last_refusal is not None
        assert c.last_refusal.value == status


@pytest.mark.scenario(32)
@serving
async def test_close_1008_stops(server: Server) -> None:
    server.mode, server.code = "accept_close", 1008
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.STOPPED)
        server.clock.advance(120)
        await settle()
        assert len(server.requests) == 1


@serving
async def test_the_retry_predicate_overrides_the_table(server: Server) -> None:
    server.mode, server.code = "accept_close", 4001
    c = client(server, retry=lambda r: True if r.value == 4001 else None)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)


@serving
async def test_close_1012_reconnects(server: Server) -> None:
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        await server.close_all(1012)
        await until(lambda: c.state is ClientState.BACKOFF)
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.state is ClientState.OPEN and c.generation == 2)


@serving
async def test_max_attempts_gives_up_once(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    server.mode, server.status = "refuse", 503
    c = client(server, max_attempts=3)
    async with c:
        for _ in range(2):
            await until(lambda: c.state is ClientState.BACKOFF)
            server.clock.advance(c.last_delay or 0)
            await until(lambda: c.state is not ClientState.BACKOFF)
        await until(lambda: c.state is ClientState.STOPPED)
    assert len(server.requests) == 3
    gave_up = [r for r in caplog.records if "give_up" in r.getMessage()]
    assert len(gave_up) == 1
    assert gave_up[0].levelno == logging.WARNING


# -- scenario 34: the buffer ---------------------------------------------------------------


@pytest.mark.scenario(34)
@serving
async def test_buffered_sends_follow_on_opens_own_sends_in_order(server: Server) -> None:
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


@pytest.mark.scenario(34)
@serving
async def test_buffer_overflow_refuses_with_one_warning(
    server: Server, caplog: pytest.LogCaptureFixture
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


# -- scenario 33: close() while waiting ------------------------------------------------------


@pytest.mark.scenario(33)
@serving
async def test_close_during_backoff_returns_at_once_and_no_attempt_follows(
    server: Server,
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


@pytest.mark.scenario(33)
@serving
async def test_close_while_connecting_cancels_the_attempt(server: Server) -> None:
    c = client(server)
    c.start()
    assert c.state is ClientState.CONNECTING
    assert await c.close()
    assert c.state is ClientState.STOPPED
    assert c.connection is None


@serving
async def test_on_close_fires_once_per_connection_and_iteration_spans_generations(
    server: Server,
) -> None:
    closed: list[int] = []
    c = client(server, on_close=lambda conn: closed.append(id(conn)))
    received: list[object] = []

    async def echo_twice() -> None:
        for conn in list(server.connections):
            await conn.send(f"g{c.generation}")

    async def reader() -> None:
        async for message in c:
            received.append(message)

    task = asyncio.get_running_loop().create_task(reader())
    async with c:
        await until(lambda: c.state is ClientState.OPEN and bool(server.connections))
        await echo_twice()
        await server.close_all(1001)
        await until(lambda: c.state is ClientState.BACKOFF)
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.generation == 2 and bool(server.connections))
        await echo_twice()
        await until(lambda: len(received) == 2)
    await asyncio.wait_for(task, 2)
    assert received == ["g1", "g2"]
    assert len(closed) == len(set(closed)) == 2


@serving
async def test_reconnect_yields_one_connection_per_generation(server: Server) -> None:
    gens = []
    async for conn in wsstate.reconnect(
        server.uri, clock=server.clock, rng=random.Random(1), close_timeout=1.0
    ):
        gens.append(conn)
        if len(gens) == 1:
            await server.close_all(1012)
            await conn.wait_closed()
            asyncio.get_running_loop().call_later(0.05, server.clock.advance, 5.0)
        else:
            break
    assert len(gens) == 2
    assert gens[0] is not gens[1]


# -- scenario 30: the herd -------------------------------------------------------------------


@pytest.mark.scenario(30)
@serving
async def test_a_fleet_through_a_server_restart_is_spread(server: Server) -> None:
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
