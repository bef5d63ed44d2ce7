"""Timers of a fixed delay, many per event loop, at the cost of one asyncio timer.

Every timer a connection arms has a delay fixed by its options (open, close,
keepalive): armed one after the other, timers of the same delay on the same
loop fall due in the order they were armed. A first-in first-out queue per
(loop, delay) then does what asyncio's heap does for ``call_later``, with one
asyncio timer handle for the whole queue instead of one per connection: arming
costs a small object and an append, cancelling costs two assignments, and
asyncio's heap no longer holds one cancelled handle per closed connection until
its time comes (docs/performance.md, churn). A cancelled timer drops its
callback at once, so it holds nothing alive while it waits to be discarded.

Callbacks run from the event loop, as ``call_later`` callbacks do; one that
raises is reported to the loop's exception handler and does not stop the others.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

__all__ = ["Timer", "call_later"]


class Timer:
    """One armed timer; :meth:`cancel` it, or let it run once."""

    __slots__ = ("_args", "_callback", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self.when = when
        self._callback: Callable[..., object] | None = callback
        self._args = args

    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it already ran)."""
        self._callback = None
        self._args = ()

    def cancelled(self) -> bool:
        """True once cancelled or run."""
        return self._callback is None


class _Queue:
    """The timers of one delay on one loop, due in the order they were armed.

    It holds no reference to its loop (the registry is keyed by the loop,
    weakly): the loop reaches it through the one timer handle it scheduled.
    """

    __slots__ = ("_delay", "_scheduled", "_timers")

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._timers: deque[Timer] = deque()
        self._scheduled = False

    def arm(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[..., object],
        args: tuple[Any, ...],
    ) -> Timer:
        timer = Timer(loop.time() + self._delay, callback, args)
        self._timers.append(timer)
        if not self._scheduled:
            self._scheduled = True
            loop.call_at(timer.when, self._run)
        return timer

    def _run(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        timers = self._timers
        # asyncio runs a timer handle up to one clock resolution early: so do we.
        due = loop.time() + _RESOLUTION
        while timers and timers[0].when <= due:
            timer = timers.popleft()
            callback, args = timer._callback, timer._args
            if callback is None:
                continue
            timer.cancel()
            try:
                callback(*args)
            except Exception as exc:  # as asyncio reports a failing call_later callback
                loop.call_exception_handler(
                    {"message": f"Exception in timer callback {callback!r}", "exception": exc}
                )
        while timers and timers[0]._callback is None:
            timers.popleft()
        if timers and not self._scheduled:
            self._scheduled = True
            loop.call_at(timers[0].when, self._run)


_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
_queues: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _Queue]]] = (
    weakref.WeakKeyDictionary()
)


def call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: Any
) -> Timer:
    """Run ``callback(*args)`` on ``loop`` after ``delay`` seconds, like ``loop.call_later``."""
    try:
        queue = _queues[loop][delay]
    except KeyError:
        queue = _queues.setdefault(loop, {}).setdefault(delay, _Queue(delay))
    return queue.arm(loop, callback, args)
