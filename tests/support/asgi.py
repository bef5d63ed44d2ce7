"""Starlette applications on a real uvicorn, for the tests of the Starlette adapter.

:class:`Site` runs a Starlette application on a real, in-process
``uvicorn.Server`` (in the test's own event loop, on 127.0.0.1, an ephemeral
port) with one of uvicorn's three WebSocket implementations (:data:`IMPLS`).
Its ``/guarded`` endpoint wraps each connection with :func:`wsstate.guard`, before
``accept()`` (then ``await conn.accept()``) or after, and hands the guarded
connection to the test; :meth:`Site.pair` returns it with its peer, a real
websockets client, through a :class:`~wsstate.testing.FaultProxy` by default.
uvicorn is configured with ``log_config=None``, so its records reach the root
logger and the ``h`` harness (:mod:`support.harness`) sees its ERRORs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect as ws_connect

import wsstate
from support.harness import GUARD_DEFAULTS, OPEN_TIMEOUT, WS_DEFAULTS, Harness, Pair
from wsstate import GuardedConnection
from wsstate.adapters.starlette import DEFAULT_MAX_QUEUE, StarletteTransport
from wsstate.testing import FaultProxy, Side
from wsstate.testing.asgi import QuietServer

with warnings.catch_warnings():
    # uvicorn's legacy implementation warns on import that it is deprecated.
    warnings.simplefilter("ignore")
    import uvicorn
    import uvicorn.protocols.websockets.websockets_impl

#: uvicorn's WebSocket implementations, as ``uvicorn.Config(ws=...)`` names them.
IMPLS = ("websockets", "websockets-sansio", "wsproto")
#: The close code each implementation reports for a TCP connection lost without a
#: Close frame (what the disconnect message says; wsstate reports 1006 for all).
LOST_CODE = {"websockets": 1006, "websockets-sansio": 1005, "wsproto": 1005}

Endpoint = Callable[[WebSocket], Awaitable[None]]


def legacy_with_close_timeout(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's legacy implementation with its closing handshake's timeout set.

    uvicorn does not expose it (websockets' legacy default, 10 s, is fixed): this
    scales it down as the suite scales every other timeout. Pass it to
    :meth:`Site.start` as ``ws=``.
    """
    base = uvicorn.protocols.websockets.websockets_impl.WebSocketProtocol

    class Scaled(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.close_timeout = seconds

    return Scaled


@dataclass
class _Spec:
    options: dict[str, Any]
    before_accept: bool
    conn: asyncio.Future[GuardedConnection]


class Site:
    """A Starlette app on a real uvicorn server, torn down by the harness (module doc)."""

    def __init__(
        self,
        h: Harness,
        impl: str,
        routes: dict[str, Endpoint] | None = None,
        middleware: Callable[[ASGIApp], ASGIApp] | None = None,
        app: ASGIApp | None = None,
        **config: Any,
    ) -> None:
        self.h = h
        self._app = app
        self.impl = impl
        self._routes = {"/guarded": self._guarded, **(routes or {})}
        self._middleware = middleware
        self._config = config
        self._specs: dict[str, _Spec] = {}
        self._ids = itertools.count(1)
        self.server: QuietServer | None = None
        self.port = 0
        self.proxy: FaultProxy | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        h: Harness,
        impl: str,
        routes: dict[str, Endpoint] | None = None,
        middleware: Callable[[ASGIApp], ASGIApp] | None = None,
        app: ASGIApp | None = None,
        **config: Any,
    ) -> Site:
        """Start the server (and its fault proxy); both stop at teardown.

        ``app`` replaces the Starlette app built from ``routes``; ``config`` goes to
        ``uvicorn.Config``.
        """
        site = cls(h, impl, routes, middleware, app, **config)
        await site._start()
        return site

    async def _start(self) -> None:
        app: ASGIApp = self._app or Starlette(
            routes=[WebSocketRoute(p, e) for p, e in self._routes.items()]
        )
        if self._middleware is not None:
            app = self._middleware(app)
        options: dict[str, Any] = {
            "ws": self.impl,
            "lifespan": "off",
            "log_config": None,  # records reach the root logger, and the harness
            "ws_ping_interval": None,  # wsstate is under test, not uvicorn's keepalive
            "timeout_graceful_shutdown": 3,
            **self._config,
        }
        server = QuietServer(uvicorn.Config(app, **options))
        uv_logger = logging.getLogger("uvicorn")
        level = uv_logger.level
        # The legacy implementation logs every frame at DEBUG: costly, irrelevant.
        uv_logger.setLevel(logging.INFO)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.server = server
        task = asyncio.create_task(server.serve(sockets=[sock]))

        async def stop() -> None:
            try:
                await self.shutdown()
            finally:
                uv_logger.setLevel(level)
                sock.close()

        self._task = task
        self.h.defer(stop)
        async with asyncio.timeout(5):
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.005)
        self.proxy = await FaultProxy("127.0.0.1", self.port).start()

        async def close_proxy() -> None:
            assert self.proxy is not None
            await self.proxy.close()
            self.proxy.assert_wire_clean()

        self.h.defer(close_proxy)

    async def shutdown(self) -> None:
        """Shut the server down as on SIGTERM, and wait until it is done."""
        assert self.server is not None
        assert self._task is not None
        self.server.stop()
        await self._task

    def url(self, path: str = "/guarded", *, proxy: bool = True) -> str:
        """``ws://`` URL of ``path``, through the fault proxy or straight to uvicorn."""
        assert self.proxy is not None
        port = self.proxy.port if proxy else self.port
        return f"ws://127.0.0.1:{port}{path}"

    @property
    def connections(self) -> set[Any]:
        """uvicorn's live protocol objects (one per TCP connection)."""
        assert self.server is not None
        return self.server.server_state.connections

    async def _guarded(self, websocket: WebSocket) -> None:
        spec = self._specs.pop(websocket.query_params["id"])
        if spec.before_accept:
            conn = wsstate.guard(websocket, **spec.options)
            spec.conn.set_result(conn)
            await conn.accept()
        else:
            await websocket.accept()
            conn = wsstate.guard(websocket, **spec.options)
            spec.conn.set_result(conn)
        await conn.wait_closed()

    async def pair(
        self,
        *,
        proxy: bool = True,
        before_accept: bool = True,
        peer: dict[str, Any] | None = None,
        **options: Any,
    ) -> Pair:
        """A guarded connection and its client; ``options`` are guard()'s (conftest defaults)."""
        key = str(next(self._ids))
        spec = _Spec(
            {**GUARD_DEFAULTS, **options},
            before_accept,
            asyncio.get_running_loop().create_future(),
        )
        self._specs[key] = spec
        n = len(self.proxy.accepted) if self.proxy is not None else 0
        client = await ws_connect(
            self.url(f"/guarded?id={key}", proxy=proxy), **{**WS_DEFAULTS, **(peer or {})}
        )
        self.h.defer(client.close)
        conn = await asyncio.wait_for(asyncio.shield(spec.conn), OPEN_TIMEOUT)
        # The endpoint waits for CLOSED: close it first at teardown.
        self.h.defer(conn.close)
        pair = Pair("server", conn, client, self, self.proxy if proxy else None)
        pair.notified = self.h.track(conn)
        if proxy:
            assert self.proxy is not None
            async with asyncio.timeout(OPEN_TIMEOUT):
                pair.link = (await self.proxy.wait_connections(n + 1))[n]
        return pair

    def server_transport(self, pair: Pair) -> asyncio.Transport:
        """uvicorn's transport of ``pair``'s connection (to see whether it reads)."""
        assert pair.link is not None, "this pair has no proxy"
        port = pair.link.transport(Side.SERVER).get_extra_info("sockname")[1]  # type: ignore[union-attr]
        (protocol,) = [p for p in self.connections if p.client[1] == port]
        transport: asyncio.Transport = protocol.transport
        return transport


async def fill_queues(pair: Pair) -> None:
    """Make the server stop reading the socket, as under a busy application.

    The client sends more than the adapter's queue and uvicorn's buffers hold and
    nobody reads it: the adapter stops asking uvicorn, uvicorn stops reading TCP
    (websockets-sansio and wsproto after one queued message, the legacy
    implementation after a few MiB here), so a reset arriving
    later is not noticed by any reader.
    """
    site = pair.server
    assert isinstance(site, Site)
    transport = site.server_transport(pair)
    adapter = pair.conn.transport
    assert isinstance(adapter, StarletteTransport)
    chunk = random.Random(1).randbytes(64 * 1024)  # incompressible
    async with asyncio.timeout(3.0):
        while True:
            # Full, the adapter's reader waits for recv(); only then does uvicorn's
            # pause last (it resumes whenever the reader takes its last message).
            if adapter.queued >= DEFAULT_MAX_QUEUE and not transport.is_reading():
                await asyncio.sleep(0.02)  # and it stays so
                if not transport.is_reading():
                    return
            await pair.peer.send(chunk)
            await asyncio.sleep(0)
