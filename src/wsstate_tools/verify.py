"""``wsstate verify``: an explicit-state model checker for two composed peers.

Theory of operation
===================

Two instances of the connection machine, a *client* and a *server*, both driven
by the same :class:`~wsstate_tools.spec.Spec`, talk over a model of one TCP
connection. A global state (:class:`World`) holds each peer's machine state,
armed timers, remaining application budget, the Close code it recorded and
whether it marked the closure clean, plus one :class:`Pipe` per direction: a
bounded FIFO of frames, an end-of-stream marker and a black-hole flag.

Transitions, one table row each (plus the channel's own bookkeeping):

* **application** (kind ``app``): every ``local`` event of the spec, in any
  state, at any time. ``app_send`` and ``app_ping`` are bounded: a row that
  transmits consumes one of the peer's ``sends``/``pings``; with none left
  the call is not made. ``app_close`` closes with code 1000 and
  ``app_close_invalid`` asks for the reserved code 1004.
* **environment** (kind ``env``): the head frame of a pipe is delivered (the
  opening request and response become ``handshake_ok``, data ``peer_data``, a
  Close ``peer_close`` or, with a code that may not be sent,
  ``peer_close_invalid``; a Ping is consumed below the machine), then the
  end-of-stream marker (FIN ``transport_eof``, RST ``transport_error``); an
  armed timer fires (``arm:X``/``cancel:X`` effects keep the set of armed
  timers; firing disarms the timer before the row runs).
* **faults** (kind ``fault``, at most ``faults`` per run): a TCP reset (both
  peers get ``transport_error``, frames in flight are lost); a FIN without a
  Close in one direction; a black hole (one direction or both silently stop
  delivering, end-of-stream markers included); a corrupted frame at the head of
  a pipe (``handshake_fail``, ``peer_protocol_error`` or
  ``peer_close_invalid``); a slow reader (``transport_stalled`` for a peer whose
  outgoing frames sit undelivered; free while its direction is black-holed).

Effects on the channel: ``transmit``/``transmit_ping`` append a data/Ping
frame; ``emit_close_frame`` appends a Close with the row's code, else the
application's; ``echo_close_frame`` a Close with the code just received;
``close_transport`` ends the peer's direction with a FIN after the frames
already queued; ``abort_transport`` discards the peer's queued frames and ends
its direction with an RST, and stops the peer reading. Frames written after a
peer's direction has ended are lost. The server's ``handshake_ok`` also writes
the 101 response, so nothing can reach the client before it.

Properties (:data:`PROPERTIES`) are checked on every transition (safety, among
them ``timers_cleared``: a row entering a terminal state must leave none of the
peer's timers armed, since the runtime cancels none itself there) or on the
explored graph (deadlock, termination, clean handshake). The search is a
breadth-first one, so the first violation found of each property has a
shortest counterexample. A transition that violates a safety property is not
followed further. A second breadth-first search over the *clean* sub-model (no
faults, no timer firing, no ``app_abort``, ``app_close`` only once the
handshake is done) checks ``clean_handshake``.

:func:`check` runs both searches; :func:`replay` follows a counterexample's
steps again, which is what the tests written by ``--emit-test`` call.
:mod:`wsstate_tools.generate.promela` renders the same model for SPIN.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

from .closecodes import ABNORMAL_CLOSURE, NO_STATUS, is_sendable_code
from .spec import Row, Spec, load, load_unvalidated

__all__ = [
    "APP_CLOSE_CODE",
    "INVALID_CLOSE_CODE",
    "PROPERTIES",
    "ROLES",
    "Bounds",
    "Frame",
    "Model",
    "Peer",
    "Pipe",
    "Replay",
    "Result",
    "Step",
    "Violation",
    "World",
    "add_arguments",
    "check",
    "load_spec",
    "main",
    "render_test",
    "replay",
]

#: The two peers, by index. Pipe ``i`` carries what peer ``i`` writes; peer ``i`` reads
#: pipe ``1 - i``.
ROLES: Final = ("client", "server")
#: The code the application closes with (``app_close``).
APP_CLOSE_CODE: Final = 1000
#: The code ``app_close_invalid`` asks for: reserved, so it must never reach the wire.
INVALID_CLOSE_CODE: Final = 1004

#: Every property the checker reports, with what it means.
PROPERTIES: Final = MappingProxyType(
    {
        "no_data_after_close": "no data or Ping frame follows a Close frame on the wire, "
        "in either direction",
        "single_close_per_direction": "each peer puts at most one Close frame on the wire",
        "no_reserved_code_on_wire": "every Close frame on the wire carries no code or a "
        "sendable one (wsstate.closecodes.is_sendable_code)",
        "impossible_event": "no peer ever receives an event its table calls impossible in "
        "its current state",
        "terminal_left": "a peer in a terminal state stays there",
        "timers_cleared": "when a peer enters a terminal state, no timer of its is still "
        "armed (the rows entering it cancel what they armed; a timer that fires to cause "
        "the entry is no longer armed)",
        "no_deadlock": "in every reachable state where a peer is not CLOSED, a frame, an "
        "end of stream or a timer is still due (else the peer waits forever unless its "
        "application acts)",
        "termination": "from every reachable state, deliveries and timers alone (no "
        "application call, no new fault) lead to both peers CLOSED, or to a state "
        "reported by no_deadlock: no run is trapped in a cycle",
        "clean_handshake": "with no fault, no timer firing and no abort, every run can end, "
        "and every end has both peers CLOSED, clean (mark_clean) and agreeing on the code",
        "channel_bound": "no frame is written to a full pipe (a model bound, not a protocol "
        "property: raise --capacity if it fires)",
    }
)

Kind = Literal["app", "env", "fault"]

# End-of-stream marker of a pipe.
LIVE: Final = 0  # still open
FIN: Final = 1  # a FIN follows the queued frames
RST: Final = 2  # an RST is pending (queued frames were discarded)
DONE: Final = 3  # the reader saw the end, or stopped reading

_END_NAMES: Final = {FIN: "FIN", RST: "RST"}
_HANDSHAKE: Final = frozenset({"req", "resp"})
_APP_CODES: Final = {"app_close": APP_CLOSE_CODE, "app_close_invalid": INVALID_CLOSE_CODE}
_BUDGETED: Final = {"app_send": "transmit", "app_ping": "transmit_ping"}


class Frame(NamedTuple):
    """A frame in flight: ``req``/``resp`` (opening handshake), ``data``, ``ping``, ``close``."""

    kind: str
    code: int = 0
    """A Close frame's status code; 0 when it carries none."""

    def __str__(self) -> str:
        if self.kind == "close":
            return f"Close({self.code})" if self.code else "Close()"
        return {"req": "REQ", "resp": "101", "data": "data", "ping": "Ping"}[self.kind]


REQ: Final = Frame("req")
RESP: Final = Frame("resp")
DATA: Final = Frame("data")
PING: Final = Frame("ping")


class Peer(NamedTuple):
    """One peer: machine state, armed timers, budgets and what it recorded."""

    state: str
    timers: int
    """Bit set of armed timers (bit order: the spec's ``[timers]``)."""
    sends: int
    """``app_send`` calls that transmit still allowed."""
    pings: int
    """``app_ping`` calls that transmit still allowed."""
    closes: int
    """Close frames this peer has written."""
    code: int
    """The close code the peer recorded (first ``record_close:*`` wins); 0 before."""
    clean: bool
    """True once a row performed ``mark_clean``."""


class Pipe(NamedTuple):
    """One direction of the TCP connection."""

    frames: tuple[Frame, ...]
    end: int
    """``LIVE``, ``FIN``, ``RST`` or ``DONE``."""
    hole: bool
    """Black-holed: nothing more is delivered."""


class World(NamedTuple):
    """A global state: both peers, both pipes, faults still allowed."""

    peers: tuple[Peer, Peer]
    pipes: tuple[Pipe, Pipe]
    faults: int


@dataclass(frozen=True, slots=True)
class Bounds:
    """What keeps the state space finite."""

    sends: int = 1
    """``app_send`` calls that transmit, per peer."""
    pings: int = 1
    """``app_ping`` calls that transmit, per peer."""
    faults: int = 1
    """Faults per run (a slow reader behind a black hole is free)."""
    capacity: int = 0
    """Frames a pipe holds; 0 means ``sends + pings + 2`` (handshake, data, Close)."""

    @property
    def pipe_capacity(self) -> int:
        """The effective capacity of each pipe."""
        return self.capacity or self.sends + self.pings + 2

    def __str__(self) -> str:
        return (
            f"{self.sends} send(s) and {self.pings} ping(s) per peer, {self.faults} fault(s), "
            f"pipe capacity {self.pipe_capacity}"
        )


@dataclass(frozen=True, slots=True)
class _Bad:
    """A transition that breaks a property."""

    prop: str
    message: str


Outcome = World | _Bad | None
"""What a transition leads to: a world, a violation, or None when it cannot happen."""


@dataclass(frozen=True, slots=True)
class _Rule:
    """A table row compiled for the checker."""

    row: Row
    ops: tuple[tuple[str, int], ...]
    close_code: int | None
    """The code of the Close this row emits (``emit_close_frame``), when it does."""
    echoes: bool
    """The row echoes the peer's Close (``echo_close_frame``)."""


class Model:
    """The composed system of two peers built from ``spec``, within ``bounds``."""

    def __init__(self, spec: Spec, bounds: Bounds | None = None) -> None:
        self.spec = spec
        self.bounds = bounds or Bounds()
        self.capacity = self.bounds.pipe_capacity
        self.local_events = tuple(e.name for e in spec.events if e.kind == "local")
        self.timer_bits: dict[str, int] = {t: 1 << i for i, t in enumerate(spec.timers)}
        """Each timer's bit in :attr:`Peer.timers` (the spec's ``[timers]`` order)."""
        self.rules = {
            key: self._compile(row) for key, row in spec.rows.items() if not row.impossible
        }
        self.terminal = spec.terminal
        self.fired: set[tuple[str, str]] = set()
        """Every (state, event) pair fed to a peer so far."""

    def _compile(self, row: Row) -> _Rule:
        ops: list[tuple[str, int]] = []
        close_code: int | None = None
        for effect in row.effects:
            verb, _, arg = effect.partition(":")
            if verb in ("arm", "cancel") and arg in self.timer_bits:
                ops.append((verb, self.timer_bits[arg]))
            elif effect == "emit_close_frame":
                code = row.code if row.code is not None else _APP_CODES.get(row.event, 0)
                close_code = code
                ops.append(("close", code))
            elif effect == "record_close:timeout":
                ops.append(("record", row.code if row.code is not None else ABNORMAL_CLOSURE))
            elif effect in (
                "transmit",
                "transmit_ping",
                "echo_close_frame",
                "close_transport",
                "abort_transport",
                "record_close:local",
                "record_close:remote",
                "record_close:transport",
                "mark_clean",
            ):
                ops.append((effect, 0))
        return _Rule(row, tuple(ops), close_code, "echo_close_frame" in row.effects)

    # -- the system -----------------------------------------------------------

    def initial(self) -> World:
        """Both peers in the initial state with the initial effects done; the request in flight."""
        timers = 0
        for effect in self.spec.initial_effects:
            verb, _, arg = effect.partition(":")
            if arg in self.timer_bits:
                timers = (
                    timers | self.timer_bits[arg]
                    if verb == "arm"
                    else timers & ~self.timer_bits[arg]
                )
        b = self.bounds
        peer = Peer(self.spec.initial, timers, b.sends, b.pings, 0, 0, False)
        return World(
            (peer, peer), (Pipe((REQ,), LIVE, False), Pipe((), LIVE, False)), self.bounds.faults
        )

    def all_closed(self, w: World) -> bool:
        """Both peers are in a terminal state."""
        return w.peers[0].state in self.terminal and w.peers[1].state in self.terminal

    def env_enabled(self, w: World) -> bool:
        """A frame, an end of stream or a timer is still due."""
        for who in (0, 1):
            pipe = w.pipes[1 - who]
            if not pipe.hole and (pipe.frames or pipe.end in (FIN, RST)):
                return True
            if w.peers[who].timers:
                return True
        return False

    def successors(self, w: World, *, clean: bool = False) -> Iterator[tuple[str, Kind, Outcome]]:
        """Every transition enabled in ``w``: (label, kind, outcome), in a fixed order.

        With ``clean``, only the clean sub-model's: no fault, no timer, no
        ``app_abort``, and ``app_close`` only once a peer left the initial state.
        """
        for who in (0, 1):
            role = ROLES[who]
            peer = w.peers[who]
            for event in self.local_events:
                if clean and (
                    event == "app_abort"
                    or (event == "app_close" and peer.state == self.spec.initial)
                ):
                    continue
                yield f"{role} {event}", "app", self.fire(w, who, event)
            pipe = w.pipes[1 - who]
            if not pipe.hole:
                if pipe.frames:
                    head = pipe.frames[0]
                    popped = _with_pipe(w, 1 - who, Pipe(pipe.frames[1:], pipe.end, pipe.hole))
                    delivered = self.frame_event(head)
                    if delivered is None:
                        yield f"{role} recv {head}", "env", popped
                    else:
                        rcvd = head.code if head.kind == "close" else -1
                        outcome = self.fire(popped, who, delivered, rcvd)
                        yield f"{role} recv {head} -> {delivered}", "env", outcome
                elif pipe.end in (FIN, RST):
                    event = "transport_eof" if pipe.end == FIN else "transport_error"
                    done = _with_pipe(w, 1 - who, Pipe((), DONE, pipe.hole))
                    yield (
                        f"{role} recv {_END_NAMES[pipe.end]} -> {event}",
                        "env",
                        self.fire(done, who, event),
                    )
            if clean:
                continue
            for timer, bit in self.timer_bits.items():
                if peer.timers & bit:
                    event = self.spec.timers[timer]
                    disarmed = _with_peer(w, who, peer._replace(timers=peer.timers & ~bit))
                    yield f"{role} timer {timer} -> {event}", "env", self.fire(disarmed, who, event)
            out = w.pipes[who]
            if (
                (w.faults or out.hole)
                and out.end in (LIVE, FIN)
                and any(f.kind not in _HANDSHAKE for f in out.frames)
            ):
                charged = w if out.hole else w._replace(faults=w.faults - 1)
                yield (
                    f"{role} stalled -> transport_stalled",
                    "fault",
                    self.fire(charged, who, "transport_stalled"),
                )
        if clean or not w.faults:
            return
        yield from self._faults(w)

    def _faults(self, w: World) -> Iterator[tuple[str, Kind, Outcome]]:
        spent = w.faults - 1
        p0, p1 = w.pipes
        if p0.end in (LIVE, FIN) or p1.end in (LIVE, FIN):
            pipes = (_reset(p0), _reset(p1))
            yield "fault reset", "fault", World(w.peers, pipes, spent)
        for src in (0, 1):
            pipe = w.pipes[src]
            if pipe.end == LIVE:
                yield (
                    f"fault fin {_direction(src)}",
                    "fault",
                    _with_pipe(w._replace(faults=spent), src, Pipe(pipe.frames, FIN, pipe.hole)),
                )
        for src in (0, 1):
            pipe = w.pipes[src]
            if not pipe.hole and pipe.end != DONE:
                yield (
                    f"fault blackhole {_direction(src)}",
                    "fault",
                    _with_pipe(w._replace(faults=spent), src, pipe._replace(hole=True)),
                )
        if not (p0.hole or p1.hole) and DONE not in (p0.end, p1.end):
            yield (
                "fault blackhole both",
                "fault",
                World(w.peers, (p0._replace(hole=True), p1._replace(hole=True)), spent),
            )
        for src in (0, 1):
            pipe = w.pipes[src]
            if not pipe.hole and pipe.frames:
                head = pipe.frames[0]
                event = _CORRUPT[head.kind]
                popped = _with_pipe(
                    w._replace(faults=spent), src, Pipe(pipe.frames[1:], pipe.end, pipe.hole)
                )
                rcvd = head.code if head.kind == "close" else -1
                yield (
                    f"fault corrupt {_direction(src)} {head} -> {event}",
                    "fault",
                    self.fire(popped, 1 - src, event, rcvd),
                )

    @staticmethod
    def frame_event(frame: Frame) -> str | None:
        """The event a delivered frame becomes for its reader (None: handled below the machine)."""
        if frame.kind in _HANDSHAKE:
            return "handshake_ok"
        if frame.kind == "data":
            return "peer_data"
        if frame.kind == "close":
            return "peer_close" if _valid_code(frame.code) else "peer_close_invalid"
        return None

    def fire(self, w: World, who: int, event: str, rcvd: int = -1) -> Outcome:
        """Feed ``event`` to peer ``who`` and perform its row's effects.

        ``rcvd`` is the code of the Close frame being delivered (0: none in it),
        -1 when the event is not a Close delivery.
        """
        peer = w.peers[who]
        role = ROLES[who]
        self.fired.add((peer.state, event))
        rule = self.rules.get((peer.state, event))
        if rule is None:
            row = self.spec.row(peer.state, event)
            return _Bad(
                "impossible_event",
                f"{role} got {event} in {peer.state}, which the table calls impossible "
                f"(line {row.line}: {row.note})",
            )
        row = rule.row
        assert row.next is not None
        if peer.state in self.terminal and row.next != peer.state:
            return _Bad(
                "terminal_left",
                f"{role} left terminal state {peer.state} for {row.next} on {event} "
                f"(line {row.line})",
            )
        budget = _BUDGETED.get(event)
        if budget == "transmit" and peer.sends == 0 and ("transmit", 0) in rule.ops:
            return None
        if budget == "transmit_ping" and peer.pings == 0 and ("transmit_ping", 0) in rule.ops:
            return None
        timers, sends, pings, closes, code, clean = (
            peer.timers,
            peer.sends,
            peer.pings,
            peer.closes,
            peer.code,
            peer.clean,
        )
        out = w.pipes[who]
        inb = w.pipes[1 - who]
        if who == 1 and event == "handshake_ok" and out.end == LIVE:
            # The server accepting the handshake writes the 101 response first.
            if len(out.frames) >= self.capacity:
                return _Bad("channel_bound", f"{role} wrote 101 to a full pipe")
            out = Pipe((*out.frames, RESP), out.end, out.hole)
        sent_code = rule.close_code
        if sent_code is None and rule.echoes:
            sent_code = max(rcvd, 0)
        for op, arg in rule.ops:
            frame: Frame | None = None
            if op == "arm":
                timers |= arg
            elif op == "cancel":
                timers &= ~arg
            elif op == "transmit":
                frame = DATA
                if event == "app_send":
                    sends -= 1
            elif op == "transmit_ping":
                frame = PING
                if event == "app_ping":
                    pings -= 1
            elif op == "close":
                frame = Frame("close", arg)
            elif op == "echo_close_frame":
                frame = Frame("close", max(rcvd, 0))
            elif op == "close_transport":
                if out.end == LIVE:
                    out = Pipe(out.frames, FIN, out.hole)
            elif op == "abort_transport":
                out = Pipe((), DONE if out.end == DONE else RST, out.hole)
                inb = Pipe((), DONE, inb.hole)
            elif op == "mark_clean":
                clean = True
            elif code == 0:
                code = self._recorded(op, arg, event, sent_code, rcvd)
            if frame is None:
                continue
            if closes:
                if frame.kind == "close":
                    return _Bad(
                        "single_close_per_direction",
                        f"{role} wrote a second Close frame ({frame}) on {event} in "
                        f"{peer.state} (line {row.line})",
                    )
                return _Bad(
                    "no_data_after_close",
                    f"{role} wrote a {frame} frame after its Close frame, on {event} in "
                    f"{peer.state} (line {row.line})",
                )
            if frame.kind == "close":
                if frame.code and not is_sendable_code(frame.code):
                    return _Bad(
                        "no_reserved_code_on_wire",
                        f"{role} wrote {frame}, a code that may not be sent, on {event} in "
                        f"{peer.state} (line {row.line})",
                    )
                closes += 1
            if out.end == LIVE:
                if len(out.frames) >= self.capacity:
                    return _Bad(
                        "channel_bound",
                        f"{role} wrote {frame} to a full pipe ({self.capacity} frames) on "
                        f"{event} in {peer.state}",
                    )
                out = Pipe((*out.frames, frame), out.end, out.hole)
        if timers and row.next in self.terminal and peer.state not in self.terminal:
            left = ", ".join(t for t, bit in self.timer_bits.items() if timers & bit)
            return _Bad(
                "timers_cleared",
                f"{role} entered {row.next} from {peer.state} on {event} with {left} still "
                f"armed (line {row.line})",
            )
        new_peer = Peer(row.next, timers, sends, pings, closes, code, clean)
        peers = (new_peer, w.peers[1]) if who == 0 else (w.peers[0], new_peer)
        pipes = (out, inb) if who == 0 else (inb, out)
        return World(peers, pipes, w.faults)

    @staticmethod
    def _recorded(op: str, arg: int, event: str, sent_code: int | None, rcvd: int) -> int:
        """The code a ``record_close:*`` effect records (``code`` in spec/README.md)."""
        if op == "record":  # record_close:timeout, arg is the row's code or 1006
            return arg
        if op == "record_close:local":
            if sent_code is not None:
                return sent_code or NO_STATUS
            return _APP_CODES.get(event, ABNORMAL_CLOSURE)
        if op == "record_close:remote":
            return (rcvd or NO_STATUS) if rcvd >= 0 else ABNORMAL_CLOSURE
        return ABNORMAL_CLOSURE  # record_close:transport

    # -- presentation ---------------------------------------------------------

    def describe(self, w: World) -> str:
        """One line: both peers and both pipes."""
        parts = []
        for who in (0, 1):
            p = w.peers[who]
            timers = [t for t, bit in self.timer_bits.items() if p.timers & bit]
            text = f"{ROLES[who]} {p.state}"
            if timers:
                text += " {" + ", ".join(timers) + "}"
            notes = []
            if p.code:
                notes.append(f"code {p.code}")
            if p.clean:
                notes.append("clean")
            if notes:
                text += " [" + ", ".join(notes) + "]"
            parts.append(text)
        for src in (0, 1):
            pipe = w.pipes[src]
            items = [str(f) for f in pipe.frames]
            if pipe.end in _END_NAMES:
                items.append(_END_NAMES[pipe.end])
            text = f"{_direction(src)}: " + (" ".join(items) if items else "-")
            if pipe.hole:
                text += " (black hole)"
            parts.append(text)
        return " | ".join(parts)


_CORRUPT: Final = {
    "req": "handshake_fail",
    "resp": "handshake_fail",
    "data": "peer_protocol_error",
    "ping": "peer_protocol_error",
    "close": "peer_close_invalid",
}


def _valid_code(code: int) -> bool:
    return code == 0 or is_sendable_code(code)


def _direction(src: int) -> str:
    return f"{ROLES[src]}->{ROLES[1 - src]}"


def _reset(pipe: Pipe) -> Pipe:
    return Pipe((), DONE if pipe.end == DONE else RST, pipe.hole)


def _with_pipe(w: World, src: int, pipe: Pipe) -> World:
    pipes = (pipe, w.pipes[1]) if src == 0 else (w.pipes[0], pipe)
    return World(w.peers, pipes, w.faults)


def _with_peer(w: World, who: int, peer: Peer) -> World:
    peers = (peer, w.peers[1]) if who == 0 else (w.peers[0], peer)
    return World(peers, w.pipes, w.faults)


# -- results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a counterexample: the transition taken and the state it led to."""

    label: str
    """The transition, as :func:`replay` expects it: ``server recv Close(1000) -> peer_close``."""
    state: str
    """The resulting global state, described; the violation's message for a violating step."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A property that does not hold, with its shortest counterexample."""

    name: str
    """The property's name (a key of :data:`PROPERTIES`)."""
    message: str
    start: str
    """The initial global state, described."""
    trace: tuple[Step, ...]
    """Steps from the initial state (for a safety property, the last step breaks it)."""
    loop: tuple[Step, ...] = ()
    """For ``termination``: deliveries and timers from the last state into a cycle."""
    cycle_start: int = 0
    """Index in ``loop`` of the cycle's first step (the last step returns to its source)."""
    clean: bool = False
    """True when found in the clean sub-model (``clean_handshake``)."""

    @property
    def steps(self) -> tuple[str, ...]:
        """The trace's transition labels, for :func:`replay`."""
        return tuple(s.label for s in self.trace)

    def report(self) -> str:
        """The violation and its counterexample as numbered lines."""
        model = "clean sub-model" if self.clean else "full model"
        lines = [
            f"VIOLATION {self.name}: {self.message}",
            f"  shortest counterexample ({len(self.trace)} steps, {model}):",
            f"     0. start: {self.start}",
        ]
        width = max((len(s.label) for s in (*self.trace, *self.loop)), default=0)
        for i, step in enumerate(self.trace, start=1):
            lines.append(f"    {i:2d}. {step.label:<{width}}  => {step.state}")
        if self.loop:
            lines.append("      then, with no application call and no fault:")
            for n, step in enumerate(self.loop):
                if n == self.cycle_start:
                    lines.append("      and round this cycle forever:")
                lines.append(f"        . {step.label:<{width}}  => {step.state}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Result:
    """What :func:`check` found."""

    spec_path: str
    bounds: Bounds
    violations: tuple[Violation, ...]
    """At most one per property: the first found, with a shortest counterexample."""
    states: int
    """Reachable global states of the full model."""
    transitions: int
    """Transitions explored in the full model (self-loops included)."""
    clean_states: int
    """Reachable states of the clean sub-model."""
    clean_transitions: int
    seconds: float
    rows_exercised: int
    """Possible rows of the table the search fed an event through."""
    rows_unexercised: tuple[str, ...]
    """Possible rows it never reached, as ``STATE/event``."""

    @property
    def ok(self) -> bool:
        """True when every property holds."""
        return not self.violations

    def violated(self) -> tuple[str, ...]:
        """The names of the properties that do not hold."""
        return tuple(v.name for v in self.violations)

    def summary(self) -> str:
        """States, transitions and time, on one line."""
        rate = self.states / self.seconds if self.seconds else 0.0
        return (
            f"{self.states} states, {self.transitions} transitions "
            f"(clean sub-model: {self.clean_states} states, {self.clean_transitions} "
            f"transitions) in {self.seconds:.2f} s ({rate:,.0f} states/s)"
        )

    def report(self) -> str:
        """Every property with its verdict, then each counterexample."""
        lines = [f"wsstate verify: {self.spec_path}", f"  bounds: {self.bounds}"]
        lines.append(f"  explored {self.summary()}")
        total = self.rows_exercised + len(self.rows_unexercised)
        lines.append(f"  table rows exercised: {self.rows_exercised} of {total} possible rows")
        if self.rows_unexercised:
            lines.append("    never reached: " + ", ".join(self.rows_unexercised))
        bad = {v.name for v in self.violations}
        for prop in PROPERTIES:
            verdict = "VIOLATED" if prop in bad else "ok"
            lines.append(f"  {prop:<28} {verdict}")
        for v in self.violations:
            lines.append("")
            lines.append(v.report())
        lines.append("")
        if self.ok:
            lines.append(f"wsstate verify: all {len(PROPERTIES)} properties hold")
        else:
            lines.append(
                f"wsstate verify: {len(self.violations)} propert"
                f"{'y' if len(self.violations) == 1 else 'ies'} violated: "
                + ", ".join(self.violated())
            )
        return "\n".join(lines)


# -- the search ---------------------------------------------------------------

_CUT: Final = -1  # an edge to a violating transition, not followed


@dataclass(slots=True)
class _Graph:
    worlds: list[World] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    succ: list[list[int]] = field(default_factory=list)
    """Successors by the edges the liveness checks follow (env in full, all in clean)."""
    progress: list[bool] = field(default_factory=list)
    """Some env transition is enabled (self-loops and violating ones included)."""
    bad: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """property -> (source state, label, message) of its first violating transition."""
    transitions: int = 0


def _explore(model: Model, *, clean: bool) -> _Graph:
    g = _Graph()
    init = model.initial()
    index = {init: 0}
    g.worlds.append(init)
    g.parent.append(-1)
    g.label.append("start")
    g.succ.append([])
    g.progress.append(False)
    i = 0
    while i < len(g.worlds):
        w = g.worlds[i]
        succ = g.succ[i]
        progress = False
        for label, kind, outcome in model.successors(w, clean=clean):
            if outcome is None:
                continue
            g.transitions += 1
            follows = clean or kind == "env"
            if kind == "env":
                progress = True
            if isinstance(outcome, _Bad):
                if outcome.prop not in g.bad:
                    g.bad[outcome.prop] = (i, label, outcome.message)
                if follows:
                    succ.append(_CUT)
                continue
            j = index.get(outcome)
            if j is None:
                j = len(g.worlds)
                index[outcome] = j
                g.worlds.append(outcome)
                g.parent.append(i)
                g.label.append(label)
                g.succ.append([])
                g.progress.append(False)
            if follows and j != i:
                succ.append(j)
        g.progress[i] = progress
        i += 1
    return g


def _reaching(g: _Graph, good: list[bool]) -> list[bool]:
    """States from which a good state (or a cut edge) is reachable along ``succ``."""
    rev: list[list[int]] = [[] for _ in g.worlds]
    ok = list(good)
    queue: deque[int] = deque()
    for i, succ in enumerate(g.succ):
        for j in succ:
            if j == _CUT:
                ok[i] = True
            else:
                rev[j].append(i)
    queue.extend(i for i, v in enumerate(ok) if v)
    while queue:
        j = queue.popleft()
        for i in rev[j]:
            if not ok[i]:
                ok[i] = True
                queue.append(i)
    return ok


def _trace(model: Model, g: _Graph, i: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    while g.parent[i] >= 0:
        steps.append(Step(g.label[i], model.describe(g.worlds[i])))
        i = g.parent[i]
    return tuple(reversed(steps))


def _loop(model: Model, g: _Graph, start: int, trapped: list[bool]) -> tuple[tuple[Step, ...], int]:
    """A lasso from ``start``: follow successors inside the trapped set until one repeats.

    Returns the steps and the index of the step that starts the cycle.
    """
    seen: dict[int, int] = {}
    path: list[int] = []
    i = start
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        # No trapped successor but itself: the trap is a self-loop (e.g. a timer re-armed).
        i = next((j for j in g.succ[i] if j != _CUT and trapped[j]), i)
    path.append(i)
    steps = []
    for a, b in itertools.pairwise(path):
        label = next(
            lab
            for lab, kind, out in model.successors(g.worlds[a])
            if kind == "env" and isinstance(out, tuple) and out == g.worlds[b]
        )
        steps.append(Step(label, model.describe(g.worlds[b])))
    return tuple(steps), seen[i]


def _violation(
    model: Model,
    g: _Graph,
    prop: str,
    message: str,
    i: int,
    *,
    clean: bool,
    last: Step | None = None,
    loop: tuple[tuple[Step, ...], int] = ((), 0),
) -> Violation:
    trace = _trace(model, g, i)
    if last is not None:
        trace = (*trace, last)
    start = model.describe(g.worlds[0])
    return Violation(prop, message, start, trace, loop[0], loop[1], clean)


def check(spec: Spec, bounds: Bounds | None = None) -> Result:
    """Explore every reachable state of two peers built from ``spec``; check :data:`PROPERTIES`."""
    started = time.perf_counter()
    model = Model(spec, bounds)
    found: dict[str, Violation] = {}

    g = _explore(model, clean=False)
    for prop, (i, label, message) in g.bad.items():
        found[prop] = _violation(
            model, g, prop, message, i, clean=False, last=Step(label, "VIOLATION: " + message)
        )
    closed = [model.all_closed(w) for w in g.worlds]
    stuck = [not closed[i] and not g.progress[i] for i in range(len(g.worlds))]
    first_stuck = next((i for i, s in enumerate(stuck) if s), None)
    if first_stuck is not None:
        w = g.worlds[first_stuck]
        waiting = [ROLES[k] for k in (0, 1) if w.peers[k].state not in model.terminal]
        found["no_deadlock"] = _violation(
            model,
            g,
            "no_deadlock",
            f"{' and '.join(waiting)} wait(s) for nothing: no frame, end of stream or timer is due",
            first_stuck,
            clean=False,
        )
    ends = _reaching(g, [c or s for c, s in zip(closed, stuck, strict=True)])
    first_trapped = next((i for i, v in enumerate(ends) if not v), None)
    if first_trapped is not None:
        trapped = [not v for v in ends]
        found["termination"] = _violation(
            model,
            g,
            "termination",
            "from this state, deliveries and timers alone never lead to both peers CLOSED",
            first_trapped,
            clean=False,
            loop=_loop(model, g, first_trapped, trapped),
        )

    c = _explore(model, clean=True)
    clean_closed = [model.all_closed(w) for w in c.worlds]
    unclean = None
    for i, w in enumerate(c.worlds):
        if not clean_closed[i]:
            continue
        a, b = w.peers
        if not (a.clean and b.clean) or a.code != b.code:
            unclean = i
            break
    if unclean is not None:
        a, b = c.worlds[unclean].peers
        found["clean_handshake"] = _violation(
            model,
            c,
            "clean_handshake",
            "with no fault and no timer, both peers ended CLOSED but "
            f"client {'clean' if a.clean else 'NOT clean'} code {a.code}, "
            f"server {'clean' if b.clean else 'NOT clean'} code {b.code}",
            unclean,
            clean=True,
        )
    else:
        can_end = _reaching(c, clean_closed)
        first = next((i for i, v in enumerate(can_end) if not v), None)
        if first is not None:
            found["clean_handshake"] = _violation(
                model,
                c,
                "clean_handshake",
                "with no fault and no timer, no run from this state ends with both peers CLOSED",
                first,
                clean=True,
            )

    possible = [row for row in spec.iter_rows() if not row.impossible]
    unexercised = tuple(
        f"{r.state}/{r.event}" for r in possible if (r.state, r.event) not in model.fired
    )
    order = list(PROPERTIES)
    violations = tuple(sorted(found.values(), key=lambda v: order.index(v.name)))
    return Result(
        spec_path=spec.path,
        bounds=model.bounds,
        violations=violations,
        states=len(g.worlds),
        transitions=g.transitions,
        clean_states=len(c.worlds),
        clean_transitions=c.transitions,
        seconds=time.perf_counter() - started,
        rows_exercised=len(possible) - len(unexercised),
        rows_unexercised=unexercised,
    )


# -- replay ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replay:
    """What following a counterexample's steps again showed."""

    steps: tuple[Step, ...]
    """The steps taken."""
    violations: tuple[str, ...]
    """Properties broken by a step, or by the state the steps led to."""
    messages: tuple[str, ...]
    """One line per violation, or why the replay stopped early."""

    def report(self) -> str:
        """The steps and what they showed."""
        lines = [f"{i:2d}. {s.label}  => {s.state}" for i, s in enumerate(self.steps, start=1)]
        lines.extend(self.messages)
        return "\n".join(lines)


def replay(
    spec: Spec, steps: Sequence[str], bounds: Bounds | None = None, *, clean: bool = False
) -> Replay:
    """Follow transition labels ``steps`` from the initial state and check what they lead to.

    Each label must name a transition enabled at that point (else the replay
    stops and reports no violation: the scenario cannot happen with this spec).
    A step that breaks a safety property stops the replay. At the end, the
    state reached is checked for ``no_deadlock`` and ``termination`` (or, with
    ``clean``, for ``clean_handshake``).
    """
    model = Model(spec, bounds)
    w = model.initial()
    taken: list[Step] = []
    for n, label in enumerate(steps, start=1):
        outcome = next(
            (out for lab, _, out in model.successors(w, clean=clean) if lab == label), None
        )
        if outcome is None:
            return Replay(tuple(taken), (), (f"step {n} ({label}) is not possible here",))
        if isinstance(outcome, _Bad):
            taken.append(Step(label, "VIOLATION: " + outcome.message))
            return Replay(tuple(taken), (outcome.prop,), (f"{outcome.prop}: {outcome.message}",))
        w = outcome
        taken.append(Step(label, model.describe(w)))
    found: list[tuple[str, str]] = []
    if clean:
        if model.all_closed(w):
            a, b = w.peers
            if not (a.clean and b.clean) or a.code != b.code:
                found.append(("clean_handshake", "both CLOSED but not both clean with one code"))
        elif not _can_reach(model, w, clean=True):
            found.append(("clean_handshake", "no clean run from here ends with both CLOSED"))
    else:
        if not model.all_closed(w) and not model.env_enabled(w):
            found.append(("no_deadlock", "a peer is not CLOSED and nothing is due"))
        elif not _can_reach(model, w, clean=False):
            found.append(("termination", "deliveries and timers never end both peers"))
    return Replay(tuple(taken), tuple(p for p, _ in found), tuple(f"{p}: {m}" for p, m in found))


def _can_reach(model: Model, start: World, *, clean: bool) -> bool:
    """Whether both-CLOSED (or, in the full model, a stuck state) is reachable from ``start``."""
    seen = {start}
    queue = deque([start])
    while queue:
        w = queue.popleft()
        if model.all_closed(w) or (not clean and not model.env_enabled(w)):
            return True
        for _, kind, out in model.successors(w, clean=clean):
            if out is None or (not clean and kind != "env"):
                continue
            if isinstance(out, _Bad):
                return True
            if out not in seen:
                seen.add(out)
                queue.append(out)
    return False


# -- emitted tests ----------------------------------------------------------------


def render_test(result: Result, spec_path: Path, *, validated: bool = True) -> str:
    """A pytest module replaying every counterexample of ``result`` (empty result: no tests)."""
    b = result.bounds
    loader = "load_spec(SPEC)" if validated else "load_spec(SPEC, validate=False)"
    o = [
        f'"""Counterexamples found by `wsstate verify` in {spec_path.as_posix()}.\n\n',
        "Each test replays a shortest counterexample and fails while the spec still\n",
        "breaks the property; it passes once the spec is fixed (the scenario then\n",
        'breaks nothing, or can no longer happen).\n"""\n\n',
        "from __future__ import annotations\n\n",
        "from pathlib import Path\n\n",
        "from wsstate_tools.verify import Bounds, load_spec, replay\n\n",
        f"SPEC = Path({json.dumps(str(spec_path.resolve()))})\n",
        f"BOUNDS = Bounds(sends={b.sends}, pings={b.pings}, faults={b.faults}, "
        f"capacity={b.capacity})\n",
    ]
    for v in result.violations:
        o.append("\n\n")
        o.append(f"def test_{v.name}() -> None:\n")
        o.append(f'    """{v.name}: {v.message}"""\n'.replace("\\", "\\\\"))
        o.append(f"    spec = {loader}\n")
        o.append("    steps = [\n")
        for step in v.steps:
            o.append(f"        {json.dumps(step)},\n")
        o.append("    ]\n")
        o.append(f"    run = replay(spec, steps, BOUNDS, clean={v.clean})\n")
        o.append(f"    assert {json.dumps(v.name)} not in run.violations, run.report()\n")
    return "".join(o)


def load_spec(path: str | Path, *, validate: bool = True) -> Spec:
    """Load a spec; with ``validate=False``, also one the validator rejects (a mutant)."""
    if validate:
        return load(path)
    spec, _ = load_unvalidated(path)
    return spec


# -- command line ---------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--spec", help="spec file (default: spec/connection.toml)")
    parser.add_argument(
        "--unvalidated",
        action="store_true",
        help="check a spec the validator rejects (its problems are printed as warnings)",
    )
    d = Bounds()
    parser.add_argument(
        "--sends", type=int, default=d.sends, help="transmitting app_send calls per peer"
    )
    parser.add_argument(
        "--pings", type=int, default=d.pings, help="transmitting app_ping calls per peer"
    )
    parser.add_argument("--faults", type=int, default=d.faults, help="faults per run")
    parser.add_argument(
        "--capacity", type=int, default=d.capacity, help="frames per pipe (0: sends+pings+2)"
    )
    parser.add_argument("--promela", metavar="PATH", help="also write the Promela model here")
    parser.add_argument(
        "--emit-test",
        metavar="PATH",
        help="write a pytest module replaying each counterexample found",
    )


def main(args: argparse.Namespace) -> int:
    """Run the checker; exit 0 when every property holds, 1 on a violation."""
    if args.spec:
        path = Path(args.spec)
    else:
        from .paths import spec_path

        root = Path(args.root) if getattr(args, "root", None) else None
        path = spec_path("connection", root)
    if args.unvalidated:
        spec, problems = load_unvalidated(path)
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
    else:
        spec = load(path)
    bounds = Bounds(args.sends, args.pings, args.faults, args.capacity)
    if min(bounds.sends, bounds.pings, bounds.faults, bounds.capacity) < 0:
        print("wsstate verify: bounds must not be negative", file=sys.stderr)
        return 2
    if args.promela:
        from .generate.promela import render

        Path(args.promela).write_text(render(spec, bounds), encoding="utf-8")
        print(f"wrote {args.promela}")
    result = check(spec, bounds)
    print(result.report())
    if args.emit_test:
        if result.ok:
            print("no counterexample: no test written")
        else:
            text = render_test(result, path, validated=not args.unvalidated)
            Path(args.emit_test).write_text(text, encoding="utf-8")
            print(f"wrote {args.emit_test}")
    return 0 if result.ok else 1
