"""The runtime handles every effect the connection spec declares, in every row that uses it.

``wsstate.connection.EFFECT_HANDLERS`` says who handles each effect: the
connection performs it (``_ACTIONS``), the sans-I/O machine does the bookkeeping,
or an operation interprets it as its outcome. An effect added to the spec
without a handler fails here; so does an outcome effect in a row of an event
whose operation cannot give it to a caller.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from wsstate.connection import (
    _ACTIONS,
    EFFECT_HANDLERS,
    OPERATION_MODIFIERS,
    OPERATION_OUTCOMES,
    PASSIVE_EFFECTS,
)
from wsstate.core import Machine
from wsstate.machines.connection import EFFECT_DOCS, TABLE, Effect, Event, Row, State


def unhandled(effects: Iterable[enum.Enum], handlers: Mapping[Any, object]) -> list[str]:
    """The effects of ``effects`` that have no handler."""
    return [str(e.value) for e in effects if e not in handlers]


def misplaced(table: Mapping[tuple[State, Event], Row]) -> list[str]:
    """Effects in a row that nothing handles *for that row's event*."""
    anywhere = set(_ACTIONS) | set(Machine.bookkeeping_effects) | set(PASSIVE_EFFECTS)
    problems = []
    for (state, event), row in table.items():
        here = (
            anywhere
            | set(OPERATION_OUTCOMES.get(event, ()))
            | set(OPERATION_MODIFIERS.get(event, ()))
        )
        problems += [f"{state}/{event}: {e}" for e in row.effects if e not in here]
    return problems


def test_every_declared_effect_has_a_handler() -> None:
    assert not unhandled(Effect, EFFECT_HANDLERS)
    assert set(EFFECT_DOCS) == {e.value for e in Effect}


def test_every_row_effect_is_handled_for_its_event() -> None:
    assert not misplaced(TABLE)


def test_a_new_effect_without_a_handler_is_found() -> None:
    # What the first test sees once a spec declares an effect no runtime code handles.
    extended = enum.StrEnum(  # type: ignore[misc]
        "Extended", {**{e.name: e.value for e in Effect}, "FLUSH": "flush"}
    )
    assert unhandled(extended, EFFECT_HANDLERS) == ["flush"]


def test_an_outcome_in_a_row_without_a_caller_is_found() -> None:
    row = TABLE[(State.OPEN, Event.TRANSPORT_EOF)]
    broken = {
        **TABLE,
        (State.OPEN, Event.TRANSPORT_EOF): row._replace(effects=(*row.effects, Effect.RETURN_TRUE)),
    }
    assert misplaced(broken) == ["OPEN/transport_eof: return:true"]


#: The operations' events in the spec's order (a name: pytest's argument type would
#: make mypy infer sorted()'s items as object).
OPERATION_EVENTS = sorted(OPERATION_OUTCOMES, key=list(Event).index)


@pytest.mark.parametrize("event", OPERATION_EVENTS)
def test_every_row_of_an_operation_has_exactly_one_outcome(event: Event) -> None:
    for state in State:
        row = TABLE[(state, event)]
        if row.next is None:
            continue
        found = [e for e in row.effects if e in OPERATION_OUTCOMES[event]]
        assert len(found) == 1, f"{state}/{event}: {found}"
