"""Hub: a set of connections with an isolated, snapshot broadcast."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from .adapters.base import Data
from .connection import GuardedConnection

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
        """Send ``data`` to every member at the time of the call; never raises for closure."""
        members = list(self._members)
        if not members:
            return BroadcastResult(0, 0)
        nbytes = _size(data)
        if nbytes is None:  # not a payload: try_send raises the TypeError
            results = await asyncio.gather(*(c.try_send(data) for c in members))
            sent = sum(results)
            return BroadcastResult(sent, len(results) - sent)
        # A send that finds room in the write buffer completes without waiting:
        # those are made one after the other, in place (a task per connection
        # would cost more than the send itself, docs/performance.md). Only the
        # sends that may wait for a slow reader run concurrently, so that none
        # holds up the others.
        sent = 0
        waiting: list[GuardedConnection] = []
        error: Exception | None = None
        for conn in members:
            t = conn.transport
            if not t.is_open() or t.send_would_block(nbytes):
                waiting.append(conn)
                continue
            try:
                sent += await conn.try_send(data)
            except Exception as exc:  # API misuse (send before accept): raised below
                if error is None:
                    error = exc
        if waiting:
            sent += sum(await asyncio.gather(*(c.try_send(data) for c in waiting)))
        if error is not None:
            raise error
        return BroadcastResult(sent, len(members) - sent)


def _size(data: object) -> int | None:
    """The payload's size in bytes; None if ``data`` is not a payload."""
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    if isinstance(data, bytes | bytearray | memoryview):
        return memoryview(data).nbytes
    return None
