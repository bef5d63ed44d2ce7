"""The bench's instruction counter (:mod:`wsstate_tools.bench.instructions`).

Counting needs ``sys.monitoring`` (3.12+): on 3.11 these tests check the clear
refusal instead; ``make pytest-other`` runs the counting on 3.12 and 3.13. Rows
10g/11g, which use it, are checked by tests/test_bench.py's ``--only 10,11`` run.
"""

from __future__ import annotations

import sys

import pytest

from wsstate.closecodes import is_sendable_code
from wsstate_tools.bench import instructions


def _loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def _count(work: object, n: int) -> instructions.InstructionCount:
    with instructions.InstructionCount() as count:
        work(n)  # type: ignore[operator]
    return count


def _wsstate_work(n: int) -> None:
    for code in range(n):
        is_sendable_code(1000 + code)


def test_counts_are_exact_and_tell_wsstate_s_own_code() -> None:
    if not instructions.AVAILABLE:
        with pytest.raises(RuntimeError, match=r"sys\.monitoring \(Python 3\.12\+\)"):
            instructions.InstructionCount()
        return
    # The same work counts the same; each iteration more adds the same count.
    counts = [_count(_loop, n).total for n in (100, 200, 300, 300)]
    assert counts[2] == counts[3], counts
    assert counts[2] - counts[1] == counts[1] - counts[0] > 100, counts
    plain = _count(_loop, 100)
    assert plain.own == 0, "no wsstate code ran"
    own = [_count(_wsstate_work, n) for n in (10, 20)]
    assert 0 < own[0].own < own[1].own <= own[1].total, [(c.own, c.total) for c in own]
    # Once out of the block the tool id is free again and nothing more is counted.
    count = _count(_loop, 10)
    assert count.tool_id is not None
    assert sys.monitoring.get_tool(count.tool_id) is None  # type: ignore[attr-defined,unused-ignore]
    counted = sum(count._per_code.values())
    _loop(1000)
    assert sum(count._per_code.values()) == counted == count.total


def test_only_the_thread_that_counts_is_counted() -> None:
    # sys.monitoring reports every thread's instructions. CI once saw one round of
    # the test below 84 instructions per connection heavier than its identical pair
    # (another thread's work, pytest-xdist's message pump, or a finalizer's: the
    # count now leaves out the first, and the bench collects the garbage left
    # before a round outside the count and a round's own inside it).
    if not instructions.AVAILABLE:
        return  # the refusal is checked above
    import threading

    alone = _count(_loop, 100).total
    other = threading.Thread(target=_loop, args=(100_000,))
    with instructions.InstructionCount() as count:
        other.start()
        other.join()
        _loop(100)
    threaded = count.total
    # What this thread ran besides _loop(100): start() and join(), a few hundred.
    assert alone < threaded < alone + 2_000, (alone, threaded)


def test_a_tool_id_taken_by_every_other_tool_is_a_clear_error() -> None:
    if not instructions.AVAILABLE:
        with pytest.raises(RuntimeError, match=r"needs sys\.monitoring"):
            instructions.InstructionCount()
        return
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    taken = [tool for tool in range(6) if monitoring.get_tool(tool) is None]
    for tool in taken:
        monitoring.use_tool_id(tool, "test")
    try:
        with (
            pytest.raises(RuntimeError, match=r"no sys\.monitoring tool id is free"),
            instructions.InstructionCount(),
        ):
            pass
    finally:
        for tool in taken:
            monitoring.free_tool_id(tool)


def test_wsstate_code_run_in_a_bare_round_counts_for_the_guarded_variant() -> None:
    # Rows 10g/11g: what wsstate runs while the bare variant churns (the guarded
    # connections' cancelled timers, dropped when their queue next falls due) is
    # the guard's cost, moved from the bare round to the guarded one of its pair.
    # Here both variants run the same code, wsstate's included: the moved count
    # is the whole difference.
    if not instructions.AVAILABLE:
        return  # the rows are not measured there (the tests above check the refusal)
    import asyncio
    import dataclasses

    from wsstate_tools.bench.common import Settings
    from wsstate_tools.bench.framework import _count_instructions

    async def same(url: str, message: bytes) -> None:
        _loop(50)
        _wsstate_work(20)

    s = dataclasses.replace(Settings.quick(), churn=8, churn_workers=2)
    counted = asyncio.run(_count_instructions(s, "", b"", same, same))
    assert counted is not None
    with instructions.InstructionCount() as one:
        _wsstate_work(20)
    moved = one.own  # per connection
    assert moved > 0
    for g, b, own in zip(*counted, strict=True):
        assert own == 2 * moved, (own, moved)
        assert g - b == 2 * moved, (g, b, moved)
