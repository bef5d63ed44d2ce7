"""The scenario harness: real endpoints on loopback, and what every test must leave behind.

The ``h`` fixture (tests/conftest.py) is a :class:`Harness`. It builds real
endpoints on loopback and checks, after the test body and its teardown, what
every scenario must leave behind (DESIGN.md §4, §5):

* every guarded connection it built or was given (:meth:`Harness.track`) is
  CLOSED and its ``on_close`` notification fired exactly once;
* the wire is clean on every :class:`~wsstate.testing.FaultProxy` it built (no
  data frame after a Close, no second Close, no code that may not be sent);
* the loop's exception handler was never called (:class:`~wsstate.testing.LoopWatch`,
  after ``gc.collect()``, so a "Task exception was never retrieved" counts);
* descriptors and tasks are back to the baseline taken when the test started
  (:class:`~wsstate.testing.ResourceSnapshot`, with a short settle time);
* logs, recorded from every logger (``wsstate`` at DEBUG): no record at ERROR or
  above from anyone, except exactly ``h.wsstate_errors`` from ``wsstate``; at most
  ``h.wsstate_warnings`` WARNINGs from ``wsstate``; no INFO from ``wsstate`` unless
  ``h.wsstate_info`` (a row of the table logs at INFO); no WARNING from any other
  logger.

:meth:`Harness.pair` builds one guarded endpoint and its raw websockets peer for
a ``role``: ``"server"`` — a real ``websockets.asyncio.server.serve`` handler
wraps its ``ServerConnection`` with :func:`wsstate.guard`, the peer is a raw
websockets client; ``"client"`` — the guarded endpoint comes from
:func:`wsstate.connect`, the peer is the connection of a raw websockets server
handler. By default a :class:`~wsstate.testing.FaultProxy` sits between them.
Both endpoints stay open until the test closes them or the teardown does. The
Starlette pairs come from :class:`support.asgi.Site`; the scenario suite reaches
both through :mod:`support.transports`.

Timeouts are scaled down (:data:`PING_INTERVAL` ... :data:`OPEN_TIMEOUT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.testing import (
    Direction,
    FaultProxy,
    LoopWatch,
    ProxiedConnection,
    ResourceSnapshot,
    Side,
    WireFrame,
)

Role = Literal["server", "client"]
ROLES: tuple[Role, ...] = ("server", "client")

PING_INTERVAL = 0.15
PING_TIMEOUT = 0.15
CLOSE_TIMEOUT = 0.4
WRITE_TIMEOUT = 0.3
OPEN_TIMEOUT = 0.5
#: Scheduling slack added to every deadline a test measures.
SLACK = 0.35
#: Longest a test body may run; longest each teardown step may take.
TEST_DEADLINE = 15.0
TEARDOWN_STEP = 3.0

#: Options of every guarded connection unless a test overrides them.
GUARD_DEFAULTS: dict[str, Any] = {
    "ping_interval": PING_INTERVAL,
    "ping_timeout": PING_TIMEOUT,
    "close_timeout": CLOSE_TIMEOUT,
    "write_timeout": WRITE_TIMEOUT,
    "open_timeout": OPEN_TIMEOUT,
}
#: websockets options of the raw peer (and of the server hosting a guarded handler).
#: websockets' own keepalive is off: wsstate's is the one under test.
WS_DEFAULTS: dict[str, Any] = {"ping_interval": None, "close_timeout": CLOSE_TIMEOUT}


class Recorder(logging.Handler):
    """Keeps every log record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- pairs -----------------------------------------------------------------------------


@dataclass
class Pair:
    """A guarded endpoint and the raw websockets endpoint on the other side."""

    role: Role
    conn: GuardedConnection
    peer: Connection
    #: What serves the pair: a websockets ``Server``, or a :class:`support.asgi.Site`.
    server: Any
    proxy: FaultProxy | None = None
    #: This pair's TCP connection through the proxy (fault controls, wire tap).
    link: ProxiedConnection | None = None
    notified: list[GuardedConnection] = field(default_factory=list)

    @property
    def side(self) -> Side:
        """The guarded endpoint, as a side of the proxied connection."""
        return Side.SERVER if self.role == "server" else Side.CLIENT

    @property
    def out(self) -> Direction:
        """The direction in which the guarded endpoint sends."""
        return self.side.sends

    def frames_out(self) -> list[WireFrame]:
        """Frames the guarded endpoint put on the wire (needs the proxy)."""
        assert self.link is not None, "this pair has no proxy"
        return self.link.frames[self.out]

    def frames_in(self) -> list[WireFrame]:
        """Frames the raw peer put on the wire (needs the proxy)."""
        assert self.link is not None, "this pair has no proxy"
        return self.link.frames[self.side.other.sends]


class Harness:
    """Builds endpoints, tears them down, and checks the invariants (module docstring)."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._stack = contextlib.AsyncExitStack()
        self._conns: dict[GuardedConnection, list[GuardedConnection]] = {}
        self._proxies: list[FaultProxy] = []
        #: ERROR records ``wsstate`` must have logged (exactly); others may log none.
        self.wsstate_errors = 0
        #: WARNING records ``wsstate`` may log (at most).
        self.wsstate_warnings = 0
        #: Whether ``wsstate`` may log at INFO (rows of the table that say so).
        self.wsstate_info = False
        #: Seconds the descriptors and tasks get to return to the baseline.
        self.settle = 1.0

    # -- running -----------------------------------------------------------------

    async def run(self, body: Coroutine[Any, Any, None]) -> None:
        """Run a test body, tear down what it built, then check the invariants."""
        baseline = ResourceSnapshot.take()
        with LoopWatch() as watch:
            try:
                async with asyncio.timeout(TEST_DEADLINE):
                    await body
            finally:
                await self._stack.aclose()
            for conn, notified in self._conns.items():
                assert conn.state is State.CLOSED, f"{conn!r} not CLOSED after teardown"
                assert notified == [conn], f"{conn!r}: on_close fired {len(notified)} times"
            for proxy in self._proxies:
                proxy.assert_wire_clean()
            gc.collect()
            await baseline.assert_restored(settle=self.settle)
            watch.assert_not_called()
        self.check_logs()

    def defer(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Run ``callback`` at teardown (last registered, first run), bounded in time."""

        async def bounded() -> None:
            async with asyncio.timeout(TEARDOWN_STEP):
                await callback()

        self._stack.push_async_callback(bounded)

    # -- logs ----------------------------------------------------------------------

    def records(self, level: int, logger: str | None = "wsstate") -> list[logging.LogRecord]:
        """Records at exactly ``level`` from ``logger`` and its children (None: any logger)."""
        return [
            r
            for r in self._recorder.records
            if r.levelno == level
            and (logger is None or r.name == logger or r.name.startswith(logger + "."))
        ]

    def take(self, level: int, logger: str) -> list[logging.LogRecord]:
        """Remove and return the records at exactly ``level`` from ``logger`` and its
        children: records a test expects (and asserts on), which :meth:`check_logs`
        would otherwise refuse."""
        taken = self.records(level, logger)
        self._recorder.records[:] = [r for r in self._recorder.records if r not in taken]
        return taken

    def check_logs(self) -> None:
        """The log rules of the module docstring."""
        records = self._recorder.records
        ours = [r for r in records if r.name == "wsstate" or r.name.startswith("wsstate.")]
        others = [r for r in records if r not in ours]
        shown = [r for r in others if r.levelno >= logging.WARNING]
        assert not shown, "records from other loggers:\n" + _describe(shown)
        errors = [r for r in ours if r.levelno >= logging.ERROR]
        assert len(errors) == self.wsstate_errors, (
            f"expected {self.wsstate_errors} ERROR from wsstate:\n" + _describe(errors)
        )
        warnings = [r for r in ours if r.levelno == logging.WARNING]
        assert len(warnings) <= self.wsstate_warnings, (
            f"at most {self.wsstate_warnings} WARNING from wsstate:\n" + _describe(warnings)
        )
        if not self.wsstate_info:
            infos = [r for r in ours if r.levelno == logging.INFO]
            assert not infos, "INFO from wsstate:\n" + _describe(infos)

    # -- building ------------------------------------------------------------------

    def track(self, conn: GuardedConnection) -> list[GuardedConnection]:
        """Check ``conn`` at the end (CLOSED, notified once); return its notification list."""
        notified: list[GuardedConnection] = []
        self._conns[conn] = notified
        conn.on_close(notified.append)
        return notified

    async def serve(
        self, handler: Callable[[ServerConnection], Awaitable[None]], **ws: Any
    ) -> Server:
        """A websockets server on 127.0.0.1 (ephemeral port), closed at teardown."""
        server = await serve(handler, "127.0.0.1", 0, **{**WS_DEFAULTS, **ws})

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        self.defer(stop)
        return server

    async def proxy(self, server: Server | int) -> FaultProxy:
        """A FaultProxy in front of ``server`` (or a port), closed at teardown, its wire checked."""
        port = server if isinstance(server, int) else port_of(server)
        proxy = await FaultProxy("127.0.0.1", port).start()
        self._proxies.append(proxy)
        self.defer(proxy.close)
        return proxy

    async def pair(
        self,
        role: Role,
        *,
        proxy: bool = True,
        ws: dict[str, Any] | None = None,
        peer: dict[str, Any] | None = None,
        **options: Any,
    ) -> Pair:
        """A guarded endpoint in ``role`` and its raw peer (module docstring).

        ``options`` are the guarded connection's (:data:`GUARD_DEFAULTS` otherwise),
        ``ws`` the websockets options of the guarded endpoint's native connection,
        ``peer`` those of the raw peer.
        """
        guard_options = {**GUARD_DEFAULTS, **options}
        ws_options = {**WS_DEFAULTS, "close_timeout": guard_options["close_timeout"], **(ws or {})}
        peer_options = {**WS_DEFAULTS, **(peer or {})}
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[Connection] = loop.create_future()

        if role == "server":

            async def guarded_handler(sock: ServerConnection) -> None:
                conn = wsstate.guard(sock, **guard_options)
                accepted.set_result(sock)
                conns.append(conn)
                await conn.wait_closed()

            conns: list[GuardedConnection] = []
            server = await self.serve(guarded_handler, **ws_options)
        else:

            async def raw_handler(sock: ServerConnection) -> None:
                accepted.set_result(sock)
                await sock.wait_closed()

            server = await self.serve(raw_handler, **peer_options)
        fault_proxy = await self.proxy(server) if proxy else None
        uri = fault_proxy.url if fault_proxy else f"ws://127.0.0.1:{port_of(server)}/"

        peer_conn: Connection
        if role == "server":
            client: ClientConnection = await ws_connect(uri, **peer_options)
            self.defer(client.close)
            await asyncio.wait_for(asyncio.shield(accepted), OPEN_TIMEOUT)
            conn, peer_conn = conns[0], client
            # The handler waits for CLOSED; close it first at teardown.
            self.defer(lambda: conn.close())
        else:
            # connect() takes both kinds of options; the timeouts are wsstate's, and it
            # passes close_timeout and open_timeout on to websockets itself.
            native = {k: v for k, v in ws_options.items() if k not in GUARD_DEFAULTS}
            conn = await self._stack.enter_async_context(
                _bounded(wsstate.connect(uri, **guard_options, **native))
            )
            peer_conn = await asyncio.wait_for(asyncio.shield(accepted), OPEN_TIMEOUT)
            self.defer(peer_conn.close)
        pair = Pair(role, conn, peer_conn, server, fault_proxy)
        pair.notified = self.track(conn)
        if fault_proxy is not None:
            async with asyncio.timeout(OPEN_TIMEOUT):
                (pair.link,) = await fault_proxy.wait_connections(1)
        return pair


@contextlib.asynccontextmanager
async def _bounded(cm: contextlib.AbstractAsyncContextManager[Any]) -> AsyncIterator[Any]:
    """Enter ``cm``; bound its exit in time (a teardown must never hang)."""
    value = await cm.__aenter__()
    try:
        yield value
    finally:
        async with asyncio.timeout(TEARDOWN_STEP):
            await cm.__aexit__(None, None, None)


def port_of(server: Server) -> int:
    """The TCP port a websockets server listens on."""
    port: int = server.sockets[0].getsockname()[1]
    return port


def _describe(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"  {r.name} {r.levelname}: {r.getMessage()}" for r in records)


async def eventually(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Wait until ``predicate()`` is true; fail after ``within`` seconds.

    Polling on purpose: the predicates are about transports and peers that
    offer no event to wait on.
    """
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def assert_heap_bounded(
    cycle: Callable[[int], Awaitable[None]],
    settled: Callable[[int], Awaitable[None]],
    *,
    warmup: int,
    cycles: int,
    limit: int,
) -> None:
    """Run ``warmup`` cycles, then ``cycles`` more: the Python heap grows by less than ``limit``.

    ``settled(n)`` waits until the first ``n`` cycles are over. No DEBUG record is
    made meanwhile: the handlers that keep records (this harness's, pytest's
    report) would count as growth. INFO and above are still made and checked.
    """
    logging.disable(logging.DEBUG)
    try:
        for i in range(warmup):
            await cycle(i)
        await settled(warmup)
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for i in range(cycles):
                await cycle(i)
            await settled(warmup + cycles)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    finally:
        logging.disable(logging.NOTSET)
    ignore = [
        tracemalloc.Filter(False, logging.__file__),
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "*/_pytest/*"),
    ]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    growth = sum(d.size_diff for d in diff)
    assert growth < limit, f"grew by {growth} B in {cycles} cycles:\n" + "\n".join(
        map(str, diff[:10])
    )


async def received(peer: Connection) -> list[str | bytes]:
    """Every message ``peer`` receives until its connection closes, in order."""
    messages: list[str | bytes] = []
    with contextlib.suppress(ConnectionClosed):
        async for message in peer:
            messages.append(message)
    return messages


# -- what every scenario asserts -------------------------------------------------------


def assert_peer_gone(
    pair: Pair,
    *,
    closed_by: ClosedBy | set[ClosedBy],
    clean: bool,
    code: int | None = None,
    reason: str | None = None,
) -> None:
    """SCENARIOS.md's "peer gone": CLOSED, notified once, what is known of the closure."""
    conn = pair.conn
    assert conn.state is State.CLOSED
    assert conn.closed
    assert pair.notified == [conn]
    expected = closed_by if isinstance(closed_by, set) else {closed_by}
    assert conn.closed_by in expected
    assert conn.clean is clean
    if code is not None:
        assert conn.close_code == code
    if reason is not None:
        assert conn.close_reason == reason


async def assert_sends_absorbed(pair: Pair, times: int = 3) -> None:
    """send raises wsstate.ConnectionClosed (same closure every time), try_send is False."""
    conn = pair.conn
    seen = set()
    for i in range(times):
        with pytest.raises(wsstate.ConnectionClosed) as info:
            await conn.send(f"late {i}")
        exc = info.value
        seen.add((exc.code, exc.reason, exc.closed_by, exc.clean, exc.state))
        assert await conn.try_send(b"late") is False
    assert seen == {
        (conn.close_code, conn.close_reason or "", conn.closed_by, conn.clean, "CLOSED")
    }


def not_keepalive(frames: list[WireFrame]) -> list[WireFrame]:
    """Frames other than keepalive pings and pongs."""
    return [f for f in frames if f.opcode not in (Opcode.PING, Opcode.PONG)]
