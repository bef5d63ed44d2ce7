"""Read a spec's TOML and build a :class:`~.model.Spec`, resolving every name it uses.

Parsing reports what makes a spec unreadable or ambiguous: invalid TOML, a
duplicate key, an unknown table or field, a value of the wrong type, a name in
bad syntax, a reference to a state, event, effect or timer the spec does not
declare. What is left to :mod:`.validate` are rules about a well-formed
machine (its graph, its names against python-statemachine's, what its rows
carry).

``tomllib`` does not report line numbers, so :class:`Lines` maps every table
and key to the line it is on, from the text itself.
"""

from __future__ import annotations

import difflib
import keyword
import re
import tomllib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, cast

from ..closecodes import MAX_REASON_BYTES, is_sendable_code
from .model import (
    EVENT_KINDS,
    LOG_LEVELS,
    EventDef,
    EventKind,
    LogLevel,
    Problem,
    Row,
    Spec,
    StateDef,
)

__all__ = ["Lines", "Parser"]

#: The tables a spec may have at the top level, in the order spec/README.md gives them.
TOP_LEVEL: Final = ("machine", "states", "events", "effects", "timers", "transitions")
MACHINE_FIELDS: Final = frozenset(
    {"name", "doc", "initial", "terminal", "initial_effects", "on_terminal", "harness"}
)
EVENT_FIELDS: Final = frozenset({"kind", "doc", "outcomes"})
EFFECT_FIELDS: Final = frozenset({"doc", "uses_code"})
ROW_FIELDS: Final = frozenset({"next", "effects", "log", "note", "code", "reason", "impossible"})
#: Effects of these kinds name a timer of the spec's [timers] table after the colon.
TIMER_EFFECT_KINDS: Final = ("arm", "cancel")

EFFECT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z][A-Za-z0-9_]*)?$")
STATE_NAME: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
EVENT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
MACHINE_NAME: Final = EVENT_NAME
MODULE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(?:#.*)?$")
_KEY: Final = re.compile(r'^\s*(?:"([^"\\]+)"|([A-Za-z0-9_\-]+))\s*=')
_TOML_LINE: Final = re.compile(r"at line (\d+)")


class Lines:
    """Maps TOML sections and keys to line numbers (tomllib does not report them)."""

    def __init__(self, text: str) -> None:
        self.sections: dict[str, int] = {}
        self.keys: dict[tuple[str, str], list[int]] = {}
        #: top-level name -> (first line it appears on, how it appears: "[a.b]", "[[a]]" or "a")
        self.top: dict[str, tuple[int, str]] = {}
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
                brackets, section = header.group(1), header.group(2).replace(" ", "")
                self.sections.setdefault(section, number)
                written = brackets + section + "]" * len(brackets)
                self.top.setdefault(section.split(".", 1)[0], (number, written))
                continue
            key = _KEY.match(raw)
            if key:
                name = key.group(1) or key.group(2)
                self.keys.setdefault((section, name), []).append(number)
                if not section:
                    self.top.setdefault(name, (number, name))
                value = raw.split("=", 1)[1].split("#", 1)[0].strip()
                if value.startswith("[") and not value.endswith("]"):
                    in_multiline = True

    def key(self, section: str, key: str) -> int:
        """The line of ``key`` in ``[section]`` (or of a ``[section.key]`` table), else the
        section's."""
        lines = self.keys.get((section, key))
        if lines:
            return lines[0]
        return self.sections.get(f"{section}.{key}") or self.section(section)

    def section(self, section: str) -> int:
        """The line of the ``[section]`` header, else 1."""
        return self.sections.get(section, 1)


def _suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


class Parser:
    """Builds a :class:`Spec` from spec text, collecting every problem it finds.

    :meth:`read` parses the TOML (``None`` if it cannot); :meth:`build` makes the
    spec out of it. After either, ``problems`` holds what was wrong; a spec built
    despite problems may be inconsistent (an unknown state in a row, a missing
    row).
    """

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines = Lines(text)
        self.problems: list[Problem] = []
        self.effects: dict[str, str] = {}
        self.code_effects: set[str] = set()

    def problem(self, line: int, message: str, hint: str) -> None:
        self.problems.append(Problem(self.path, line, message, hint))

    # -- the TOML --------------------------------------------------------------

    def read(self) -> dict[str, Any] | None:
        """The TOML document, or None (with problems) if it has duplicate keys or is invalid."""
        self.check_duplicate_keys()
        if self.problems:
            return None
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = _TOML_LINE.search(str(exc))
            self.problem(
                int(m.group(1)) if m else max(1, len(self.text.splitlines())),
                f"invalid TOML: {exc}",
                "fix the syntax (see https://toml.io)",
            )
            return None

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

    # -- the spec --------------------------------------------------------------

    def build(self, data: Mapping[str, Any]) -> Spec:
        """The spec ``data`` describes; check ``problems`` before trusting it."""
        self.check_top_level(data)
        machine = self.table(data, "machine")
        states = self.parse_states(self.table(data, "states"))
        events_table = self.table(data, "events")
        events = self.parse_events(events_table)
        timers = self.parse_timers(data.get("timers", {}), events)
        self.effects = self.parse_effects(self.table(data, "effects"), timers)
        events = [self.resolve_outcomes(e, events_table.get(e.name)) for e in events]
        name = self.string(machine, "machine", "name")
        if name and (not MACHINE_NAME.match(name) or keyword.iskeyword(name)):
            fixed = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "machine"
            self.problem(
                self.lines.key("machine", "name"),
                f"machine.name {name!r} is not a lower_snake_case identifier",
                f"it names the generated module wsstate.machines.<name>: write "
                f'name = "{fixed if not keyword.iskeyword(fixed) else fixed + "_machine"}"',
            )
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
        on_terminal = self.effects_list(
            machine.get("on_terminal", []),
            self.lines.key("machine", "on_terminal"),
            what="machine.on_terminal",
            key="on_terminal",
        )
        for key in machine:
            if key not in MACHINE_FIELDS:
                self.problem(
                    self.lines.key("machine", key),
                    f"unknown field machine.{key}",
                    f"{_suggest(key, sorted(MACHINE_FIELDS))}"
                    f"allowed: {', '.join(sorted(MACHINE_FIELDS))}",
                )
        harness = machine.get("harness")
        if harness is not None and not (isinstance(harness, str) and MODULE_NAME.match(harness)):
            self.problem(
                self.lines.key("machine", "harness"),
                f"machine.harness must be a module name, not {harness!r}",
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
        return Spec(
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
            on_terminal=on_terminal,
            code_effects=frozenset(self.code_effects),
        )

    def check_top_level(self, data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            if key in TOP_LEVEL:
                continue
            line, written = self.lines.top.get(key, (1, key))
            if isinstance(value, dict | list) and written.startswith("["):
                what = f"unknown table {written}"
            else:
                what = f"unknown top-level key {key!r}"
            self.problem(
                line,
                what,
                f"{_suggest(key, TOP_LEVEL)}a spec has only the tables "
                + ", ".join(f"[{t}]" for t in TOP_LEVEL[:-1])
                + " and [transitions.STATE]",
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
            if not STATE_NAME.match(name):
                self.problem(
                    line,
                    f"bad state name {name!r}",
                    "state names are UPPER_SNAKE_CASE, e.g. CLOSE_RECEIVED",
                )
            if not isinstance(doc, str):
                self.problem(
                    line,
                    f"state {name} must be a string (its one-line description), "
                    f"not {_toml_type(doc)}",
                    f'write {name} = "what is true in this state" in [states]',
                )
                doc = ""
            elif not doc:
                self.problem(
                    line, f"state {name} needs a one-line description", f'write {name} = "..."'
                )
            states.append(StateDef(name, doc, line))
        return states

    def parse_events(self, table: Mapping[str, Any]) -> list[EventDef]:
        events = []
        for name, body in table.items():
            line = self.lines.key("events", name)
            if not EVENT_NAME.match(name):
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
            extra = set(body) - EVENT_FIELDS
            if extra:
                self.problem(
                    line,
                    f"event {name} has unknown field(s) {', '.join(sorted(extra))}",
                    f"allowed: {', '.join(sorted(EVENT_FIELDS))}",
                )
            events.append(EventDef(name, cast(EventKind, kind), doc, line))
        return events

    def resolve_outcomes(self, event: EventDef, body: object) -> EventDef:
        """``event`` with its ``outcomes`` field, once the effect vocabulary is known."""
        if not isinstance(body, dict) or "outcomes" not in body:
            return event
        value = body["outcomes"]
        line = event.line
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.problem(
                line,
                f"event {event.name}: outcomes must be a non-empty list of effects",
                'write outcomes = ["return:true", "return:false"]',
            )
            return event
        if event.kind != "local":
            self.problem(
                line,
                f"event {event.name} is a {event.kind} event but declares outcomes",
                "only a local event (an application call) has a caller to give an outcome "
                "to: remove outcomes, or make the event local",
            )
        outcomes = self.effects_list(
            value, line, what=f"event {event.name}'s outcomes", key="outcomes"
        )
        return EventDef(event.name, event.kind, event.doc, event.line, outcomes)

    def parse_effects(self, table: Mapping[str, Any], timers: Mapping[str, str]) -> dict[str, str]:
        effects: dict[str, str] = {}
        for name, value in table.items():
            line = self.lines.key("effects", name)
            if not EFFECT_NAME.match(name):
                self.problem(
                    line,
                    f"bad effect name {name!r}",
                    "effect names are lower_snake_case, optionally kind:argument "
                    "(arm:close_timer, raise:InvalidState)",
                )
            doc: object = value
            if isinstance(value, dict):
                doc = value.get("doc")
                extra = set(value) - EFFECT_FIELDS
                if extra:
                    self.problem(
                        line,
                        f"effect {name} has unknown field(s) {', '.join(sorted(extra))}",
                        f"allowed: {', '.join(sorted(EFFECT_FIELDS))}",
                    )
                uses_code = value.get("uses_code", False)
                if not isinstance(uses_code, bool):
                    self.problem(
                        line,
                        f"effect {name}: uses_code must be true or false",
                        "write uses_code = true",
                    )
                elif uses_code:
                    self.code_effects.add(name)
            elif not isinstance(value, str):
                self.problem(
                    line,
                    f"effect {name} must be a string (what the runtime does) or an inline "
                    f"table, not {_toml_type(value)}",
                    f'write "{name}" = "what the runtime does", or '
                    f'"{name}" = {{ doc = "...", uses_code = true }}',
                )
                doc = "?"  # reported above: not a missing description too
            if not isinstance(doc, str) or not doc:
                self.problem(
                    line,
                    f"effect {name} needs a one-line description",
                    f'write "{name}" = "what the runtime does"',
                )
                doc = ""
            kind, _, timer = name.partition(":")
            if kind in TIMER_EFFECT_KINDS and timer and timer not in timers:
                self.problem(
                    line,
                    f"effect {name} names timer {timer!r}, which [timers] does not declare",
                    f'{_suggest(timer, list(timers))}declare {timer} = "<the event it fires>" '
                    "in [timers]" + (f", or use one of: {', '.join(timers)}" if timers else ""),
                )
            effects[name] = doc
        return effects

    def parse_timers(self, table: object, events: list[EventDef]) -> dict[str, str]:
        if not isinstance(table, dict):
            self.problem(
                self.lines.section("timers"),
                "[timers] must be a table of timer = event",
                'write close_timer = "close_timeout"',
            )
            return {}
        kinds = {e.name: e.kind for e in events}
        timer_events = [e.name for e in events if e.kind == "timer"]
        timers: dict[str, str] = {}
        for name, event in table.items():
            line = self.lines.key("timers", name)
            if not EVENT_NAME.match(name):
                self.problem(line, f"bad timer name {name!r}", "timer names are lower_snake_case")
            if not isinstance(event, str):
                self.problem(
                    line, f"timer {name} must name the event it fires", f'write {name} = "..."'
                )
                continue
            if event not in kinds:
                self.problem(
                    line,
                    f"timer {name} fires unknown event {event!r}",
                    f"{_suggest(event, timer_events)}declare {event} in [events] with "
                    'kind = "timer"'
                    + (f", or use one of: {', '.join(timer_events)}" if timer_events else ""),
                )
            elif kinds[event] != "timer":
                self.problem(
                    line,
                    f"timer {name} fires {event}, a {kinds[event]} event",
                    f'give {event} kind = "timer" in [events], or name a timer event'
                    + (f": {', '.join(timer_events)}" if timer_events else ""),
                )
            timers[name] = event
        return timers

    def effects_list(
        self, value: object, line: int, what: str = "effects", key: str = "effects"
    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(line, f"{what} must be a list of strings", f'write {key} = ["..."]')
            return ()
        where = "" if key == "effects" else f" in {what}"
        for effect in value:
            if effect not in self.effects:
                self.problem(
                    line,
                    f"unknown effect {effect!r}{where}",
                    f"{_suggest(effect, list(self.effects))}declare it in the spec's [effects] "
                    "table, or use one of: " + ", ".join(sorted(self.effects)),
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
        unknown = set(body) - ROW_FIELDS
        if unknown:
            self.problem(
                line,
                f"row ({state}, {event}) has unknown field(s) {', '.join(sorted(unknown))}",
                f"allowed: {', '.join(sorted(ROW_FIELDS))}",
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
                f"{_suggest(nxt, state_names)}use one of {', '.join(state_names)}",
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
                    f"{_suggest(state, state_names)}declare it in [states] or use one of "
                    f"{', '.join(state_names)}",
                )
                continue
            if not isinstance(table, dict):
                self.problem(
                    self.lines.section(section),
                    f"[{section}] must be a table",
                    f"write [{section}] once, with one row per event",
                )
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
                        f"{_suggest(event, event_names)}declare it in [events] or use one of "
                        f"{', '.join(event_names)}",
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


def _toml_type(value: object) -> str:
    """How TOML calls the type of ``value``, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"
