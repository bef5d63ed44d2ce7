"""Issue 20: a step of the stateful harness does not depend on how fast the machine is.

The generated stateful tests failed now and then on a loaded machine with
``runtime is CLOSED, model is CLOSING`` (or ``CLOSE_RECEIVED``), and Hypothesis
called it flaky because replaying the same steps passed. The cause: the close
timer, armed by every row that enters CLOSING or CLOSE_RECEIVED, ran on the wall
clock (0.3 s in the harness), so a pause between two steps longer than that let
``close_timeout`` move the runtime to CLOSED while the model, which moves only on
the events the harness drives, stayed where it was.

Each trace below is one the failure was seen with, replayed with such a pause
before every step: the event loop runs for a while (timers fire, the harness
does nothing), then the process stalls with the loop blocked (a loaded machine
between two of Hypothesis' steps, where the generated tests' loop does not run
at all). On the wall-clock harness each fails at once and every time; the
harness now runs the connection's timers on a clock it controls, and they fire
only when a timer rule fires them.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from wsstate.machines.connection import Event, State
from wsstate.testing.stateful import TIMING, FirstChoices, Harness, Role

#: Longer than every timer of the harness's Timing, twice over.
PAUSE = 2 * (TIMING.close_timeout + TIMING.ping_interval + TIMING.ping_timeout)

TRACES: dict[str, tuple[Role, list[Event], State]] = {
    # ['app_close -> CLOSING', 'app_send -> CLOSING']: runtime CLOSED
    "closing-server": ("server", [Event.APP_CLOSE, Event.APP_SEND], State.CLOSING),
    "closing-client": ("client", [Event.APP_CLOSE, Event.APP_SEND], State.CLOSING),
    # [peer_close -> CLOSE_RECEIVED, ..., app_send -> CLOSE_RECEIVED]: runtime CLOSED
    "close-received": (
        "server",
        [Event.PEER_CLOSE, Event.APP_RECV, Event.APP_SEND],
        State.CLOSE_RECEIVED,
    ),
    # the issue's: ['app_ping -> OPEN', 'transport_stalled -> CLOSING', 'peer_data -> CLOSING']
    "stalled": (
        "server",
        [Event.APP_PING, Event.TRANSPORT_STALLED, Event.PEER_DATA],
        State.CLOSING,
    ),
    # nothing happens in OPEN however long the pause: no keepalive ping on its own
    "open-idle": ("client", [Event.APP_SEND, Event.APP_PING, Event.APP_SEND], State.OPEN),
}


async def _slow_machine(loop_runs: float, loop_blocked: float) -> None:
    """A loaded machine between two steps: the loop runs, then the process stalls."""
    await asyncio.sleep(loop_runs)
    time.sleep(loop_blocked)  # noqa: ASYNC251 - deliberately blocking: no callback runs


async def _drive(role: Role, events: list[Event], pause: float) -> Harness:
    h = Harness(role)
    await h.start()
    try:
        choices = FirstChoices()
        for event in events:
            await _slow_machine(pause / 2, pause / 2)
            await h.step(event, choices)
        await _slow_machine(pause / 2, pause / 2)
        await h.check()
    finally:
        await h.stop()
    return h


@pytest.mark.parametrize("trace", sorted(TRACES))
def test_a_slow_machine_changes_no_step(trace: str) -> None:
    role, events, end = TRACES[trace]
    h = asyncio.run(_drive(role, events, PAUSE))
    assert h.model_state is end
    assert [s.split(" -> ")[0] for s in h.steps] == [e.value for e in events]


def test_timers_fire_when_their_rule_fires() -> None:
    """The close timer waits for the close_timeout rule, however long the pause."""

    async def main() -> list[str]:
        h = Harness("server")
        await h.start()
        try:
            choices = FirstChoices()
            await h.step(Event.APP_CLOSE, choices)
            await _slow_machine(PAUSE, 0)
            assert h.conn.state is State.CLOSING
            await h.step(Event.CLOSE_TIMEOUT, choices)
            assert h.conn.state is State.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above across the await
        finally:
            await h.stop()
        return h.runtime_steps()

    taken = asyncio.run(main())
    closing = [t for t in taken if t.startswith("CLOSING/")]
    assert closing == ["CLOSING/close_timeout -> CLOSED"], taken


def test_manual_timers_run_only_when_fired() -> None:
    """The seam: on a loop under manual_timers, call_later's timers wait for fire()."""
    from wsstate._timers import call_later, manual_timers

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        clock = manual_timers(loop)
        assert manual_timers(loop) is clock  # once per loop
        ran: list[str] = []
        call_later(loop, 0.01, ran.append, "a")
        cancelled = call_later(loop, 0.01, ran.append, "cancelled")
        call_later(loop, 0.01, ran.append, "b")
        call_later(loop, 0.02, ran.append, "other delay")
        cancelled.cancel()
        await asyncio.sleep(0.05)
        assert ran == []
        assert clock.armed(0.01) == 2
        assert clock.fire(0.01) == 2
        assert clock.fire(0.01) == 0
        assert clock.armed(0.02) == 1
        return ran

    assert asyncio.run(main()) == ["a", "b"]
