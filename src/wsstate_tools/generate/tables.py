"""The runtime's table module of a machine: ``src/wsstate/machines/<name>.py``.

Enums, the frozen ``TABLE`` and the machine's constants; nothing else. It
imports only the standard library, so ``import wsstate`` never loads
python-statemachine (the reference chart is generated apart, by :mod:`.chart`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ..spec import Row, Spec
from .common import effect_member, header, py_literal

__all__ = ["render_table"]

_LEVELS: Final = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR"}


def _doc(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def render_table(spec: Spec) -> str:
    """The typed module ``wsstate.machines.<name>``."""
    o: list[str] = []
    w = o.append
    w(header(spec, "#"))
    w(f'"""The {spec.name} machine, generated from {Path(spec.path).as_posix()}.\n\n')
    w(spec.doc.replace("\\", "\\\\").replace('"', '\\"') + "\n\n")
    w("``TABLE`` is the runtime's engine: one dict lookup per event. The reference\n")
    w(f"model of the same table (python-statemachine) is ``wsstate.testing.charts.{spec.name}``,\n")
    w("used as the oracle in tests; this module imports only the standard library.\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("import enum\n")
    w("import logging\n")
    w("from collections.abc import Mapping\n")
    w("from types import MappingProxyType\n")
    w("from typing import Final, NamedTuple\n\n")
    w("__all__ = [\n")
    names = [
        "EFFECT_DOCS",
        "EVENT_KINDS",
        "INITIAL",
        "INITIAL_EFFECTS",
        "TABLE",
        "TERMINAL",
        "TIMERS",
        "Effect",
        "Event",
        "Row",
        "State",
    ]
    # isort-style order (constants, classes), as ruff's RUF022 wants it.
    for n in sorted(names, key=lambda n: (not n.isupper(), n)):
        w(f'    "{n}",\n')
    w("]\n\n\n")

    w("class State(enum.StrEnum):\n")
    w(f'    """States of the {spec.name} machine."""\n\n')
    for s in spec.states:
        w(f"    {s.name} = {py_literal(s.name)}\n")
        w(f"    {_doc(s.doc)}\n")
    w("\n\n")

    w("class Event(enum.StrEnum):\n")
    w('    """Events the machine reacts to."""\n\n')
    for e in spec.events:
        w(f"    {e.name.upper()} = {py_literal(e.name)}\n")
        w(f"    {_doc(e.kind + ': ' + e.doc)}\n")
    w("\n\n")

    w("class Effect(enum.StrEnum):\n")
    w(f'    """The {spec.name} machine\'s effect vocabulary (its spec\'s [effects] table)."""\n\n')
    for effect, doc in spec.effects.items():
        w(f"    {effect_member(effect)} = {py_literal(effect)}\n")
        w(f"    {_doc(doc)}\n")
    w("\n\n")

    w("class Row(NamedTuple):\n")
    w('    """What the machine does for one (state, event) pair."""\n\n')
    w("    next: State | None\n")
    w('    """The next state; None when the event is impossible in this state."""\n')
    w("    effects: tuple[Effect, ...]\n")
    w('    """Effects to perform, in order."""\n')
    w("    log: int\n")
    w('    """The ``logging`` level to log the event at."""\n')
    w("    note: str\n")
    w('    """Why the row is what it is."""\n')
    w("    code: int | None = None\n")
    w('    """Close code the row emits or records, when not the application\'s or peer\'s."""\n')
    w("    reason: str | None = None\n")
    w('    """Close reason that goes with ``code``."""\n\n\n')

    w(f"INITIAL: Final = State.{spec.initial}\n")
    terminal = ", ".join(f"State.{s}" for s in spec.state_names if s in spec.terminal)
    w(f"TERMINAL: Final[frozenset[State]] = frozenset({{{terminal}}})\n")
    init_fx = "".join(f"Effect.{effect_member(e)}, " for e in spec.initial_effects).rstrip(" ")
    w(f"INITIAL_EFFECTS: Final[tuple[Effect, ...]] = ({init_fx})\n")
    w("EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(\n    {\n")
    for e in spec.events:
        w(f"        Event.{e.name.upper()}: {py_literal(e.kind)},\n")
    w("    }\n)\n")
    w("EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(\n    {\n")
    for effect, doc in spec.effects.items():
        w(f"        Effect.{effect_member(effect)}: {py_literal(doc)},\n")
    w("    }\n)\n")
    if spec.timers:
        w("TIMERS: Final[Mapping[str, Event]] = MappingProxyType(\n    {\n")
        for timer, event in spec.timers.items():
            w(f"        {py_literal(timer)}: Event.{event.upper()},\n")
        w("    }\n)\n")
    else:
        w("TIMERS: Final[Mapping[str, Event]] = MappingProxyType({})\n")
    w('"""Timers the ``arm:``/``cancel:`` effects name -> the event each fires."""\n\n')

    w("_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR\n\n")
    w("TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(\n    {\n")
    for row in spec.iter_rows():
        w(_render_row(row))
    w("    }\n)\n")
    w('"""The total transition table: every (state, event) pair has a row."""\n')
    return "".join(o)


def _render_row(row: Row) -> str:
    key = f"(State.{row.state}, Event.{row.event.upper()})"
    nxt = f"State.{row.next}" if row.next is not None else "None"
    fx = "".join(f"Effect.{effect_member(e)}, " for e in row.effects).rstrip(" ")
    level = "_" + _LEVELS[row.log][0]
    if row.impossible:
        level = "_E"
    src = f"line {row.line}" + (", default row" if row.from_default else "")
    lines = [
        f"        # {src}\n",
        f"        {key}: Row(\n",
        f"            {nxt},\n",
        f"            ({fx}),\n",
        f"            {level},\n",
        f"            {py_literal(row.note)},\n",
    ]
    if row.code is not None or row.reason is not None:
        lines.append(f"            {py_literal(row.code)},\n")
        lines.append(f"            {py_literal(row.reason)},\n")
    lines.append("        ),\n")
    return "".join(lines)
