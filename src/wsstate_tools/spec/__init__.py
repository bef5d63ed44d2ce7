"""Load and validate a machine spec (``spec/*.toml``) into frozen, typed objects.

A spec is a total function ``(state, event) -> row``: for every pair it gives the
next state, the effects, the log level and a note, or says the event is
impossible in that state. :func:`load` parses the TOML file (stdlib
``tomllib``), expands per-state ``default`` rows and checks the machine is well
formed. Every problem is reported as ``file:line: message`` with a hint on how
to fix it; all problems found are reported at once, in file order.

A machine declares its own effect vocabulary (``[effects]``), its timers
(``[timers]``) and the rules particular to it (``[machine] on_terminal``, an
event's ``outcomes``, ``uses_code`` effects); ``spec/README.md`` documents the
format. The package is split by responsibility:

- :mod:`.model`: the frozen objects (:class:`Spec`, :class:`Row`, ...) and
  :class:`SpecError`;
- :mod:`.parse`: TOML to a :class:`Spec`, every name resolved, lines mapped;
- :mod:`.validate`: the rules a well-formed machine follows;
- :mod:`.loader`: :func:`load`, :func:`loads`, :func:`load_unvalidated`.
"""

from __future__ import annotations

from .loader import load, load_unvalidated, loads
from .model import (
    EVENT_KINDS,
    LOG_LEVELS,
    EventDef,
    EventKind,
    LogLevel,
    Problem,
    Row,
    Spec,
    SpecError,
    StateDef,
)
from .reserved import reserved_names

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
    "load",
    "load_unvalidated",
    "loads",
    "reserved_names",
]
