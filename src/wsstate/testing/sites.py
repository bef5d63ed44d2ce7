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

A transport adapter written outside wsstate becomes a role too: an
:class:`AdapterRole` says how to open a server or a client connection of its
kind and hands the harness its :class:`~wsstate.adapters.base.Transport`; its
site is an :class:`AdapterSite` (:func:`wsstate.testing.check_adapter`).

Servers accept the raw peer's connection with no extension (no compression),
without their own keepalive (wsstate's replaces it) and with the library's own
close timeout longer than the harness's, so that the table's timers decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..adapters.base import Transport
from ..connection import GuardedConnection, Options
from ..guard import guard
from ..machines.connection import Event, State
from . import _heap
from .faultproxy import FaultProxy, ProxiedConnection
from .loopwatch import LoopWatch
from .peer import RawPeer, RawServer
from .resources import ResourceSnapshot
from .wiretap import Direction

__all__ = [
    "SITES",
    "AdapterRole",
    "AdapterSite",
    "AiohttpClientSite",
    "AiohttpServerSite",
    "Connect",
    "NoSite",
    "OnTransport",
    "Serve",
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
    collection (its report then is not the site's), which
    :mod:`wsstate.testing._heap` makes when the frozen heap has grown by a
    quarter.

    Args:
        settle: how long opening a connection may take (seconds).
        library_close_timeout: the transport library's own close timeout, where
            it has one to set.
    """

    #: The direction the guarded side writes in, through the proxy.
    out_direction: Direction = Direction.S2C
    #: The path of the WebSocket endpoint on the server.
    path: str = "/"

    def __init__(self, *, settle: float = 5.0, library_close_timeout: float = 5.0) -> None:
        self.settle = settle
        self.library_close_timeout = library_close_timeout
        self.proxy: FaultProxy | None = None
        #: Options of :func:`wsstate.guard` for the connection being opened.
        self.options: dict[str, Any] = {}
        self._opened = False
        self._hold: _heap.Hold | None = None

    async def open(self) -> None:
        """Start the server and the proxy (if that fails, what it set up is undone)."""
        # What exists now is not the site's: out of the collector's sight until
        # close(), whose collection then looks at the site's objects only (a full
        # collection of a test process's heap takes tens of milliseconds). Held
        # before the site records anything: a full collection hold() makes reports
        # earlier garbage, which is not the site's.
        self._hold = _heap.hold()
        self.errors = _ErrorRecords()
        logging.getLogger().addHandler(self.errors)
        self.watch = LoopWatch().__enter__()
        self._opened = True
        try:
            port = await self._start()
            self.proxy = await FaultProxy("127.0.0.1", port, read_size=READ_SIZE).start()
            #: Descriptors and tasks with the site open: what each connection must leave.
            self.baseline = ResourceSnapshot.take()
        except BaseException:
            with contextlib.suppress(Exception):  # the failure to start is the error
                await self.close()
            raise

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
            if self._hold is not None:
                self._hold.release()

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

    out_direction: Direction = Direction.C2S

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

    path: str = "/ws"

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


#: What an :class:`AdapterRole`'s server calls with each connection's transport: it
#: guards the transport and returns once the guarded connection is CLOSED (a
#: server handler awaits it and then returns).
OnTransport = Callable[[Transport], Awaitable[None]]

#: A server role's ``serve(sock, on_transport)``: an async context manager that runs
#: a server of the adapter's kind on ``sock`` (listening on 127.0.0.1, already
#: bound) while entered, and awaits ``on_transport(transport)`` for each WebSocket
#: connection it accepts, with the adapter's :class:`~wsstate.adapters.base.Transport`
#: of it, open (the opening handshake done). Leaving it stops the server.
Serve = Callable[[socket.socket, OnTransport], contextlib.AbstractAsyncContextManager[object]]

#: A client role's ``connect(url)``: open a client connection of the adapter's kind to
#: ``url`` (``ws://127.0.0.1:PORT/PATH``) and return its Transport, open.
Connect = Callable[[str], Awaitable[Transport]]


def _check_pairs(what: str, pairs: Mapping[Any, Any], check: Callable[[Any], bool]) -> None:
    for key, value in pairs.items():
        if not (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], State)
            and isinstance(key[1], Event)
        ):
            raise TypeError(f"AdapterRole {what}: keys are (State, Event) pairs, not {key!r}")
        if not check(value):
            raise TypeError(f"AdapterRole {what}[{key[0]}, {key[1]}]: invalid value {value!r}")


@dataclass(frozen=True)
class AdapterRole:
    """A transport adapter written outside wsstate, as a role of the stateful harness.

    Build it with :meth:`server` or :meth:`client`; check it with
    :func:`wsstate.testing.check_adapter`. The harness guards the adapter's
    :class:`~wsstate.adapters.base.Transport` open
    (``GuardedConnection(transport, options, opened=True)``), drives it from the
    table's events against a raw peer through the fault proxy, and compares its
    state with the reference chart after every step.

    Fields:

    * ``name``: the role's name in reports and replay lines (not a built-in role's).
    * ``side``: ``"server"`` (the guarded side accepts, the raw peer is a client)
      or ``"client"`` (the guarded side connects to a raw server).
    * ``serve``: a server role's server (``Serve``: an async context manager
      ``serve(sock, on_transport)``); ``connect``: a client role's
      ``await connect(url)`` (``Connect``).
    * ``path``: the WebSocket endpoint's path on the server.
    * ``doc``: what the guarded side is, as a phrase ("a websockets server
      behind MyTransport"), for reports.
    * ``not_drivable``: pairs of the table the adapter cannot take, each with
      the reason (it replaces the harness's own for that pair); the coverage
      report lists them.
    * ``follow_ups``: events the adapter feeds the table together with a driven
      one (``{(OPEN, PEER_CLOSE): (TRANSPORT_EOF,)}``: it reports the end of
      TCP with the peer's Close); the model takes them too.
    * ``fed_as``: driven events the adapter feeds as another, with why
      (``{(OPEN, TRANSPORT_ERROR): (TRANSPORT_EOF, "a reset reads as EOF")}``).
    * ``has_ping``: False if the transport's ``ping()`` returns None (no ping).
    * ``queued``: how many received messages wait for ``recv()`` in a transport
      (default: its ``queued`` attribute); the harness waits on it for a peer's
      message to arrive.

    A field that cannot work raises TypeError or ValueError at construction.
    """

    name: str
    side: Literal["server", "client"]
    serve: Serve | None = None
    connect: Connect | None = None
    path: str = "/"
    doc: str = ""
    not_drivable: Mapping[tuple[State, Event], str] = field(default_factory=dict)
    follow_ups: Mapping[tuple[State, Event], tuple[Event, ...]] = field(default_factory=dict)
    fed_as: Mapping[tuple[State, Event], tuple[Event, str]] = field(default_factory=dict)
    has_ping: bool = True
    queued: Callable[[Transport], int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip():
            raise ValueError(f"AdapterRole name: a non-empty name, not {self.name!r}")
        if self.name in SITES:
            raise ValueError(f"AdapterRole name {self.name!r} is a built-in role's")
        if self.side not in ("server", "client"):
            raise ValueError(f"AdapterRole side: 'server' or 'client', not {self.side!r}")
        wanted, other = ("serve", "connect") if self.side == "server" else ("connect", "serve")
        if not callable(getattr(self, wanted)):
            raise TypeError(f"a {self.side} AdapterRole needs {wanted}= (a callable)")
        if getattr(self, other) is not None:
            raise TypeError(f"a {self.side} AdapterRole takes no {other}=")
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError(f"AdapterRole path must start with '/', not {self.path!r}")
        if self.queued is not None and not callable(self.queued):
            raise TypeError(f"AdapterRole queued: a callable, not {self.queued!r}")
        _check_pairs("not_drivable", self.not_drivable, lambda v: isinstance(v, str) and v != "")
        _check_pairs(
            "follow_ups",
            self.follow_ups,
            lambda v: isinstance(v, tuple) and all(isinstance(e, Event) for e in v),
        )
        _check_pairs(
            "fed_as",
            self.fed_as,
            lambda v: (
                isinstance(v, tuple)
                and len(v) == 2
                and isinstance(v[0], Event)
                and isinstance(v[1], str)
            ),
        )

    @classmethod
    def server(cls, name: str, serve: Serve, **kwargs: Any) -> AdapterRole:
        """A server role: ``serve(sock, on_transport)`` runs the adapter's server."""
        return cls(name, "server", serve=serve, **kwargs)

    @classmethod
    def client(cls, name: str, connect: Connect, **kwargs: Any) -> AdapterRole:
        """A client role: ``await connect(url)`` opens the adapter's client connection."""
        return cls(name, "client", connect=connect, **kwargs)


class AdapterSite(Site):
    """The site of an :class:`AdapterRole`: its server, or a raw server for its client."""

    def __init__(self, role: AdapterRole, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.role = role
        self.path = role.path
        self.client = role.side == "client"
        if self.client:
            self.out_direction = Direction.C2S
        self._raw = RawServer()
        # A guarded connection, or what made guarding it fail (raised by _connect).
        self._guarded: asyncio.Queue[GuardedConnection | Exception] = asyncio.Queue()
        self._stack = contextlib.AsyncExitStack()
        self._sock: socket.socket | None = None

    def _wrap(self, transport: object) -> GuardedConnection:
        if not isinstance(transport, Transport):
            how = "connect()" if self.client else "serve()'s on_transport"
            raise TypeError(
                f"role {self.role.name!r}: {how} takes a wsstate.adapters.base.Transport, "
                f"not {type(transport).__qualname__}"
            )
        options = dict(self.options)
        name = options.pop("name", None) or self.role.name
        return GuardedConnection(transport, Options(**options), opened=True, name=name)

    async def _on_transport(self, transport: Transport) -> None:
        try:
            conn = self._wrap(transport)
        except Exception as exc:  # the check's finding, raised where it connects
            self._guarded.put_nowait(exc)
            return
        self._guarded.put_nowait(conn)
        await conn.wait_closed()

    async def _start(self) -> int:
        if self.client:
            return await self._raw.start()
        assert self.role.serve is not None
        self._sock = sock = _listening_socket()
        await self._stack.enter_async_context(self.role.serve(sock, self._on_transport))
        return int(sock.getsockname()[1])

    async def _connect(self, url: str) -> tuple[GuardedConnection, RawPeer]:
        if self.client:
            assert self.role.connect is not None
            conn = self._wrap(await self.role.connect(url))
            return conn, await self._raw.peers.get()
        peer = await RawPeer.connect(url)
        guarded = await self._guarded.get()
        if isinstance(guarded, Exception):
            await peer.close()
            raise guarded
        return guarded, peer

    async def _stop(self) -> None:
        try:
            if self.client:
                await self._raw.close()
            else:
                await self._stack.aclose()
        finally:
            if self._sock is not None:
                self._sock.close()


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
