"""The mutation checks' runs do not count as the harnesses' coverage (support.coverage)."""

from __future__ import annotations

import asyncio

import pytest
from support.coverage import counted_apart, uncounted

from wsstate.machines.connection import Event, State
from wsstate.testing import stateful
from wsstate.testing.stateful import open_site, run_tour_pair, tour


async def _one_pair() -> tuple[State, Event]:
    """The connection tour's first pair, driven on a real server; the pair."""
    state, event, path = next(iter(tour("server")))
    site = open_site("server")
    await site.open()
    try:
        await run_tour_pair("server", state, event, path, site)
    finally:
        await site.close()
    return state, event


def test_a_run_inside_uncounted_leaves_the_counts_as_they_were() -> None:
    with counted_apart():  # this process's real counts, kept out of the way of this test
        with uncounted():
            state, event = asyncio.run(_one_pair())
            # The run counted, in the very objects the coverage report reads ...
            assert (state, event) in stateful._SEEN["server"]
            assert stateful.STATS["steps"] > 0
        # ... and they are as they were once the block ends.
        assert not any(stateful._SEEN.values())
        assert stateful.STATS == {"examples": 0, "steps": 0}


def test_the_counts_are_put_back_when_the_block_fails() -> None:
    stats = dict(stateful.STATS)
    server = stateful._SEEN["server"]
    seen = set(server)
    pair = (State.CLOSED, Event.APP_SEND)

    def failing_run() -> None:
        with counted_apart(), uncounted():
            stateful.STATS["steps"] += 1000
            server.add(pair)
            raise RuntimeError("a mutant's run failed")

    with pytest.raises(RuntimeError, match="mutant"):
        failing_run()
    assert stats == stateful.STATS
    assert stateful._SEEN["server"] is server  # the same set, as it was
    assert seen == server
