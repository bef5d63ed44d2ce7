"""Hub: a set of connections with an isolated, snapshot broadcast."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from .adapters.base import Data
from .connection import _DATA_TYPES, _STR_BYTES, GuardedConnection

__all__ = ["BroadcastResult", "Hub"]


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """What one broadcast did: messages sent and connections that could not take it."""

    sent: int
    dropped: int


class Hub:
    """A set of guarded connections.

    Connections leave the hub by themselves when they close. ``broadcast``
    iterates over a snapshot, so connections may join and leave meanwhile, and
    one connection's failure never affects the others.
    """

    def __init__(self) -> None:
        self._members: dict[GuardedConnection, None] = {}

    def add(self, conn: GuardedConnection) -> None:
        """Add ``conn``; it is discarded automatically when it closes."""
        if conn.closed or conn in self._members:
            return
        self._members[conn] = None
        conn.on_close(self.discard)

    def discard(self, conn: GuardedConnection) -> None:
        """Remove ``conn`` if present."""
        self._members.pop(conn, None)

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[GuardedConnection]:
        return iter(list(self._members))

    def __contains__(self, conn: object) -> bool:
        return conn in self._members

    async def broadcast(self, data: Data) -> BroadcastResult:
        """Send ``data`` to every member at the time of the call; never raises for closure.

        Raises :class:`TypeError` for a payload that is neither ``str`` nor
        bytes-like. An exception other than closure from one member (API misuse:
        a member not yet accepted) is raised after every member was tried.
        """
        if not isinstance(data, _DATA_TYPES):
            raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
        payload = data if isinstance(data, _STR_BYTES) else bytes(data)
        members = list(self._members)
        # Every member's send starts here, one after the other, nothing awaited in
        # between: a send that finds room in the write buffer is done at once (a
        # task per connection would cost more than the send itself,
        # docs/performance.md). Only the sends that have to wait for a slow reader
        # are awaited, together, so that none holds up the others.
        sent = 0
        waiting: list[Coroutine[Any, Any, bool]] = []
        error: Exception | None = None
        for conn in members:
            try:
                outcome = conn._start_send(payload)
            except Exception as exc:  # API misuse (send before accept): raised below
                if error is None:
                    error = exc
                continue
            if outcome is True:
                sent += 1
            elif outcome is not False:
                waiting.append(conn._finish_send(outcome))
        if waiting:
            sent += sum(await asyncio.gather(*waiting))
        if error is not None:
            raise error
        return BroadcastResult(sent, len(members) - sent)
