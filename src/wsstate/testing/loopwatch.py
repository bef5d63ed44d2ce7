"""Record every call of an event loop's exception handler during a test.

asyncio reports what nobody handled — ``Task exception was never retrieved``,
an exception in a callback or a protocol, an unclosed transport's error — by
calling the loop's exception handler, which by default logs at ERROR. A
:class:`LoopWatch` replaces that handler for the duration of a ``with`` block
and records each call, so a test can assert there was none::

    async def scenario() -> None:
        with LoopWatch() as watch:
            ...
            watch.assert_not_called()

Some reports are made by garbage collection (a failed task that nobody
awaited is reported when it is collected), so :meth:`LoopWatch.assert_not_called`
collects garbage first. The previous handler is restored on exit; with
``forward=True`` each call is also passed on to it (or to the loop's default
handler).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

__all__ = ["LoopWatch"]

_Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class LoopWatch:
    """Context manager recording calls of ``loop``'s exception handler.

    Args:
        loop: the loop to watch; default: the running loop, taken on enter.
        forward: also pass each call to the handler that was installed before.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, *, forward: bool = False
    ) -> None:
        #: The ``context`` dict of every call, in order.
        self.calls: list[dict[str, Any]] = []
        self._loop = loop
        self._forward = forward
        self._previous: _Handler | None = None
        self._installed = False

    def __enter__(self) -> Self:
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        self._loop = loop
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._handle)
        self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed and self._loop is not None:
            gc.collect()  # let pending "never retrieved" reports reach us
            self._loop.set_exception_handler(self._previous)
            self._installed = False

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.calls.append(context)
        if self._forward:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)

    def describe(self) -> str:
        """The recorded calls, one per line: message and exception."""
        lines = []
        for context in self.calls:
            message = context.get("message", "")
            exception = context.get("exception")
            extra = f": {exception!r}" if exception is not None else ""
            lines.append(f"{message}{extra}")
        return "\n".join(lines)

    def assert_not_called(self, *, collect: bool = True) -> None:
        """Raise AssertionError listing the calls, if the handler was called.

        With ``collect`` (the default), garbage is collected first so that
        unretrieved task exceptions are reported before the check.
        """
        if collect:
            gc.collect()
        if self.calls:
            raise AssertionError(
                f"loop exception handler called {len(self.calls)} time(s):\n{self.describe()}"
            )
