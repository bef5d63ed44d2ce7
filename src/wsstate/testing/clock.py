"""An advanceable clock for the session grace timer in tests (``Sessions(clock=...)``)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

__all__ = ["ManualClock", "ManualTimer"]


class ManualTimer:
    """A callback due at a time of a :class:`ManualClock`."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """The callback will not run."""
        self.cancelled = True


class ManualClock:
    """Time moves only when :meth:`advance` says so; due callbacks run in time order.

    Implements :class:`wsstate.Clock`: ``Sessions(grace=30, clock=clock)``
    then ``clock.advance(30)`` runs the grace timers due by then, at once, in the
    calling thread (the event loop's, in an async test).
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, ManualTimer]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], object]) -> ManualTimer:
        """Run ``callback`` once the clock has been advanced by ``delay`` seconds."""
        timer = ManualTimer(self.now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    @property
    def pending(self) -> int:
        """Timers armed and not cancelled."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    @property
    def next_due(self) -> float | None:
        """Seconds until the earliest timer armed and not cancelled is due (None: none)."""
        due = [t.when for _, _, t in self._heap if not t.cancelled]
        return min(due) - self.now if due else None

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``; run every callback due; return how many ran."""
        if seconds < 0:
            raise ValueError("time does not go back")
        until = self.now + seconds
        ran = 0
        while self._heap and self._heap[0][0] <= until:
            when, _, timer = heapq.heappop(self._heap)
            self.now = when
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
                ran += 1
        self.now = until
        return ran
