"""wsstate._timers: fixed-delay timers sharing one asyncio timer per (loop, delay).

Run on real event loops and the real clock: what the connection's open, close
and keepalive timers rely on.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import weakref
from typing import Any

import pytest
from support.threads import race

from wsstate import _timers
from wsstate._timers import call_later


async def test_timers_run_once_in_order_and_not_early() -> None:
    loop = asyncio.get_running_loop()
    ran: list[tuple[str, float]] = []
    start = loop.time()
    for name in "abc":
        call_later(loop, 0.05, lambda n=name: ran.append((n, loop.time())))
        await asyncio.sleep(0.01)
    other = call_later(loop, 0.01, lambda: ran.append(("short", loop.time())))  # due first
    await asyncio.sleep(0.15)
    assert [n for n, _ in ran] == ["short", "a", "b", "c"]
    assert other.cancelled()  # ran: nothing left to cancel
    for (_, at), armed in zip(ran[1:], (0.0, 0.01, 0.02), strict=True):
        assert at >= start + armed + 0.05 - 0.002
    assert len(ran) == 4  # and never again


async def test_cancel_stops_the_callback_and_lets_go_of_it() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[str] = []

    class Owner:
        def fire(self) -> None:
            ran.append("owner")

    owner = Owner()
    ref = weakref.ref(owner)
    timer = call_later(loop, 0.05, owner.fire)
    kept = call_later(loop, 0.05, ran.append, "kept")
    timer.cancel()
    assert timer.cancelled()
    assert not kept.cancelled()
    del owner
    gc.collect()
    assert ref() is None  # a cancelled timer holds nothing alive until its time
    await asyncio.sleep(0.1)
    assert ran == ["kept"]
    assert reported == []


async def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[int] = []

    def boom() -> None:
        raise RuntimeError("boom")

    call_later(loop, 0.02, ran.append, 1)
    call_later(loop, 0.02, boom)
    call_later(loop, 0.02, ran.append, 2)
    await asyncio.sleep(0.06)
    assert ran == [1, 2]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], RuntimeError)


async def test_a_callback_may_arm_the_next_timer_of_its_own_delay() -> None:
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(loop.time())
        if len(ticks) < 3:
            call_later(loop, 0.02, tick)

    call_later(loop, 0.02, tick)
    await asyncio.sleep(0.12)
    assert len(ticks) == 3
    assert all(b - a >= 0.02 - 0.002 for a, b in itertools.pairwise(ticks))


async def test_only_cancelled_timers_left_schedule_nothing_more() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    timers = [call_later(loop, 0.02, ran.append, str(i)) for i in range(3)]
    for timer in timers:
        timer.cancel()
    await asyncio.sleep(0.05)
    assert ran == []
    queue = _timers._queues[loop][0.02]
    assert not queue._timers
    assert not queue._scheduled


async def test_timers_cancelled_at_the_head_go_as_new_ones_are_armed() -> None:
    # A churn: each connection arms its timer and cancels it long before the delay.
    # The cancelled ones must not pile up for a whole delay (memory, and one lump of
    # work when the queue falls due): each arm drops up to two from the head.
    loop = asyncio.get_running_loop()
    ran: list[int] = []
    for i in range(1000):
        call_later(loop, 5.0, ran.append, i).cancel()
    queue = _timers._queues[loop][5.0]
    assert len(queue._timers) <= 2
    live = call_later(loop, 5.0, ran.append, -1)
    for i in range(1000):
        call_later(loop, 5.0, ran.append, i).cancel()
    # A live timer at the head stops the dropping: nothing after it is touched.
    assert queue._timers[0] is live
    assert len(queue._timers) == 1001
    live.cancel()
    for i in range(1000):
        call_later(loop, 5.0, ran.append, i).cancel()
    assert len(queue._timers) <= 2  # two dropped per arm, one armed: the backlog drains
    assert ran == []


def test_a_closed_loop_leaves_nothing_behind() -> None:
    gc.collect()
    before = len(_timers._queues)
    loop = asyncio.new_event_loop()
    ran: list[int] = []
    loop.run_until_complete(asyncio.sleep(0))
    call_later(loop, 0.01, ran.append, 1)
    assert len(_timers._queues) == before + 1
    loop.run_until_complete(asyncio.sleep(0.03))
    assert ran == [1]
    ref = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert ref() is None  # the registry does not keep a loop alive
    assert len(_timers._queues) <= before  # and the loop's entry went with it


def test_manual_timers_take_over_a_loop_whose_timers_ran_already() -> None:
    # call_later remembers the loop it was last called for; manual_timers() on that
    # loop must still take over the timers armed from then on, whatever their delay.
    loop = asyncio.new_event_loop()
    try:
        ran: list[str] = []
        call_later(loop, 0.01, ran.append, "before")
        loop.run_until_complete(asyncio.sleep(0.03))
        assert ran == ["before"]
        manual = _timers.manual_timers(loop)
        # (A delay whose queue exists keeps its asyncio schedule: manual_timers' doc.)
        call_later(loop, 0.02, ran.append, "new delay")
        loop.run_until_complete(asyncio.sleep(0.05))
        assert ran == ["before"]  # it did not run by itself
        assert manual.armed(0.02) == 1
        assert manual.fire(0.02) == 1
        assert ran == ["before", "new delay"]
    finally:
        loop.close()


def test_timers_of_two_loops_in_turn_stay_on_their_own_loop() -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        ran: list[tuple[str, bool]] = []

        def note(name: str) -> None:
            ran.append((name, asyncio.get_running_loop() is (first if name == "a" else second)))

        for _ in range(2):  # alternately: the remembered loop changes each time
            call_later(first, 0.01, note, "a")
            call_later(second, 0.01, note, "b")
        first.run_until_complete(asyncio.sleep(0.03))
        assert ran == [("a", True), ("a", True)]
        second.run_until_complete(asyncio.sleep(0.03))
        assert ran[2:] == [("b", True), ("b", True)]
        assert set(_timers._queues[first]) == {0.01}
        assert set(_timers._queues[second]) == {0.01}
    finally:
        first.close()
        second.close()


def test_threads_with_a_loop_each_arm_on_their_own_loop() -> None:
    # call_later remembers the last loop; threads running a loop each (a loop per
    # page) arm at once: every timer must land in its own loop's queue. Thread
    # switches forced as often as CPython allows, to open any gap in the lookup.
    per_thread, threads = 20_000, 4
    loops = [asyncio.new_event_loop() for _ in range(threads)]
    armed: list[list[_timers.Timer]] = [[] for _ in range(threads)]

    def arm(index: int) -> None:
        for _ in range(per_thread):
            armed[index].append(call_later(loops[index], 0.5, id, index))

    race(arm, threads)
    try:
        for index, loop in enumerate(loops):
            queued = list(_timers._queues[loop][0.5]._timers)
            assert len(queued) == per_thread
            assert {timer._arg for timer in queued} == {index}
    finally:
        for index, loop in enumerate(loops):
            for timer in armed[index]:
                timer.cancel()
            loop.close()


@pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf, -0.5])
@pytest.mark.parametrize("manual", [False, True], ids=["asyncio", "manual"])
def test_a_delay_that_can_never_fall_due_is_refused_where_it_is_armed(
    delay: float, manual: bool
) -> None:
    # Options refuse such timeouts at guard(); the timers refuse them too, on a loop
    # under manual_timers() as on a plain one, and arm nothing.
    loop = asyncio.new_event_loop()
    try:
        queues = _timers.manual_timers(loop) if manual else None
        ran: list[str] = []
        with pytest.raises(ValueError, match=r"timer delay must be finite seconds >= 0"):
            call_later(loop, delay, ran.append, "never")
        if queues is not None:
            assert not [d for d in queues if math.isnan(d) or d in (math.inf, -math.inf, -0.5)]
        call_later(loop, 0.0, ran.append, "next")  # the next timer is not held up
        if queues is not None:
            queues.fire(0.0)
        else:
            loop.run_until_complete(asyncio.sleep(0.01))
        assert ran == ["next"]
    finally:
        loop.close()


async def test_a_callback_arming_its_own_delay_does_not_delay_the_timers_waiting() -> None:
    # t1 falls due while t2 (armed later, same delay) still waits; t1's callback arms
    # t3. The queue must next fall due for t2, not for t3 (a timer must not run late
    # because another one's callback armed a timer).
    loop = asyncio.get_running_loop()
    ran: dict[str, float] = {}
    start = loop.time()

    def first() -> None:
        ran["t1"] = loop.time() - start
        call_later(loop, 0.2, lambda: ran.setdefault("t3", loop.time() - start))

    call_later(loop, 0.2, first)
    await asyncio.sleep(0.02)
    call_later(loop, 0.2, lambda: ran.setdefault("t2", loop.time() - start))
    await asyncio.sleep(0.5)
    assert list(ran) == ["t1", "t2", "t3"]
    # t2 is due at 0.22, t3 at 0.4: run with t3, t2 would be ~180 ms late. The
    # bound leaves a loaded machine 130 ms of lag.
    assert ran["t2"] < 0.35


async def test_a_base_exception_from_a_callback_leaves_the_others_scheduled() -> None:
    # Only Exception is the loop handler's business inside the queue; a BaseException
    # leaves _run (asyncio's handle reports it), and the timers after it still run.
    class Stop(BaseException):
        pass

    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[str] = []

    def stop() -> None:
        raise Stop

    call_later(loop, 0.02, stop)
    call_later(loop, 0.02, ran.append, "same turn")
    await asyncio.sleep(0.01)
    call_later(loop, 0.02, ran.append, "later")
    await asyncio.sleep(0.06)
    assert ran == ["same turn", "later"]
    assert [type(c.get("exception")) for c in reported] == [Stop]
