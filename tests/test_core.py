"""The sans-I/O machine follows the generated table exactly, for every (state, event) pair."""

from __future__ import annotations

import logging
from collections import deque

import pytest

from wsstate import TABLE, ClosedBy, Effect, Event, ImpossibleEvent, Machine, State
from wsstate.machines.connection import INITIAL


def path_to(target: State) -> list[Event]:
    """A shortest event sequence from the initial state to ``target``."""
    seen: dict[State, list[Event]] = {INITIAL: []}
    queue = deque([INITIAL])
    while queue:
        state = queue.popleft()
        if state is target:
            return seen[state]
        for event in Event:
            nxt = TABLE[(state, event)].next
            if nxt is not None and nxt not in seen:
                seen[nxt] = [*seen[state], event]
                queue.append(nxt)
    raise AssertionError(f"{target} unreachable")


def machine_in(state: State) -> Machine:
    m = Machine()
    for event in path_to(state):
        m.feed(event, 1000, "")
    assert m.state is state
    return m


@pytest.mark.parametrize(("state", "event"), sorted(TABLE, key=str))
def test_feed_follows_table(state: State, event: Event) -> None:
    m = machine_in(state)
    row = TABLE[(state, event)]
    if row.next is None:
        with pytest.raises(ImpossibleEvent, match=event.value):
            m.feed(event)
        assert m.state is state, "an impossible event must leave the state untouched"
    else:
        assert m.feed(event) is row
        assert m.state is row.next


def test_starts_in_connecting_with_open_timer() -> None:
    m = Machine()
    assert m.state is State.CONNECTING
    assert (m.closed_by, m.close_code, m.clean) == (None, None, False)
    assert Effect.ARM_OPEN_TIMER in m.initial_effects


def test_local_close_records_application_code_and_first_wins() -> None:
    m = machine_in(State.OPEN)
    m.feed(Event.APP_CLOSE, 4001, "first")
    m.feed(Event.APP_CLOSE, 4002, "second")
    assert (m.closed_by, m.close_code, m.close_reason) == (ClosedBy.LOCAL, 4001, "first")
    m.feed(Event.PEER_CLOSE, 4001, "first")
    assert (m.state, m.clean) == (State.CLOSED, True)


def test_peer_close_records_peer_code_and_clean() -> None:
    m = machine_in(State.OPEN)
    m.feed(Event.PEER_CLOSE, 1001, "going away")
    assert (m.state, m.clean) == (State.CLOSE_RECEIVED, True)
    m.feed(Event.TRANSPORT_EOF)
    assert (m.state, m.closed_by, m.close_code, m.close_reason) == (
        State.CLOSED,
        ClosedBy.REMOTE,
        1001,
        "going away",
    )


def test_peer_close_without_code_reports_1005() -> None:
    m = machine_in(State.OPEN)
    m.feed(Event.PEER_CLOSE, None, "")
    assert m.close_code == 1005


@pytest.mark.parametrize("event", [Event.TRANSPORT_ERROR, Event.TRANSPORT_EOF])
def test_transport_loss_is_1006_not_clean(event: Event) -> None:
    m = machine_in(State.OPEN)
    m.feed(event)
    assert (m.state, m.closed_by, m.close_code, m.clean) == (
        State.CLOSED,
        ClosedBy.TRANSPORT,
        1006,
        False,
    )


def test_keepalive_timeout_records_row_code() -> None:
    m = machine_in(State.OPEN)
    row = m.feed(Event.KEEPALIVE_TIMEOUT)
    assert row.code == 1011
    assert (m.state, m.closed_by, m.close_code) == (State.CLOSING, ClosedBy.TIMEOUT, 1011)


def test_terminal_absorbs_everything_possible() -> None:
    for event in Event:
        m = machine_in(State.CLOSED)
        row = TABLE[(State.CLOSED, event)]
        if row.next is not None:
            m.feed(event)
            assert m.state is State.CLOSED


def test_logs_at_row_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wsstate")
    m = machine_in(State.OPEN)
    caplog.clear()
    m.feed(Event.KEEPALIVE_TIMEOUT)
    (record,) = caplog.records
    assert record.levelno == TABLE[(State.OPEN, Event.KEEPALIVE_TIMEOUT)].log == logging.WARNING
    assert "keepalive_timeout" in record.getMessage()


def test_no_closure_row_logs_above_info() -> None:
    """Closures are never ERROR: only impossible rows (internal bugs) carry ERROR."""
    for (state, event), row in TABLE.items():
        if row.next is not None:
            assert row.log <= logging.WARNING, (state, event)
