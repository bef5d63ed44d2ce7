"""Running a coroutine up to its first suspension in the caller's turn (no task).

The aiohttp and tornado adapters write through coroutines that, most of the
time, finish without ever waiting (the frame goes to the transport's buffer).
Awaiting them would make every send a coroutine; stepping one once and
returning an awaitable only when it did suspend keeps the hot path flat.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["Continuation", "step"]


def step(coro: Coroutine[Any, Any, Any]) -> Continuation | None:
    """Run ``coro`` until it first suspends: None if it finished, else what finishes it.

    An exception ``coro`` raises before it suspends is raised here.
    """
    try:
        pending = coro.send(None)
    except StopIteration:
        return None
    return Continuation(coro, pending)


class Continuation:
    """A coroutine suspended once outside any task; awaiting this finishes it.

    The awaiting task receives what the coroutine yielded (a future to wait
    for, or None for a bare yield) exactly as if it had run the coroutine from
    the start; cancellation is passed in; the await returns what the coroutine
    returns. Never awaited, the coroutine is closed when this object is
    collected (no "never awaited" warning).
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._pending
        while True:
            try:
                sent = yield value
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value

    def __del__(self) -> None:
        self._coro.close()
