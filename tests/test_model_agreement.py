"""The two generated engines agree: ``TABLE`` and the ``ConnectionChart`` reference model.

For every (state, event) pair a fresh chart is driven into the state along a
shortest event path (found by breadth-first search over ``TABLE``), then the
event is fired: where the table says the event is impossible the chart must
raise ``TransitionNotAllowed``; everywhere else it must land on the row's next
state. ``TABLE`` is also compared with the spec it was generated from.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import pytest
from statemachine.exceptions import TransitionNotAllowed

from wsstate.machines.connection import (
    INITIAL,
    INITIAL_EFFECTS,
    TABLE,
    TERMINAL,
    Effect,
    Event,
    State,
)
from wsstate.testing.charts.connection import ConnectionChart
from wsstate_tools.spec import load

ROOT = Path(__file__).resolve().parents[1]
SPEC = load(ROOT / "spec" / "connection.toml")


def shortest_paths() -> dict[State, list[Event]]:
    """For every state reachable in ``TABLE``, a shortest event path to it from ``INITIAL``."""
    paths: dict[State, list[Event]] = {INITIAL: []}
    queue = deque([INITIAL])
    while queue:
        state = queue.popleft()
        for event in Event:
            nxt = TABLE[(state, event)].next
            if nxt is not None and nxt not in paths:
                paths[nxt] = [*paths[state], event]
                queue.append(nxt)
    return paths


PATHS = shortest_paths()
PAIRS = [(s, e) for s in State for e in Event]


def chart_in(state: State) -> ConnectionChart:
    """A fresh chart driven into ``state``, checked against ``TABLE`` at every step."""
    chart = ConnectionChart()
    assert chart.current_state_value == INITIAL
    expected = INITIAL
    for event in PATHS[state]:
        chart.send(event.value)
        nxt = TABLE[(expected, event)].next
        assert nxt is not None
        expected = nxt
        assert chart.current_state_value == expected
    assert chart.current_state_value == state
    return chart


def test_table_is_total() -> None:
    assert len(TABLE) == len(State) * len(Event)
    assert set(TABLE) == set(PAIRS)


def test_every_state_is_reached() -> None:
    assert set(PATHS) == set(State)
    assert PATHS[INITIAL] == []


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s.value}-{e.value}" for s, e in PAIRS])
def test_chart_agrees_with_table(state: State, event: Event) -> None:
    chart = chart_in(state)
    row = TABLE[(state, event)]
    if row.next is None:
        with pytest.raises(TransitionNotAllowed):
            chart.send(event.value)
        assert chart.current_state_value == state, "an impossible event changes nothing"
    else:
        getattr(chart, event.value)()  # the generated method named after the event
        assert chart.current_state_value == row.next


def test_chart_has_exactly_the_table_states() -> None:
    chart = ConnectionChart()
    assert {s.value for s in chart.states} == set(State)
    assert {s.value for s in chart.states if s.initial} == {INITIAL}


def test_chart_settings_are_strict() -> None:
    assert ConnectionChart.allow_event_without_transition is False
    assert ConnectionChart.catch_errors_as_events is False
    chart = ConnectionChart()
    assert chart.allow_event_without_transition is False
    assert chart.catch_errors_as_events is False


class Boom(Exception):
    """Raised by the failing listeners below."""


class FailsAfterTransition:
    def after_transition(self) -> None:
        raise Boom("after_transition")


class FailsOnEnterState:
    def on_enter_state(self) -> None:
        raise Boom("on_enter_state")


@pytest.mark.parametrize("listener", [FailsAfterTransition, FailsOnEnterState])
def test_failing_listener_propagates(listener: type) -> None:
    chart = ConnectionChart()
    chart.add_listener(listener())  # type: ignore[no-untyped-call]
    with pytest.raises(Boom):
        chart.send(Event.HANDSHAKE_OK.value)


def test_listener_failing_on_the_initial_state_propagates() -> None:
    with pytest.raises(Boom, match="on_enter_state"):
        ConnectionChart(listeners=[FailsOnEnterState()])


# -- TABLE against the spec it was generated from -------------------------------------


def test_table_matches_the_spec_row_by_row() -> None:
    assert [s.name for s in SPEC.states] == [s.value for s in State]
    assert [e.name for e in SPEC.events] == [e.value for e in Event]
    assert SPEC.initial == INITIAL
    assert {t.value for t in TERMINAL} == SPEC.terminal
    assert tuple(e.value for e in INITIAL_EFFECTS) == SPEC.initial_effects
    for spec_row in SPEC.iter_rows():
        row = TABLE[(State(spec_row.state), Event(spec_row.event))]
        where = f"({spec_row.state}, {spec_row.event})"
        assert row.next == spec_row.next, where
        assert tuple(e.value for e in row.effects) == spec_row.effects, where
        assert all(isinstance(e, Effect) for e in row.effects), where
        assert row.log == logging.getLevelName(spec_row.log.upper()), where
        assert row.code == spec_row.code, where
        assert row.reason == spec_row.reason, where
        assert row.note == spec_row.note, where


def test_impossible_rows_log_at_error() -> None:
    impossible = [row for row in TABLE.values() if row.next is None]
    assert impossible
    for row in impossible:
        assert row.effects == ()
        assert row.log == logging.ERROR
