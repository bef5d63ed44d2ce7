"""The harness behind the generated stateful tests: real sockets, the table as oracle.

Theory of operation
-------------------

A :class:`Harness` builds one real connection for a role:

* ``server``: a real websockets server guards each connection with
  :func:`wsstate.guard`; the peer is a :class:`~wsstate.testing.peer.RawPeer`
  client;
* ``client``: the guarded side is a real websockets client, the peer a
  :class:`~wsstate.testing.peer.RawPeer` server;

with a :class:`~wsstate.testing.faultproxy.FaultProxy` between them. Each event
of the table that a test can drive has a *driver* (:data:`DRIVERS`): local
events call the :class:`~wsstate.GuardedConnection` API, peer events make the
raw peer act, transport events are faults of the proxy, timers are waited for
with scaled-down timeouts. The raw peer never answers a Close on its own, so
every move of the environment is an explicit event.

The generated python-statemachine class (``ConnectionChart``) is the model.
After every step the harness checks: the connection's state equals the model's;
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
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection, serve

from .._generated import TABLE, ConnectionChart, Effect, Event, State
from ..connection import GuardedConnection
from ..errors import ConnectionClosed, InvalidCloseArgs, InvalidState
from ..guard import guard
from .faultproxy import FaultProxy
from .loopwatch import LoopWatch
from .peer import RawPeer, RawServer
from .resources import ResourceSnapshot
from .wiretap import Direction

__all__ = [
    "CONCURRENT_PAIRS",
    "DRIVERS",
    "NOT_DRIVABLE",
    "STATS",
    "TIMING",
    "Choices",
    "FirstChoices",
    "Harness",
    "HypothesisChoices",
    "Role",
    "coverage",
    "coverage_report",
    "drivable_pairs",
    "register_profiles",
    "run_tour",
    "run_tour_pair",
    "tour",
    "wait_until",
]

Role = Literal["server", "client"]

log: Final = logging.getLogger("wsstate.testing")


@dataclass(frozen=True)
class Timing:
    """Scaled-down timeouts (seconds) the harness runs the guarded side with."""

    ping_interval: float = 0.15
    ping_timeout: float = 0.3
    close_timeout: float = 0.3
    write_timeout: float = 0.1
    #: The transport library's own close timeout: longer, so the table's timer decides.
    library_close_timeout: float = 5.0
    #: How long a step may take to reach the model's state.
    settle: float = 2.0
    #: Longest a failing-fast operation may take.
    fail_fast: float = 0.1


TIMING: Final = Timing()

_CONNECTING: Final = "the websockets adapter guards connections that are already open"
_INVALID_CLOSE: Final = (
    "websockets rejects an invalid Close frame as a protocol error: the adapter "
    "reports it as peer_protocol_error"
)

#: (state, event) pairs that are possible in the table but cannot be driven here.
NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    **{(State.CONNECTING, e): _CONNECTING for e in Event},
    **{(s, Event.PEER_CLOSE_INVALID): _INVALID_CLOSE for s in State},
    (State.CLOSING, Event.PEER_PROTOCOL_ERROR): (
        "websockets does not report a protocol error after its own Close; it "
        "surfaces as the transport loss that follows"
    ),
    (State.CLOSE_RECEIVED, Event.PEER_PROTOCOL_ERROR): (
        "websockets discards everything the peer sends after its Close"
    ),
    (State.CLOSING, Event.TRANSPORT_STALLED): (
        "the runtime reports a stall once per connection, from OPEN; a stalled "
        "Close is bounded by the close timer"
    ),
    (State.CLOSE_RECEIVED, Event.TRANSPORT_STALLED): (
        "the runtime reports a stall once per connection, from OPEN"
    ),
    (State.CLOSED, Event.PEER_DATA): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.PEER_CLOSE): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.PEER_PROTOCOL_ERROR): "no frame reaches a CLOSED connection's table",
    (State.CLOSED, Event.HANDSHAKE_OK): "the handshake happened before",
    (State.CLOSED, Event.HANDSHAKE_FAIL): "the handshake happened before",
    (State.CLOSED, Event.TRANSPORT_STALLED): "nothing is written in CLOSED",
    (State.CLOSED, Event.OPEN_TIMEOUT): "timers are cancelled on entering CLOSED",
    (State.CLOSED, Event.CLOSE_TIMEOUT): "timers are cancelled on entering CLOSED",
    (State.CLOSED, Event.KEEPALIVE_TIMEOUT): "timers are cancelled on entering CLOSED",
}

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


async def wait_until(predicate: Callable[[], bool], limit: float, poll: float = 0.005) -> bool:
    """Poll ``predicate`` until it holds or ``limit`` seconds pass; return whether it held.

    Polling is deliberate: the conditions are the observable state of real
    objects (a connection's state, a queue's length) that offer nothing to wait on.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


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


# -- coverage -------------------------------------------------------------------------

#: Examples (harnesses started) and steps driven in this process.
STATS: Final[dict[str, int]] = {"examples": 0, "steps": 0}

#: Pairs the runtime was seen to take while a harness drove it, per role.
_SEEN: Final[dict[str, set[tuple[State, Event]]]] = {"server": set(), "client": set()}


def coverage() -> dict[str, set[tuple[State, Event]]]:
    """Pairs seen so far in this process, per role."""
    return _SEEN


def drivable_pairs() -> list[tuple[State, Event]]:
    """Possible pairs of the table that the harness can drive, in table order."""
    return [
        key
        for key, row in TABLE.items()
        if row.next is not None and key not in NOT_DRIVABLE and key[1] in DRIVERS
    ]


def coverage_report() -> str:
    """``transition coverage: covered/drivable`` per role, and every pair not driven, why."""
    drivable = drivable_pairs()
    lines = []
    for role, seen in _SEEN.items():
        if not seen:
            continue
        covered = [p for p in drivable if p in seen]
        missing = [p for p in drivable if p not in seen]
        lines.append(
            f"transition coverage ({role}): {len(covered)}/{len(drivable)} drivable pairs"
            + (f"; not reached: {', '.join(f'{s}/{e}' for s, e in missing)}" if missing else "")
        )
    if not lines:
        return ""
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
        elif event not in DRIVERS:
            lines.append(f"  {state}/{event}: no driver for this event")
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
    """One guarded connection, its raw peer and the proxy between them."""

    role: Role
    timing: Timing = TIMING
    conn: GuardedConnection = field(init=False)
    peer: RawPeer = field(init=False)
    chart: ConnectionChart = field(init=False)
    steps: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Open the connection; the model starts in OPEN (handshake_ok taken)."""
        STATS["examples"] += 1
        self.baseline = ResourceSnapshot.take()
        self.watch = LoopWatch().__enter__()
        self.name = f"stateful-{self.role}-{id(self):x}"
        self.handler = _Transitions(self.name)
        self.logger = logging.getLogger("wsstate")
        self._old_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self.handler)
        self.chart = ConnectionChart()
        self.chart.handshake_ok()
        self.pending: deque[str | bytes] = deque()
        self.waiting: list[_Pending] = []
        self.closed_calls = 0
        self.closed_steps = 0
        self.first_close_code: int | None = None
        self._server: Server | None = None
        self._raw: RawServer | None = None
        t = self.timing
        options: dict[str, Any] = {
            "ping_interval": t.ping_interval,
            "ping_timeout": t.ping_timeout,
            "close_timeout": t.close_timeout,
            "write_timeout": t.write_timeout,
            "name": self.name,
        }
        if self.role == "server":
            guarded: asyncio.Future[GuardedConnection] = asyncio.get_running_loop().create_future()

            async def handler(ws: ServerConnection) -> None:
                conn = guard(ws, **options)
                if guarded.done():  # not the connection this harness waits for
                    conn.abort()
                    return
                guarded.set_result(conn)
                await conn.wait_closed()

            self._server = await serve(
                handler,
                "127.0.0.1",
                0,
                ping_interval=None,
                close_timeout=t.library_close_timeout,
                compression=None,
            )
            port = self._server.sockets[0].getsockname()[1]
            self.proxy = await FaultProxy("127.0.0.1", port).start()
            self.peer = await RawPeer.connect(self.proxy.url)
            self.conn = await asyncio.wait_for(guarded, t.settle)
            self.out_direction = Direction.S2C
        else:
            self._raw = RawServer()
            port = await self._raw.start()
            self.proxy = await FaultProxy("127.0.0.1", port).start()
            ws = await ws_connect(
                self.proxy.url,
                ping_interval=None,
                close_timeout=t.library_close_timeout,
                compression=None,
            )
            self.conn = guard(ws, **options)
            self.peer = await asyncio.wait_for(self._raw.peers.get(), t.settle)
            self.out_direction = Direction.C2S
        (self.pair,) = await self.proxy.wait_connections(1)
        self.conn.on_close(self._on_closed)

    def _on_closed(self, conn: GuardedConnection) -> None:
        self.closed_calls += 1

    # -- the model ---------------------------------------------------------------

    @property
    def model_state(self) -> State:
        """The model's state."""
        value = self.chart.current_state_value
        assert isinstance(value, State)
        return value

    #: Steps allowed in CLOSED before only ``reopen`` is left (keeps exploration alive).
    closed_step_limit: ClassVar[int] = 3

    def enabled(self, event: Event) -> bool:
        """True if ``event`` can be driven now (the model's state and the driver agree)."""
        state = self.model_state
        if state is State.CLOSED and self.closed_steps >= self.closed_step_limit:
            return False
        if TABLE[(state, event)].next is None or (state, event) in NOT_DRIVABLE:
            return False
        check = _PRECONDITIONS.get(event)
        return check is None or check(self)

    def fire(self, event: Event) -> None:
        """Advance the model by ``event``."""
        getattr(self.chart, event.value)()
        self.steps.append(f"{event.value} -> {self.model_state.value}")

    # -- stepping ------------------------------------------------------------------

    async def step(self, event: Event, draw: Choices) -> None:
        """Drive ``event``, advance the model, check every invariant."""
        assert self.enabled(event), f"{event} not enabled in {self.model_state}"
        STATS["steps"] += 1
        if self.model_state is State.CLOSED:
            self.closed_steps += 1
        row = TABLE[(self.model_state, event)]
        driver = DRIVERS[event]
        await driver(self, row.effects, draw)
        self.fire(event)
        await self.check()

    async def check(self) -> None:
        """The invariants that hold after every step."""
        await self._settle(self.model_state)
        problems = self.pair.tap.directions[self.out_direction].problems()
        assert not problems, f"wire ({self.out_direction.value}): {problems}"
        assert not self.handler.errors, self.handler.describe()
        assert not self.watch.calls, self.watch.describe()
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
        await asyncio.sleep(0.002)
        await wait_until(lambda: self.conn.state is expected, self.timing.settle)
        assert self.conn.state is expected, (
            f"runtime is {self.conn.state}, model is {expected}; steps: {self.steps}"
        )

    async def stop(self) -> None:
        """Tear everything down and check that nothing leaked."""
        try:
            for pending in self.waiting:
                pending.task.cancel()
            self.conn.abort()
            await self.peer.close()
            await self.proxy.close()
            await self.conn.wait_closed()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            if self._raw is not None:
                await self._raw.close()
            for pending in self.waiting:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await pending.task
            await asyncio.sleep(0)
            assert not self.handler.errors, self.handler.describe()
            self.watch.assert_not_called()
            await self.baseline.assert_restored(settle=2.0)
        finally:
            _SEEN[self.role].update((s, e) for s, e, _ in self.handler.taken)
            logging.getLogger().removeHandler(self.handler)
            self.logger.setLevel(self._old_level)
            self.watch.__exit__(None, None, None)

    # -- concurrency -------------------------------------------------------------

    def enabled_concurrently(self, a: Event, b: Event) -> bool:
        """True if ``a`` and ``b`` can be started together now."""
        state = self.model_state
        if state is State.CLOSED:
            return False
        for event in (a, b):
            if TABLE[(state, event)].next is None or (state, event) in NOT_DRIVABLE:
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
            r1 = TABLE[(start, first)]
            if r1.next is None or (start, first) in NOT_DRIVABLE:
                continue
            r2 = TABLE[(r1.next, second)]
            if r2.next is None:
                continue
            orders.append((first, second, r2.next))
        assert orders, f"no serial order of {a}, {b} is possible in {start}"
        results: dict[int, Any] = {}

        async def run(index: int, event: Event) -> None:
            results[index] = await _CONCURRENT[event](self, draw)

        await asyncio.gather(run(0, a), run(1, b))
        await asyncio.sleep(0.01)
        await self._settle_any({end for _, _, end in orders})
        real = self.conn.state
        for first, second, end in orders:
            if end is real:
                self.fire(first)
                self.fire(second)
                break
        else:
            raise AssertionError(
                f"{a} || {b} from {start} ended in {real}; serial orders give "
                f"{[(f.value, s.value, e.value) for f, s, e in orders]}"
            )
        for index, event in ((0, a), (1, b)):
            if event is Event.APP_SEND:
                assert results[index] in (True, False)
        await self.check()

    async def _settle_any(self, states: set[State]) -> None:
        await asyncio.sleep(0.002)
        await wait_until(lambda: self.conn.state in states, self.timing.settle)

    @property
    def peer_closed(self) -> bool:
        """True once the raw peer sent its Close."""
        return self.peer.close_sent


# -- drivers --------------------------------------------------------------------------------

Driver = Callable[[Harness, tuple[Effect, ...], Choices], Awaitable[None]]


async def _timed(awaitable: Awaitable[Any], limit: float) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await asyncio.wait_for(awaitable, 5.0)
    return result, time.perf_counter() - started


async def _app_send(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    text = draw.text()
    use_send = draw.flag()
    if use_send:
        try:
            _, took = await _timed(h.conn.send(text), h.timing.fail_fast)
            ok = True
        except ConnectionClosed:
            ok, took = False, 0.0
    else:
        ok, took = await _timed(h.conn.try_send(text), h.timing.fail_fast)
    if Effect.TRANSMIT in effects:
        assert ok is True, f"send in {h.model_state}: table says transmit, runtime dropped"
    else:
        assert Effect.DROP in effects
        assert ok is False, f"send in {h.model_state}: table says drop, runtime sent"
        assert took < h.timing.fail_fast, f"a dropped send took {took:.3f} s (fail fast)"


async def _app_ping(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    ok = await asyncio.wait_for(h.conn.ping(), h.timing.settle)
    assert ok is (Effect.TRANSMIT_PING in effects), f"ping returned {ok} in {h.model_state}"


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


async def _peer_data(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    text = draw.text()
    queue = h.conn.transport.connection.recv_messages.frames  # type: ignore[attr-defined]
    before = len(queue)
    await h.peer.send_text(text)
    if Effect.DELIVER in effects:
        h.pending.append(text)
        await wait_until(lambda: len(queue) > before, h.timing.settle, poll=0.002)


async def _peer_close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.peer.send_close(draw.choice(_VALID_CODES), "peer")


async def _peer_protocol_error(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.peer.send_garbage()


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
    h.pair.blackhole(True)
    t = h.timing
    limit = t.ping_interval + t.ping_timeout + t.settle
    await wait_until(lambda: h.conn.state is not State.OPEN, limit, poll=0.01)
    h.pair.blackhole(False)


async def _close_timeout(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    limit = h.timing.close_timeout + h.timing.settle
    await wait_until(lambda: h.conn.state is State.CLOSED, limit, poll=0.01)


#: How each drivable event is made to happen for real.
DRIVERS: Final[dict[Event, Driver]] = {
    Event.APP_SEND: _app_send,
    Event.APP_PING: _app_ping,
    Event.APP_RECV: _app_recv,
    Event.APP_CLOSE: _app_close,
    Event.APP_CLOSE_INVALID: _app_close_invalid,
    Event.APP_ABORT: _app_abort,
    Event.APP_ACCEPT: _app_accept,
    Event.PEER_DATA: _peer_data,
    Event.PEER_CLOSE: _peer_close,
    Event.PEER_PROTOCOL_ERROR: _peer_protocol_error,
    Event.TRANSPORT_EOF: _transport_eof,
    Event.TRANSPORT_ERROR: _transport_error,
    Event.TRANSPORT_STALLED: _transport_stalled,
    Event.KEEPALIVE_TIMEOUT: _keepalive_timeout,
    Event.CLOSE_TIMEOUT: _close_timeout,
}


def _not_closed_by_peer(h: Harness) -> bool:
    return not h.peer.eof and not h.pair.closed


_PRECONDITIONS: Final[dict[Event, Callable[[Harness], bool]]] = {
    # recv in OPEN/CLOSING blocks until a message comes: only with one pending.
    Event.APP_RECV: lambda h: (
        bool(h.pending) or h.model_state in (State.CLOSE_RECEIVED, State.CLOSED)
    ),
    # The peer can only act while its TCP connection is up. At most 8 unread
    # messages: past websockets' receive queue (16) it stops reading the socket,
    # pongs go unread and keepalive fails - real, but not this event.
    Event.PEER_DATA: lambda h: _not_closed_by_peer(h) and not h.peer_closed and len(h.pending) < 8,
    Event.PEER_CLOSE: lambda h: _not_closed_by_peer(h) and not h.peer_closed,
    Event.PEER_PROTOCOL_ERROR: lambda h: _not_closed_by_peer(h) and not h.peer_closed,
    Event.TRANSPORT_EOF: lambda h: not h.pair.closed,
    Event.TRANSPORT_ERROR: lambda h: not h.pair.closed,
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


def tour() -> Iterator[tuple[State, Event, list[Event]]]:
    """For every drivable pair, a shortest path of drivable events from OPEN to its state."""
    paths: dict[State, list[Event]] = {State.OPEN: []}
    queue: deque[State] = deque([State.OPEN])
    # Paths use the gentle events only, so the transport is still up at the end
    # (a fault at the end of the path must have a live connection to hit).
    while queue:
        state = queue.popleft()
        for event in (Event.APP_CLOSE, Event.PEER_CLOSE):
            row = TABLE[(state, event)]
            if row.next is None or (state, event) in NOT_DRIVABLE:
                continue
            if row.next not in paths:
                paths[row.next] = [*paths[state], event]
                queue.append(row.next)
    for state, event in drivable_pairs():
        yield state, event, paths[state]


async def run_tour_pair(
    role: Role, state: State, event: Event, path: list[Event]
) -> set[tuple[State, Event]]:
    """Drive ``path`` from OPEN, then ``event``, in a fresh harness; raise on any violation.

    Returns the pairs the runtime was seen to take.
    """
    h = Harness(role)
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


async def run_tour(role: Role, *, stop_at_first_failure: bool = False) -> list[str]:
    """Drive every drivable pair once (each in a fresh harness); return the failures.

    A pair the runtime did not take as the model did is a failure too.
    """
    failures: list[str] = []
    for state, event, path in tour():
        try:
            seen = await run_tour_pair(role, state, event, path)
        except Exception as exc:  # a failed check or a crash: both are findings
            failures.append(f"{state}/{event} via {[e.value for e in path]}: {exc!r}")
        else:
            if (state, event) not in seen:
                failures.append(f"{state}/{event}: the runtime did not take this pair")
        if failures and stop_at_first_failure:
            break
    return failures


def register_profiles() -> None:
    """Register the Hypothesis profiles of the stateful tests: ``ci`` and ``long``.

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
    settings.register_profile("long", max_examples=100_000, stateful_step_count=30, **common)
