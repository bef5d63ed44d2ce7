"""The reference model of a machine: ``src/wsstate/testing/charts/<name>.py``.

A python-statemachine ``StateChart`` subclass with strict settings (an event the
table calls impossible raises ``TransitionNotAllowed``; callback errors
propagate). It is the oracle of the generated tests and an object users can
attach listeners to; the runtime never imports it (python-statemachine is the
``wsstate[testing]`` extra).
"""

from __future__ import annotations

from pathlib import Path

from ..spec import Spec
from .common import class_prefix, header, py_literal, state_id

__all__ = ["render_chart"]


def render_chart(spec: Spec) -> str:
    """The module ``wsstate.testing.charts.<name>``: one ``<Name>Chart`` class."""
    cls = class_prefix(spec) + "Chart"
    o: list[str] = []
    w = o.append
    w(header(spec, "#"))
    w(f'"""The reference model of the {spec.name} machine, generated from ')
    w(f"{Path(spec.path).as_posix()}.\n\n")
    w(f"``{cls}`` is the python-statemachine model of ``wsstate.machines.{spec.name}.TABLE``.\n")
    w("Do not create one per connection: it is ~1000x slower than the table.\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("from typing import Any\n\n")
    w("from statemachine import State as _S\n")
    w("from statemachine import StateChart\n\n")
    w(f"from wsstate.machines.{spec.name} import State\n\n")
    w(f'__all__ = ["{cls}"]\n\n\n')
    w(f"class {cls}(StateChart[Any]):\n")
    w('    """The reference model of the table, as a python-statemachine ``StateChart``.\n\n')
    w("    Strict: an event the table calls impossible raises ``TransitionNotAllowed``,\n")
    w("    and errors in callbacks propagate. Each event is a method named after it\n")
    w("    (``chart.app_close()``). Terminal states are not declared ``final``:\n")
    w("    python-statemachine forbids transitions out of a final state, and ours\n")
    w("    absorb late events as self-loops; ``TERMINAL`` names them instead.\n")
    w('    """\n\n')
    w("    allow_event_without_transition = False\n")
    w("    catch_errors_as_events = False\n")
    w("    enable_self_transition_entries = False\n")
    w("    atomic_configuration_update = True\n\n")
    for s in spec.states:
        initial = ", initial=True" if s.name == spec.initial else ""
        w(f"    {state_id(s.name)} = _S({py_literal(s.name)}, value=State.{s.name}{initial})\n")
    w("\n")
    for e in spec.events:
        transitions = []
        for s in spec.states:
            row = spec.row(s.name, e.name)
            if row.next is None:
                continue
            src, dst = state_id(row.state), state_id(row.next)
            internal = ", internal=True" if row.next == row.state else ""
            transitions.append(f"{src}.to({dst}{internal})")
        if not transitions:
            continue
        w(f"    {e.name} = (\n")
        for i, t in enumerate(transitions):
            w(f"        {'| ' if i else ''}{t}\n")
        w("    )\n")
    return "".join(o)
