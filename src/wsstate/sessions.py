"""Sessions: a page's state across reconnects, every decision made by the session table.

Behaviour per state (the spec, ``spec/session.toml``, is authoritative):

=============  ==========================  =====================  ===================
operation      ATTACHED                    DETACHED               CLOSED
=============  ==========================  =====================  ===================
attach         supersede old, adopt new    adopt new, stop grace  a new session
send           to the connection, kept     kept in the history    SessionClosed
try_send       True                        True                   False
close          close conn, expire, True    expire, True           False
page_close     close conn, expire          expire                 no-op
old conn ends  no-op (stale generation)    no-op                  no-op
current ends   DETACHED, grace starts      (cannot happen)        no-op
grace runs out (not armed)                 expire                 no-op
=============  ==========================  =====================  ===================

Theory of operation
-------------------

A :class:`Session` outlives its connections. :meth:`Sessions.attach` hands it a
:class:`~wsstate.GuardedConnection`, which becomes its next *generation*
(``session.generation``: numbers the registry gives out in order, 1 for its
first attach, so a later session under an id never reuses an earlier one's).
Everything that happens to a session is one event fed to the generated table
``wsstate.machines.session.TABLE``; the row's effects are performed in order
(``_ACTIONS``), and an operation answers with its row's one outcome effect
(``OPERATION_OUTCOMES``). ``EFFECT_HANDLERS`` names who
handles each effect the spec declares (``tests/test_sessions.py`` checks it).

Arguments are checked at the call, before any event is fed: an option when it is
given (:class:`~wsstate.InvalidOption`, naming it), an ``attach`` or
``page_close`` argument before a session is created or changed, a payload before
it is numbered (``_checks.checked_payload``: a ``str`` UTF-8 cannot encode is
refused there, not when a replay reaches it). A refused call changes nothing.

Rules outside the table, each a pure classification or a mechanism:

1. *Which attach* (:func:`attach_event`): no ``last_seen`` is ``attach``; a
   ``last_seen`` the history still covers (every message after it is kept) is
   ``attach_resume``; one it does not cover, or one beyond ``last_sent`` (a page
   of a session that no longer exists), is ``attach_gap``.
2. *Generation fencing by identity*: a connection's closed notification is
   ``detach`` when it is the session's current connection, ``detach_stale``
   otherwise; a beacon naming another generation than the current one (an
   older page's, or an earlier session's under the same id) is
   ``page_close_stale``. A connection is one generation: attaching it again to
   the session that already had it is refused at the call.
3. *Numbering*: messages are numbered 1, 2, 3... per session
   (``session.last_sent``); the history keeps the last ``history`` of them. A
   client that counts the messages it receives knows its ``last_seen``.
4. *Time*: the grace timer runs on a :class:`Clock` (the event loop's by
   default; an advanceable one in tests, :class:`wsstate.testing.ManualClock`).
5. *Callbacks*: ``on_expire`` that raises (or whose awaitable fails) is logged
   once at ERROR (the user's bug) and changes nothing.
6. *Background work*: closing a superseded connection and waiting for a slow
   reader's write are tasks the session keeps and retrieves; nothing is left
   as an unretrieved task exception.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar, cast

from ._checks import check_hook, checked_at_least, checked_payload
from .adapters.base import Data, Payload
from .connection import GuardedConnection
from .errors import ImpossibleEvent, InvalidOption, InvalidState, WSStateError
from .machines.connection import State as ConnectionState
from .machines.session import TABLE, TERMINAL, Effect, Event, Row, State

__all__ = [
    "EFFECT_HANDLERS",
    "OPERATION_OUTCOMES",
    "Clock",
    "ExpireCallback",
    "LoopClock",
    "Session",
    "SessionBroadcast",
    "SessionClosed",
    "Sessions",
    "TimerHandle",
    "attach_event",
]

logger: Final = logging.getLogger("wsstate")
T = TypeVar("T")

ExpireCallback = Callable[["Session"], object]
"""``on_expire`` callback: called with the session; may return an awaitable."""


class SessionClosed(WSStateError):
    """The session ended (grace window over, page closed, or closed): nothing is sent."""


class TimerHandle(Protocol):
    """What :meth:`Clock.call_later` returns."""

    def cancel(self) -> None:
        """The callback will not run."""
        ...


class Clock(Protocol):
    """Where the grace timer runs: ``call_later(delay, callback)``."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Call ``callback`` once, ``delay`` seconds from now, unless the handle is cancelled."""
        ...


class LoopClock:
    """The running event loop's clock (the default)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


def checked_clock(value: object) -> Clock:
    """The ``clock`` option's value: None is the running loop's (:class:`LoopClock`);
    anything without a callable ``call_later`` is refused (InvalidOption, a TypeError)."""
    if value is None:
        return LoopClock()
    if not callable(getattr(value, "call_later", None)):
        raise InvalidOption.wrong_type(
            "clock",
            f"clock must be a wsstate.Clock (with call_later(delay, callback)), not {value!r}",
        )
    return cast(Clock, value)


@dataclass(frozen=True, slots=True)
class SessionBroadcast:
    """What one :meth:`Sessions.broadcast` did, per session."""

    sent: int
    """Sessions whose connection was written to."""
    held: int
    """Sessions with no connection: kept in their history for the resume."""
    dropped: int
    """Sessions that ended meanwhile."""


def attach_event(last_seen: int | None, last_sent: int, kept: int) -> Event:
    """Classify an attach: ``kept`` is how many messages the history holds."""
    if last_seen is None:
        return Event.ATTACH
    if last_seen < 0:
        raise ValueError(f"last_seen must be >= 0, not {last_seen}")
    if last_seen <= last_sent and last_seen >= last_sent - kept:
        return Event.ATTACH_RESUME
    return Event.ATTACH_GAP


class Session:
    """A page's session: its current connection, its numbered history, its state.

    Created by :meth:`Sessions.attach`; see the module's table for what each
    operation does in each state.
    """

    __slots__ = (
        "__weakref__",
        "_adopted",
        "_conn",
        "_grace",
        "_history",
        "_owner",
        "_pending",
        "_state",
        "_tail",
        "gap",
        "generation",
        "id",
        "last_sent",
        "resumed",
    )

    def __init__(self, owner: Sessions, session_id: str) -> None:
        self._owner = owner
        self.id = session_id
        self._state = State.NEW
        self._conn: GuardedConnection | None = None
        self._grace: TimerHandle | None = None
        # A transmitted message's write that must wait (slow reader), between the
        # row and the operation that awaits it.
        self._pending: Awaitable[bool] | None = None
        # The last write to the current connection that had to wait, if any.
        self._tail: asyncio.Task[bool] | None = None
        self._history: deque[tuple[int, Data]] = deque(maxlen=owner.history)
        # Every connection this session adopted (each is one generation, once).
        self._adopted: weakref.WeakSet[GuardedConnection] = weakref.WeakSet()
        self.generation = 0
        """The current connection's generation, 0 before any: numbers given out by the
        registry in order (1 for its first attach), so no generation of an earlier
        session under the same id shares one with this session's."""
        self.last_sent = 0
        """The number of the latest message sent (or held); 0 before any."""
        self.resumed = False
        """The latest attach replayed the messages after its last_seen."""
        self.gap = False
        """The latest attach had a last_seen the history no longer covers: resend a full state."""

    @property
    def state(self) -> State:
        """NEW, ATTACHED, DETACHED or CLOSED."""
        return self._state

    @property
    def connection(self) -> GuardedConnection | None:
        """The current generation's connection (None before the first attach)."""
        return self._conn

    @property
    def closed(self) -> bool:
        """True once the session ended (on_expire has fired)."""
        return self._state in TERMINAL

    def __repr__(self) -> str:
        return f"<Session {self.id!r} gen {self.generation} {self._state.value}>"

    # -- sending -------------------------------------------------------------------

    async def send(self, data: Payload) -> None:
        """Send to the current connection (or hold it while DETACHED), numbered and kept.

        Raises :class:`SessionClosed` once the session ended. In every state, a
        payload is checked at the call, before it is numbered or kept:
        :class:`TypeError` for one that is neither ``str`` nor bytes-like,
        :class:`ValueError` for a ``str`` UTF-8 cannot encode (a lone surrogate).
        A bytes-like payload is copied at the call. A connection that fails
        during the send does not raise: the message is in the history.

        Cancelling the call (``asyncio.timeout`` around a send to a slow reader)
        does not cancel the write: the message is numbered and kept already, and
        still goes out in its place, so the page sees no hole in the numbering.
        """
        outcome = self._start_send(data)
        if outcome is False:
            raise SessionClosed(f"session {self.id!r} ended")
        if outcome is not True:
            await asyncio.shield(outcome)

    async def try_send(self, data: Payload) -> bool:
        """As :meth:`send`, but False instead of :class:`SessionClosed` (a payload is
        checked, and refused, the same)."""
        outcome = self._start_send(data)
        if outcome is True or outcome is False:
            return outcome
        await asyncio.shield(outcome)
        return True

    def _start_send(self, data: Payload) -> bool | Awaitable[bool]:
        payload = checked_payload(data)
        outcome = _SEND_OUTCOME[self._state]
        self._feed(Event.APP_SEND, _Ctx(payload=payload))
        if outcome is Effect.DROP:
            return False
        if outcome is Effect.TRANSMIT and self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        return True

    # -- closing ---------------------------------------------------------------------

    async def close(self) -> bool:
        """End the session: close its connection, fire on_expire. True for the call that did."""
        outcome = _OUTCOMES[Event.APP_CLOSE][self._state]
        self._feed(Event.APP_CLOSE, _Ctx())
        return outcome is Effect.RETURN_TRUE

    # -- the engine --------------------------------------------------------------------

    def _feed(self, event: Event, ctx: _Ctx) -> Row:
        state = self._state
        row = TABLE[(state, event)]
        nxt = row.next
        name = f"session {self.id}"
        if nxt is None:
            logger.error("%s: internal error: %s in %s", name, event.value, state.value)
            raise ImpossibleEvent(state.value, event.value, row.note)
        for effect in row.effects:
            action = _ACTIONS.get(effect)
            if action is not None:
                action(self, row, ctx)
        self._state = nxt
        if ctx.expire:
            # After the state update: on_expire sees the session CLOSED and gone.
            self._owner._expire(self)
        if logger.isEnabledFor(row.log):
            logger.log(
                row.log,
                "%s: %s in %s -> %s: %s",
                name,
                event.value,
                state.value,
                nxt.value,
                row.note,
                extra={"wsstate_transition": (name, state, event, nxt)},
            )
        return row

    def _connection_closed(self, conn: GuardedConnection) -> None:
        """A generation's connection closed: detach if it is the current one."""
        event = Event.DETACH if conn is self._conn else Event.DETACH_STALE
        self._feed(event, _Ctx())

    def _grace_due(self) -> None:
        self._grace = None
        self._feed(Event.GRACE_TIMEOUT, _Ctx())

    # -- effects -------------------------------------------------------------------------

    def _adopt(self, row: Row, ctx: _Ctx) -> None:
        conn = ctx.conn
        assert conn is not None  # an attach row
        self._conn = conn
        self._tail = None
        self._adopted.add(conn)
        self.generation = self._owner._next_generation()
        self.resumed = False
        self.gap = False
        conn.on_close(self._connection_closed)

    def _close_current(self, row: Row, ctx: _Ctx) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            self._owner._spawn(conn.close(row.code or 1000, row.reason or ""))

    def _replay(self, row: Row, ctx: _Ctx) -> None:
        self.resumed = True
        self.gap = False
        last_seen = ctx.last_seen or 0
        for number, payload in self._history:
            if number > last_seen:
                self._write(payload)

    def _report_gap(self, row: Row, ctx: _Ctx) -> None:
        self.resumed = False
        self.gap = True

    def _keep(self, row: Row, ctx: _Ctx) -> None:
        self.last_sent += 1
        if ctx.payload is not None and self._history.maxlen:
            self._history.append((self.last_sent, ctx.payload))

    def _transmit(self, row: Row, ctx: _Ctx) -> None:
        self._keep(row, ctx)
        if ctx.payload is not None:
            self._pending = self._write(ctx.payload)

    def _write(self, payload: Data) -> asyncio.Task[bool] | None:
        """Write to the current connection, after the writes still waiting (slow reader).

        None when the write is done (or dropped) at once, the common case; else
        the task that completes it, in order after the previous one: a replayed
        message always goes out before the next new one.
        """
        conn = self._conn
        if conn is None:
            return None
        tail = self._tail
        if tail is None or tail.done():
            outcome = conn._start_send(payload, checked=True)
            if outcome is True or outcome is False:
                return None
            task = self._owner._spawn(conn._finish_send(outcome))
        else:
            task = self._owner._spawn(_write_after(tail, conn, payload))
        self._tail = task
        return task

    def _arm_grace(self, row: Row, ctx: _Ctx) -> None:
        if self._grace is not None:
            self._grace.cancel()
        self._grace = self._owner.clock.call_later(self._owner.grace, self._grace_due)

    def _cancel_grace(self, row: Row, ctx: _Ctx) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _expire(self, row: Row, ctx: _Ctx) -> None:
        ctx.expire = True


async def _write_after(tail: asyncio.Task[bool], conn: GuardedConnection, payload: Data) -> bool:
    await asyncio.wait([tail])
    outcome = conn._start_send(payload, checked=True)
    if outcome is True or outcome is False:
        return outcome
    return await conn._finish_send(outcome)


@dataclass(slots=True)
class _Ctx:
    """The arguments of one event."""

    conn: GuardedConnection | None = None
    last_seen: int | None = None
    payload: Data | None = None
    expire: bool = False


_Action = Callable[[Session, Row, _Ctx], None]

#: Effects the session performs, in the row's order.
_ACTIONS: Final[dict[Effect, _Action]] = {
    Effect.ADOPT: Session._adopt,
    Effect.SUPERSEDE: Session._close_current,
    Effect.CLOSE_CONNECTION: Session._close_current,
    Effect.REPLAY: Session._replay,
    Effect.REPORT_GAP: Session._report_gap,
    Effect.TRANSMIT: Session._transmit,
    Effect.HOLD: Session._keep,
    Effect.ARM_GRACE: Session._arm_grace,
    Effect.CANCEL_GRACE: Session._cancel_grace,
    Effect.EXPIRE: Session._expire,
}

#: Per operation, the effects that are its outcome (what it returns or raises).
OPERATION_OUTCOMES: Final[Mapping[Event, tuple[Effect, ...]]] = MappingProxyType(
    {
        Event.ATTACH: (Effect.ADOPT, Effect.REFUSE),
        Event.ATTACH_RESUME: (Effect.ADOPT, Effect.REFUSE),
        Event.ATTACH_GAP: (Effect.ADOPT, Effect.REFUSE),
        Event.APP_SEND: (Effect.TRANSMIT, Effect.HOLD, Effect.DROP),
        Event.APP_CLOSE: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
    }
)


def _outcomes(event: Event) -> dict[State, Effect]:
    found: dict[State, Effect] = {}
    for state in State:
        row = TABLE[(state, event)]
        if row.next is None:
            continue
        mine = [e for e in OPERATION_OUTCOMES[event] if e in row.effects]
        if not mine:
            raise ImportError(
                f"the session table gives {event.value} in {state.value} no outcome: "
                "regenerate with `wsstate generate`"
            )
        found[state] = mine[0]
    return found


_OUTCOMES: Final[dict[Event, dict[State, Effect]]] = {e: _outcomes(e) for e in OPERATION_OUTCOMES}
_SEND_OUTCOME: Final = _OUTCOMES[Event.APP_SEND]


def _effect_handlers() -> dict[Effect, tuple[str, ...]]:
    handlers: dict[Effect, list[str]] = {}
    for effect in _ACTIONS:
        handlers.setdefault(effect, []).append("performed by Session (_ACTIONS)")
    for event, effects in OPERATION_OUTCOMES.items():
        for effect in effects:
            handlers.setdefault(effect, []).append(f"outcome of {event.value}")
    return {effect: tuple(where) for effect, where in handlers.items()}


#: Every effect this runtime handles, with who handles it.
EFFECT_HANDLERS: Final[Mapping[Effect, tuple[str, ...]]] = MappingProxyType(_effect_handlers())


class Sessions:
    """The sessions of one application, by id, across reconnects.

    ``grace``: seconds a session waits for its page to come back after its
    connection closed (Streamlit keeps 2 min, NiceGUI 3 s). ``history``: messages
    kept per session for a resume. ``on_expire(session)`` fires exactly once per
    session, when it ends. ``clock``: where the grace timer runs (the event loop
    by default).

    Each option is checked when it is given, to the constructor or set later:
    ``grace`` a finite number of seconds >= 0 (0: a detached session ends as soon
    as the clock runs its timer), ``history`` an ``int`` >= 0 (0 keeps nothing:
    a resume after any message is a gap), ``on_expire`` a callable or None,
    ``clock`` a :class:`Clock`. A bool, NaN or an infinity is refused. Raises
    :class:`~wsstate.InvalidOption` naming the option, also a :class:`TypeError`
    for a value of the wrong type.
    """

    def __init__(
        self,
        grace: float = 30.0,
        history: int = 1000,
        on_expire: ExpireCallback | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._grace: float
        self._history: int
        self._on_expire: ExpireCallback | None
        self._clock: Clock
        self.grace = grace
        self.history = history
        self.on_expire = on_expire
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generations = 0  # the generations given out so far
        self.expire_errors = 0
        """on_expire calls that raised."""

    @property
    def grace(self) -> float:
        """Seconds a detached session waits for its page (a finite number >= 0).

        Set later, it applies to the grace timers started after.
        """
        return self._grace

    @grace.setter
    def grace(self, value: float) -> None:
        self._grace = checked_at_least("grace", value, 0)

    @property
    def history(self) -> int:
        """Messages kept per session for a resume (an ``int`` >= 0).

        Set later, it applies to the sessions created after.
        """
        return self._history

    @history.setter
    def history(self, value: int) -> None:
        if value.__class__ is bool or not isinstance(value, int):
            raise InvalidOption.wrong_type("history", f"history must be an int >= 0, not {value!r}")
        if not 0 <= value <= sys.maxsize:  # the most a deque can be told to keep
            raise InvalidOption(
                "history", f"history must be an int from 0 to sys.maxsize, not {value!r}"
            )
        self._history = value

    @property
    def on_expire(self) -> ExpireCallback | None:
        """Called with each session when it ends (a callable, or None)."""
        return self._on_expire

    @on_expire.setter
    def on_expire(self, value: ExpireCallback | None) -> None:
        check_hook("on_expire", value, 1, "with the session")
        self._on_expire = value

    @property
    def clock(self) -> Clock:
        """Where the grace timers run (the running event loop's clock by default)."""
        return self._clock

    @clock.setter
    def clock(self, value: Clock | None) -> None:
        self._clock = checked_clock(value)

    def _next_generation(self) -> int:
        """The next generation number (one registry-wide sequence, so a beacon naming an
        earlier session's generation never matches a later session's under the same id)."""
        self._generations += 1
        return self._generations

    def attach(
        self, session_id: str, conn: GuardedConnection, last_seen: int | None = None
    ) -> Session:
        """Attach ``conn`` as the next generation of session ``session_id`` (created if new).

        A previous connection still attached is closed (1000 "superseded") and
        fenced off; with ``last_seen``, the messages after it are replayed to
        ``conn`` in order before any new one, or ``session.gap`` is set when the
        history no longer holds them all.

        Checked before a session is created or changed: ``session_id`` a ``str``,
        ``conn`` a :class:`~wsstate.GuardedConnection` (not the session's current
        one), ``last_seen`` None or an ``int`` >= 0 (:class:`TypeError`, or
        :class:`ValueError` for a negative ``last_seen``, the current connection or an
        earlier generation's);
        a connection still CONNECTING (an ASGI ``WebSocket`` before ``accept()``)
        raises :class:`~wsstate.InvalidState`.
        """
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
        if not isinstance(conn, GuardedConnection):
            raise TypeError(f"conn must be a GuardedConnection, not {type(conn).__name__}")
        if last_seen is not None:
            if last_seen.__class__ is bool or not isinstance(last_seen, int):
                raise TypeError(f"last_seen must be an int or None, not {last_seen!r}")
            if last_seen < 0:
                raise ValueError(f"last_seen must be >= 0, not {last_seen}")
        if conn.state is ConnectionState.CONNECTING:
            # A session writes on it at once (a resume replays; a send while
            # ATTACHED goes out): before accept() each write would fail mid-row.
            raise InvalidState(
                f"{conn!r} has not completed its handshake: accept() it, then attach it"
            )
        session = self._sessions.get(session_id)
        if session is not None and conn is session._conn:
            raise ValueError(f"{conn!r} is already session {session_id!r}'s connection")
        if session is not None and conn in session._adopted:
            raise ValueError(
                f"{conn!r} was an earlier generation of session {session_id!r}, superseded: "
                "a page that comes back attaches a new connection"
            )
        for _ in range(2):
            if session is None:
                session = Session(self, session_id)
                self._sessions[session_id] = session
            event = attach_event(last_seen, session.last_sent, len(session._history))
            outcome = _OUTCOMES[event][session._state]
            session._feed(event, _Ctx(conn=conn, last_seen=last_seen))
            if outcome is Effect.ADOPT:
                return session
            session = None  # refused: the session ended; start a new one
        raise AssertionError("a new session refused its first connection")  # pragma: no cover

    async def close_all(self) -> int:
        """End every session (a server's shutdown); return how many this call ended.

        Each one's :meth:`Session.close` (its connection closed, ``on_expire``
        once); then wait for the connections' closings and the ``on_expire``
        coroutines this started. A loop that closes with sessions still held never
        runs their grace timers: call this first.
        """
        ended = 0
        for session in list(self._sessions.values()):
            if await session.close():
                ended += 1
        await self.wait_idle()
        return ended

    def page_close(self, session_id: str, generation: int | None = None) -> bool:
        """The page's close beacon: end the session unless another generation holds it.

        ``generation``: the generation the page was attached as, when it knows
        it (a beacon naming another one, older, or from an earlier session of the
        same id, is a no-op), None or an ``int``. A ``session_id`` that is not a
        ``str`` or a ``generation`` that is not an ``int`` raises :class:`TypeError`
        before anything changes. Returns True if a session with this id existed.
        """
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {session_id!r}")
        if generation is not None and (
            generation.__class__ is bool or not isinstance(generation, int)
        ):
            raise TypeError(f"generation must be an int or None, not {generation!r}")
        session = self._sessions.get(session_id)
        if session is None:
            return False
        # Not the generation attached now: an older page's beacon, arriving late, or
        # one of a session that ended and began again under the same id.
        stale = generation is not None and generation != session.generation
        session._feed(Event.PAGE_CLOSE_STALE if stale else Event.PAGE_CLOSE, _Ctx())
        return True

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, if any."""
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    async def broadcast(self, data: Payload) -> SessionBroadcast:
        """Send ``data`` to every session at the time of the call; never raises for closure.

        Each session numbers and keeps the message; sessions without a
        connection hold it for their resume. Writes that must wait for a slow
        reader are awaited together, so none holds up the others; cancelling the
        call cancels none of them (each message goes out in its place). The payload is
        checked (and a bytes-like one copied) at the call, as by
        :meth:`Session.send`, before any session numbers it.
        """
        payload = checked_payload(data)
        sent = held = dropped = 0
        waiting: list[Awaitable[bool]] = []
        for session in list(self._sessions.values()):
            outcome = _SEND_OUTCOME[session._state]
            session._feed(Event.APP_SEND, _Ctx(payload=payload))
            if outcome is Effect.TRANSMIT:
                sent += 1
                if session._pending is not None:
                    waiting.append(session._pending)
                    session._pending = None
            elif outcome is Effect.HOLD:
                held += 1
            else:
                dropped += 1
        if waiting:  # cancelling the call cancels none of them (Session.send)
            await asyncio.shield(asyncio.gather(*waiting))
        return SessionBroadcast(sent, held, dropped)

    # -- what sessions ask of their owner ------------------------------------------------

    def _expire(self, session: Session) -> None:
        """The expire effect: forget the session, then call on_expire (once: CLOSED is terminal)."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
        callback = self.on_expire
        if callback is None:
            return
        try:
            result = callback(session)
        except Exception:
            self.expire_errors += 1
            logger.error("session %s: on_expire %r failed", session.id, callback, exc_info=True)
            return
        if inspect.isawaitable(result):

            async def run() -> None:
                try:
                    await result
                except Exception:
                    self.expire_errors += 1
                    logger.error(
                        "session %s: on_expire %r failed", session.id, callback, exc_info=True
                    )

            self._spawn(run())

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("sessions: internal error in a background task", exc_info=exc)

    async def wait_idle(self) -> None:
        """Wait for the background work started so far (closing superseded connections)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
