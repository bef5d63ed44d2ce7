"""A user's on-close hook raises (row 22): logged once at ERROR, the others still run."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support.harness import Harness, assert_peer_gone, eventually
from support.transports import Transport, open_pair

from wsstate import ClosedBy, GuardedConnection


@pytest.mark.scenario(22)
@pytest.mark.parametrize("failing", ["sync", "async"])
async def test_22_failing_on_close_hook(h: Harness, transport: Transport, failing: str) -> None:
    h.wsstate_errors = 1  # the hook's failure, once; nothing else
    pair = await open_pair(h, transport)
    conn = pair.conn
    calls: list[str] = []

    def bad_sync(c: GuardedConnection) -> None:
        raise RuntimeError("bug in a hook")

    async def bad_async(c: GuardedConnection) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("bug in a hook")

    async def good_async(c: GuardedConnection) -> None:
        await asyncio.sleep(0)
        calls.append("async")

    conn.on_close(lambda c: calls.append("before"))
    conn.on_close(bad_sync if failing == "sync" else bad_async)
    conn.on_close(good_async)
    conn.on_close(lambda c: calls.append("after"))
    await pair.peer.close()
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    await eventually(lambda: len(calls) == 3 and conn.stats.callback_errors == 1)
    assert sorted(calls) == ["after", "async", "before"]
    assert calls.index("before") < calls.index("after")
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000)
    (error,) = h.records(logging.ERROR)
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], RuntimeError)
    # A hook registered after the closure runs once, soon.
    conn.on_close(lambda c: calls.append("late"))
    await eventually(lambda: calls.count("late") == 1)
    await asyncio.sleep(0.01)
    assert calls.count("late") == 1
