"""The guarded connections of each event loop: nothing is left open when a loop closes.

A framework that runs a loop per page in a thread (Solara does) stops and
closes that loop when the page goes, with its connections still OPEN: nothing
would ever run their closure again, so they would never reach CLOSED and their
``on_close`` would never fire. Every guarded connection not yet CLOSED is
therefore listed here under its loop (one dictionary entry; it leaves the list
when it reaches CLOSED), and the first connection on a loop wraps that loop's
``close()`` (once per loop, not per connection): before the loop closes, it
runs once more, and each connection still listed is ended by the table's
``app_abort`` row (drop the transport, CLOSED, ``on_close`` once, DEBUG) on the
running loop, where what it calls back expects to be (a hub the connection
leaves, a session's grace timer); then the loop runs a few more turns so that
the transports end, and runs on while the tasks this started (an async
``on_close``, a client's hooks) finish, for the connections' longest
``close_timeout`` at most (what still runs then is cancelled). A loop closed
from a thread where another loop runs is run in a helper thread for this. A
reconnecting client started on the loop is stopped first, as its ``close()``
would (no attempt after, the one in progress cancelled). A loop that cannot be
wrapped (a loop type without instance attributes) is left alone.

:func:`close_all` is the shutdown helper built on the same list: it closes every
guarded connection of the running loop within a deadline, for servers that do
not close their WebSockets themselves at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._lastloop import LastLoop

if TYPE_CHECKING:
    from .connection import GuardedConnection

__all__ = [
    "Stoppable",
    "close_all",
    "finish_tasks",
    "hold",
    "live",
    "register",
    "register_stoppable",
]


class Stoppable(Protocol):
    """What a loop stops before it closes, besides its connections (a reconnecting client)."""

    def _stop_at_loop_close(self) -> None:
        """Stop now, as close() would, without waiting: the loop runs a few turns after."""


#: Per loop: its guarded connections not yet CLOSED (insertion ordered).
_Live = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict["GuardedConnection", None]]
_LIVE: Final[_Live] = weakref.WeakKeyDictionary()
#: Per loop: what else must stop before it closes (reconnecting clients), weakly.
_STOPPABLE: Final[
    weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[Stoppable]]
] = weakref.WeakKeyDictionary()
#: Per loop: the tasks of async on_close callbacks and hooks still running, which the
#: loop lets finish before it closes (they may have started as asyncio.run() cancelled
#: the application's tasks, after every connection was CLOSED).
_HELD: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[asyncio.Task[None]]]] = (
    weakref.WeakKeyDictionary()
)
#: How long the tasks a loop's end started may run when no connection says: Options'
#: default close_timeout (not imported: connection imports this module; tests/test_lifetime
#: checks they agree).
_CLOSE_TIMEOUT: Final = 10.0
#: Loop turns run after the aborts, before the loop really closes.
_SETTLE_TURNS: Final = 8


#: The loop registered to last, and its list (_lastloop).
_recent: Final[LastLoop[dict[GuardedConnection, None]]] = LastLoop()


def _conns(loop: asyncio.AbstractEventLoop) -> dict[GuardedConnection, None] | None:
    ref, conns = _recent.pair  # LastLoop.get, inlined (once per connection)
    if ref is None or ref() is not loop:
        conns = None
    if conns is None:
        conns = _LIVE.get(loop)
        if conns is not None:
            _recent.remember(loop, conns)
    return conns


def register(
    loop: asyncio.AbstractEventLoop, conn: GuardedConnection
) -> dict[GuardedConnection, None]:
    """List ``conn`` under ``loop`` until it reaches CLOSED; return the list it is in.

    The connection leaves it by popping itself from that list once CLOSED.
    """
    conns = _conns(loop)
    if conns is None:
        conns = _LIVE[loop] = {}
        _wrap_close(loop)
    conns[conn] = None
    return conns


def register_stoppable(loop: asyncio.AbstractEventLoop, thing: Stoppable) -> None:
    """Stop ``thing`` before ``loop`` closes (held weakly: a client dropped is not kept)."""
    things = _STOPPABLE.get(loop)
    if things is None:
        things = _STOPPABLE[loop] = weakref.WeakSet()
        if loop not in _LIVE:  # a loop listed there has its close() wrapped already
            _LIVE[loop] = {}
            _recent.forget()
            _wrap_close(loop)
    things.add(thing)


def hold(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    """Let ``task`` (an async ``on_close``, a client's hook) finish before ``loop`` closes,
    within the connections' ``close_timeout``; it leaves the set once done."""
    tasks = _HELD.get(loop)
    if tasks is None:
        tasks = _HELD[loop] = set()
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def live(loop: asyncio.AbstractEventLoop) -> list[GuardedConnection]:
    """The guarded connections of ``loop`` not yet CLOSED (a snapshot)."""
    return list(_LIVE.get(loop, ()))


class _Close:
    """A loop's ``close()``, ending its connections first (module doc).

    Holds the loop weakly: stored on the loop, a strong reference would be a cycle.
    """

    __slots__ = ("_close", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._close = type(loop).close

    def __call__(self) -> None:
        loop = self._loop()
        if loop is None:
            return
        if not loop.is_running() and not loop.is_closed():
            _end_all(loop)
        self._close(loop)


def _wrap_close(loop: asyncio.AbstractEventLoop) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(loop, "close", _Close(loop))  # noqa: B010 - mypy: method slot


def _end_all(loop: asyncio.AbstractEventLoop) -> None:
    things = list(_STOPPABLE.pop(loop, ()))
    held = [t for t in _HELD.pop(loop, ()) if not t.done()]
    if not things and not live(loop) and not held:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none: the usual case
        # Ended while the loop runs, so that what they call back (on_close, the hub
        # a member leaves, a session's grace timer, a client's close) finds it running;
        # then the transports end and the tasks this started finish.
        loop.run_until_complete(_end(loop, things, held))
    else:
        # Another loop runs in this thread: this one cannot run here. It runs in a
        # helper thread instead (a stopped loop runs in any thread), so that its
        # transports end (their sockets closed) and its clients stop on it.
        helper = threading.Thread(
            target=loop.run_until_complete, args=(_end(loop, things, held),), name="wsstate-end"
        )
        helper.start()
        helper.join()


async def _end(
    loop: asyncio.AbstractEventLoop, things: list[Stoppable], held: list[asyncio.Task[None]]
) -> None:
    before = asyncio.all_tasks(loop)
    conns = live(loop)
    _end_now(loop, things)
    await _settle()
    me = asyncio.current_task()
    started = {t for t in asyncio.all_tasks(loop) - before if t is not me}
    started.update(t for t in held if not t.done())
    started.update(t for t in _HELD.pop(loop, ()) if not t.done())
    if started:  # an async on_close, a client's hooks: given their time, then cancelled
        bound = max((c.options.close_timeout for c in conns), default=_CLOSE_TIMEOUT)
        await finish_tasks(started, bound)


async def finish_tasks(
    tasks: Iterable[asyncio.Task[Any]], grace: float
) -> tuple[set[asyncio.Task[Any]], set[asyncio.Task[Any]]]:
    """Let ``tasks`` run ``grace`` seconds; cancel those still running then, and wait
    ``grace`` more. Return ``(cancelled, left)``: the tasks cancelled, and those of
    them still running after their cancellation (they ignored it)."""
    pending = {t for t in tasks if not t.done()}
    if not pending:
        return set(), set()
    _, late = await asyncio.wait(pending, timeout=grace)
    if not late:
        return set(), set()
    for task in late:
        task.cancel()
    _, left = await asyncio.wait(late, timeout=grace)
    return late, left


def _end_now(loop: asyncio.AbstractEventLoop, things: list[Stoppable]) -> None:
    for thing in things:  # first: a client stopped closes its connection, makes no attempt
        thing._stop_at_loop_close()
    for conn in live(loop):
        conn.abort()  # the table's app_abort row: CLOSED, on_close once


async def _settle() -> None:
    for _ in range(_SETTLE_TURNS):
        await asyncio.sleep(0)


async def close_all(code: int = 1001, reason: str = "", *, deadline: float | None = None) -> int:
    """Close every guarded connection of the running loop; return how many this call closed.

    For a server that does not close its WebSockets at shutdown. Each
    connection's ``close(code, reason)`` runs concurrently (the table's
    ``app_close`` row), so the whole takes at most one close timeout; with a
    ``deadline`` (seconds), the connections not CLOSED by then are aborted (the
    ``app_abort`` row), so it returns within the deadline whatever the peers
    do. ``code`` and ``reason`` are validated first (an invalid one raises
    :class:`~wsstate.InvalidCloseCode` / :class:`~wsstate.InvalidCloseReason`
    and closes nothing). Connections on other loops are not touched.
    """
    from .closecodes import validate_close

    validate_close(code, reason)
    if deadline is not None:
        from ._checks import check_seconds

        check_seconds("deadline", deadline, optional=False)
    conns = live(asyncio.get_running_loop())
    if not conns:
        return 0
    closing = [asyncio.ensure_future(conn.close(code, reason)) for conn in conns]
    _, pending = await asyncio.wait(closing, timeout=deadline)
    for conn in conns:
        if not conn.closed:
            conn.abort()
    if pending:
        await asyncio.wait(pending)
    for task in closing:
        error = task.exception()
        if error is not None:  # not a closure (close() never raises one): a bug, raised
            raise error
    return sum(1 for task in closing if task.result() is True)
