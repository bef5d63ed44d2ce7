"""A websockets server the reconnecting client's tests control, and a clock they advance.

:class:`Server` accepts, refuses with a status and headers, or accepts and closes
at once with a code, as each test sets it; :class:`ManualClock` moves only when a
test advances it (``ReconnectingClient(clock=...)``), so a 10 s backoff schedule
or ``Retry-After: 2`` costs no real seconds. :func:`serving` runs an async test
with a fresh server on a new event loop under a
:class:`~wsstate.testing.loopwatch.LoopWatch`; the ``no_errors`` fixture fails
a test that logged at ERROR.
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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from wsstate import ReconnectingClient
from wsstate.testing.loopwatch import LoopWatch

__all__ = ["ManualClock", "Server", "client", "no_errors", "serving", "settle", "until"]


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
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
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
