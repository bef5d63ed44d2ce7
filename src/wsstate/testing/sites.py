"""Where the stateful harness gets its connections: one *site* per role.

A :class:`Site` is the long-lived part of a role: the real server (or, for a
client role, the :class:`~wsstate.testing.peer.RawServer` the guarded client
connects to) and the :class:`~wsstate.testing.faultproxy.FaultProxy` in front of
it. :meth:`Site.connect` opens one fresh guarded connection through it and
returns the guarded side, its raw peer and the proxied TCP connection between
them; every fault the harness injects is a fault of that one proxied connection
(:class:`~wsstate.testing.faultproxy.ProxiedConnection`), so connections opened
one after the other through the same site never see each other's faults.

A fresh server and proxy per connection would prove nothing a fresh connection
does not: the guarded side is a new connection object, guarded anew, on a new
TCP connection with a new wire tap, in either case. The harness therefore keeps
a site for as many connections as its caller wants (a tour, a Hypothesis
example) and checks, after each connection, that descriptors and tasks are back
to what they were with the site open (:mod:`wsstate.testing.stateful`).

Roles and their sites (:data:`SITES`):

========================  ===================================================
``server``                a websockets server guards each connection
``client``                a websockets client, guarded, to a raw server
``asgi-sansio``           ``guard(websocket)`` in Starlette on uvicorn (websockets-sansio)
``asgi-wsproto``          the same with uvicorn's wsproto implementation
``aiohttp-server``        an aiohttp ``web.WebSocketResponse`` guarded after ``prepare()``
``aiohttp-client``        an aiohttp ``ClientSession.ws_connect`` connection, guarded
``tornado-server``        a tornado ``WebSocketHandler`` guarded in ``open()``
``tornado-client``        a tornado ``websocket_connect`` connection, guarded
========================  ===================================================

Servers accept the raw peer's connection with no extension (no compression),
without their own keepalive (wsstate's replaces it) and with the library's own
close timeout longer than the harness's, so that the table's timers decide.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from typing import Any, ClassVar, Final

from ..connection import GuardedConnection
from ..guard import guard
from .faultproxy import FaultProxy, ProxiedConnection
from .loopwatch import LoopWatch
from .peer import RawPeer, RawServer
from .resources import ResourceSnapshot
from .wiretap import Direction

__all__ = [
    "SITES",
    "AiohttpClientSite",
    "AiohttpServerSite",
    "NoSite",
    "Site",
    "StarletteSite",
    "TornadoClientSite",
    "TornadoServerSite",
    "WebsocketsClientSite",
    "WebsocketsServerSite",
]


#: The proxy's largest read (its default is 16 KiB): the stall rule's half megabyte
#: crosses it in a few reads. Each leg allocates a buffer of this size.
READ_SIZE: Final = 64 * 1024


#: Sockets are made with ``proto=IPPROTO_TCP``: asyncio sets TCP_NODELAY only on
#: such sockets (and accepted ones inherit the listening socket's), and without
#: it a few-byte frame can wait 40 ms for a delayed ACK (Nagle).
#:
#: The send buffer of the servers' accepted sockets (inherited from the listening
#: socket): the stall rule fills it and the proxy's, then the whole of it crosses
#: the proxy once the slow reader reads again. Left to the kernel it grows to
#: megabytes (``tcp_wmem``); messages of the other rules are a few bytes.
SEND_BUFFER: Final = 64 * 1024


def _listening_socket() -> socket.socket:
    """A socket listening on an ephemeral port of 127.0.0.1, send buffer :data:`SEND_BUFFER`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def _connected_socket(port: int) -> socket.socket:
    """A socket connected to 127.0.0.1:``port``, send buffer :data:`SEND_BUFFER`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


class _ErrorRecords(logging.Handler):
    """Every log record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Site:
    """A role's server (or raw server) and the fault proxy in front of it.

    From :meth:`open` to :meth:`close` the site records every log record at
    ERROR and every call of the loop's exception handler (:attr:`watch`); the
    harness checks them after each step and connection, and :meth:`close`
    once more after collecting garbage (a failed task nobody awaited is
    reported when it is collected): it raises AssertionError listing them.
    The objects that existed before :meth:`open` are frozen
    (:func:`gc.freeze`) until :meth:`close`, so that its collection costs
    what the site made, not the whole process's heap; an object of before
    that becomes garbage in a reference cycle meanwhile waits for a later
    collection (its report then is not the site's).

    Args:
        settle: how long opening a connection may take (seconds).
        library_close_timeout: the transport library's own close timeout, where
            it has one to set.
    """

    #: The direction the guarded side writes in, through the proxy.
    out_direction: ClassVar[Direction] = Direction.S2C
    #: The path of the WebSocket endpoint on the server.
    path: ClassVar[str] = "/"

    def __init__(self, *, settle: float = 5.0, library_close_timeout: float = 5.0) -> None:
        self.settle = settle
        self.library_close_timeout = library_close_timeout
        self.proxy: FaultProxy | None = None
        #: Options of :func:`wsstate.guard` for the connection being opened.
        self.options: dict[str, Any] = {}
        self._opened = False
        self._frozen = False

    async def open(self) -> None:
        """Start the server and the proxy."""
        self.errors = _ErrorRecords()
        logging.getLogger().addHandler(self.errors)
        # What exists now is not the site's: out of the collector's sight until
        # close(), whose collection then looks at the site's objects only (a full
        # collection of a test process's heap takes tens of milliseconds).
        gc.freeze()
        self._frozen = True
        self.watch = LoopWatch().__enter__()
        self._opened = True
        port = await self._start()
        self.proxy = await FaultProxy("127.0.0.1", port, read_size=READ_SIZE).start()
        #: Descriptors and tasks with the site open: what each connection must leave.
        self.baseline = ResourceSnapshot.take()

    async def connect(
        self, options: dict[str, Any]
    ) -> tuple[GuardedConnection, RawPeer, ProxiedConnection]:
        """A fresh guarded connection (``guard(native, **options)``), its peer, its proxied link."""
        assert self.proxy is not None, "open() the site first"
        self.options = options
        proxy = self.proxy
        before = len(proxy.accepted)
        async with asyncio.timeout(self.settle):
            conn, peer = await self._connect(f"ws://127.0.0.1:{proxy.port}{self.path}")
            # Not proxy.wait_connections(n): it waits on each of the n accepted so far.
            # The proxy accepts in this loop, within a few turns of the connect.
            while len(proxy.accepted) <= before:  # noqa: ASYNC110 - its event is private
                await asyncio.sleep(0)
            pair = proxy.accepted[before]
            await pair.connected.wait()
        return conn, peer, pair

    def release(self, pair: ProxiedConnection) -> None:
        """Forget a connection that ended (its legs closed): the proxy keeps every
        connection it accepted, and a site serves thousands."""
        assert self.proxy is not None
        assert pair.closed, f"{pair} is still open"
        self.proxy.accepted.remove(pair)

    async def close(self) -> None:
        """Stop the proxy and the server. Idempotent."""
        if not self._opened:
            return
        self._opened = False
        try:
            try:
                if self.proxy is not None:
                    await self.proxy.close()
            finally:
                await self._stop()
            # Leaving the watch collects garbage first (a failed task nobody awaited
            # is reported then), with the handler still recording: one collection.
            self.watch.__exit__(None, None, None)
            self.watch.assert_not_called(collect=False)
            formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
            assert not self.errors.records, "\n".join(
                formatter.format(r) for r in self.errors.records
            )
        finally:
            logging.getLogger().removeHandler(self.errors)
            self.watch.__exit__(None, None, None)
            if self._frozen:
                self._frozen = False
                gc.unfreeze()

    # -- per kind of site --------------------------------------------------------

    async def _start(self) -> int:
        """Start the server; return its port."""
        raise NotImplementedError

    async def _connect(self, url: str) -> tuple[GuardedConnection, RawPeer]:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class _ServerSite(Site):
    """A server that guards each connection; the raw peer is a client."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guarded: asyncio.Queue[GuardedConnection] = asyncio.Queue()

    def _guard(self, native: Any) -> GuardedConnection:
        conn = guard(native, **self.options)
        self._guarded.put_nowait(conn)
        return conn

    async def _connect(self, url: str) -> tuple[GuardedConnection, RawPeer]:
        peer = await RawPeer.connect(url)
        conn = await self._guarded.get()
        return conn, peer


class _ClientSite(Site):
    """A raw server; the guarded side is a client of it."""

    out_direction: ClassVar[Direction] = Direction.C2S

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._raw = RawServer()

    async def _start(self) -> int:
        return await self._raw.start()

    async def _connect(self, url: str) -> tuple[GuardedConnection, RawPeer]:
        conn = guard(await self._open_client(url), **self.options)
        peer = await self._raw.peers.get()
        return conn, peer

    async def _open_client(self, url: str) -> Any:
        raise NotImplementedError

    async def _stop(self) -> None:
        await self._raw.close()


class WebsocketsServerSite(_ServerSite):
    """A websockets server (``serve``) guarding each connection in its handler."""

    async def _start(self) -> int:
        from websockets.asyncio.server import ServerConnection, serve

        async def handler(ws: ServerConnection) -> None:
            await self._guard(ws).wait_closed()

        self._server = await serve(
            handler,
            sock=_listening_socket(),
            ping_interval=None,
            close_timeout=self.library_close_timeout,
            compression=None,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class WebsocketsClientSite(_ClientSite):
    """A websockets client (``connect``), guarded."""

    async def _open_client(self, url: str) -> Any:
        from websockets.asyncio.client import connect

        assert self.proxy is not None
        return await connect(
            url,
            sock=await _connected_socket(self.proxy.port),
            ping_interval=None,
            close_timeout=self.library_close_timeout,
            compression=None,
        )


class StarletteSite(_ServerSite):
    """``guard(websocket)`` before ``accept()`` in a Starlette app on a real uvicorn."""

    path: ClassVar[str] = "/ws"

    def __init__(self, impl: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.impl = impl

    async def _start(self) -> int:
        from starlette.websockets import WebSocket

        from .asgi import AsgiSite

        async def endpoint(websocket: WebSocket) -> None:
            conn = guard(websocket, **self.options)  # before accept(): CONNECTING
            if await conn.accept():
                self._guarded.put_nowait(conn)
            await conn.wait_closed()

        self._site = AsgiSite(self.impl, endpoint)
        await self._site.start(self.settle)
        return self._site.port

    async def _stop(self) -> None:
        await self._site.stop()


class AiohttpServerSite(_ServerSite):
    """An aiohttp server: ``web.WebSocketResponse``, ``prepare()``, then guarded."""

    async def _start(self) -> int:
        from aiohttp import web

        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await self._guard(ws).wait_closed()
            return ws

        app = web.Application()
        app.router.add_get(self.path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._sock = _listening_socket()
        await web.SockSite(self._runner, self._sock).start()
        return int(self._sock.getsockname()[1])

    async def _stop(self) -> None:
        try:
            await self._runner.cleanup()
        finally:
            self._sock.close()


class AiohttpClientSite(_ClientSite):
    """An aiohttp client (``ClientSession.ws_connect``), guarded; one session per site."""

    async def _start(self) -> int:
        import aiohttp

        self._session = aiohttp.ClientSession()
        return await super()._start()

    async def _open_client(self, url: str) -> Any:
        return await self._session.ws_connect(url)

    async def _stop(self) -> None:
        try:
            await self._session.close()
        finally:
            await super()._stop()


class TornadoServerSite(_ServerSite):
    """A tornado server: a plain ``WebSocketHandler`` guarded in ``open()``."""

    async def _start(self) -> int:
        import tornado.httpserver
        import tornado.web
        import tornado.websocket

        site = self

        class Handler(tornado.websocket.WebSocketHandler):
            def open(self, *args: str, **kwargs: str) -> None:
                site._guard(self)

        app = tornado.web.Application([(self.path, Handler)], log_function=lambda h: None)
        self._http = tornado.httpserver.HTTPServer(app)
        sock = _listening_socket()
        self._http.add_sockets([sock])
        return int(sock.getsockname()[1])

    async def _stop(self) -> None:
        self._http.stop()
        await self._http.close_all_connections()


class TornadoClientSite(_ClientSite):
    """A tornado client (``websocket_connect``), guarded."""

    async def _open_client(self, url: str) -> Any:
        import tornado.websocket

        native = await tornado.websocket.websocket_connect(url)
        # Set before any data: the kernel then never grows it (SEND_BUFFER).
        stream = native.protocol.stream if native.protocol is not None else None
        if stream is not None and stream.socket is not None:
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        return native


class NoSite:
    """The site of a harness that opens everything per connection (client, session machines).

    It holds nothing: :meth:`open` and :meth:`close` do nothing. The generated
    tests bracket each example with a site whatever the machine.
    """

    async def open(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to stop."""


#: The site of each role (see the module doc), built as ``SITES[role](**kwargs)``.
SITES: Final[dict[str, Any]] = {
    "server": WebsocketsServerSite,
    "client": WebsocketsClientSite,
    "asgi-sansio": lambda **kw: StarletteSite("websockets-sansio", **kw),
    "asgi-wsproto": lambda **kw: StarletteSite("wsproto", **kw),
    "aiohttp-server": AiohttpServerSite,
    "aiohttp-client": AiohttpClientSite,
    "tornado-server": TornadoServerSite,
    "tornado-client": TornadoClientSite,
}
