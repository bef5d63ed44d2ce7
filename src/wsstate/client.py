"""ReconnectingClient and reconnect(): one connection at a time, backoff between attempts.

Behaviour per state (the spec, ``spec/client.toml``, is authoritative):

===========  ===================  =========================  =========================
state        try_send / send      close()                    what happens next
===========  ===================  =========================  =========================
IDLE         buffered, True       STOPPED, True              start(): first attempt now
CONNECTING   buffered, True       attempt cancelled, True    connected / refused_*
OPENING      buffered, True       connection closed, True    on_open, flush, then OPEN
OPEN         sent on connection   connection closed, True    closed_* -> BACKOFF/STOPPED
BACKOFF      buffered, True       delay cancelled, True      next attempt when it ends
CLOSING      False / raises       waits, False               STOPPED
STOPPED      False / raises       False                      nothing, ever
===========  ===================  =========================  =========================

A full buffer (``max_buffered`` messages) refuses a send (False, or
:class:`~wsstate.ConnectionClosed` from ``send``) with one WARNING per
disconnected period.

Theory of operation
-------------------

Every call and every outcome is one event fed to the generated table
(:mod:`wsstate.machines.client`); the row's effects are performed in order
(``_EFFECTS``), and a call returns its row's one outcome effect
(:data:`OPERATION_OUTCOMES`). :data:`EFFECT_HANDLERS` names who handles every
effect the spec declares (``tests/test_client_effects.py``).

Rules outside the table, each a classification or a mechanism:

1. *Retry classification* (:mod:`wsstate.retry`, the generated table from
   ``spec/retry/client.toml``, and the ``retry=`` predicate): an attempt's
   failure becomes ``refused_retryable``, ``refused_retry_after`` (when a
   Retry-After gave a floor) or ``refused_fatal``; a closure becomes
   ``closed_*`` by its close code (1006 when none was recorded).
2. *Counters*: a retryable failure after ``max_attempts - 1`` consecutive ones is
   ``give_up``; the closure of a connection that stayed up ``min_uptime`` is no
   failure (its ``count_attempt`` sets the next delay only), so ``max_attempts``
   attempts follow it; a send with ``max_buffered`` messages kept is
   ``app_send_full``.
3. *Time*: the delay before attempt n is ``uniform(0, min(backoff_max,
   backoff_initial * backoff_factor ** (attempts - 1)))`` (full jitter after the
   cap, on every delay), and at least the floor; the uptime timer runs
   ``min_uptime``. Timers run on the ``clock`` (the event loop's by default; a
   test passes one it advances by hand).
4. *Generations*: each connection has a reader task that delivers its messages
   and feeds its closure once; an event of a connection that is no longer the
   current one is never fed (scenario 19).
5. *The async effects* ``run_on_open`` and ``flush_buffer`` run in a task, in
   row order; ``ready`` is fed when both finished on a connection still current.
   A message the connection refuses during the flush goes back to the front of
   the buffer (it was not sent: at most once, and not lost).
6. *Hooks*: ``on_open`` and ``on_close`` that raise are logged at ERROR (the
   application's bug), and the client carries on; a ``ConnectionClosed`` from
   their connection once it is no longer OPEN is no bug (DEBUG). ``on_open`` is
   cancelled when its connection is released; ``close()`` waits for the hooks
   still running, ``close_timeout`` at most, then cancels them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar

from . import _lifetime
from ._checks import check_hook, checked_at_least, checked_payload
from .adapters.base import Data, Payload
from .closecodes import validate_close
from .connection import GuardedConnection, Options
from .errors import ClosedBy, ConnectionClosed, ImpossibleEvent, InvalidOption
from .guard import checked_keywords, connect
from .machines.client import INITIAL, TABLE, TERMINAL, Effect, Event, Row, State
from .machines.connection import State as ConnectionState
from .retry import Refusal, classify_close, classify_failure, decide, unclassified

__all__ = [
    "EFFECT_HANDLERS",
    "OPERATION_OUTCOMES",
    "ClientStats",
    "Clock",
    "LoopClock",
    "ReconnectingClient",
    "reconnect",
]

logger: Final = logging.getLogger("wsstate.client")

ConnectionHook = Callable[[GuardedConnection], object]
"""``on_open``/``on_close``: called with the connection; may return an awaitable."""


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Where the client's timers run: ``call_later`` and ``now`` (seconds)."""

    @property
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...


class LoopClock:
    """The running event loop's clock (the default)."""

    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)


@dataclass(slots=True)
class ClientStats:
    """Counters of one client."""

    attempts: int = 0
    """Connection attempts started."""
    connections: int = 0
    """Attempts whose handshake completed."""
    buffered: int = 0
    """Messages kept in the buffer while disconnected."""
    flushed: int = 0
    """Buffered messages sent on a new connection."""
    refused: int = 0
    """Sends refused: buffer full (app_send_full) or the client closing or stopped."""
    dropped: int = 0
    """Buffered messages discarded when the client stopped."""
    hook_errors: int = 0
    """on_open/on_close calls that raised (each logged at ERROR)."""


#: What each operation returns, by event: its outcome effects, in order of precedence.
OPERATION_OUTCOMES: Final[Mapping[Event, tuple[Effect, ...]]] = MappingProxyType(
    {
        Event.START: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
        Event.APP_SEND: (Effect.TRANSMIT, Effect.BUFFER, Effect.REJECT),
        Event.APP_SEND_FULL: (Effect.TRANSMIT, Effect.REJECT),
        Event.APP_CLOSE: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
    }
)


def _outcome(event: Event, state: State) -> Effect | None:
    row = TABLE[(state, event)]
    if row.next is None:
        return None
    found = [e for e in OPERATION_OUTCOMES[event] if e in row.effects]
    if not found:
        raise ImportError(
            f"the client table gives {event.value} in {state.value} no outcome: "
            "regenerate with `wsstate generate`"
        )
    return found[0]


_OUTCOMES: Final = {e: {s: _outcome(e, s) for s in State} for e in OPERATION_OUTCOMES}
_CLOSED_EVENTS: Final = {
    "retry": Event.CLOSED_RETRYABLE,
    "retry_after": Event.CLOSED_RETRY_AFTER,
    "fatal": Event.CLOSED_FATAL,
}
_REFUSED_EVENTS: Final = {
    "retry": Event.REFUSED_RETRYABLE,
    "retry_after": Event.REFUSED_RETRY_AFTER,
    "fatal": Event.REFUSED_FATAL,
}
_STOP: Final = object()


#: The connections' default close_timeout (what close() waits for hooks by default).
_CLOSE_TIMEOUT: Final = Options().close_timeout


class ReconnectingClient:
    """A WebSocket client that keeps one connection to ``uri`` open, reconnecting with backoff.

    ``async with client:`` starts it (the first attempt at once) and closes it on
    exit. ``options`` are :func:`wsstate.connect`'s (the :class:`~wsstate.Options`
    fields and websockets' ``connect()`` keywords), checked at once. ``retry`` is
    the predicate that overrides the classification (``wsstate.retry``, called
    with a :class:`~wsstate.Refusal`);
    ``retry_on_1000=False`` stops on a server's normal closure. ``clock`` and
    ``rng`` are for tests (a clock with ``now`` and ``call_later`` that the test advances, a
    seeded ``random.Random``).

    Every argument is checked here, before anything starts: a ``uri`` that is not
    a ``ws://`` or ``wss://`` URI, a delay that is not a finite number ``>= 0``
    (``backoff_initial``, ``backoff_max``, ``min_uptime``; ``backoff_factor``
    ``>= 1``), a count that is not an int (``max_attempts >= 1`` or None,
    ``max_buffered >= 0``), a hook or ``retry`` that is not callable, a
    ``retry_on_1000`` that is not a bool, a ``clock``, ``rng`` or ``name`` that
    is not one raise :class:`~wsstate.InvalidOption` naming the argument (also a
    :class:`TypeError` for a value of the wrong type: a bool for a number, a
    string for a hook); an unknown keyword raises :class:`TypeError`.
    """

    def __init__(
        self,
        uri: str,
        *,
        backoff_initial: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_max: float = 30.0,
        min_uptime: float = 5.0,
        max_attempts: int | None = None,
        max_buffered: int = 100,
        on_open: Callable[[GuardedConnection], object] | None = None,
        on_close: Callable[[GuardedConnection], object] | None = None,
        retry: Callable[[Refusal], bool | None] | None = None,
        retry_on_1000: bool = True,
        clock: Clock | None = None,
        rng: Any = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        # Everything is checked now, not at the first attempt or the first delay:
        # a NaN delay is a client in BACKOFF for good, a retry that is not callable
        # one stuck in CONNECTING.
        # The uri and the connection's options, kept as checked: an iterator of headers
        # is read once, here, and each attempt passes the list read.
        options = checked_keywords(uri, options)
        self.backoff_initial = checked_at_least("backoff_initial", backoff_initial, 0)
        self.backoff_factor = checked_at_least("backoff_factor", backoff_factor, 1)
        self.backoff_max = checked_at_least("backoff_max", backoff_max, 0)
        self.min_uptime = checked_at_least("min_uptime", min_uptime, 0)
        self.max_attempts = (
            None if max_attempts is None else _count("max_attempts", max_attempts, 1, optional=True)
        )
        self.max_buffered = _count("max_buffered", max_buffered, 0)
        self.on_open = _callable("on_open", on_open)
        self.on_close = _callable("on_close", on_close)
        self.retry = _callable("retry", retry)
        if inspect.iscoroutinefunction(retry):
            raise InvalidOption.wrong_type(
                "retry",
                f"retry must return True, False or None at once, not a coroutine: {retry!r} "
                "is an async function, and the decision cannot wait",
            )
        if retry_on_1000.__class__ is not bool:
            raise InvalidOption.wrong_type(
                "retry_on_1000", f"retry_on_1000 must be a bool, not {retry_on_1000!r}"
            )
        self.retry_on_1000 = retry_on_1000
        if clock is not None and not (
            callable(getattr(clock, "call_later", None))
            # Not read: a property may need a running loop (LoopClock's does).
            and inspect.getattr_static(clock, "now", _MISSING) is not _MISSING
        ):
            raise InvalidOption.wrong_type(
                "clock", f"clock must have now and call_later(delay, callback), not {clock!r}"
            )
        self.clock: Clock = clock if clock is not None else LoopClock()
        if rng is not None and not callable(getattr(rng, "uniform", None)):
            raise InvalidOption.wrong_type(
                "rng", f"rng must have uniform(a, b) (a random.Random), not {rng!r}"
            )
        self.rng: random.Random = rng if rng is not None else random.Random()
        if name is not None and not isinstance(name, str):
            raise InvalidOption.wrong_type("name", f"name must be a str or None, not {name!r}")
        if name == "":
            raise InvalidOption(
                "name", "name must not be empty: it prefixes the client's log lines"
            )
        self.uri = uri
        self.name = name or f"client({uri})"
        self._options = options
        self.state: State = INITIAL
        """The client's state (:class:`wsstate.ClientState`)."""
        self.generation = 0
        """1 for the first connection that opened, +1 for each later one."""
        self.attempts = 0
        """Consecutive failed attempts (reset once a connection stayed up min_uptime)."""
        # The connection stayed up min_uptime (attempts was reset), and how many of
        # ``attempts`` are not failures: its closure, counted for the delay only.
        self._succeeded = False
        self._not_failed = 0
        self.connection: GuardedConnection | None = None
        """The current connection, or None."""
        self.stats = ClientStats()
        self.last_refusal: Refusal | None = None
        """What ended the last attempt or connection, classified."""
        self.last_delay: float | None = None
        """The last backoff delay drawn (seconds)."""
        self._buffer: deque[Data] = deque()
        self._floor = 0.0
        self._warned = False
        self._close_args = (1000, "")
        self._attempt_task: asyncio.Task[None] | None = None
        self._candidate: GuardedConnection | None = None
        self._backoff: Cancellable | None = None
        self._uptime: Cancellable | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # The task running on_open and the flush, and the connection it runs them on.
        self._steps: tuple[asyncio.Task[None], GuardedConnection] | None = None
        # How long close() waits for the hooks still running once STOPPED.
        self._hooks_wait = float(options.get("close_timeout", _CLOSE_TIMEOUT))
        self._released: set[int] = set()
        self._messages: asyncio.Queue[object] = asyncio.Queue()
        self._stopped = asyncio.Event()
        self._async_steps: list[Callable[[GuardedConnection], Awaitable[bool]]] = []
        # Whether the client reads its connections' messages (its own iteration), or
        # leaves them to the caller of reconnect(), who reads the connection it got.
        self._reads = True

    def __repr__(self) -> str:
        return f"<ReconnectingClient {self.name} {self.state.value} generation {self.generation}>"

    # -- the public API ---------------------------------------------------------

    async def __aenter__(self) -> ReconnectingClient:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> bool:
        """Start the client (first attempt at once); True for the call that started it.

        Call it from the event loop it is to run on (:class:`RuntimeError` from
        outside a running loop, before anything changes). A client still running
        when its loop closes is stopped first, as :meth:`close` would.
        """
        loop = asyncio.get_running_loop()
        outcome = _OUTCOMES[Event.START][self.state]
        if outcome is Effect.RETURN_TRUE:
            _lifetime.register_stoppable(loop, self)
        self._feed(Event.START)
        return outcome is Effect.RETURN_TRUE

    async def try_send(self, data: Payload) -> bool:
        """OPEN: send on the connection; disconnected: buffer (False when full); STOPPED: False.

        ``data`` is str or bytes-like, else :class:`TypeError` at once, in every
        state; a str UTF-8 cannot encode (a lone surrogate) raises
        :class:`ValueError` at once, in every state: a message is checked when it
        is given, not when the buffer is flushed. A bytes-like message is copied,
        so changing it after the call does not change what is sent.
        """
        message = checked_payload(data)
        event = Event.APP_SEND if len(self._buffer) < self.max_buffered else Event.APP_SEND_FULL
        outcome = _OUTCOMES[event][self.state]
        self._feed(event, data=message)
        if outcome is Effect.TRANSMIT:
            conn = self.connection
            return conn is not None and await conn._try_send_checked(message)
        return outcome is Effect.BUFFER

    async def send(self, data: Payload) -> None:
        """As :meth:`try_send`, but raise :class:`~wsstate.ConnectionClosed` instead of False."""
        if not await self.try_send(data):
            conn = self.connection
            if conn is not None and conn.closed_by is not None:
                raise conn._closed_error()
            raise ConnectionClosed(None, "", None, False, f"client {self.state.value}")

    async def close(self, code: int = 1000, reason: str = "") -> bool:
        """Stop the client from any state; idempotent. True for the call that stopped it.

        In BACKOFF the pending delay is cancelled (STOPPED at once); in CONNECTING
        the attempt is cancelled; an open connection is closed with ``code`` and
        ``reason``. Waits until STOPPED.
        """
        validate_close(code, reason)
        if self.state not in (State.CLOSING, State.STOPPED):
            self._close_args = (code, reason)
        outcome = _OUTCOMES[Event.APP_CLOSE][self.state]
        row = self._feed(Event.APP_CLOSE)
        if Effect.WAIT_STOPPED in row.effects:
            await self._stopped.wait()
            await self._hooks_done()
        return outcome is Effect.RETURN_TRUE

    async def _hooks_done(self) -> None:
        """Once STOPPED: let the hooks still running (an async ``on_close``) end, for the
        connection's ``close_timeout`` at most; cancel what runs after that."""
        me = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not me]
        cancelled, _ = await _lifetime.finish_tasks(tasks, self._hooks_wait)
        if cancelled:
            logger.warning(
                "%s: %d hook(s) still running %.3g s after the client stopped: cancelled",
                self.name,
                len(cancelled),
                self._hooks_wait,
            )

    async def wait_stopped(self) -> None:
        """Return once the client is STOPPED."""
        await self._stopped.wait()

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Messages from every generation, in order; ends when the client is STOPPED."""
        while True:
            item = await self._messages.get()
            if item is _STOP:
                self._messages.put_nowait(_STOP)  # for any other iterator
                return
            yield item  # type: ignore[misc]

    @property
    def buffered(self) -> int:
        """Messages waiting in the buffer."""
        return len(self._buffer)

    def next_delay(self) -> float:
        """Draw the next backoff delay: full jitter after the cap, at least the floor."""
        level = max(self.attempts - 1, 0)
        try:
            cap = min(self.backoff_max, self.backoff_initial * self.backoff_factor**level)
        except OverflowError:
            cap = self.backoff_max
        return max(self.rng.uniform(0.0, cap), self._floor)

    # -- the engine ---------------------------------------------------------------

    def _feed(self, event: Event, *, data: Data | None = None, detail: str = "") -> Row:
        state = self.state
        row = TABLE[(state, event)]
        nxt = row.next
        if nxt is None:
            logger.error("%s: internal error: %s in %s", self.name, event.value, state.value)
            raise ImpossibleEvent(state.value, event.value, row.note)
        self.state = nxt
        if logger.isEnabledFor(row.log):
            logger.log(
                row.log,
                "%s: %s in %s -> %s%s: %s",
                self.name,
                event.value,
                state.value,
                nxt.value,
                f" ({detail})" if detail else "",
                row.note,
                extra={"wsstate_transition": (self.name, state, event, nxt)},
            )
        for effect in row.effects:
            handler = _EFFECTS.get(effect)
            if handler is not None:
                handler(self, data)
        if self._async_steps:
            steps, self._async_steps = self._async_steps, []
            conn = self.connection
            if conn is not None:
                self._steps = (self._spawn(self._run_steps(conn, self.generation, steps)), conn)
        return row

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: internal error in a task", self.name, exc_info=task.exception())

    # -- effects --------------------------------------------------------------------

    def _attempt(self, _: Data | None) -> None:
        self.stats.attempts += 1
        logger.info("%s: attempt %d to %s", self.name, self.attempts + 1, self.uri)
        task = self._spawn(self._run_attempt())
        task.add_done_callback(self._attempt_done)
        self._attempt_task = task

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        # A cancelled attempt (close() in CONNECTING), even one cancelled before it
        # started running, ends here: its end is fed once, as the table expects.
        if task.cancelled() and self._attempt_task is task:
            self._attempt_task = None
            self._stop_from_outside()
            self._feed(Event.REFUSED_RETRYABLE, detail="attempt cancelled")

    def _stop_at_loop_close(self) -> None:
        """Its loop is closing (:mod:`wsstate._lifetime`): stop as close() would."""
        self._stop_from_outside("its event loop is closing")

    def _stop_from_outside(self, why: str = "a task of the client was cancelled") -> None:
        """One of the client's own tasks was cancelled by no call of the client's.

        That is the application ending: ``asyncio.run()`` cancels every task left
        when its main coroutine returns. The client stops as ``close()`` would,
        instead of retrying (a new attempt on a loop being shut down) or waiting
        for a closure its cancelled task would have fed.
        """
        if self.state not in (State.CLOSING, State.STOPPED):
            self._feed(Event.APP_CLOSE, detail=why)

    async def _run_attempt(self) -> None:
        try:
            conn = await connect(self.uri, **self._options).__aenter__()
        except Exception as exc:
            self._attempt_task = None
            try:
                refusal = classify_failure(exc, _wall())
            except Exception:  # its bug: the attempt's end is still fed, never lost
                logger.error("%s: internal error classifying %r", self.name, exc, exc_info=True)
                refusal = unclassified(exc)
            self._failed(self._decide(refusal), _REFUSED_EVENTS)
            return
        self._attempt_task = None
        self.stats.connections += 1
        self._candidate = conn
        self._feed(Event.CONNECTED, detail=f"generation {self.generation + 1}")

    def _failed(self, refusal: Refusal, events: Mapping[str, Event]) -> None:
        self.last_refusal = refusal
        decision = refusal.decision
        if decision == "retry_after" and refusal.floor is None:
            decision = "retry"
        failed = self.attempts - self._not_failed + 1  # this one included
        if (
            decision != "fatal"
            and self.max_attempts is not None
            and not (refusal.kind == "close" and self._succeeded)  # no failure: see rule 2
            and failed >= self.max_attempts
            and self.state not in (State.CLOSING, State.STOPPED)
        ):
            self._feed(Event.GIVE_UP, detail=f"{refusal.reason}; {failed} attempts")
            return
        self._feed(events[decision], detail=refusal.reason)

    def _cancel_attempt(self, _: Data | None) -> None:
        if self._attempt_task is not None:
            self._attempt_task.cancel()

    def _adopt(self, _: Data | None) -> None:
        conn, self._candidate = self._candidate, None
        assert conn is not None
        self.connection = conn
        self.generation += 1
        self._warned = False
        self._spawn(self._read(conn, self.generation))

    async def _read(self, conn: GuardedConnection, generation: int) -> None:
        """Queue the connection's messages for the client's iteration (not for
        :func:`reconnect`, whose caller reads its connection), then feed its closure once."""
        try:
            if self._reads:
                async for message in conn:
                    self._messages.put_nowait(message)
            await conn.wait_closed()
        except asyncio.CancelledError:
            # The connection's closure is still fed, by the connection itself, once it
            # is closed: a close() waiting for STOPPED would otherwise wait for ever.
            conn.on_close(lambda _: self._closed(conn, generation))
            self._stop_from_outside()
            raise
        self._closed(conn, generation)

    def _closed(self, conn: GuardedConnection, generation: int) -> None:
        """Feed the closure of ``conn``, classified, if it is still the client's connection."""
        if generation != self.generation or self.connection is not conn:
            return
        code = conn.close_code if conn.closed_by is not ClosedBy.TRANSPORT else 1006
        refusal = classify_close(
            code,
            conn.close_reason or "",
            closed_by=(conn.closed_by or ClosedBy.TRANSPORT).value,
            retry_on_1000=self.retry_on_1000,
        )
        self._failed(self._decide(refusal), _CLOSED_EVENTS)

    def _decide(self, refusal: Refusal) -> Refusal:
        """The table's decision with the ``retry`` predicate applied; a predicate that
        raises, or answers anything but True, False or None, is the application's bug:
        logged at ERROR (counted in ``hook_errors``) and the table's decision kept, so
        the client goes on deciding (never stuck in CONNECTING)."""
        try:
            return decide(refusal, self.retry)
        except Exception:
            self.stats.hook_errors += 1
            logger.error(
                "%s: the retry predicate failed on %s; the table's decision (%s) stands",
                self.name,
                refusal.reason,
                refusal.decision,
                exc_info=True,
            )
            return refusal

    def _run_on_open(self, _: Data | None) -> None:
        self._async_steps.append(self._on_open_step)

    async def _on_open_step(self, conn: GuardedConnection) -> bool:
        if self.on_open is not None:
            await self._hook(self.on_open, conn, "on_open")
        return True

    def _flush(self, _: Data | None) -> None:
        self._async_steps.append(self._flush_step)

    async def _flush_step(self, conn: GuardedConnection) -> bool:
        while self._buffer and self.connection is conn:
            message = self._buffer.popleft()
            if not await conn._try_send_checked(message):
                self._buffer.appendleft(message)
                return False
            self.stats.flushed += 1
        return self.connection is conn

    async def _run_steps(
        self,
        conn: GuardedConnection,
        generation: int,
        steps: list[Callable[[GuardedConnection], Awaitable[bool]]],
    ) -> None:
        for step in steps:
            if not await step(conn):
                return
        current = self.generation == generation and self.connection is conn
        if current and self.state in (State.OPENING, State.CLOSING):
            self._feed(Event.READY)

    async def _hook(self, hook: ConnectionHook, conn: GuardedConnection, what: str) -> None:
        try:
            result = hook(conn)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if isinstance(exc, ConnectionClosed) and conn.state is not ConnectionState.OPEN:
                # Its connection closed under it (a close(), the server's): no bug.
                logger.debug("%s: %s ended: its connection closed (%s)", self.name, what, exc)
                return
            self.stats.hook_errors += 1
            logger.error("%s: %s raised", self.name, what, exc_info=True)

    def _close_connection(self, _: Data | None) -> None:
        conn = self.connection
        if conn is not None:
            self._spawn(conn.close(*self._close_args))

    def _release(self, _: Data | None) -> None:
        conn, self.connection = self.connection, None
        if conn is None or id(conn) in self._released:
            return
        self._released.add(id(conn))
        steps = self._steps
        if steps is not None and steps[1] is conn:  # on_open and the flush are moot now
            self._steps = None
            if not steps[0].done() and steps[0] is not asyncio.current_task():
                steps[0].cancel()
        if self.on_close is not None:
            # Held by the loop: it finishes before the loop closes (asyncio.run's end).
            task = self._spawn(self._hook(self.on_close, conn, "on_close"))
            _lifetime.hold(task.get_loop(), task)

    def _count_attempt(self, _: Data | None) -> None:
        self.attempts += 1
        if self._succeeded:  # the closure of a connection that stayed up: no failure
            self._succeeded = False
            self._not_failed = 1

    def _reset_attempts(self, _: Data | None) -> None:
        self.attempts = 0
        self._succeeded = True
        self._not_failed = 0

    def _floor_delay(self, _: Data | None) -> None:
        refusal = self.last_refusal
        self._floor = refusal.floor or 0.0 if refusal is not None else 0.0

    def _buffer_message(self, data: Data | None) -> None:
        assert data is not None
        self._buffer.append(data)
        self.stats.buffered += 1

    def _reject(self, _: Data | None) -> None:
        self.stats.refused += 1

    def _warn_overflow(self, _: Data | None) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "%s: buffer full (%d messages) while disconnected: sends are refused",
                self.name,
                self.max_buffered,
            )

    def _drop_buffer(self, _: Data | None) -> None:
        self.stats.dropped += len(self._buffer)
        self._buffer.clear()

    def _notify_stopped(self, _: Data | None) -> None:
        self._stopped.set()
        self._messages.put_nowait(_STOP)
        self._candidate = None

    def _arm_backoff(self, _: Data | None) -> None:
        delay = self.next_delay()
        self._floor = 0.0
        self.last_delay = delay
        logger.info("%s: next attempt in %.3f s (%d failed)", self.name, delay, self.attempts)
        self._backoff = self.clock.call_later(delay, self._backoff_fired)

    def _backoff_fired(self) -> None:
        self._backoff = None
        if self.state is State.BACKOFF:
            self._feed(Event.BACKOFF_ELAPSED)

    def _cancel_backoff(self, _: Data | None) -> None:
        if self._backoff is not None:
            self._backoff.cancel()
            self._backoff = None

    def _arm_uptime(self, _: Data | None) -> None:
        generation = self.generation
        self._uptime = self.clock.call_later(
            self.min_uptime, lambda: self._uptime_fired(generation)
        )

    def _uptime_fired(self, generation: int) -> None:
        self._uptime = None
        if generation == self.generation and self.state in (State.OPENING, State.OPEN):
            self._feed(Event.MIN_UPTIME_ELAPSED)

    def _cancel_uptime(self, _: Data | None) -> None:
        if self._uptime is not None:
            self._uptime.cancel()
            self._uptime = None


def _wall() -> float:
    import time

    return time.time()


_MISSING: Final = object()
_T = TypeVar("_T")


def _count(name: str, value: object, minimum: int, *, optional: bool = False) -> int:
    """A count option: an int ``>= minimum``, not a bool. ``optional`` only adds
    "or None" to the error: the caller keeps a None without calling this."""
    what = f"{name} must be an int >= {minimum}" + (" or None" if optional else "")
    if value.__class__ is bool or not isinstance(value, int):
        raise InvalidOption.wrong_type(name, f"{what}, not {value!r}")
    if value < minimum:
        raise InvalidOption(name, f"{what}, not {value!r}")
    return int(value)


def _callable(name: str, value: _T) -> _T:
    """A hook or predicate of one argument (the connection, the refusal): callable, or None."""
    check_hook(name, value, 1, "with one argument")
    return value


_Handler = Callable[[ReconnectingClient, Data | None], None]

#: The effects the engine performs when a row carries them.
_EFFECTS: Final[Mapping[Effect, _Handler]] = MappingProxyType(
    {
        Effect.ATTEMPT: ReconnectingClient._attempt,
        Effect.CANCEL_ATTEMPT: ReconnectingClient._cancel_attempt,
        Effect.ADOPT_CONNECTION: ReconnectingClient._adopt,
        Effect.RUN_ON_OPEN: ReconnectingClient._run_on_open,
        Effect.FLUSH_BUFFER: ReconnectingClient._flush,
        Effect.CLOSE_CONNECTION: ReconnectingClient._close_connection,
        Effect.RELEASE_CONNECTION: ReconnectingClient._release,
        Effect.COUNT_ATTEMPT: ReconnectingClient._count_attempt,
        Effect.RESET_ATTEMPTS: ReconnectingClient._reset_attempts,
        Effect.FLOOR_DELAY: ReconnectingClient._floor_delay,
        Effect.BUFFER: ReconnectingClient._buffer_message,
        Effect.REJECT: ReconnectingClient._reject,
        Effect.WARN_OVERFLOW: ReconnectingClient._warn_overflow,
        Effect.DROP_BUFFER: ReconnectingClient._drop_buffer,
        Effect.NOTIFY_STOPPED: ReconnectingClient._notify_stopped,
        Effect.ARM_BACKOFF_TIMER: ReconnectingClient._arm_backoff,
        Effect.CANCEL_BACKOFF_TIMER: ReconnectingClient._cancel_backoff,
        Effect.ARM_UPTIME_TIMER: ReconnectingClient._arm_uptime,
        Effect.CANCEL_UPTIME_TIMER: ReconnectingClient._cancel_uptime,
    }
)

#: Effects an operation interprets itself besides its outcome.
_MODIFIERS: Final = {Effect.WAIT_STOPPED: "close() waits for STOPPED"}


def _effect_handlers() -> dict[Effect, tuple[str, ...]]:
    handlers: dict[Effect, list[str]] = {}
    for effect in _EFFECTS:
        handlers.setdefault(effect, []).append("performed by ReconnectingClient (_EFFECTS)")
    for event, effects in OPERATION_OUTCOMES.items():
        for effect in effects:
            handlers.setdefault(effect, []).append(f"outcome of {event.value}")
    for effect, why in _MODIFIERS.items():
        handlers.setdefault(effect, []).append(why)
    return {e: tuple(w) for e, w in handlers.items()}


#: Every effect the client runtime handles, with who handles it.
EFFECT_HANDLERS: Final[Mapping[Effect, tuple[str, ...]]] = MappingProxyType(_effect_handlers())

if frozenset({State.STOPPED}) != TERMINAL:  # pragma: no cover - the spec changed
    raise ImportError("the client runtime expects STOPPED as the only terminal state")


def reconnect(uri: str, **options: Any) -> AsyncGenerator[GuardedConnection, None]:
    """``async for conn in wsstate.reconnect(uri)``: one connection per generation.

    The same options, backoff and classification as :class:`ReconnectingClient`,
    checked at this call (the same errors), not at the first iteration. The
    client starts at the first iteration; the iteration ends when it stops (a
    fatal refusal or closure, ``max_attempts``). When the loop body returns with
    the connection still open, it is closed (1000) and the next generation
    follows after a delay; a ``break`` closes the client. An ``on_open`` that
    raises is logged at ERROR and its connection is yielded all the same.
    """
    ready: asyncio.Queue[GuardedConnection | None] = asyncio.Queue()
    user_on_open = _callable("on_open", options.pop("on_open", None))

    async def on_open(conn: GuardedConnection) -> None:
        try:
            if user_on_open is not None:
                result = user_on_open(conn)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            ready.put_nowait(conn)  # the client carries on (logged by its _hook)
            raise
        ready.put_nowait(conn)

    client = ReconnectingClient(uri, on_open=on_open, **options)
    client._reads = False  # the loop body reads its connection: conn.recv(), async for
    return _generations(client, ready)


async def _generations(
    client: ReconnectingClient, ready: asyncio.Queue[GuardedConnection | None]
) -> AsyncGenerator[GuardedConnection, None]:
    """The iteration of :func:`reconnect`: starts ``client``, yields what ``ready`` gets."""
    stopper = asyncio.get_running_loop().create_task(client.wait_stopped())
    stopper.add_done_callback(lambda _: ready.put_nowait(None))
    try:
        client.start()
        while True:
            conn = await ready.get()
            if conn is None:
                return
            yield conn
            if not conn.closed:
                await conn.close()
    finally:
        # Not awaited: awaiting the cancelled waiter would also swallow a cancellation
        # of this generator's own task (asyncio.run() ending), and close() then wait.
        stopper.cancel()
        await client.close()
