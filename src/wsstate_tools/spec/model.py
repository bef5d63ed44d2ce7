"""What a loaded spec is: frozen, typed objects, and the problems a malformed one has.

Nothing here reads a file or checks a rule: :mod:`.parse` builds these objects
from TOML, :mod:`.validate` checks them. Every object records the line it was
declared at, so a problem found later still names ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "EVENT_KINDS",
    "LOG_LEVELS",
    "EventDef",
    "EventKind",
    "LogLevel",
    "Problem",
    "Row",
    "Spec",
    "SpecError",
    "StateDef",
]

LogLevel = Literal["debug", "info", "warning", "error"]
EventKind = Literal["local", "remote", "transport", "timer"]

LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("local", "remote", "transport", "timer")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a spec, at ``path:line``."""

    path: str
    line: int
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}\n    fix: {self.hint}"


def sort_problems(problems: list[Problem]) -> tuple[Problem, ...]:
    """Problems in file order (then by message, so the order is deterministic)."""
    return tuple(sorted(problems, key=lambda p: (p.path, p.line, p.message)))


class SpecError(ValueError):
    """A spec file is malformed; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems: tuple[Problem, ...] = sort_problems(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in spec"
        super().__init__(head + ":\n" + "\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class StateDef:
    """A state of the machine."""

    name: str
    doc: str
    line: int


@dataclass(frozen=True, slots=True)
class EventDef:
    """An event of the machine, with its kind (local, remote, transport or timer).

    ``outcomes`` (local events only, from the event's ``outcomes`` field) are the
    effects that tell the caller how its call ended: every row of the event that
    is not impossible carries at least one of them.
    """

    name: str
    kind: EventKind
    doc: str
    line: int
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    """What the machine does for one (state, event) pair.

    ``next`` is None exactly when ``impossible`` is True. ``from_default`` marks a
    row expanded from the state's ``default`` row (``line`` is then that row's).
    """

    state: str
    event: str
    next: str | None
    effects: tuple[str, ...]
    log: LogLevel
    note: str
    line: int
    code: int | None = None
    reason: str | None = None
    impossible: bool = False
    from_default: bool = False

    @property
    def is_self_loop(self) -> bool:
        """True when the row stays in its state."""
        return self.next == self.state


@dataclass(frozen=True, slots=True)
class Spec:
    """A machine: states, events and the total transition table."""

    path: str
    name: str
    doc: str
    initial: str
    terminal: frozenset[str]
    initial_effects: tuple[str, ...]
    states: tuple[StateDef, ...]
    events: tuple[EventDef, ...]
    rows: Mapping[tuple[str, str], Row] = field(repr=False)
    effects: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The machine's effect vocabulary, from its ``[effects]`` table: effect -> what it does."""
    timers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Timers from ``[timers]``: timer -> the event it fires (``arm:``/``cancel:`` effects)."""
    harness: str | None = None
    """The module holding the stateful harness of the generated tests, if the machine has one."""
    on_terminal: tuple[str, ...] = ()
    """``[machine] on_terminal``: effects every row entering a terminal state carries, and
    no other row (the connection's ``notify_closed``)."""
    code_effects: frozenset[str] = frozenset()
    """Effects declared ``uses_code = true`` in ``[effects]``: they use the row's ``code`` and
    ``reason``, so a row giving either carries one of them."""

    @property
    def state_names(self) -> tuple[str, ...]:
        """State names in declaration order."""
        return tuple(s.name for s in self.states)

    @property
    def event_names(self) -> tuple[str, ...]:
        """Event names in declaration order."""
        return tuple(e.name for e in self.events)

    def row(self, state: str, event: str) -> Row:
        """The row for ``(state, event)``."""
        return self.rows[(state, event)]

    def iter_rows(self) -> Iterator[Row]:
        """Every row, states then events in declaration order."""
        for s in self.states:
            for e in self.events:
                yield self.rows[(s.name, e.name)]

    def event(self, name: str) -> EventDef:
        """The event called ``name``."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(name)
