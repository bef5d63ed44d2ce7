"""Adapter for tornado 6.6's WebSockets: ``WebSocketHandler`` (server) and
``WebSocketClientConnection`` (client, from ``websocket_connect``).

Installed with ``pip install wsstate[tornado]``; :func:`wsstate.guard` imports this
module only for a tornado object, so importing wsstate never needs tornado.

Theory of operation
-------------------

tornado is callback-based: its protocol object reads frames in a loop of its
own and calls the handler's ``on_message``, ``on_pong`` and, once the loop
ends, ``on_ws_connection_close(close_code, close_reason)`` (which runs
``on_close``). It performs the closing handshake itself: it echoes the peer's
Close and closes TCP; after its own Close it waits up to 5 s for the answer,
then aborts. Under wsstate:

* **Guarding takes the callbacks over** (``conn = wsstate.guard(self)`` in
  ``open()``, or on a client connection): ``on_message`` puts each message in
  the queue :meth:`recv` reads (the handler need not override it; while the
  queue holds ``max_queue`` messages tornado's read loop waits, so the socket
  is not read: back-pressure), ``on_pong`` resolves :meth:`ping`'s waiters,
  ``on_ws_connection_close`` reports the closure before the handler's own
  ``on_close`` runs. tornado's own pinging is stopped: wsstate's keepalive
  replaces it (1011 on a late pong, per the table, where tornado closes with
  no code).
* **Raw calls are refused** once guarded: the handler's (or client
  connection's) ``write_message`` (and a client's ``read_message``, which
  would wait forever: its messages go to :meth:`recv`) raise
  :class:`~wsstate.InvalidState`; the refusals stay when the connection is
  over, and a second :func:`wsstate.guard` raises :class:`~wsstate.AlreadyGuarded`.
* **Request details** (:meth:`TornadoTransport.request`): the handler's
  ``request`` (path, query, headers as tornado normalised their names, the
  peer's address from the HTTP connection), or the client's request (the URL
  and headers it sent; the peer's address read when guarded).
* **The closure** is classified by the pure function :func:`closure_facts`
  (a table-driven test, ``tests/test_tornado_adapter.py``) from what tornado
  reports when its read loop ends — the close code it received (None after
  an abrupt drop, and after a Close frame without a code, which the adapter
  tells apart by seeing the frame: 1005), whether its stream ended with an
  error — and who sent a Close first: a Close frame that
  tornado sent on its own (``close()`` called by tornado, say 1009 for a
  message too big, or by the application on the native object) is a library
  close with its code. A peer's Close that breaks the RFC (one byte, a code
  that may not be sent, a reason that is not UTF-8) never reaches tornado,
  which would echo its code as it came: the adapter fails the connection with
  1002 or 1007 (:func:`close_frame_fault`), a library close that blames the
  peer, as on aiohttp. So do the other faults of the peer that tornado's reading
  answers by dropping TCP without a Close (the peer and the connection would see
  1006): a frame that breaks the RFC (1002) and a text message that is not UTF-8
  (1007), told apart by where tornado aborts (:func:`abort_fault`). When ``open()``
  raises after ``guard()``, tornado aborts the stream and never runs its read
  loop, so nothing reports the closure: the adapter reports the loss itself in
  the next turn.
* **Frames are written through the protocol's frame writer** (as its
  ``write_message`` does, without the task it creates per message): tornado's
  stream buffers without limit, so once a write left more than ``write_limit``
  bytes in it, the next sends wait for that write to drain *before* they
  write, one at a time in order (the slow-reader policy then applies): a send
  given up by its write timeout has written nothing, so a send reported failed
  never reaches the peer, and one that finds a Close sent meanwhile writes
  nothing (scenario 26). A write on a closed stream is the loss of the transport.
* **Ending the transport**: tornado closes TCP itself after a closing
  handshake; ``close_transport`` closes the stream if it is still open,
  ``abort_transport`` aborts the protocol.

Private attributes read or set (pinned to tornado 6.6): the protocol's
``_write_frame``, ``_compressor``, ``_ping_coroutine``,
``_handle_message`` and ``_abort`` (wrapped; the names of the functions that
call ``_abort``, :func:`abort_fault`), ``stream`` (its ``error`` and
``_write_buffer``), ``client_terminated``, ``server_terminated``; a client
connection's ``protocol`` is set to None once the closure is reported, as its
own ``close()`` does (else tornado warns "Unclosed WebSocketClientConnection"
when it is freed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final
from urllib.parse import urlsplit

from tornado.iostream import StreamClosedError
from tornado.queues import QueueEmpty
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, WebSocketProtocol13

from ..closecodes import is_sendable_code, validate_close
from ..errors import AlreadyGuarded, InvalidState
from .base import Data, Facts, Request, Transport, TransportClosed, check_loop

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_WRITE_LIMIT",
    "TornadoTransport",
    "close_frame_fault",
    "closure_facts",
]

logger: Final = logging.getLogger("wsstate")

#: Data messages waiting for ``recv`` before tornado's read loop is made to wait.
DEFAULT_MAX_QUEUE: Final = 16
#: Bytes in tornado's write buffer above which a send waits for it to drain.
DEFAULT_WRITE_LIMIT: Final = 64 * 1024

_NOTHING: Final = Facts()
_FIN: Final = 0x80
_TEXT: Final = 0x1
_CLOSE: Final = 0x8
_RSV1: Final = 0x40


def closure_facts(
    close_code: int | None,
    close_reason: str | None,
    *,
    stream_error: bool,
    library_close: tuple[int, str] | None,
    empty_close: bool = False,
) -> Facts:
    """What tornado's ``on_ws_connection_close(close_code, close_reason)`` says happened.

    ``stream_error``: tornado's stream ended with an error (a reset), not a FIN;
    ``library_close``: the Close tornado sent on its own first, if any (module doc);
    ``empty_close``: the peer's Close frame had no payload (the adapter saw it:
    tornado reports it as no code, like a drop).

    * a close code: the peer's Close frame, then the end of TCP (tornado echoed
      it, or it answered ours, and closed the stream);
    * a Close without a code: the peer's Close (1005 to the table), then the end of TCP;
    * no close code and no Close: the transport was lost, with an error if the
      stream says so;
    * a library close is reported first, as it happened first.
    """
    if close_code is not None:
        close_rcvd: tuple[int | None, str] | None = (int(close_code), close_reason or "")
    else:
        close_rcvd = (None, "") if empty_close else None
    return Facts(
        library_close=library_close,
        close_rcvd=close_rcvd,
        lost=True,
        lost_error=close_rcvd is None and stream_error,
    )


def close_frame_fault(payload: bytes) -> tuple[int, str] | None:
    """The Close wsstate fails the connection with for a peer's Close frame that breaks
    RFC 6455 (sections 5.5.1, 7.4), where tornado would echo its code as it came; None
    for a valid one (tornado handles it).

    ``payload``: the Close frame's payload. Empty is valid (no code: the peer's
    Close, 1005, see :func:`closure_facts`); one byte, a code that may not be sent (1005, 1006,
    999, 2000...) or a reason that is not UTF-8 fail the connection with 1002, 1002
    and 1007, as aiohttp and websockets do.
    """
    if not payload:
        return None
    if len(payload) == 1:
        return (1002, "invalid close frame")
    if not is_sendable_code(int.from_bytes(payload[:2], "big")):
        return (1002, "invalid close code")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return (1007, "invalid close reason")
    return None


def abort_fault(caller: str, opcode: int | None) -> tuple[int, str] | None:
    """The Close wsstate fails the connection with when tornado's reading aborts it
    because of the peer, where tornado drops TCP without a Close (the peer, and the
    connection, would see 1006); None for an abort that is not the peer's fault.

    ``caller``: the name of tornado's function that called ``_abort()`` (pinned to
    tornado 6.6); ``opcode``: the message ``_handle_message`` was handling, if any.

    * ``_receive_frame``: a frame that breaks RFC 6455 (reserved bits without an
      extension, a reserved opcode, a control frame fragmented or over 125
      bytes, a continuation with no message started, a new message before the
      last one ended): 1002, as websockets and aiohttp fail it;
    * ``_handle_message`` of a text message: it is not UTF-8 (tornado decodes it
      once decompressed): 1007; of anything else, a reserved opcode: 1002;
    * any other caller is not the peer's fault (the stream ended, ``open()`` or
      an ``on_ping`` of the application raised): tornado aborts as it does.
    """
    if caller == "_receive_frame":
        return (1002, "protocol error")
    if caller == "_handle_message":
        return (1007, "invalid text message") if opcode == _TEXT else (1002, "protocol error")
    return None


def _peername(stream: Any) -> object:
    sock: socket.socket | None = stream.socket
    if sock is None:
        return None
    try:
        return sock.getpeername()
    except OSError:
        return None


class _PongWaiter:
    """Resolved by the pong answering one ping; raises TransportClosed if the transport ends."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[bool]) -> None:
        self._future = future

    def __await__(self) -> Generator[Any, None, None]:
        return self._wait().__await__()

    async def _wait(self) -> None:
        if not await self._future:
            raise TransportClosed


TornadoWebSocket = WebSocketHandler | WebSocketClientConnection


def _refuse_write(*args: Any, **kwargs: Any) -> Any:
    raise InvalidState(
        "this tornado WebSocket is guarded by wsstate: write_message bypasses the guard; "
        "use the GuardedConnection (send, try_send, close)"
    )


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _refuse_read(*args: Any, **kwargs: Any) -> Any:
    raise InvalidState(
        "this tornado WebSocket is guarded by wsstate: receive it through the "
        "GuardedConnection (recv, async for)"
    )


class TornadoTransport(Transport):
    """A tornado WebSocket (server handler or client connection) seen as a :class:`Transport`.

    Create it (through :func:`wsstate.guard`) once the connection is open: in a
    handler's ``open()``, or on the connection ``websocket_connect`` returned.
    """

    _empty_close = False  # the peer's Close had no payload (closure_facts)
    _in_loop_close = False  # the peer's Close is handled by tornado's read loop
    _handling: int | None = None  # the opcode of the message tornado is handling

    def __init__(
        self,
        ws: TornadoWebSocket,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        write_limit: int = DEFAULT_WRITE_LIMIT,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue!r}")
        if vars(ws).get("write_message") is _refuse_write:
            raise AlreadyGuarded(
                "this tornado WebSocket is guarded already: guard() each connection once "
                "and share the GuardedConnection"
            )
        proto = ws.ws_connection if isinstance(ws, WebSocketHandler) else ws.protocol
        if not isinstance(proto, WebSocketProtocol13) or proto.stream is None:
            raise TypeError("guard a tornado WebSocket once it is open (in open(), or connected)")
        check_loop(getattr(proto.stream.io_loop, "asyncio_loop", None))
        if proto.is_closing():
            raise TypeError("this tornado WebSocket is already closing")
        self._ws = ws
        self._proto = proto
        self._stream = proto.stream
        # asyncio's transports (websockets, aiohttp, uvicorn) run with TCP_NODELAY;
        # tornado's IOStream leaves Nagle's algorithm on, so a small message (and
        # the Close frame) can wait ~40 ms behind the delayed ACK of the one before.
        # Guarded, each send is on the wire when it is made, as on the other
        # transports (docs/tornado.md).
        proto.stream.set_nodelay(True)
        self.loop = asyncio.get_running_loop()
        self._max_queue = max_queue
        self._write_limit = write_limit
        self._messages: deque[Data] = deque()
        self._readable = asyncio.Event()
        self._space: asyncio.Future[None] | None = None
        self._facts = _NOTHING
        self._library_close: tuple[int, str] | None = None
        self._requested = False  # we sent a Close (start_close)
        self._full: asyncio.Future[None] | None = None  # the write that filled the buffer
        self._waiting = 0  # sends waiting for it to drain, not written yet
        self._turn: asyncio.Lock | None = None  # held by the waiting send whose turn it is
        self._ending = False  # we close or abort the transport
        self._pings: dict[bytes, asyncio.Future[bool]] = {}
        self._ping_ids = 0
        self._listener: Callable[[], None] | None = None
        self._on_data: Callable[[], None] | None = None
        self._peer: object = None
        # tornado's pinging is replaced by wsstate's keepalive (module doc).
        if proto._ping_coroutine is not None:
            proto._ping_coroutine.cancel()
            proto._ping_coroutine = None
        self._native_close = proto.close
        closed = ws.on_ws_connection_close
        handle = proto._handle_message

        def handle_message(opcode: int, data: bytes) -> Any:
            # A Close that breaks the RFC fails the connection (close_frame_fault)
            # before tornado would echo it.
            if opcode == _CLOSE and not proto.client_terminated:
                fault = close_frame_fault(data)
                if fault is not None:
                    self._peer_fault(fault)
                    return None
                if not data:
                    self._empty_close = True  # tornado reports it as no code
                # tornado echoes it and closes the stream from inside its read
                # loop, which then reports the closure in this turn (_close_called).
                self._in_loop_close = True
            self._handling = opcode  # what an abort from tornado's handling is about
            try:
                return handle(opcode, data)
            finally:
                self._handling = None

        native_abort = proto._abort

        def abort() -> None:
            # tornado aborts for the peer's faults without a Close: fail the
            # connection instead (abort_fault), unless a Close went out or came in,
            # or the stream is gone already.
            if not (proto.server_terminated or proto.client_terminated or self._stream.closed()):
                caller = sys._getframe(1).f_code.co_name
                fault = abort_fault(caller, self._handling)
                if fault is not None:
                    self._peer_fault(fault)
                    return
            native_abort()

        setattr(proto, "_handle_message", handle_message)  # noqa: B010
        setattr(proto, "_abort", abort)  # noqa: B010
        # setattr: mypy forbids assigning to a method. Instance attributes: tornado
        # looks each callback up on the handler (or client connection) every time.
        setattr(proto, "close", self._close_called)  # noqa: B010
        setattr(ws, "on_message", self._message)  # noqa: B010
        setattr(ws, "on_pong", self._pong)  # noqa: B010
        # Kept once the connection is over (plain functions: no reference back):
        # raw calls refused, and a second guard() is AlreadyGuarded.
        setattr(ws, "write_message", _refuse_write)  # noqa: B010
        if isinstance(ws, WebSocketClientConnection):
            setattr(ws, "read_message", _refuse_read)  # noqa: B010
            # The peer's address, while the socket is there to ask (a server's
            # request keeps it).
            self._peer = _peername(self._stream)
            # Messages that arrived before guard(): tornado keeps them in its read
            # queue of one, where its read loop waits to put the next. Taken here,
            # in order (taking one lets that put finish: the loop goes on reading,
            # into _message from now on); a None is tornado's own closure, which
            # the adapter sees for itself.
            queue = ws.read_queue
            while True:
                try:
                    early = queue.get_nowait()
                except QueueEmpty:
                    break
                if early is not None:
                    self._messages.append(early)
                    self._readable.set()

        def on_ws_connection_close(
            close_code: int | None = None, close_reason: str | None = None
        ) -> None:
            self._closed(close_code, close_reason)
            closed(close_code, close_reason)  # then the handler's on_close
            # Unwrap: no reference cycle through the wrappers once it is over.
            for name in ("on_message", "on_pong", "on_ws_connection_close"):
                ws.__dict__.pop(name, None)
            proto.__dict__.pop("close", None)
            proto.__dict__.pop("_handle_message", None)
            proto.__dict__.pop("_abort", None)
            if isinstance(ws, WebSocketClientConnection):
                # What the client connection's own close() leaves: without it,
                # tornado warns "Unclosed WebSocketClientConnection" when the
                # object is freed, however the connection ended.
                ws.protocol = None

        setattr(ws, "on_ws_connection_close", on_ws_connection_close)  # noqa: B010

    # -- what GuardedConnection sees ------------------------------------------------

    @property
    def websocket(self) -> TornadoWebSocket:
        """The wrapped tornado handler or client connection."""
        return self._ws

    def request(self) -> Request:
        """The handshake's request: the handler's (server) or the one sent (client)."""
        ws = self._ws
        headers = tuple(ws.request.headers.get_all())
        subprotocol = self._proto.selected_subprotocol
        if isinstance(ws, WebSocketHandler):
            native = ws.request
            peer = Request.address(getattr(native.connection, "context", None).address)  # type: ignore[union-attr]
            return Request(native.path, native.query, headers, peer, subprotocol)
        url = urlsplit(ws.request.url)
        peer = Request.address(self._peer)
        return Request(url.path or "/", url.query, headers, peer, subprotocol)

    @property
    def queued(self) -> int:
        """Received messages waiting for :meth:`recv`."""
        return len(self._messages)

    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        self._listener = listener
        self._on_data = on_data

    def facts(self) -> Facts:
        return self._facts

    def is_open(self) -> bool:
        return self._facts is _NOTHING and not self._requested and not self._stream.closed()

    def write(self, data: Data) -> Awaitable[None] | None:
        full = self._full
        if self._waiting or (full is not None and not full.done()):
            # The write before left the buffer above its limit: wait for it to
            # drain before this frame is written (compressed then, in order), so
            # that a send given up by its write timeout has written nothing.
            self._waiting += 1
            return self._write_when_flushed(data)
        self._write_frame(data)
        return None

    def _write_frame(self, data: Data) -> None:
        """Write one data frame now, or raise TransportClosed (nothing written)."""
        proto = self._proto
        if isinstance(data, str):
            payload, opcode = data.encode(), 0x1
        else:
            payload, opcode = bytes(data), 0x2
        flags = 0
        compressor = proto._compressor
        if compressor is not None:
            payload = compressor.compress(payload)
            flags = _RSV1
        try:
            future = proto._write_frame(True, opcode, payload, flags=flags)
        except StreamClosedError:
            self._lose_now()
            raise TransportClosed from None
        stream = self._stream
        if stream.closed():
            # The socket write failed (the peer reset the connection before tornado's
            # read loop noticed): tornado closed the stream and dropped the message.
            self._lose_now()
            raise TransportClosed
        buffered = stream._write_buffer
        if buffered is not None and len(buffered) > self._write_limit:
            self._full = future
            # Nobody may be left to await it: its failure is retrieved here.
            future.add_done_callback(_retrieve)

    async def _write_when_flushed(self, data: Data) -> None:
        # One waiting send at a time, in the order they came (asyncio.Lock is fair).
        try:
            if self._turn is None:
                self._turn = asyncio.Lock()
            async with self._turn:
                full = self._full
                if full is not None and not full.done():
                    # Shielded: a send that times out must not cancel tornado's own
                    # future (its done callback would raise CancelledError in the loop).
                    await asyncio.shield(full)
                if self._requested or self._library_close is not None or self._ending:
                    raise TransportClosed  # a Close went out meanwhile: not written
                self._write_frame(data)
        except StreamClosedError:
            self._lose_now()
            raise TransportClosed from None
        finally:
            self._waiting -= 1

    async def ping(self) -> Awaitable[None] | None:
        if not self.is_open():
            raise TransportClosed
        self._ping_ids += 1
        payload = self._ping_ids.to_bytes(4, "big")
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._pings[payload] = waiter
        try:
            self._proto.write_ping(payload)
        except StreamClosedError:
            self._pings.pop(payload, None)
            self._lose_now()
            raise TransportClosed from None
        return _PongWaiter(waiter)

    async def recv(self, block: bool = True) -> Data:
        messages = self._messages
        while not messages:
            if not block or self._facts.lost:
                raise TransportClosed
            self._readable.clear()
            await self._readable.wait()
        data = messages.popleft()
        space = self._space
        if space is not None and len(messages) < self._max_queue:
            self._space = None
            if not space.done():
                space.set_result(None)
        return data

    # -- closing -------------------------------------------------------------------

    def start_close(self, code: int, reason: str) -> None:
        self._release()
        if self._requested or self._library_close is not None or self._proto.server_terminated:
            return  # a Close already went out
        self._requested = True
        self._native_close(code, reason)  # tornado aborts after 5 s; our close timer first

    def close_transport(self) -> None:
        self._ending = True
        self._release()
        if not self._stream.closed():
            self._stream.close()

    def abort_transport(self) -> None:
        self._ending = True
        self._release()
        with contextlib.suppress(Exception):
            self._proto._abort()

    # -- internals -----------------------------------------------------------------

    def _message(self, message: str | bytes) -> Awaitable[None] | None:
        self._messages.append(message)
        self._readable.set()
        if self._on_data is not None:
            self._on_data()
        if len(self._messages) >= self._max_queue and not (self._facts.lost or self._ending):
            # tornado's read loop awaits this before it reads the next frame.
            self._space = self.loop.create_future()
            return self._space
        return None

    def _pong(self, payload: bytes) -> None:
        waiter = self._pings.pop(payload, None)
        if waiter is None:
            return  # unsolicited
        for earlier in [p for p in self._pings if p < payload]:  # RFC 6455 5.5.3
            self._resolve(self._pings.pop(earlier), True)
        self._resolve(waiter, True)

    @staticmethod
    def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
        if not waiter.done():
            waiter.set_result(value)

    def _close_called(self, code: int | None = None, reason: str | None = None) -> None:
        """The protocol's ``close()``, called by tornado or on the native object (module doc).

        A close of its own (not an echo, not an abort) with a code or reason that
        may not be sent raises :class:`~wsstate.InvalidCloseCode` or
        :class:`~wsstate.InvalidCloseReason` before anything changes.
        """
        proto = self._proto
        library = (
            not self._ending
            and not self._requested
            and self._library_close is None
            and not proto.server_terminated
            and not proto.client_terminated  # not the echo of the peer's Close
            and not self._stream.closed()
        )
        if library:
            # The application's (or tornado's own) close: checked as conn.close()
            # checks its arguments, before anything changes; without a code it
            # sends 1000, the code the table records.
            code = 1000 if code is None else code
            validate_close(code, "" if reason is None else reason)
            self._library_close = (int(code), reason or "")
        # Written before the table hears of it: its row may end the transport at
        # once (a code that blames the peer: OPEN -> CLOSED), after the frame.
        self._native_close(code, reason)
        if library:
            self._record(Facts(library_close=self._library_close))
        if self._stream.closed() and not self._facts.lost and not self._in_loop_close:
            # tornado reports the closure from its read loop, in this turn or, woken
            # by the stream's close, at the start of the next; when open() raised
            # after guard(), tornado aborts and the loop never runs (_unreported).
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing waits
                self.loop.call_soon(self._unreported)

    def _unreported(self) -> None:
        """The stream closed and tornado's read loop did not report it: the loss, now."""
        if not self._facts.lost:
            self._release()
            self._closed(None, None)

    def _peer_fault(self, fault: tuple[int, str]) -> None:
        """The peer broke the RFC (its Close, :func:`close_frame_fault`, or what
        tornado's reading aborts for, :func:`abort_fault`): fail the connection with
        ``fault``, a library close that blames the peer."""
        proto = self._proto
        # Nothing more is read (its Close came, or it is failed): tornado's read
        # loop ends, and its close() closes the stream without waiting for an answer.
        proto.client_terminated = True
        library = (
            not self._requested and self._library_close is None and not proto.server_terminated
        )
        if library:
            self._library_close = fault
        # Sent unless a Close went out already, then tornado closes the stream; the
        # table hears of it after (its row ends the transport: OPEN -> CLOSED).
        self._native_close(*fault)
        if library:
            self._record(Facts(library_close=fault))

    def _closed(self, close_code: int | None, close_reason: str | None) -> None:
        error = self._stream.error is not None
        self._record(
            closure_facts(
                close_code,
                close_reason,
                stream_error=error,
                library_close=self._library_close,
                empty_close=self._empty_close,
            )
        )

    def _lose_now(self) -> None:
        """A write found the stream closed before tornado's read loop reported it."""
        if not self._facts.lost:
            self._record(Facts(self._library_close, None, lost=True, lost_error=True))

    def _record(self, facts: Facts) -> None:
        if self._facts.lost:
            return  # the closure was reported once
        self._facts = facts
        if facts.lost:
            self._readable.set()
            self._release()
            for waiter in self._pings.values():
                self._resolve(waiter, False)
            self._pings.clear()
        if self._listener is not None:
            self._listener()
            if facts.lost:
                # The closure is reported once (above): let go of the connection's
                # callbacks, so that no reference cycle (connection -> transport ->
                # listener -> connection) waits for the garbage collector.
                self._listener = self._on_data = None

    def _release(self) -> None:
        """Let tornado's read loop go on (the connection is ending: no back-pressure)."""
        space, self._space = self._space, None
        if space is not None and not space.done():
            space.set_result(None)
