"""What a stateful harness watches from its start to its stop (client, session, link).

The heap held out of the collector's sight (:mod:`wsstate.testing._heap`: the
harness's collection at its stop then costs its own objects), held before
anything is recorded (a full collection the hold makes reports earlier garbage,
not the harness's); wsstate's records at DEBUG reaching the harness's handler;
the loop's exception handler recorded (:class:`LoopWatch`). :meth:`Watching.end`
undoes all of it, and again does nothing: a harness's stop() may run twice (a
failed stop, then Hypothesis' teardown), and a failed start() calls it too.
"""

from __future__ import annotations

import enum
import logging
from typing import Generic, TypeVar

from . import _heap
from .loopwatch import LoopWatch

__all__ = ["Transitions", "Watching"]

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class Transitions(logging.Handler, Generic[S, E]):
    """One machine's transitions, as its runtime logs them, and any ERROR record.

    ``name`` is the machine instance's name in its records' ``wsstate_transition``
    (``(name, state, event, next)``); ``states`` its State enum (another machine's
    records under the same name are not taken).
    """

    def __init__(self, name: str, states: type[S]) -> None:
        super().__init__(logging.DEBUG)
        self.name_ = name
        self.states = states
        self.taken: list[tuple[S, E, S]] = []
        self.errors: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record)
        t = getattr(record, "wsstate_transition", None)
        if t is not None and t[0] == self.name_ and isinstance(t[1], self.states):
            self.taken.append((t[1], t[2], t[3]))


class Watching:
    """Start watching; :meth:`end` stops (idempotent)."""

    __slots__ = ("_handler", "_hold", "_level", "_on", "watch")

    def __init__(self, handler: logging.Handler, on: logging.Logger) -> None:
        """``handler`` is added to ``on`` (wsstate's logger or the root), and wsstate's
        logger is set to DEBUG until :meth:`end`."""
        self._hold = _heap.hold()
        wsstate = logging.getLogger("wsstate")
        self._level = wsstate.level
        wsstate.setLevel(logging.DEBUG)
        self._handler = handler
        self._on = on
        on.addHandler(handler)
        self.watch = LoopWatch().__enter__()

    def end(self) -> None:
        """Stop watching: leaving the watch collects garbage (cycles' reports come now)."""
        self.watch.__exit__(None, None, None)
        self._hold.release()
        self._on.removeHandler(self._handler)
        logging.getLogger("wsstate").setLevel(self._level)
