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
exception, and nothing is logged above DEBUG for a closure.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from ._timers import Timer, call_later
from .adapters.base import Data, Transport, TransportClosed
from .closecodes import InvalidCloseArgs, validate_close
from .core import Machine
from .errors import ClosedBy, ConnectionClosed, ImpossibleEvent, InvalidState
from .machines.connection import TABLE, TERMINAL, Effect, Event, Row, State

__all__ = ["CloseCallback", "GuardedConnection", "Options", "Stats"]

logger: Final = logging.getLogger("wsstate")

CloseCallback = Callable[["GuardedConnection"], object]
"""``on_close`` callback: called with the connection; may return an awaitable."""

_DATA_TYPES: Final = (str, bytes, bytearray, memoryview)
_STR_BYTES: Final = (str, bytes)
# Enum members as module constants: an attribute lookup on an enum class costs
# as much as the table lookup itself (~70 ns on CPython 3.11).
_APP_SEND: Final = Event.APP_SEND
#: Close codes a transport library sends when it fails the connection because of
#: the peer: protocol error, unsupported data, invalid payload, message too big.
_PEER_FAULT_CODES: Final = frozenset({1002, 1003, 1007, 1009})
_TRANSMIT: Final = Effect.TRANSMIT
_DROP: Final = Effect.DROP


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
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        for name in ("ping_interval", "write_timeout", "open_timeout"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"{name} must be a positive number or None, not {value!r}")


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


@runtime_checkable
class _Accepting(Protocol):
    """A transport with an opening handshake the application completes (ASGI)."""

    @property
    def accepted(self) -> bool:
        """True once the handshake was accepted (by :meth:`accept` or before guarding)."""

    async def accept(self, subprotocol: str | None = None) -> None:
        """Accept the handshake; TransportClosed if the peer left or it was refused."""


class GuardedConnection:
    """A WebSocket connection whose every operation is decided by the transition table.

    Create one with :func:`wsstate.guard` (server side) or :func:`wsstate.connect`
    (client side). Must be created inside the running event loop that owns the
    transport.
    """

    __slots__ = (
        "__weakref__",
        "_accepting",
        "_callbacks",
        "_closed_event",
        "_deferred",
        "_fed_close_rcvd",
        "_fed_library_close",
        "_fed_lost",
        "_keepalive",
        "_loop",
        "_m",
        "_stall_fed",
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
        self._t = transport
        self._loop = transport.loop
        self.options = options or Options()
        self._m = Machine(name)
        self.stats = Stats()
        self._closed_event = asyncio.Event()
        self._callbacks: list[CloseCallback] = []
        self._timers: dict[Effect, Timer] = {}
        # The keepalive's timer while it waits for the next ping, its task while
        # a ping waits for the pong.
        self._keepalive: Timer | asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fed_library_close = False
        self._fed_close_rcvd = False
        self._fed_lost = False
        self._stall_fed = False
        self._accepting = False
        # Timers armed while the connection is being set up are created once it
        # is: the initial open timer of a connection that is already open is
        # cancelled by handshake_ok at once, and a timer handle armed and
        # cancelled in the same step would be pure cost (docs/performance.md).
        self._deferred: dict[Effect, tuple[float | None, Event]] | None = {}
        self._perform(self._m.initial_effects, None, None, None)
        transport.set_listener(self._sync, self._on_data)
        if opened:
            self._handle(Event.HANDSHAKE_OK)
        # Facts the transport observed before it had a listener (a Starlette
        # socket whose client already left, say).
        if not transport.is_open():
            self._sync()
        deferred, self._deferred = self._deferred, None
        for key, (delay, event) in deferred.items():
            self._arm(key, delay, event)

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
        """The adapter this connection drives."""
        return self._t

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
        """
        effects = self._handle(Event.APP_ACCEPT).effects
        if Effect.RAISE_INVALID_STATE in effects:
            raise InvalidState(f"accept() in state {self._m.state.value}: already accepted")
        if Effect.ACCEPT_HANDSHAKE not in effects:
            return Effect.RETURN_TRUE in effects
        t = self._t
        if not isinstance(t, _Accepting) or self._accepting:
            # Only a transport with an application-side handshake is ever CONNECTING,
            # and one accept() at a time may run it.
            raise InvalidState("accept(): the handshake is already being accepted")
        self._accepting = True
        try:
            await t.accept(subprotocol)
        except TransportClosed:
            self._handle(Event.HANDSHAKE_FAIL)
        else:
            self._handle(Event.HANDSHAKE_OK)
        finally:
            self._accepting = False
        return self._m.state is State.OPEN

    # -- sending ---------------------------------------------------------------

    async def send(self, data: Data) -> None:
        """Send a message (``str`` as text, bytes-like as binary).

        Raises :class:`~wsstate.ConnectionClosed` when the connection is closing or
        closed, at once (no waiting for the closing handshake), or when the
        transport fails during the send; :class:`TypeError` for another payload
        type; :class:`~wsstate.InvalidState` before the handshake completed.
        """
        outcome = self._start_send(data)
        if outcome is True:
            return
        if outcome is False or not await self._finish_send(outcome):
            raise self._closed_error()

    async def try_send(self, data: Data) -> bool:
        """Send a message; return False instead of raising when it cannot be sent.

        API misuse (wrong payload type, send before accept) still raises.
        """
        outcome = self._start_send(data)
        if outcome is True or outcome is False:
            return outcome
        return await self._finish_send(outcome)

    def _start_send(self, data: Data) -> bool | Awaitable[None]:
        """The part of a send that never waits: the table's decision and the write.

        True if the message was written, False if it was dropped; else what to
        await before it counts as sent (``_finish_send``). The hot path
        (docs/performance.md): kept flat, no coroutine, no effect loop for a
        transmit-only row.
        """
        if not isinstance(data, _DATA_TYPES):
            raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
        t = self._t
        if not t.is_open():
            self._sync()
        effects = self._handle(_APP_SEND).effects
        if _TRANSMIT not in effects:
            if _DROP in effects:
                self.stats.dropped += 1
                return False
            if Effect.RAISE_INVALID_STATE in effects:
                raise InvalidState(f"cannot send in state {self._m.state.value}")
            raise AssertionError(f"row for app_send in {self._m.state.value} has no outcome")
        try:
            pending = t.write(data if isinstance(data, _STR_BYTES) else bytes(data))
        except TransportClosed:
            self.stats.dropped += 1
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
            self._sync()
            return False
        except TimeoutError:
            self.stats.dropped += 1
            if not self._stall_fed:
                self._stall_fed = True
                self._handle(Event.TRANSPORT_STALLED)
            return False
        self.stats.sent += 1
        return True

    def send_threadsafe(self, data: Data) -> bool:
        """Queue a message from any thread (the loop's included); never raises for closure.

        Returns False if the message certainly cannot be sent (the table drops a
        send in the current state, or the event loop is closed or gone); True if it
        was queued, in
        which case the loop sends it in order with other queued messages. A
        queued message that fails later is counted in ``stats`` and logged at
        DEBUG, never left as an unretrieved task exception.
        """
        if not isinstance(data, _DATA_TYPES):
            raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
        # Read from any thread: a state seen slightly late only defers the decision
        # to the loop, where the same row applies again.
        if _DROP in TABLE[(self._m.state, _APP_SEND)].effects:
            self.stats.dropped += 1
            return False
        try:
            self._loop.call_soon_threadsafe(self._send_queued, data)
        except RuntimeError:  # the loop is closed
            self.stats.threadsafe_failures += 1
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
            logger.debug("%s: send_threadsafe before the handshake: dropped", self._m.name)
            return
        if not ok:
            self.stats.threadsafe_failures += 1

    async def ping(self) -> bool:
        """Send a ping; True if it went out (no waiting for the pong).

        False if the connection is not open, or if the transport cannot send pings
        (ASGI has no ping message).
        """
        effects = self._handle(Event.APP_PING).effects
        if Effect.TRANSMIT_PING in effects:
            try:
                waiter = await self._t.ping()
            except TransportClosed:
                self._sync()
                return False
            return waiter is not None
        if Effect.RAISE_INVALID_STATE in effects:
            raise InvalidState(f"cannot ping in state {self._m.state.value}")
        return False

    # -- receiving -------------------------------------------------------------

    async def recv(self) -> Data:
        """The next message. Messages received before the peer's Close are all delivered,
        in order; then :class:`~wsstate.ConnectionClosed` is raised.
        """
        if not self._t.is_open():
            self._sync()
        effects = self._handle(Event.APP_RECV).effects
        if Effect.RAISE_INVALID_STATE in effects:
            raise InvalidState(f"cannot receive in state {self._m.state.value}")
        try:
            message = await self._t.recv(block=Effect.READ in effects)
        except TransportClosed:
            self._sync()
            raise self._closed_error() from None
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
        try:
            validate_close(code, reason)
        except InvalidCloseArgs:
            effects = self._handle(Event.APP_CLOSE_INVALID).effects
            if Effect.RAISE_INVALID_CLOSE_ARGS in effects:
                raise
            return False
        if not self._t.is_open():
            self._sync()
        effects = self._handle(Event.APP_CLOSE, code, reason).effects
        if Effect.WAIT_CLOSED in effects:
            await self._closed_event.wait()
        return Effect.RETURN_TRUE in effects

    def abort(self) -> bool:
        """Drop the transport without a closing handshake; True if this call closed it."""
        return Effect.RETURN_TRUE in self._handle(Event.APP_ABORT).effects

    async def wait_closed(self) -> None:
        """Return once the connection is CLOSED."""
        await self._closed_event.wait()

    def on_close(self, callback: CloseCallback) -> None:
        """Call ``callback(connection)`` once, when the connection becomes CLOSED.

        Registered after that, it is called soon. A callback that raises (or
        returns an awaitable that fails) is logged once at ERROR and does not
        stop the others.
        """
        if self._m.state in TERMINAL:
            self._loop.call_soon(self._run_callback, callback)
        else:
            self._callbacks.append(callback)

    # -- the engine ----------------------------------------------------------------

    def _handle(self, event: Event, code: int | None = None, reason: str | None = None) -> Row:
        m = self._m
        actions = _ROW_ACTIONS[m.state][event]
        try:
            row = m.feed(event, code, reason)
        except ImpossibleEvent:
            logger.error("%s: internal error", m.name, exc_info=True)
            raise
        for action in actions:  # most rows, the hot ones, have none
            action(self, row, code, reason)
        return row

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

    def _arm_keepalive(self) -> None:
        interval = self.options.ping_interval
        if interval is not None:
            self._keepalive = call_later(self._loop, interval, self._keepalive_due)

    def _cancel_keepalive(self) -> None:
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None and keepalive is not asyncio.current_task():
            keepalive.cancel()

    def _keepalive_due(self) -> None:
        self._keepalive = self._spawn(self._keepalive_ping())

    def _arm(self, key: Effect, delay: float | None, event: Event) -> None:
        if delay is None:
            return
        self._cancel(key)
        if self._deferred is not None:  # still being set up
            self._deferred[key] = (delay, event)
            return
        self._timers[key] = call_later(self._loop, delay, self._fire, key, event)

    def _cancel(self, key: Effect) -> None:
        if self._deferred is not None:
            self._deferred.pop(key, None)
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: Effect, event: Event) -> None:
        self._timers.pop(key, None)
        with contextlib.suppress(ImpossibleEvent):  # logged at ERROR by _handle
            self._handle(event)

    async def _keepalive_ping(self) -> None:
        # One ping; the timer is armed again for the next one once the pong came
        # in time, unless the table cancelled the keepalive meanwhile.
        try:
            waiter = await self._t.ping()
            if waiter is None:  # the transport has no ping (ASGI): no keepalive
                self._keepalive = None
                return
            async with asyncio.timeout(self.options.ping_timeout):
                await waiter
        except TransportClosed:
            self._sync()
            return
        except TimeoutError:
            self._handle(Event.KEEPALIVE_TIMEOUT)
            return
        if self._keepalive is asyncio.current_task():
            self._arm_keepalive()

    def _on_data(self) -> None:
        # The message itself waits in the transport's queue for recv(); the table
        # only learns that it arrived (deliver), in arrival order.
        with contextlib.suppress(ImpossibleEvent):  # logged at ERROR by _handle
            self._handle(Event.PEER_DATA)

    def _sync(self) -> None:
        """Feed the table the transport's facts it has not seen yet, in the order they happened."""
        facts = self._t.facts()
        if facts.library_close is not None and not self._fed_library_close:
            self._fed_library_close = True
            code, reason = facts.library_close
            if code in _PEER_FAULT_CODES:
                self._handle(Event.PEER_PROTOCOL_ERROR, code, reason)
            else:
                # The library closed on the application's behalf: a server handler
                # returned (1000), raised (1011), the server shut down (1001).
                self._handle(Event.APP_CLOSE, code, reason)
        if facts.close_rcvd is not None and not self._fed_close_rcvd:
            self._fed_close_rcvd = True
            self._handle(Event.PEER_CLOSE, *facts.close_rcvd)
        if facts.lost and not self._fed_lost:
            self._fed_lost = True
            self._handle(Event.TRANSPORT_ERROR if facts.lost_error else Event.TRANSPORT_EOF)

    def _notify_closed(self) -> None:
        # Timers are cancelled by the rows that enter CLOSED, as the table says;
        # nothing is cancelled behind its back (a late one is absorbed by CLOSED).
        self._closed_event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._run_callback(callback)

    def _run_callback(self, callback: CloseCallback) -> None:
        try:
            result = callback(self)
        except Exception:
            self.stats.callback_errors += 1
            logger.error("%s: on_close callback %r failed", self._m.name, callback, exc_info=True)
            return
        if inspect.isawaitable(result):

            async def run() -> None:
                try:
                    await result
                except Exception:
                    self.stats.callback_errors += 1
                    logger.error(
                        "%s: on_close callback %r failed", self._m.name, callback, exc_info=True
                    )

            self._spawn(run())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ImpossibleEvent):
            logger.error("%s: internal error in background task", self._m.name, exc_info=exc)

    def _closed_error(self) -> ConnectionClosed:
        m = self._m
        return ConnectionClosed(m.close_code, m.close_reason or "", m.closed_by, m.clean, m.state)


_Action = Callable[[GuardedConnection, Row | None, int | None, str | None], None]

#: What the connection does for each effect it performs itself, looked up once
#: per effect (an ``if``/``elif`` chain over enum members cost ~70 ns a test).
#: Methods are looked up on the instance at call time, so patched ones apply.
_ACTIONS: Final[dict[Effect, _Action]] = {
    Effect.EMIT_CLOSE_FRAME: lambda c, row, code, reason: c._emit_close_frame(row, code, reason),
    Effect.ECHO_CLOSE_FRAME: lambda c, *_: c._t.echo_close(),
    Effect.CLOSE_TRANSPORT: lambda c, *_: c._t.close_transport(),
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
