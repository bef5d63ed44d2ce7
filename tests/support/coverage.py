"""Runs that must not count as the stateful harnesses' coverage.

Each harness counts, in its own process, the pairs it saw the runtime take and its
examples and steps (``_SEEN`` and ``STATS``: what its ``coverage_report()`` prints at
the end of the run). A run under a mutant drives a broken runtime: the pairs it
took say nothing of the real one, so the mutation checks run :func:`uncounted`.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from collections.abc import Iterator

#: The harness modules that count, each with its ``_SEEN`` and ``STATS``.
HARNESSES = (
    "wsstate.testing.stateful",
    "wsstate.testing.session_stateful",
    "wsstate.testing.client_stateful",
    "wsstate.testing.link_stateful",
)


@contextlib.contextmanager
def uncounted() -> Iterator[None]:
    """Leave every harness's counts as they were before the block, whatever it ran.

    The counts are put back in place (the harnesses and the suite's hooks hold the
    same objects), on success and on failure alike.
    """
    saved = []
    for name in HARNESSES:
        module = importlib.import_module(name)
        saved.append((module._SEEN, copy.deepcopy(module._SEEN), module.STATS, dict(module.STATS)))
    try:
        yield
    finally:
        for seen, seen_before, stats, stats_before in saved:
            seen.clear()
            seen.update(seen_before)
            stats.clear()
            stats.update(stats_before)
