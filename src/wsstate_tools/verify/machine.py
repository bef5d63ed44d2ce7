"""One machine alone: the well-formedness checks ``wsstate verify NAME`` runs on every machine.

Theory of operation
===================

A machine is checked under its own table, with nothing around it: no peer, no
channel, no runtime. A *configuration* (:class:`Config`) is the machine's state
and the set of its timers that are armed (``arm:``/``cancel:`` effects, the
timers the spec declares in ``[timers]``). From a configuration, an event can
be fed when:

* its kind is ``local``: always. The application may call at any time, so a
  row that calls a local event impossible is reachable the moment its state is;
* a timer that fires it is armed: the timer is disarmed, then the row runs;
* otherwise (``remote``, ``transport``, a ``timer`` event no timer fires): when
  the table says it can happen there (its row is not impossible). The table is
  trusted for what the outside world can do; the composition of a machine with
  its peers (:mod:`.compositions`) is what checks that trust.

Properties (:data:`WELLFORMED`) are checked on every transition (a transition
that breaks one is not followed further), or on the explored graph
(``termination``). The search (:func:`wsstate_tools.verify.search.check_machine`)
is breadth-first, so every counterexample is a shortest one.
:mod:`wsstate_tools.generate.promela` renders the same model for SPIN when the
machine has no composition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

from ..spec import Spec
from .model import Bad, Kind

__all__ = ["WELLFORMED", "Config", "MachineModel", "ambiguous_timers", "timer_ops"]

#: The properties every machine must have, checked on the machine alone.
WELLFORMED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "deterministic": "in every reachable configuration, an event has one outcome: no two "
        "armed timers fire the same event (handed the event, the runtime could not tell "
        "which timer ran out)",
        "impossible_event": "no event that can occur is one the table calls impossible: a "
        "local event in any reachable state (the application may call at any time), a "
        "timer's event wherever the timer is armed",
        "terminal_left": "a terminal state only absorbs: no row leaves it",
        "timers_cleared": "a row entering a terminal state leaves no timer armed: every timer "
        "armed is cancelled, or has fired, before the machine ends",
        "termination": "from every reachable configuration, some sequence of events the "
        "table allows leads to a terminal state",
    }
)


class Config(NamedTuple):
    """A configuration of the machine alone."""

    state: str
    timers: int
    """Bit set of armed timers (bit order: the spec's ``[timers]``)."""


def timer_ops(spec: Spec, effects: tuple[str, ...]) -> tuple[int, int]:
    """The ``(clear, set)`` masks of ``effects`` on the timers, performed in order.

    The timers after the effects are ``(timers & ~clear) | set``: for each
    timer, the last ``arm:``/``cancel:`` effect naming it decides.
    """
    bits = {t: 1 << i for i, t in enumerate(spec.timers)}
    clear = 0
    arm = 0
    for effect in effects:
        verb, _, arg = effect.partition(":")
        bit = bits.get(arg)
        if bit is None:
            continue
        if verb == "arm":
            arm |= bit
            clear &= ~bit
        elif verb == "cancel":
            clear |= bit
            arm &= ~bit
    return clear, arm


def ambiguous_timers(spec: Spec) -> dict[str, int]:
    """Events fired by two timers or more -> the mask of those timers."""
    masks: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, event in enumerate(spec.timers.values()):
        masks[event] = masks.get(event, 0) | 1 << i
        count[event] = count.get(event, 0) + 1
    return {e: m for e, m in masks.items() if count[e] > 1}


class MachineModel:
    """The configurations of ``spec`` alone, and its transitions."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.terminal = spec.terminal
        self.timer_bits: dict[str, int] = {t: 1 << i for i, t in enumerate(spec.timers)}
        timed = set(spec.timers.values())
        self.local_events = tuple(e.name for e in spec.events if e.kind == "local")
        self.free_events = tuple(
            e.name
            for e in spec.events
            if e.kind != "local" and not (e.kind == "timer" and e.name in timed)
        )
        """Events fed wherever their row is possible (remote, transport, untimed timer)."""
        self.ops = {key: timer_ops(spec, row.effects) for key, row in spec.rows.items()}
        self.ambiguous = ambiguous_timers(spec)
        self.fired: set[tuple[str, str]] = set()
        """Every (state, event) pair fed so far."""

    def initial(self) -> Config:
        """The initial state, with the initial effects' timers armed."""
        clear, arm = timer_ops(self.spec, self.spec.initial_effects)
        return Config(self.spec.initial, arm & ~clear)

    def done(self, c: Config) -> bool:
        """The machine is in a terminal state."""
        return c.state in self.terminal

    def successors(
        self, c: Config, *, clean: bool = False
    ) -> Iterator[tuple[str, Kind, Config | Bad | None]]:
        """Every transition enabled in ``c``: (label, kind, outcome), in a fixed order.

        Labels are the event's name, or ``timer T -> event`` for a timer firing.
        Every transition is of kind ``env`` (``clean`` is accepted for the search's
        sake and changes nothing).
        """
        del clean
        for event in self.local_events:
            yield event, "env", self.fire(c, event)
        for event in self.free_events:
            if not self.spec.row(c.state, event).impossible:
                yield event, "env", self.fire(c, event)
        for timer, bit in self.timer_bits.items():
            if c.timers & bit:
                event = self.spec.timers[timer]
                yield (
                    f"timer {timer} -> {event}",
                    "env",
                    self.fire(Config(c.state, c.timers & ~bit), event),
                )

    def fire(self, c: Config, event: str) -> Config | Bad:
        """Feed ``event`` in configuration ``c`` (a firing timer already disarmed)."""
        self.fired.add((c.state, event))
        row = self.spec.row(c.state, event)
        if row.impossible or row.next is None:
            why = "the application may call it at any time"
            if self.spec.event(event).kind != "local":
                why = "a timer that fires it is armed"
            return Bad(
                "impossible_event",
                f"{event} in {c.state}, which the table calls impossible (line {row.line}: "
                f"{row.note}), yet {why}",
            )
        if c.state in self.terminal and row.next != c.state:
            return Bad(
                "terminal_left",
                f"terminal state {c.state} left for {row.next} on {event} (line {row.line})",
            )
        clear, arm = self.ops[(c.state, event)]
        timers = (c.timers & ~clear) | arm
        if timers and row.next in self.terminal and c.state not in self.terminal:
            return Bad(
                "timers_cleared",
                f"entered {row.next} from {c.state} on {event} with {self.timer_names(timers)} "
                f"still armed (line {row.line})",
            )
        for ev, mask in self.ambiguous.items():
            both = timers & mask
            if both & (both - 1):
                return Bad(
                    "deterministic",
                    f"{event} in {c.state} (line {row.line}) leads to {row.next} with "
                    f"{self.timer_names(both)} armed, which all fire {ev}",
                )
        return Config(row.next, timers)

    def timer_names(self, timers: int) -> str:
        """The names of the timers in bit set ``timers``."""
        return ", ".join(t for t, bit in self.timer_bits.items() if timers & bit)

    def describe(self, c: Config) -> str:
        """One line: the state and its armed timers."""
        if c.timers:
            return f"{c.state} {{{self.timer_names(c.timers)}}}"
        return c.state
