"""A real TCP proxy on loopback that injects transport faults, with a wire tap.

Tests in this project never mock a transport. They put a :class:`FaultProxy`
between a real WebSocket client and a real server::

    async with FaultProxy("127.0.0.1", server_port) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}") as ws:
            ...
            await proxy.reset()          # both peers see an RST
        proxy.assert_wire_clean()

Theory of operation
-------------------

Each accepted TCP connection (the *client* side, :attr:`Side.CLIENT`) gets its
own new connection to the upstream server (:attr:`Side.SERVER`); the two legs
form a :class:`ProxiedConnection`. Bytes read from one leg are written to the
other unchanged, in the same callback, then shown to the connection's
:class:`~wsstate.testing.wiretap.WireTap`, which records what each peer *sent*
(including bytes the proxy then drops).

When nothing is injected the proxy is transparent at the TCP level:

* a FIN from one peer is passed on as a FIN (half-close), and a leg is closed
  once FINs went both ways;
* a reset (or any socket error) on one leg is passed on as an RST on the other;
* back-pressure is passed on: when a leg's write buffer reaches ``buffer_limit``
  the proxy stops reading from the other leg until it drains, and it reads at
  most ``read_size`` bytes at a time. The proxy thus holds at most
  ``buffer_limit + read_size`` bytes per direction in user space.

Faults (proxy-wide methods act on every live connection; each
:class:`ProxiedConnection` has the same methods for one connection):

=====================  ===================================================================
``reset(side)``        abortive close (``SO_LINGER (1, 0)`` then close: an RST) of one
                       leg or both; nothing is propagated to the other leg.
``fin(side)``          FIN towards one peer or both (no WebSocket Close frame); bytes
                       still travelling towards that peer are dropped from then on.
``blackhole(on, d)``   read and drop everything flowing in direction ``d`` (or both),
                       including FIN and RST, while both TCP connections stay open: a
                       half-open peer, a NAT that forgot the flow. Lifting it passes on
                       closures that were held back (a FIN as a FIN, a reset as an RST);
                       bytes dropped meanwhile are lost for good.
``slow_reader(on, d)`` stop reading from the peer that sends in direction ``d`` (or
                       both): its kernel buffers fill, then its own write buffer, and
                       its sends block. Nothing is dropped; lifting it lets data through.
``heal()``             lift black holes and slow readers, disarm faults on new
                       connections.
=====================  ===================================================================

``reset`` and ``fin`` take ``new=True`` to also hit every connection accepted
later, as soon as its upstream leg is connected and before any byte is passed
on (until :meth:`FaultProxy.heal`). ``blackhole`` and ``slow_reader`` always
apply to later connections too.

The proxy itself never raises into the event loop: socket errors end the leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections.abc import Iterable
from types import TracebackType
from typing import Final, Literal, Self, cast

from .wiretap import DEFAULT_MAX_FRAME, Direction, WireFrame, WireTap

__all__ = [
    "DEFAULT_BUFFER_LIMIT",
    "DEFAULT_READ_SIZE",
    "FaultProxy",
    "ProxiedConnection",
    "Side",
    "TcpEnd",
]

#: Default high-water mark of each leg's write buffer, in bytes.
DEFAULT_BUFFER_LIMIT: Final = 64 * 1024
#: Default largest single read from a socket, in bytes.
DEFAULT_READ_SIZE: Final = 16 * 1024

_LINGER_RST: Final = struct.pack("ii", 1, 0)


class Side(enum.StrEnum):
    """One peer of a proxied connection: who opened it, or who accepted it."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def other(self) -> Side:
        """The opposite peer."""
        return Side.SERVER if self is Side.CLIENT else Side.CLIENT

    @property
    def sends(self) -> Direction:
        """The direction in which this peer sends."""
        return Direction.C2S if self is Side.CLIENT else Direction.S2C


class TcpEnd(enum.StrEnum):
    """How the TCP connection to one peer stands, as far as the proxy saw it.

    :meth:`ProxiedConnection.tcp_end` answers it for one leg; :attr:`by_peer` tells an
    end the peer caused (FIN, RST, socket error) from one the proxy caused.
    """

    #: The proxy never connected to this peer (the client left first, or upstream refused).
    UNCONNECTED = "never connected"
    #: Connected; the peer has not ended it.
    OPEN = "open"
    #: The peer sent a FIN; the proxy has not closed its side yet (TCP half-close).
    HALF_CLOSED = "half-closed (FIN)"
    #: Closed after the peer's FIN.
    FIN = "FIN"
    #: The peer reset it (``ECONNRESET``, or ``EPIPE`` on a write after its reset).
    RST = "RST"
    #: Lost to another socket error.
    LOST = "lost (socket error)"
    #: Closed by the proxy without the peer's FIN (passing on the other peer's end).
    BY_PROXY = "closed by the proxy"
    #: Ended by a fault the proxy injected (:meth:`ProxiedConnection.reset`), or by
    #: :meth:`FaultProxy.close`.
    FAULT = "reset by the proxy"

    @property
    def by_peer(self) -> bool:
        """True when the peer itself ended (or began ending) the TCP connection."""
        return self in (TcpEnd.HALF_CLOSED, TcpEnd.FIN, TcpEnd.RST, TcpEnd.LOST)


def _classify_end(
    *, connected: bool, lost: bool, fin_received: bool, by_fault: bool, error: BaseException | None
) -> TcpEnd:
    """Classify one leg: whether it connected, was lost, got the peer's FIN, was ended
    by an injected fault, and the socket error it was lost to."""
    if not connected:
        return TcpEnd.UNCONNECTED
    if not lost:
        return TcpEnd.HALF_CLOSED if fin_received else TcpEnd.OPEN
    if by_fault:
        return TcpEnd.FAULT
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return TcpEnd.RST
    if error is not None:
        return TcpEnd.LOST
    return TcpEnd.FIN if fin_received else TcpEnd.BY_PROXY


async def _all_lost(legs: Iterable[_Leg]) -> None:
    """Wait until each connected leg is lost. Cancel-safe: asyncio.wait() never cancels
    what it waits for, where gather() would cancel the legs' own futures."""
    waiting = [leg.lost for leg in legs if leg.transport is not None and not leg.lost.done()]
    if waiting:
        await asyncio.wait(waiting)


def _sender(direction: Direction) -> Side:
    return Side.CLIENT if direction is Direction.C2S else Side.SERVER


def _sides(side: Side | None) -> tuple[Side, ...]:
    return tuple(Side) if side is None else (Side(side),)


def _directions(direction: Direction | None) -> tuple[Direction, ...]:
    return tuple(Direction) if direction is None else (Direction(direction),)


def _abort_with_rst(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the kernel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()


class _Leg(asyncio.BufferedProtocol):
    """One TCP connection of a pair: the protocol object asyncio calls."""

    def __init__(self, pair: ProxiedConnection, side: Side, read_size: int) -> None:
        self.pair = pair
        self.side = side
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.eof_in = False  # the peer sent us a FIN
        self.eof_out = False  # we sent the peer a FIN
        self.writing_paused = False  # our write buffer is above the high-water mark
        self.reading_paused = False
        self.by_fault = False  # we closed it on purpose: do not propagate
        self.error: BaseException | None = None
        self._buffer = bytearray(read_size)

    @property
    def live(self) -> bool:
        return self.transport is not None and not self.lost.done()

    @property
    def writable(self) -> bool:
        return (
            self.live
            and not self.eof_out
            and not cast(asyncio.Transport, self.transport).is_closing()
        )

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        limit = self.pair.proxy.buffer_limit
        self.transport.set_write_buffer_limits(high=limit, low=limit // 4)
        self.pair._leg_made(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.pair._on_data(self.side, bytes(memoryview(self._buffer)[:nbytes]))

    def eof_received(self) -> bool:
        self.pair._on_eof(self.side)
        return True  # keep our write half open: TCP half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        if not self.lost.done():
            self.lost.set_result(None)
        self.pair._on_lost(self.side, exc)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.pair._update_reading(self.side.other)

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.pair._update_reading(self.side.other)

    # actions

    def set_reading(self, paused: bool) -> None:
        if self.transport is None or paused == self.reading_paused or not self.live:
            return
        self.reading_paused = paused
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def send_eof(self) -> None:
        if self.writable:
            self.eof_out = True
            transport = cast(asyncio.Transport, self.transport)
            try:
                transport.write_eof()
            except OSError:  # pragma: no cover - the socket died meanwhile
                transport.abort()
            self.close_if_done()

    def close_if_done(self) -> None:
        if self.live and self.eof_in and self.eof_out:
            cast(asyncio.Transport, self.transport).close()

    def reset(self, *, by_fault: bool) -> None:
        if self.live:
            self.by_fault = self.by_fault or by_fault
            _abort_with_rst(cast(asyncio.Transport, self.transport))


class ProxiedConnection:
    """One client connection and its upstream connection, with fault controls.

    ``number`` counts accepted connections from 1. ``frames[direction]`` lists
    what the tap saw; ``forwarded`` and ``dropped`` count bytes per direction.
    """

    def __init__(self, proxy: FaultProxy, number: int) -> None:
        self.proxy: Final = proxy
        self.number: Final = number
        self.tap: Final = WireTap(max_frame=proxy.tap_max_frame)
        self.forwarded: dict[Direction, int] = dict.fromkeys(Direction, 0)
        self.dropped: dict[Direction, int] = dict.fromkeys(Direction, 0)
        #: Set when the upstream connection could not be opened.
        self.connect_error: OSError | None = None
        #: Set once the upstream leg is connected (or failed to connect).
        self.connected: Final = asyncio.Event()
        self._legs: Final = {s: _Leg(self, s, proxy.read_size) for s in Side}
        self._blackholed: set[Direction] = set(proxy._blackholed)
        self._slow: set[Direction] = set(proxy._slow)
        self._held: dict[Direction, BaseException | None] = {}  # closures a black hole kept
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.connected.is_set() else "connecting"
        return f"<ProxiedConnection #{self.number} {state}>"

    # observation

    @property
    def frames(self) -> dict[Direction, list[WireFrame]]:
        """Frames the tap saw in each direction, in wire order."""
        return {d: self.tap.frames(d) for d in Direction}

    @property
    def closed(self) -> bool:
        """True once both legs are closed (or the client left before upstream connected)."""
        client, server = self._legs[Side.CLIENT], self._legs[Side.SERVER]
        return client.lost.done() and (server.lost.done() or server.transport is None)

    def is_open(self, side: Side) -> bool:
        """True while the TCP connection to ``side`` is open (even if half-closed)."""
        return self._legs[Side(side)].live

    def tcp_end(self, side: Side) -> TcpEnd:
        """How the TCP connection to ``side`` stands: open, half-closed, or how it ended
        (the peer's FIN or RST, a socket error, the proxy's own close or fault)."""
        leg = self._legs[Side(side)]
        return _classify_end(
            connected=leg.transport is not None,
            lost=leg.lost.done(),
            fin_received=leg.eof_in,
            by_fault=leg.by_fault,
            error=leg.error,
        )

    def transport(self, side: Side) -> asyncio.Transport | None:
        """The proxy's transport towards ``side``, once connected."""
        return self._legs[Side(side)].transport

    @property
    def buffered(self) -> int:
        """Bytes the proxy holds in user space for this connection, both ways."""
        return sum(
            leg.transport.get_write_buffer_size()
            for leg in self._legs.values()
            if leg.transport is not None and leg.live
        )

    def problems(self) -> list[str]:
        """Wire rule violations seen on this connection (see :class:`~wsstate.testing.WireTap`)."""
        return [f"connection #{self.number} {p}" for p in self.tap.problems()]

    async def wait_closed(self) -> None:
        """Wait until both legs are closed. Cancelling the wait (a timeout) changes nothing."""
        await _all_lost(self._legs.values())

    # faults

    async def reset(self, side: Side | None = None) -> None:
        """Abort one leg or both with an RST; the other leg learns nothing."""
        legs = [self._legs[s] for s in _sides(side)]
        for leg in legs:
            leg.reset(by_fault=True)
        await _all_lost(legs)

    async def fin(self, side: Side | None = None) -> None:
        """Send a FIN towards one peer or both; drop what still travels towards it."""
        for s in _sides(side):
            self._legs[s].send_eof()
        await asyncio.sleep(0)

    def blackhole(self, on: bool = True, direction: Direction | None = None) -> None:
        """Drop everything (bytes, FIN, RST) flowing in ``direction`` (default: both)."""
        for d in _directions(direction):
            if on:
                self._blackholed.add(d)
            else:
                self._blackholed.discard(d)
                if d in self._held:
                    self._propagate_loss(_sender(d), self._held.pop(d))
            self._update_reading(_sender(d))

    def slow_reader(self, on: bool = True, direction: Direction | None = None) -> None:
        """Stop reading from the peer that sends in ``direction`` (default: both)."""
        for d in _directions(direction):
            if on:
                self._slow.add(d)
            else:
                self._slow.discard(d)
            self._update_reading(_sender(d))

    # internals

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._connect_upstream())
        self.proxy._tasks.add(self._task)
        self._task.add_done_callback(self.proxy._tasks.discard)

    async def _connect_upstream(self) -> None:
        proxy = self.proxy
        loop = asyncio.get_running_loop()
        client = self._legs[Side.CLIENT]
        try:
            await loop.create_connection(
                lambda: self._legs[Side.SERVER], proxy.upstream_host, proxy.upstream_port
            )
        except OSError as exc:
            self.connect_error = exc
            client.reset(by_fault=False)
            self.connected.set()
            return
        except asyncio.CancelledError:
            client.reset(by_fault=True)
            raise
        self.connected.set()
        if not client.live:  # the client left while we were connecting
            self._legs[Side.SERVER].reset(by_fault=False)
            return
        for kind, side in list(proxy._armed):
            await (self.reset(side) if kind == "reset" else self.fin(side))
        for s in Side:
            self._update_reading(s)

    def _leg_made(self, leg: _Leg) -> None:
        leg.set_reading(True)  # until upstream is connected and armed faults applied
        if leg.side is Side.CLIENT:
            self._start()

    def _update_reading(self, side: Side) -> None:
        leg = self._legs[side]
        direction = side.sends
        pause = (
            not self.connected.is_set()
            or direction in self._slow
            or (direction not in self._blackholed and self._legs[side.other].writing_paused)
        )
        leg.set_reading(pause)

    def _on_data(self, src: Side, data: bytes) -> None:
        direction = src.sends
        dst = self._legs[src.other]
        if direction in self._blackholed or not dst.writable:
            self.dropped[direction] += len(data)
        else:
            cast(asyncio.Transport, dst.transport).write(data)
            self.forwarded[direction] += len(data)
        self.tap.feed(direction, data)

    def _on_eof(self, src: Side) -> None:
        direction = src.sends
        leg, dst = self._legs[src], self._legs[src.other]
        leg.eof_in = True
        self.tap.feed_eof(direction)
        if direction in self._blackholed:
            self._held.setdefault(direction, None)
        elif dst.writable:
            dst.send_eof()
        elif not dst.live:
            leg.eof_out = True  # nobody left to talk to: close our side too
        leg.close_if_done()

    def _on_lost(self, src: Side, exc: Exception | None) -> None:
        direction = src.sends
        leg = self._legs[src]
        self.tap.feed_eof(direction)
        if exc is not None and not leg.by_fault:
            if direction in self._blackholed:
                self._held[direction] = exc
            else:
                self._propagate_loss(src, exc)
        if self.closed:
            self.proxy._closed(self)

    def _propagate_loss(self, src: Side, exc: BaseException | None) -> None:
        dst = self._legs[src.other]
        if exc is not None:
            dst.reset(by_fault=False)
        else:
            dst.send_eof()


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:port`` to ``upstream_host:upstream_port``.

    Args:
        upstream_host, upstream_port: where each accepted connection is relayed.
        buffer_limit: high-water mark of each leg's write buffer (back-pressure).
        read_size: largest single read from a socket.
        tap_max_frame: largest frame payload the wire tap will buffer.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        read_size: int = DEFAULT_READ_SIZE,
        tap_max_frame: int | None = DEFAULT_MAX_FRAME,
    ) -> None:
        self.upstream_host: Final = upstream_host
        self.upstream_port: Final = upstream_port
        self.buffer_limit: Final = buffer_limit
        self.read_size: Final = read_size
        self.tap_max_frame: Final = tap_max_frame
        #: Every connection accepted so far, open or closed, in accept order.
        self.accepted: list[ProxiedConnection] = []
        self._live: dict[ProxiedConnection, None] = {}
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepted_event = asyncio.Event()
        self._blackholed: set[Direction] = set()
        self._slow: set[Direction] = set()
        self._armed: list[tuple[Literal["reset", "fin"], Side | None]] = []

    # lifecycle

    async def start(self) -> Self:
        """Listen on an ephemeral port of 127.0.0.1 (see :attr:`port`)."""
        if self._server is not None:
            raise RuntimeError("FaultProxy already started")
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets, and the
        # accepted ones inherit it; without, a few-byte frame relayed to the client
        # can wait 40 ms for the client's delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self._server = await asyncio.get_running_loop().create_server(self._accept, sock=sock)
        except BaseException:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and close every connection (plainly, without RST). Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for pair in list(self._live):
            for leg in pair._legs.values():
                if leg.live:
                    leg.by_fault = True
                    cast(asyncio.Transport, leg.transport).abort()
        await asyncio.gather(*(pair.wait_closed() for pair in self.accepted))
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The port the proxy listens on (127.0.0.1)."""
        if self._port is None:
            raise RuntimeError("FaultProxy not started")
        return self._port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/``, for convenience."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def connections(self) -> list[ProxiedConnection]:
        """Connections with at least one leg still open."""
        return list(self._live)

    async def wait_connections(self, n: int = 1) -> list[ProxiedConnection]:
        """Wait until ``n`` connections were accepted and connected upstream.

        Bound it with ``asyncio.timeout``.
        """
        while len(self.accepted) < n:
            self._accepted_event.clear()
            await self._accepted_event.wait()
        await asyncio.gather(*(p.connected.wait() for p in self.accepted[:n]))
        return self.accepted[:n]

    # faults

    async def reset(self, side: Side | None = None, *, new: bool = False) -> None:
        """RST one leg or both of every live connection (and, with ``new``, later ones)."""
        if new:
            self._armed.append(("reset", side))
        await asyncio.gather(*(p.reset(side) for p in self._live))

    async def fin(self, side: Side | None = None, *, new: bool = False) -> None:
        """FIN towards one peer or both of every live connection (``new``: later ones too)."""
        if new:
            self._armed.append(("fin", side))
        await asyncio.gather(*(p.fin(side) for p in self._live))

    def blackhole(self, on: bool = True, direction: Direction | None = None) -> None:
        """Drop traffic in ``direction`` (default: both) on all connections, now and later."""
        self._toggle(self._blackholed, on, direction)
        for pair in self._live:
            pair.blackhole(on, direction)

    def slow_reader(self, on: bool = True, direction: Direction | None = None) -> None:
        """Stop reading from the sender in ``direction`` (default: both), now and later."""
        self._toggle(self._slow, on, direction)
        for pair in self._live:
            pair.slow_reader(on, direction)

    def heal(self) -> None:
        """Lift black holes and slow readers; disarm faults on new connections."""
        self._armed.clear()
        self.blackhole(False)
        self.slow_reader(False)

    # observation

    @property
    def frames(self) -> dict[Direction, list[WireFrame]]:
        """Frames of all connections per direction, connection after connection."""
        return {d: [f for p in self.accepted for f in p.tap.frames(d)] for d in Direction}

    @property
    def buffered(self) -> int:
        """Bytes the proxy holds in user space, all connections."""
        return sum(p.buffered for p in self._live)

    def problems(self) -> list[str]:
        """Wire rule violations on every connection accepted so far."""
        return [problem for pair in self.accepted for problem in pair.problems()]

    def assert_wire_clean(self) -> None:
        """Raise AssertionError describing every wire rule violation, if any.

        In either direction of any connection: a data frame after a Close, a
        second Close, a Close with a code that may not be sent (or a 1-byte
        payload), a stream that does not parse. An empty Close is allowed.
        """
        problems = self.problems()
        if problems:
            raise AssertionError("wire not clean:\n  " + "\n  ".join(problems))

    # internals

    @staticmethod
    def _toggle(target: set[Direction], on: bool, direction: Direction | None) -> None:
        ds: Iterable[Direction] = _directions(direction)
        if on:
            target.update(ds)
        else:
            target.difference_update(ds)

    def _accept(self) -> _Leg:
        pair = ProxiedConnection(self, len(self.accepted) + 1)
        self.accepted.append(pair)
        self._live[pair] = None
        self._accepted_event.set()
        return pair._legs[Side.CLIENT]

    def _closed(self, pair: ProxiedConnection) -> None:
        self._live.pop(pair, None)
