"""The transports the scenario suite (tests/scenarios) runs on, and what each shows.

A scenario test is written once and takes a ``transport`` parameter (a
:class:`Transport`). The transport says how to build what the test needs —
:func:`open_pair` (a guarded endpoint and its raw websockets peer, through a
:class:`~wsstate.testing.FaultProxy`), :func:`serve` (a server whose every
connection is guarded and handed to the test), :func:`host_in_other_loop` —
and what the stack under wsstate is expected to show where stacks differ: the
close code a reset shows, whether the peer's answer to our Close is reported,
whether a send right after a reset may be taken before the stack notices, who
closes at a server shutdown and with which code. Every transport also lists the
catalogue rows that do not apply to it, with the reason (:attr:`Transport.not_applicable`);
the suite prints that list and fails on a row with neither a test nor a reason
(tests/scenarios/test_catalogue.py).

A new transport (aiohttp, tornado) is one more :class:`Transport` in
:data:`TRANSPORTS` and one more branch in the builders below.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve

import wsstate
from support import frameworks
from support.asgi import Site, fill_queues
from support.harness import (
    CLOSE_TIMEOUT,
    GUARD_DEFAULTS,
    WS_DEFAULTS,
    Harness,
    Pair,
    Role,
    eventually,
    port_of,
)
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.adapters.starlette import StarletteTransport
from wsstate.testing import FaultProxy, LoopWatch

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the legacy implementation's deprecation warning
    import uvicorn

T = TypeVar("T")
Family = Literal["websockets", "asgi", "aiohttp", "tornado"]
#: Families served by a web framework of their own (support.frameworks).
FRAMEWORKS: tuple[Family, ...] = ("aiohttp", "tornado")

#: The reconnecting client's rows: it is wsstate's own websockets client, so they run on
#: ws-client only (tests/scenarios/test_reconnect.py).
CLIENT_ROWS: dict[int, str] = dict.fromkeys(
    range(29, 35),
    "the reconnecting client (wsstate.ReconnectingClient) is a websockets client: "
    "rows 29-34 run on ws-client",
)
#: The broker link's row: wsstate.RedisHub fans out between worker processes whose
#: members are websockets server connections (tests/scenarios/test_broker.py).
LINK_ROWS: dict[int, str] = {
    38: "the broker link (wsstate.RedisHub) fans out between processes whatever the "
    "transport: row 38 runs on ws-server (three worker processes, a real redis-server)",
}
#: Rows of machines not built yet: no transport runs them.
NOT_BUILT_YET: dict[int, str] = {}
#: The slow member's row: the Hub's per-member backlog is transport-independent;
#: row 36 runs on ws-server (21 real clients, one stalled: tests/scenarios/test_broadcast.py).
FANOUT_ROWS: dict[int, str] = {
    36: "the Hub's per-member backlog does not depend on the transport: row 36 runs on "
    "ws-server (20 fast clients and a stalled one, 16 KiB every 20 ms for 6.5 s)",
}

_ASGI_NOT_APPLICABLE: dict[int, str] = {
    26: "compression and the write buffer are the ASGI server's; ASGI exposes neither",
    27: "needs a keepalive of ours, which ASGI cannot send (no ping message); "
    "uvicorn's own keepalive is row 16",
}
_FRAMEWORK_NOT_APPLICABLE: dict[int, str] = {
    28: "ASGI gateway messages: aiohttp and tornado have no ASGI layer",
}
_WEBSOCKETS_NOT_APPLICABLE: dict[int, str] = {
    28: "ASGI gateway messages: websockets has no ASGI layer",
}


@dataclass(frozen=True)
class Transport:
    """One stack wsstate guards, and what it is expected to show (module doc)."""

    #: Parameter id: ``ws-server``, ``ws-client``, ``asgi-websockets`` ...
    id: str
    family: Family
    #: The side wsstate guards.
    role: Role
    description: str
    #: uvicorn's ``ws=`` implementation (ASGI transports).
    impl: str | None = None
    #: The close code the stack reports for TCP lost without a Close (wsstate: 1006).
    lost_code: int | None = 1006
    #: Whether the stack reports the peer's answer to our Close (our close is then clean).
    local_close_clean: bool = True
    #: Whether a send right after the peer's reset may be taken (its bytes lost)
    #: before the stack notices; the next one is then refused.
    accepts_send_after_reset: bool = False
    #: When a test can act after the peer closed: "close_received" is the window
    #: between the peer's Close and the end of TCP, which ASGI reports as one message.
    close_windows: tuple[str, ...] = ("close_received", "closed")
    #: Whether the adapter exposes the transport's write buffer (in-flight sends).
    exposes_write_buffer: bool = True
    #: At a server shutdown: who closes each connection, with which code.
    shutdown_close: tuple[ClosedBy, int] = (ClosedBy.LOCAL, 1001)
    #: Within how long a shutdown closes the connections that still answer.
    shutdown_deadline: float = CLOSE_TIMEOUT
    #: Whether a shutdown also closes, by then, the peers that stopped answering.
    shutdown_drops_unresponsive: bool = True
    #: Whether the server's shutdown waits for unresponsive peers to answer (up to
    #: uvicorn's graceful timeout) instead of ending by the deadline.
    shutdown_waits_for_answers: bool = False
    #: Whether the server leaves open WebSockets to the application's shutdown hook
    #: (aiohttp's on_shutdown, tornado's server stop), where a :class:`wsstate.Hub`
    #: closes them: wsstate's close timer then ends the unresponsive peers (INFO).
    shutdown_by_hub: bool = False
    #: Whether the server still reads the peers' answers to the shutdown's Close
    #: frames (aiohttp drops all input once its shutdown began: every such close
    #: ends on the close timer, not clean).
    shutdown_reads_answers: bool = True
    #: Rows of the catalogue that do not apply, with the reason.
    not_applicable: Mapping[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.id

    def matches(self, selector: str) -> bool:
        """Whether ``selector`` (an id, a family or a role) names this transport."""
        return selector in (self.id, self.family, self.role)


TRANSPORTS: tuple[Transport, ...] = (
    Transport(
        "ws-server",
        "websockets",
        "server",
        "websockets server (wsstate.guard on a ServerConnection), raw websockets client",
        not_applicable={**NOT_BUILT_YET, **CLIENT_ROWS, **_WEBSOCKETS_NOT_APPLICABLE},
    ),
    Transport(
        "ws-client",
        "websockets",
        "client",
        "wsstate.connect (a websockets client), raw websockets server",
        not_applicable={
            **NOT_BUILT_YET,
            **LINK_ROWS,
            **FANOUT_ROWS,
            **_WEBSOCKETS_NOT_APPLICABLE,
            18: "a server's shutdown; its client side is a peer's Close 1001 (row 1)",
        },
    ),
    *(
        Transport(
            f"asgi-{short}",
            "asgi",
            "server",
            f"Starlette on uvicorn ws={impl!r}, raw websockets client",
            impl=impl,
            lost_code=1006 if impl == "websockets" else 1005,
            local_close_clean=False,
            accepts_send_after_reset=True,
            close_windows=("closed",),
            exposes_write_buffer=False,
            shutdown_close=(ClosedBy.REMOTE, 1012),
            shutdown_deadline=0.1,
            # The legacy implementation reports the shutdown to the application
            # only once each closing handshake ended, or after its 10 s timeout.
            shutdown_drops_unresponsive=impl != "websockets",
            shutdown_waits_for_answers=True,
            not_applicable={
                **NOT_BUILT_YET,
                **CLIENT_ROWS,
                **LINK_ROWS,
                **FANOUT_ROWS,
                **_ASGI_NOT_APPLICABLE,
            },
        )
        for short, impl in (
            ("websockets", "websockets"),
            ("sansio", "websockets-sansio"),
            ("wsproto", "wsproto"),
        )
    ),
)


TRANSPORTS += tuple(
    Transport(
        f"{family}-{role}",
        family,
        role,
        (
            f"{family} server (wsstate.guard on its WebSocket), raw websockets client"
            if role == "server"
            else f"{family} client (wsstate.guard on its connection), raw websockets server"
        ),
        # tornado reports no close code for a connection lost without a Close.
        lost_code=1006 if family == "aiohttp" else None,
        # Both write into a buffer before the socket: a send right after a reset
        # may be taken (its bytes lost); the next one is refused.
        accepts_send_after_reset=True,
        close_windows=("closed",),
        shutdown_by_hub=True,
        # aiohttp's RequestHandler.data_received() drops every byte once
        # AppRunner.cleanup() called pre_shutdown(), before on_shutdown runs.
        shutdown_reads_answers=family != "aiohttp",
        not_applicable={
            **NOT_BUILT_YET,
            **CLIENT_ROWS,
            **LINK_ROWS,
            **FANOUT_ROWS,
            **_FRAMEWORK_NOT_APPLICABLE,
            **(
                {
                    18: "a server's shutdown; its client side is a peer's Close 1001 (row 1)",
                    14: "guard() takes a client connection once open: a failed handshake "
                    f"is {family}'s own exception before wsstate is involved "
                    "(wsstate.connect opens websockets clients only)",
                }
                if role == "client"
                else {}
            ),
        },
    )
    for family in FRAMEWORKS
    for role in ("server", "client")
)


def by_id(transport_id: str) -> Transport:
    """The transport of that id."""
    (transport,) = [t for t in TRANSPORTS if t.id == transport_id]
    return transport


# -- pairs -------------------------------------------------------------------------------

_SITES: weakref.WeakKeyDictionary[Harness, Site] = weakref.WeakKeyDictionary()


async def start_site(h: Harness, transport: Transport, *args: Any, **kwargs: Any) -> Site:
    """A new uvicorn site for an ASGI transport (the arguments of :meth:`Site.start`)."""
    assert transport.impl is not None, f"{transport} is not an ASGI transport"
    return await Site.start(h, transport.impl, *args, **kwargs)


async def site_of(h: Harness, transport: Transport, **config: Any) -> Site:
    """The test's uvicorn site for an ASGI transport (started once per test)."""
    assert transport.impl is not None, f"{transport} is not an ASGI transport"
    if h not in _SITES:
        _SITES[h] = await Site.start(h, transport.impl, **config)
    return _SITES[h]


async def open_pair(h: Harness, transport: Transport, **options: Any) -> Pair:
    """A guarded endpoint and its raw websockets peer, through a fault proxy.

    ``options`` are the guarded connection's (``support.harness.GUARD_DEFAULTS``
    otherwise); over ASGI the keepalive options are accepted and do nothing. websockets,
    aiohttp and tornado also take ``ws`` (the native endpoint's ``subprotocols``) and
    ``peer`` (the raw peer's websockets options).
    """
    if transport.family == "websockets":
        return await h.pair(transport.role, **options)
    if transport.family in FRAMEWORKS:
        return await frameworks.pair(h, transport.family, transport.role, **options)
    site = await site_of(h, transport)
    return await site.pair(**options)


def native_close(pair: Pair) -> tuple[int | None, str | None]:
    """The closure as the stack under wsstate reported it: (code, reason)."""
    transport = pair.conn.transport
    if not hasattr(transport, "connection") and not isinstance(transport, StarletteTransport):
        return frameworks.native_close(pair.conn)
    if isinstance(transport, StarletteTransport):
        if transport.disconnect is None:
            return None, None
        code, reason = transport.disconnect
        return code, reason
    raw: Connection = transport.connection
    return raw.close_code, raw.close_reason


def native_of(conn: GuardedConnection) -> Any:
    """The stack's own object under a guarded connection (a websockets connection, a
    Starlette ``WebSocket``, an aiohttp or tornado WebSocket)."""
    transport = conn.transport
    native = getattr(transport, "websocket", None) or getattr(transport, "connection", None)
    assert native is not None, f"{type(transport).__name__} exposes no native object"
    return native


async def pause_reading(pair: Pair) -> None:
    """Make the guarded endpoint's stack stop reading its socket, as under a busy
    application: a reset arriving later is not noticed by any reader.

    websockets pauses reading when more messages than its receive queue holds
    (``max_queue``, 16) wait unread; over ASGI, :func:`support.asgi.fill_queues`.
    """
    if isinstance(pair.conn.transport, StarletteTransport):
        await fill_queues(pair)
        return
    if isinstance(pair.server, frameworks.Server) or hasattr(pair.conn.transport, "queued"):
        # The adapter's queue full: its reader stops, so nobody reads the socket's news.
        for i in range(40):
            await pair.peer.send(f"unread {i}")
        await eventually(lambda: pair.conn.transport.queued >= 16)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        return
    for i in range(40):
        await pair.peer.send(f"unread {i}")
    transport = write_transport(pair)
    await eventually(lambda: not transport.is_reading())


def write_transport(pair: Pair) -> asyncio.Transport:
    """The asyncio transport the guarded endpoint's stack writes to."""
    if isinstance(pair.server, Site):
        return pair.server.server_transport(pair)
    if not hasattr(pair.conn.transport, "connection"):
        return frameworks.write_transport(pair.conn)  # type: ignore[no-any-return]
    transport: asyncio.Transport = pair.conn.transport.connection.transport
    return transport


# -- servers whose connections are guarded ----------------------------------------------

App = Callable[[GuardedConnection], Awaitable[None]]


@dataclass
class Served:
    """A server of a server-side transport; every connection guarded, open, handed to ``app``."""

    port: int
    proxy: FaultProxy
    _connections: Callable[[], set[Any]]
    _shutdown: Callable[[], Awaitable[None]]
    path: str = "/"

    def url(self, *, proxy: bool = True) -> str:
        """``ws://`` URL of the application, through the fault proxy or straight."""
        port = self.proxy.port if proxy else self.port
        return f"ws://127.0.0.1:{port}{self.path}"

    @property
    def connections(self) -> set[Any]:
        """The server's live TCP connections."""
        return self._connections()

    async def shutdown(self) -> None:
        """Shut the server down (as on SIGTERM); return once it is done."""
        await self._shutdown()


async def serve(h: Harness, transport: Transport, app: App, **options: Any) -> Served:
    """Serve ``app`` on ``transport``: each connection guarded (``options``), accepted.

    The server and its fault proxy stop at teardown. Tracking the connections
    (:meth:`Harness.track`) is the app's choice.
    """
    assert transport.role == "server", f"{transport} does not serve"
    guard_options = {**GUARD_DEFAULTS, **options}
    # aiohttp and tornado leave open WebSockets to the application's shutdown
    # hook: every guarded connection joins a Hub the hook closes with 1001 (row 18).
    hub = wsstate.Hub() if transport.family in FRAMEWORKS else None

    async def endpoint(native: Any) -> None:
        conn = wsstate.guard(native, **guard_options)
        if hub is not None:
            hub.add(conn)
        if transport.family == "asgi":
            await conn.accept()
        await app(conn)

    return await serve_handshakes(h, transport, endpoint, hub)


async def serve_handshakes(
    h: Harness,
    transport: Transport,
    endpoint: Callable[[Any], Awaitable[None]],
    hub: wsstate.Hub | None = None,
) -> Served:
    """Serve ``endpoint`` raw: it receives the stack's own connection object (a
    websockets ``ServerConnection`` or a Starlette ``WebSocket``), before anything
    is guarded. With ``hub`` (aiohttp, tornado), the server's shutdown hook closes
    the hub's connections with 1001."""
    if transport.family in FRAMEWORKS:
        served = await frameworks.Server.start(h, transport.family, endpoint, hub)
        fault_proxy = await h.proxy(served.port)
        return Served(served.port, fault_proxy, lambda: served.connections, served.stop, "/")
    if transport.family == "websockets":
        server = await h.serve(endpoint)

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        proxy = await h.proxy(server)
        return Served(port_of(server), proxy, lambda: server.connections, stop)
    site = await start_site(h, transport, {"/app": endpoint})
    assert site.proxy is not None
    return Served(site.port, site.proxy, lambda: site.connections, site.shutdown, "/app")


# -- raw sockets ----------------------------------------------------------------------------

_RST = struct.pack("ii", 1, 0)


def upgrade_request(path: str = "/") -> bytes:
    """A complete WebSocket opening handshake request for ``path``."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Drop a TCP connection with an RST (``SO_LINGER (1, 0)``, then abort)."""
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
    transport.abort()  # type: ignore[attr-defined]


def reset_now(ws: ClientConnection | ServerConnection) -> None:
    """Drop a raw websockets endpoint's TCP connection with an RST (no Close frame)."""
    reset_transport(ws.transport)


async def raw_connection(
    port: int,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection to 127.0.0.1:``port``."""
    return await asyncio.open_connection("127.0.0.1", port)


async def leave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, then: str) -> None:
    """Leave a raw connection: ``"reset"`` (RST) or ``"fin"`` (FIN, read to the end)."""
    if then == "reset":
        reset_transport(writer.transport)
    else:
        writer.write_eof()
        await reader.read()  # whatever the server answers, until it closes
        writer.close()
    await writer.wait_closed()


async def knock(served: Served, data: bytes, then: str) -> None:
    """Connect to ``served`` raw, send ``data``, leave (:func:`leave`); return once the
    server gave the connection up."""
    reader, writer = await raw_connection(served.port)
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(0.02)  # let the server read it
    await leave(reader, writer, then)
    await eventually(lambda: not served.connections)


# -- a guarded endpoint in another event loop ------------------------------------------------


class OtherLoop:
    """An event loop run step by step in one other thread (stopped between steps).

    Its exception handler is watched from the start (:class:`~wsstate.testing.LoopWatch`).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.watch = LoopWatch(self.loop).__enter__()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="other-loop")

    async def step(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the other loop until ``coro`` is done; then it is stopped again."""
        future = self._thread.submit(self.loop.run_until_complete, coro)
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """End the loop as ``asyncio.run`` does: cancel every task, wait, close."""

        def shutdown() -> None:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:  # gather() of nothing needs a current loop, which this thread lacks
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.watch.__exit__(None, None, None)
            self.loop.close()

        await asyncio.wrap_future(self._thread.submit(shutdown))
        await asyncio.to_thread(self._thread.shutdown)

    async def discard(self) -> None:
        """At teardown: close the loop if the test did not get that far."""
        if not self.loop.is_closed() and not self.loop.is_running():
            await self.close()


@dataclass
class Hosted:
    """A guarded endpoint living in an :class:`OtherLoop`, and its raw peer in the test's."""

    conn: GuardedConnection
    peer: Connection
    #: Ends the application under the open connection (its loop closed at the end).
    stop: Callable[[], Awaitable[None]]
    #: The connection's state once its loop is closed.
    state_after: State
    #: The close code the peer sees (None: whatever the socket's end makes it).
    peer_code: int | None = None


async def host_in_other_loop(h: Harness, transport: Transport, other: OtherLoop) -> Hosted:
    """A guarded endpoint (keepalive off) in ``other``, its raw peer here."""
    h.defer(other.discard)
    options = {**GUARD_DEFAULTS, "ping_interval": None}
    handed: concurrent.futures.Future[GuardedConnection] = concurrent.futures.Future()

    async def take() -> GuardedConnection:
        return await asyncio.wrap_future(handed)

    if transport.family == "asgi":
        return await _host_asgi(h, transport, other, options, handed, take)
    if transport.role == "server":

        async def handler(ws: ServerConnection) -> None:
            conn = wsstate.guard(ws, **options)
            handed.set_result(conn)
            await conn.wait_closed()

        async def start() -> Server:
            return await ws_serve(handler, "127.0.0.1", 0, **WS_DEFAULTS)

        server = await other.step(start())
        accepting = asyncio.create_task(other.step(take()))
        peer: Connection = await ws_connect(f"ws://127.0.0.1:{port_of(server)}/", **WS_DEFAULTS)
        conn = await accepting

        async def stop_server() -> None:
            # Cancelled, websockets' handler closes the connection with 1011 on its
            # own, which the guarded connection reads as the library failing the
            # connection (peer_protocol_error, logged at INFO): it is CLOSED before
            # the loop is.
            h.wsstate_info = True
            server.server.close()  # stop listening; the handler is cancelled below
            await other.close()

        return Hosted(conn, peer, stop_server, State.CLOSED)

    accepted: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()

    async def raw_handler(ws: ServerConnection) -> None:
        accepted.set_result(ws)
        await ws.wait_closed()

    raw_server = await h.serve(raw_handler)

    async def open_guarded() -> GuardedConnection:
        ws = await ws_connect(f"ws://127.0.0.1:{port_of(raw_server)}/", **WS_DEFAULTS)
        return wsstate.guard(ws, **options)

    conn = await other.step(open_guarded())
    # A client's connection is still OPEN when its loop closes: the loop's close
    # ends it (the app_abort row, wsstate._lifetime), so it is CLOSED after.
    return Hosted(conn, await accepted, other.close, State.CLOSED)


async def _host_asgi(
    h: Harness,
    transport: Transport,
    other: OtherLoop,
    options: dict[str, Any],
    handed: concurrent.futures.Future[GuardedConnection],
    take: Callable[[], Coroutine[Any, Any, GuardedConnection]],
) -> Hosted:
    # uvicorn runs in the other loop: a framework whose render thread keeps a
    # guarded connection while its server shuts down, then its loop closes.
    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **options)
        await conn.accept()
        handed.set_result(conn)
        await conn.wait_closed()

    config = uvicorn.Config(
        Starlette(routes=[WebSocketRoute("/", endpoint)]),
        port=0,  # an ephemeral port
        ws=transport.impl or "auto",
        lifespan="off",
        log_config=None,
        ws_ping_interval=None,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> int:
        tasks.append(asyncio.get_running_loop().create_task(server.serve()))
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        return port

    port = await other.step(start())

    async def connect() -> ClientConnection:
        return await ws_connect(f"ws://127.0.0.1:{port}/", **WS_DEFAULTS)

    peer_connecting = asyncio.create_task(connect())
    conn = await other.step(take())
    peer = await peer_connecting
    h.defer(peer.close)

    async def shutdown() -> None:
        server.should_exit = True
        await tasks[0]

    async def stop() -> None:
        # uvicorn closes every connection with 1012, then the loop is closed.
        await other.step(shutdown())
        await other.close()

    return Hosted(conn, peer, stop, State.CLOSED, peer_code=1012)
