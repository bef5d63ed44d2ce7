"""Adapter for Starlette's ``WebSocket`` (FastAPI's is the same class) on any ASGI server.

Installed with ``pip install wsstate[starlette]``; :func:`wsstate.guard` imports
this module only for a Starlette ``WebSocket``, so importing wsstate never needs
Starlette.

Theory of operation
-------------------

ASGI gives an application two channels and no view of the socket: ``receive()``
yields ``websocket.connect``, then ``websocket.receive`` messages, then one
``websocket.disconnect``; ``send()`` takes ``websocket.accept``,
``websocket.send`` and ``websocket.close``. The ASGI server performs the
WebSocket protocol itself: it echoes the peer's Close, runs the closing
handshake after ours under its own timeout, and closes TCP. This adapter
reports what the two channels show as :class:`~wsstate.adapters.base.Facts`,
classified by message type, exception type and Starlette's own state
(``client_state``/``application_state``), never by message text:

* **A reader task** owns ``receive()`` from the moment the connection is
  guarded (before ``accept()`` too, so a peer that leaves during the handshake
  is noticed). Data messages wait in a queue of at most ``max_queue`` for
  :meth:`recv`; while it is full the reader stops asking, so the ASGI server
  stops reading the socket (back-pressure, as websockets' ``max_queue``).
  ``websocket.receive`` carries exactly one of ``text`` and ``bytes`` that is
  not None (the ASGI spec); a gateway that adds ``"text": None`` to a binary
  message, or sends an empty one, is read correctly.
* **The disconnect message** is the only report of a closure, and ASGI servers
  fill its code differently (uvicorn: the peer's code after its Close; 1006
  from its legacy websockets implementation and 1005 from websockets-sansio and
  wsproto when TCP is lost; the application's own code after its close). So:
  a code that may appear in a Close frame, arriving before we asked to close,
  is the peer's Close (``close_rcvd``; the server already echoed it and ended
  TCP, so the transport is lost too, in order). No such code (1005, 1006,
  absent) is a lost transport (``lost_error``): an empty Close frame from the
  peer cannot be told from a reset over ASGI and counts as a loss. After we
  asked to close, a disconnect repeating our own code and reason ends the
  connection in order: the server repeats it at once (websockets-sansio,
  wsproto) or reports the peer's echo (legacy websockets), and ASGI does not
  say which, so a close this side starts is not marked clean; any other code
  is the peer's own Close crossing ours (clean: both Close frames were sent).
  Servers' own closes (uvicorn's 1012 at shutdown) look like the peer's, except
  a failure because of the peer (below).
* **A peer's protocol violation** (a reserved opcode, a bad frame, invalid
  UTF-8 in a text message, a message too big) is failed by the server itself:
  uvicorn's ``websockets-sansio`` sends its Close 1002/1007/1009, ``wsproto``
  only its 1009 (none for a violation or invalid UTF-8: TCP just ends), and
  both then report that code in the disconnect as if the peer had sent it. The
  server's protocol tells the two apart: a code that blames the peer (1002,
  1003, 1007, 1009) while that protocol received no Close from the peer
  (websockets' sans-I/O ``close_rcvd``; wsproto's state neither REMOTE_CLOSING
  nor CLOSED) is the library's close blaming the peer (``Facts.library_close``),
  reported as websockets' own server does: by the peer, not clean, with the
  server's code. uvicorn's legacy implementation reports 1006 instead; its own
  Close is seen when its data transfer ends (below). The server's protocol is
  found through the socket's ``receive`` (uvicorn's own); behind a middleware
  that wraps ``receive`` the disconnect's code counts as the peer's Close.
* **A refused send** (Starlette's ``WebSocketDisconnect``, the server's
  ``OSError`` such as uvicorn's ``ClientDisconnected``) means the server knows
  the connection is gone and has queued, or is about to queue, its disconnect:
  the reader is let through (past a full queue) to take it, for at most
  ``SETTLE_TURNS`` loop turns, so that a peer's clean Close is reported as
  such; otherwise the loss is a fact at once. A ``RuntimeError`` counts as a
  closure only if the disconnect then arrives or Starlette's state says
  closed; anything else is re-raised (API misuse stays loud). A send the
  server accepted before it noticed a reset is lost, as over any TCP
  connection: the next one is refused. An application that neither reads nor
  sends learns that the peer left once it does either: the disconnect waits
  behind unread messages.
* **One send per loop turn.** An ASGI server learns that a socket write failed
  one loop iteration later (asyncio reports it through ``connection_lost``), so
  a connection that sends twice within one iteration first yields once: a lost
  transport is noticed at the next send, instead of swallowing a burst (and
  asyncio's "socket.send() raised exception." warning from the fifth write).
  A FIFO lock keeps sends in the order they were called meanwhile. A send's
  ``write_timeout`` counts from its call, its wait behind earlier sends
  included: a burst of N sends takes N loop turns at least.
* **One write at a time.** Sends, and our ``websocket.close``, go to the server
  one after the other (the FIFO lock): uvicorn's legacy implementation cannot
  have two writes waiting for a slow reader at once (websockets' legacy
  protocol asserts a single drain waiter). A send that has to wait holds the
  others back until it is done or its write timeout gives up; once our Close
  is started, sends still queued give up without writing, and the Close goes
  out after the send in flight.
* **No ping.** ASGI has no ping message: :meth:`ping` returns None, so
  wsstate's keepalive stops at once and cannot detect a half-open peer; the
  ASGI server's own ping does (uvicorn's ``ws_ping_interval``), and its
  closure reaches the table as a lost transport.
* **The server's own close, before its disconnect.** uvicorn's legacy
  implementation (websockets' legacy protocol) sends its Close 1011 when its
  keepalive ping goes unanswered, then holds every send and the disconnect
  until its closing handshake gives up (a fixed 10 s): a held send would time
  out as a slow reader. The adapter finds that protocol (the socket's
  ``receive`` is its ``asgi_receive``), watches the end of its data transfer,
  and classifies what it sent and received by the pure function
  :func:`server_closing_facts` (a table-driven test,
  ``tests/test_starlette_server_close.py``): its own 1011 with nothing from the
  peer is the loss of the transport, reported at once (and a send about to be
  held is refused); its own 1002, 1003, 1007 or 1009 with nothing from the
  peer is its failure because of the peer, reported once the reader took the
  messages it received before (a send that comes first lets the reader take
  them, for a few loop turns, then reports it and is refused: it would be
  held); everything else is left to the disconnect.
* **The guarded socket is the adapter's.** Once guarded, the ``WebSocket``'s own
  ``send`` and ``receive`` (which every ``send_*``, ``receive_*``, ``iter_*``,
  ``accept`` and ``close`` go through) and its ``receive_*`` (which check the
  socket's state first) raise :class:`~wsstate.InvalidState`, once closed too:
  a raw ``send_text`` would bypass the table (data after our Close, a send the
  reader races). The adapter calls Starlette's methods through the class. They
  also mark the socket as guarded: a second ``guard()`` raises
  :class:`~wsstate.AlreadyGuarded`.
* **Closing and aborting** go through ``websocket.close``. Before ``accept()``
  it rejects the handshake (HTTP 403 from uvicorn); it is sent at once, in the
  caller's turn, so an application that closes and returns never leaves the
  server with neither an accept nor a close. After ``accept()`` there is no
  ASGI abort: the server ends TCP when the application returns. Once the
  server ended the connection (its disconnect, or a close of its own), a Close
  the table asks for is not handed to it: the server's is on the wire already,
  or none can go.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Final

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..closecodes import is_sendable_code
from ..errors import AlreadyGuarded, InvalidState
from .base import Data, Facts, Request, Transport, TransportClosed

__all__ = ["DEFAULT_MAX_QUEUE", "StarletteTransport", "disconnect_facts", "server_closing_facts"]

logger: Final = logging.getLogger("wsstate")

#: Data messages waiting for ``recv`` before the reader stops asking the server.
DEFAULT_MAX_QUEUE: Final = 16
#: Loop turns a refused operation waits for the server's disconnect message. The
#: server has queued it (or scheduled the loss that queues it) by the time it
#: refuses: counting turns, not seconds, keeps the outcome the same under load.
SETTLE_TURNS: Final = 16

_NOTHING: Final = Facts()
# Close codes a server sends when it fails the connection because of the peer
# (protocol error, unsupported data, invalid payload, message too big): the codes
# of wsstate.connection.PEER_FAULT_CODES, which this module is below (a test checks
# that they agree).
_PEER_FAULT_CODES: Final = frozenset({1002, 1003, 1007, 1009})
_CONNECTED: Final = WebSocketState.CONNECTED
# What the ASGI server and Starlette raise when the connection is gone (never
# matched by text): Starlette turns the server's OSError into WebSocketDisconnect
# after accept; before accept the server's own exception (uvicorn's
# ClientDisconnected, an OSError) comes through.
_GONE: Final = (WebSocketDisconnect, OSError)
# The adapter calls Starlette's own methods through the class: the instance's are
# replaced by _refuse_send/_refuse_receive once guarded (module doc).
_SEND: Final = WebSocket.send
_RECEIVE: Final = WebSocket.receive


async def _refuse_send(message: Message) -> None:
    raise InvalidState(
        f"this WebSocket is guarded by wsstate: {message.get('type')!r} bypasses the guard; "
        "use the GuardedConnection (send, try_send, close, accept)"
    )


async def _refuse_receive(*args: object, **kwargs: object) -> Any:
    raise InvalidState(
        "this WebSocket is guarded by wsstate: receive it through the GuardedConnection "
        "(recv, async for)"
    )


def disconnect_facts(
    message: Message,
    *,
    opened: bool,
    requested_close: bool,
    close_sent: tuple[int, str] | None,
    peer_closed: bool | None = None,
) -> Facts:
    """What the ASGI server's ``websocket.disconnect`` ``message`` says happened (module doc).

    ``opened``: the server took our ``websocket.accept``; ``requested_close``: we
    asked to close (or refused the handshake); ``close_sent``: the code and reason
    of our ``websocket.close``, if we sent one; ``peer_closed``: whether the
    server's WebSocket protocol received a Close frame from the peer (None: not
    known, the server's protocol is not in view). The facts it returns are the
    transport's to report; the table decides what they mean for the connection.

    * no code that may appear in a Close frame (1005, 1006, absent, not an int),
      or the handshake never completed: the transport is lost, with an error
      unless we asked to close;
    * after we asked to close, our own code and reason repeated: the transport
      ended in order (the server repeats it, or reports the peer's echo: ASGI
      does not say which);
    * a code that blames the peer (1002, 1003, 1007, 1009) while the server's
      protocol received no Close from the peer: the server failed the connection
      because of the peer (a protocol violation, invalid UTF-8, a message too
      big), the library's close with that code and reason, then the end of the
      transport;
    * any other code: the peer's own Close (before ours, or crossing it), then
      the end of the transport. The server's other closes of its own (uvicorn's
      1012 at shutdown) look like it too.
    """
    code = message.get("code", 1005)
    reason = str(message.get("reason") or "")
    if not opened or not (isinstance(code, int) and is_sendable_code(int(code))):
        return Facts(lost=True, lost_error=not requested_close)
    code = int(code)  # servers pass their own IntEnums (CloseCode, CloseReason)
    if requested_close and (code, reason) == close_sent:
        return Facts(lost=True, lost_error=False)
    if peer_closed is False and code in _PEER_FAULT_CODES:
        return Facts(library_close=(code, reason), lost=True, lost_error=False)
    return Facts(close_rcvd=(code, reason), lost=True, lost_error=False)


def server_closing_facts(
    close_sent: tuple[int, str] | None,
    close_rcvd: tuple[int, str] | None,
    *,
    requested_close: bool,
) -> Facts | None:
    """What the ASGI server's own WebSocket protocol says once its data transfer
    ended, before its ``websocket.disconnect`` (module doc, "the server's own close").

    ``close_sent``/``close_rcvd``: the Close frames the server's protocol sent and
    received so far; ``requested_close``: we asked to close.

    * the server failed the connection on its own with 1011 (its keepalive ping
      went unanswered, or it failed internally) and nothing came from the peer:
      the transport is lost, with an error — now, not when the server's closing
      handshake gives up (uvicorn's legacy implementation: 10 s, holding every
      send meanwhile);
    * the server failed the connection because of the peer (its Close 1002, 1003,
      1007 or 1009: a protocol violation, invalid UTF-8, a message too big) and
      nothing came from the peer: the library's close with that code and reason,
      then the end of the transport (uvicorn's legacy implementation reports
      1006 in its disconnect: only its protocol says this);
    * anything else (our own Close, the peer's, a Close of the server's that the
      peer is expected to answer, a TCP loss the server reports at once): None,
      the ``websocket.disconnect`` says it (:func:`disconnect_facts`).
    """
    if requested_close or close_rcvd is not None or close_sent is None:
        return None
    if close_sent[0] == 1011:
        return Facts(lost=True, lost_error=True)
    if close_sent[0] in _PEER_FAULT_CODES:
        return Facts(library_close=close_sent, lost=True, lost_error=False)
    return None


def _frame(close: Any) -> tuple[int, str] | None:
    """A websockets ``Close`` frame as (code, reason); None for None."""
    return None if close is None else (int(close.code), str(close.reason))


def _legacy_server(ws: WebSocket) -> Any:
    """uvicorn's legacy implementation's protocol under ``ws``, if that is the server.

    Its ``asgi_receive`` is the socket's ``receive`` (a middleware wrapping it hides
    it: the disconnect then reports the closure, late). Only an already imported
    module is looked at.
    """
    legacy = sys.modules.get("websockets.legacy.protocol")
    server = getattr(ws._receive, "__self__", None)
    if legacy is not None and isinstance(server, legacy.WebSocketCommonProtocol):
        return server
    return None


def _peer_closed(ws: WebSocket) -> bool | None:
    """Whether the ASGI server's WebSocket protocol under ``ws`` received the peer's Close.

    uvicorn's ``websockets-sansio`` keeps websockets' sans-I/O protocol as its
    ``conn`` (``close_rcvd``), its ``wsproto`` a wsproto connection (``state``:
    REMOTE_CLOSING or CLOSED once the peer's Close came; still OPEN when wsproto
    failed to parse what the peer sent). The server is found as in
    :func:`_legacy_server`. None if it is none of these: a middleware wraps
    ``receive``, another ASGI server, or uvicorn's legacy implementation (whose
    own close is seen when its data transfer ends, :func:`server_closing_facts`).
    Only already imported modules are looked at.
    """
    conn = getattr(getattr(ws._receive, "__self__", None), "conn", None)
    if conn is None:
        return None
    protocol = sys.modules.get("websockets.protocol")
    if protocol is not None and isinstance(conn, protocol.Protocol):
        return conn.close_rcvd is not None
    wsproto = sys.modules.get("wsproto.connection")
    if wsproto is not None and isinstance(getattr(conn, "connection", None), wsproto.Connection):
        # A WSConnection once its handshake is done: its state is its connection's.
        states = wsproto.ConnectionState
        return conn.state in (states.REMOTE_CLOSING, states.CLOSED)
    return None


class StarletteTransport(Transport):
    """A Starlette ``WebSocket`` seen as a :class:`~wsstate.adapters.base.Transport`.

    Create it (through :func:`wsstate.guard`) in the event loop running the ASGI
    application, before or after ``accept()``; from then on only wsstate may call
    the socket's ``receive``/``send``.
    """

    def __init__(self, ws: WebSocket, *, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue!r}")
        if vars(ws).get("send") is _refuse_send:
            raise AlreadyGuarded(
                "this WebSocket is guarded already: guard() each connection once "
                "and share the GuardedConnection"
            )
        if ws.application_state is WebSocketState.RESPONSE:
            raise InvalidState("this WebSocket sent an HTTP response instead of accepting")
        self._ws = ws
        self._subprotocol: str | None = None
        # uvicorn's legacy implementation, watched once its data transfer runs.
        self._server = _legacy_server(ws)
        self._watching = False
        self.loop = asyncio.get_running_loop()
        self._max_queue = max_queue
        self._messages: deque[Data] = deque()
        self._readable = asyncio.Event()
        self._space = asyncio.Event()
        self._connected = asyncio.Event()  # the reader took websocket.connect
        self._gone = asyncio.Event()  # the reader took websocket.disconnect, or ended
        self._draining = False  # the reader ignores max_queue: the connection is ending
        self._facts = _NOTHING
        self._disconnect: tuple[Any, Any] | None = None
        self._requested_close = ws.application_state is WebSocketState.DISCONNECTED
        self._accepted = ws.application_state is not WebSocketState.CONNECTING
        self._open = self._accepted  # the server took websocket.accept
        self._close_sent: tuple[int, str] | None = None
        self._closing = False  # a websocket.close was started
        self._turn_used = False
        self._send_lock = asyncio.Lock()
        self._listener: Callable[[], None] | None = None
        self._on_data: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # setattr: mypy forbids assigning to a method.
        setattr(ws, "send", _refuse_send)  # noqa: B010
        setattr(ws, "receive", _refuse_receive)  # noqa: B010
        # Starlette's receive_* check the socket's state before receive(): refused
        # first, so that none raises Starlette's own WebSocketDisconnected once closed
        # (its iter_* call them).
        for name in ("receive_text", "receive_bytes", "receive_json"):
            setattr(ws, name, _refuse_receive)
        if ws.client_state is WebSocketState.DISCONNECTED:
            # The application already took the disconnect; what it said is lost.
            self._lose(error=True)
        else:
            self._spawn(self._read())

    # -- what the application and GuardedConnection see ----------------------------

    @property
    def websocket(self) -> WebSocket:
        """The wrapped Starlette ``WebSocket``."""
        return self._ws

    @property
    def accepted(self) -> bool:
        """True once ``accept()`` was handed to the server (or had been before guarding)."""
        return self._accepted

    @property
    def disconnect(self) -> tuple[Any, Any] | None:
        """The ASGI server's ``websocket.disconnect`` (code, reason), once received.

        For diagnostics only: servers fill it differently (module doc); the
        connection's ``close_code`` is what wsstate concluded.
        """
        return self._disconnect

    def request(self) -> Request:
        ws = self._ws
        headers = tuple(
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, value in ws.scope.get("headers", ())
        )
        return Request(
            ws.scope.get("path", ""),
            ws.scope.get("query_string", b"").decode("latin-1"),
            headers,
            Request.address(ws.scope.get("client")),
            self._subprotocol,
        )

    def offered_subprotocols(self) -> list[str]:
        """The subprotocols the client offered (the ASGI scope's ``subprotocols``)."""
        return [str(name) for name in self._ws.scope.get("subprotocols", ())]

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
        return (
            self._facts is _NOTHING
            and not self._requested_close
            and self._ws.application_state is _CONNECTED
        )

    def write(self, data: Data) -> Awaitable[None]:
        # ASGI's send is a coroutine and exposes no buffer: any send may wait for
        # the peer (uvicorn's do when the transport's buffer is full), so every
        # send is awaited, bounded by the connection's write_timeout.
        return self.send(data)

    # -- the handshake ---------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None) -> None:
        """Hand ``websocket.accept`` to the server; :class:`TransportClosed` if the peer left.

        Once only (``GuardedConnection.accept`` checks :attr:`accepted` first).
        Cancelled while it waits for its reader, before anything was handed to the
        server, it is undone: the connection may be accepted again.
        """
        self._accepted = True
        try:
            await self._connected.wait()
        except asyncio.CancelledError:
            self._accepted = False  # cancelled before anything reached the server: undone
            raise
        ws = self._ws
        if self._gone.is_set() or ws.application_state is not WebSocketState.CONNECTING:
            raise TransportClosed  # the peer left, or the handshake was refused meanwhile
        try:
            # Starlette's accept(), whose receive of websocket.connect the reader did.
            await _SEND(ws, {"type": "websocket.accept", "subprotocol": subprotocol, "headers": []})
        except _GONE:
            raise TransportClosed from None
        except RuntimeError:
            if await self._closed_after_refusal():
                raise TransportClosed from None
            raise
        self._open = True
        self._subprotocol = subprotocol

    # -- data ----------------------------------------------------------------------------

    async def send(self, data: Data) -> None:
        """Hand ``websocket.send`` to the server; :class:`TransportClosed` if it cannot."""
        # The lock is FIFO: sends go out in the order they were called, even when
        # one of them waits for the next loop turn.
        async with self._send_lock:
            if self._turn_used:
                await asyncio.sleep(0)  # let the server see a failed write first (module doc)
            ws = self._ws
            if (
                self._facts is not _NOTHING
                or self._requested_close
                or ws.application_state is not _CONNECTED
            ):
                raise TransportClosed  # gone, or our Close is on its way (it goes last)
            if not self._turn_used:
                self._turn_used = True
                self.loop.call_soon(self._next_turn)
            message: Message = (
                {"type": "websocket.send", "text": data}
                if isinstance(data, str)
                else {"type": "websocket.send", "bytes": data}
            )
            if self._server is not None:
                closed = self._server_facts()
                if closed is not None:  # the server would hold the send: refused
                    await self._server_closed_now(closed)
                    raise TransportClosed
            try:
                await _SEND(ws, message)
            except _GONE:
                if not await self._settle():
                    self._lose(error=True)
                raise TransportClosed from None
            except RuntimeError:
                if await self._closed_after_refusal():
                    raise TransportClosed from None
                raise
            if self._server is not None and not self._watching:
                self._watch_server()

    def _next_turn(self) -> None:
        self._turn_used = False

    async def ping(self) -> Awaitable[None] | None:
        return None  # ASGI has no ping (module doc)

    async def recv(self, block: bool = True) -> Data:
        messages = self._messages
        while not messages:
            if not block or self._gone.is_set():
                raise TransportClosed
            self._readable.clear()
            await self._readable.wait()
        data = messages.popleft()
        if len(messages) < self._max_queue:
            self._space.set()
        return data

    # -- closing -------------------------------------------------------------------------

    def start_close(self, code: int, reason: str) -> None:
        self._requested_close = True
        self._drain()
        if self._facts is not _NOTHING:
            # The server ended the connection already (its disconnect, or a close of
            # its own: a library close is on the wire, or none can go): nothing to send.
            return
        if not self._closing and self._ws.application_state is _CONNECTED:
            self._closing = True
            self._close_sent = (code, reason)
            self._spawn(self._close(code, reason))

    def close_transport(self) -> None:
        # The ASGI server ends TCP itself after a closing handshake.
        self._drain()

    def abort_transport(self) -> None:
        self._drain()
        if not self._closing and self._ws.application_state is WebSocketState.CONNECTING:
            # Refuse the handshake now, in this turn: an application that closes and
            # returns must not leave the server with neither accept nor close.
            self._closing = True
            self._requested_close = True
            self._run_now(self._close(1000, ""))
        # After accept there is no ASGI abort: the server ends TCP once the
        # application returns.

    # -- internals -------------------------------------------------------------------------

    async def _read(self) -> None:
        ws = self._ws
        try:
            if ws.client_state is WebSocketState.CONNECTING:
                await _RECEIVE(ws)  # websocket.connect (Starlette checks the type)
            self._connected.set()
            if self._server is not None:
                # uvicorn's asgi_receive waits for the same event first: once the
                # handshake is done, its data transfer runs and is watched.
                completed = getattr(self._server, "handshake_completed_event", None)
                if completed is not None:
                    await completed.wait()
                self._watch_server()
            while True:
                if len(self._messages) >= self._max_queue and not self._draining:
                    self._space.clear()
                    await self._space.wait()
                    continue
                message = await _RECEIVE(ws)
                if self._server is not None and not self._watching:
                    self._watch_server()
                if message["type"] == "websocket.receive":
                    self._deliver(message)
                    if self._server is not None and self._facts is _NOTHING:
                        self._server_closing()  # a closure held behind this message
                else:  # websocket.disconnect: Starlette admits nothing else here
                    self._disconnected(message)
                    return
        except Exception:
            # A server that breaks the ASGI protocol, or an application that calls
            # the guarded socket's receive itself.
            logger.error("ASGI receive failed on a guarded WebSocket", exc_info=True)
            self._lose(error=True)
        finally:
            self._connected.set()
            if self._facts is _NOTHING:  # cancelled: the loop is ending
                self._lose(error=True)

    def _watch_server(self) -> None:
        """Report the server's own close as it happens (:func:`server_closing_facts`)."""
        transfer = getattr(self._server, "transfer_data_task", None)
        if transfer is not None:
            self._watching = True
            transfer.add_done_callback(self._server_closing)

    def _server_facts(self) -> Facts | None:
        """The server's own closure, once its data transfer ended, not yet reported."""
        server = self._server
        transfer = getattr(server, "transfer_data_task", None)
        if self._facts is not _NOTHING or transfer is None or not transfer.done():
            return None
        return server_closing_facts(
            _frame(server.close_sent),
            _frame(server.close_rcvd),
            requested_close=self._requested_close,
        )

    def _server_closing(self, _: object = None) -> None:
        """Report the server's own closure (:func:`server_closing_facts`) as it happens.

        A failure because of the peer waits for the reader to take the messages the
        server received before it, as a disconnect would: the reader asks again
        after each message.
        """
        facts = self._server_facts()
        if facts is None:
            return
        if facts.library_close is not None and getattr(self._server, "messages", None):
            return  # behind messages the reader has yet to take
        logger.debug("ASGI server closed on its own: %r", facts)
        self._report(facts)

    async def _server_closed_now(self, facts: Facts) -> None:
        """Report the server's own closure ``facts`` now: a send must not be held.

        The reader is let through (past a full queue) to take the messages the server
        received before it, for at most ``SETTLE_TURNS`` loop turns, so that they are
        delivered first; then the closure is a fact.
        """
        self._server_closing()
        if not await self._settle():
            logger.debug("ASGI server closed on its own: %r", facts)
            self._report(facts)

    def _deliver(self, message: Message) -> None:
        # Exactly one of text and bytes is not None (ASGI spec): test the values,
        # not the keys, and not their truth (an empty message is a message).
        text = message.get("text")
        if text is not None:
            self._messages.append(str(text))
        else:
            data = message.get("bytes")
            if data is None:
                logger.warning("ASGI websocket.receive with neither text nor bytes: ignored")
                return
            self._messages.append(bytes(data))
        self._readable.set()
        if self._on_data is not None:
            self._on_data()

    def _disconnected(self, message: Message) -> None:
        code = message.get("code", 1005)
        if isinstance(code, int):
            code = int(code)  # servers pass their own IntEnums (CloseCode, CloseReason)
        self._disconnect = (code, message.get("reason"))
        logger.debug("ASGI websocket.disconnect: code %r, reason %r", *self._disconnect)
        self._report(
            disconnect_facts(
                message,
                opened=self._open,
                requested_close=self._requested_close,
                close_sent=self._close_sent,
                peer_closed=_peer_closed(self._ws),
            )
        )

    def _lose(self, *, error: bool) -> None:
        self._report(Facts(lost=True, lost_error=error))

    def _report(self, facts: Facts) -> None:
        """The connection's closing facts, once: the transport is gone."""
        if self._facts is not _NOTHING:
            return
        self._facts = facts
        self._gone.set()
        self._readable.set()
        self._drain()
        if self._listener is not None:
            self._listener()

    def _drain(self) -> None:
        self._draining = True
        self._space.set()

    async def _settle(self) -> bool:
        """Let the reader take the disconnect the server queued; True if it did.

        If none comes, the reader's queue limit applies again (a refusal that was
        not a closure must not end the back-pressure).
        """
        draining = self._draining
        self._drain()
        for _ in range(SETTLE_TURNS):
            if self._gone.is_set():
                return True
            await asyncio.sleep(0)
        self._draining = draining or self._gone.is_set()
        return self._gone.is_set()

    async def _closed_after_refusal(self) -> bool:
        """After a RuntimeError from the server or Starlette: True if the connection is closed."""
        settled = await self._settle()
        ws = self._ws
        return (
            settled
            or ws.client_state is WebSocketState.DISCONNECTED
            or ws.application_state is WebSocketState.DISCONNECTED
        )

    async def _close(self, code: int, reason: str) -> None:
        # websocket.close: a Close frame after accept, a refusal (HTTP 403) before.
        # Never while a send is in flight (module doc, "one write at a time"): the
        # lock is free at once unless a send waits for the peer, and the sends
        # queued behind it give up now that _requested_close is set.
        try:
            async with self._send_lock:
                await _SEND(self._ws, {"type": "websocket.close", "code": code, "reason": reason})
        except _GONE:
            pass  # the peer is gone: the reader reports how
        except RuntimeError:
            # Starlette marks the socket closed before handing the message on, so
            # only the disconnect tells a closure from a bug.
            if not await self._settle():
                logger.error("websocket.close refused by the ASGI server", exc_info=True)
        except Exception:
            if not self._gone.is_set():
                raise
            # The server delivered its disconnect already (a shutdown refusing the
            # handshake): its failure to take our close after it is its own
            # (uvicorn's legacy implementation: AttributeError), not our bug.
            logger.debug("websocket.close after the disconnect failed", exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("internal error in a Starlette adapter task", exc_info=task.exception())

    def _run_now(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` up to its first suspension in this turn; finish it in a task."""
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        except Exception:
            logger.error("internal error in the Starlette adapter", exc_info=True)
            return
        self._spawn(_Resumed(coro, pending).run())


class _Resumed:
    """A coroutine suspended once outside any task, continued by a task.

    The task receives what the coroutine yielded (a future to wait for, or None
    for a bare yield) exactly as if it had run the coroutine from the start.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    async def run(self) -> None:
        await self

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self._coro, self._pending
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation: pass it in
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return
