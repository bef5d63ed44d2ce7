"""``wsstate demo`` on aiohttp and tornado: each framework's naive handler against the guarded one.

The storm is the demo's (:mod:`wsstate_tools.demo`: real websockets clients that
close cleanly, reset, FIN without a Close, go half-open, reload); only the
server changes. The naive handlers are written the way each framework's users
write them:

* **aiohttp**: aiohttp's ``heartbeat``, a set of ``WebSocketResponse`` objects,
  ``await ws.send_str(...)`` in a broadcast loop with ``except Exception:
  log.exception(...)``, as aiohttp's own examples do; the handler's ``finally``
  sends a last update and closes, as the websockets demo's naive handler does.
* **tornado** (Bokeh and Panel style): tornado's ping settings, a set of
  handlers, ``self.write_message(...)`` without awaiting from a
  ``PeriodicCallback`` and from ``on_message``; ``on_close`` logs
  ``code=%s, reason=%r`` as Bokeh does (``code=None`` after an abrupt drop).

The guarded handlers: :func:`wsstate.guard` on the same objects (aiohttp after
``prepare()``, tornado in ``open()``), a :class:`wsstate.Hub` for the pushes (one
``broadcast`` per update: one send per client and update, as in the naive
handlers, so that the columns' "messages delivered" compare), ``try_send`` for
the echo; the Hub is closed with 1001 by the framework's shutdown hook (aiohttp
``on_shutdown``; tornado before ``close_all_connections()``). Needs ``pip install
wsstate[aiohttp]`` / ``wsstate[tornado]``; a missing framework is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any, Final

from wsstate.connection import GuardedConnection
from wsstate.guard import guard
from wsstate.hub import Hub

from .demo import (
    CLOSE_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    PUSH_INTERVAL,
    DemoResult,
    run_variant,
)

__all__ = [
    "FRAMEWORKS",
    "GuardedAiohttpApp",
    "GuardedTornadoApp",
    "NaiveAiohttpApp",
    "NaiveTornadoApp",
    "available",
    "format_framework_results",
    "make_apps",
]

log: Final = logging.getLogger("app")

#: The frameworks the demo runs, in order.
FRAMEWORKS: Final = ("aiohttp", "tornado")

_GUARD_OPTIONS: Final = {
    "ping_interval": PING_INTERVAL,
    "ping_timeout": PING_TIMEOUT,
    "close_timeout": CLOSE_TIMEOUT,
}


def available(framework: str) -> bool:
    """Whether ``framework`` is installed."""
    try:
        __import__(framework)
    except ImportError:
        return False
    return True


class _Guarded:
    """What both guarded apps share: a Hub, each update broadcast once."""

    #: Closures ``on_close`` saw without a code (tornado's apps count them; None: not counted).
    no_code: int | None = None

    def __init__(self) -> None:
        self.hub = Hub()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, update: str) -> None:
        # Once per client, as the naive handlers send it: the broadcast never waits
        # on a member (the naive aiohttp loop awaits each send, tornado's does not).
        await self.hub.broadcast(update)

    async def serve(self, conn: GuardedConnection) -> None:
        async for message in conn:
            await conn.try_send(f"echo {message!s}")
        await conn.try_send("goodbye")  # a last update after the peer left
        await conn.close()
        await conn.close()


# -- aiohttp ------------------------------------------------------------------------------


class NaiveAiohttpApp:
    """aiohttp as its users write it (module doc)."""

    def __init__(self) -> None:
        from aiohttp import web

        self.clients: set[web.WebSocketResponse] = set()
        self.no_code: int | None = None  # aiohttp has no on_close

    async def handler(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL)
        await ws.prepare(request)
        self.clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(f"echo {msg.data}")
        except Exception:
            log.exception("error in websocket handler")
        finally:
            self.clients.discard(ws)
            await ws.send_str("goodbye")  # a last update after the peer left
            await ws.close()
        return ws

    async def push(self, update: str) -> None:
        for ws in list(self.clients):
            try:
                await ws.send_str(update)
            except Exception:
                log.exception("failed to push an update")

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        """The app on a real aiohttp server on 127.0.0.1; yields its port."""
        async with _aiohttp_server(self.handler, None) as port:
            yield port


class GuardedAiohttpApp(_Guarded):
    """The same handler on wsstate."""

    async def handler(self, request: Any) -> Any:
        from aiohttp import web

        ws = web.WebSocketResponse()  # no heartbeat: wsstate's keepalive
        await ws.prepare(request)
        conn = guard(ws, **_GUARD_OPTIONS)
        self.hub.add(conn)
        await self.serve(conn)
        return ws

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        """The app on a real aiohttp server; its shutdown closes the Hub (1001)."""
        async with _aiohttp_server(self.handler, self.hub) as port:
            yield port


@contextlib.asynccontextmanager
async def _aiohttp_server(handler: Any, hub: Hub | None) -> AsyncIterator[int]:
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/", handler)
    if hub is not None:

        async def on_shutdown(app: web.Application) -> None:
            await hub.close(1001, "server shutdown")

        app.on_shutdown.append(on_shutdown)
    runner = web.AppRunner(app, shutdown_timeout=CLOSE_TIMEOUT)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        assert site._server is not None
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


# -- tornado ----------------------------------------------------------------------------------


class NaiveTornadoApp:
    """tornado as Bokeh and Panel write it (module doc)."""

    def __init__(self) -> None:
        self.clients: set[Any] = set()
        self.no_code: int | None = 0
        self._ticks = 0

    def handler_class(self) -> type[Any]:
        import tornado.websocket

        app = self

        class Handler(tornado.websocket.WebSocketHandler):
            def open(self, *args: str, **kwargs: str) -> None:
                app.clients.add(self)

            def on_message(self, message: str | bytes) -> None:
                self.write_message(f"echo {message!s}")  # not awaited

            def on_close(self) -> None:
                app.clients.discard(self)
                if self.close_code is None and app.no_code is not None:
                    app.no_code += 1
                log.info(
                    "WebSocket connection closed: code=%s, reason=%r",
                    self.close_code,
                    self.close_reason,
                )

        return Handler

    def tick(self) -> None:
        """What the ``PeriodicCallback`` runs: every client, ``write_message`` not awaited."""
        self._ticks += 1
        for client in list(self.clients):
            client.write_message(f"update {self._ticks}")

    async def push(self, update: str) -> None:
        """Nothing: this app pushes from its own ``PeriodicCallback`` (:meth:`tick`)."""

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        """The app on a real tornado server, its ``PeriodicCallback`` running; yields the port."""
        from tornado.ioloop import PeriodicCallback

        callback = PeriodicCallback(self.tick, PUSH_INTERVAL * 1000)
        callback.start()
        try:
            async with _tornado_server(self.handler_class(), None) as port:
                yield port
        finally:
            callback.stop()


class GuardedTornadoApp(_Guarded):
    """The same handler on wsstate: guarded in ``open()``, served by a task."""

    def __init__(self) -> None:
        super().__init__()
        self.no_code = 0

    def handler_class(self) -> type[Any]:
        import tornado.websocket

        app = self

        class Handler(tornado.websocket.WebSocketHandler):
            conn: GuardedConnection

            def open(self, *args: str, **kwargs: str) -> None:
                self.conn = guard(self, **_GUARD_OPTIONS)
                app.hub.add(self.conn)
                app._spawn(app.serve(self.conn))

            def on_close(self) -> None:  # runs after the table recorded the closure
                if self.conn.close_code is None and app.no_code is not None:
                    app.no_code += 1
                log.info(
                    "WebSocket connection closed: code=%s, reason=%r",
                    self.conn.close_code,
                    self.conn.close_reason,
                )

        return Handler

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        """The app on a real tornado server; its stop closes the Hub (1001) first."""
        async with _tornado_server(self.handler_class(), self.hub) as port:
            yield port


@contextlib.asynccontextmanager
async def _tornado_server(handler: type[Any], hub: Hub | None) -> AsyncIterator[int]:
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    app = tornado.web.Application(
        [("/", handler)],
        # The naive app's keepalive (the guarded one stops tornado's pinging).
        websocket_ping_interval=PING_INTERVAL,
        websocket_ping_timeout=PING_TIMEOUT,
    )
    http = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    http.add_sockets(sockets)
    try:
        yield sockets[0].getsockname()[1]
    finally:
        http.stop()
        if hub is not None:
            await hub.close(1001, "server shutdown")
        await http.close_all_connections()


NaiveFrameworkApp = NaiveAiohttpApp | NaiveTornadoApp
GuardedFrameworkApp = GuardedAiohttpApp | GuardedTornadoApp


def make_apps(framework: str) -> tuple[NaiveFrameworkApp, GuardedFrameworkApp]:
    """The naive and the guarded app of ``framework`` (``aiohttp`` or ``tornado``)."""
    if framework == "aiohttp":
        return NaiveAiohttpApp(), GuardedAiohttpApp()
    if framework == "tornado":
        return NaiveTornadoApp(), GuardedTornadoApp()
    raise ValueError(f"no demo for {framework!r}; demos: {', '.join(FRAMEWORKS)}")


def format_framework_results(results: list[DemoResult]) -> str:
    """The side-by-side table of the framework columns (naive and wsstate per framework)."""
    rows = [
        ("ERROR records (any logger)", [str(r.errors) for r in results]),
        ("tracebacks", [str(r.tracebacks) for r in results]),
        ("unretrieved task exceptions", [str(r.unretrieved) for r in results]),
        (
            "on_close saw no close code",
            ["-" if r.no_code is None else str(r.no_code) for r in results],
        ),
        ("messages delivered", [str(r.delivered) for r in results]),
        ("wall time (s)", [f"{r.seconds:.1f}" for r in results]),
    ]
    out = [f"{'':<30}" + "".join(f"{r.name:>17}" for r in results)]
    for label, values in rows:
        out.append(f"{label:<30}" + "".join(f"{v:>17}" for v in values))
    return "\n".join(out) + "\n" + FRAMEWORK_TABLE_NOTE


#: Why the last rows differ between the columns (printed under the framework table).
FRAMEWORK_TABLE_NOTE = """
why the last two rows differ:
  messages delivered  every message the clients received (echoes and pushed
                      updates). Every column sends each update once to each
                      connected client. The naive tornado app pushes from a
                      PeriodicCallback on a fixed 5 ms schedule; the other columns
                      push from the storm's loop, which sleeps 5 ms after each
                      round, so their rounds come less often the longer a round
                      takes (the naive aiohttp loop awaits each send and logs a
                      traceback per dead connection; the Hub never waits on a
                      member). Not a delivery guarantee: updates to peers that
                      left are lost in every column.
  wall time           set by the storm's phases (fixed waits for the half-open
                      peers, the closing handshakes), not by the handlers: about
                      the same in every column.
  on_close saw no     tornado's on_close after an abrupt drop (close_code None, as
  close code          Bokeh logs it); under wsstate the table gives every closure
                      a code (1006 for a lost transport). aiohttp has no on_close.
"""


def frameworks_section() -> int:
    """Run the storm on each installed framework, naive and guarded, and print the table;
    1 if a wsstate column is not clean."""
    import sys

    print()
    print("the same storm on aiohttp and tornado: each framework's naive handler")
    print("(aiohttp: send_str in a broadcast loop with log.exception; tornado, Bokeh-style:")
    print("write_message not awaited from a PeriodicCallback) against the guarded one\n")
    installed = [f for f in FRAMEWORKS if available(f)]
    for missing in sorted(set(FRAMEWORKS) - set(installed)):
        print(f"{missing}: skipped: pip install 'wsstate[{missing}]'")
    if not installed:
        return 0

    def progress(line: str) -> None:
        print(line, flush=True)

    async def run_all() -> list[DemoResult]:
        results = []
        for framework in installed:
            naive, guarded = make_apps(framework)
            results.append(await run_variant(f"{framework} naive", naive, progress))
            results.append(await run_variant(f"{framework} wsstate", guarded, progress))
        return results

    results = asyncio.run(run_all())
    print()
    print(format_framework_results(results))
    status = 0
    for r in results:
        if r.name.endswith("naive") and r.first_error:
            print(f"first {r.name} ERROR: {r.first_error}")
    for r in results:
        if r.name.endswith("wsstate") and (r.errors or r.tracebacks or r.unretrieved):
            print(f"{r.name} column is not clean: first ERROR: {r.first_error}", file=sys.stderr)
            status = 1
    if not status:
        print(
            "wsstate on " + " and ".join(installed) + ": zero ERROR records, zero tracebacks, "
            "zero unretrieved task exceptions"
        )
    return status
