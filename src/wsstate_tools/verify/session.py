"""The session composition: one session and two connection generations (``wsstate verify session``).

Theory of operation
===================

One instance of the session machine (``spec/session.toml``) is composed with
the two connections a page attaches to it, one after the other: *generation 1*
and *generation 2*. Their attaches, closures, close beacons, the grace timer
and the application's sends interleave arbitrarily. A global state
(:class:`SessionWorld`) holds the session's state, whether the grace timer is
armed, the current generation, the number of messages sent so far (messages
are numbered 1, 2, 3...; the history keeps the last ``history`` of them), how
many times ``on_expire`` fired, which beacons were sent, and per generation a
:class:`Gen`: its connection's phase (not attached yet, open, closed with its
closure not yet fed, closure fed) and the last message number it received.

Transitions, one table row each:

* **application** (kind ``app``): ``app_send`` (at most ``sends`` calls) and
  ``app_close`` (once), in any state; the page attaches its next generation
  (``generations`` in all) either fresh (``attach``) or with ``last_seen``, the
  highest message number any of its connections received: ``attach_resume``
  when every message after it is still in the history, else ``attach_gap``
  (the classification :meth:`wsstate.Sessions.attach` makes). A page's close
  beacon (once per generation, from an attached one) is ``page_close`` when it
  names the current generation, else ``page_close_stale``.
* **environment** (kind ``env``): an open connection fails (the network
  drops); a closed connection's closure is fed, as ``detach`` when it is the
  session's current connection and ``detach_stale`` otherwise (the
  classification the runtime makes by identity); the armed grace timer fires.

Effects: ``adopt`` makes the attaching generation current (``last`` is its
``last_seen``, 0 for a fresh page); ``supersede`` and ``close_connection`` close
the current connection (its closure is then pending); ``replay`` sends the
history after ``last_seen`` to the current connection; ``transmit`` numbers a
message and sends it to the current connection, ``hold`` only numbers it;
``expire`` counts ``on_expire``; ``arm:grace``/``cancel:grace`` set the timer.
A message sent to a connection that is not open is lost. Effects run in the
row's order, so a row that replays before it adopts replays to the old
connection.

Properties (:data:`SESSION_PROPERTIES`): safety ones checked on every
transition (a transition that breaks one is not followed further), and
``abandoned_expires`` on the explored graph. The search is breadth-first
(:func:`wsstate_tools.verify.search.explore`), so every counterexample is a
shortest one. :mod:`wsstate_tools.generate.promela_session` renders the same
model for SPIN.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from ..spec import Spec
from .machine import timer_ops
from .model import Bad, Bounds, Kind
from .report import Replay, Result
from .search import _follow, _reaching, _safety, _unbounded_result, _violation, explore

__all__ = [
    "SESSION_PROPERTIES",
    "Gen",
    "SessionBounds",
    "SessionModel",
    "SessionWorld",
    "check_session",
    "replay_session",
]

#: Every property of the session composition, with what it means.
SESSION_PROPERTIES: Final = MappingProxyType(
    {
        "impossible_event": "the session never receives an event its table calls impossible "
        "in its current state",
        "stale_detach_ignored": "an older generation's detach never changes the session: "
        "while the current generation's connection is open the session is ATTACHED, and it "
        "is never ATTACHED to a connection whose closure was fed",
        "expire_at_most_once": "on_expire fires at most once per session",
        "expire_when_ended": "on_expire has fired exactly when the session is CLOSED: once "
        "if the session ends, never while it lives",
        "expire_only_when_due": "on_expire fires only when the grace window ran out, the "
        "current page's beacon arrived or the application closed the session: never on a "
        "detach alone, never for a session a newer generation holds",
        "beacon_commutes": "page_close and detach commute: once the current page's beacon "
        "and its connection's detach both arrived, in either order, the session is CLOSED",
        "no_send_to_superseded": "no message (sent or replayed) goes to a connection once a "
        "newer generation attaches",
        "replay_in_order": "each generation receives each message at most once, in order, "
        "and a resumed page misses none: after a resume, messages continue from last_seen "
        "with no hole",
        "abandoned_expires": "from every reachable state once a connection attached, the "
        "environment alone (connections failing, closures fed, the grace timer) ends the "
        "session: no session outlives its pages",
    }
)

#: Phases of a generation's connection.
NONE: Final = 0  # not attached yet
OPEN: Final = 1  # attached and open
DEAD: Final = 2  # closed (failed, superseded or closed by the session); closure not yet fed
GONE: Final = 3  # closure fed (or the attach was refused)
_PHASES: Final = ("-", "open", "closed", "gone")


@dataclass(frozen=True, slots=True)
class SessionBounds:
    """What one run of the session composition may do."""

    sends: int = 2
    """``app_send`` calls."""
    history: int = 1
    """Messages the history keeps (the oldest are dropped first)."""
    generations: int = 2
    """Connections the page attaches, one after the other."""

    def __str__(self) -> str:
        return f"sends={self.sends}, history={self.history}, generations={self.generations}"


class Gen(NamedTuple):
    """One generation's connection, as the session sees it."""

    phase: int
    last: int
    """The last message number it received (its last_seen when it attached)."""
    strict: bool
    """It resumed: its messages must continue from ``last`` with no hole."""


class SessionWorld(NamedTuple):
    """A global state of the session composition."""

    state: str
    grace: bool
    cur: int
    """The current generation (1-based), 0 before the first attach."""
    gens: tuple[Gen, ...]
    sent: int
    expired: int
    beacons: int
    """Bit set of generations whose close beacon was sent."""
    closes: int
    """``app_close`` calls made."""
    due: bool
    """An expiry is due: the grace timer fired, the current page's beacon arrived or the
    application closed the session (set by the event, before its row runs)."""


@dataclass(slots=True)
class _Ctx:
    """What one event's row works on."""

    event: str
    attaching: int = 0
    last_seen: int = 0
    strict: bool = False


class SessionModel:
    """The session composition of ``spec`` within ``bounds``."""

    def __init__(self, spec: Spec, bounds: SessionBounds | None = None) -> None:
        self.spec = spec
        self.bounds = bounds or SessionBounds()
        self.terminal = spec.terminal
        self.fired: set[tuple[str, str]] = set()

    def initial(self) -> SessionWorld:
        gens = tuple(Gen(NONE, 0, False) for _ in range(self.bounds.generations))
        return SessionWorld(self.spec.initial, False, 0, gens, 0, 0, 0, 0, False)

    def closed(self, w: SessionWorld) -> bool:
        return w.state in self.terminal

    # -- transitions ------------------------------------------------------------

    def successors(
        self, w: SessionWorld, *, clean: bool = False
    ) -> Iterator[tuple[str, Kind, SessionWorld | Bad | None]]:
        del clean
        b = self.bounds
        if w.sent < b.sends or self.closed(w):
            yield "app_send", "app", self.fire(w, _Ctx("app_send"))
        if w.closes == 0:
            yield "app_close", "app", self.fire(w._replace(closes=1, due=True), _Ctx("app_close"))
        attached = sum(1 for g in w.gens if g.phase != NONE)
        if attached < b.generations:
            g = attached + 1
            yield f"gen{g} attach fresh -> attach", "app", self.fire(w, _Ctx("attach", g))
            seen = max((x.last for x in w.gens), default=0)
            event = "attach_resume" if seen >= w.sent - b.history else "attach_gap"
            ctx = _Ctx(event, g, seen, event == "attach_resume")
            yield f"gen{g} attach last_seen={seen} -> {event}", "app", self.fire(w, ctx)
        for i, gen in enumerate(w.gens):
            g = i + 1
            if gen.phase != NONE and not w.beacons & (1 << i):
                event = "page_close" if g == w.cur else "page_close_stale"
                x = w._replace(beacons=w.beacons | 1 << i, due=w.due or g == w.cur)
                yield f"gen{g} beacon -> {event}", "app", self.fire(x, _Ctx(event))
        for i, gen in enumerate(w.gens):
            g = i + 1
            if gen.phase == OPEN:
                yield f"gen{g} connection fails", "env", self._set(w, i, gen._replace(phase=DEAD))
            elif gen.phase == DEAD:
                event = "detach" if g == w.cur else "detach_stale"
                x = self._set(w, i, gen._replace(phase=GONE))
                yield f"gen{g} closed -> {event}", "env", self.fire(x, _Ctx(event))
        if w.grace:
            x = w._replace(grace=False, due=True)
            yield "timer grace -> grace_timeout", "env", self.fire(x, _Ctx("grace_timeout"))

    @staticmethod
    def _set(w: SessionWorld, i: int, gen: Gen) -> SessionWorld:
        return w._replace(gens=(*w.gens[:i], gen, *w.gens[i + 1 :]))

    def fire(self, w: SessionWorld, ctx: _Ctx) -> SessionWorld | Bad:
        """Feed ``ctx.event`` in ``w`` and perform its row's effects in order."""
        spec = self.spec
        self.fired.add((w.state, ctx.event))
        row = spec.row(w.state, ctx.event)
        if row.impossible or row.next is None:
            return Bad(
                "impossible_event",
                f"{ctx.event} in {w.state}, which the table calls impossible (line {row.line}: "
                f"{row.note})",
            )
        start = w
        newest = max(
            ctx.attaching, max((i + 1 for i, g in enumerate(w.gens) if g.phase), default=0)
        )
        for effect in row.effects:
            if effect == "adopt":
                i = ctx.attaching - 1
                w = self._set(w, i, Gen(OPEN, ctx.last_seen, ctx.strict))._replace(
                    cur=ctx.attaching
                )
            elif effect in ("supersede", "close_connection"):
                if w.cur:
                    gen = w.gens[w.cur - 1]
                    if gen.phase == OPEN:
                        w = self._set(w, w.cur - 1, gen._replace(phase=DEAD))
            elif effect == "refuse":
                if ctx.attaching:
                    w = self._set(w, ctx.attaching - 1, Gen(GONE, 0, False))
            elif effect == "replay":
                oldest = max(1, w.sent - self.bounds.history + 1)
                for m in range(max(ctx.last_seen + 1, oldest), w.sent + 1):
                    out = self._deliver(w, m, newest)
                    if isinstance(out, Bad):
                        return out
                    w = out
            elif effect == "transmit":
                w = w._replace(sent=w.sent + 1)
                out = self._deliver(w, w.sent, newest)
                if isinstance(out, Bad):
                    return out
                w = out
            elif effect == "hold":
                w = w._replace(sent=w.sent + 1)
            elif effect == "expire":
                if w.expired:
                    return Bad(
                        "expire_at_most_once",
                        f"on_expire fires a second time, on {ctx.event} in {start.state} "
                        f"(line {row.line})",
                    )
                if not w.due:
                    return Bad(
                        "expire_only_when_due",
                        f"on_expire fires on {ctx.event} in {start.state} (line {row.line}), "
                        "with no grace timeout, no beacon of the current page and no close "
                        "by the application",
                    )
                w = w._replace(expired=w.expired + 1)
        clear, arm = timer_ops(spec, row.effects)
        if clear or arm:
            w = w._replace(grace=bool((int(w.grace) & ~clear) | arm))
        w = w._replace(state=row.next)
        return self._invariants(start, w, ctx, row.line) or w

    def _deliver(self, w: SessionWorld, m: int, newest: int) -> SessionWorld | Bad:
        """Message ``m`` goes to the current connection (lost unless it is open)."""
        if not w.cur:
            return w
        if w.cur < newest:
            return Bad(
                "no_send_to_superseded",
                f"message {m} goes to generation {w.cur}, superseded by generation {newest}",
            )
        i = w.cur - 1
        gen = w.gens[i]
        if gen.phase != OPEN:
            return w
        if m <= gen.last:
            return Bad(
                "replay_in_order",
                f"generation {w.cur} receives message {m} after message {gen.last}",
            )
        if gen.strict and m != gen.last + 1:
            return Bad(
                "replay_in_order",
                f"generation {w.cur} resumed but receives message {m} after {gen.last}: "
                f"{m - gen.last - 1} missing and no gap reported",
            )
        return self._set(w, i, gen._replace(last=m))

    def _invariants(self, start: SessionWorld, w: SessionWorld, ctx: _Ctx, line: int) -> Bad | None:
        closed = w.state in self.terminal
        if closed != bool(w.expired):
            what = "CLOSED without on_expire" if closed else "on_expire fired, not CLOSED"
            return Bad(
                "expire_when_ended",
                f"{ctx.event} in {start.state} (line {line}) leaves the session {w.state}: {what}",
            )
        if ctx.event == "detach_stale" and (w.state, w.grace, w.cur) != (
            start.state,
            start.grace,
            start.cur,
        ):
            return Bad(
                "stale_detach_ignored",
                f"detach_stale in {start.state} (line {line}) changes the session: "
                f"{self.describe(start)} -> {self.describe(w)}",
            )
        current = w.gens[w.cur - 1].phase if w.cur else NONE
        if (current == OPEN and w.state != "ATTACHED") or (
            current == GONE and w.state == "ATTACHED"
        ):
            return Bad(
                "stale_detach_ignored",
                f"{ctx.event} in {start.state} (line {line}) leaves the session {w.state} while "
                f"generation {w.cur}'s connection is {_PHASES[current]}",
            )
        if w.cur and current == GONE and w.beacons & (1 << (w.cur - 1)) and not closed:
            return Bad(
                "beacon_commutes",
                f"{ctx.event} in {start.state} (line {line}): generation {w.cur}'s beacon and "
                f"detach both arrived, yet the session is {w.state}",
            )
        return None

    def describe(self, w: SessionWorld) -> str:
        """One line: the session, its generations, messages, expiries."""
        parts = [w.state + (" {grace}" if w.grace else "")]
        if w.cur:
            parts.append(f"current gen{w.cur}")
        for i, g in enumerate(w.gens):
            if g.phase != NONE:
                beacon = " beacon" if w.beacons & (1 << i) else ""
                parts.append(f"gen{i + 1} {_PHASES[g.phase]} last={g.last}{beacon}")
        parts.append(f"sent={w.sent}")
        if w.expired:
            parts.append(f"expired x{w.expired}")
        return ", ".join(parts)


# -- the search ---------------------------------------------------------------------


def _model_doc(b: SessionBounds) -> str:
    return f"one session and {b.generations} connection generations ({b})"


def check_session(spec: Spec, bounds: SessionBounds | Bounds | None = None) -> Result:
    """Explore every reachable state of the session composition; check the properties.

    ``bounds`` of the connection's composition (what ``wsstate verify`` passes to
    every composition) are ignored: the session has its own (:class:`SessionBounds`).
    """
    started = time.perf_counter()
    b = bounds if isinstance(bounds, SessionBounds) else SessionBounds()
    model = SessionModel(spec, b)
    g = explore(model)
    found = _safety(model, g, clean=False, alone=False)
    ends = _reaching(g, [model.closed(w) or not w.cur for w in g.worlds])
    first = next((i for i, v in enumerate(ends) if not v), None)
    if first is not None:
        found["abandoned_expires"] = _violation(
            model,
            g,
            "abandoned_expires",
            f"from {model.describe(g.worlds[first])}, failures, detaches and timers never "
            "end the session",
            first,
        )
    return _unbounded_result(
        spec, model.fired, g, found, SESSION_PROPERTIES, model=_model_doc(b), started=started
    )


def replay_session(
    spec: Spec, steps: Sequence[str], bounds: SessionBounds | Bounds | None = None
) -> Replay:
    """Follow labels ``steps`` from the initial state; report what they break.

    A step that is not possible stops the replay with no violation; a step that
    breaks a safety property stops it with that property; at the end, the state
    reached is checked for ``abandoned_expires``.
    """
    b = bounds if isinstance(bounds, SessionBounds) else SessionBounds()
    model = SessionModel(spec, b)
    w, taken, stop = _follow(model, steps)
    if stop is not None:
        return stop
    if _env_reaches_closed(model, w):
        return Replay(tuple(taken), (), ())
    message = f"abandoned_expires: nothing but the application ends {model.describe(w)}"
    return Replay(tuple(taken), ("abandoned_expires",), (message,))


def _env_reaches_closed(model: SessionModel, start: SessionWorld) -> bool:
    seen = {start}
    stack = [start]
    while stack:
        w = stack.pop()
        if model.closed(w) or not w.cur:
            return True
        for _, kind, out in model.successors(w):
            if kind != "env" or out is None:
                continue
            if isinstance(out, Bad):
                return True
            if out not in seen:
                seen.add(out)
                stack.append(out)
    return False
