"""The event loop asked about last, and its value: a per-loop lookup without a weak dictionary.

A ``WeakKeyDictionary`` lookup makes a weak reference on every call; the
timers (:mod:`._timers`) and the loop registry (:mod:`._lifetime`) look their
loop up several times per connection. :class:`LastLoop` remembers the loop of
the last lookup (weakly) with its value. Both are kept as one tuple, replaced
whole and read once, so that threads running a loop each (a loop per page) can
never read one loop's value under another loop's reference.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Generic, TypeVar

__all__ = ["LastLoop"]

V = TypeVar("V")


class LastLoop(Generic[V]):
    """One loop (weakly) and its value; :meth:`get` is None for any other loop."""

    __slots__ = ("pair",)

    def __init__(self) -> None:
        self.pair: tuple[weakref.ref[asyncio.AbstractEventLoop] | None, V | None] = (None, None)

    def get(self, loop: asyncio.AbstractEventLoop) -> V | None:
        """The value remembered for ``loop``, or None."""
        ref, value = self.pair
        return value if ref is not None and ref() is loop else None

    def remember(self, loop: asyncio.AbstractEventLoop, value: V) -> None:
        """Remember ``value`` for ``loop`` (forgotten once the loop is collected)."""
        self.pair = (weakref.ref(loop, self.forget), value)

    def forget(self, ref: object = None) -> None:
        """Forget the value (``ref``: only if it is still the loop's weak reference)."""
        if ref is None or ref is self.pair[0]:
            self.pair = (None, None)
