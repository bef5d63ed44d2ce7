"""Adapter for websockets' asyncio implementation (``ServerConnection``, ``ClientConnection``).

websockets performs the closing handshake itself: it echoes the peer's Close,
closes TCP when the handshake completes (the server first, the client after a
timeout), and fails the connection with its own Close on a protocol violation.
This adapter reports what it did as :class:`~wsstate.adapters.base.Facts` and
converts its ``ConnectionClosed`` exceptions into
:class:`~wsstate.adapters.base.TransportClosed`; message and exception texts
are never inspected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConcurrencyError, ConnectionClosed, InvalidState, ProtocolError
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import Side
from websockets.protocol import State as WSState

from ..errors import AlreadyGuarded, ConcurrentRecv
from .base import Callbacks, Data, Facts, Listener, Request, Transport, TransportClosed, check_loop

__all__ = ["WebsocketsTransport"]

logger: Final = logging.getLogger("wsstate")

# An attribute lookup on an enum class is slow (~70 ns); these run on every send.
_OPEN: Final = WSState.OPEN
_SERVER: Final = Side.SERVER
#: Where a broadcast's serialized frame is kept (``write_shared``'s ``shared``).
_FRAME: Final = object()
#: Close tasks started for a fragmented send (rare), kept until they finish.
_background: Final[set[asyncio.Task[None]]] = set()


def _make_abort_idempotent(ws: Connection) -> None:
    """Make ``ws.transport.abort()`` a no-op once the connection is lost.

    CPython's selector transport (3.11 to 3.13 at least) loses track of its
    closure when ``close()`` is called with data still buffered and the buffer
    then drains: a later ``abort()`` raises ``AttributeError: 'NoneType' object
    has no attribute 'call_soon'``. asyncio calls ``close()`` itself when the
    peer's FIN arrives, and websockets calls ``abort()`` when a server handler
    returns after the connection closed, so a slow reader that leaves surfaces
    as "connection handler failed" at ERROR. The transport is already gone
    then; aborting it again must do nothing.

    The transport's class becomes a subclass (made once per class,
    :func:`_safe_abort_class`) whose ``abort()`` checks first. Changing an
    object's class makes CPython give it a ``__dict__`` object (64 B); a
    wrapper object stored on the transport and its weak reference cost 200 B
    (docs/performance.md, memory). A transport whose class cannot be changed
    (a C implementation) is left alone.
    """
    transport = ws.transport
    cls = type(transport)
    if getattr(cls, "_wsstate_safe_abort", False):
        return
    with contextlib.suppress(TypeError):  # __class__ not assignable (uvloop): leave it
        transport.__class__ = _safe_abort_class(cls)


#: Per asyncio transport class, its subclass with an idempotent abort().
_SAFE_ABORT_CLASSES: Final[dict[type[asyncio.Transport], type[asyncio.Transport]]] = {}


def _safe_abort_class(cls: type[asyncio.Transport]) -> type[asyncio.Transport]:
    """``cls`` whose ``abort()`` does nothing once its protocol's connection is lost."""
    safe = _SAFE_ABORT_CLASSES.get(cls)
    if safe is not None:
        return safe

    class SafeAbort(cls):  # type: ignore[valid-type,misc]
        _wsstate_safe_abort = True

        def abort(self) -> None:
            # asyncio lets go of the protocol once it reported the loss;
            # websockets' waiter is done from the moment it heard of it.
            protocol = self.get_protocol()
            lost = getattr(protocol, "connection_lost_waiter", None)
            if protocol is None or (lost is not None and lost.done()):
                return  # the connection is lost: nothing to abort
            super().abort()

    SafeAbort.__name__ = cls.__name__
    SafeAbort.__qualname__ = cls.__qualname__
    SafeAbort.__module__ = cls.__module__
    _SAFE_ABORT_CLASSES[cls] = SafeAbort
    return SafeAbort


def _guarded_already(ws: Connection) -> bool:
    """True if ``ws`` was wrapped by a WebsocketsTransport before (live or lost).

    Its class is then the wired subclass (:func:`_wired_class`), for good.
    """
    return getattr(type(ws), "_wsstate_wired", False) is True


#: Guarded connections not yet lost, and their transport: how the wired class's
#: methods find whom to tell (one dictionary entry per connection).
_WIRED: Final[dict[Connection, WebsocketsTransport]] = {}
#: Per websockets connection class, its wired subclass.
_WIRED_CLASSES: Final[dict[type[Connection], type[Connection]]] = {}


class _Detached:
    """The listener of a transport once its connection is lost: hears nothing."""

    __slots__ = ()

    def _sync(self) -> None:
        pass

    def _on_data(self) -> None:
        pass


_DETACHED: Final = _Detached()


def _wired_class(cls: type[Connection]) -> type[Connection]:
    """``cls`` with data_received, process_event and connection_lost reporting to the table."""
    wired = _WIRED_CLASSES.get(cls)
    if wired is not None:
        return wired

    class Wired(cls):  # type: ignore[valid-type,misc]
        _wsstate_wired = True

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            t = _WIRED.get(self)
            if t is not None and t._protocol.state is not _OPEN:
                t._listener._sync()

        def process_event(self, event: Any) -> None:
            super().process_event(event)
            if isinstance(event, Frame) and event.opcode in DATA_OPCODES and event.fin:
                t = _WIRED.get(self)
                if t is not None:
                    t._listener._on_data()

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            # Nothing is received any more: the connection leaves _WIRED, so
            # nothing of wsstate keeps it alive (freed by reference counting).
            # The transport lets go of its listener (the guarded connection,
            # which holds the transport: a cycle otherwise).
            t = _WIRED.pop(self, None)
            if t is not None:
                listener, t._listener = t._listener, _DETACHED
                listener._sync()

    Wired.__name__ = cls.__name__
    Wired.__qualname__ = cls.__qualname__
    Wired.__module__ = cls.__module__
    _WIRED_CLASSES[cls] = Wired
    return Wired


class _PongWaiter:
    """Awaits a websockets pong waiter, converting its ConnectionClosed.

    A plain object, not a coroutine: a caller that never awaits it leaves no
    "coroutine was never awaited" warning (websockets itself cancels pong waiters
    that fail, so nothing is reported for the future either).
    """

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Awaitable[float]) -> None:
        self._waiter = waiter

    def __await__(self) -> Generator[Any, None, None]:
        return self._wait().__await__()

    async def _wait(self) -> None:
        try:
            await self._waiter
        except ConnectionClosed:
            raise TransportClosed from None


class WebsocketsTransport(Transport):
    """A websockets 17 asyncio connection seen as a :class:`Transport`.

    Data and Close frames are written the way websockets' own ``broadcast()``
    writes them: through the connection's Sans-I/O protocol (``send_text``,
    ``send_binary``, ``send_close``) and ``send_data()``, without the
    ``send()``/``close()`` coroutines and their context manager. A send has to
    wait only when the write buffer is above its limit (websockets' ``paused``):
    it waits for room *before* it writes, and sends that wait go one at a time
    in order, so a send given up by its write timeout has written nothing (a
    send reported failed never reaches the peer) and one that finds a Close sent
    meanwhile writes nothing (scenario 26). A send during a fragmented message,
    or after the protocol left OPEN, goes through websockets' ``send()``, which
    waits or raises as it documents.
    """

    __slots__ = (
        "_close_started",
        "_listener",
        "_protocol",
        "_transport",
        "_turn",
        "_waiting",
        "_ws",
        "loop",
        "requested_close",
    )

    def __init__(self, ws: Connection) -> None:
        check_loop(ws.loop)
        if _guarded_already(ws):
            raise AlreadyGuarded(
                f"{type(ws).__name__} is guarded already: guard() each connection once "
                "and share the GuardedConnection"
            )
        self._ws = ws
        # Both are fixed once the connection is open (the only way it is guarded).
        self._protocol = ws.protocol
        self._transport = ws.transport
        self.loop = asyncio.get_running_loop()
        self.requested_close = False
        self._close_started = False
        #: Held by the waiting send whose turn it is (made by the first one).
        self._turn: asyncio.Lock | None = None
        #: Sends that have to wait for room, not written yet (the next ones queue
        #: behind them). A wait the caller drops unawaited (a backlog cut short
        #: after a stall or a loss) is not uncounted: later sends then take the
        #: waiting path too, which refuses them on the closing connection.
        self._waiting = 0
        _make_abort_idempotent(ws)

    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        self.attach(Callbacks(listener, on_data))

    def attach(self, listener: Listener) -> None:
        # websockets has no callback for "a message arrived", "a Close frame
        # arrived" or "I failed the connection". All happen while it processes
        # incoming bytes: data_received() parses them and calls process_event()
        # once per frame. The connection's class becomes a subclass (made once
        # per class, _wired_class) whose data_received(), process_event() and
        # connection_lost() also tell the table, through this transport (found
        # in _WIRED), so sends fail fast and the close timer starts as things
        # happen, not at the next operation. No attribute is added to the
        # connection itself: an instance attribute would turn its shared-key
        # __dict__ into a dict of its own, 1.5 KB per connection; and the
        # listener is held as one object, not two bound methods
        # (docs/performance.md, memory).
        self._listener = listener
        ws = self._ws
        _WIRED[ws] = self
        cls = type(ws)
        if not getattr(cls, "_wsstate_wired", False):
            ws.__class__ = _wired_class(cls)

    @property
    def connection(self) -> Connection:
        """The wrapped websockets connection."""
        return self._ws

    def request(self) -> Request:
        ws = self._ws
        native = ws.request
        path, query = "/", ""
        headers: tuple[tuple[str, str], ...] = ()
        if native is not None:
            path, _, query = native.path.partition("?")
            headers = tuple(native.headers.raw_items())
        return Request(path, query, headers, Request.address(ws.remote_address), ws.subprotocol)

    def facts(self) -> Facts:
        p = self._protocol
        library_close: tuple[int, str] | None = None
        sent = p.close_sent
        if sent is not None and not self.requested_close and not p.close_rcvd_then_sent:
            library_close = (int(sent.code), sent.reason)
        rcvd = p.close_rcvd
        close_rcvd: tuple[int | None, str] | None = None
        if rcvd is not None:
            code: int | None = int(rcvd.code)
            if code == 1005:  # the frame carried no code
                code = None
            close_rcvd = (code, rcvd.reason)
        failed = self._write_failed()
        lost = self._ws.connection_lost_waiter.done() or failed
        return Facts(
            library_close=library_close,
            close_rcvd=close_rcvd,
            lost=lost,
            lost_error=lost and (self._ws.connection_exc is not None or failed),
        )

    def _write_failed(self) -> bool:
        # asyncio aborts a transport whose socket write failed (ECONNRESET, EPIPE:
        # the peer reset the connection before our reader noticed, scenario 3) and
        # tells websockets only one loop iteration later (connection_lost), so its
        # state is still OPEN meanwhile. Every write in that window is discarded,
        # and from the fifth on asyncio logs a WARNING ("socket.send() raised
        # exception."), so the loss must be a fact now. In OPEN nothing else closes
        # the transport: websockets closes it only after leaving OPEN, and our own
        # abort moves the table to CLOSED first.
        return self._transport.is_closing() and self._protocol.state is _OPEN

    def is_open(self) -> bool:
        return self._protocol.state is _OPEN and not self._transport.is_closing()

    def write(self, data: Data) -> Awaitable[None] | None:
        if self._waiting or self._ws.paused:
            # The buffer is above its limit, or sends wait ahead of this one: wait
            # for room before the frame is written (class doc).
            self._waiting += 1
            return self._write_when_room(data)
        return self._write_now(data)

    def _write_now(self, data: Data) -> Awaitable[None] | None:
        """Write one data frame now (None), or hand it to websockets' ``send()``."""
        ws = self._ws
        protocol = self._protocol
        try:
            if isinstance(data, str):
                protocol.send_text(data.encode())
            else:
                protocol.send_binary(data)
        except (ProtocolError, InvalidState):
            # A fragmented message is being sent (the caller bypassed the guard),
            # or the protocol is no longer OPEN: websockets' send() waits for the
            # former and raises ConnectionClosed for the latter.
            return self._send(data)
        transport = self._transport
        try:
            ws.send_data()
        except Exception as exc:  # as websockets' send() does: fail the connection
            ws.set_connection_exc(exc)
            transport.abort()
            raise TransportClosed from None
        if transport.is_closing():
            # asyncio reports a failed socket write (ECONNRESET, EPIPE: the peer
            # reset the connection before our reader noticed, scenario 3) by
            # aborting the transport, not by raising: the message was discarded.
            # In OPEN nothing else closes the transport (see _write_failed).
            raise TransportClosed
        return None

    async def _write_when_room(self, data: Data) -> None:
        # One waiting send at a time, in the order they came (asyncio.Lock is
        # fair); each waits until the buffer is below its low-water mark, then
        # writes. One cancelled while it waits (its write timeout) wrote nothing.
        try:
            turn = self._turn
            if turn is None:
                turn = self._turn = asyncio.Lock()
            async with turn:
                ws = self._ws
                while ws.paused:
                    await self._drain()
                if self._protocol.state is not _OPEN or self._transport.is_closing():
                    raise TransportClosed  # a Close went out meanwhile: not written
                pending = self._write_now(data)
                if pending is not None:  # a fragmented message in progress
                    await pending
        finally:
            self._waiting -= 1

    def write_shared(self, data: Data, shared: dict[object, Any]) -> Awaitable[None] | None:
        # A broadcast: every server connection without an extension sends the
        # same bytes (no mask, no per-connection compressor), so the frame is
        # serialized once per broadcast (kept in ``shared``) and handed to each
        # transport, which is what protocol.send_text/send_binary followed by
        # send_data() do for one connection. Any other case (a client's masked
        # frames, permessage-deflate, a fragmented message in progress, bytes
        # the protocol still has to write, websockets' debug log) is write().
        protocol = self._protocol
        if (
            protocol.side is not _SERVER
            or protocol.extensions
            or protocol.expect_continuation_frame
            or protocol.writes
            or protocol.debug
            or protocol.state is not _OPEN
            or self._waiting
            or self._ws.paused
        ):
            return self.write(data)
        frame = shared.get(_FRAME)
        if frame is None:
            if isinstance(data, str):
                message = Frame(Opcode.TEXT, data.encode())
            else:
                message = Frame(Opcode.BINARY, data)
            frame = shared[_FRAME] = message.serialize(mask=False)
        transport = self._transport
        try:
            transport.write(frame)
        except Exception as exc:  # as send_data() in write(): fail the connection
            self._ws.set_connection_exc(exc)
            transport.abort()
            raise TransportClosed from None
        if transport.is_closing():  # a failed socket write (write())
            raise TransportClosed
        return None

    async def _drain(self) -> None:
        ws = self._ws
        try:
            await ws.drain()
        except Exception:  # the connection was lost with an error meanwhile
            raise TransportClosed from None
        if ws.connection_lost_waiter.done():
            # websockets releases a waiting drain() without an error when the
            # transport ends in order (our abort(), a timeout's): what was still
            # buffered was discarded, so the message was not sent.
            raise TransportClosed
        self._check_written()

    async def _send(self, data: Data) -> None:
        try:
            await self._ws.send(data)
        except ConnectionClosed:
            raise TransportClosed from None
        # By the time send() returns, a failed socket write has been reported
        # (its drain() yields once when the transport is closing).
        self._check_written()

    def _check_written(self) -> None:
        """After a send that waited: TransportClosed if the transport failed under it."""
        if self._ws.connection_exc is not None or self._write_failed():
            raise TransportClosed

    async def ping(self) -> Awaitable[None] | None:
        try:
            waiter = await self._ws.ping()
        except ConnectionClosed:
            raise TransportClosed from None
        return _PongWaiter(waiter)

    async def recv(self, block: bool = True) -> Data:
        try:
            if block:
                return await self._ws.recv()
            # A message already assembled is returned without suspending; if recv()
            # has to wait, the zero timeout cancels it, which websockets documents as
            # safe (no data lost).
            async with asyncio.timeout(0):
                return await self._ws.recv()
        except (ConnectionClosed, TimeoutError):
            raise TransportClosed from None
        except ConcurrencyError:  # GuardedConnection checks first; as a last defence
            raise ConcurrentRecv("recv() while another recv() is waiting") from None

    def start_close(self, code: int, reason: str) -> None:
        protocol = self._protocol
        if protocol.state is _OPEN:
            self.requested_close = True
        if self._close_started:
            return
        self._close_started = True
        try:
            protocol.send_close(code, reason)
        except InvalidState:
            return  # no longer OPEN: a Close frame was already sent or received
        except ProtocolError:
            # A fragmented message is being sent (the caller bypassed the guard):
            # websockets' close() fails the connection with 1011 instead.
            self._spawn_close(code, reason)
            return
        # What websockets' close() does next is waiting for the TCP connection to
        # end, aborting it after its close timeout: the table's close timer does
        # that here (every row that emits a Close frame arms it).
        try:
            self._ws.send_data()
        except Exception as exc:
            self._ws.set_connection_exc(exc)
            self._transport.abort()

    def _spawn_close(self, code: int, reason: str) -> None:
        task = self.loop.create_task(self._close(code, reason))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _close(self, code: int, reason: str) -> None:
        # websockets' close() never raises ConnectionClosed; anything else is a bug
        # worth seeing, but must not become an unretrieved task exception.
        try:
            await self._ws.close(code, reason)
        except Exception:
            logger.error("websockets close() failed unexpectedly", exc_info=True)

    def close_transport(self) -> None:
        # websockets closes TCP itself once the closing handshake is complete.
        pass

    def abort_transport(self) -> None:
        with contextlib.suppress(Exception):
            self._transport.abort()
