"""``wsstate verify``: an explicit-state model checker for every machine.

Every machine is checked alone for the well-formedness properties
(:data:`WELLFORMED`: determinism, no impossible event that can occur, terminal
states that absorb, timers cleared before the end, termination). A machine with
a *composition* (:data:`COMPOSITIONS`: the connection's two peers over a faulty
TCP channel) is also checked composed, for that composition's properties
(:data:`PROPERTIES`). Every violation comes with a shortest counterexample.

The package, by responsibility (nothing here imports a generator):

- :mod:`.model`: the connection composition (peers, pipes, bounds, properties,
  the table compiled into steps);
- :mod:`.machine`: one machine alone (configurations, well-formedness properties);
- :mod:`.search`: the breadth-first search, shortest counterexamples,
  termination, replay;
- :mod:`.report`: results, counterexamples and their text, emitted tests;
- :mod:`.compositions`: which machines have a composition;
- :mod:`.command`: the command line (``add_arguments``, ``main``).

:mod:`wsstate_tools.generate.promela` renders both models for SPIN; it imports
:mod:`.model` and :mod:`.machine` only.
"""

from __future__ import annotations

from .command import add_arguments, load_spec, main
from .compositions import COMPOSITIONS, Composition
from .machine import WELLFORMED, Config, MachineModel
from .model import (
    APP_CLOSE_CODE,
    INVALID_CLOSE_CODE,
    PROPERTIES,
    ROLES,
    Bounds,
    Frame,
    Model,
    Peer,
    Pipe,
    World,
)
from .report import Replay, Result, Step, Violation, render_test
from .search import check, check_machine, replay, replay_machine

__all__ = [
    "APP_CLOSE_CODE",
    "COMPOSITIONS",
    "INVALID_CLOSE_CODE",
    "PROPERTIES",
    "ROLES",
    "WELLFORMED",
    "Bounds",
    "Composition",
    "Config",
    "Frame",
    "MachineModel",
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
    "check_machine",
    "load_spec",
    "main",
    "render_test",
    "replay",
    "replay_machine",
]
