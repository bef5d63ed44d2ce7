"""The harness behind the client's generated stateful tests: a real server, the chart as oracle.

Theory of operation
-------------------

A :class:`Harness` runs one :class:`wsstate.ReconnectingClient` against a real
websockets server the harness controls, with its timers on a
:class:`~wsstate.testing.ManualClock`. The server holds every opening handshake
until a rule decides it: ``connected`` accepts it, ``refused_retryable``
answers 503, ``refused_retry_after`` 429 with ``Retry-After: 1``,
``refused_fatal`` 403. The client's ``on_open`` waits on a gate, so the client
stays OPENING until ``ready`` opens it. ``closed_retryable``,
``closed_retry_after`` and ``closed_fatal`` close the server side of the
current connection with 1012, 1013 (reason ``"1"``) and 1008;
``backoff_elapsed`` and ``min_uptime_elapsed`` advance the clock by the drawn
delay and by ``min_uptime``; ``start``, ``app_send`` (``send`` or
``try_send``), ``app_send_full`` (the buffer holds ``max_buffered``) and
``app_close`` call the client.

The model is the generated ``ClientChart`` (python-statemachine). A step may
make the client take several transitions (``app_close`` in CONNECTING also
ends the cancelled attempt; ``connected`` is followed by nothing until
``ready``): the harness feeds the chart every transition the client logged
(``wsstate_transition`` records, in order), the first of which must be the
driven event, each of which the chart must allow, and the client's state must
then equal the chart's. The call's outcome must equal the row's (``transmit``
or ``buffer`` -> True, ``reject`` -> False or ConnectionClosed, ``return:*``
-> returned). The server receives each message at most once and in the order
sent. No record at ERROR; the loop's exception handler never called. Pairs
that are not driven are in :data:`NOT_DRIVABLE` with the reason (CLOSING's
rows follow on their own and are counted when taken);
:func:`coverage_report` prints ``client transition coverage: covered/drivable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..client import ReconnectingClient
from ..connection import GuardedConnection
from ..errors import ConnectionClosed
from ..machines.client import TABLE, Effect, Event, State
from ._watching import Watching
from .charts.client import ClientChart
from .clock import ManualClock
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
#: The client's calls are decided at once; its races are between events, which the
#: rules interleave.
CONCURRENT_PAIRS: Final[tuple[tuple[Event, Event], ...]] = ()

MAX_BUFFERED: Final = 2
MIN_UPTIME: Final = 5.0
SETTLE: Final = 2.0

_AUTO: Final = "CLOSING's rows follow on their own (the cancelled attempt or the closed "
"connection ends); they are counted when taken"
NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    **{
        (State.CLOSING, e): _AUTO
        for e in Event
        if TABLE[(State.CLOSING, e)].next is not None
        and e not in (Event.START, Event.APP_SEND, Event.APP_SEND_FULL, Event.APP_CLOSE)
    },
    **{
        (State.CLOSING, e): "close() returns once the client is STOPPED: a call made while "
        "it is CLOSING would be concurrent with close(): not driven yet"
        for e in (Event.START, Event.APP_SEND, Event.APP_SEND_FULL, Event.APP_CLOSE)
    },
    (State.STOPPED, Event.APP_SEND_FULL): "the buffer is emptied on the way to STOPPED "
    "(max_buffered > 0 in the harness)",
    (State.OPEN, Event.APP_SEND_FULL): "the buffer is empty while OPEN (flushed before ready) "
    "and max_buffered > 0 in the harness",
    **{
        (s, Event.GIVE_UP): "max_attempts is None in the harness; tests/test_client.py drives it"
        for s in State
        if TABLE[(s, Event.GIVE_UP)].next is not None
    },
}

_SEEN: Final[set[tuple[State, Event]]] = set()
STATS: Final[dict[str, int]] = {"examples": 0, "steps": 0}


class _Records(logging.Handler):
    """The client's transitions and any ERROR record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.taken: list[tuple[State, Event, State]] = []
        self.errors: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        t = getattr(record, "wsstate_transition", None)
        if t is not None and record.name == "wsstate.client":
            self.taken.append((t[1], t[2], t[3]))
        if record.levelno >= logging.ERROR:
            self.errors.append(record)


def open_site(role: Role) -> NoSite:
    """The generated tests' per-example site: none here (each harness starts its own server)."""
    return NoSite()


@dataclass
class Harness:
    """One client, the server it talks to, and the chart that predicts it."""

    role: Role = "websockets"
    #: Unused: this harness starts its server per connection (see :func:`open_site`).
    site: NoSite | None = None
    steps: list[str] = field(default_factory=list)

    async def start(self) -> None:
        STATS["examples"] += 1
        self.chart = ClientChart()
        self.clock = ManualClock()
        self.handler = _Records()
        self._watching = Watching(self.handler, logging.getLogger("wsstate"))
        self.watch = self._watching.watch
        try:
            await self._serve()
        except BaseException:
            self._watching.end()  # start() failed: stop() may never run
            raise

    async def _serve(self) -> None:
        self.pending: asyncio.Queue[asyncio.Future[Response | None]] = asyncio.Queue()
        self.server_conns: list[ServerConnection] = []
        self.received: list[str] = []
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self._fed = 0

        async def process_request(conn: ServerConnection, request: Request) -> Response | None:
            decision: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
            await self.pending.put(decision)
            return await decision

        async def handler(ws: ServerConnection) -> None:
            self.server_conns.append(ws)
            with contextlib.suppress(Exception):
                async for message in ws:
                    self.received.append(str(message))

        self._server: Server = await serve(
            handler, "127.0.0.1", 0, process_request=process_request, ping_interval=None
        )
        port = next(iter(self._server.sockets)).getsockname()[1]

        async def on_open(conn: GuardedConnection) -> None:
            await self.gate.wait()
            self.gate.clear()

        self.client = ReconnectingClient(
            f"ws://127.0.0.1:{port}",
            clock=self.clock,
            min_uptime=MIN_UPTIME,
            max_buffered=MAX_BUFFERED,
            on_open=on_open,
            ping_interval=None,
            close_timeout=SETTLE,
        )

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
        raise AssertionError("the client harness has no concurrent pairs")

    # -- stepping ---------------------------------------------------------------------

    async def step(self, event: Event, draw: Choices) -> None:
        assert self.enabled(event), f"{event} not enabled in {self.model_state}"
        STATS["steps"] += 1
        start = self.model_state
        row = TABLE[(start, event)]
        await DRIVERS[event](self, row.effects, draw)
        await self.follow(event)
        self.steps.append(f"{event.value} -> {self.model_state.value}")
        await self.check()

    async def follow(self, event: Event) -> None:
        """Feed the chart every transition the client took since the last step."""
        await asyncio.sleep(0.01)
        taken = self.handler.taken[self._fed :]
        assert taken, f"{event.value}: the client took no transition"
        assert taken[0][1] is event, f"first transition {taken[0]}, driven {event.value}"
        for state, ev, nxt in taken:
            assert self.model_state is state, f"client took {ev} in {state}, model {self}"
            getattr(self.chart, ev.value)()
            assert self.model_state is nxt, f"{ev} in {state}: client {nxt}, model differs"
            _SEEN.add((state, ev))
        self._fed += len(taken)
        assert self.client.state is self.model_state, (
            f"client is {self.client.state}, model is {self.model_state}; steps {self.steps}"
        )

    async def check(self) -> None:
        assert len(set(self.received)) == len(self.received), f"twice: {self.received}"
        order = {m: i for i, m in enumerate(self.sent)}
        positions = [order[m] for m in self.received]
        assert positions == sorted(positions), f"out of order: {self.received}"
        assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
        assert not self.watch.calls, self.watch.describe()

    async def settle_until(self, predicate: Callable[[], bool], what: str) -> None:
        assert await wait_until(predicate, SETTLE), f"{what}: client {self.client.state}"

    async def stop(self) -> None:
        try:
            self.gate.set()
            while not self.pending.empty():
                self.pending.get_nowait().set_result(None)
            await asyncio.wait_for(self.client.close(), SETTLE * 2)
            self._server.close()
            await self._server.wait_closed()
            assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
            _SEEN.update((s, e) for s, e, _ in self.handler.taken)
        finally:
            self._watching.end()


Driver = Callable[[Harness, tuple[Effect, ...], Choices], Awaitable[None]]


async def _start(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.client.start() is (Effect.RETURN_TRUE in effects)


async def _send(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    # Numbered: the drawn text may repeat ('' twice), and check() identifies each
    # message by its content (each received once, in the order sent).
    message = f"{len(h.sent)}:{draw.text()}"
    h.sent.append(message)
    if draw.flag():
        ok = await h.client.try_send(message)
    else:
        try:
            await h.client.send(message)
            ok = True
        except ConnectionClosed:
            ok = False
    assert ok is (Effect.REJECT not in effects), f"send returned {ok} for {effects}"


async def _close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    returned = await asyncio.wait_for(h.client.close(), SETTLE * 2)
    assert returned is (Effect.RETURN_TRUE in effects)


def _answer(response: Callable[[], Response | None], after: State | None) -> Driver:
    async def drive(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
        decision = await asyncio.wait_for(h.pending.get(), SETTLE)
        decision.set_result(response())
        await h.settle_until(lambda: h.client.state is not State.CONNECTING, "answer")

    return drive


def _refuse(status: int, headers: dict[str, str]) -> Callable[[], Response]:
    def respond() -> Response:
        from websockets.datastructures import Headers

        return Response(status, HTTPStatus(status).phrase, Headers(headers), b"refused\n")

    return respond


async def _ready(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.gate.set()
    await h.settle_until(lambda: h.client.state is not State.OPENING, "ready")


def _server_close(code: int, reason: str) -> Driver:
    async def drive(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
        ws = h.server_conns[-1]
        generation = h.client.generation
        await ws.close(code, reason)
        await h.settle_until(
            lambda: h.client.connection is None or h.client.generation != generation, "closure"
        )

    return drive


async def _backoff(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.clock.advance(h.client.last_delay or 0.0)
    await h.settle_until(lambda: h.client.state is not State.BACKOFF, "backoff")


async def _uptime(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    fed = len(h.handler.taken)
    h.clock.advance(MIN_UPTIME)
    await h.settle_until(lambda: len(h.handler.taken) > fed, "uptime")


DRIVERS: Final[dict[Event, Driver]] = {
    Event.START: _start,
    Event.APP_SEND: _send,
    Event.APP_SEND_FULL: _send,
    Event.APP_CLOSE: _close,
    Event.CONNECTED: _answer(lambda: None, State.OPENING),
    Event.READY: _ready,
    Event.REFUSED_RETRYABLE: _answer(_refuse(503, {}), State.BACKOFF),
    Event.REFUSED_RETRY_AFTER: _answer(_refuse(429, {"Retry-After": "1"}), State.BACKOFF),
    Event.REFUSED_FATAL: _answer(_refuse(403, {}), State.STOPPED),
    Event.CLOSED_RETRYABLE: _server_close(1012, ""),
    Event.CLOSED_RETRY_AFTER: _server_close(1013, "1"),
    Event.CLOSED_FATAL: _server_close(1008, ""),
    Event.BACKOFF_ELAPSED: _backoff,
    Event.MIN_UPTIME_ELAPSED: _uptime,
}


def _buffer_room(h: Harness) -> bool:
    return h.model_state is State.OPEN or h.client.buffered < MAX_BUFFERED


_PRECONDITIONS: Final[dict[Event, Callable[[Harness], bool]]] = {
    Event.APP_SEND: _buffer_room,
    Event.APP_SEND_FULL: lambda h: not _buffer_room(h),
    # The uptime timer of the current connection has not run out yet.
    Event.MIN_UPTIME_ELAPSED: lambda h: h.client._uptime is not None,
}


# -- coverage, tours, settings ---------------------------------------------------------


def coverage() -> dict[str, set[tuple[State, Event]]]:
    """Pairs seen so far in this process, per role (one set: the roles share the table)."""
    return {role: _SEEN for role in ROLES}


def drivable_pairs(role: Role = "websockets") -> list[tuple[State, Event]]:
    """Possible pairs of the table the harness can drive, in table order."""
    return [k for k, r in TABLE.items() if r.next is not None and k not in NOT_DRIVABLE]


def coverage_report() -> str:
    """``client transition coverage: covered/drivable``, and the pairs not driven."""
    if not STATS["steps"]:
        return ""
    drivable = drivable_pairs()
    missing = [f"{s}/{e}" for s, e in drivable if (s, e) not in _SEEN]
    taken = sum(1 for k in NOT_DRIVABLE if k in _SEEN)
    lines = [
        f"client transition coverage: {len(drivable) - len(missing)}/{len(drivable)} "
        f"drivable pairs, {taken} of the others taken on their own "
        f"({STATS['examples']} examples, {STATS['steps']} steps)"
        + (f"; not reached: {', '.join(missing)}" if missing else "")
    ]
    lines += [f"  {s}/{e}: {why}" for (s, e), why in NOT_DRIVABLE.items() if (s, e) not in _SEEN]
    return "\n".join(lines)


_PATHS: Final[dict[State, list[Event]]] = {
    State.IDLE: [],
    State.CONNECTING: [Event.START],
    State.OPENING: [Event.START, Event.CONNECTED],
    State.OPEN: [Event.START, Event.CONNECTED, Event.READY],
    State.BACKOFF: [Event.START, Event.REFUSED_RETRYABLE],
    State.STOPPED: [Event.APP_CLOSE],
}
_FULL: Final = [Event.APP_SEND] * MAX_BUFFERED


async def run_tour(role: Role = "websockets") -> list[str]:
    """Drive every drivable pair once, each in a fresh harness; return the failures."""
    failures: list[str] = []
    for state, event in drivable_pairs(role):
        h = Harness(role)
        await h.start()
        try:
            choices = FirstChoices()
            path = list(_PATHS[state])
            if event is Event.APP_SEND_FULL:
                path = _FULL + path
            for step in path:
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
    return "A ReconnectingClient against a real websockets server that holds each handshake."


def class_name(role: Role) -> str:
    return "ClientOverWebsockets"


def role_settings(role: Role, profile: Any) -> Any:
    from hypothesis import settings

    return settings(profile, max_examples=max(1, profile.max_examples // 2))
