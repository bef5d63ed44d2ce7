"""Load and validate a machine spec (``spec/*.toml``) into frozen, typed objects.

A spec is a total function ``(state, event) -> row``: for every pair it gives the
next state, the effects, the log level and a note, or says the event is
impossible in that state. :func:`load` parses the TOML file (stdlib
``tomllib``), expands per-state ``default`` rows and checks the machine is well
formed. Every problem is reported as ``file:line: message`` with a hint on how
to fix it; all problems found are reported at once, in file order.

The effect vocabulary (:data:`EFFECTS`) is closed: it is what the runtime, the
generated tests and the model checker all interpret. ``spec/README.md``
documents it.
"""

from __future__ import annotations

import functools
import keyword
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from .closecodes import MAX_REASON_BYTES, is_sendable_code

__all__ = [
    "EVENT_KINDS",
    "LOG_LEVELS",
    "EventDef",
    "Problem",
    "Row",
    "Spec",
    "SpecError",
    "StateDef",
    "load",
    "loads",
    "reserved_names",
]

LogLevel = Literal["debug", "info", "warning", "error"]
EventKind = Literal["local", "remote", "transport", "timer"]

LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("local", "remote", "transport", "timer")

_ROW_FIELDS: Final = frozenset({"next", "effects", "log", "note", "code", "reason", "impossible"})
_MACHINE_FIELDS: Final = frozenset(
    {"name", "doc", "initial", "terminal", "initial_effects", "harness"}
)
_EFFECT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z][A-Za-z0-9_]*)?$")
_STATE_NAME: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
_EVENT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER: Final = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(?:#.*)?$")
_KEY: Final = re.compile(r'^\s*(?:"([^"\\]+)"|([A-Za-z0-9_\-]+))\s*=')
_TOML_LINE: Final = re.compile(r"at line (\d+)")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a spec, at ``path:line``."""

    path: str
    line: int
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}\n    fix: {self.hint}"


class SpecError(ValueError):
    """A spec file is malformed; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.path, p.line, p.message))
        )
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
    """An event of the machine, with its kind (local, remote, transport or timer)."""

    name: str
    kind: EventKind
    doc: str
    line: int


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
    """A validated machine: states, events and the total transition table."""

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


@functools.cache
def reserved_names() -> frozenset[str]:
    """Names a state id or event may not take: attributes of python-statemachine's StateChart.

    An event named like an attribute (``send``, ``model``, ``configuration``...)
    silently replaces it in the generated class.
    """
    from statemachine import State, StateChart

    class _Probe(StateChart):  # type: ignore[type-arg]
        only = State(initial=True)
        step = only.to(only)

    # dir() of a subclass instance: StateChart's attributes, the ones its metaclass
    # adds to every subclass (final_states, initial_state) and the instance's own.
    names = set(dir(StateChart)) | set(dir(_Probe()))
    names -= {"only", "step"}
    return frozenset(n for n in names if not n.startswith("__"))


class _Lines:
    """Maps TOML sections and keys to line numbers (tomllib does not report them)."""

    def __init__(self, text: str) -> None:
        self.sections: dict[str, int] = {}
        self.keys: dict[tuple[str, str], list[int]] = {}
        section = ""
        in_multiline = False
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if in_multiline:
                if line.split("#", 1)[0].rstrip().endswith("]"):
                    in_multiline = False
                continue
            if not line or line.startswith("#"):
                continue
            header = _HEADER.match(raw)
            if header:
                section = header.group(1).replace(" ", "")
                self.sections.setdefault(section, number)
                continue
            key = _KEY.match(raw)
            if key:
                name = key.group(1) or key.group(2)
                self.keys.setdefault((section, name), []).append(number)
                value = raw.split("=", 1)[1].split("#", 1)[0].strip()
                if value.startswith("[") and not value.endswith("]"):
                    in_multiline = True

    def key(self, section: str, key: str) -> int:
        lines = self.keys.get((section, key))
        return lines[0] if lines else self.section(section)

    def section(self, section: str) -> int:
        return self.sections.get(section, 1)


def load(path: str | Path) -> Spec:
    """Load, expand and validate the spec at ``path``; raise :class:`SpecError` if malformed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            [Problem(str(p), 1, f"cannot read spec: {exc}", "check the path")]
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [Problem(str(p), 1, f"spec is not UTF-8: {exc}", "save the file as UTF-8")]
        ) from None
    return loads(text, str(p))


def loads(text: str, path: str = "<spec>") -> Spec:
    """Parse and validate spec ``text``; ``path`` names it in error messages."""
    return _Loader(text, path).run()


class _Loader:
    def __init__(self, text: str, path: str) -> None:
        self.effects: dict[str, str] = {}
        self.text = text
        self.path = path
        self.lines = _Lines(text)
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str, hint: str) -> None:
        self.problems.append(Problem(self.path, line, message, hint))

    def fail_if_any(self) -> None:
        if self.problems:
            raise SpecError(self.problems)

    # -- parsing --------------------------------------------------------------

    def run(self) -> Spec:
        self.check_duplicate_keys()
        self.fail_if_any()
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = _TOML_LINE.search(str(exc))
            self.problem(
                int(m.group(1)) if m else max(1, len(self.text.splitlines())),
                f"invalid TOML: {exc}",
                "fix the syntax (see https://toml.io)",
            )
            self.fail_if_any()
            raise AssertionError("unreachable") from exc

        machine = self.table(data, "machine")
        self.effects = self.parse_effects(self.table(data, "effects"))
        timers = self.parse_timers(data.get("timers", {}))
        states = self.parse_states(self.table(data, "states"))
        events = self.parse_events(self.table(data, "events"))
        name = self.string(machine, "machine", "name")
        doc = self.string(machine, "machine", "doc")
        initial = self.string(machine, "machine", "initial")
        terminal_raw = machine.get("terminal")
        terminal: list[str] = []
        if not isinstance(terminal_raw, list) or not all(isinstance(t, str) for t in terminal_raw):
            self.problem(
                self.lines.key("machine", "terminal"),
                "machine.terminal must be a list of state names",
                'write terminal = ["CLOSED"]',
            )
        else:
            terminal = list(terminal_raw)
        initial_effects = self.effects_list(
            machine.get("initial_effects", []), self.lines.key("machine", "initial_effects")
        )
        for key in machine:
            if key not in _MACHINE_FIELDS:
                self.problem(
                    self.lines.key("machine", key),
                    f"unknown field machine.{key}",
                    f"allowed: {', '.join(sorted(_MACHINE_FIELDS))}",
                )
        harness = machine.get("harness")
        if harness is not None and not (isinstance(harness, str) and harness):
            self.problem(
                self.lines.key("machine", "harness"),
                "machine.harness must be a module name",
                'write harness = "wsstate.testing.stateful"',
            )
            harness = None
        state_names = [s.name for s in states]
        if initial and initial not in state_names:
            self.problem(
                self.lines.key("machine", "initial"),
                f"unknown initial state {initial!r}",
                f"use one of {', '.join(state_names)}",
            )
        for t in terminal:
            if t not in state_names:
                self.problem(
                    self.lines.key("machine", "terminal"),
                    f"unknown terminal state {t!r}",
                    f"use one of {', '.join(state_names)}",
                )
        rows = self.parse_transitions(data.get("transitions"), states, events)
        self.fail_if_any()
        spec = Spec(
            path=self.path,
            name=name,
            doc=doc,
            initial=initial,
            terminal=frozenset(terminal),
            initial_effects=initial_effects,
            states=tuple(states),
            events=tuple(events),
            rows=MappingProxyType(rows),
            effects=MappingProxyType(dict(self.effects)),
            timers=MappingProxyType(timers),
            harness=harness,
        )
        self.check_graph(spec)
        self.check_names(spec)
        self.fail_if_any()
        return spec

    def check_duplicate_keys(self) -> None:
        for (section, key), numbers in self.lines.keys.items():
            if len(numbers) > 1:
                where = f"[{section}]" if section else "the top level"
                if section.startswith("transitions."):
                    what = f"duplicate row for ({section.split('.', 1)[1]}, {key})"
                else:
                    what = f"duplicate key {key!r} in {where}"
                for n in numbers[1:]:
                    self.problem(
                        n,
                        f"{what}; first defined at line {numbers[0]}",
                        "keep exactly one row per (state, event) pair: delete or merge one",
                    )

    def table(self, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = data.get(name)
        if not isinstance(value, dict):
            self.problem(
                self.lines.section(name),
                f"missing or malformed [{name}] table",
                f"add a [{name}] section (see spec/README.md)",
            )
            return {}
        return value

    def string(self, table: Mapping[str, Any], section: str, key: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            self.problem(
                self.lines.key(section, key),
                f"{section}.{key} must be a non-empty string",
                f'write {key} = "..." in [{section}]',
            )
            return ""
        return value

    def parse_states(self, table: Mapping[str, Any]) -> list[StateDef]:
        states = []
        for name, doc in table.items():
            line = self.lines.key("states", name)
            if not _STATE_NAME.match(name):
                self.problem(
                    line,
                    f"bad state name {name!r}",
                    "state names are UPPER_SNAKE_CASE, e.g. CLOSE_RECEIVED",
                )
            if not isinstance(doc, str) or not doc:
                self.problem(
                    line, f"state {name} needs a one-line description", f'write {name} = "..."'
                )
                doc = ""
            states.append(StateDef(name, doc, line))
        return states

    def parse_events(self, table: Mapping[str, Any]) -> list[EventDef]:
        events = []
        for name, body in table.items():
            line = self.lines.key("events", name)
            if not _EVENT_NAME.match(name):
                self.problem(line, f"bad event name {name!r}", "event names are lower_snake_case")
            if not isinstance(body, dict):
                self.problem(
                    line,
                    f"event {name} must be an inline table",
                    f'write {name} = {{ kind = "local", doc = "..." }}',
                )
                continue
            kind = body.get("kind")
            doc = body.get("doc")
            if kind not in EVENT_KINDS:
                self.problem(
                    line,
                    f"event {name} has unknown kind {kind!r}",
                    f"use one of {', '.join(EVENT_KINDS)}",
                )
                kind = "local"
            if not isinstance(doc, str) or not doc:
                self.problem(line, f"event {name} needs a doc string", 'add doc = "..."')
                doc = ""
            extra = set(body) - {"kind", "doc"}
            if extra:
                self.problem(
                    line,
                    f"event {name} has unknown field(s) {', '.join(sorted(extra))}",
                    "allowed: kind, doc",
                )
            events.append(EventDef(name, cast(EventKind, kind), doc, line))
        return events

    def parse_effects(self, table: Mapping[str, Any]) -> dict[str, str]:
        effects: dict[str, str] = {}
        for name, doc in table.items():
            line = self.lines.key("effects", name)
            if not _EFFECT_NAME.match(name):
                self.problem(
                    line,
                    f"bad effect name {name!r}",
                    "effect names are lower_snake_case, optionally kind:argument "
                    "(arm:close_timer, raise:InvalidState)",
                )
            if not isinstance(doc, str) or not doc:
                self.problem(
                    line,
                    f"effect {name} needs a one-line description",
                    f'write "{name}" = "what the runtime does"',
                )
                doc = ""
            effects[name] = doc
        return effects

    def parse_timers(self, table: object) -> dict[str, str]:
        if not isinstance(table, dict):
            self.problem(
                self.lines.section("timers"),
                "[timers] must be a table of timer = event",
                'write close_timer = "close_timeout"',
            )
            return {}
        timers: dict[str, str] = {}
        for name, event in table.items():
            line = self.lines.key("timers", name)
            if not isinstance(event, str):
                self.problem(
                    line, f"timer {name} must name the event it fires", f'write {name} = "..."'
                )
                continue
            timers[name] = event
        return timers

    def effects_list(self, value: object, line: int) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(line, "effects must be a list of strings", 'write effects = ["..."]')
            return ()
        for effect in value:
            if effect not in self.effects:
                self.problem(
                    line,
                    f"unknown effect {effect!r}",
                    "declare it in the spec's [effects] table, or use one of: "
                    + ", ".join(sorted(self.effects)),
                )
        seen = set()
        for effect in value:
            if effect in seen:
                self.problem(line, f"effect {effect!r} listed twice", "list each effect once")
            seen.add(effect)
        return tuple(value)

    def parse_row(
        self, state: str, event: str, body: object, line: int, state_names: list[str]
    ) -> Row | None:
        if not isinstance(body, dict):
            self.problem(
                line,
                f"row ({state}, {event}) must be an inline table",
                f'write {event} = {{ next = "...", effects = [...], log = "debug", note = "..." }}',
            )
            return None
        unknown = set(body) - _ROW_FIELDS
        if unknown:
            self.problem(
                line,
                f"row ({state}, {event}) has unknown field(s) {', '.join(sorted(unknown))}",
                f"allowed: {', '.join(sorted(_ROW_FIELDS))}",
            )
        note = body.get("note")
        if not isinstance(note, str) or not note:
            self.problem(line, f"row ({state}, {event}) needs a note", 'add note = "why"')
            note = ""
        impossible = body.get("impossible", False)
        if not isinstance(impossible, bool):
            self.problem(line, "impossible must be true or false", "write impossible = true")
            impossible = False
        if impossible:
            extra = set(body) & {"next", "effects", "log", "code", "reason"}
            if extra:
                self.problem(
                    line,
                    f"impossible row ({state}, {event}) has {', '.join(sorted(extra))}",
                    "an impossible row has only impossible = true and a note",
                )
            return Row(state, event, None, (), "error", note, line, impossible=True)
        nxt = body.get("next")
        if not isinstance(nxt, str):
            self.problem(
                line,
                f"row ({state}, {event}) has no next state",
                'add next = "STATE", or impossible = true if the event cannot occur here',
            )
            nxt = state
        elif nxt not in state_names:
            self.problem(
                line,
                f"row ({state}, {event}) goes to unknown state {nxt!r}",
                f"use one of {', '.join(state_names)}",
            )
        effects = self.effects_list(body.get("effects"), line)
        log = body.get("log")
        if log not in LOG_LEVELS:
            self.problem(
                line,
                f"row ({state}, {event}) has log level {log!r}",
                f"use one of {', '.join(LOG_LEVELS)}",
            )
            log = "debug"
        code = body.get("code")
        reason = body.get("reason")
        if code is not None and (
            isinstance(code, bool) or not isinstance(code, int) or not is_sendable_code(code)
        ):
            self.problem(
                line,
                f"row ({state}, {event}) has close code {code!r}, which may not be sent",
                "use 1000-1003, 1007-1014 or 3000-4999",
            )
        if reason is not None and (
            not isinstance(reason, str) or len(reason.encode("utf-8")) > MAX_REASON_BYTES
        ):
            self.problem(
                line,
                f"row ({state}, {event}) has a reason that is not a string of at most "
                f"{MAX_REASON_BYTES} UTF-8 bytes",
                "shorten the reason",
            )
        sets_close = code is not None or reason is not None
        if sets_close and not {"emit_close_frame", "record_close:timeout"} & set(effects):
            self.problem(
                line,
                f"row ({state}, {event}) sets code/reason but neither emits nor records a Close",
                "add emit_close_frame, or remove code and reason",
            )
        return Row(
            state,
            event,
            nxt,
            effects,
            cast(LogLevel, log),
            note,
            line,
            code=code if isinstance(code, int) else None,
            reason=reason if isinstance(reason, str) else None,
        )

    def parse_transitions(
        self, value: object, states: list[StateDef], events: list[EventDef]
    ) -> dict[tuple[str, str], Row]:
        rows: dict[tuple[str, str], Row] = {}
        if not isinstance(value, dict):
            self.problem(
                self.lines.section("transitions"),
                "missing [transitions.STATE] tables",
                "add one [transitions.STATE] table per state",
            )
            return rows
        state_names = [s.name for s in states]
        event_names = [e.name for e in events]
        for state, table in value.items():
            section = f"transitions.{state}"
            if state not in state_names:
                self.problem(
                    self.lines.section(section),
                    f"unknown state {state!r} in [{section}]",
                    f"declare it in [states] or use one of {', '.join(state_names)}",
                )
                continue
            if not isinstance(table, dict):
                self.problem(self.lines.section(section), f"[{section}] must be a table", "")
                continue
            default: Row | None = None
            for event, body in table.items():
                line = self.lines.key(section, event)
                if event == "default":
                    default = self.parse_row(state, "default", body, line, state_names)
                    continue
                if event not in event_names:
                    self.problem(
                        line,
                        f"unknown event {event!r} in [{section}]",
                        f"declare it in [events] or use one of {', '.join(event_names)}",
                    )
                    continue
                row = self.parse_row(state, event, body, line, state_names)
                if row is not None:
                    rows[(state, event)] = row
            for event in event_names:
                if (state, event) in rows:
                    continue
                if default is not None:
                    rows[(state, event)] = Row(
                        state,
                        event,
                        default.next,
                        default.effects,
                        default.log,
                        default.note,
                        default.line,
                        code=default.code,
                        reason=default.reason,
                        impossible=default.impossible,
                        from_default=True,
                    )
                else:
                    self.problem(
                        self.lines.section(section),
                        f"missing row for ({state}, {event})",
                        f"add {event} = {{ ... }} to [{section}], or a default row",
                    )
        for sdef in states:
            if sdef.name not in value:
                self.problem(
                    sdef.line,
                    f"state {sdef.name} has no [transitions.{sdef.name}] table",
                    f"add [transitions.{sdef.name}] with a row for every event",
                )
        return rows

    # -- semantic checks ---------------------------------------------------------

    def check_graph(self, spec: Spec) -> None:
        succ: dict[str, set[str]] = {s: set() for s in spec.state_names}
        for row in spec.iter_rows():
            if row.next is not None:
                succ[row.state].add(row.next)
        reached = {spec.initial}
        frontier = [spec.initial]
        while frontier:
            for nxt in succ[frontier.pop()]:
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        for s in spec.states:
            if s.name not in reached:
                self.problem(
                    s.line,
                    f"state {s.name} is unreachable from the initial state {spec.initial}",
                    f"add a row whose next is {s.name}, or remove the state",
                )
        can_end = set(spec.terminal)
        changed = True
        while changed:
            changed = False
            for name, nexts in succ.items():
                if name not in can_end and nexts & can_end:
                    can_end.add(name)
                    changed = True
        for s in spec.states:
            if s.name in reached and s.name not in can_end:
                self.problem(
                    s.line,
                    f"no terminal state ({', '.join(sorted(spec.terminal))}) "
                    f"can be reached from {s.name}",
                    f"add a row from {s.name} that leads towards a terminal state",
                )
        if not spec.terminal:
            self.problem(
                self.lines.key("machine", "terminal"),
                "the machine has no terminal state",
                'declare one: terminal = ["CLOSED"]',
            )
        for row in spec.iter_rows():
            if row.next is None:
                continue
            entering = row.state not in spec.terminal and row.next in spec.terminal
            if row.state in spec.terminal and row.next != row.state:
                self.problem(
                    row.line,
                    f"terminal state {row.state} is left by {row.event} (to {row.next})",
                    f'a terminal state only absorbs events: write next = "{row.state}"',
                )
            has_notify = "notify_closed" in row.effects
            if entering and not has_notify:
                self.problem(
                    row.line,
                    f"row ({row.state}, {row.event}) enters terminal {row.next} "
                    "without notify_closed",
                    "add notify_closed: the closed notification must fire on entering CLOSED",
                )
            if has_notify and not entering:
                self.problem(
                    row.line,
                    f"row ({row.state}, {row.event}) has notify_closed but does not enter "
                    "a terminal state",
                    "remove notify_closed: it fires exactly once, on entering the terminal state",
                )

    def check_names(self, spec: Spec) -> None:
        reserved = reserved_names()
        ids: dict[str, str] = {}
        for s in spec.states:
            ident = s.name.lower()
            if ident in reserved:
                self.problem(
                    s.line,
                    f"state {s.name} becomes attribute {ident!r}, which python-statemachine's "
                    "StateChart already defines",
                    "rename the state",
                )
            ids[ident] = f"state {s.name}"
        for e in spec.events:
            if e.name in reserved:
                self.problem(
                    e.line,
                    f"event {e.name!r} collides with python-statemachine's StateChart.{e.name}",
                    f"rename it (e.g. app_{e.name}); an event named like an attribute silently "
                    "replaces it",
                )
            elif keyword.iskeyword(e.name) or e.name == "default":
                self.problem(
                    e.line,
                    f"event {e.name!r} is a reserved word",
                    f"rename it (e.g. app_{e.name}): a Python keyword cannot name the generated "
                    "method, and `default` names a state's default row",
                )
            elif e.name in ids:
                self.problem(
                    e.line,
                    f"event {e.name!r} collides with {ids[e.name]}",
                    "rename the event or the state",
                )


class _LenientLoader(_Loader):
    """A loader that records problems instead of raising them (see :func:`load_unvalidated`)."""

    def fail_if_any(self) -> None:
        pass


def load_unvalidated(path: str | Path) -> tuple[Spec, tuple[Problem, ...]]:
    """Load the spec at ``path`` even if the validator rejects it; return it and the problems.

    For the model checker's mutants (``tests/fixtures/mutants``): a spec whose
    terminal state can be left, or whose row carries a close code that may not be
    sent, is rejected by :func:`load`, yet the checker must be able to show what
    goes wrong when it runs. The problems :func:`load` would raise are returned
    alongside the spec (empty for a valid spec). A spec that cannot be built at
    all (unreadable, invalid TOML, a missing row, an unknown state) still raises
    :class:`SpecError`.
    """
    try:
        return load(path), ()
    except SpecError as exc:
        error = exc
    text = Path(path).read_text(encoding="utf-8")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise error from None
    loader = _LenientLoader(text, str(path))
    spec = loader.run()
    names = set(spec.state_names)
    usable = (
        spec.initial in names
        and spec.terminal <= names
        and len(spec.rows) == len(spec.states) * len(spec.events)
        and all(row.next is None or row.next in names for row in spec.rows.values())
    )
    if not usable:
        raise error
    return spec, tuple(sorted(loader.problems, key=lambda p: (p.path, p.line, p.message)))
