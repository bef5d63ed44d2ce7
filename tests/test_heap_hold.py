"""``wsstate.testing._heap``: the harnesses' freezing collects what it keeps out of sight.

Freezing site after site, an object of before that became garbage in a cycle
while frozen was frozen again at the next site and never collected: ``wsstate
fuzz`` grew 2.3 MB a chunk and lost half its speed in a minute. These tests
fail on plain ``gc.freeze()``/``gc.unfreeze()`` pairs (watched: the first keeps
every cycle; the second grows by thousands of objects per site).
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from wsstate.machines.connection import Event
from wsstate.testing import _heap
from wsstate.testing.stateful import FirstChoices, Harness, open_site


class _Node:
    """Kept alive only by its own cycle, with ``load`` objects the collector tracks."""

    def __init__(self, load: int) -> None:
        self.me = self
        self.load = [[i] for i in range(load)]


def _load() -> int:
    """Objects per node such that a few nodes' garbage outgrows a quarter of the heap,
    however big this process's heap is (the suite runs these tests beside others)."""
    return max(2_000, max(len(gc.get_objects()), _heap._after_full) // 8)


def test_garbage_made_while_frozen_is_collected_after_enough_holds() -> None:
    gc.collect()
    load = _load()
    refs = []
    for _ in range(3 * _heap.EVERY):
        node = _Node(load)  # exists before the hold, as the harness's caller's objects do
        refs.append(weakref.ref(node))
        _heap.hold()
        del node  # garbage in a cycle, frozen: no collection can see it now
        _heap.release()
    # Collected once the frozen heap has grown by a quarter, checked every EVERY holds.
    alive = sum(ref() is not None for ref in refs[: _heap.EVERY])
    assert alive == 0, f"{alive} of the first {_heap.EVERY} cycles never collected"
    assert sum(ref() is not None for ref in refs) < 2 * _heap.EVERY


def test_holds_nest_and_release_checks_its_pairing() -> None:
    before = gc.get_freeze_count()
    _heap.hold()
    _heap.hold()
    frozen = gc.get_freeze_count()
    assert frozen > before
    _heap.release()
    assert gc.get_freeze_count() == frozen  # the inner release keeps the outer freeze
    _heap.release()
    assert gc.get_freeze_count() == before
    with pytest.raises(RuntimeError, match="without hold"):
        _heap.release()


def test_sites_in_a_row_collect_what_became_garbage_while_they_ran() -> None:
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

    async def main() -> list[weakref.ref[_Node]]:
        load = _load()
        refs = []
        for _ in range(3 * _heap.EVERY):
            node = [_Node(load)]
            refs.append(weakref.ref(node[0]))
            await one_site(node)
        return refs

    refs = asyncio.run(main())
    alive = sum(ref() is not None for ref in refs[: _heap.EVERY])
    assert alive == 0, f"{alive} of the first {_heap.EVERY} sites' garbage never collected"
