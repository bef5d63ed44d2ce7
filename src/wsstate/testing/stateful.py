"""The harness behind the generated stateful tests: real sockets, the table as oracle.

Theory of operation
-------------------

A :class:`Harness` builds one real connection for a role:

* ``server``: a real websockets server guards each connection with
  :func:`wsstate.guard`; the peer is a :class:`~wsstate.testing.peer.RawPeer`
  client;
* ``client``: the guarded side is a real websockets client, the peer a
  :class:`~wsstate.testing.peer.RawPeer` server;
* ``asgi-sansio``, ``asgi-wsproto``: the guarded side is
  ``guard(websocket)`` in a Starlette app on a real in-process uvicorn
  (:mod:`wsstate.testing.asgi`) with that WebSocket implementation; the peer a
  :class:`~wsstate.testing.peer.RawPeer` client. What ASGI cannot drive or
  observe is in :data:`ASGI_NOT_DRIVABLE`; the events the Starlette adapter
  feeds together with a driven one (uvicorn's single ``websocket.disconnect``
  for a Close and the end of TCP) are in :data:`FOLLOW_UPS`, and the model
  takes them too;

with a :class:`~wsstate.testing.faultproxy.FaultProxy` between them. Each event
of the table that a test can drive has a *driver* (:data:`DRIVERS`): local
events call the :class:`~wsstate.GuardedConnection` API, peer events make the
raw peer act, transport events are faults of the proxy, timers fire when their
rule fires. The raw peer never answers a Close nor ends TCP on its own, so every
move of the environment is an explicit event.

Nothing in a step depends on how fast the machine is (issue 20): the
connection's timers (open, close, the keepalive's next ping) run on a clock the
harness controls (:func:`wsstate._timers.manual_timers`), and fire only when the
``close_timeout`` or ``keepalive_timeout`` rule fires them; a pause between two
steps (a loaded machine, Hypothesis at work) changes nothing. Before, the close
timer (0.3 s) ran on the wall clock: a step that came late found the runtime
CLOSED by ``close_timeout`` while the model, which moves only on driven events,
was still in CLOSING or CLOSE_RECEIVED (tests/test_stateful_clock.py). What
still runs on the wall clock cannot fire on its own: the keepalive's pong
timeout runs only after the ``keepalive_timeout`` rule's ping, into a black
hole; the write timeout only while the ``transport_stalled`` rule's slow reader
holds the buffer full; the transport library's own close timeout only after
CLOSED. Preconditions read the model and what the harness itself did, never an
observation that changes with time, so a seed replays the same steps.

The generated python-statemachine class (``ConnectionChart``) is the model.
After every step the harness checks: the connection's state equals the model's,
reached by the same transitions (the runtime's state-changing transitions, from
its ``wsstate_transition`` records, equal the model's: a reset fed as an orderly
end reaches CLOSED too, by another event);
the API outcome equals the row's effects (``transmit`` -> True, ``drop`` ->
False or ``ConnectionClosed``, fast; ``raise:*`` -> raised; ``return:*`` ->
returned; delivered messages in order); the guarded side's outgoing wire has no
data frame after its Close, at most one Close and no reserved code; no log
record at ERROR; the loop's exception handler never called. At teardown,
sockets and tasks return to their baseline.

Pairs of the table that cannot be driven against this transport are listed in
:data:`NOT_DRIVABLE` with the reason; :func:`coverage_report` prints
``transition coverage: covered/drivable`` over the pairs the runtime was seen to
take (from the ``wsstate`` logger's ``wsstate_transition`` records).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, cast, get_args

from .._timers import ManualTimers, manual_timers
from ..connection import GuardedConnection
from ..errors import ConnectionClosed, InvalidCloseArgs, InvalidState
from ..machines.connection import TABLE, TERMINAL, Effect, Event, State
from .charts.connection import ConnectionChart
from .peer import RawPeer
from .resources import ResourceSnapshot
from .sites import SITES, AdapterRole, AdapterSite, Site

__all__ = [
    "ADAPTER_COVERAGE",
    "ADAPTER_ROLES",
    "ASGI_IMPLS",
    "ASGI_NOT_DRIVABLE",
    "CONCURRENT_PAIRS",
    "DRIVERS",
    "FOLLOW_UPS",
    "NOT_DRIVABLE",
    "ROLES",
    "STATS",
    "TIMING",
    "WEBSOCKETS_NOT_DRIVABLE",
    "Choices",
    "FirstChoices",
    "Harness",
    "HypothesisChoices",
    "RandomChoices",
    "Role",
    "asgi_settings",
    "class_name",
    "coverage",
    "coverage_report",
    "drivable_pairs",
    "follow_ups",
    "not_drivable",
    "open_site",
    "quiesce",
    "register_adapter_role",
    "register_profiles",
    "role_doc",
    "role_settings",
    "run_tour",
    "run_tour_pair",
    "run_walk",
    "tour",
    "wait_until",
]

Role = Literal[
    "server",
    "client",
    "asgi-sansio",
    "asgi-wsproto",
    "aiohttp-server",
    "aiohttp-client",
    "tornado-server",
    "tornado-client",
]

#: Every role the generated tests run, websockets' first (each one's site:
#: :data:`wsstate.testing.sites.SITES`).
ROLES: Final[tuple[Role, ...]] = get_args(Role)

#: The roles whose guarded side is an aiohttp or tornado WebSocket: framework -> roles.
FRAMEWORK_ROLES: Final[dict[str, tuple[Role, ...]]] = {
    "aiohttp": ("aiohttp-server", "aiohttp-client"),
    "tornado": ("tornado-server", "tornado-client"),
}

#: The ASGI roles: the guarded side is ``guard(websocket)`` in a Starlette app on a
#: real uvicorn with this WebSocket implementation (``uvicorn.Config(ws=...)``).
ASGI_IMPLS: Final[dict[Role, str]] = {
    "asgi-sansio": "websockets-sansio",
    "asgi-wsproto": "wsproto",
}

log: Final = logging.getLogger("wsstate.testing")


@dataclass(frozen=True)
class Timing:
    """Scaled-down timeouts (seconds) the harness runs the guarded side with."""

    #: On the harness's clock (fired by the keepalive_timeout rule only).
    ping_interval: float = 0.15
    #: Wall clock, but only ever after the keepalive rule's ping into a black hole,
    #: where no pong can come: its length changes no outcome, only the step's time.
    ping_timeout: float = 0.002
    #: On the harness's clock (fired by the close_timeout rule only).
    close_timeout: float = 0.3
    #: Wall clock, but a send waits only while the stall rule's slow reader holds
    #: the buffer full (the harness's messages are a few bytes): as ping_timeout.
    write_timeout: float = 0.002
    #: The transport library's own close timeout: longer, so the table's timer decides.
    library_close_timeout: float = 5.0
    #: How long a step may take to reach the model's state (an upper bound only:
    #: nothing fires on its own, so waiting longer never changes the outcome).
    settle: float = 5.0
    #: Most event-loop turns a failing-fast operation may take (0: it never waits).
    fail_fast_turns: int = 2


TIMING: Final = Timing()

_CONNECTING: Final = "the websockets adapter guards connections that are already open"
_INVALID_CLOSE: Final = (
    "websockets rejects an invalid Close frame as a protocol error: the adapter "
    "reports it as peer_protocol_error"
)

_PROTOCOL_ERROR: Final = (
    "no adapter feeds it: websockets fails the connection itself (its Close "
    "1002: library_close_peer_fault), uvicorn answers with its own Close"
)
_LIBRARY_CLOSE: Final = (
    "websockets closes on its own when a server handler returns: with a raw peer "
    "that never answers, the table learns it only when the library's close timeout "
    "ends the transport (tests/test_websockets_library_close.py covers it)"
)

#: (state, event) pairs that are possible in the table but cannot be driven here.
NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    **{(State.CONNECTING, e): _CONNECTING for e in Event},
    **{(s, Event.PEER_CLOSE_INVALID): _INVALID_CLOSE for s in State},
    **{(s, Event.PEER_PROTOCOL_ERROR): _PROTOCOL_ERROR for s in State},
    (State.CLOSING, Event.LIBRARY_CLOSE_PEER_FAULT): (
        "websockets does not fail the connection after its own Close; a bad frame "
        "surfaces as the transport loss that follows"
    ),
    **{(s, Event.LIBRARY_CLOSE): _LIBRARY_CLOSE for s in State},
    (State.CLOSING, Event.TRANSPORT_STALLED): (
        "a send in CLOSING is dropped before it writes: only a send that started in "
        "OPEN and still waits can time out here (tests/test_table_rules.py)"
    ),
    (State.CLOSE_RECEIVED, Event.TRANSPORT_STALLED): (
        "a send in CLOSE_RECEIVED is dropped before it writes: only a send that "
        "started in OPEN and still waits can time out here"
    ),
    (State.CLOSED, Event.PEER_DATA): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.PEER_CLOSE): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.LIBRARY_CLOSE_PEER_FAULT): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.HANDSHAKE_OK): "the handshake happened before",
    (State.CLOSED, Event.HANDSHAKE_FAIL): "the handshake happened before",
    (State.CLOSED, Event.TRANSPORT_STALLED): "nothing is written in CLOSED",
    (State.CLOSED, Event.OPEN_TIMEOUT): "timers are cancelled on entering CLOSED",
    (State.CLOSED, Event.CLOSE_TIMEOUT): "timers are cancelled on entering CLOSED",
    (State.CLOSED, Event.KEEPALIVE_TIMEOUT): "timers are cancelled on entering CLOSED",
}

_CLOSING_ASGI: Final = (
    "not observable over ASGI: uvicorn (websockets-sansio, wsproto) repeats the "
    "application's Close as its websocket.disconnect at once, so the adapter feeds "
    "the close and transport_eof together and CLOSING lasts no step"
)
_CLOSE_RECEIVED_ASGI: Final = (
    "not observable over ASGI: uvicorn reports the peer's Close in one "
    "websocket.disconnect, after echoing it and ending TCP, so the adapter feeds "
    "peer_close and transport_eof together"
)
_LOST_ONCE_ASGI: Final = (
    "over ASGI the loss is fed once, with the disconnect message; nothing reaches a CLOSED table"
)

#: What a websockets role cannot drive, on top of :data:`NOT_DRIVABLE`.
WEBSOCKETS_NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    (s, Event.APP_ACCEPT_AGAIN): (
        "a websockets connection is guarded open and has no application-side "
        "handshake: every accept() is app_accept"
    )
    for s in State
}

_ACCEPTED_ASGI: Final = (
    "the endpoint accepted before the steps begin: every later accept() is app_accept_again"
)

#: What ASGI cannot drive or observe, per ASGI role, on top of :data:`NOT_DRIVABLE`.
ASGI_NOT_DRIVABLE: Final[dict[Role, dict[tuple[State, Event], str]]] = {
    role: {
        (State.OPEN, Event.KEEPALIVE_TIMEOUT): (
            "ASGI has no ping message: the adapter's ping() returns None and wsstate's "
            "keepalive stops at once; a half-open peer is the ASGI server's to detect "
            "(uvicorn's ws_ping_interval), and reaches the table as transport_error"
        ),
        **{(s, Event.APP_ACCEPT): _ACCEPTED_ASGI for s in State if s is not State.CONNECTING},
        (State.OPEN, Event.TRANSPORT_EOF): (
            "ASGI cannot tell a FIN from a reset: uvicorn reports both as a "
            "websocket.disconnect without a Close code (1005), fed as transport_error"
        ),
        **{(State.CLOSING, e): _CLOSING_ASGI for e in Event},
        **{(State.CLOSE_RECEIVED, e): _CLOSE_RECEIVED_ASGI for e in Event},
        (State.CLOSED, Event.TRANSPORT_EOF): _LOST_ONCE_ASGI,
        (State.CLOSED, Event.TRANSPORT_ERROR): _LOST_ONCE_ASGI,
        **(
            {
                (State.OPEN, Event.TRANSPORT_STALLED): (
                    "uvicorn's wsproto implementation never waits for the socket's "
                    "buffer: a slow reader makes it buffer without bound, so no send "
                    "reaches the write timeout"
                )
            }
            if role == "asgi-wsproto"
            else {}
        ),
    }
    for role in ASGI_IMPLS
}

#: Events the adapter feeds the table together with the one driven, per role: the
#: model takes them too (it stays the generated chart, one event at a time).
FOLLOW_UPS: Final[dict[Role, dict[tuple[State, Event], tuple[Event, ...]]]] = {
    role: {
        (State.OPEN, Event.APP_CLOSE): (Event.TRANSPORT_EOF,),
        (State.OPEN, Event.PEER_CLOSE): (Event.TRANSPORT_EOF,),
        **(
            {(State.OPEN, Event.TRANSPORT_STALLED): (Event.TRANSPORT_EOF,)}
            if role == "asgi-sansio"
            else {}
        ),
    }
    for role in ASGI_IMPLS
}


_GUARDED_OPEN: Final = (
    "an aiohttp or tornado WebSocket is guarded open and has no application-side "
    "handshake: every accept() is app_accept"
)
_CLOSE_RECEIVED_FRAMEWORK: Final = (
    "not observable on aiohttp and tornado: after echoing the peer's Close the "
    "adapter ends TCP itself and reports it at once (aiohttp: close_transport; "
    "tornado: its read loop ends), so peer_close and transport_eof are fed together "
    "and CLOSE_RECEIVED lasts no step"
)
_LOST_ONCE_FRAMEWORK: Final = (
    "the loss is fed once: the adapter ended TCP itself after the closing handshake "
    "and reported it then (transport_eof); nothing later reaches a CLOSED table"
)

#: What an aiohttp or tornado role cannot drive, per role, on top of :data:`NOT_DRIVABLE`.
FRAMEWORK_NOT_DRIVABLE: Final[dict[Role, dict[tuple[State, Event], str]]] = {
    role: {
        **{(s, Event.APP_ACCEPT_AGAIN): _GUARDED_OPEN for s in State},
        **{(State.CLOSE_RECEIVED, e): _CLOSE_RECEIVED_FRAMEWORK for e in Event},
        (State.CLOSED, Event.TRANSPORT_EOF): _LOST_ONCE_FRAMEWORK,
        (State.CLOSED, Event.TRANSPORT_ERROR): _LOST_ONCE_FRAMEWORK,
    }
    for roles in FRAMEWORK_ROLES.values()
    for role in roles
}

_RESET_AIOHTTP: Final = (
    "aiohttp reports a TCP reset as the end of the stream (receive() returns "
    "CLOSED, no error): the adapter feeds transport_eof, the model takes it too"
)
#: Driven events a role's adapter feeds the table as another event (the model takes
#: that one; the pair itself is not drivable on the role and is listed with why).
FED_AS: Final[dict[Role, dict[tuple[State, Event], tuple[Event, str]]]] = {
    **{
        role: {
            (s, Event.TRANSPORT_ERROR): (Event.TRANSPORT_EOF, _RESET_AIOHTTP)
            for s in (State.OPEN, State.CLOSING)
        }
        for role in FRAMEWORK_ROLES["aiohttp"]
    },
}

for _role in (*FRAMEWORK_ROLES["aiohttp"], *FRAMEWORK_ROLES["tornado"]):
    FOLLOW_UPS[_role] = {(State.OPEN, Event.PEER_CLOSE): (Event.TRANSPORT_EOF,)}


#: Roles of transport adapters written outside wsstate, by name
#: (:func:`register_adapter_role`; :func:`wsstate.testing.check_adapter` registers
#: the role it checks). Every function of this module that takes a role takes
#: their names too.
ADAPTER_ROLES: Final[dict[str, AdapterRole]] = {}

#: Pairs an adapter role's runtime was seen to take, per role (kept apart from the
#: built-in roles' :func:`coverage`, which this project's reports print).
ADAPTER_COVERAGE: Final[dict[str, set[tuple[State, Event]]]] = {}

_GUARDED_OPEN_ADAPTER: Final = (
    "the harness guards the adapter's transport open (GuardedConnection(..., "
    "opened=True)): no application-side handshake, every accept() is app_accept"
)


#: The events no driver makes, with why, as an adapter role's report gives them.
_UNDRIVEN_ADAPTER: Final[dict[Event, str]] = {
    Event.PEER_CLOSE_INVALID: (
        "not driven: the raw peer sends no Close frame with an invalid code or reason"
    ),
    Event.PEER_PROTOCOL_ERROR: (
        "not driven: the raw peer's protocol violation is a reserved opcode, which the "
        "transport library answers with its own Close (library_close_peer_fault)"
    ),
    Event.LIBRARY_CLOSE: (
        "not driven: the harness's server handler returns (and the library may close on "
        "its own) only once the guarded connection is CLOSED"
    ),
}


def register_adapter_role(role: AdapterRole) -> None:
    """Make ``role`` (an adapter written outside wsstate) a role of this harness, by its
    name; a role registered before under that name is replaced."""
    if not isinstance(role, AdapterRole):
        raise TypeError(f"register_adapter_role takes an AdapterRole, not {role!r}")
    ADAPTER_ROLES[role.name] = role


def not_drivable(role: Role | str) -> dict[tuple[State, Event], str]:
    """The pairs ``role`` cannot drive, with the reasons (:data:`FED_AS`'s not included)."""
    adapter = ADAPTER_ROLES.get(role)
    if adapter is not None:
        # The reasons worded for websockets are worded for any adapter here.
        base = {
            k: why
            for k, why in NOT_DRIVABLE.items()
            if k[0] is not State.CONNECTING and k[1] not in _UNDRIVEN_ADAPTER
        }
        guarded_open = {(State.CONNECTING, e): _GUARDED_OPEN_ADAPTER for e in Event}
        accept_again = {(s, Event.APP_ACCEPT_AGAIN): _GUARDED_OPEN_ADAPTER for s in State}
        undriven = {(s, e): why for e, why in _UNDRIVEN_ADAPTER.items() for s in State}
        return {**base, **undriven, **guarded_open, **accept_again, **adapter.not_drivable}
    if role in ASGI_IMPLS:
        return {**NOT_DRIVABLE, **ASGI_NOT_DRIVABLE[role]}
    if role in FRAMEWORK_NOT_DRIVABLE:
        return {**NOT_DRIVABLE, **FRAMEWORK_NOT_DRIVABLE[role]}
    return {**NOT_DRIVABLE, **WEBSOCKETS_NOT_DRIVABLE}


def follow_ups(role: Role | str) -> dict[tuple[State, Event], tuple[Event, ...]]:
    """The events ``role``'s adapter feeds together with a driven one (see :data:`FOLLOW_UPS`)."""
    adapter = ADAPTER_ROLES.get(role)
    if adapter is not None:
        return dict(adapter.follow_ups)
    return FOLLOW_UPS.get(cast(Role, role), {})


def fed_as(role: Role | str) -> dict[tuple[State, Event], tuple[Event, str]]:
    """The driven events ``role``'s adapter feeds as another, with why (see :data:`FED_AS`)."""
    adapter = ADAPTER_ROLES.get(role)
    if adapter is not None:
        return dict(adapter.fed_as)
    return FED_AS.get(cast(Role, role), {})


def _advance(role: Role | str, state: State, event: Event) -> tuple[list[Event], State | None]:
    """The events the model takes for ``event`` in ``state`` (follow-ups too), and the end."""
    fed = fed_as(role).get((state, event))
    if fed is not None:
        event = fed[0]
    taken = [event]
    end = TABLE[(state, event)].next
    if end is None:
        return taken, None
    for extra in follow_ups(role).get((state, event), ()):
        nxt = TABLE[(end, extra)].next
        assert nxt is not None, f"follow-up {extra} impossible in {end}"
        taken.append(extra)
        end = nxt
    return taken, end


def _moves(state: State, events: tuple[Event, ...]) -> list[tuple[State, Event, State]]:
    """The transitions that change the state, taking ``events`` from ``state``."""
    moves = []
    for event in events:
        end = TABLE[(state, event)].next
        assert end is not None
        if end is not state:
            moves.append((state, event, end))
        state = end
    return moves


#: Pairs run concurrently by the generated concurrency rules.
CONCURRENT_PAIRS: Final[tuple[tuple[Event, Event], ...]] = (
    (Event.APP_SEND, Event.APP_CLOSE),
    (Event.APP_CLOSE, Event.APP_CLOSE),
    (Event.APP_SEND, Event.APP_ABORT),
    (Event.APP_CLOSE, Event.TRANSPORT_ERROR),
    (Event.APP_SEND, Event.TRANSPORT_ERROR),
    (Event.APP_CLOSE, Event.PEER_CLOSE),
)

_VALID_CODES: Final = (1000, 1001, 1008, 1011, 3000, 4000, 4999)
_INVALID_CODES: Final = (999, 1004, 1005, 1006, 1015, 2999, 5000)


#: Event-loop turns :func:`wait_until` yields before it starts to poll on the clock.
SPIN_TURNS: Final = 200


async def wait_until(predicate: Callable[[], bool], limit: float, poll: float = 0.001) -> bool:
    """Wait until ``predicate`` holds or ``limit`` seconds pass; return whether it held.

    The conditions are the observable state of real objects (a connection's
    state, a queue's length) that offer nothing to wait on; everything that can
    change them runs in this event loop (the guarded side, the proxy, the raw
    peer), so the wait first lets the loop turn (up to :data:`SPIN_TURNS`
    turns, each one handling whatever I/O is ready), and only then polls every
    ``poll`` seconds (a wall-clock timer is due, or the machine is loaded).
    """
    for _ in range(SPIN_TURNS):
        if predicate():
            return True
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def quiesce(max_turns: int = 1000) -> int:
    """Let the event loop run until it has nothing to do; return the turns it took.

    Idle means two turns in a row with no callback ready and no socket ready
    for reading or writing: every byte written on loopback has been read and
    handled by its receiver (guarded side, proxy and raw peer all run in this
    loop), and whatever that made them write too. This replaces sleeping "long
    enough" for sockets to settle. Timers are not waited for (the connection's
    run on the harness's clock; the few on the wall clock, the keepalive's pong
    timeout and the write timeout, are waited for by the steps that start them).
    On a loop that is not asyncio's selector loop it falls back to a 2 ms sleep.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    selector = getattr(loop, "_selector", None)
    if ready is None or selector is None:
        await asyncio.sleep(0.002)
        return 0
    idle = 0
    for turn in range(1, max_turns + 1):
        await asyncio.sleep(0)
        if ready or selector.select(0):
            idle = 0
        else:
            idle += 1
            if idle >= 2:
                return turn
    return max_turns


class Model:
    """The model: the generated ``ConnectionChart``'s answers, one state at a time.

    The chart is a pure function of (state, event) (no guards, no data): each
    pair's answer is asked of a real chart the first time it is needed in this
    process (a fresh chart replays this model's events, then takes the new
    one; an event the table calls impossible raises as the chart does) and
    remembered, so a harness does not pay python-statemachine's ~1 ms to build
    a chart per connection and ~0.3 ms per event.
    """

    _answers: ClassVar[dict[tuple[State, Event], State]] = {}

    def __init__(self) -> None:
        self.state = State.CONNECTING
        self.events: list[Event] = []

    @property
    def current_state_value(self) -> State:
        """The state (as the chart names it)."""
        return self.state

    def fire(self, event: Event) -> State:
        """Take ``event``; return the new state."""
        key = (self.state, event)
        end = self._answers.get(key)
        if end is None:
            chart = ConnectionChart()
            for earlier in self.events:
                getattr(chart, earlier.value)()
            getattr(chart, event.value)()
            value = chart.current_state_value
            assert isinstance(value, State)
            end = self._answers[key] = value
        self.events.append(event)
        self.state = end
        return end


def open_site(role: Role | str, timing: Timing | None = None) -> Site:
    """A new (not yet opened) site for ``role``: ``await site.open()``, later ``site.close()``."""
    t = timing if timing is not None else TIMING
    adapter = ADAPTER_ROLES.get(role)
    if adapter is not None:
        return AdapterSite(adapter, settle=t.settle, library_close_timeout=t.library_close_timeout)
    site: Site = SITES[role](settle=t.settle, library_close_timeout=t.library_close_timeout)
    return site


# -- choices -----------------------------------------------------------------------


class Choices:
    """Where drivers get their arbitrary values (payloads, codes, send or try_send)."""

    def text(self) -> str:
        """A message."""
        raise NotImplementedError

    def flag(self) -> bool:
        """A yes/no choice."""
        raise NotImplementedError

    def choice(self, options: tuple[int, ...]) -> int:
        """One of ``options``."""
        raise NotImplementedError


class FirstChoices(Choices):
    """Deterministic choices, for tours and replays."""

    def __init__(self) -> None:
        self.n = 0

    def text(self) -> str:
        self.n += 1
        return f"message {self.n}"

    def flag(self) -> bool:
        self.n += 1
        return self.n % 2 == 0

    def choice(self, options: tuple[int, ...]) -> int:
        self.n += 1
        return options[self.n % len(options)]


class HypothesisChoices(Choices):
    """Choices drawn by Hypothesis (``data`` is the rule's ``st.data()`` value)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def text(self) -> str:
        from hypothesis import strategies as st

        return str(self.data.draw(st.text(max_size=24)))

    def flag(self) -> bool:
        from hypothesis import strategies as st

        return bool(self.data.draw(st.booleans()))

    def choice(self, options: tuple[int, ...]) -> int:
        from hypothesis import strategies as st

        return int(self.data.draw(st.sampled_from(options)))


class RandomChoices(Choices):
    """Choices from a seeded ``random.Random``, for walks (:func:`run_walk`)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self) -> str:
        return f"message {self.rng.randrange(1_000_000)}"

    def flag(self) -> bool:
        return self.rng.random() < 0.5

    def choice(self, options: tuple[int, ...]) -> int:
        return self.rng.choice(options)


# -- coverage -------------------------------------------------------------------------

#: Examples (harnesses started) and steps driven in this process.
STATS: Final[dict[str, int]] = {"examples": 0, "steps": 0}

#: Pairs the runtime was seen to take while a harness drove it, per role.
_SEEN: Final[dict[str, set[tuple[State, Event]]]] = {role: set() for role in SITES}


def coverage() -> dict[str, set[tuple[State, Event]]]:
    """Pairs seen so far in this process, per role."""
    return _SEEN


def drivable_pairs(role: Role | str = "server") -> list[tuple[State, Event]]:
    """Possible pairs of the table that the harness can drive for ``role``, in table order."""
    excluded = {**not_drivable(role), **fed_as(role)}
    return [
        key
        for key, row in TABLE.items()
        if row.next is not None and key not in excluded and key[1] in DRIVERS
    ]


def coverage_report() -> str:
    """``transition coverage: covered/drivable`` per role, and every pair not driven, why."""
    lines = []
    for role, seen in _SEEN.items():
        if not seen:
            continue
        drivable = drivable_pairs(role)
        covered = [p for p in drivable if p in seen]
        missing = [p for p in drivable if p not in seen]
        lines.append(
            f"transition coverage ({role}): {len(covered)}/{len(drivable)} drivable pairs"
            + (f"; not reached: {', '.join(f'{s}/{e}' for s, e in missing)}" if missing else "")
        )
    if not lines:
        return ""
    drivable = drivable_pairs()
    impossible = [k for k, r in TABLE.items() if r.next is None]
    lines.append(
        f"{len(TABLE)} pairs in the table: {len(drivable)} drivable, {len(impossible)} "
        f"impossible by the table, {len(TABLE) - len(drivable) - len(impossible)} not drivable:"
    )
    for (state, event), row in TABLE.items():
        if row.next is None:
            continue
        if (state, event) in NOT_DRIVABLE:
            lines.append(f"  {state}/{event}: {NOT_DRIVABLE[(state, event)]}")
        elif (state, event) in WEBSOCKETS_NOT_DRIVABLE:
            why = WEBSOCKETS_NOT_DRIVABLE[(state, event)]
            lines.append(f"  {state}/{event} (websockets roles): {why}")
        elif event not in DRIVERS:
            lines.append(f"  {state}/{event}: no driver for this event")
    for role, extra in ASGI_NOT_DRIVABLE.items():
        if not _SEEN[role]:
            continue
        added = {
            k: v for k, v in extra.items() if TABLE[k].next is not None and k not in NOT_DRIVABLE
        }
        lines.append(
            f"{role} (Starlette on uvicorn, ws={ASGI_IMPLS[role]!r}): "
            f"{len(drivable_pairs(role))} drivable; also not drivable:"
        )
        whole = {State.CLOSING, State.CLOSE_RECEIVED}
        for state in sorted(whole, key=list(State).index):
            lines.append(f"  {state}/*: {extra[(state, Event.APP_SEND)]}")
        lines.extend(f"  {s}/{e}: {r}" for (s, e), r in added.items() if s not in whole)
        for (s, e), extras in follow_ups(role).items():
            fed = ", ".join(x.value for x in extras)
            lines.append(f"  {s}/{e} is fed with {fed} (one ASGI message): the model takes both")
    for role, extra in FRAMEWORK_NOT_DRIVABLE.items():
        if not _SEEN[role]:
            continue
        added = {
            k: v
            for k, v in extra.items()
            if TABLE[k].next is not None
            and k not in NOT_DRIVABLE
            and k[0] is not State.CLOSE_RECEIVED
            and k[1] is not Event.APP_ACCEPT_AGAIN
        }
        lines.append(
            f"{role} ({role_doc(role)[len('The guarded side is ') : -1]}): "
            f"{len(drivable_pairs(role))} drivable; also not drivable:"
        )
        lines.append(f"  */app_accept_again: {_GUARDED_OPEN}")
        lines.append(f"  CLOSE_RECEIVED/*: {_CLOSE_RECEIVED_FRAMEWORK}")
        lines.extend(f"  {s}/{e}: {r}" for (s, e), r in added.items())
        for (s, e), (fed, why) in fed_as(role).items():
            lines.append(f"  {s}/{e} is driven, fed as {fed.value}: {why}")
        for (s, e), extras in follow_ups(role).items():
            more = ", ".join(x.value for x in extras)
            lines.append(f"  {s}/{e} is fed with {more}: the model takes both")
    return "\n".join(lines)


class _Transitions(logging.Handler):
    """Collects the runtime's transitions and any record at ERROR or above."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.name_ = name
        self.taken: list[tuple[State, Event, State]] = []
        self.errors: list[logging.LogRecord] = []

    def describe(self) -> str:
        """The ERROR records, formatted with their tracebacks."""
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        return "\n".join(formatter.format(r) for r in self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record)
        transition = getattr(record, "wsstate_transition", None)
        if transition is not None and transition[0] == self.name_:
            self.taken.append((transition[1], transition[2], transition[3]))


# -- the harness --------------------------------------------------------------------------


@dataclass
class _Pending:
    """An operation started but not finished (close waits for CLOSED)."""

    task: asyncio.Task[Any]
    expected: object


@dataclass
class Harness:
    """One guarded connection, its raw peer and the proxy between them.

    With ``site``, the connection is opened through that open
    :class:`~wsstate.testing.sites.Site` (its server and proxy serve the
    harnesses one after the other; the caller closes it); without, the harness
    opens a site of its own and closes it in :meth:`stop`.
    """

    role: Role | str
    timing: Timing = TIMING
    site: Site | None = None
    conn: GuardedConnection = field(init=False)
    peer: RawPeer = field(init=False)
    steps: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Open the connection; the model starts in OPEN (handshake_ok taken)."""
        STATS["examples"] += 1
        t = self.timing
        self._own_site: Site | None = None
        if self.site is None:
            self._site_baseline = ResourceSnapshot.take()
            self.site = self._own_site = open_site(self.role, t)
            await self.site.open()
        site = self.site
        # The site's: its server and proxy are part of what must be back at the end
        # (each connection before this one was checked against it too).
        self.baseline = site.baseline
        self.watch = site.watch
        self._watch_calls = len(site.watch.calls)
        self.name = f"stateful-{self.role}-{id(self):x}"
        self.handler = _Transitions(self.name)
        self.logger = logging.getLogger("wsstate")
        self._old_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self.handler)
        self.model = Model()
        self.model.fire(Event.HANDSHAKE_OK)
        #: The model's transitions that changed its state, for the runtime's to
        #: match (:meth:`check`).
        self.model_moves: list[tuple[State, Event, State]] = [
            (State.CONNECTING, Event.HANDSHAKE_OK, State.OPEN)
        ]
        self.pending: deque[str | bytes] = deque()
        self.waiting: list[_Pending] = []
        self.closed_calls = 0
        self.closed_steps = 0
        self.first_close_code: int | None = None
        self.not_drivable = not_drivable(self.role)
        self.follow_ups = follow_ups(self.role)
        # The connection's timers wait for the timer rules (module doc); their
        # delays tell them apart.
        assert t.close_timeout != t.ping_interval, "the harness tells timers apart by delay"
        self.clock: ManualTimers = manual_timers(asyncio.get_running_loop())
        options: dict[str, Any] = {
            "ping_interval": t.ping_interval,
            "ping_timeout": t.ping_timeout,
            "close_timeout": t.close_timeout,
            "write_timeout": t.write_timeout,
            "name": self.name,
        }
        self.conn, self.peer, self.pair = await site.connect(options)
        assert site.proxy is not None
        self.proxy = site.proxy
        self.out_direction = site.out_direction
        self.conn.on_close(self._on_closed)

    def _on_closed(self, conn: GuardedConnection) -> None:
        self.closed_calls += 1

    @property
    def chart(self) -> Model:
        """The model (kept under its former name)."""
        return self.model

    # -- the model ---------------------------------------------------------------

    @property
    def model_state(self) -> State:
        """The model's state."""
        return self.model.state

    #: Steps allowed in CLOSED before only ``reopen`` is left (keeps exploration alive).
    closed_step_limit: ClassVar[int] = 3

    def enabled(self, event: Event) -> bool:
        """True if ``event`` can be driven now (the model's state and the driver agree)."""
        state = self.model_state
        if state is State.CLOSED and self.closed_steps >= self.closed_step_limit:
            return False
        if (
            TABLE[(state, event)].next is None
            or (state, event) in self.not_drivable
            or event not in DRIVERS
        ):
            return False
        check = _PRECONDITIONS.get(event)
        return check is None or check(self)

    def fire(self, event: Event) -> None:
        """Advance the model by ``event``."""
        start = self.model.state
        end = self.model.fire(event)
        if end is not start:
            self.model_moves.append((start, event, end))
        self.steps.append(f"{event.value} -> {self.model_state.value}")

    # -- stepping ------------------------------------------------------------------

    async def step(self, event: Event, draw: Choices) -> None:
        """Drive ``event``, advance the model, check every invariant."""
        assert self.enabled(event), f"{event} not enabled in {self.model_state}"
        STATS["steps"] += 1
        if self.model_state is State.CLOSED:
            self.closed_steps += 1
        start = self.model_state
        row = TABLE[(start, event)]
        driver = DRIVERS[event]
        try:
            await driver(self, row.effects, draw)
            for taken in _advance(self.role, start, event)[0]:
                self.fire(taken)
            await self.check()
        except AssertionError as exc:
            if "; steps: " in str(exc):
                raise
            # Every failure names the steps (the model's, and the runtime's).
            raise AssertionError(
                f"{exc}; during {event.value} in {start.value}; steps: {self.steps}; "
                f"runtime took: {self.runtime_steps()}"
            ) from exc

    async def check(self) -> None:
        """The invariants that hold after every step."""
        await self._settle(self.model_state)
        # The same state by another way is a wrong event fed (a reset reported as an
        # orderly end, say): the runtime changes state as the model did, event for event.
        moves = [(s, e, n) for s, e, n in self.handler.taken if s is not n]
        assert moves == self.model_moves, (
            f"the runtime reached {self.conn.state} by "
            f"{[f'{s}/{e}' for s, e, _ in moves]}, the model by "
            f"{[f'{s}/{e}' for s, e, _ in self.model_moves]}"
        )
        problems = self.pair.tap.directions[self.out_direction].problems()
        assert not problems, f"wire ({self.out_direction.value}): {problems}"
        assert not self.handler.errors, self.handler.describe()
        assert len(self.watch.calls) == self._watch_calls, self.watch.describe()
        closed = self.model_state is State.CLOSED
        assert self.closed_calls == (1 if closed else 0), (
            f"on_close fired {self.closed_calls} times in {self.model_state}"
        )
        for pending in list(self.waiting):
            if pending.task.done():
                self.waiting.remove(pending)
                if pending.expected is None:  # concurrent: checked against serial orders
                    continue
                assert pending.task.result() == pending.expected, (
                    f"close() returned {pending.task.result()}, table says {pending.expected}"
                )

    async def _settle(self, expected: State) -> None:
        await quiesce()  # whatever the step set going has happened
        await wait_until(lambda: self.conn.state is expected, self.timing.settle)
        assert self.conn.state is expected, (
            f"runtime is {self.conn.state}, model is {expected}; steps: {self.steps}; "
            f"runtime took: {self.runtime_steps()}"
        )

    def runtime_steps(self) -> list[str]:
        """The transitions the runtime took, as the ``steps`` of the model read."""
        return [f"{s.value}/{e.value} -> {n.value}" for s, e, n in self.handler.taken]

    async def stop(self) -> None:
        """Tear the connection down (and an own site) and check that nothing leaked."""
        try:
            for pending in self.waiting:
                pending.task.cancel()
            self.conn.abort()
            await self.peer.close()
            await self.pair.reset()  # this connection's two legs; the proxy stays
            await asyncio.wait_for(self.conn.wait_closed(), self.timing.settle)
            await asyncio.wait_for(self.pair.wait_closed(), self.timing.settle)
            assert self.site is not None
            self.site.release(self.pair)
            for pending in self.waiting:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await pending.task
            await quiesce()
            assert not self.handler.errors, self.handler.describe()
            assert len(self.watch.calls) == self._watch_calls, self.watch.describe()
            await self.baseline.assert_restored(settle=2.0)
            if self._own_site is not None:
                await self._own_site.close()  # its errors, loop calls (after a collection)
                await self._site_baseline.assert_restored(settle=2.0)
        finally:
            seen = _SEEN.get(self.role)
            if seen is None:  # an adapter role's
                seen = ADAPTER_COVERAGE.setdefault(self.role, set())
            seen.update((s, e) for s, e, _ in self.handler.taken)
            logging.getLogger().removeHandler(self.handler)
            self.logger.setLevel(self._old_level)
            if self._own_site is not None:
                await self._own_site.close()  # idempotent: after a failure above

    # -- concurrency -------------------------------------------------------------

    def enabled_concurrently(self, a: Event, b: Event) -> bool:
        """True if ``a`` and ``b`` can be started together now."""
        state = self.model_state
        if state is State.CLOSED:
            return False
        for event in (a, b):
            if TABLE[(state, event)].next is None or (state, event) in self.not_drivable:
                return False
            check = _PRECONDITIONS.get(event)
            if check is not None and not check(self):
                return False
        return True

    async def step_concurrently(self, a: Event, b: Event, draw: Choices) -> None:
        """Start ``a`` and ``b`` together; the result must match one of their serial orders."""
        start = self.model_state
        orders = []
        for first, second in ((a, b), (b, a)):
            if (start, first) in self.not_drivable:
                continue
            taken1, middle = _advance(self.role, start, first)
            if middle is None:
                continue
            taken2, end = _advance(self.role, middle, second)
            if end is None:
                continue
            orders.append((taken1, taken2, end))
        assert orders, f"no serial order of {a}, {b} is possible in {start}"
        results: dict[int, Any] = {}

        async def run(index: int, event: Event) -> None:
            results[index] = await _CONCURRENT[event](self, draw)

        await asyncio.gather(run(0, a), run(1, b))
        await quiesce()
        await self._settle_any({end for _, _, end in orders})
        real = self.conn.state
        # Two orders may end in the same state by different moves: the model takes
        # the one the runtime took, if it is one of them (check() compares moves).
        moves = [(s, e, n) for s, e, n in self.handler.taken if s is not n]
        matching = [o for o in orders if o[2] is real]
        matching.sort(key=lambda o: self.model_moves + _moves(start, (*o[0], *o[1])) != moves)
        for taken1, taken2, _end in matching[:1]:
            for taken in (*taken1, *taken2):
                self.fire(taken)
        if not matching:
            raise AssertionError(
                f"{a} || {b} from {start} ended in {real}; serial orders give "
                f"{[([e.value for e in (*f, *s)], end.value) for f, s, end in orders]}"
            )
        for index, event in ((0, a), (1, b)):
            if event is Event.APP_SEND:
                assert results[index] in (True, False)
        await self.check()

    async def _settle_any(self, states: set[State]) -> None:
        await quiesce()
        await wait_until(lambda: self.conn.state in states, self.timing.settle)

    @property
    def peer_closed(self) -> bool:
        """True once the raw peer sent its Close."""
        return self.peer.close_sent


# -- drivers --------------------------------------------------------------------------------

Driver = Callable[[Harness, tuple[Effect, ...], Choices], Awaitable[None]]


async def _turns(awaitable: Awaitable[Any], limit: float) -> tuple[Any, int]:
    """Await ``awaitable``; return its result and how many event-loop turns it took.

    Failing fast is counted in turns, not seconds: a loaded machine makes a turn
    slow, not more numerous, and an operation that waits for the peer or a timer
    takes many turns (this counter keeps the loop turning).
    """
    loop = asyncio.get_running_loop()
    turns = 0
    handle: asyncio.Handle | None = None

    def tick() -> None:
        nonlocal turns, handle
        turns += 1
        handle = loop.call_soon(tick)

    handle = loop.call_soon(tick)
    try:
        async with asyncio.timeout(limit):  # no task of its own: no turn of its own
            result = await awaitable
    finally:
        handle.cancel()
    return result, turns


async def _send(h: Harness, text: str) -> bool:
    """``send()`` as ``try_send()``: False where it raised ConnectionClosed."""
    try:
        await h.conn.send(text)
    except ConnectionClosed:
        return False
    return True


async def _app_send(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    text = draw.text()
    use_send = draw.flag()
    if use_send:  # raising counts its turns too: a send may not wait, then raise
        ok, turns = await _turns(_send(h, text), h.timing.settle)
    else:
        ok, turns = await _turns(h.conn.try_send(text), h.timing.settle)
    if Effect.TRANSMIT in effects:
        assert ok is True, f"send in {h.model_state}: table says transmit, runtime dropped"
    else:
        assert Effect.DROP in effects
        assert ok is False, f"send in {h.model_state}: table says drop, runtime sent"
        assert turns <= h.timing.fail_fast_turns, (
            f"a dropped send took {turns} event-loop turns (fail fast)"
        )


async def _app_ping(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    ok = await asyncio.wait_for(h.conn.ping(), h.timing.settle)
    # ASGI has no ping message: the row applies, but ping() reports nothing sent.
    adapter = ADAPTER_ROLES.get(h.role)
    expected = (
        Effect.TRANSMIT_PING in effects
        and h.role not in ASGI_IMPLS
        and (adapter is None or adapter.has_ping)
    )
    assert ok is expected, f"ping returned {ok} in {h.model_state}"


async def _app_recv(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    if h.pending:
        expected = h.pending.popleft()
        got = await asyncio.wait_for(h.conn.recv(), h.timing.settle)
        assert got == expected, f"recv returned {got!r}, expected {expected!r} (in order)"
        return
    assert Effect.READ_BUFFERED in effects, "recv with nothing pending only where it cannot block"
    with contextlib.suppress(ConnectionClosed):
        got = await asyncio.wait_for(h.conn.recv(), h.timing.settle)
        raise AssertionError(f"recv returned {got!r} after everything was delivered")


async def _app_close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    code = draw.choice(_VALID_CODES)
    task = asyncio.get_running_loop().create_task(h.conn.close(code, "bye"))
    await asyncio.sleep(0)  # the table's row applies before close() first waits
    await asyncio.sleep(0)
    h.waiting.append(_Pending(task, Effect.RETURN_TRUE in effects))
    if Effect.EMIT_CLOSE_FRAME in effects and h.first_close_code is None:
        h.first_close_code = code


async def _app_close_invalid(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    code = draw.choice(_INVALID_CODES)
    before = h.conn.state
    try:
        await h.conn.close(code)
    except InvalidCloseArgs:
        assert Effect.RAISE_INVALID_CLOSE_ARGS in effects
    else:
        raise AssertionError(f"close({code}) did not raise")
    assert h.conn.state is before, "an invalid close changed the state"


async def _app_accept(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    try:
        result = await asyncio.wait_for(h.conn.accept(), h.timing.settle)
    except InvalidState:
        assert Effect.RAISE_INVALID_STATE in effects, "accept() raised; the table says it may not"
        return
    assert Effect.RAISE_INVALID_STATE not in effects, "accept() did not raise (API misuse)"
    assert result is (Effect.RETURN_TRUE in effects), f"accept() returned {result}"


async def _app_abort(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    result = h.conn.abort()
    assert result is (Effect.RETURN_TRUE in effects), f"abort returned {result}"


def _received(h: Harness) -> Callable[[], int]:
    """How many received messages wait for ``recv`` on the guarded side, as a probe."""
    transport = h.conn.transport
    adapter = ADAPTER_ROLES.get(h.role)
    if adapter is not None and adapter.queued is not None:
        queued = adapter.queued
        return lambda: queued(transport)
    if hasattr(transport, "queued"):  # Starlette, aiohttp, tornado: the adapter's queue
        return lambda: transport.queued
    if adapter is not None:
        raise TypeError(
            f"role {h.role!r}: {type(transport).__qualname__} has no 'queued' (received "
            "messages waiting for recv()); give AdapterRole(queued=...)"
        )
    queue = h.conn.transport.connection.recv_messages.frames  # type: ignore[attr-defined]
    return lambda: len(queue)


async def _peer_data(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    text = draw.text()
    received = _received(h)
    before = received()
    await h.peer.send_text(text)
    if Effect.DELIVER in effects:
        h.pending.append(text)
        await wait_until(lambda: received() > before, h.timing.settle, poll=0.002)
        assert received() > before, f"the message did not arrive within {h.timing.settle} s"


async def _peer_close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.peer.send_close(draw.choice(_VALID_CODES), "peer")


async def _peer_garbage(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.peer.send_garbage()  # websockets fails the connection with 1002


async def _transport_eof(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.pair.fin()


async def _transport_error(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.pair.reset()


async def _transport_stalled(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.pair.slow_reader(True, h.out_direction)
    payload = b"x" * 262144
    for _ in range(400):
        if not await h.conn.try_send(payload):
            break
    else:
        raise AssertionError("the slow reader never stalled the sender")
    h.pair.slow_reader(False, h.out_direction)


async def _keepalive_timeout(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    # The peer is half-open (a black hole), then the keepalive's next ping is due:
    # its pong cannot come, so the pong timeout is the only way out of OPEN.
    h.pair.blackhole(True)
    t = h.timing
    fired = h.clock.fire(t.ping_interval)
    assert fired == 1, f"{fired} keepalive timers armed in {h.model_state} (one)"
    await wait_until(lambda: h.conn.state is not State.OPEN, t.ping_timeout + t.settle, poll=0.001)
    h.pair.blackhole(False)


async def _close_timeout(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    fired = h.clock.fire(h.timing.close_timeout)
    assert fired == 1, f"{fired} close timers armed in {h.model_state}; the table arms one"


#: How each drivable event is made to happen for real.
DRIVERS: Final[dict[Event, Driver]] = {
    Event.APP_SEND: _app_send,
    Event.APP_PING: _app_ping,
    Event.APP_RECV: _app_recv,
    Event.APP_CLOSE: _app_close,
    Event.APP_CLOSE_INVALID: _app_close_invalid,
    Event.APP_ABORT: _app_abort,
    Event.APP_ACCEPT: _app_accept,
    Event.APP_ACCEPT_AGAIN: _app_accept,
    Event.PEER_DATA: _peer_data,
    Event.PEER_CLOSE: _peer_close,
    Event.LIBRARY_CLOSE_PEER_FAULT: _peer_garbage,
    Event.TRANSPORT_EOF: _transport_eof,
    Event.TRANSPORT_ERROR: _transport_error,
    Event.TRANSPORT_STALLED: _transport_stalled,
    Event.KEEPALIVE_TIMEOUT: _keepalive_timeout,
    Event.CLOSE_TIMEOUT: _close_timeout,
}


_PRECONDITIONS: Final[dict[Event, Callable[[Harness], bool]]] = {
    # recv in OPEN/CLOSING blocks until a message comes: only with one pending.
    Event.APP_RECV: lambda h: (
        bool(h.pending) or h.model_state in (State.CLOSE_RECEIVED, State.CLOSED)
    ),
    # The peer acts until it sent its Close (its TCP connection is up until CLOSED,
    # where no peer event is drivable). At most 8 unread messages: past
    # websockets' receive queue (16) it stops reading the socket, pongs go unread
    # and keepalive fails - real, but not this event.
    Event.PEER_DATA: lambda h: not h.peer_closed and len(h.pending) < 8,
    Event.PEER_CLOSE: lambda h: not h.peer_closed,
    Event.LIBRARY_CLOSE_PEER_FAULT: lambda h: not h.peer_closed,
    # transport_eof and transport_error are always enabled where the table allows
    # them: a FIN or an RST on a connection already ended is a no-op of the proxy,
    # and when the connection ends after CLOSED is a matter of time.
}


async def _c_send(h: Harness, draw: Choices) -> object:
    return await h.conn.try_send("concurrent")


async def _c_close(h: Harness, draw: Choices) -> object:
    task = asyncio.get_running_loop().create_task(h.conn.close(1000, "concurrent"))
    await asyncio.sleep(0)
    h.waiting.append(_Pending(task, None))
    return None


async def _c_abort(h: Harness, draw: Choices) -> object:
    return h.conn.abort()


async def _c_reset(h: Harness, draw: Choices) -> object:
    await h.pair.reset()
    return None


async def _c_peer_close(h: Harness, draw: Choices) -> object:
    await h.peer.send_close(1000, "concurrent")
    return None


_CONCURRENT: Final[dict[Event, Callable[[Harness, Choices], Awaitable[object]]]] = {
    Event.APP_SEND: _c_send,
    Event.APP_CLOSE: _c_close,
    Event.APP_ABORT: _c_abort,
    Event.TRANSPORT_ERROR: _c_reset,
    Event.PEER_CLOSE: _c_peer_close,
}


def tour(role: Role | str = "server") -> Iterator[tuple[State, Event, list[Event]]]:
    """For every drivable pair, a shortest path of drivable events from OPEN to its state."""
    excluded = not_drivable(role)
    paths: dict[State, list[Event]] = {State.OPEN: []}
    queue: deque[State] = deque([State.OPEN])
    # Paths use the gentle events only, so the transport is still up at the end
    # (a fault at the end of the path must have a live connection to hit).
    while queue:
        state = queue.popleft()
        for event in (Event.APP_CLOSE, Event.PEER_CLOSE):
            end = _advance(role, state, event)[1]
            if end is None or (state, event) in excluded:
                continue
            if end not in paths:
                paths[end] = [*paths[state], event]
                queue.append(end)
    for state, event in drivable_pairs(role):
        yield state, event, paths[state]


async def run_tour_pair(
    role: Role | str,
    state: State,
    event: Event,
    path: list[Event],
    site: Site | None = None,
    timing: Timing = TIMING,
) -> set[tuple[State, Event]]:
    """Drive ``path`` from OPEN, then ``event``, in a fresh harness; raise on any violation.

    With ``site`` (open, for ``role``), the connection is opened through it.
    Returns the pairs the runtime was seen to take.
    """
    h = Harness(role, timing, site=site)
    await h.start()
    try:
        choices = FirstChoices()
        for step in path:
            await h.step(step, choices)
        if not h.enabled(event) and event is Event.APP_RECV:
            await h.step(Event.PEER_DATA, choices)
        assert h.model_state is state, f"tour reached {h.model_state}, wanted {state}"
        assert h.enabled(event), f"{event} is not enabled in {state} after {h.steps}"
        await h.step(event, choices)
    finally:
        await h.stop()
    return {(s, e) for s, e, _ in h.handler.taken}


async def run_tour(role: Role | str, *, stop_at_first_failure: bool = False) -> list[str]:
    """Drive every drivable pair once (each a fresh connection); return the failures.

    The connections go one after the other through one site (server and
    proxy), closed and checked at the end. A pair the runtime did not take as
    the model did is a failure too.
    """
    failures: list[str] = []
    site = open_site(role)
    await site.open()
    try:
        for state, event, path in tour(role):
            try:
                seen = await run_tour_pair(role, state, event, path, site)
            except Exception as exc:  # a failed check or a crash: both are findings
                failures.append(f"{state}/{event} via {[e.value for e in path]}: {exc!r}")
            else:
                if (state, event) not in seen:
                    failures.append(f"{state}/{event}: the runtime did not take this pair")
            if failures and stop_at_first_failure:
                break
    finally:
        try:
            await site.close()
        except AssertionError as exc:
            failures.append(f"{role} site: {exc}")
    return failures


async def run_walk(
    role: Role | str,
    steps: int,
    *,
    seed: int = 0,
    site: Site | None = None,
    timing: Timing = TIMING,
) -> int:
    """Drive ``steps`` steps of a seeded random walk; return the connections it opened.

    Each step is one event drawn among those enabled (every drivable event,
    timers included), driven and checked as the generated rules do
    (:meth:`Harness.step`); in CLOSED, reopening is drawn as one more choice
    (the generated ``reopen`` rule): the connection is stopped (its teardown
    checks) and a fresh one opened; at the harness's limit of CLOSED steps, it
    is the only one. With ``site``
    (open, for ``role``) the connections go through it; else through one of
    the walk's own, closed at the end. Raises on the first violation.
    """
    rng = random.Random(seed)
    choices = RandomChoices(rng)
    own = site is None
    if site is None:
        site = open_site(role, timing)
        await site.open()
    h: Harness | None = None
    opened = 0
    try:
        for _ in range(steps):
            enabled = [] if h is None else [e for e in DRIVERS if h.enabled(e)]
            # In CLOSED, reopen is one more rule to draw, as in the generated tests.
            if (
                h is not None
                and enabled
                and h.model_state in TERMINAL
                and rng.randrange(len(enabled) + 1) == len(enabled)
            ):
                enabled = []
            if h is None or not enabled:
                if h is not None:
                    await h.stop()
                h = Harness(role, timing, site=site)
                await h.start()
                opened += 1
                enabled = [e for e in DRIVERS if h.enabled(e)]
            await h.step(rng.choice(enabled), choices)
        last, h = h, None
        if last is not None:
            await last.stop()
    except BaseException:
        # The first violation is the finding: teardown failures after it are not.
        if h is not None:
            with contextlib.suppress(Exception):
                await h.stop()
        if own:
            with contextlib.suppress(Exception):
                await site.close()
        raise
    if own:
        await site.close()
    return opened


#: The ASGI roles run this share of a profile's examples: each starts a uvicorn.
ASGI_EXAMPLES_SHARE: Final = 0.5


def asgi_settings(profile: Any) -> Any:
    """``profile`` (Hypothesis settings) with the ASGI roles' share of its examples."""
    from hypothesis import settings

    examples = max(1, int(profile.max_examples * ASGI_EXAMPLES_SHARE))
    return settings(profile, max_examples=examples)


def role_settings(role: Role, profile: Any) -> Any:
    """The Hypothesis settings ``role``'s generated test class runs with."""
    return asgi_settings(profile) if role in ASGI_IMPLS else profile


_ROLE_DOCS: Final[dict[Role, str]] = {
    "aiohttp-server": "an aiohttp web.WebSocketResponse, guarded after prepare()",
    "aiohttp-client": "an aiohttp ClientSession.ws_connect connection",
    "tornado-server": "a plain tornado WebSocketHandler, guarded in open()",
    "tornado-client": "a tornado websocket_connect connection",
}


def role_doc(role: Role | str) -> str:
    """One line on what the guarded side is in ``role``."""
    adapter = ADAPTER_ROLES.get(role)
    if adapter is not None:
        return f"The guarded side is {adapter.doc or f'a {adapter.side} of role {role!r}'}."
    impl = ASGI_IMPLS.get(cast(Role, role))
    if impl is not None:
        return f"The guarded side is a Starlette endpoint on uvicorn (ws={impl!r})."
    if role in _ROLE_DOCS:
        return f"The guarded side is {_ROLE_DOCS[role]}."
    return f"The guarded side is a websockets {role}."


def class_name(role: Role) -> str:
    """The generated machine class of ``role``: ServerSide, ClientSide, AsgiWsprotoSide..."""
    return "".join(part.capitalize() for part in role.split("-")) + "Side"


def register_profiles() -> None:
    """Register the Hypothesis profiles of the stateful tests: ``ci``, ``seeded``, ``long``.

    ``ci`` keeps the stateful part of ``make test`` within a few minutes; ``long``
    is for campaigns (``wsstate fuzz``). Real sockets make steps slow and timing
    varied, so there is no deadline and the too-slow health check is off.
    """
    from hypothesis import HealthCheck, settings

    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    }
    settings.register_profile("ci", max_examples=40, stateful_step_count=15, **common)
    # ci without the example database: the seed alone decides a run, so
    # ``pytest --hypothesis-seed=S`` replays it (make flake-check prints that).
    settings.register_profile(
        "seeded",
        max_examples=40,
        stateful_step_count=15,
        database=None,
        print_blob=True,
        **common,
    )
    settings.register_profile("long", max_examples=100_000, stateful_step_count=30, **common)
