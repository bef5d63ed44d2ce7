"""Keep the process's heap out of a harness's garbage collections, without leaking.

A harness that checks "no unretrieved task exception" collects garbage at its
end (asyncio reports such a task when it is collected). A full collection of a
test process's heap costs tens of milliseconds, so the harnesses freeze what
existed before they started (:func:`gc.freeze`): their collection then looks at
their own objects only.

Freezing has a cost of its own. An object that existed before and became garbage
in a reference cycle while frozen is collected only by a full collection after
:func:`gc.unfreeze`; CPython runs one only when the long-lived heap has grown by
a quarter, and the next harness's freeze comes first. Freezing site after site,
that garbage is frozen again each time and never collected: ``wsstate fuzz``
grew by 2.3 MB and 5,000 objects a chunk and lost half its speed in a minute.

The harnesses therefore hold the heap through :func:`hold`, which applies
CPython's own rule for its oldest generation itself: every :data:`EVERY`-th hold
it counts the frozen objects, and when they are more than :data:`GROWTH` above
the count right after its last full collection, it collects the whole heap
before freezing. Garbage then stays below a quarter of the live heap, and a full
collection comes only after that much garbage, whatever the heap's size. (The
count is not taken at every hold: ``gc.get_freeze_count()`` walks the whole
frozen list, about 5 ms on a fuzzing worker's heap.) Holds nest: only the
outermost freezes, and the last released unfreezes.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["Hold", "hold"]

#: The frozen objects are counted at every this many outermost holds.
EVERY: Final = 16
#: A full collection when the heap has grown by this fraction since the last one.
GROWTH: Final = 0.25

_depth = 0  # holds not yet released
_holds = 0  # outermost holds since the frozen objects were last counted
_after_full = 0  # objects frozen right after the last full collection


class Hold:
    """One :func:`hold`; :meth:`release` it once (again, it does nothing)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = True

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._held

    def release(self) -> None:
        """End this hold; the last one released unfreezes. Idempotent: a harness's
        teardown may run twice (a failed ``stop()``, then Hypothesis' teardown)."""
        global _depth
        if not self._held:
            return
        self._held = False
        _depth -= 1
        if _depth == 0:
            gc.unfreeze()


def hold() -> Hold:
    """Freeze the objects that exist now (collecting the whole heap first when it has
    grown); holds nest: the heap stays frozen until every one is released."""
    global _depth, _holds, _after_full
    if _depth == 0:
        gc.freeze()
        _holds += 1
        if _holds >= EVERY:
            _holds = 0
            if gc.get_freeze_count() > _after_full * (1 + GROWTH):
                gc.unfreeze()
                gc.collect()
                gc.freeze()
                _after_full = gc.get_freeze_count()
    _depth += 1
    return Hold()
