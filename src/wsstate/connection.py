"""GuardedConnection: the async API frameworks use, every operation decided by the table.

Behaviour per state (the spec, ``spec/connection.toml``, is authoritative):

==============  ===============  ===================  ======================  ================
operation       OPEN             CLOSING              CLOSE_RECEIVED          CLOSED
==============  ===============  ===================  ======================  ================
send            sent             ConnectionClosed     ConnectionClosed        ConnectionClosed
try_send        True             False                False                   False
recv            next message     next message         buffered, then closed   buffered, then closed
close           starts, True     waits, False         waits, False            False
abort           True             True                 True                    False
==============  ===============  ===================  ======================  ================

In CONNECTING (a Starlette socket not yet accepted) send, ping and recv raise
:class:`~wsstate.InvalidState`. Nothing here ever raises the transport's own
exception; a closure is logged at DEBUG (INFO for the peer's protocol faults and
an unanswered Close, one WARNING for a half-open peer or a slow reader), never at
ERROR.

Theory of operation
-------------------

Every operation is one event fed to the table (:class:`~wsstate.core.Machine`);
the row's effects are performed in order (``_ACTIONS``), its bookkeeping done
by the machine, and the operation returns or raises its row's one *outcome*
effect (``OPERATION_OUTCOMES``, found per state at import: a table whose row
gave an operation no outcome would not import). ``EFFECT_HANDLERS`` names who
handles every effect the spec declares (``tests/test_effects.py``). A
broadcast's send does not feed an *idle* row (the same state, no action, no
bookkeeping: OPEN's ``app_send``) unless its log record would be emitted:
feeding it would change nothing, and its outcome is read from the table as
every operation's is (``_SEND_IDLE_LOG``, derived from the table at import).

Rules outside the table
~~~~~~~~~~~~~~~~~~~~~~~

What the table cannot say, because it is about arguments, facts, time or
threads rather than about the state; each is a pure classification or a
mechanism, never a decision about a transition:

1. *Close arguments* (:func:`~wsstate.closecodes.validate_close`): a valid code
   and reason is ``app_close``, an invalid one ``app_close_invalid``. Events
   are discrete; an argument is classified before it reaches the table.
2. *A library's own Close* (:func:`library_close_event`): its code makes it
   ``library_close`` or ``library_close_peer_fault`` (:data:`PEER_FAULT_CODES`);
   who closed is the rows' ``record_close:``. The code list is a fact about
   RFC 6455's codes, not about the connection's state.
3. *A second accept()* (:func:`accept_event`): ``app_accept_again`` when the
   transport already has the handshake (its ``accepted`` fact). The accept in
   progress lives in the transport, which is why it is a fact: a state of its
   own (ACCEPTING) would be the better model, but the verifier's clean
   sub-model counts only the initial state as before the handshake.
4. *Facts into events* (``_sync``): the transport's facts are cumulative
   levels, events are edges, so each fact is fed once (the ``_FED_*`` flags), in the
   order they happen (the library's Close, the peer's Close, the loss); a loss
   is ``transport_error`` or ``transport_eof`` by :func:`loss_event`. The
   facts are read whenever the transport says it is no longer open, before
   the operation's own event, so the operation's row is the current state's,
   and again once a row that ended the transport (``close_transport``) is
   done: a transport may know its loss at once (aiohttp's), and the loss is
   then fed after that row's effects, never in the middle of them (unless an
   ``on_close`` callback that ``notify_closed`` runs feeds an event itself: the
   loss follows that event's row, in CLOSED, where it changes nothing).
5. *Time*: how long each timer runs (:class:`Options`; None means the ``arm:``
   effect arms nothing), the keepalive's ping and pong deadline (a late pong is
   ``keepalive_timeout``; a transport without ping, ASGI, has no keepalive), and
   the write timeout that turns a waiting send into ``transport_stalled``.
   Timers armed while the connection is being built are created once it is
   (performance; the table's arm/cancel order is kept).
6. *API misuse independent of the state*: a payload that is not str or
   bytes-like raises TypeError, a str UTF-8 cannot encode ValueError, before
   any event (``_checks.checked_payload``); an operation called from another
   event loop than the connection's raises RuntimeError before any event
   (``_wrong_loop``); guarding a transport without
   an application-side handshake as not yet open raises TypeError; a second
   ``recv()`` while one waits raises :class:`~wsstate.ConcurrentRecv` (the
   ``_RECEIVING`` flag, before any event); an ``on_close`` callback that is not
   callable raises TypeError; options are checked by :class:`Options`
   (:class:`~wsstate.InvalidOption`).
7. *Threads*: ``send_threadsafe`` reads the ``app_send`` outcome of the state
   it sees from another thread and defers the real decision to the loop, where
   the same row applies again; a closed loop makes it return False.
8. *Lifetime*: a connection not yet CLOSED is listed under its event loop
   (``_lifetime``); a loop closed under it (a loop per page, stopped and
   closed with its connections open) ends it first by the ``app_abort`` row,
   so it reaches CLOSED and ``on_close`` fires once. A send that waited on a
   full buffer and was released by the transport's loss counts as dropped.
   The broadcast's backlog (``_send_nowait``, :meth:`wsstate.Hub.broadcast`):
   writes that wait for a slow reader, at most the hub's ``max_queue``, each
   within ``write_timeout`` (rule 5); a message that finds the backlog full is
   dropped.
9. *Callbacks*: ``on_close`` registered after CLOSED runs soon (the
   notification already happened); a failing callback is logged at ERROR
   (the user's bug, not a closure) and does not stop the others.
10. *Internal errors*: an event the table calls impossible is logged at ERROR
   and raised (:class:`~wsstate.ImpossibleEvent`): an adapter bug, not a
   condition to absorb.
11. *Adapters*: how a transport's native results and exceptions become facts
    (``TransportClosed``, :class:`~wsstate.adapters.base.Facts`) is each
    adapter's, documented in its module; the Starlette adapter's
    ``websocket.disconnect`` classification is the pure function
    :func:`wsstate.adapters.starlette.disconnect_facts` and the ASGI server's own
    Close seen before it (uvicorn's legacy implementation, which holds sends
    during its closing handshake) :func:`wsstate.adapters.starlette.server_closing_facts`,
    aiohttp's messages
    :func:`wsstate.adapters.aiohttp.message_facts`, tornado's closure report
    :func:`wsstate.adapters.tornado.closure_facts` (each with a table-driven test).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NamedTuple, NoReturn, Protocol, cast, runtime_checkable

from . import _lifetime
from ._checks import callback_mismatch, check_seconds, check_text, checked_payload
from ._timers import Timer, call_later1
from .adapters.base import Data, Payload, Request, Transport, TransportClosed
from .closecodes import InvalidCloseArgs, validate_close
from .core import _BY_STATE, Machine, _Books
from .errors import (
    ClosedBy,
    ConcurrentRecv,
    ConnectionClosed,
    ImpossibleEvent,
    InvalidState,
)
from .machines.connection import INITIAL, TABLE, TERMINAL, TIMERS, Effect, Event, Row, State

__all__ = [
    "EFFECT_HANDLERS",
    "OPERATION_MODIFIERS",
    "OPERATION_OUTCOMES",
    "PASSIVE_EFFECTS",
    "PEER_FAULT_CODES",
    "CloseCallback",
    "Counters",
    "GuardedConnection",
    "Options",
    "Stats",
    "accept_event",
    "counters",
    "library_close_event",
    "loss_event",
]

logger: Final = logging.getLogger("wsstate")

CloseCallback = Callable[["GuardedConnection"], object]
"""``on_close`` callback: called with the connection; may return an awaitable."""

# Enum members as module constants: an attribute lookup on an enum class costs
# as much as the table lookup itself (~70 ns on CPython 3.11).
_running_loop: Final = asyncio.get_running_loop  # one lookup fewer per call
_APP_SEND: Final = Event.APP_SEND
_APP_CLOSE: Final = Event.APP_CLOSE
_PEER_DATA: Final = Event.PEER_DATA
_TRANSMIT: Final = Effect.TRANSMIT
_DROP: Final = Effect.DROP
_RETURN_TRUE: Final = Effect.RETURN_TRUE
_RAISE_INVALID_STATE: Final = Effect.RAISE_INVALID_STATE

#: What a broadcast's send did (``GuardedConnection._send_nowait``, ``BroadcastResult``).
SENT_NOW: Final = 0
QUEUED: Final = 1
DROPPED: Final = 2

# GuardedConnection._flags: the facts already fed (rule 4), a recv() waiting.
_FED_LIBRARY_CLOSE: Final = 1
_FED_CLOSE_RCVD: Final = 2
_FED_LOST: Final = 4
_RECEIVING: Final = 8
#: A row ended the transport (close_transport): its facts are read again once the
#: row is done (rule 4).
_ENDED: Final = 16

#: Close codes a transport library sends when it fails the connection because of
#: the peer: protocol error, unsupported data, invalid payload, message too big.
PEER_FAULT_CODES: Final = frozenset({1002, 1003, 1007, 1009})


def library_close_event(code: int) -> Event:
    """The event a Close frame the transport library sent on its own is fed as.

    With a code that blames the peer (:data:`PEER_FAULT_CODES`) it is
    ``library_close_peer_fault``; with any other (a server handler returned,
    1000, or raised, 1011; the server shuts down, 1001) ``library_close``. Who
    closed is then the table's to say (``record_close:remote`` or ``:local``).
    """
    return Event.LIBRARY_CLOSE_PEER_FAULT if code in PEER_FAULT_CODES else Event.LIBRARY_CLOSE


def loss_event(error: bool) -> Event:
    """A lost transport's event: ``transport_error`` (RST, OSError), else ``transport_eof``."""
    return Event.TRANSPORT_ERROR if error else Event.TRANSPORT_EOF


def accept_event(handed_over: bool) -> Event:
    """The event ``accept()`` is fed as: ``app_accept_again`` once the transport has the handshake.

    ``handed_over`` is the transport's ``accepted`` fact: an earlier ``accept()``
    handed the handshake to it (it may still be running), or it was accepted
    before it was guarded.
    """
    return Event.APP_ACCEPT_AGAIN if handed_over else Event.APP_ACCEPT


@dataclass(frozen=True, slots=True)
class Options:
    """Timeouts and limits of a guarded connection (seconds; None disables).

    * ``ping_interval``/``ping_timeout``: keepalive. A ping every
      ``ping_interval``; a pong later than ``ping_timeout`` is a half-open peer:
      Close 1011, then the close timeout, then abort.
    * ``close_timeout``: how long a closing handshake or teardown may take before
      the transport is aborted; ``close()`` returns within it.
    * ``write_timeout``: the slow-reader policy. Outgoing data is bounded by the
      transport's write buffer (websockets: 32 KiB by default); a send that finds
      it full waits for the peer to read, at most ``write_timeout``; then the
      connection is closed with 1008 "slow reader" and the send fails.
    * ``open_timeout``: how long ``accept()`` may take (adapters with a handshake).
    """

    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 10.0
    write_timeout: float | None = 30.0
    open_timeout: float | None = 10.0

    def __post_init__(self) -> None:
        for name in ("ping_timeout", "close_timeout"):
            check_seconds(name, getattr(self, name), optional=False)
        for name in ("ping_interval", "write_timeout", "open_timeout"):
            check_seconds(name, getattr(self, name), optional=True)


@dataclass(slots=True)
class Stats:
    """Counters of one connection."""

    sent: int = 0
    """Messages handed to the transport."""
    dropped: int = 0
    """Messages not sent because the connection was closing or closed (or failed mid-send)."""
    received: int = 0
    """Messages returned by ``recv``."""
    threadsafe_failures: int = 0
    """``send_threadsafe`` messages that could not be sent (counted, never raised)."""
    callback_errors: int = 0
    """``on_close`` callbacks that raised (each logged once at ERROR)."""


class Counters:
    """Totals across every guarded connection of the process: :data:`wsstate.counters`.

    Plain integers, for export to a metrics system (:meth:`snapshot`); no
    dependency, no lock. Counted by the connections' event loops (one
    increment, no locking: with several loops in several threads a count may
    rarely miss one). ``sent`` and ``received`` are not totalled here (the hot
    path stays one dictionary lookup): each connection's :class:`Stats` has
    them.
    """

    __slots__ = (
        "callback_errors",
        "closed",
        "closed_local",
        "closed_remote",
        "closed_timeout",
        "closed_transport",
        "dropped",
        "guarded",
        "threadsafe_failures",
    )

    def __init__(self) -> None:
        self.guarded = 0
        """Connections guarded (``guard()``, ``connect()``)."""
        self.closed = 0
        """Connections that reached CLOSED (their ``on_close`` notification fired)."""
        self.closed_local = 0
        """... of which closed by this endpoint (``close()``, ``abort()``)."""
        self.closed_remote = 0
        """... by the peer (its Close frame, a protocol violation, a refused handshake)."""
        self.closed_transport = 0
        """... by the transport (TCP lost without a closing handshake)."""
        self.closed_timeout = 0
        """... by a timer (keepalive, a stalled write, the handshake, the closing handshake)."""
        self.dropped = 0
        """Messages not sent: the connection was closing or closed, or failed mid-send."""
        self.threadsafe_failures = 0
        """``send_threadsafe`` messages that could not be sent."""
        self.callback_errors = 0
        """``on_close`` callbacks that raised (each logged once at ERROR)."""

    @property
    def open(self) -> int:
        """Connections guarded and not yet CLOSED."""
        return self.guarded - self.closed

    def snapshot(self) -> dict[str, int]:
        """Every counter, and ``open``, by name: ready for a metrics exporter."""
        values = {name: getattr(self, name) for name in sorted(self.__slots__)}
        values["open"] = self.open
        return values

    def __repr__(self) -> str:
        return f"<Counters {self.snapshot()}>"


#: The process-wide :class:`Counters` (exported as ``wsstate.counters``).
counters: Final = Counters()
_CLOSED_BY_COUNTER: Final = {
    ClosedBy.LOCAL: "closed_local",
    ClosedBy.REMOTE: "closed_remote",
    ClosedBy.TRANSPORT: "closed_transport",
    ClosedBy.TIMEOUT: "closed_timeout",
}


@runtime_checkable
class _Accepting(Protocol):
    """A transport with an opening handshake the application completes (ASGI)."""

    @property
    def accepted(self) -> bool:
        """True once the handshake was accepted (by :meth:`accept` or before guarding)."""

    async def accept(self, subprotocol: str | None = None) -> None:
        """Accept the handshake; TransportClosed if the peer left or it was refused."""

    def offered_subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order."""


class GuardedConnection:
    """A WebSocket connection whose every operation is decided by the transition table.

    Create one with :func:`wsstate.guard` (server side) or :func:`wsstate.connect`
    (client side). Must be created inside the running event loop that owns the
    transport.
    """

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_callbacks",
        "_closed_waiters",
        "_data",
        "_deferred",
        "_flags",
        "_keepalive",
        "_live",
        "_loop",
        "_m",
        "_t",
        "_tasks",
        "_timers",
        "options",
        "stats",
    )

    def __init__(
        self,
        transport: Transport,
        options: Options | None = None,
        *,
        opened: bool = True,
        name: str = "connection",
    ) -> None:
        if not opened and not isinstance(transport, _Accepting):
            raise TypeError(
                f"{type(transport).__name__} has no application-side handshake: guard it open"
            )
        self._t = transport
        self._loop = transport.loop
        self.options = options or Options()
        self._m = Machine(name)
        self.stats = Stats()
        # Created on first use (memory: most connections never need them).
        self._closed_waiters: list[asyncio.Future[None]] | None = None
        self._callbacks: list[CloseCallback] | tuple[()] = ()
        self._timers: dict[Effect, Timer] | None = None
        # The keepalive's timer while it waits for the next ping, its task while
        # a ping waits for the pong.
        self._keepalive: Timer | asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._flags = 0
        self._live: dict[GuardedConnection, None] | None = None  # registered once set up
        self._data: dict[str, Any] | None = None  # created on first use: conn.data
        # A broadcast's writes still waiting (slow reader), in order; None when none.
        self._backlog: deque[Awaitable[None]] | None = None
        counters.guarded += 1
        # Timers armed while the connection is being set up are created once it
        # is: the initial open timer of a connection that is already open is
        # cancelled by handshake_ok at once, and a timer handle armed and
        # cancelled in the same step would be pure cost (docs/performance.md).
        opening = _OPENING if opened else None
        # None when the composed opening arms no table timer (nothing to defer).
        self._deferred: dict[Effect, tuple[float | None, Event]] | None = (
            {} if opening is None or opening.defers else None
        )
        if opening is not None and not logger.isEnabledFor(opening.log):
            # Guarded open, nothing to log: the initial effects and the
            # handshake_ok row, composed at import (_opening()).
            self._m.state = opening.state
            transport.attach(self)  # one reference, not two bound methods (memory)
            for action in opening.actions:
                action(self, None, None, None)
        else:
            self._perform(self._m.initial_effects, None, None, None)
            transport.attach(self)
            if opened:
                self._handle(Event.HANDSHAKE_OK)
        # Facts the transport observed before it had a listener (a Starlette
        # socket whose client already left, say).
        if not transport.is_open():
            self._sync()
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
        if deferred:
            for key, (delay, event) in deferred.items():
                self._arm(key, delay, event)
        if self._m.state not in TERMINAL:
            # The loop's list of connections not yet CLOSED, kept to leave it.
            self._live = _lifetime.register(self._loop, self)

    # -- what is known ---------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's current state."""
        return self._m.state

    @property
    def close_code(self) -> int | None:
        """The close code once the closure is decided (1006 when no Close frame was exchanged)."""
        return self._m.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the closure is decided."""
        return self._m.close_reason

    @property
    def closed_by(self) -> ClosedBy | None:
        """Who started the closure (local, remote, transport, timeout), once decided."""
        return self._m.closed_by

    @property
    def clean(self) -> bool:
        """True once both Close frames were exchanged."""
        return self._m.clean

    @property
    def closed(self) -> bool:
        """True in the terminal state."""
        return self._m.state in TERMINAL

    @property
    def transport(self) -> Transport:
        """The adapter this connection drives (:class:`~wsstate.adapters.base.Transport`).

        For diagnostics and what wsstate does not wrap: the native connection is
        its ``connection`` (websockets) or ``websocket`` (Starlette). Calling the
        native connection's send, receive or close methods yourself bypasses the
        guard: a guarded Starlette ``WebSocket`` refuses it (``InvalidState``).
        """
        return self._t

    @property
    def name(self) -> str:
        """The ``name`` given to :func:`~wsstate.guard` or :func:`~wsstate.connect`
        (``ws1``, ``ws2``, ... by default); it prefixes the connection's log lines."""
        return self._m.name

    @property
    def request(self) -> Request:
        """What the opening handshake said, the same for every transport.

        A :class:`~wsstate.Request`: ``path``, ``query``,
        ``headers`` (as received by a server, as sent by a client;
        :meth:`~wsstate.Request.header` looks one up
        case-insensitively), ``remote_address`` (the peer's ``(host, port)``),
        ``subprotocol`` (negotiated; None if none, or unknown for a Starlette
        socket accepted before it was guarded). Read from the transport on each
        access: nothing is kept per connection.
        """
        return self._t.request()

    @property
    def data(self) -> dict[str, Any]:
        """The application's own data about this connection (user, session, room...).

        A plain ``dict``, created on first access (a connection that never uses
        it pays nothing), kept for the connection's life and after it: an
        ``on_close`` callback can read it. wsstate never reads or writes it.
        """
        data = self._data
        if data is None:
            data = self._data = {}
        return data

    def __repr__(self) -> str:
        return f"<GuardedConnection {self._m.name} {self._m.state.value}>"

    # -- the handshake -----------------------------------------------------------

    async def accept(self, subprotocol: str | None = None) -> bool:
        """Accept the opening handshake of a connection guarded before it was accepted.

        For transports whose application completes the handshake (a Starlette
        ``WebSocket``). What happens is the table's ``app_accept`` row: in
        CONNECTING the transport accepts, and its outcome is the ``handshake_ok``
        or ``handshake_fail`` row: True once the connection is OPEN; False,
        quietly, if it is CLOSED instead (the peer left during the handshake, the
        open timeout fired, or ``close()`` refused it first). After the handshake
        (accepting twice) it raises :class:`~wsstate.InvalidState`; once CLOSED it
        returns False.

        ``subprotocol``: one of those the client offered (its
        ``Sec-WebSocket-Protocol``), or None; anything else raises here, before
        anything changes: :class:`TypeError` for what is not a ``str``,
        :class:`ValueError` for one the client did not offer (RFC 6455 4.2.2:
        the client would fail the handshake the server took for accepted).
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("accept")
        if subprotocol is not None:
            self._check_subprotocol(subprotocol)
        t = self._t
        event = accept_event(isinstance(t, _Accepting) and t.accepted)
        outcome: Effect | None = _OUTCOMES[event][self._m.state]
        self._handle(event)
        if outcome is Effect.ACCEPT_HANDSHAKE:
            # Only a transport with an application-side handshake is ever CONNECTING
            # (checked when the connection is created).
            try:
                await cast(_Accepting, t).accept(subprotocol)
            except TransportClosed:
                event = Event.HANDSHAKE_FAIL
            else:
                event = Event.HANDSHAKE_OK
            # The handshake row says what accept() returns: True from CONNECTING to
            # OPEN; False once the connection ended first (close() or abort()
            # meanwhile, the open timeout) or the handshake failed.
            outcome = _OUTCOMES[event].get(self._m.state)  # impossible: _handle raises
            self._handle(event)
        if outcome is _RAISE_INVALID_STATE:
            raise InvalidState(f"accept() in state {self._m.state.value}: already accepted")
        return outcome is _RETURN_TRUE

    def _check_subprotocol(self, subprotocol: object) -> None:
        if not isinstance(subprotocol, str):
            raise TypeError(f"accept() takes a subprotocol str or None, not {subprotocol!r}")
        t = self._t
        if not isinstance(t, _Accepting):
            return  # no handshake of the application's: the table refuses the call
        offered = t.offered_subprotocols()
        if subprotocol not in offered:
            raise ValueError(
                f"accept(subprotocol={subprotocol!r}): the client offered "
                f"{', '.join(map(repr, offered)) if offered else 'none'}; the server may "
                "select only one of those"
            )

    # -- sending ---------------------------------------------------------------

    async def send(self, data: Payload) -> None:
        """Send a message (``str`` as text, bytes-like as binary).

        Raises :class:`~wsstate.ConnectionClosed` when the connection is closing or
        closed, at once (no waiting for the closing handshake), or when the
        transport fails during the send; :class:`TypeError` for another payload
        type, :class:`ValueError` for a ``str`` UTF-8 cannot encode (a lone
        surrogate), both before anything changes;
        :class:`~wsstate.InvalidState` before the handshake completed.
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("send")
        outcome = self._start_send(data)
        if outcome is True:
            return
        if outcome is False or not await self._finish_send(outcome):
            raise self._closed_error()

    async def try_send(self, data: Payload) -> bool:
        """Send a message; return False instead of raising when it cannot be sent.

        API misuse (a wrong payload type, a ``str`` UTF-8 cannot encode, a send
        before accept) still raises, as :meth:`send` does.
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("try_send")
        outcome = self._start_send(data)
        if outcome is True or outcome is False:
            return outcome
        return await self._finish_send(outcome)

    async def _try_send_checked(self, payload: Data) -> bool:
        """:meth:`try_send` of a payload its caller checked already, on this loop (a
        reconnecting client's buffered message): not checked again."""
        outcome = self._start_send(payload, checked=True)
        if outcome is True or outcome is False:
            return outcome
        return await self._finish_send(outcome)

    def _start_send(self, data: Payload, checked: bool = False) -> bool | Awaitable[None]:
        """The part of a send that never waits: the table's decision and the write.

        True if the message was written, False if it was dropped; else what to
        await before it counts as sent (``_finish_send``). The hot path
        (docs/performance.md): kept flat, no coroutine, no effect loop for a
        transmit-only row. ``checked``: the caller checked the payload already
        (``_checks.checked_payload``: a session's replay or broadcast, a client's
        buffer), on this connection's loop.
        """
        # The payload checked at the call (_checks.checked_payload): bytes as they
        # are, an ASCII str by a flag, the rest by the full check.
        if isinstance(data, str):
            if not checked and not data.isascii():
                check_text(data)
        elif not isinstance(data, bytes):
            data = checked_payload(data)
        t = self._t
        if not t.is_open():
            self._sync()
        # The row's outcome, one of _SEND_OUTCOMES for every state (checked at import).
        state = self._m.state
        outcome = _SEND_OUTCOME[state]
        # A row that changes nothing (OPEN's: same state, no action, no
        # bookkeeping) is fed only when its log record would be emitted.
        level = _SEND_IDLE_LOG[state]
        if level is None or logger.isEnabledFor(level):
            self._handle(_APP_SEND)
        if outcome is not _TRANSMIT:
            if outcome is _DROP:
                self.stats.dropped += 1
                counters.dropped += 1
                return False
            raise InvalidState(f"cannot send in state {self._m.state.value}")
        try:
            pending = t.write(data)
        except TransportClosed:
            self.stats.dropped += 1
            counters.dropped += 1
            self._sync()
            return False
        if pending is None:
            self.stats.sent += 1
            return True
        return pending

    async def _finish_send(self, pending: Awaitable[None]) -> bool:
        """Await a write that has to wait, within ``write_timeout`` (the slow-reader policy)."""
        timeout = self.options.write_timeout
        try:
            if timeout is None:
                await pending
            else:
                async with asyncio.timeout(timeout):
                    await pending
        except TransportClosed:
            self.stats.dropped += 1
            counters.dropped += 1
            self._sync()
            return False
        except TimeoutError:
            self.stats.dropped += 1
            counters.dropped += 1
            # Every send that times out is a stall; the table makes the ones after the
            # first (the connection is CLOSING or CLOSED by then) quiet no-ops.
            self._handle(Event.TRANSPORT_STALLED)
            return False
        self.stats.sent += 1
        return True

    def _send_nowait(self, data: Data, limit: int, shared: dict[object, Any]) -> int:
        """A broadcast's send: never waits (:meth:`wsstate.Hub.broadcast`).

        Returns :data:`SENT_NOW` (written), :data:`QUEUED` (written behind a full
        buffer, or handed to an asynchronous transport: the member's backlog
        finishes it, in order, under ``write_timeout``) or :data:`DROPPED` (the
        table dropped it, the transport failed, or the backlog already holds
        ``limit`` writes). The backlog is the slow-reader policy on this
        connection's own time: a write that waits longer than ``write_timeout``
        is the table's ``transport_stalled`` (OPEN: Close 1008), and what is
        still queued behind it is dropped.
        """
        backlog = self._backlog
        if backlog is not None and len(backlog) >= limit:
            self.stats.dropped += 1
            counters.dropped += 1
            return DROPPED
        # _start_send's steps, flat (one call fewer per member), the payload
        # checked by the hub, and the write shared between the members
        # (Transport.write_shared: websockets serializes the frame once).
        t = self._t
        if not t.is_open():
            self._sync()
        state = self._m.state
        outcome = _SEND_OUTCOME[state]
        # A row that changes nothing (OPEN's: same state, no action, no
        # bookkeeping) is fed only when its log record would be emitted.
        level = _SEND_IDLE_LOG[state]
        if level is None or logger.isEnabledFor(level):
            self._handle(_APP_SEND)
        if outcome is not _TRANSMIT:
            if outcome is _DROP:
                self.stats.dropped += 1
                counters.dropped += 1
                return DROPPED
            raise InvalidState(f"cannot send in state {self._m.state.value}")
        try:
            pending = t.write_shared(data, shared)
        except TransportClosed:
            self.stats.dropped += 1
            counters.dropped += 1
            self._sync()
            return DROPPED
        if pending is None:
            self.stats.sent += 1
            return SENT_NOW
        if backlog is None:
            backlog = self._backlog = deque()
            self._spawn(self._drain_backlog(backlog))
        backlog.append(pending)
        return QUEUED

    async def _drain_backlog(self, backlog: deque[Awaitable[None]]) -> None:
        # One task per member with a backlog (only while it has one): each write
        # awaited in order, each within write_timeout (_finish_send feeds the
        # stall to the table); after a failure the rest is dropped, never written
        # out of order.
        try:
            while backlog:
                ok = await self._finish_send(backlog[0])
                backlog.popleft()
                if not ok:
                    break
        finally:
            if self._backlog is backlog:
                self._backlog = None
            while backlog:
                self._t.discard_write(backlog.popleft())
                self.stats.dropped += 1
                counters.dropped += 1

    def send_threadsafe(self, data: Payload) -> bool:
        """Queue a message from any thread (the loop's included); never raises for closure.

        Returns False if the message certainly cannot be sent (the table drops a
        send in the current state, or the event loop is closed or gone); True if it
        was queued, in which case the loop sends it in order with other queued
        messages. A queued message that fails later is counted in ``stats`` and
        logged at DEBUG, never left as an unretrieved task exception. A payload
        that is neither ``str`` nor bytes-like raises :class:`TypeError`, a ``str``
        UTF-8 cannot encode :class:`ValueError`, here, in the caller's thread.
        """
        # Checked, and a bytes-like payload copied, now, in the caller's thread: the
        # loop sends it later, and the caller may reuse its buffer as soon as this
        # returns.
        payload = checked_payload(data)
        # Read from any thread: a state seen slightly late only defers the decision
        # to the loop, where the same row applies again.
        if _SEND_OUTCOME[self._m.state] is _DROP:
            self.stats.dropped += 1
            counters.dropped += 1
            return False
        try:
            self._loop.call_soon_threadsafe(self._send_queued, payload)
        except RuntimeError:  # the loop is closed
            self.stats.threadsafe_failures += 1
            counters.threadsafe_failures += 1
            logger.debug(
                "%s: send_threadsafe after the event loop closed: dropped (thread %s)",
                self._m.name,
                threading.current_thread().name,
            )
            return False
        return True

    def _send_queued(self, data: Data) -> None:
        self._spawn(self._send_queued_task(data))

    async def _send_queued_task(self, data: Data) -> None:
        try:
            ok = await self.try_send(data)
        except InvalidState:
            self.stats.threadsafe_failures += 1
            counters.threadsafe_failures += 1
            logger.debug("%s: send_threadsafe before the handshake: dropped", self._m.name)
            return
        if not ok:
            self.stats.threadsafe_failures += 1
            counters.threadsafe_failures += 1

    async def ping(self) -> bool:
        """Send a ping; True if it went out (no waiting for the pong).

        False if the connection is not open, or if the transport cannot send pings
        (ASGI has no ping message).
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("ping")
        outcome = _OUTCOMES[Event.APP_PING][self._m.state]
        self._handle(Event.APP_PING)
        if outcome is Effect.TRANSMIT_PING:
            try:
                waiter = await self._t.ping()
            except TransportClosed:
                self._sync()
                return False
            return waiter is not None
        if outcome is _RAISE_INVALID_STATE:
            raise InvalidState(f"cannot ping in state {self._m.state.value}")
        return False  # drop

    # -- receiving -------------------------------------------------------------

    async def recv(self) -> Data:
        """The next message. Messages received before the peer's Close are all delivered,
        in order; then :class:`~wsstate.ConnectionClosed` is raised.

        One at a time: a second ``recv()`` (or ``async for``) while one waits
        raises :class:`~wsstate.ConcurrentRecv` at once, whatever the transport.
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("recv")
        if self._flags & _RECEIVING:
            raise ConcurrentRecv(
                f"{self._m.name}: recv() called while another recv() is waiting for a message"
            )
        if not self._t.is_open():
            self._sync()
        outcome = _OUTCOMES[Event.APP_RECV][self._m.state]
        self._handle(Event.APP_RECV)
        if outcome is _RAISE_INVALID_STATE:
            raise InvalidState(f"cannot receive in state {self._m.state.value}")
        self._flags |= _RECEIVING
        try:
            # read: wait for the next message; read_buffered: only one already received.
            message = await self._t.recv(block=outcome is Effect.READ)
        except TransportClosed:
            self._sync()
            raise self._closed_error() from None
        finally:
            self._flags &= ~_RECEIVING
        self.stats.received += 1
        return message

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over received messages; the iteration ends quietly on any closure."""
        while True:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return

    # -- closing -----------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> bool:
        """Close the connection; idempotent and safe from any number of tasks at once.

        Returns True for the call that started the closure, False for every other
        (the first caller's code wins). Waits until the connection is CLOSED,
        within the close timeout whatever the peer does. An invalid code or
        reason raises :class:`~wsstate.InvalidCloseCode` /
        :class:`~wsstate.InvalidCloseReason` before any state change.
        """
        if _running_loop() is not self._loop:
            self._wrong_loop("close")
        if code.__class__ is not int or code != 1000 or reason.__class__ is not str or reason:
            try:
                validate_close(code, reason)
            except InvalidCloseArgs:
                outcome = _OUTCOMES[Event.APP_CLOSE_INVALID][self._m.state]
                self._handle(Event.APP_CLOSE_INVALID)
                if outcome is Effect.RAISE_INVALID_CLOSE_ARGS:
                    raise
                return False
        if not self._t.is_open():
            self._sync()
        state = self._m.state
        outcome = _CLOSE_OUTCOME[state]
        self._handle(_APP_CLOSE, code, reason)
        if _CLOSE_WAITS[state]:
            await self.wait_closed()
        return outcome is _RETURN_TRUE

    def abort(self) -> bool:
        """Drop the transport without a closing handshake; True if this call closed it."""
        outcome = _OUTCOMES[Event.APP_ABORT][self._m.state]
        self._handle(Event.APP_ABORT)
        return outcome is _RETURN_TRUE

    async def wait_closed(self) -> None:
        """Return once the connection is CLOSED."""
        if _running_loop() is not self._loop:
            self._wrong_loop("wait_closed")
        if self._m.state in TERMINAL:
            return
        # A future per waiter, as asyncio.Event has it, without the Event (two
        # microseconds a connection on 3.11: its loop lookup and its object).
        waiter: asyncio.Future[None] = self._loop.create_future()
        waiters = self._closed_waiters
        if waiters is None:
            waiters = self._closed_waiters = [waiter]
        else:
            waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # A wait given up (wait_for, a cancelled task) leaves no waiter behind.
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            raise

    def on_close(self, callback: CloseCallback) -> None:
        """Call ``callback(connection)`` once, when the connection becomes CLOSED.

        Registered after that, it is called soon (at once if the connection's loop
        is closed; an ``async def`` callback then raises :class:`RuntimeError`,
        since nothing can run it). A callback that raises (or
        returns an awaitable that fails) is logged once at ERROR and does not
        stop the others. A ``callback`` that is not callable, or cannot take the
        connection as its one argument, raises :class:`TypeError` here, not at
        close time.
        """
        if not callable(callback):
            raise TypeError(
                f"on_close() takes a callable, not {type(callback).__name__}: {callback!r}"
            )
        mismatch = callback_mismatch(callback, 1)
        if mismatch is not None:
            raise TypeError(
                f"on_close() callback {callback!r} is called with the connection: {mismatch}"
            )
        if self._m.state in TERMINAL:
            if not self._loop.is_closed():
                self._loop.call_soon(self._run_callback, callback)
            elif inspect.iscoroutinefunction(callback):
                raise RuntimeError(
                    f"{self!r}: its event loop is closed, so the async on_close callback "
                    f"{callback!r} cannot run"
                )
            else:  # nothing will run on that loop again: now, in the caller's turn
                self._run_callback(callback)
        else:
            callbacks = self._callbacks
            if isinstance(callbacks, list):
                callbacks.append(callback)
            else:
                self._callbacks = [callback]

    # -- the engine ----------------------------------------------------------------

    def _handle(self, event: Event, code: int | None = None, reason: str | None = None) -> Row:
        m = self._m
        state = m.state
        # Machine.feed, inlined (one call fewer per event): the row, its bookkeeping
        # and its actions in one lookup (_STEPS).
        row, books, actions = _STEPS[state][event]
        nxt = row.next
        if nxt is None:
            self._impossible(event)
        if books is not None:
            m._bookkeep(row, books, code, reason)
        m.state = nxt
        if logger.isEnabledFor(row.log):
            m._log(state, event, nxt, row)
        for action in actions:  # most rows, the hot ones, have none
            action(self, row, code, reason)
        if self._flags & _ENDED:  # the row ended the transport: its loss may be known
            self._flags &= ~_ENDED
            self._sync()
        return row

    def _impossible(self, event: Event) -> NoReturn:
        """Raise (and log once) the machine's ImpossibleEvent; the state is unchanged."""
        m = self._m
        try:
            m.feed(event)
        except ImpossibleEvent:
            logger.error("%s: internal error", m.name, exc_info=True)
            raise
        raise AssertionError(f"the table has no row for {event.value} in {m.state.value}")

    def _perform(
        self,
        effects: tuple[Effect, ...],
        row: Row | None,
        code: int | None,
        reason: str | None,
    ) -> None:
        for effect in effects:
            action = _ACTIONS.get(effect)
            if action is not None:
                action(self, row, code, reason)

    def _emit_close_frame(self, row: Row | None, code: int | None, reason: str | None) -> None:
        if row is not None and row.code is not None:
            code, reason = row.code, row.reason
        self._t.start_close(code if code is not None else 1000, reason or "")

    def _close_transport(self) -> None:
        self._t.close_transport()
        self._flags |= _ENDED  # read the facts again once the row is done (_handle)

    def _arm_keepalive(self) -> None:
        interval = self.options.ping_interval
        if interval is not None:
            # A function and the connection, not a bound method: 64 B per connection.
            self._keepalive = call_later1(self._loop, interval, _keepalive_due, self)

    def _cancel_keepalive(self) -> None:
        keepalive, self._keepalive = self._keepalive, None
        # A timer, or the ping's task unless it is the one asking (current_task()
        # costs a microsecond and a half on 3.11: asked only for a task). Its loop
        # named: a connection aborted once its loop stopped (_lifetime's end of a
        # closed loop) asks with no loop running, where current_task() raises.
        if keepalive is not None and (
            type(keepalive) is Timer or keepalive is not asyncio.current_task(self._loop)
        ):
            keepalive.cancel()

    def _keepalive_due(self) -> None:
        self._keepalive = self._spawn(self._keepalive_ping())

    def _arm(self, key: Effect, delay: float | None, event: Event) -> None:
        if delay is None:
            return
        deferred = self._deferred
        if deferred is not None:  # still being set up: armed once it is, in this order
            deferred.pop(key, None)
            deferred[key] = (delay, event)
            return
        timers = self._timers
        if timers is None:
            timers = self._timers = {}
        else:
            armed = timers.get(key)
            if armed is not None:  # armed again: the earlier one goes
                armed.cancel()
        timers[key] = call_later1(self._loop, delay, _fire, (self, key, event))

    def _cancel(self, key: Effect) -> None:
        if self._deferred is not None:
            self._deferred.pop(key, None)
        timers = self._timers
        handle = timers.pop(key, None) if timers is not None else None
        if handle is not None:
            handle.cancel()

    def _fire(self, key: Effect, event: Event) -> None:
        if self._timers is not None:
            self._timers.pop(key, None)
        with contextlib.suppress(ImpossibleEvent):  # logged at ERROR by _handle
            self._handle(event)

    async def _keepalive_ping(self) -> None:
        # One ping; the timer is armed again for the next one once the pong came
        # in time, unless the table cancelled the keepalive meanwhile.
        try:
            # The deadline counts from the ping handed to the transport: one whose
            # ping() waits for its write buffer to drain (websockets') waits within
            # it, as a ping written at once waits behind that buffer for its pong.
            async with asyncio.timeout(self.options.ping_timeout):
                waiter = await self._t.ping()
                if waiter is None:  # the transport has no ping (ASGI): no keepalive
                    self._keepalive = None
                    return
                await waiter
        except TransportClosed:
            self._sync()
            return
        except TimeoutError:
            # What the transport learned meanwhile comes first: a ping() that waited
            # on a connection the library was closing (a server's shutdown) ends with
            # the library's Close, not with a keepalive timeout of its own.
            self._sync()
            if self._keepalive is asyncio.current_task():  # not ended by the table meanwhile
                self._handle(Event.KEEPALIVE_TIMEOUT)
            return
        if self._keepalive is asyncio.current_task():
            self._arm_keepalive()

    def _on_data(self) -> None:
        # The message itself waits in the transport's queue for recv(); the table
        # only learns that it arrived (deliver), in arrival order.
        # OPEN's row changes nothing (deliver is passive): fed only when logged.
        level = _PEER_DATA_IDLE_LOG[self._m.state]
        if level is None or logger.isEnabledFor(level):
            with contextlib.suppress(ImpossibleEvent):  # logged at ERROR by _handle
                self._handle(_PEER_DATA)

    def _sync(self) -> None:
        """Feed the table the transport's facts it has not seen yet, in the order they happened."""
        facts = self._t.facts()
        if facts.library_close is not None and not self._flags & _FED_LIBRARY_CLOSE:
            self._flags |= _FED_LIBRARY_CLOSE
            code, reason = facts.library_close
            self._handle(library_close_event(code), code, reason)
        if facts.close_rcvd is not None and not self._flags & _FED_CLOSE_RCVD:
            self._flags |= _FED_CLOSE_RCVD
            self._handle(Event.PEER_CLOSE, *facts.close_rcvd)
        if facts.lost and not self._flags & _FED_LOST:
            self._flags |= _FED_LOST
            event = loss_event(facts.lost_error)
            # The loss of a closed connection changes nothing: fed only when logged.
            level = _IDLE_LOG[event][self._m.state]
            if level is None or logger.isEnabledFor(level):
                self._handle(event)

    def _notify_closed(self) -> None:
        # Timers are cancelled by the rows that enter CLOSED, as the table says;
        # nothing is cancelled behind its back (a late one is absorbed by CLOSED).
        waiters, self._closed_waiters = self._closed_waiters, None
        if waiters is not None:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        live, self._live = self._live, None
        if live is not None:
            live.pop(self, None)
        counters.closed += 1
        closed_by = self._m.closed_by
        if closed_by is not None:
            attribute = _CLOSED_BY_COUNTER[closed_by]
            setattr(counters, attribute, getattr(counters, attribute) + 1)
        callbacks, self._callbacks = self._callbacks, ()
        for callback in callbacks:
            self._run_callback(callback)

    def _run_callback(self, callback: CloseCallback) -> None:
        try:
            result = callback(self)
        except Exception:
            self.stats.callback_errors += 1
            counters.callback_errors += 1
            logger.error("%s: on_close callback %r failed", self._m.name, callback, exc_info=True)
            return
        if inspect.isawaitable(result):
            if self._loop.is_closed():  # nothing can await it
                if inspect.iscoroutine(result):
                    result.close()
                self.stats.callback_errors += 1
                counters.callback_errors += 1
                logger.error(
                    "%s: on_close callback %r returned an awaitable, and the event loop "
                    "is closed: not run",
                    self._m.name,
                    callback,
                )
                return

            async def run() -> None:
                try:
                    await result
                except Exception:
                    self.stats.callback_errors += 1
                    counters.callback_errors += 1
                    logger.error(
                        "%s: on_close callback %r failed", self._m.name, callback, exc_info=True
                    )

            # Held by the loop: it finishes before the loop closes (asyncio.run's end).
            _lifetime.hold(self._loop, self._spawn(run()))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ImpossibleEvent):
            logger.error("%s: internal error in background task", self._m.name, exc_info=exc)

    def _wrong_loop(self, operation: str) -> NoReturn:
        """Raise for an operation called from another event loop than the connection's
        (another thread's): nothing has changed, nothing was written."""
        raise RuntimeError(
            f"{self._m.name}: {operation}() must be called from the connection's event loop "
            f"(from another thread: send_threadsafe(), or "
            f"asyncio.run_coroutine_threadsafe(conn.{operation}(...), loop))"
        )

    def _closed_error(self) -> ConnectionClosed:
        m = self._m
        return ConnectionClosed(m.close_code, m.close_reason or "", m.closed_by, m.clean, m.state)


def _keepalive_due(conn: GuardedConnection) -> None:
    """The keepalive timer's callback (a function: no bound method per connection)."""
    conn._keepalive_due()


def _fire(call: tuple[GuardedConnection, Effect, Event]) -> None:
    """A table timer's callback: ``(connection, timer, event)``."""
    conn, key, event = call
    conn._fire(key, event)


_Action = Callable[[GuardedConnection, Row | None, int | None, str | None], None]

#: What the connection does for each effect it performs itself, looked up once
#: per effect (an ``if``/``elif`` chain over enum members cost ~70 ns a test).
#: Methods are looked up on the instance at call time, so patched ones apply.
_ACTIONS: Final[dict[Effect, _Action]] = {
    Effect.EMIT_CLOSE_FRAME: lambda c, row, code, reason: c._emit_close_frame(row, code, reason),
    Effect.ECHO_CLOSE_FRAME: lambda c, *_: c._t.echo_close(),
    Effect.CLOSE_TRANSPORT: lambda c, *_: c._close_transport(),
    Effect.ABORT_TRANSPORT: lambda c, *_: c._t.abort_transport(),
    Effect.ARM_OPEN_TIMER: lambda c, *_: c._arm(
        Effect.ARM_OPEN_TIMER, c.options.open_timeout, Event.OPEN_TIMEOUT
    ),
    Effect.ARM_CLOSE_TIMER: lambda c, *_: c._arm(
        Effect.ARM_CLOSE_TIMER, c.options.close_timeout, Event.CLOSE_TIMEOUT
    ),
    Effect.CANCEL_OPEN_TIMER: lambda c, *_: c._cancel(Effect.ARM_OPEN_TIMER),
    Effect.CANCEL_CLOSE_TIMER: lambda c, *_: c._cancel(Effect.ARM_CLOSE_TIMER),
    Effect.ARM_KEEPALIVE: lambda c, *_: c._arm_keepalive(),
    Effect.CANCEL_KEEPALIVE: lambda c, *_: c._cancel_keepalive(),
    Effect.NOTIFY_CLOSED: lambda c, *_: c._notify_closed(),
}

#: The effects that arm a table timer (``_arm``: deferred while a connection is set up).
_ARMS: Final = frozenset({Effect.ARM_OPEN_TIMER, Effect.ARM_CLOSE_TIMER})

#: Per ``cancel:<timer>`` effect, the ``arm:<timer>`` effect it undoes (the spec's timers).
_CANCELS: Final[Mapping[Effect, Effect]] = MappingProxyType(
    {
        Effect(f"cancel:{timer}"): Effect(f"arm:{timer}")
        for timer in TIMERS
        if {f"cancel:{timer}", f"arm:{timer}"} <= {e.value for e in Effect}
    }
)


class _Opening(NamedTuple):
    """A connection guarded open (:func:`_opening`)."""

    state: State
    log: int
    actions: tuple[_Action, ...]
    #: Whether an action arms a table timer (``_arm``), to be deferred until set up.
    defers: bool


def _opening() -> _Opening | None:
    """What creating a connection that is open already does, from the table, at import.

    The machine's initial effects, then the ``handshake_ok`` row of the initial
    state, composed: a timer the row cancels is never armed (the open timer).
    None (the connection then performs both, one after the other) if the row
    keeps the books (who closed, the code), which the composition does not.
    """
    row = TABLE[(INITIAL, Event.HANDSHAKE_OK)]
    if row.next is None or any(e in Machine.bookkeeping_effects for e in row.effects):
        return None
    effects = list(Machine.initial_effects)
    for effect in row.effects:
        armed = _CANCELS.get(effect)
        if armed is not None and armed in effects:
            effects.remove(armed)
        else:
            effects.append(effect)
    actions = tuple(_ACTIONS[e] for e in effects if e in _ACTIONS)
    defers = any(e in _ARMS for e in effects)
    return _Opening(row.next, row.log, actions, defers)


#: Per state, per event: the actions of the row's effects, in the row's order
#: (``_ACTIONS`` looked up once, at import). The other effects are outcomes the
#: calling operation interprets (transmit, drop, read, raise, return, wait) or
#: bookkeeping the machine did (record_close, mark_clean).
_ROW_ACTIONS: Final[dict[State, dict[Event, tuple[_Action, ...]]]] = {
    state: {
        event: tuple(_ACTIONS[e] for e in TABLE[(state, event)].effects if e in _ACTIONS)
        for event in Event
    }
    for state in State
}


#: Per state, per event: the row, its bookkeeping (:mod:`.core`'s) and its actions,
#: what ``_handle`` looks up once per event.
_STEPS: Final[dict[State, dict[Event, tuple[Row, _Books | None, tuple[_Action, ...]]]]] = {
    state: {event: (*_BY_STATE[state][event], _ROW_ACTIONS[state][event]) for event in Event}
    for state in State
}


#: A connection guarded open, when its opening can be composed (``__init__``).
_OPENING: Final = _opening()


#: What each operation does with its rows, by event: the effects it interprets
#: itself, its *outcomes* (what it returns or raises), in order of precedence. The
#: handshake rows give ``accept()`` its result. Every row of these events carries
#: one of them (the spec's ``outcomes``, checked by the validator and again here
#: at import), so an operation dispatches on exactly one effect and no row can
#: leave it without an answer.
OPERATION_OUTCOMES: Final[Mapping[Event, tuple[Effect, ...]]] = MappingProxyType(
    {
        Event.APP_SEND: (Effect.TRANSMIT, Effect.DROP, Effect.RAISE_INVALID_STATE),
        Event.APP_PING: (Effect.TRANSMIT_PING, Effect.DROP, Effect.RAISE_INVALID_STATE),
        Event.APP_RECV: (Effect.READ, Effect.READ_BUFFERED, Effect.RAISE_INVALID_STATE),
        Event.APP_ACCEPT: (
            Effect.ACCEPT_HANDSHAKE,
            Effect.RAISE_INVALID_STATE,
            Effect.RETURN_TRUE,
            Effect.RETURN_FALSE,
        ),
        Event.APP_ACCEPT_AGAIN: (
            Effect.RAISE_INVALID_STATE,
            Effect.RETURN_TRUE,
            Effect.RETURN_FALSE,
        ),
        Event.HANDSHAKE_OK: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
        Event.HANDSHAKE_FAIL: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
        Event.APP_CLOSE: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
        Event.APP_CLOSE_INVALID: (Effect.RAISE_INVALID_CLOSE_ARGS, Effect.RETURN_FALSE),
        Event.APP_ABORT: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
    }
)

#: Effects an operation interprets besides its outcome.
OPERATION_MODIFIERS: Final[Mapping[Event, tuple[Effect, ...]]] = MappingProxyType(
    {Event.APP_CLOSE: (Effect.WAIT_CLOSED,)}
)

#: Effects that need nothing from the connection, with the reason.
PASSIVE_EFFECTS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.DELIVER: "the adapter queued the message before it fed peer_data; recv() takes it",
    }
)


def _outcomes(event: Event) -> dict[State, Effect]:
    handled = OPERATION_OUTCOMES[event]
    outcomes: dict[State, Effect] = {}
    for state in State:
        row = TABLE[(state, event)]
        if row.next is None:
            continue
        found = [e for e in handled if e in row.effects]
        if not found:
            raise ImportError(
                f"the connection table gives {event.value} in {state.value} no outcome "
                f"({', '.join(e.value for e in handled)}): regenerate with `wsstate generate`"
            )
        outcomes[state] = found[0]
    return outcomes


#: Per operation, per state: the one outcome effect of the row, found at import.
_OUTCOMES: Final[dict[Event, dict[State, Effect]]] = {e: _outcomes(e) for e in OPERATION_OUTCOMES}
_SEND_OUTCOME: Final = _OUTCOMES[Event.APP_SEND]
_CLOSE_OUTCOME: Final = _OUTCOMES[Event.APP_CLOSE]
#: Per state: whether ``close()`` waits for CLOSED (its row's ``wait_closed``).
_CLOSE_WAITS: Final[dict[State, bool]] = {
    state: Effect.WAIT_CLOSED in TABLE[(state, Event.APP_CLOSE)].effects for state in State
}


def _idle_log(event: Event) -> dict[State, int | None]:
    """Per state: the log level of ``event``'s row if the row changes nothing but the log
    (the same state, no action, no bookkeeping), else None; from the table, at import."""
    idle: dict[State, int | None] = {}
    for state in State:
        row = TABLE[(state, event)]
        unchanged = row.next is state and not _ROW_ACTIONS[state][event]
        if unchanged and not any(e in Machine.bookkeeping_effects for e in row.effects):
            idle[state] = row.log
        else:
            idle[state] = None
    return idle


#: Per event, per state: :func:`_idle_log`. A send (``_start_send``, a broadcast's
#: ``_send_nowait``), a message received (``_on_data``) and a loss (``_sync``) feed
#: an idle row only when it would be logged.
_IDLE_LOG: Final[dict[Event, dict[State, int | None]]] = {e: _idle_log(e) for e in Event}
_SEND_IDLE_LOG: Final = _IDLE_LOG[Event.APP_SEND]
_PEER_DATA_IDLE_LOG: Final = _IDLE_LOG[Event.PEER_DATA]


def _effect_handlers() -> dict[Effect, tuple[str, ...]]:
    handlers: dict[Effect, list[str]] = {}
    for effect in _ACTIONS:
        handlers.setdefault(effect, []).append("performed by GuardedConnection (_ACTIONS)")
    for effect in Machine.bookkeeping_effects:
        handlers.setdefault(effect, []).append("bookkeeping done by wsstate.core.Machine")
    for event, effects in OPERATION_OUTCOMES.items():
        for effect in effects:
            handlers.setdefault(effect, []).append(f"outcome of {event.value}")
    for event, effects in OPERATION_MODIFIERS.items():
        for effect in effects:
            handlers.setdefault(effect, []).append(f"interpreted by the {event.value} operation")
    for effect, why in PASSIVE_EFFECTS.items():
        handlers.setdefault(effect, []).append(f"nothing to do: {why}")
    return {effect: tuple(where) for effect, where in handlers.items()}


#: Every effect this runtime handles, with who handles it (tests/test_effects.py
#: checks that it is every effect the spec declares).
EFFECT_HANDLERS: Final[Mapping[Effect, tuple[str, ...]]] = MappingProxyType(_effect_handlers())
