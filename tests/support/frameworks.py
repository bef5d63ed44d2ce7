"""aiohttp and tornado endpoints for the scenario suite (support.transports dispatches here).

Server side: a real aiohttp (``web.AppRunner``) or tornado (``HTTPServer``) server
on 127.0.0.1, its WebSocket guarded as each framework's users would (aiohttp:
``prepare()`` then :func:`wsstate.guard`; tornado: :func:`wsstate.guard` in
``open()``); the peer is a raw websockets client through a
:class:`~wsstate.testing.FaultProxy`. Client side: a real aiohttp
``ClientSession.ws_connect`` or tornado ``websocket_connect`` through the proxy to
a raw websockets server, guarded. Every server, session and connection is
stopped at teardown.

A server given a :class:`wsstate.Hub` of its guarded connections closes them
with 1001 when it stops, through the framework's own shutdown hook (row 18):
aiohttp's ``on_shutdown`` signal (run by ``AppRunner.cleanup()`` once the site
stopped listening), for tornado before ``HTTPServer.close_all_connections()``
(which does not reach upgraded WebSocket streams). docs/aiohttp.md and
docs/tornado.md show the same wiring.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection

import wsstate
from support.harness import GUARD_DEFAULTS, OPEN_TIMEOUT, WS_DEFAULTS, Harness, Pair, Role
from wsstate import GuardedConnection
from wsstate.adapters.aiohttp import AiohttpTransport
from wsstate.adapters.tornado import TornadoTransport

Endpoint = Callable[[Any], Awaitable[None]]


class Server:
    """A running aiohttp or tornado server whose WebSocket endpoint is ``endpoint``.

    ``endpoint`` receives the native object (an aiohttp ``WebSocketResponse`` after
    ``prepare()``; a tornado ``WebSocketHandler`` in ``open()``) and runs for as
    long as the connection should.
    """

    def __init__(
        self,
        framework: str,
        hub: wsstate.Hub | None = None,
        subprotocols: Sequence[str] = (),
    ) -> None:
        self.framework = framework
        self.hub = hub
        self.subprotocols = tuple(subprotocols)
        self.port = 0
        self._stop: Callable[[], Awaitable[None]] | None = None
        self._connections: Callable[[], set[Any]] = set
        self.stopped = False

    @property
    def connections(self) -> set[Any]:
        """The server's live TCP connections."""
        return self._connections()

    @classmethod
    async def start(
        cls,
        h: Harness,
        framework: str,
        endpoint: Endpoint,
        hub: wsstate.Hub | None = None,
        subprotocols: Sequence[str] = (),
    ) -> Server:
        """Start the server; with ``hub``, its shutdown closes the hub's connections (1001).

        ``subprotocols``: those the server accepts (the first the client offers is chosen)."""
        server = cls(framework, hub, subprotocols)
        if framework == "aiohttp":
            await server._start_aiohttp(endpoint)
        else:
            await server._start_tornado(endpoint)
        h.defer(server.stop)
        return server

    async def stop(self) -> None:
        """Stop the server (as on SIGTERM); once."""
        if not self.stopped and self._stop is not None:
            self.stopped = True
            await self._stop()

    async def _start_aiohttp(self, endpoint: Endpoint) -> None:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(protocols=self.subprotocols)
            await ws.prepare(request)
            await endpoint(ws)
            return ws

        app = web.Application()
        app.router.add_get("/", handler)
        hub = self.hub
        if hub is not None:

            async def on_shutdown(app: web.Application) -> None:
                await hub.close(1001, "server shutdown")

            app.on_shutdown.append(on_shutdown)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        sockets = getattr(site._server, "sockets", None)  # an asyncio.Server's
        assert sockets
        self.port = sockets[0].getsockname()[1]
        self._stop = runner.cleanup
        server = runner.server
        assert server is not None
        self._connections = lambda: set(server.connections)

    async def _start_tornado(self, endpoint: Endpoint) -> None:
        tasks: set[asyncio.Task[None]] = set()
        accepted = self.subprotocols

        class Handler(tornado.websocket.WebSocketHandler):
            def get_compression_options(self) -> dict[str, Any]:
                return {}  # permessage-deflate on, as the websockets peer offers it

            def select_subprotocol(self, subprotocols: list[str]) -> str | None:
                return next((p for p in subprotocols if p in accepted), None)

            async def open(self, *args: str, **kwargs: str) -> None:
                task = asyncio.ensure_future(endpoint(self))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(0)  # the endpoint guards the handler before any message

        http, self.port = tornado_http([("/", Handler)])

        hub = self.hub

        async def stop() -> None:
            http.stop()
            if hub is not None:
                await hub.close(1001, "server shutdown")
            await http.close_all_connections()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._stop = stop
        self._connections = lambda: set(http._connections)


def tornado_http(
    routes: list[tuple[str, type[tornado.web.RequestHandler]]], **settings: Any
) -> tuple[tornado.httpserver.HTTPServer, int]:
    """A tornado ``HTTPServer`` of ``routes`` listening on 127.0.0.1 (an ephemeral
    port), its access log off, and its port; ``settings`` go to the Application."""
    app = tornado.web.Application(routes, log_function=lambda handler: None, **settings)
    http = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    http.add_sockets(sockets)
    port: int = sockets[0].getsockname()[1]
    return http, port


async def serve_tornado(
    h: Harness, routes: list[tuple[str, type[tornado.web.RequestHandler]]], **settings: Any
) -> tuple[tornado.httpserver.HTTPServer, int]:
    """:func:`tornado_http`, stopped at teardown (listening, then its connections)."""
    http, port = tornado_http(routes, **settings)

    async def stop() -> None:
        http.stop()
        await http.close_all_connections()

    h.defer(stop)
    return http, port


async def pair(
    h: Harness,
    framework: str,
    role: Role,
    *,
    ws: dict[str, Any] | None = None,
    peer: dict[str, Any] | None = None,
    **options: Any,
) -> Pair:
    """A guarded aiohttp or tornado endpoint in ``role`` and its raw websockets peer.

    ``ws``: ``subprotocols`` the guarded endpoint's server accepts or client offers;
    ``peer``: the raw websockets peer's options (``support.harness.Harness.pair``).
    """
    guard_options = {**GUARD_DEFAULTS, **options}
    subprotocols = (ws or {}).get("subprotocols", ())
    peer_options = {**WS_DEFAULTS, **(peer or {})}
    loop = asyncio.get_running_loop()
    if role == "server":
        guarded: asyncio.Future[GuardedConnection] = loop.create_future()

        async def endpoint(native: Any) -> None:
            conn = wsstate.guard(native, **guard_options)
            guarded.set_result(conn)
            await conn.wait_closed()

        server = await Server.start(h, framework, endpoint, subprotocols=subprotocols)
        proxy = await h.proxy(server.port)
        client = await ws_connect(proxy.url, **peer_options)
        h.defer(client.close)
        conn = await asyncio.wait_for(guarded, OPEN_TIMEOUT)
        h.defer(lambda: conn.close())
        result = Pair(role, conn, client, server, proxy)
    else:
        accepted: asyncio.Future[ServerConnection] = loop.create_future()

        async def raw_handler(sock: ServerConnection) -> None:
            accepted.set_result(sock)
            await sock.wait_closed()

        ws_server = await h.serve(raw_handler, **peer_options)
        proxy = await h.proxy(ws_server)
        conn = await open_client(
            h, framework, proxy.url, subprotocols=subprotocols, **guard_options
        )
        raw: Connection = await asyncio.wait_for(accepted, OPEN_TIMEOUT)
        h.defer(raw.close)
        result = Pair(role, conn, raw, ws_server, proxy)
    result.notified = h.track(result.conn)
    async with asyncio.timeout(OPEN_TIMEOUT):
        (result.link,) = await result.proxy.wait_connections(1)  # type: ignore[union-attr]
    return result


async def open_client(
    h: Harness, framework: str, url: str, *, subprotocols: Sequence[str] = (), **options: Any
) -> GuardedConnection:
    """A guarded aiohttp or tornado client connection to ``url`` (offering
    ``subprotocols``), closed at teardown."""
    if framework == "aiohttp":
        session = aiohttp.ClientSession()
        h.defer(session.close)
        ws = await session.ws_connect(
            url, compress=15, autoping=False, protocols=tuple(subprotocols)
        )
        conn = wsstate.guard(ws, **options)
    else:
        native = await tornado.websocket.websocket_connect(
            url, compression_options={}, subprotocols=list(subprotocols) or None
        )
        conn = wsstate.guard(native, **options)
    h.defer(lambda: conn.close())
    return conn


def native_close(conn: GuardedConnection) -> tuple[int | None, str | None]:
    """The closure as aiohttp or tornado reported it: (code, reason).

    aiohttp keeps the code only; the reason is the one the adapter read from the
    peer's Close frame.
    """
    transport = conn.transport
    if isinstance(transport, AiohttpTransport):
        rcvd = transport.facts().close_rcvd
        return transport.websocket.close_code, (rcvd[1] if rcvd else None)
    assert isinstance(transport, TornadoTransport)
    native = transport.websocket
    return native.close_code, native.close_reason


class TornadoBuffer:
    """The write buffer of a tornado stream, seen as an asyncio transport's (what tests read)."""

    def __init__(self, transport: TornadoTransport) -> None:
        self._stream = transport._stream

    def get_write_buffer_size(self) -> int:
        buffered = self._stream._write_buffer
        return 0 if buffered is None else len(buffered)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 0, transport_write_limit()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._stream.socket if name == "socket" else default

    def is_reading(self) -> bool:
        return not self._stream.reading()


def transport_write_limit() -> int:
    from wsstate.adapters.tornado import DEFAULT_WRITE_LIMIT

    return DEFAULT_WRITE_LIMIT


def write_transport(conn: GuardedConnection) -> Any:
    """What the guarded endpoint writes to: an asyncio transport (aiohttp) or
    :class:`TornadoBuffer`."""
    transport = conn.transport
    if isinstance(transport, AiohttpTransport):
        return AiohttpBuffer(transport)
    assert isinstance(transport, TornadoTransport)
    return TornadoBuffer(transport)


class AiohttpBuffer:
    """aiohttp's asyncio transport, whose limit is its own high-water mark plus aiohttp's
    writer limit: aiohttp checks the transport only once it wrote that much since."""

    def __init__(self, transport: AiohttpTransport) -> None:
        self._raw = transport._raw
        self._writer_limit: int = transport._writer._limit

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        low, high = self._raw.get_write_buffer_limits()
        return low, high + self._writer_limit

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._raw.get_extra_info(name, default)

    def is_reading(self) -> bool:
        return self._raw.is_reading()
