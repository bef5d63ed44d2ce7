"""``wsstate.testing._heap``: the harnesses' freezing collects what it keeps out of sight.

Freezing site after site, an object of before that became garbage in a cycle
while frozen was frozen again at the next site and never collected: ``wsstate
fuzz`` grew 2.3 MB a chunk and lost half its speed in a minute. The two
collection tests fail on plain ``gc.freeze()``/``gc.unfreeze()`` pairs
(watched: every cycle of the first holds kept). The others keep a hold from
outliving its harness: a failed start, or a teardown run twice, must leave
nothing frozen.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from wsstate.machines.connection import Event
from wsstate.testing import _heap, client_stateful, link_stateful, session_stateful
from wsstate.testing.stateful import FirstChoices, Harness, open_site

_Harness = (
    type[client_stateful.Harness] | type[session_stateful.Harness] | type[link_stateful.Harness]
)
#: The harnesses that start their own servers (the connection's runs in a site).
HARNESSES: list[_Harness] = [
    client_stateful.Harness,
    session_stateful.Harness,
    link_stateful.Harness,
]


@pytest.fixture(autouse=True)
def _no_hold_left() -> Iterator[None]:
    assert _heap._depth == 0, "a hold of an earlier test was never released"
    yield
    left = _heap._depth
    if left:  # undone first: a failed test must not leave the next ones frozen
        _heap._depth = 0
        gc.unfreeze()
    gc.collect()  # the nodes' garbage, at once
    assert left == 0, f"this test left {left} hold(s)"


class _Node:
    """Kept alive only by its own cycle, with ``load`` objects the collector tracks."""

    def __init__(self, load: int) -> None:
        self.me = self
        self.load = [[i] for i in range(load)]


def _load(monkeypatch: pytest.MonkeyPatch) -> int:
    """Objects per node such that the garbage of EVERY holds is half the heap (above
    the quarter that triggers a collection), whatever ran before in this process:
    the count restarts now, from this heap's size after a full collection."""
    gc.collect()
    heap = len(gc.get_objects())
    monkeypatch.setattr(_heap, "_after_full", heap)
    monkeypatch.setattr(_heap, "_holds", 0)
    return max(2_000, heap // 32)


def test_garbage_made_while_frozen_is_collected_after_enough_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load = _load(monkeypatch)
    refs = []
    for _ in range(3 * _heap.EVERY):
        node = _Node(load)  # exists before the hold, as the harness's caller's objects do
        refs.append(weakref.ref(node))
        held = _heap.hold()
        del node  # garbage in a cycle, frozen: no collection can see it now
        held.release()
    # Collected once the frozen heap has grown by a quarter, checked every EVERY holds.
    alive = sum(ref() is not None for ref in refs[: _heap.EVERY])
    assert alive == 0, f"{alive} of the first {_heap.EVERY} cycles never collected"
    assert sum(ref() is not None for ref in refs) < 2 * _heap.EVERY


def test_sites_in_a_row_collect_what_became_garbage_while_they_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``wsstate fuzz`` does: a site per example, one connection each, while the
    caller's objects (Hypothesis' per-example data) become garbage meanwhile."""

    async def one_site(node: list[_Node]) -> None:
        site = open_site("server")
        await site.open()
        try:
            node.clear()  # the node, made before the site, is garbage in a cycle now
            h = Harness("server", site=site)
            await h.start()
            await h.step(Event.APP_SEND, FirstChoices())
            await h.stop()
        finally:
            await site.close()

    load = _load(monkeypatch)

    async def main() -> list[weakref.ref[_Node]]:
        refs = []
        for _ in range(3 * _heap.EVERY):
            node = [_Node(load)]
            refs.append(weakref.ref(node[0]))
            await one_site(node)
        return refs

    refs = asyncio.run(main())
    alive = sum(ref() is not None for ref in refs[: _heap.EVERY])
    assert alive == 0, f"{alive} of the first {_heap.EVERY} sites' garbage never collected"


def test_holds_nest_and_each_releases_once() -> None:
    # Counts compared with 0 only: a frozen object freed by reference counting
    # leaves the frozen count, so two counts taken while frozen may differ. (Not
    # 0 before the first hold on 3.12: its interpreter starts with objects frozen;
    # gc.unfreeze() lets them go too.)
    outer = _heap.hold()
    inner = _heap.hold()
    assert (_heap._depth, gc.get_freeze_count() > 0) == (2, True)
    inner.release()
    inner.release()  # again: nothing (it must not end the outer hold)
    assert (inner.held, outer.held, _heap._depth) == (False, True, 1)
    assert gc.get_freeze_count() > 0  # the outer hold keeps the heap frozen
    outer.release()
    assert (_heap._depth, gc.get_freeze_count()) == (0, 0)


def test_a_site_that_fails_to_open_leaves_nothing_held() -> None:
    async def main() -> None:
        site = open_site("server")

        async def refuse() -> int:
            raise OSError("no port left")

        site._start = refuse  # type: ignore[method-assign]
        with pytest.raises(OSError, match="no port left"):
            await site.open()

    asyncio.run(main())
    assert (_heap._depth, gc.get_freeze_count()) == (0, 0)


@pytest.mark.parametrize("harness", HARNESSES)
def test_a_harness_stopped_twice_reports_its_own_failure_not_a_hold_error(
    harness: _Harness,
) -> None:
    """Hypothesis calls teardown (stop()) after a rule whose stop() failed."""

    async def main() -> None:
        h = harness()
        await h.start()
        await h.stop()
        await h.stop()

    asyncio.run(main())
    assert (_heap._depth, gc.get_freeze_count()) == (0, 0)


@pytest.mark.parametrize("harness", HARNESSES)
def test_a_harness_that_fails_to_start_leaves_nothing_held(
    harness: _Harness,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: object) -> None:
        raise OSError("no port left")

    monkeypatch.setattr(harness, "_serve", refuse)

    async def main() -> None:
        with pytest.raises(OSError, match="no port left"):
            await harness().start()

    asyncio.run(main())
    assert (_heap._depth, gc.get_freeze_count()) == (0, 0)
