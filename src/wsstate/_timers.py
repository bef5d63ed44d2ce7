"""Timers of a fixed delay, many per event loop, at the cost of one asyncio timer.

Every timer a connection arms has a delay fixed by its options (open, close,
keepalive): armed one after the other, timers of the same delay on the same
loop fall due in the order they were armed. A first-in first-out queue per
(loop, delay) then does what asyncio's heap does for ``call_later``, with one
asyncio timer handle for the whole queue instead of one per connection: arming
costs a small object and an append, cancelling costs two assignments, and
asyncio's heap no longer holds one cancelled handle per closed connection until
its time comes (docs/performance.md, churn). A cancelled timer drops its
callback at once, so it holds nothing alive while it waits to be discarded;
each new timer discards up to two cancelled ones at the head of its queue, so a
churn of short connections keeps its queue short and the work of discarding
them is spread over the arms, not one lump when the queue falls due.

Callbacks run from the event loop, as ``call_later`` callbacks do; one that
raises is reported to the loop's exception handler and does not stop the others.

Tests can put a loop's timers on a clock they control: after
:func:`manual_timers`, a timer armed on that loop runs only when
:meth:`ManualTimers.fire` is called for its delay (the stateful harness fires
the close timer when the table's ``close_timeout`` rule fires, never because a
loaded machine was slow). The seam costs the hot path nothing: it is the
per-loop mapping :func:`call_later` already looks up.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ._lastloop import LastLoop

__all__ = ["ManualTimers", "Timer", "call_later", "call_later1", "manual_timers"]


#: A timer's ``_arg`` when its callback takes none.
_NO_ARG: Final[Any] = object()


def _apply(call: tuple[Callable[..., object], tuple[Any, ...]]) -> None:
    """A timer's callback of several arguments: ``(callback, args)``."""
    call[0](*call[1])


class Timer:
    """One armed timer; :meth:`cancel` it, or let it run once.

    It holds its callback and at most one argument (a callback of one argument,
    a plain function and its object, needs neither a bound method nor a tuple:
    memory per connection, docs/performance.md).
    """

    __slots__ = ("_arg", "_callback", "when")

    def __init__(self, when: float, callback: Callable[..., object], arg: Any):
        self.when = when
        self._callback: Callable[..., object] | None = callback
        self._arg = arg

    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it already ran)."""
        self._callback = None
        self._arg = None

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
        arg: Any,
    ) -> Timer:
        timers = self._timers
        # Timers cancelled at the head go as new ones come, two at most per arm:
        # the cost is spread over the connections (and they hold no memory for a
        # whole delay) instead of one lump when the queue next falls due.
        if timers and timers[0]._callback is None:
            timers.popleft()
            if timers and timers[0]._callback is None:
                timers.popleft()
        timer = Timer(loop.time() + self._delay, callback, arg)
        timers.append(timer)
        if not self._scheduled:
            self._scheduled = True
            loop.call_at(timer.when, self._run)
        return timer

    def _run(self) -> None:
        # Still scheduled while the callbacks run: one that arms a timer of this
        # delay only appends it, and the queue next falls due for its head (a
        # timer already waiting), not for the one just armed.
        loop = asyncio.get_running_loop()
        timers = self._timers
        # asyncio runs a timer handle up to one clock resolution early: so do we.
        due = loop.time() + _RESOLUTION
        try:
            while timers and timers[0].when <= due:
                timer = timers.popleft()
                if timer._callback is not None:
                    _run(loop, timer)
        finally:  # a BaseException from a callback leaves the rest scheduled too
            while timers and timers[0]._callback is None:
                timers.popleft()
            if timers:
                loop.call_at(timers[0].when, self._run)
            else:
                self._scheduled = False


def _run(loop: asyncio.AbstractEventLoop, timer: Timer) -> None:
    """Run a timer due (not cancelled) once; a failing callback goes to the loop's handler."""
    callback, arg = timer._callback, timer._arg
    assert callback is not None
    timer.cancel()
    try:
        if arg is _NO_ARG:
            callback()
        else:
            callback(arg)
    except Exception as exc:  # as asyncio reports a failing call_later callback
        shown = arg[0] if callback is _apply else callback
        loop.call_exception_handler(
            {"message": f"Exception in timer callback {shown!r}", "exception": exc}
        )


class _ManualQueue(_Queue):
    """The timers of one delay on a loop under :func:`manual_timers`: none runs by itself."""

    __slots__ = ()

    def arm(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[..., object],
        arg: Any,
    ) -> Timer:
        timers = self._timers
        while timers and timers[0]._callback is None:  # cancelled: nothing to keep
            timers.popleft()
        timer = Timer(loop.time() + self._delay, callback, arg)
        timers.append(timer)
        return timer

    def armed(self) -> list[Timer]:
        return [t for t in self._timers if t._callback is not None]

    def fire(self, loop: asyncio.AbstractEventLoop) -> int:
        timers, self._timers = self.armed(), deque()
        for timer in timers:
            if timer._callback is not None:  # else cancelled by an earlier one
                _run(loop, timer)
        return len(timers)


class ManualTimers(dict[float, _Queue]):
    """The timers of one loop under :func:`manual_timers`, by delay."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = weakref.ref(loop)

    def __missing__(self, delay: float) -> _Queue:
        queue = self[delay] = _ManualQueue(_checked(delay))
        return queue

    def armed(self, delay: float) -> int:
        """How many timers of ``delay`` wait (armed, not cancelled)."""
        queue = self.get(delay)
        return len(queue.armed()) if isinstance(queue, _ManualQueue) else 0

    def fire(self, delay: float) -> int:
        """Run every waiting timer of ``delay`` now, in the order armed; return how many."""
        loop = self._loop()
        queue = self.get(delay)
        if loop is None or not isinstance(queue, _ManualQueue):
            return 0
        return queue.fire(loop)


def manual_timers(loop: asyncio.AbstractEventLoop) -> ManualTimers:
    """Put the timers armed on ``loop`` from now on under the caller's control (tests).

    Idempotent per loop. Timers already armed keep their asyncio schedule.
    """
    queues = _queues.get(loop)
    if isinstance(queues, ManualTimers):
        return queues
    manual = ManualTimers(loop)
    if queues:
        manual.update(queues)  # already-armed queues keep running on their own
    _queues[loop] = manual
    _recent.forget()
    return manual


_recent: Final[LastLoop[dict[float, _Queue]]] = LastLoop()
_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
_queues: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _Queue]]] = (
    weakref.WeakKeyDictionary()
)


def call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: Any
) -> Timer:
    """Run ``callback(*args)`` on ``loop`` after ``delay`` seconds, like ``loop.call_later``.

    With one argument the timer holds it as is: ``call_later(loop, d, function,
    obj)`` costs one small object, where a bound method would cost another
    (:func:`call_later1` takes that one argument without packing it).
    """
    if len(args) == 1:
        return call_later1(loop, delay, callback, args[0])
    if args:
        return call_later1(loop, delay, _apply, (callback, args))
    return call_later1(loop, delay, callback, _NO_ARG)


def call_later1(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[Any], object], arg: Any
) -> Timer:
    """:func:`call_later` with exactly one argument: run ``callback(arg)`` after ``delay``."""
    ref, queues = _recent.pair  # the loop asked last (LastLoop.get, inlined: the hot path)
    if ref is None or ref() is not loop:
        queues = None
    if queues is None:
        queues = _queues.get(loop) or _queues.setdefault(loop, {})
        _recent.remember(loop, queues)
    try:
        queue = queues[delay]  # ManualTimers makes its own queue of a new delay
    except KeyError:
        queue = queues[delay] = _Queue(_checked(delay))
    return queue.arm(loop, callback, arg)


def _checked(delay: float) -> float:
    """A new delay's, checked: a NaN or infinite one would never fall due and hold up
    every timer armed after it on its queue (NaN is never a key found, so each NaN
    would come here)."""
    if not 0 <= delay < math.inf:
        raise ValueError(f"timer delay must be finite seconds >= 0, not {delay!r}")
    return delay
