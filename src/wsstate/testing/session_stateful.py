"""The harness behind the session's generated stateful tests: real sockets, the chart as oracle.

Theory of operation
-------------------

A :class:`Harness` runs one session of a :class:`wsstate.Sessions` whose grace
timer is a :class:`~wsstate.testing.ManualClock`. Each generation of the page is a
real connection: a :class:`~wsstate.testing.peer.RawPeer` client to a real
websockets server whose handler guards the connection with :func:`wsstate.guard`.
The raw peer never answers a Close on its own, so a superseded connection stays
CLOSING until the test ends it: its closure (``detach_stale``) is an explicit
event, as are the current one's (``detach``).

Drivers (:data:`DRIVERS`), one per event: ``attach`` opens a connection and
attaches it with no ``last_seen``, ``attach_resume`` with the number of messages
the page has seen, ``attach_gap`` with one beyond what was sent; ``app_send`` is
``send`` or ``try_send``; ``app_close`` is ``session.close()``; ``page_close`` and
``page_close_stale`` are :meth:`~wsstate.Sessions.page_close` naming the current
generation and another one (the previous or the next, drawn); ``detach`` and
``detach_stale`` end the TCP connection of the current and of an older
generation's raw peer;
``grace_timeout`` advances the clock by the grace window.

The model is the generated ``SessionChart`` (python-statemachine). After every
step: the session's state equals the model's; the outcome equals the row's
(``transmit``/``hold`` -> True, ``drop`` -> False or :class:`~wsstate.SessionClosed`,
``adopt`` -> this session, ``refuse`` -> a new one, ``return:*`` -> returned);
``on_expire`` fired once in CLOSED and never before; the current generation's
page received every message it was sent, replays included, each once and in
order of their numbers; no log record at ERROR; the loop's exception handler
never called. Pairs that cannot be driven are in :data:`NOT_DRIVABLE` with the
reason; :func:`coverage_report` prints ``transition coverage: covered/drivable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from websockets.asyncio.server import Server, ServerConnection, serve

from ..connection import GuardedConnection
from ..guard import guard
from ..machines.session import TABLE, Effect, Event, State
from ..sessions import Session, SessionClosed, Sessions
from ._watching import Transitions, Watching
from .charts.session import SessionChart
from .clock import ManualClock
from .peer import RawPeer
from .sites import NoSite
from .stateful import Choices, FirstChoices, HypothesisChoices, register_profiles, wait_until

__all__ = [
    "CONCURRENT_PAIRS",
    "DRIVERS",
    "NOT_DRIVABLE",
    "ROLES",
    "Harness",
    "HypothesisChoices",
    "Role",
    "class_name",
    "coverage",
    "coverage_report",
    "drivable_pairs",
    "open_site",
    "register_profiles",
    "role_doc",
    "role_settings",
    "run_tour",
]

Role = Literal["websockets"]
ROLES: Final[tuple[Role, ...]] = ("websockets",)
#: The session machine has no two operations started together yet: its calls are
#: synchronous decisions (the races are between events, which the rules interleave).
CONCURRENT_PAIRS: Final[tuple[tuple[Event, Event], ...]] = ()

GRACE: Final = 30.0
HISTORY: Final = 4
MAX_GENERATIONS: Final = 4
SETTLE: Final = 2.0
SESSION_ID: Final = "page"

_NO_NEW: Final = "Sessions.attach creates the session and adopts its connection at once: "
NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    (State.NEW, Event.APP_SEND): _NO_NEW + "the application holds no NEW session to send to",
    (State.NEW, Event.APP_CLOSE): _NO_NEW + "the application holds no NEW session to close",
    (State.CLOSED, Event.PAGE_CLOSE): "an ended session left its Sessions: a beacon finds "
    "nothing (or a newer session under the id)",
    (State.CLOSED, Event.PAGE_CLOSE_STALE): "an ended session left its Sessions: a beacon "
    "finds nothing (or a newer session under the id)",
    (State.CLOSED, Event.GRACE_TIMEOUT): "every row entering CLOSED cancels the grace timer "
    "or is its firing: it cannot run out afterwards",
}

log: Final = logging.getLogger("wsstate.testing")

_SEEN: Final[set[tuple[State, Event]]] = set()
STATS: Final[dict[str, int]] = {"examples": 0, "steps": 0}


@dataclass
class _Page:
    """One generation's connection, seen from both ends."""

    generation: int
    peer: RawPeer
    conn: GuardedConnection
    ended: bool = False
    """The harness ended its TCP connection (its closure was driven)."""


def open_site(role: Role) -> NoSite:
    """The generated tests' per-example site: none here (each harness starts its own server)."""
    return NoSite()


@dataclass
class Harness:
    """One session and the real connections of its generations."""

    role: Role = "websockets"
    #: Unused: this harness starts its server per connection (see :func:`open_site`).
    site: NoSite | None = None
    chart: SessionChart = field(init=False)
    steps: list[str] = field(default_factory=list)

    async def start(self) -> None:
        STATS["examples"] += 1
        self.chart = SessionChart()
        self.clock = ManualClock()
        self.expired: list[Session] = []
        self.sessions = Sessions(
            grace=GRACE, history=HISTORY, on_expire=self.expired.append, clock=self.clock
        )
        self.session: Session | None = None
        self.pages: list[_Page] = []
        self.sent: list[str] = []  # the session's messages, by number - 1
        self._starts: dict[int, int] = {}  # generation -> index of its first message
        self.name = f"session {SESSION_ID}"
        self.handler = Transitions[State, Event](self.name, State)
        self._watching = Watching(self.handler, logging.getLogger())
        self.watch = self._watching.watch
        try:
            await self._serve()
        except BaseException:
            self._watching.end()  # start() failed: stop() may never run
            raise

    async def _serve(self) -> None:
        self._accepted: asyncio.Queue[GuardedConnection] = asyncio.Queue()
        self._handlers: list[GuardedConnection] = []

        async def handler(ws: ServerConnection) -> None:
            conn = guard(ws, close_timeout=SETTLE * 5, ping_interval=None)
            self._handlers.append(conn)
            await self._accepted.put(conn)
            await conn.wait_closed()

        self._server: Server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    # -- the model -------------------------------------------------------------------

    @property
    def model_state(self) -> State:
        value = self.chart.current_state_value
        assert isinstance(value, State)
        return value

    def enabled(self, event: Event) -> bool:
        state = self.model_state
        if TABLE[(state, event)].next is None or (state, event) in NOT_DRIVABLE:
            return False
        check = _PRECONDITIONS.get(event)
        return check is None or check(self)

    def enabled_concurrently(self, a: Event, b: Event) -> bool:
        return False

    async def step_concurrently(self, a: Event, b: Event, draw: Choices) -> None:
        raise AssertionError("the session harness has no concurrent pairs")

    def current(self) -> _Page | None:
        if self.session is None or not self.pages:
            return None
        return next((p for p in self.pages if p.conn is self.session.connection), None)

    # -- stepping ---------------------------------------------------------------------

    async def step(self, event: Event, draw: Choices) -> None:
        assert self.enabled(event), f"{event} not enabled in {self.model_state}"
        STATS["steps"] += 1
        start = self.model_state
        row = TABLE[(start, event)]
        await DRIVERS[event](self, row.effects, draw)
        getattr(self.chart, event.value)()
        self.steps.append(f"{event.value} -> {self.model_state.value}")
        _SEEN.add((start, event))
        await self.check()

    async def check(self) -> None:
        assert self.session is not None
        assert self.session.state is self.model_state, (
            f"session is {self.session.state}, model is {self.model_state}; steps {self.steps}"
        )
        closed = self.model_state is State.CLOSED
        assert self.expired == ([self.session] if closed else []), (
            f"on_expire fired {len(self.expired)} times in {self.model_state}"
        )
        page = self.current()
        if page is not None and not page.ended and self.model_state is State.ATTACHED:
            # Every message since the page attached (replays included), once, in order.
            expected = self._expected(page)
            ok = await wait_until(lambda: page.peer.messages == expected, SETTLE)
            assert ok, f"gen {page.generation} got {page.peer.messages}, expected {expected}"
        assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
        assert not self.watch.calls, self.watch.describe()

    def _expected(self, page: _Page) -> list[str]:
        start = self._starts.get(page.generation, len(self.sent))
        return self.sent[start:]

    async def stop(self) -> None:
        try:
            for page in self.pages:
                page.conn.abort()
                await page.peer.close()
            self._server.close()
            await self._server.wait_closed()
            await self.sessions.wait_idle()
            assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
            _SEEN.update((s, e) for s, e, _ in self.handler.taken)
        finally:
            self._watching.end()

    # -- what drivers share -----------------------------------------------------------

    async def open_page(self) -> GuardedConnection:
        peer = await RawPeer.connect(f"ws://127.0.0.1:{self.port}/")
        conn = await asyncio.wait_for(self._accepted.get(), SETTLE)
        generation = (self.session.generation if self.session else 0) + 1
        self.pages.append(_Page(generation, peer, conn))
        return conn

    async def end_page(self, page: _Page) -> None:
        page.ended = True
        await page.peer.close()
        assert await wait_until(lambda: page.conn.closed, SETTLE), f"{page.conn} not closed"
        await asyncio.sleep(0)


Driver = Callable[[Harness, tuple[Effect, ...], Choices], Awaitable[None]]


def _attach(last_seen: Callable[[Harness], int | None]) -> Driver:
    async def drive(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
        conn = await h.open_page()
        seen = last_seen(h)
        session = h.sessions.attach(SESSION_ID, conn, last_seen=seen)
        if h.session is None:
            h.session = session
        if Effect.REFUSE in effects:
            assert session is not h.session, "a refused attach must start a new session"
            h.pages[-1].generation = 0  # another session's page
            return
        assert session is h.session, "an attach must continue the session"
        gen = session.generation
        h.pages[-1].generation = gen
        if Effect.REPLAY in effects:
            h._starts[gen] = seen or 0
        else:
            h._starts[gen] = len(h.sent)
        assert session.resumed == (Effect.REPLAY in effects)
        assert session.gap == (Effect.REPORT_GAP in effects)

    return drive


async def _send(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.session is not None
    text = f"m{len(h.sent) + 1}"
    if draw.flag():
        try:
            await h.session.send(text)
        except SessionClosed:
            ok = False
        else:
            ok = True
    else:
        ok = await h.session.try_send(text)
    assert ok == (Effect.DROP not in effects), f"send gave {ok}, row {effects}"
    if ok:
        h.sent.append(text)
        assert h.session.last_sent == len(h.sent)


async def _close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.session is not None
    assert await h.session.close() == (Effect.RETURN_TRUE in effects)


async def _page_close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.session is not None
    assert h.sessions.page_close(SESSION_ID, generation=h.session.generation)


async def _page_close_stale(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.session is not None
    # Another generation than the current, drawn: an older page's, or a newer one
    # (a beacon of an earlier session under the same id).
    other = h.session.generation + (-1 if draw.flag() else 1)
    assert h.sessions.page_close(SESSION_ID, generation=other)


async def _detach(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    page = h.current()
    assert page is not None
    await h.end_page(page)


async def _detach_stale(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    page = next(p for p in _stale(h))
    await h.end_page(page)


async def _grace(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.clock.advance(GRACE) == 1


def _stale(h: Harness) -> list[_Page]:
    current = h.current()
    return [p for p in h.pages if p.generation and p is not current and not p.ended]


def _can_attach(h: Harness) -> bool:
    return len(h.pages) < MAX_GENERATIONS


DRIVERS: Final[dict[Event, Driver]] = {
    Event.ATTACH: _attach(lambda h: None),
    Event.ATTACH_RESUME: _attach(lambda h: h.session.last_sent if h.session else 0),
    Event.ATTACH_GAP: _attach(lambda h: (h.session.last_sent if h.session else 0) + 1),
    Event.APP_SEND: _send,
    Event.APP_CLOSE: _close,
    Event.PAGE_CLOSE: _page_close,
    Event.PAGE_CLOSE_STALE: _page_close_stale,
    Event.DETACH: _detach,
    Event.DETACH_STALE: _detach_stale,
    Event.GRACE_TIMEOUT: _grace,
}

_PRECONDITIONS: Final[dict[Event, Callable[[Harness], bool]]] = {
    Event.ATTACH: _can_attach,
    Event.ATTACH_RESUME: _can_attach,
    Event.ATTACH_GAP: _can_attach,
    Event.PAGE_CLOSE_STALE: lambda h: h.session is not None and h.session.generation >= 2,
    Event.DETACH: lambda h: (p := h.current()) is not None and not p.ended,
    Event.DETACH_STALE: lambda h: bool(_stale(h)),
}


# -- coverage, tours, settings ---------------------------------------------------------


def coverage() -> dict[str, set[tuple[State, Event]]]:
    """Pairs seen so far in this process, per role (one set: the roles share the table)."""
    return {role: _SEEN for role in ROLES}


def drivable_pairs(role: Role = "websockets") -> list[tuple[State, Event]]:
    """Possible pairs of the table the harness can drive, in table order."""
    return [k for k, r in TABLE.items() if r.next is not None and k not in NOT_DRIVABLE]


def coverage_report() -> str:
    """``transition coverage: covered/drivable`` of the session, and the pairs not driven."""
    if not STATS["steps"]:
        return ""
    drivable = drivable_pairs()
    missing = [f"{s}/{e}" for s, e in drivable if (s, e) not in _SEEN]
    lines = [
        f"session transition coverage: {len(drivable) - len(missing)}/{len(drivable)} "
        f"drivable pairs ({STATS['examples']} examples, {STATS['steps']} steps)"
        + (f"; not reached: {', '.join(missing)}" if missing else "")
    ]
    lines += [f"  {s}/{e}: {why}" for (s, e), why in NOT_DRIVABLE.items()]
    return "\n".join(lines)


_PATHS: Final[dict[State, list[Event]]] = {
    State.NEW: [],
    State.ATTACHED: [Event.ATTACH],
    State.DETACHED: [Event.ATTACH, Event.DETACH],
    State.CLOSED: [Event.ATTACH, Event.APP_SEND, Event.PAGE_CLOSE],
}
# Pairs that need an older generation or one still open first.
_PREFIX: Final[dict[tuple[State, Event], list[Event]]] = {
    (State.ATTACHED, Event.DETACH_STALE): [Event.ATTACH, Event.ATTACH_RESUME],
    (State.ATTACHED, Event.PAGE_CLOSE_STALE): [Event.ATTACH, Event.ATTACH],
    (State.DETACHED, Event.DETACH_STALE): [Event.ATTACH, Event.ATTACH, Event.DETACH],
    (State.DETACHED, Event.PAGE_CLOSE_STALE): [Event.ATTACH, Event.ATTACH, Event.DETACH],
    (State.CLOSED, Event.DETACH): [Event.ATTACH, Event.APP_CLOSE],
    (State.CLOSED, Event.DETACH_STALE): [Event.ATTACH, Event.ATTACH, Event.APP_CLOSE],
}


async def run_tour(role: Role = "websockets") -> list[str]:
    """Drive every drivable pair once, each in a fresh harness; return the failures."""
    failures: list[str] = []
    for state, event in drivable_pairs(role):
        h = Harness(role)
        await h.start()
        try:
            choices = FirstChoices()
            for step in _PREFIX.get((state, event), _PATHS[state]):
                await h.step(step, choices)
            assert h.model_state is state, f"reached {h.model_state}, wanted {state}"
            await h.step(event, choices)
        except Exception as exc:  # a failed check or a crash: both are findings
            failures.append(f"{state}/{event}: {exc!r} after {h.steps}")
        finally:
            with contextlib.suppress(Exception):
                await h.stop()
    return failures


def role_doc(role: Role) -> str:
    return "The session's connections are websockets server connections; pages are raw peers."


def class_name(role: Role) -> str:
    return "SessionOverWebsockets"


def role_settings(role: Role, profile: Any) -> Any:
    from hypothesis import settings

    return settings(profile, max_examples=max(1, profile.max_examples // 2))
