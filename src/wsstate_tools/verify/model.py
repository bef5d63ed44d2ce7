"""The connection composition: two peers over a faulty TCP channel (``wsstate verify``).

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

:mod:`.search` explores this model (:func:`~wsstate_tools.verify.search.check`);
:mod:`wsstate_tools.generate.promela` renders the same model for SPIN, and imports
nothing else of the checker. This module is the connection's entry in
:data:`wsstate_tools.verify.compositions.COMPOSITIONS`; a machine without a
composition is checked alone (:mod:`.machine`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

from ..closecodes import ABNORMAL_CLOSURE, NO_STATUS, is_sendable_code
from ..spec import Row, Spec

__all__ = [
    "APP_CLOSE_CODE",
    "INVALID_CLOSE_CODE",
    "PROPERTIES",
    "ROLES",
    "Bad",
    "Bounds",
    "Frame",
    "Kind",
    "Model",
    "Outcome",
    "Peer",
    "Pipe",
    "World",
    "opening_states",
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
class Bad:
    """A transition that breaks a property."""

    prop: str
    message: str


Outcome = World | Bad | None
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
        self.opening = opening_states(spec)
        """States a peer is in before its opening handshake completed (``handshake_ok``)."""
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
        ``app_abort``, and ``app_close`` only once the peer's opening handshake completed
        (it left :attr:`opening`).
        """
        for who in (0, 1):
            role = ROLES[who]
            peer = w.peers[who]
            for event in self.local_events:
                if clean and (
                    event == "app_abort" or (event == "app_close" and peer.state in self.opening)
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
            return Bad(
                "impossible_event",
                f"{role} got {event} in {peer.state}, which the table calls impossible "
                f"(line {row.line}: {row.note})",
            )
        row = rule.row
        assert row.next is not None
        if peer.state in self.terminal and row.next != peer.state:
            return Bad(
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
                return Bad("channel_bound", f"{role} wrote 101 to a full pipe")
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
                    return Bad(
                        "single_close_per_direction",
                        f"{role} wrote a second Close frame ({frame}) on {event} in "
                        f"{peer.state} (line {row.line})",
                    )
                return Bad(
                    "no_data_after_close",
                    f"{role} wrote a {frame} frame after its Close frame, on {event} in "
                    f"{peer.state} (line {row.line})",
                )
            if frame.kind == "close":
                if frame.code and not is_sendable_code(frame.code):
                    return Bad(
                        "no_reserved_code_on_wire",
                        f"{role} wrote {frame}, a code that may not be sent, on {event} in "
                        f"{peer.state} (line {row.line})",
                    )
                closes += 1
            if out.end == LIVE:
                if len(out.frames) >= self.capacity:
                    return Bad(
                        "channel_bound",
                        f"{role} wrote {frame} to a full pipe ({self.capacity} frames) on "
                        f"{event} in {peer.state}",
                    )
                out = Pipe((*out.frames, frame), out.end, out.hole)
        if timers and row.next in self.terminal and peer.state not in self.terminal:
            left = ", ".join(t for t, bit in self.timer_bits.items() if timers & bit)
            return Bad(
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


def opening_states(spec: Spec) -> frozenset[str]:
    """The initial state and every state reached from it before ``handshake_ok``.

    Rows entering a terminal state end the connection rather than the handshake,
    so they are not followed either.
    """
    seen = {spec.initial}
    frontier = [spec.initial]
    while frontier:
        state = frontier.pop()
        for event in spec.event_names:
            row = spec.row(state, event)
            nxt = row.next
            if event == "handshake_ok" or nxt is None or nxt in spec.terminal or nxt in seen:
                continue
            seen.add(nxt)
            frontier.append(nxt)
    return frozenset(seen)


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
