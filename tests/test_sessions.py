"""wsstate.Sessions: every effect of the session spec handled; the grace window on the real
loop clock; on_expire's failures; the attach classification.

The races themselves (rows 19, 20, 35) are in tests/scenarios/test_sessions.py, on every
transport; the generated stateful tests drive the table (tests/generated/test_session_stateful.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from support.harness import Harness, eventually

from wsstate import Sessions
from wsstate.machines.session import EFFECT_DOCS, TABLE, Effect, Event, State
from wsstate.sessions import (
    _ACTIONS,
    EFFECT_HANDLERS,
    OPERATION_OUTCOMES,
    LoopClock,
    TimerHandle,
    attach_event,
)
from wsstate.testing import ManualClock


def test_every_declared_effect_has_a_handler() -> None:
    assert [e.value for e in Effect if e not in EFFECT_HANDLERS] == []
    assert set(EFFECT_DOCS) == {e.value for e in Effect}


def test_every_row_effect_is_handled_for_its_event() -> None:
    problems = [
        f"{state}/{event}: {effect}"
        for (state, event), row in TABLE.items()
        for effect in row.effects
        if effect not in _ACTIONS and effect not in OPERATION_OUTCOMES.get(event, ())
    ]
    assert problems == []


#: The operations' events in the spec's order (a name: pytest's argument type would
#: make mypy infer sorted()'s items as object).
OPERATION_EVENTS = sorted(OPERATION_OUTCOMES, key=list(Event).index)


@pytest.mark.parametrize("event", OPERATION_EVENTS)
def test_every_row_of_an_operation_has_exactly_one_outcome(event: Event) -> None:
    for state in State:
        row = TABLE[(state, event)]
        if row.next is not None:
            found = [e for e in row.effects if e in OPERATION_OUTCOMES[event]]
            assert len(found) == 1, f"{state}/{event}: {found}"


@pytest.mark.parametrize(
    ("last_seen", "last_sent", "kept", "event"),
    [
        (None, 5, 5, Event.ATTACH),
        (0, 0, 0, Event.ATTACH_RESUME),  # a new page of a new session
        (3, 0, 0, Event.ATTACH_GAP),  # a page of a session that no longer exists
        (5, 5, 0, Event.ATTACH_RESUME),  # saw everything
        (2, 5, 3, Event.ATTACH_RESUME),  # 3, 4, 5 kept
        (1, 5, 3, Event.ATTACH_GAP),  # 2 was dropped
        (6, 5, 5, Event.ATTACH_GAP),  # beyond what was sent
    ],
)
def test_attach_classification(
    last_seen: int | None, last_sent: int, kept: int, event: Event
) -> None:
    assert attach_event(last_seen, last_sent, kept) is event


def test_attach_classification_refuses_a_negative_last_seen() -> None:
    with pytest.raises(ValueError, match="last_seen"):
        attach_event(-1, 0, 0)


def test_manual_clock_runs_due_callbacks_in_order() -> None:
    clock, ran = ManualClock(), []
    clock.call_later(2, lambda: ran.append("b"))
    clock.call_later(1, lambda: ran.append("a"))
    clock.call_later(3, lambda: ran.append("c")).cancel()
    assert clock.advance(2.5) == 2
    assert ran == ["a", "b"]
    assert clock.pending == 0


async def test_no_reattach_within_the_grace_window_expires_once_in_time(h: Harness) -> None:
    """Acceptance: one expiry, within the window + 10%, on the event loop's own clock."""
    grace = 0.5
    loop = asyncio.get_running_loop()
    expired: list[float] = []
    armed: list[float] = []

    class Recording(LoopClock):
        def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
            armed.append(loop.time())  # the moment of the detach
            return super().call_later(delay, callback)

    sessions = Sessions(
        grace=grace, on_expire=lambda s: expired.append(loop.time()), clock=Recording()
    )
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    await pair.peer.close()
    await eventually(lambda: bool(expired), within=2.0 + 2 * grace)
    await asyncio.sleep(0.1)
    assert len(expired) == 1
    assert len(armed) == 1
    assert grace <= expired[0] - armed[0] <= grace * 1.1
    assert session.state is State.CLOSED
    assert len(sessions) == 0
    h.wsstate_info = True  # the grace timeout's row logs at INFO


async def test_a_failing_on_expire_is_logged_once_at_error(h: Harness) -> None:
    def hook(session: object) -> None:
        raise RuntimeError("user bug")

    sessions = Sessions(on_expire=hook, clock=ManualClock())
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    assert await session.close()
    assert session.state is State.CLOSED
    assert sessions.expire_errors == 1
    assert not await session.close()
    failing = [r for r in h.records(logging.ERROR) if "on_expire" in r.getMessage()]
    assert len(failing) == 1
    h.wsstate_errors = 1


async def test_an_async_on_expire_is_awaited(h: Harness) -> None:
    done = asyncio.Event()

    async def hook(session: object) -> None:
        await asyncio.sleep(0)
        done.set()

    sessions = Sessions(on_expire=hook, clock=ManualClock())
    pair = await h.pair("server")
    sessions.attach("page", pair.conn)
    assert sessions.page_close("page")
    await asyncio.wait_for(done.wait(), 1.0)


async def test_broadcast_reaches_attached_sessions_and_holds_for_detached(h: Harness) -> None:
    clock = ManualClock()
    sessions = Sessions(clock=clock)
    live = await h.pair("server")
    gone = await h.pair("server")
    a = sessions.attach("a", live.conn)
    b = sessions.attach("b", gone.conn)
    await gone.peer.close()
    await eventually(lambda: b.state is State.DETACHED)
    result = await sessions.broadcast("hello")
    assert (result.sent, result.held, result.dropped) == (1, 1, 0)
    assert await asyncio.wait_for(live.peer.recv(), 1.0) == "hello"
    assert (a.last_sent, b.last_sent) == (1, 1)
    with pytest.raises(TypeError):
        await sessions.broadcast(42)  # type: ignore[arg-type]
    await a.close()
    await b.close()


async def test_attaching_the_current_connection_again_is_refused(h: Harness) -> None:
    sessions = Sessions(clock=ManualClock())
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    with pytest.raises(ValueError, match="already"):
        sessions.attach("page", pair.conn)
    with pytest.raises(TypeError):
        sessions.attach("page", object())  # type: ignore[arg-type]
    await session.close()
