"""The client composition: the reconnecting client, a server that refuses, accepts, closes.

Theory of operation
===================

One instance of the client machine (``spec/client.toml``) runs against an
environment that stands for everything the client cannot control: the server
(and the network in between), the timers, and the application. A global state
(:class:`ClientWorld`) holds the client's machine state, its armed timers, its
attempt counter (the runtime's ``client.attempts``, saturating at
:attr:`ClientBounds.level`), whether an attempt is in flight, whether a
connection is live and whether its flush is running, the buffer (message ids,
in order) and the ids the server received; plus *ghost* variables that exist
only to state properties: failures since the last connection that stayed up
``min_uptime`` (``fails``), whether a delay (or such an uptime) has elapsed
since the last attempt (``gap``), whether the application called ``close()``,
whether the server answered fatally.

Transitions (kind ``app``: the application; ``env``: server and timers):

* the application: ``start`` and ``app_close`` at any time; a message (up to
  :attr:`ClientBounds.messages`), classified as the runtime does: ``app_send``
  while the buffer has room, ``app_send_full`` when it holds
  :attr:`ClientBounds.buffered` messages;
* the server answers an attempt in flight: it accepts (``connected``), refuses
  retryably (an OSError, a 5xx, the attempt cancelled: ``refused_retryable``),
  with a Retry-After (``refused_retry_after``), fatally (401/403:
  ``refused_fatal``), or the client counts it as its last (``give_up``);
* the server ends a live connection: accept-then-close and vanishing are the
  same event to the client, a closure classified ``closed_retryable`` (1006,
  1012, ...), ``closed_retry_after`` (1013), ``closed_fatal`` (1008, 4xxx) or
  ``give_up``; a closure abandons the flush (no ``ready`` for a released
  connection);
* ``ready`` once a flush started by ``flush_buffer`` is done;
* an armed timer runs out (disarmed first); the uptime timer running out is the
  connection staying up ``min_uptime``: ``fails`` becomes 0 and a new attempt
  needs no delay.

Effects: ``attempt`` puts an attempt in flight; ``adopt_connection`` makes the
connection live; ``flush_buffer`` hands the buffered ids to the server and
empties the buffer; ``transmit`` hands the message's id to the server;
``buffer`` appends it; ``drop_buffer`` empties the buffer; ``count_attempt``
and ``reset_attempts`` move the counter; ``arm:``/``cancel:`` the timers. The
others (``run_on_open``, ``close_connection``, ``release_connection``,
``floor_delay``, outcomes, logging) change nothing the properties look at.

Properties (:data:`CLIENT_PROPERTIES`) are checked on every transition, except
``no_deadlock``, checked on every reachable state. A transition that breaks one
is not followed further, so the breadth-first search gives each violated
property a shortest counterexample (:func:`~wsstate_tools.verify.search.explore`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from ..spec import Row, Spec
from .model import Bad, Kind
from .report import Replay, Result
from .search import check_composed, replay_composed

__all__ = [
    "ATTEMPT_ENDS",
    "CLIENT_PROPERTIES",
    "CLOSURES",
    "ClientBounds",
    "ClientModel",
    "ClientWorld",
    "check_client",
    "replay_client",
]

#: Every property of the client composition, with what it means.
CLIENT_PROPERTIES: Final = MappingProxyType(
    {
        "stopped_absorbing": "once STOPPED, the client stays STOPPED",
        "impossible_event": "the client never receives an event its table calls impossible "
        "in its current state",
        "no_attempt_when_stopping": "no attempt is started by a row leaving or entering "
        "CLOSING or STOPPED",
        "no_attempt_after_close": "after the application called close(), no attempt is made",
        "single_attempt": "an attempt starts only when no other is in flight and no "
        "connection is live",
        "fatal_stops": "after a fatal refusal or a fatal close code, no attempt is made",
        "backoff_between_attempts": "between two attempts a backoff delay runs out, unless "
        "the connection of the first stayed up min_uptime",
        "backoff_resets_only_after_min_uptime": "every backoff delay is drawn at the level of "
        "the failures since the last connection that stayed up min_uptime (the counter is "
        "reset then, and only then)",
        "buffer_bounded": "the buffer never holds more than max_buffered messages",
        "sent_at_most_once": "the server receives each message at most once",
        "no_deadlock": "a client that is neither IDLE nor STOPPED always has an attempt in "
        "flight, a live connection, a flush running or a timer armed",
    }
)

#: How the server may end an attempt in flight (the event the runtime feeds).
ATTEMPT_ENDS: Final = (
    "connected",
    "refused_retryable",
    "refused_retry_after",
    "refused_fatal",
    "give_up",
)
#: How a live connection may end, as classified for the client.
CLOSURES: Final = ("closed_retryable", "closed_retry_after", "closed_fatal", "give_up")
_FATAL: Final = frozenset({"refused_fatal", "closed_fatal"})
_FAILURES: Final = frozenset(
    {
        "refused_retryable",
        "refused_retry_after",
        "refused_fatal",
        "closed_retryable",
        "closed_retry_after",
        "closed_fatal",
        "give_up",
    }
)
#: States in which no attempt may start (nor may a row entering them start one).
STOPPING: Final = frozenset({"CLOSING", "STOPPED"})
#: States that wait for the application, not for the environment.
RESTING: Final = frozenset({"IDLE", "STOPPED"})


@dataclass(frozen=True, slots=True)
class ClientBounds:
    """What keeps the client composition finite."""

    messages: int = 3
    """Messages the application sends in a run."""
    buffered: int = 2
    """The buffer's bound (``max_buffered``)."""
    level: int = 3
    """Where the attempt counter (and the ghost failure count) saturate."""

    def __str__(self) -> str:
        return (
            f"{self.messages} message(s), buffer of {self.buffered}, attempt counter "
            f"saturating at {self.level}"
        )


class ClientWorld(NamedTuple):
    """A global state of the client composition."""

    state: str
    timers: int
    attempts: int
    pending: bool
    """An attempt is in flight."""
    live: bool
    """A connection is adopted and not yet closed."""
    flushing: bool
    """``flush_buffer`` ran; ``ready`` is due."""
    buffer: tuple[int, ...]
    sent: int
    """Messages the application sent so far (ids 1..sent)."""
    received: int
    """Bit set of the ids the server received."""
    fails: int
    """Ghost: failures since the last connection that stayed up min_uptime."""
    gap: bool
    """Ghost: a delay ran out (or an uptime) since the last attempt; True before the first."""
    closed: bool
    """Ghost: the application called close()."""
    fatal: bool
    """Ghost: the server answered fatally."""


class ClientModel:
    """The client composition built from ``spec``, within ``bounds``."""

    def __init__(self, spec: Spec, bounds: ClientBounds | None = None) -> None:
        self.spec = spec
        self.bounds = bounds or ClientBounds()
        self.timer_bits = {t: 1 << i for i, t in enumerate(spec.timers)}
        self.terminal = spec.terminal
        self.fired: set[tuple[str, str]] = set()
        self.ops: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}
        for key, row in spec.rows.items():
            if not row.impossible:
                self.ops[key] = self._compile(row)

    def _compile(self, row: Row) -> tuple[tuple[str, int], ...]:
        ops: list[tuple[str, int]] = []
        for effect in row.effects:
            verb, _, arg = effect.partition(":")
            if verb in ("arm", "cancel") and arg in self.timer_bits:
                ops.append((verb, self.timer_bits[arg]))
            else:
                ops.append((effect, 0))
        return tuple(ops)

    def initial(self) -> ClientWorld:
        timers = 0
        for effect in self.spec.initial_effects:
            verb, _, arg = effect.partition(":")
            if arg in self.timer_bits:
                bit = self.timer_bits[arg]
                timers = timers | bit if verb == "arm" else timers & ~bit
        return ClientWorld(
            self.spec.initial, timers, 0, False, False, False, (), 0, 0, 0, True, False, False
        )

    def done(self, w: ClientWorld) -> bool:
        """The client is in a terminal state."""
        return w.state in self.terminal

    def stuck(self, w: ClientWorld) -> bool:
        """Neither resting nor waiting for anything (``no_deadlock``)."""
        return w.state not in RESTING and not (w.pending or w.live or w.flushing or w.timers)

    def successors(
        self, w: ClientWorld, *, clean: bool = False
    ) -> Iterator[tuple[str, Kind, ClientWorld | Bad | None]]:
        yield "app start", "app", self.fire(w, "start")
        yield "app close", "app", self.fire(w._replace(closed=True), "app_close")
        if w.sent < self.bounds.messages:
            event = "app_send" if len(w.buffer) < self.bounds.buffered else "app_send_full"
            yield f"app send m{w.sent + 1} -> {event}", "app", self.fire(w, event, w.sent + 1)
        if w.pending:
            for event in ATTEMPT_ENDS:
                after = self._failed(w._replace(pending=False), event)
                yield f"server {event}", "env", self.fire(after, event)
        if w.live:
            for event in CLOSURES:
                after = self._failed(w._replace(live=False, flushing=False), event)
                yield f"server closes -> {event}", "env", self.fire(after, event)
        if w.flushing:
            yield "flush done -> ready", "env", self.fire(w._replace(flushing=False), "ready")
        for timer, bit in self.timer_bits.items():
            if w.timers & bit:
                event = self.spec.timers[timer]
                after = w._replace(timers=w.timers & ~bit)
                if timer == "uptime_timer":
                    after = after._replace(fails=0, gap=True)
                elif timer == "backoff_timer":
                    after = after._replace(gap=True)
                yield f"timer {timer} -> {event}", "env", self.fire(after, event)

    def _failed(self, w: ClientWorld, event: str) -> ClientWorld:
        if event not in _FAILURES:
            return w
        return w._replace(
            fails=min(self.bounds.level, w.fails + 1), fatal=w.fatal or event in _FATAL
        )

    def fire(self, w: ClientWorld, event: str, message: int = 0) -> ClientWorld | Bad:
        """Feed ``event`` to the client and perform its row (``message``: the id sent)."""
        state = w.state
        self.fired.add((state, event))
        ops = self.ops.get((state, event))
        row = self.spec.row(state, event)
        if ops is None:
            return Bad(
                "impossible_event",
                f"client got {event} in {state}, which the table calls impossible "
                f"(line {row.line}: {row.note})",
            )
        assert row.next is not None
        where = f"on {event} in {state} (line {row.line})"
        if state in self.terminal and row.next != state:
            return Bad("stopped_absorbing", f"client left {state} for {row.next} {where}")
        timers, attempts, pending, live, flushing = (
            w.timers,
            w.attempts,
            w.pending,
            w.live,
            w.flushing,
        )
        buffer, received, gap, fails = w.buffer, w.received, w.gap, w.fails
        sent = max(w.sent, message)
        for op, arg in ops:
            if op == "arm":
                timers |= arg
                if arg == self.timer_bits.get("backoff_timer") and attempts != fails:
                    return Bad(
                        "backoff_resets_only_after_min_uptime",
                        f"client draws a delay at level {attempts} after {fails} failure(s) "
                        f"since the last connection that stayed up min_uptime {where}",
                    )
            elif op == "cancel":
                timers &= ~arg
            elif op == "attempt":
                if state in STOPPING or row.next in STOPPING:
                    return Bad(
                        "no_attempt_when_stopping",
                        f"client starts an attempt {where}, entering {row.next}",
                    )
                if w.closed:
                    return Bad(
                        "no_attempt_after_close",
                        f"client starts an attempt after close() {where}",
                    )
                if w.fatal:
                    return Bad(
                        "fatal_stops", f"client starts an attempt after a fatal answer {where}"
                    )
                if pending or live:
                    return Bad(
                        "single_attempt",
                        f"client starts an attempt while "
                        f"{'another is in flight' if pending else 'a connection is live'} {where}",
                    )
                if not gap:
                    return Bad(
                        "backoff_between_attempts",
                        f"client starts an attempt with no backoff delay since the last one, "
                        f"whose connection did not stay up min_uptime, {where}",
                    )
                pending, gap = True, False
            elif op == "adopt_connection":
                live = True
            elif op == "flush_buffer":
                for mid in buffer:
                    if received & 1 << mid:
                        return Bad("sent_at_most_once", f"the server receives m{mid} twice {where}")
                    received |= 1 << mid
                buffer = ()
                flushing = True
            elif op == "transmit":
                if received & 1 << message:
                    return Bad("sent_at_most_once", f"the server receives m{message} twice {where}")
                received |= 1 << message
            elif op == "buffer":
                if len(buffer) >= self.bounds.buffered:
                    return Bad(
                        "buffer_bounded",
                        f"client buffers m{message} with {len(buffer)} message(s) already "
                        f"kept (max_buffered={self.bounds.buffered}) {where}",
                    )
                buffer = (*buffer, message)
            elif op == "drop_buffer":
                buffer = ()
            elif op == "count_attempt":
                attempts = min(self.bounds.level, attempts + 1)
            elif op == "reset_attempts":
                attempts = 0
        return ClientWorld(
            row.next,
            timers,
            attempts,
            pending,
            live,
            flushing,
            buffer,
            sent,
            received,
            fails,
            gap,
            w.closed,
            w.fatal,
        )

    def describe(self, w: ClientWorld) -> str:
        """One line: the client, what is in flight, the buffer and what the server received."""
        timers = [t for t, bit in self.timer_bits.items() if w.timers & bit]
        text = f"client {w.state}"
        if timers:
            text += " {" + ", ".join(timers) + "}"
        text += f" attempts={w.attempts}"
        flags = [
            name
            for name, on in (
                ("attempt in flight", w.pending),
                ("connection live", w.live),
                ("flushing", w.flushing),
            )
            if on
        ]
        if flags:
            text += " [" + ", ".join(flags) + "]"
        buf = " ".join(f"m{m}" for m in w.buffer) or "-"
        got = " ".join(f"m{m}" for m in range(1, w.sent + 1) if w.received & 1 << m) or "-"
        return f"{text} | buffer: {buf} | server got: {got} | failures since stable: {w.fails}"


# -- the search --------------------------------------------------------------------


def check_client(spec: Spec, bounds: ClientBounds | None = None) -> Result:
    """Explore every reachable state of the client composition; check :data:`CLIENT_PROPERTIES`."""
    started = time.perf_counter()
    model = ClientModel(spec, bounds)
    return check_composed(
        spec,
        model,
        CLIENT_PROPERTIES,
        stuck="no_deadlock",
        stuck_message=lambda w: (
            f"client waits in {w.state} for nothing: no attempt, connection, flush or timer"
        ),
        describe=f"the client with a server that accepts, refuses, closes or vanishes, and timers "
        f"({model.bounds})",
        started=started,
    )


def replay_client(spec: Spec, steps: Sequence[str], bounds: ClientBounds | None = None) -> Replay:
    """Follow labels ``steps`` through the client composition; report what breaks."""
    return replay_composed(
        ClientModel(spec, bounds), steps, stuck="no_deadlock", why="the client waits for nothing"
    )
