"""Runs that must not count as the stateful harnesses' coverage, and runs counted apart.

Each harness counts, in its own process, the pairs it saw the runtime take and its
examples and steps (``_SEEN`` and ``STATS``: what its ``coverage_report()`` prints at
the end of the run). A run under a mutant drives a broken runtime: the pairs it
took say nothing of the real one, so the mutation checks run :func:`uncounted`.
A test that checks what one run counted runs it :func:`counted_apart`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

#: The harness modules that count, each with its ``_SEEN`` and ``STATS``.
HARNESSES = (
    "wsstate.testing.stateful",
    "wsstate.testing.session_stateful",
    "wsstate.testing.client_stateful",
    "wsstate.testing.link_stateful",
)


def _sets(seen: Any) -> list[set[Any]]:
    """The sets of pairs a harness's ``_SEEN`` holds (one, or one per role)."""
    return list(seen.values()) if isinstance(seen, dict) else [seen]


@contextlib.contextmanager
def uncounted() -> Iterator[None]:
    """Leave every harness's counts as they were before the block, whatever it ran.

    The counts are put back into the same objects (the harnesses and the suite's
    hooks hold them), on success and on failure alike.
    """
    saved = []
    for name in HARNESSES:
        module = importlib.import_module(name)
        sets = _sets(module._SEEN)
        saved.append((sets, [set(s) for s in sets], module.STATS, dict(module.STATS)))
    try:
        yield
    finally:
        for sets, before, stats, stats_before in saved:
            for kept, was in zip(sets, before, strict=True):
                kept.clear()
                kept.update(was)
            stats.clear()
            stats.update(stats_before)


@contextlib.contextmanager
def counted_apart() -> Iterator[None]:
    """Run the block from zero counts (what the process counted before is out of the
    way), then put the process's counts back: the block's own run is what it sees."""
    with uncounted():
        for name in HARNESSES:
            module = importlib.import_module(name)
            for seen in _sets(module._SEEN):
                seen.clear()
            for key in module.STATS:
                module.STATS[key] = 0
        yield
