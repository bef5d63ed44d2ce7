"""Hub: a set of connections with an isolated, snapshot broadcast."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ._checks import checked_payload
from .adapters.base import Data, Payload
from .closecodes import validate_close
from .connection import QUEUED, SENT_NOW, GuardedConnection
from .errors import InvalidOption

logger: Final = logging.getLogger("wsstate")
#: Broadcasts queued by broadcast_threadsafe, kept until they finish.
_pending: Final[set[asyncio.Task[BroadcastResult]]] = set()


def _queued_done(task: asyncio.Task[BroadcastResult]) -> None:
    _pending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # API misuse of a member (one not yet accepted): as send_threadsafe does
        # for its own, counted by the member, logged here, never left unretrieved.
        logger.debug("Hub.broadcast_threadsafe: %s", task.exception())


__all__ = ["BroadcastResult", "Hub"]


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """What one broadcast did, one count per member of its snapshot.

    ``sent``: written at once. ``queued``: the member's write buffer was full
    (or its transport is asynchronous): the message waits on the member's own
    bounded path and goes out in order, unless the member is closed as a slow
    reader first (its ``stats`` count the outcome). ``dropped``: not sent (the
    member was closing or closed, failed, or its backlog was full).
    """

    sent: int
    dropped: int
    queued: int = 0


class Hub:
    """A set of guarded connections.

    Connections leave the hub by themselves when they close. ``broadcast``
    iterates over a snapshot, so connections may join and leave meanwhile, and
    one connection's failure never affects the others.

    Threads: a hub belongs to the event loop of its connections (the loop of
    the first one added). :meth:`add`, :meth:`discard`, :meth:`broadcast` and
    :meth:`close` must be called from that loop's thread: from any other they
    raise :class:`RuntimeError` at once (nothing is changed). From another
    thread, :meth:`broadcast_threadsafe` queues a broadcast (it never raises
    for closure), or ``asyncio.run_coroutine_threadsafe(hub.broadcast(data),
    loop)`` gives its result; a single member takes
    :meth:`~wsstate.GuardedConnection.send_threadsafe`. ``len()``, ``in`` and
    iteration may be used from any thread: they read a snapshot, which may be
    a moment old.
    """

    def __init__(self, *, max_queue: int = 16) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int):
            raise InvalidOption.wrong_type(
                "max_queue", f"max_queue must be a positive int, not {max_queue!r}"
            )
        if max_queue < 1:
            raise InvalidOption("max_queue", f"max_queue must be a positive int, not {max_queue!r}")
        #: Writes a slow member may have waiting (its backlog) before a broadcast
        #: drops the message for it instead.
        self.max_queue = max_queue
        self._members: dict[GuardedConnection, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _check_loop(self, operation: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or (self._loop is not None and running is not self._loop):
            raise RuntimeError(
                f"Hub.{operation}() must be called from the event loop of its connections "
                "(from another thread: broadcast_threadsafe(), or "
                "asyncio.run_coroutine_threadsafe(hub.broadcast(data), loop))"
            )

    def add(self, conn: GuardedConnection) -> None:
        """Add ``conn``; it is discarded automatically when it closes.

        Raises :class:`TypeError` for anything but a :class:`~wsstate.GuardedConnection`
        (wrap a native socket with :func:`~wsstate.guard` first), and
        :class:`RuntimeError` outside the hub's event loop (class doc).
        """
        if not isinstance(conn, GuardedConnection):
            raise TypeError(
                f"Hub.add() takes a wsstate.GuardedConnection, not {type(conn).__name__}: "
                "wrap a native socket with wsstate.guard() first"
            )
        self._check_loop("add")
        if self._loop is None:
            self._loop = conn._loop
        elif conn._loop is not self._loop:
            raise RuntimeError(
                "Hub.add(): the connection runs on another event loop than the hub's"
            )
        if conn.closed or conn in self._members:
            return
        self._members[conn] = None
        conn.on_close(self.discard)

    def discard(self, conn: GuardedConnection) -> None:
        """Remove ``conn`` if present."""
        self._check_loop("discard")
        self._members.pop(conn, None)

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[GuardedConnection]:
        return iter(tuple(self._members))

    async def close(self, code: int = 1001, reason: str = "") -> int:
        """Close every member at once (server shutdown); return how many this call closed.

        ``code`` and ``reason`` are validated first (an invalid one raises
        :class:`~wsstate.InvalidCloseCode` / :class:`~wsstate.InvalidCloseReason`
        and closes nothing). Each member's ``close()`` runs concurrently, so the
        whole takes at most one close timeout; closures never raise. The hub
        stays usable: connections added later are members as before.
        """
        validate_close(code, reason)
        self._check_loop("close")
        members = list(self._members)
        if not members:
            return 0
        results = await asyncio.gather(
            *(conn.close(code, reason) for conn in members), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # not a closure (close() never raises one): a bug, raised
            raise errors[0]
        return sum(1 for r in results if r is True)

    def broadcast_threadsafe(self, data: Payload) -> bool:
        """Queue :meth:`broadcast` of ``data`` from any thread; never raises for closure.

        Returns False if it cannot be queued (no member was ever added, or the
        hub's event loop is closed), True once queued: the broadcast then runs
        on the loop, its result counted by each member's ``stats``. A payload
        that is neither str nor bytes-like raises :class:`TypeError` here, a
        ``str`` UTF-8 cannot encode :class:`ValueError`.
        """
        payload = checked_payload(data)  # in the caller's thread (copied: module doc)
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(self._broadcast_queued, payload)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _broadcast_queued(self, data: Data) -> None:
        task = asyncio.get_running_loop().create_task(self.broadcast(data))
        _pending.add(task)
        task.add_done_callback(_queued_done)

    def __contains__(self, conn: object) -> bool:
        return conn in self._members

    async def broadcast(self, data: Payload) -> BroadcastResult:
        """Send ``data`` to every member at the time of the call; never waits, never raises
        for closure.

        The call returns without waiting on any member, so its duration depends
        on the number of members, never on one member's reader. The slow-reader
        policy, per member: a member whose write buffer is full takes the
        message on its own bounded path (its *backlog*: at most
        :attr:`max_queue` writes waiting, each within its ``write_timeout``);
        a write that waits longer is the table's ``transport_stalled``: the
        member is closed with 1008 "slow reader" (one WARNING) and what it still
        had queued is dropped. With a full backlog the member misses the
        message (dropped). Each member receives the broadcasts it receives in
        the order they were made, each message whole (a frame is written at
        once or not at all).

        Raises :class:`TypeError` for a payload that is neither ``str`` nor
        bytes-like, :class:`ValueError` for a ``str`` UTF-8 cannot encode, before
        any member is sent anything. An exception other than closure from one member (API misuse:
        a member not yet accepted) is raised after every member was tried.
        """
        return self._broadcast(data)

    def _broadcast(self, data: Payload) -> BroadcastResult:
        payload = checked_payload(data)
        self._check_loop("broadcast")
        # Every member's send happens here, one after the other, nothing awaited (a
        # task per connection would cost more than the send itself,
        # docs/performance.md); a write that has to wait joins its member's backlog.
        limit = self.max_queue
        # What the members' transports share for this message (the websockets
        # adapter: the serialized frame, made once for every member).
        shared: dict[object, Any] = {}
        sent = queued = 0
        error: Exception | None = None
        members = list(self._members)
        for conn in members:
            try:
                outcome = conn._send_nowait(payload, limit, shared)
            except Exception as exc:  # API misuse (send before accept): raised below
                if error is None:
                    error = exc
                continue
            if outcome == SENT_NOW:
                sent += 1
            elif outcome == QUEUED:
                queued += 1
        if error is not None:
            raise error
        return BroadcastResult(sent, len(members) - sent - queued, queued)
