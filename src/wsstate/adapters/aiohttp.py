"""Adapter for aiohttp 3.14's WebSockets: ``web.WebSocketResponse`` (server, after
``prepare()``) and ``ClientWebSocketResponse`` (client, from ``ws_connect``).

Installed with ``pip install wsstate[aiohttp]``; :func:`wsstate.guard` imports this
module only for an aiohttp object, so importing wsstate never needs aiohttp.

Theory of operation
-------------------

aiohttp parses frames into a queue that ``receive()`` reads, and performs the
closing handshake inside ``receive()`` and ``close()``: it echoes a Close with
1000 whatever the peer sent, discards the data the peer sends while it waits
for the answer to its own Close (for up to ``timeout``, 10 s), sends a Close
1000 to a peer that sent only a FIN, and its heartbeat drops TCP without a
Close frame. Under wsstate the table decides all of that instead:

* **Guarding takes the socket over.** ``autoclose`` and ``autoping`` are turned
  off, aiohttp's heartbeat is stopped and its receive timeout (with the client's
  socket read timeout derived from it) switched off: wsstate's keepalive
  replaces them (1011 on a late pong, per the table). From then on only wsstate may call the
  socket's ``receive``/``send_*``: the socket's class becomes a subclass (made
  once per class) whose ``send_str``, ``send_bytes``, ``send_json``,
  ``send_frame`` and ``receive`` raise :class:`~wsstate.InvalidState`, and a
  second :func:`wsstate.guard` of it raises :class:`~wsstate.AlreadyGuarded`.
  Its ``close`` is reported to the table (below), through the weak reference
  to the adapter the socket holds (``_wsstate_adapter``, set by the guard).
* **Request details** (:meth:`AiohttpTransport.request`): a server reads the
  request ``prepare()`` was given (kept by the adapter: aiohttp lets go of it
  when the response ends), a client its ``request_info`` (the headers it
  sent); the peer's address is the socket's, the subprotocol the negotiated one.
* **The adapter reads in the parser's turn, without a task.** aiohttp's
  protocol feeds its WebSocket parser, which puts messages in aiohttp's queue;
  the adapter puts a tap in front of the parser (``protocol._payload_parser``):
  once the parser took the bytes (or the end of the stream), the tap runs the
  adapter's pump, which takes what the queue holds through aiohttp's own
  ``receive()``, stepped once (with a message queued it returns at once), in
  that same turn. A task reads on from there only at the end of the stream or
  on an error (where ``receive()`` runs aiohttp's own ``close()``, which waits
  for the peer within a timeout, and ``asyncio.timeout`` needs a task), or when
  a step had to wait (a pong behind a peer that stopped reading). A task
  per connection cost 11 us of CPU in figure 10's churn (docs/performance.md).
  Data messages wait in a queue of at most ``max_queue`` for :meth:`recv`
  (while it is full the pump stops and aiohttp's own queue then stops reading
  the socket: back-pressure; :meth:`recv` pumps again once there is room).
  Pings are answered, pongs resolve :meth:`ping`'s waiters. Every other message
  is classified by the pure function :func:`message_facts` (a table-driven test,
  ``tests/test_aiohttp_adapter.py``): the peer's Close, a protocol error aiohttp
  answered with its own Close (1002, 1007, 1009: a library close), the end of
  the stream or a failure. After the peer's Close reading stops: a later
  ``receive()`` would make aiohttp close on its own. Both ways of reading are
  driven from a raw peer in ``tests/test_aiohttp_reading.py``.
* **Frames are written by aiohttp's writer**, in the caller's turn, with
  aiohttp's flow control: once it wrote more than its limit since it last
  looked and the transport is above its high-water mark, aiohttp would wait
  for the peer to read after that write. Here the *next* send waits, before it
  writes, and sends that wait go one at a time in order: a send given up by
  its write timeout has written nothing, so a send reported failed never
  reaches the peer, and one reported sent is in the transport's buffer ahead
  of any Close (scenario 26). Close
  frames go out with the application's code (or the peer's, echoed; none when
  the peer's Close had none); aiohttp's ``close()`` is never used for them.
  A send aiohttp refuses (``ClientConnectionResetError``, an ``OSError``), or
  that asyncio discarded because the socket write failed, is the loss of the
  transport.
* **aiohttp's own close** — the server calls ``close()`` when the handler
  returns while the connection is open, and an application may call it on the
  native object — is reported as a library close with its code (the table
  moves to CLOSING; the close timer bounds the rest); aiohttp's ``close()``
  then finishes on its own (the adapter reads nothing more from then on) and
  the loss is reported once it returned, after the peer's answer if aiohttp
  read one (the pure function :func:`answer_facts`, from the socket's
  ``close_code`` and ``exception()``): clean. Once wsstate has sent a Close frame, aiohttp's
  ``close()`` sends nothing more (no second Close on the wire).
* **Ending the transport**: ``close_transport`` closes TCP after the pending
  data and ``abort_transport`` drops it; both mark the aiohttp socket closed.
  ``close_transport`` records the loss at once, without reporting it: the
  connection reads the facts again once the row that ended the transport is
  done, so the loss is fed in the same turn, after that row's effects.

Private attributes read or set (pinned to aiohttp 3.14): ``_writer`` (its
``transport``, ``send_frame``, ``close``), ``_reader`` (the queue: its
``_buffer``, ``is_eof()``), the protocol's ``_payload_parser`` (and the client's
``_read_timeout``, ``_drop_timeout()``), ``_timeout`` (client) and ``_receive_timeout``
and ``_req`` (server), ``_closed``, ``_autoclose``, ``_autoping``,
``_heartbeat``, ``_cancel_heartbeat()``, ``_set_closed()``, ``_waiting``, the client's
``_response``, and for data frames the writer's ``_write_websocket_frame``,
``_send_compressed_frame_sync``, ``_closing``, ``_output_size``, ``_limit`` and its
protocol's ``_paused``/``_drain_waiter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Final, cast

from aiohttp import ClientWebSocketResponse, ClientWSTimeout, WebSocketError, WSMsgType, web

from ..closecodes import ABNORMAL_CLOSURE, InvalidCloseReason, is_sendable_code, validate_close
from ..errors import AlreadyGuarded, InvalidState
from ._steps import Continuation, step
from .base import Callbacks, Data, Facts, Listener, Request, Transport, TransportClosed, check_loop

__all__ = ["DEFAULT_MAX_QUEUE", "AiohttpTransport", "answer_facts", "message_facts"]

logger: Final = logging.getLogger("wsstate")

#: Data messages waiting for ``recv`` before the reader stops asking aiohttp.
DEFAULT_MAX_QUEUE: Final = 16

_NOTHING: Final = Facts()
_LOST: Final = Facts(lost=True, lost_error=False)
_LOST_ERROR: Final = Facts(lost=True, lost_error=True)
#: Facts from its four fields, without the named tuple's Python-level constructors.
_make_facts: Final = cast(
    Callable[[tuple[object, object, bool, bool]], Facts], functools.partial(tuple.__new__, Facts)
)
_INVALID_CODE: Final = Facts(library_close=(1002, "invalid close code"))
_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CLOSE: Final = WSMsgType.CLOSE
_PING: Final = WSMsgType.PING
_PONG: Final = WSMsgType.PONG

AiohttpWebSocket = web.WebSocketResponse | ClientWebSocketResponse


def _resolve_waiter(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def message_facts(kind: WSMsgType, data: object, extra: object) -> Facts | None:
    """What a message aiohttp's ``receive()`` returned says about the closure (module doc).

    None for a message that says nothing about it (data, ping, pong). Otherwise:

    * ``CLOSE``: the peer's Close (code 0 means the frame had none). A code that
      may not appear in a Close frame (aiohttp lets 1006 through) makes it a
      protocol violation: the adapter fails the connection with 1002, a library
      close that blames the peer.
    * ``ERROR`` with a ``WebSocketError``: aiohttp failed the connection with that
      error's code (1002, 1007, 1009) and ended TCP once the peer answered.
    * ``ERROR`` with anything else: the transport failed (reset, lost).
    * ``CLOSED``: the stream ended (a FIN) with no Close frame.
    * ``CLOSING``: aiohttp's ``close()`` runs (reported when it is called).
    """
    if kind is _CLOSE:
        code = data if isinstance(data, int) else 0
        reason = extra if isinstance(extra, str) else ""
        if code == 0:
            return _make_facts((None, (None, reason), False, False))
        if not is_sendable_code(int(code)):
            return _INVALID_CODE
        return _make_facts((None, (int(code), reason), False, False))
    if kind is WSMsgType.ERROR:
        if isinstance(data, WebSocketError):
            return Facts(library_close=(int(data.code), ""), lost=True, lost_error=False)
        return _LOST_ERROR
    if kind is WSMsgType.CLOSED:
        return _LOST
    return None


def _close_reason(message: object) -> str:
    """The reason of a native ``close(message=...)`` (bytes, as aiohttp takes it)."""
    if not isinstance(message, bytes | bytearray):
        return cast(str, message)  # validate_close says what it is not
    try:
        return bytes(message).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCloseReason(f"close message is not valid UTF-8: {bytes(message)!r}") from None


def answer_facts(
    close_code: int | None, error: BaseException | None, *, read: bool = True
) -> Facts | None:
    """What aiohttp's own ``close()`` learned of the peer's answer, once it returned.

    ``close_code`` and ``error``: the native socket's ``close_code`` and
    ``exception()`` then; ``read``: whether that ``close()`` read the answer at all
    (a server's does not when a ``receive()`` was waiting as it was called: it
    ends that ``receive()`` with ``close_code`` 1000 and closes TCP at once).
    aiohttp keeps the answer's code only (not its reason): the peer's Close as
    :func:`message_facts` classifies it; None when no answer came (not read, or
    aiohttp's close timed out, was cancelled or failed: ``close_code`` 1006 with
    or without an error, or no code at all).
    """
    if not read or error is not None or close_code is None or close_code == ABNORMAL_CLOSURE:
        return None
    return message_facts(_CLOSE, close_code, "")


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


async def _refuse_send(self: AiohttpWebSocket, *args: Any, **kwargs: Any) -> None:
    raise InvalidState(
        "this aiohttp WebSocket is guarded by wsstate: a send on it bypasses the guard; "
        "use the GuardedConnection (send, try_send, close)"
    )


async def _refuse_receive(self: AiohttpWebSocket, *args: Any, **kwargs: Any) -> Any:
    raise InvalidState(
        "this aiohttp WebSocket is guarded by wsstate: receive it through the "
        "GuardedConnection (recv, async for)"
    )


#: Per aiohttp WebSocket class, its guarded subclass.
_GUARDED_CLASSES: Final[dict[type[Any], type[Any]]] = {}


def _guarded_class(cls: type[AiohttpWebSocket]) -> type[AiohttpWebSocket]:
    """The subclass a guarded socket becomes (made once per class): its own sends and
    ``receive()`` (which every ``receive_*`` and ``async for`` call) raise
    :class:`~wsstate.InvalidState`, so nothing bypasses the guard and no aiohttp
    exception (a concurrent ``receive()``'s RuntimeError) reaches the application.
    Its ``close()`` is the adapter's ``_close_called``, reached through the weak
    reference the socket holds (``_wsstate_adapter``; aiohttp's own ``close()``
    once the adapter is gone): weak, since the adapter holds the socket.
    A subclass without slots of its own: assigning ``__class__`` costs nothing per
    connection, and the mark stays once the connection is over (AlreadyGuarded)."""
    guarded = _GUARDED_CLASSES.get(cls)
    if guarded is None:
        native_close: Callable[..., Awaitable[bool]] = cls.close

        def close(self: AiohttpWebSocket, **kwargs: Any) -> Awaitable[bool]:
            transport = self._wsstate_adapter()  # type: ignore[union-attr]
            if transport is not None:
                result: Awaitable[bool] = transport._close_called(**kwargs)
            else:
                result = native_close(self, **kwargs)
            return result

        namespace: dict[str, Any] = {
            "__slots__": (),
            "_wsstate_guarded": True,
            "_wsstate_native_close": native_close,
            "close": close,
            "send_str": _refuse_send,
            "send_bytes": _refuse_send,
            "send_json": _refuse_send,
            "send_frame": _refuse_send,
            "receive": _refuse_receive,
        }
        guarded = _GUARDED_CLASSES[cls] = type(cls.__name__, (cls,), namespace)
        guarded.__module__ = cls.__module__
        close.__qualname__ = f"{cls.__qualname__}.close"
    return guarded


class _Tap:
    """What aiohttp's protocol feeds instead of its WebSocket parser: the parser,
    then the adapter's pump (module doc). Its reference to the adapter goes once
    the transport is lost."""

    __slots__ = ("_parser", "transport")

    def __init__(self, parser: Any, transport: AiohttpTransport) -> None:
        self._parser = parser
        self.transport: AiohttpTransport | None = transport

    def feed_data(self, data: bytes) -> Any:
        result = self._parser.feed_data(data)
        if self.transport is not None:
            self.transport._pump()
        return result

    def feed_eof(self) -> None:
        self._parser.feed_eof()
        if self.transport is not None:
            self.transport._pump()


class AiohttpTransport(Transport):
    """An aiohttp WebSocket (server or client side) seen as a :class:`Transport`.

    Create it (through :func:`wsstate.guard`) in the event loop running it, once
    it is open: a ``WebSocketResponse`` after ``prepare()``.
    """

    # Defaults on the class, and waiters, pings and tasks created on first use: a
    # connection that opens, sends and closes (figure 10's churn) builds only what
    # it needs (docs/performance.md, figure 10).
    _draining = False
    _gone = False  # nothing more will be received
    _facts = _NOTHING
    _close_sent = False  # a Close frame went out (ours, our echo, or aiohttp's)
    _ended = False  # we closed or aborted TCP
    _pings: dict[bytes, asyncio.Future[bool]] | None = None
    _ping_ids = 0
    _inflight = 0  # sends that had to wait and are not written yet
    _turn: asyncio.Lock | None = None  # held by the waiting send whose turn it is
    _blocked = False  # aiohttp's writer would wait for the peer before the next write
    _written: asyncio.Future[None] | None = None  # resolved once none is
    _readable: asyncio.Future[None] | None = None  # recv() waits for a message
    _space: asyncio.Future[None] | None = None  # the reader waits for room
    _conn: Listener | None = None  # whom it reports to (attach)
    _tasks: set[asyncio.Task[Any]] | None = None
    _reader: asyncio.Task[None] | None = None  # the reading task, once reading had to wait
    _reading = False  # a message is being read (the tap's pump, or the task from then on)
    _max_queue = DEFAULT_MAX_QUEUE
    _tap: _Tap | None = None
    _request: web.BaseRequest | None = None  # a server's (request())

    def __init__(self, ws: AiohttpWebSocket, *, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue!r}")
        cls = type(ws)
        if getattr(cls, "_wsstate_guarded", False):
            raise AlreadyGuarded(
                "this aiohttp WebSocket is guarded already: guard() each connection once "
                "and share the GuardedConnection"
            )
        writer = ws._writer
        if writer is None:
            raise TypeError("guard an aiohttp WebSocketResponse after `await ws.prepare(request)`")
        if ws._closed:
            raise TypeError("this aiohttp WebSocket is already closed")
        check_loop(ws._loop)  # set by prepare() and ws_connect(), as the writer is
        self._ws = ws
        self._writer = writer
        self._raw: asyncio.Transport = writer.transport
        self.loop = asyncio.get_running_loop()
        client = self._client = cls is ClientWebSocketResponse or isinstance(
            ws, ClientWebSocketResponse
        )
        if max_queue != DEFAULT_MAX_QUEUE:
            self._max_queue = max_queue
        self._messages: deque[Data] = deque()
        # The table decides closing and keepalive (module doc).
        ws._autoclose = False
        ws._autoping = False
        if ws._heartbeat is not None:  # aiohttp's default is None: nothing armed
            ws._heartbeat = None
            ws._cancel_heartbeat()
        # aiohttp's receive timeout (a silence that long ends the connection, with
        # a Close 1000 on the server) is replaced by the keepalive too; and the
        # adapter's pump steps receive() outside any task, where asyncio.timeout()
        # cannot run.
        protocol: Any = writer.protocol  # the client's or the server's, both with a parser
        if client:
            assert isinstance(ws, ClientWebSocketResponse)
            if ws._timeout.ws_receive is not None:  # aiohttp's default is None
                ws._timeout = ClientWSTimeout(ws_receive=None, ws_close=ws._timeout.ws_close)
            # The socket read timeout aiohttp derives from it fails the queue
            # without feeding the parser: off as well.
            if protocol._read_timeout is not None:
                protocol.read_timeout = None
                protocol._drop_timeout()
        else:
            server = cast(web.WebSocketResponse, ws)
            server._receive_timeout = None
            # aiohttp lets go of the request once the response ended.
            self._request = server._req
        self._receive: Callable[..., Coroutine[Any, Any, Any]] = cls.receive
        ws.__class__ = _guarded_class(cls)
        # Its close() reaches us through this (_guarded_class): weak, no reference
        # cycle (ws -> adapter -> ws).
        ws._wsstate_adapter = weakref.ref(self)  # type: ignore[union-attr]
        # Reading (module doc): the parser's feed runs the pump once it parsed.
        queue = ws._reader
        assert queue is not None  # set with _writer by prepare() and ws_connect()
        self._queue = queue
        parser = protocol._payload_parser
        if parser is None:  # aiohttp let go of its parser (a protocol error): read what is left
            self._reading = True
            self._reader = self.loop.create_task(self._read(None))
        else:
            self._tap = protocol._payload_parser = _Tap(parser, self)
            if queue._buffer or queue.is_eof():  # received before it was guarded
                self.loop.call_soon(self._pump)

    # -- what GuardedConnection sees ------------------------------------------------

    @property
    def websocket(self) -> AiohttpWebSocket:
        """The wrapped aiohttp WebSocket."""
        return self._ws

    @property
    def queued(self) -> int:
        """Received messages waiting for :meth:`recv`."""
        return len(self._messages)

    def request(self) -> Request:
        """The handshake's request (module doc), readable after the connection ended too."""
        ws = self._ws
        peer = Request.address(self._raw.get_extra_info("peername"))
        if isinstance(ws, ClientWebSocketResponse):
            info = ws._response.request_info
            url = info.url
            sent = tuple((str(key), value) for key, value in info.headers.items())
            return Request(url.raw_path, url.raw_query_string, sent, peer, ws.protocol)
        native = self._request
        assert native is not None  # a server socket is guarded after prepare()
        path, _, query = native.raw_path.partition("?")
        headers = tuple(
            (key.decode("latin-1"), value.decode("latin-1")) for key, value in native.raw_headers
        )
        return Request(path, query, headers, peer, ws.ws_protocol)

    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        self._conn = Callbacks(listener, on_data)

    def attach(self, listener: Listener) -> None:
        self._conn = listener  # one reference, not two bound methods

    def facts(self) -> Facts:
        if not self._facts.lost and not self._ended and self._raw.is_closing():
            # asyncio closed the socket under aiohttp (a failed write, a reset the
            # paused reader did not see): the transport is lost.
            self._record(_LOST_ERROR)
        return self._facts

    def is_open(self) -> bool:
        return self._facts is _NOTHING and not self._close_sent and not self._raw.is_closing()

    def write(self, data: Data) -> Awaitable[None] | None:
        if isinstance(data, str):
            payload, opcode = data.encode(), _TEXT
        else:
            payload, opcode = data, _BINARY
        if self._blocked and not self._inflight and not self._writer.protocol._paused:
            self._blocked = False  # the peer read meanwhile
        if self._blocked or self._inflight:
            # aiohttp's writer would wait now (module doc): wait for room before
            # the frame is written, so that a send given up by its write timeout
            # never reaches the peer.
            self._inflight += 1
            return self._write_when_room(payload, opcode)
        self._write_frame(payload, opcode)
        return None

    def discard_write(self, pending: Awaitable[None]) -> None:
        # write() counted it in flight; closed before it started, its finally never
        # runs: uncounted here, or a Close waiting for the sends in flight would
        # wait for good (the peer saw 1006 instead of the Close).
        if inspect.iscoroutine(pending):
            if inspect.getcoroutinestate(pending) == inspect.CORO_CREATED:
                self._sent_or_dropped()
            pending.close()

    def _sent_or_dropped(self) -> None:
        """One send in flight is over (written, failed, or dropped unstarted)."""
        self._inflight -= 1
        if not self._inflight:
            _resolve_waiter(self._written)
            self._written = None

    def _write_frame(self, payload: bytes, opcode: WSMsgType) -> None:
        """Write one data frame now, or raise TransportClosed (nothing written)."""
        writer = self._writer
        try:
            if writer._closing:
                raise OSError("aiohttp's writer sent a Close")
            # As aiohttp's send_frame() does, in this turn: compressed as aiohttp does
            # up to 16 KiB (above, it compresses in an executor, a round trip per
            # message), so each message is atomic and in order.
            if writer.compress:
                writer._send_compressed_frame_sync(payload, opcode, None)
            else:
                writer._write_websocket_frame(payload, opcode, 0)
        except OSError:  # ClientConnectionResetError: "Cannot write to closing transport"
            self._lose(error=True)
            raise TransportClosed from None
        if self._raw.is_closing() and not self._ended:
            # asyncio reports a failed socket write (the peer reset the connection
            # before our reader noticed) by closing the transport: the message
            # was discarded.
            self._lose(error=True)
            raise TransportClosed
        # aiohttp's flow control, as its send_frame() has it: once it wrote more
        # than its limit since it last looked, a paused transport makes it wait for
        # the peer to read; here the next send waits, before it writes.
        if writer._output_size > writer._limit:
            writer._output_size = 0
            if writer.protocol._paused:
                self._blocked = True

    async def _write_when_room(self, payload: bytes, opcode: WSMsgType) -> None:
        # The waiting sends go one at a time, in the order they came (asyncio.Lock
        # is fair); each waits for room if the write before it left the transport
        # full, then writes. One cancelled while it waits (its write timeout)
        # wrote nothing.
        try:
            if self._turn is None:
                self._turn = asyncio.Lock()
            async with self._turn:
                if self._blocked:
                    protocol = self._writer.protocol
                    while protocol._paused and not self._raw.is_closing():
                        await self._drain_writer()
                    self._blocked = False
                if self._ended:
                    raise TransportClosed  # we closed or aborted it: not written
                self._write_frame(payload, opcode)
        except OSError:  # the drain failed: the connection was lost
            self._lose(error=True)
            raise TransportClosed from None
        finally:
            self._sent_or_dropped()

    async def _drain_writer(self) -> None:
        # aiohttp's own _drain_helper() awaits one future shared by every waiting
        # send: a send cancelled by its write timeout would cancel it for all.
        protocol = self._writer.protocol
        if protocol.transport is None:
            raise OSError("connection lost")
        waiter = protocol._drain_waiter
        if waiter is None:
            waiter = protocol._drain_waiter = self.loop.create_future()
        # Shielded, its failure may have no waiter left: retrieved here.
        waiter.add_done_callback(_retrieve)
        await asyncio.shield(waiter)

    async def ping(self) -> Awaitable[None] | None:
        if not self.is_open():
            raise TransportClosed
        self._ping_ids += 1
        payload = self._ping_ids.to_bytes(4, "big")
        waiter: asyncio.Future[bool] = self.loop.create_future()
        if self._pings is None:
            self._pings = {}
        self._pings[payload] = waiter
        try:
            pending = step(self._writer.send_frame(payload, _PING))
            if pending is not None:
                await pending
        except OSError:
            self._pings.pop(payload, None)
            self._lose(error=True)
            raise TransportClosed from None
        return _PongWaiter(waiter)

    async def recv(self, block: bool = True) -> Data:
        messages = self._messages
        while not messages:
            if not block or self._gone:
                raise TransportClosed
            waiter = self._readable = self.loop.create_future()
            await waiter
        data = messages.popleft()
        if len(messages) < self._max_queue:
            if self._space is not None:
                _resolve_waiter(self._space)
                self._space = None
            elif not self._reading:
                self._pump()  # the queue was full: read on
        return data

    # -- closing -------------------------------------------------------------------

    def start_close(self, code: int, reason: str) -> None:
        if not self._draining or self._space is not None:  # else nothing to do
            self._drain()
        if self._close_sent:
            return  # aiohttp or the adapter already sent one (a library close)
        self._close_frame(code, reason)

    def echo_close(self) -> None:
        close_rcvd = self._facts.close_rcvd
        if self._close_sent or close_rcvd is None:
            return
        self._close_frame(*close_rcvd)  # no code in the peer's: none in the echo

    def _close_frame(self, code: int | None, reason: str) -> None:
        self._close_sent = True
        if self._inflight:
            # A send in flight (a large compressed message) goes out first: a Close
            # frame must be the last frame (the sends after it are dropped by the table).
            self._spawn(self._close_after_sends(code, reason))
        else:
            self._write_close(self._close_coro(code, reason))

    def _close_coro(self, code: int | None, reason: str) -> Coroutine[Any, Any, None]:
        if code is None:
            return self._writer.send_frame(b"", _CLOSE)
        return self._writer.close(code, reason)

    async def _close_after_sends(self, code: int | None, reason: str) -> None:
        if self._inflight:
            if self._written is None:
                self._written = self.loop.create_future()
            await asyncio.shield(self._written)
        if not self._ended:
            with contextlib.suppress(OSError):
                await self._close_coro(code, reason)

    def close_transport(self) -> None:
        self._end()
        if self._client:
            self._ws._response.close()  # type: ignore[union-attr]
        else:
            self._raw.close()
        # Our echo and Close are flushed first; nothing is received any more. The
        # loss is known now: recorded without a report, since the connection reads
        # the facts again once the row that ended the transport is done.
        if not self._facts.lost:
            self._record(_LOST, report=False)

    def abort_transport(self) -> None:
        self._end()
        with contextlib.suppress(Exception):
            self._raw.abort()
        if self._client:
            # As close_transport: release aiohttp's connection, else aiohttp reports
            # "Unclosed connection" to the loop's exception handler when collected.
            self._ws._response.close()  # type: ignore[union-attr]

    # -- internals -----------------------------------------------------------------

    def _end(self) -> None:
        self._ended = True
        if not self._draining or self._space is not None:  # else nothing to do
            self._drain()
        self._ws._set_closed()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    def _write_close(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            pending = step(coro)
        except OSError:
            return  # the transport is gone: the reader or the next operation reports it
        if pending is not None:
            self._spawn(self._await_close(pending))

    async def _await_close(self, pending: Awaitable[None]) -> None:
        with contextlib.suppress(OSError):
            await pending

    async def _close_called(self, *, code: int = 1000, message: bytes = b"", **kw: Any) -> bool:
        """aiohttp's ``close()``, called by aiohttp or on the native object (module doc).

        A close of its own (not aiohttp's reaction to what the adapter read) with a
        code or message that may not be sent raises
        :class:`~wsstate.InvalidCloseCode` or :class:`~wsstate.InvalidCloseReason`
        before anything changes, as ``conn.close()`` does.
        """
        ours = self._in_receive()
        if not ours:
            reason = _close_reason(message)
            validate_close(code, reason)
        if self._close_sent or self._ended:
            return False
        ws = self._ws
        # A server's close() reads no answer when a receive() waits (answer_facts).
        read = not (ws._waiting and isinstance(ws, web.WebSocketResponse))
        if not ours:
            # Not aiohttp reacting to what our reader received (that is the ERROR
            # or CLOSED message): a close of its own, with this code.
            self._close_sent = True
            # aiohttp's close() reads the rest itself (the peer's answer): the pump
            # reads nothing more; the loss is reported once it returned.
            self._gone = True
            self._wake()
        native = type(ws)._wsstate_native_close  # type: ignore[union-attr]
        coro = native(ws, code=code, message=message, **kw)
        try:
            # Its first step writes the Close frame (aiohttp writes control frames
            # at once), then waits for the answer. The table hears of the close
            # after that step: its row may end the transport at once (a code that
            # blames the peer: OPEN -> CLOSED), which must not come before the frame.
            try:
                waiting = coro.send(None)
            except StopIteration as done:
                result: bool = done.value
                finished = True
            else:
                finished = False
            finally:
                if not ours:
                    self._record(Facts(library_close=(int(code), str(reason))))
            if not finished:
                result = await Continuation(coro, waiting)
        finally:
            if not ours:
                answer = answer_facts(ws.close_code, ws.exception(), read=read)
                if answer is not None:
                    self._record(answer)  # the peer answered: clean
                self._lose(error=False)
        return result

    def _in_receive(self) -> bool:
        """True when aiohttp's ``receive()``, called by the adapter's reading, is what runs."""
        if not self._reading:
            return False
        return self._reader is None or asyncio.current_task() is self._reader

    def _pump(self) -> None:
        """Read what aiohttp's queue holds, in this turn (the tap calls it after each feed).

        Each message goes through aiohttp's ``receive()``, stepped once: with a
        message queued it returns at once. A task reads from then on (:meth:`_read`)
        when the queue holds the end of the stream or an error (``receive()`` then
        runs aiohttp's own ``close()``, which waits for the peer within a timeout:
        a task's), or when a step had to wait (a pong behind a peer that stopped
        reading).
        """
        if self._reading or self._gone:
            return  # the task reads, or a pump runs already (re-entered)
        queue = self._queue
        ws = self._ws
        receive = self._receive
        self._reading = True
        try:
            while True:
                if not queue._buffer:
                    if queue.is_eof():
                        # Not _spawn(): the reader logs its own failures.
                        self._reader = self.loop.create_task(self._read(None))
                    return
                if len(self._messages) >= self._max_queue and not self._draining:
                    return  # recv() pumps again once there is room (back-pressure)
                # Receiving and taking a message fail as in the reading task
                # (_read): the transport is lost.
                try:
                    coro = receive(ws)
                    try:
                        waiting = coro.send(None)
                    except StopIteration as done:
                        msg = done.value
                    else:  # it had to wait: the task finishes this message, then reads on
                        continuation = Continuation(coro, waiting)
                        self._reader = self.loop.create_task(self._read(continuation))
                        return
                    if msg.type is _PING:
                        pending = step(self._answer(msg.data))
                        if pending is not None:  # the pong waits for room: so does reading
                            self._reader = self.loop.create_task(self._read(pending))
                            return
                    elif not self._take(msg):
                        self._gone = True
                        self._wake()
                        return
                except Exception:
                    self._failed()
                    return
                if self._gone:  # lost while the message was taken
                    return
        except Exception:
            # A failure of the adapter or the connection (already logged where it
            # was raised, as ImpossibleEvent is): never into aiohttp's data_received
            # or the application's recv(); nothing more is read.
            logger.error("internal error in the aiohttp adapter's reading", exc_info=True)
            self._gone = True
            self._wake()
        finally:
            if self._reader is None:
                self._reading = False

    async def _read(self, pending: Continuation | None) -> None:
        """The reading task: finishes the step that had to wait (a message being
        received, or a ping's answer), then reads on."""
        ws = self._ws
        receive = self._receive
        try:
            # A message whose receiving had to wait is taken whatever happened meanwhile.
            msg = None if pending is None else await pending
            while True:
                if msg is not None:
                    if msg.type is _PING:
                        await self._answer(msg.data)
                    elif not self._take(msg):
                        return
                    msg = None
                if self._gone:  # aiohttp's own close() may read the rest
                    return
                if len(self._messages) >= self._max_queue and not self._draining:
                    waiter = self._space = self.loop.create_future()
                    await waiter
                    continue
                msg = await receive(ws)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed()
        finally:
            self._gone = True
            self._wake()

    def _failed(self) -> None:
        # An application that calls the guarded socket's receive() itself, or
        # an aiohttp that breaks its own contract.
        logger.error("aiohttp receive() failed on a guarded WebSocket", exc_info=True)
        self._gone = True
        self._lose(error=True)
        self._wake()

    async def _answer(self, payload: bytes) -> None:
        """Answer a ping (aiohttp's own answering is off: module doc)."""
        with contextlib.suppress(OSError):
            await self._ws.pong(payload)

    def _take(self, msg: Any) -> bool:
        """Take one message ``receive()`` returned, but a ping (:meth:`_answer`); False
        once nothing more will come."""
        kind = msg.type
        if kind is _TEXT:
            data = msg.data
            self._deliver(data if isinstance(data, str) else bytes(data).decode())
        elif kind is _BINARY:
            self._deliver(bytes(msg.data))
        elif kind is _PONG:
            self._pong(bytes(msg.data))
        else:
            facts = message_facts(kind, msg.data, msg.extra)
            if facts is None:  # CLOSING: aiohttp's close() runs (reported there)
                return False
            if facts.library_close is not None and kind is _CLOSE:
                # The adapter fails the connection itself (message_facts).
                self._close_sent = True
                self._write_close(self._writer.close(*facts.library_close))
            if facts.library_close is not None:
                self._close_sent = True
            self._record(facts)
            return False
        return True

    def _deliver(self, data: Data) -> None:
        self._messages.append(data)
        if self._readable is not None:
            self._wake()
        conn = self._conn
        if conn is not None:
            conn._on_data()

    def _pong(self, payload: bytes) -> None:
        pings = self._pings
        waiter = None if pings is None else pings.pop(payload, None)
        if waiter is None:
            return  # unsolicited
        assert pings is not None
        # A pong answers its ping and every earlier one (RFC 6455 5.5.3).
        for earlier in [p for p in pings if p < payload]:
            self._resolve(pings.pop(earlier), True)
        self._resolve(waiter, True)

    @staticmethod
    def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
        if not waiter.done():
            waiter.set_result(value)

    def _lose(self, error: bool) -> None:
        if not self._facts.lost:
            self._record(_LOST_ERROR if error else _LOST)

    def _record(self, new: Facts, report: bool = True) -> None:
        """Add closing facts (each only ever becomes true) and tell the connection
        (unless ``report`` is False: it reads them itself, after close_transport)."""
        old = self._facts
        if old is _NOTHING:
            facts = new  # the first: as they are
        else:
            facts = _make_facts(
                (
                    new.library_close if old.library_close is None else old.library_close,
                    new.close_rcvd if old.close_rcvd is None else old.close_rcvd,
                    old.lost or new.lost,
                    old.lost_error if old.lost else new.lost_error,
                )
            )
        self._facts = facts
        lost = facts.lost
        if lost and not old.lost:
            self._gone = True
            if self._tap is not None:
                self._tap.transport = None  # no cycle: protocol -> tap -> adapter
            if self._readable is not None:
                self._wake()
            if self._pings:
                for waiter in self._pings.values():
                    self._resolve(waiter, False)
                self._pings.clear()
        if not self._draining or self._space is not None:  # else nothing to do
            self._drain()
        conn = self._conn
        if conn is not None:
            if report:
                conn._sync()
            if lost:
                # Nothing after the loss changes the connection's state: let go of
                # it, so that no reference cycle (connection -> transport ->
                # connection) waits for the garbage collector (docs/performance.md,
                # figure 10).
                self._conn = None

    def _drain(self) -> None:
        self._draining = True
        if self._space is not None:
            _resolve_waiter(self._space)
            self._space = None

    def _wake(self) -> None:
        """Let a waiting recv() look again."""
        waiter, self._readable = self._readable, None
        _resolve_waiter(waiter)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.loop.create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("internal error in an aiohttp adapter task", exc_info=task.exception())
