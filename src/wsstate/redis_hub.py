"""RedisHub: a Hub whose broadcasts reach the members of every process on a Redis channel.

Behaviour per state of the link (the spec, ``spec/link.toml``, is authoritative):

===========  =====================  ===========================  ======================
state        broadcast()            messages of other processes  what happens next
===========  =====================  ===========================  ======================
IDLE         local; remote lost     none (no listener)           start(): attempt now
CONNECTING   local; remote lost     none yet                     subscribed / failed
CONNECTED    local, then published  delivered; gaps reported     link_lost -> BACKOFF
BACKOFF      local; remote lost     none (no listener)           attempt after a delay
CLOSED       local; remote lost     none                         nothing, ever
===========  =====================  ===========================  ======================

Delivery across processes is at most once, with gap detection: every message
carries its publisher's id, the publisher's epoch (drawn when the hub is
created) and a sequence number that every broadcast uses, published or not. A
subscriber that receives a publisher's number n after m (n > m + 1) calls
``on_gap(publisher, n - m - 1)`` before delivering it; a number not beyond the
last one (a duplicate) is discarded. Messages are never replayed.

Theory of operation
-------------------

Every call and every outcome is one event fed to the generated table
(:mod:`wsstate.machines.link`); the link's effects are performed in row order
(``_EFFECTS``), and a broadcast or an arriving message performs its row's
delivery effects itself. :data:`EFFECT_HANDLERS` names who handles every effect
the spec declares (``tests/test_redis_hub.py``).

Rules outside the table, each a classification or a mechanism:

1. *Classification of an arriving message* (:func:`classify`): this process'
   own broadcast is ``own_message``; a publisher first heard from, or its next
   number, is ``peer_message``; a number beyond the next (or a known
   publisher's new epoch not starting at 1) is ``peer_message_gap``; a number
   already passed is ``peer_message_stale``.
   *Classification of a failed attempt* (:func:`attempt_event`): Redis answered
   with an error (a password, an ACL, a database) is ``attempt_refused``
   (WARNING: only a fix of the configuration ends it); no answer is
   ``attempt_failed``.
2. *Generations*: each link (one subscription and one publishing connection,
   made by one attempt) has a listener and a publisher task; only the current
   link's tasks feed events, once.
3. *Order*: the publisher task sends the queued messages in number order (a
   pipeline per batch); a broadcast returns once Redis acknowledged its
   message or it was counted as lost (the link dropped with it queued).
4. *Time*: the delay before attempt n is ``uniform(0, min(backoff_max,
   backoff_initial * backoff_factor ** (attempts - 1)))`` (the reconnecting
   client's full jitter); an idle publishing connection is PINGed every
   ``ping_interval`` seconds, so a silent Redis is found within
   ``ping_interval + timeout``.
5. *Hooks*: ``on_gap`` that raises is logged at ERROR (the application's bug);
   the hub carries on.

Bad input is refused by the call that made it, before any event: the url (by
redis-py's own parser and its connection's checks, no I/O), the numbers, the
channel and the publisher when the hub is created; the payload and the thread
of a broadcast before its number is taken, so a refused call publishes and
sends nothing and leaves no gap.

redis-py is imported when a hub is created (its url is checked), never by
``import wsstate``.
"""

from __future__ import annotations

import asyncio
import codecs
import inspect
import logging
import os
import random
import re
import secrets
import socket
import struct
import urllib.parse
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from ._checks import (
    UNSAFE_IN_URL,
    check_hook,
    check_seconds,
    checked_at_least,
    checked_payload,
)
from ._lifetime import finish_tasks
from .adapters.base import Data, Payload
from .connection import GuardedConnection
from .errors import ImpossibleEvent, InvalidOption
from .hub import BroadcastResult, Hub
from .machines.link import INITIAL, TABLE, Effect, Event, Row, State
from .sessions import Clock, TimerHandle, checked_clock

__all__ = [
    "EFFECT_HANDLERS",
    "OPERATION_OUTCOMES",
    "GapCallback",
    "LinkStats",
    "RedisHub",
    "attempt_event",
    "classify",
    "decode",
    "encode",
]

logger: Final = logging.getLogger("wsstate.redis")

GapCallback = Callable[[str, int], object]
"""``on_gap(publisher, missed)``: may return an awaitable, which is awaited."""

_HEADER: Final = struct.Struct("!4sBQQH")
_MAGIC: Final = b"wsl1"
_TEXT, _BYTES = 0, 1
_MAX_PUBLISHER: Final = 0xFFFF
"""The longest publisher name, in bytes of UTF-8: its length is the header's last field."""


def encode(publisher: str, epoch: int, seq: int, data: Payload) -> bytes:
    """The message as published: magic, kind, epoch, number, publisher, payload."""
    name = publisher.encode()
    if isinstance(data, str):
        kind, payload = _TEXT, data.encode()
    else:
        kind, payload = _BYTES, bytes(data)
    return _HEADER.pack(_MAGIC, kind, epoch, seq, len(name)) + name + payload


def decode(raw: bytes) -> tuple[str, int, int, Data] | None:
    """``(publisher, epoch, number, payload)`` of a published message; None if not one."""
    if len(raw) < _HEADER.size:
        return None
    magic, kind, epoch, seq, size = _HEADER.unpack_from(raw)
    if magic != _MAGIC or kind not in (_TEXT, _BYTES) or len(raw) < _HEADER.size + size:
        return None
    try:
        name = raw[_HEADER.size : _HEADER.size + size].decode()
        body = raw[_HEADER.size + size :]
        payload: Data = body.decode() if kind == _TEXT else body
    except UnicodeDecodeError:
        return None
    return name, epoch, seq, payload


def classify(last: tuple[int, int] | None, epoch: int, seq: int) -> tuple[Event, int]:
    """The event of a peer's message and the count missed, given its publisher's last.

    ``last`` is the publisher's ``(epoch, number)`` last delivered here (None: never
    heard from).
    """
    if last is None:
        return Event.PEER_MESSAGE, 0
    known_epoch, known = last
    if known_epoch != epoch:  # the publisher restarted: its new epoch starts at 1
        known = 0
    if seq == known + 1:
        return Event.PEER_MESSAGE, 0
    if seq > known:
        return Event.PEER_MESSAGE_GAP, seq - known - 1
    return Event.PEER_MESSAGE_STALE, 0


@dataclass(slots=True)
class LinkStats:
    """Counters of one RedisHub."""

    published: int = 0
    """Broadcasts Redis acknowledged."""
    lost: int = 0
    """Broadcasts whose remote part was not published (link down, or dropped queued)."""
    received: int = 0
    """Messages of other processes delivered to this process' members."""
    missed: int = 0
    """Messages of other processes reported missed through on_gap."""
    gaps: int = 0
    """on_gap calls."""
    duplicates: int = 0
    """Messages discarded: a number already delivered, or this process' own echo."""
    malformed: int = 0
    """Messages on the channel that are not a RedisHub's (ignored)."""
    attempts: int = 0
    """Attempts started."""
    links: int = 0
    """Attempts that subscribed."""
    hook_errors: int = 0
    """on_gap calls that raised (each logged at ERROR)."""
    delivery_errors: int = 0
    """Messages of other processes a local member refused (API misuse, such as a member
    not yet accepted: each logged at ERROR; the other members got them, the link stays)."""


#: What each operation returns, by event: its outcome effects, in order of precedence.
OPERATION_OUTCOMES: Final[Mapping[Event, tuple[Effect, ...]]] = MappingProxyType(
    {
        Event.START: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
        Event.APP_BROADCAST: (Effect.PUBLISH, Effect.COUNT_LOST),
        Event.APP_CLOSE: (Effect.RETURN_TRUE, Effect.RETURN_FALSE),
    }
)


@dataclass(slots=True)
class _Link:
    """One generation: the attempt's client, its subscription, its tasks and its queue."""

    generation: int
    client: Any = None
    pubsub: Any = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    queue: deque[tuple[bytes, asyncio.Future[bool]]] = field(default_factory=deque)
    sending: list[tuple[bytes, asyncio.Future[bool]]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class RedisHub:
    """A :class:`~wsstate.Hub` for several processes: broadcasts go through a Redis channel.

    ``async with RedisHub(url, channel, on_gap=...) as hub:`` starts the link (the
    first attempt at once) and closes it on exit. :meth:`add`, :meth:`discard`,
    ``len()``, ``in`` and iteration are the local :attr:`hub`'s; :meth:`broadcast`
    reaches the local members at once and the members of every other process
    subscribed to ``channel`` through Redis (at most once; the numbers they miss
    are reported to their ``on_gap``). ``publisher`` names this process on the
    channel (default ``host:pid:random``; unique per process; at most 65,535
    bytes of UTF-8); ``timeout`` bounds each attempt and each publish; the
    backoff is the reconnecting client's; ``rng`` (a seeded ``random.Random``)
    and ``clock`` (where the backoff delay runs, a :class:`~wsstate.Clock` such
    as :class:`wsstate.testing.ManualClock`; the event loop's by default) are
    for tests. Requires redis-py (``pip install 'wsstate[redis]'``).

    Every argument is checked here (:class:`~wsstate.InvalidOption` naming it,
    also a :class:`TypeError` for a wrong type): ``url`` by redis-py's own
    parser (``redis://``, ``rediss://``, ``unix://``), without connecting;
    ``timeout`` and ``ping_interval`` finite and positive, the backoff's delays
    finite and ``>= 0`` (as the reconnecting client's); ``backoff_factor`` finite and
    at least 1; ``channel`` and ``publisher`` non-empty text UTF-8 can encode;
    ``clock`` has a callable ``call_later``.

    Threads: the hub belongs to the event loop :meth:`start` was first called
    on (and its local members to theirs); :meth:`start`, :meth:`broadcast` and
    :meth:`close` called from any other raise :class:`RuntimeError` at once,
    before anything changes or is published.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        on_gap: GapCallback | None = None,
        publisher: str | None = None,
        backoff_initial: float = 0.5,
        backoff_factor: float = 2.0,
        backoff_max: float = 10.0,
        timeout: float = 5.0,
        ping_interval: float = 5.0,
        rng: Any = None,
        clock: Clock | None = None,
    ) -> None:
        import importlib.util

        if importlib.util.find_spec("redis") is None:
            raise ImportError("RedisHub needs redis-py: pip install 'wsstate[redis]'")
        _check_url(url)
        _check_name("channel", channel)
        for key, value in (("timeout", timeout), ("ping_interval", ping_interval)):
            check_seconds(key, value, optional=False)
        for key, value in (("backoff_initial", backoff_initial), ("backoff_max", backoff_max)):
            checked_at_least(key, value, 0)  # as the client's
        checked_at_least("backoff_factor", backoff_factor, 1)
        if publisher is not None:
            _check_name("publisher", publisher, limit=_MAX_PUBLISHER)
        check_hook("on_gap", on_gap, 2, "as on_gap(publisher, missed)")
        if rng is not None and not callable(getattr(rng, "uniform", None)):
            raise InvalidOption.wrong_type(
                "rng", f"rng must be a random.Random or None, not {type(rng).__name__}"
            )
        self.url = url
        self.channel = channel
        self.on_gap = on_gap
        self.publisher = (
            publisher
            if publisher is not None
            else f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        )
        """This process' id on the channel."""
        self.epoch = secrets.randbits(63)
        """Drawn when the hub is created: a restarted process starts a new epoch."""
        self.backoff_initial = float(backoff_initial)
        self.backoff_factor = float(backoff_factor)
        self.backoff_max = float(backoff_max)
        self.timeout = float(timeout)
        self.ping_interval = float(ping_interval)
        self.rng: random.Random = rng if rng is not None else random.Random()
        self.clock: Clock = checked_clock(clock)
        """Where the backoff timer runs (the running event loop's clock by default)."""
        self.hub = Hub()
        """The local members."""
        self.state: State = INITIAL
        """The link's state (:class:`wsstate.LinkState`)."""
        self.attempts = 0
        """Consecutive failed attempts and lost links (0 once subscribed)."""
        self.stats = LinkStats()
        self.last_delay: float | None = None
        """The last backoff delay drawn (seconds)."""
        self._seq = 0
        self._peers: dict[str, tuple[int, int]] = {}
        self._generation = 0
        self._link: _Link | None = None
        self._candidate: _Link | None = None
        self._attempt_task: asyncio.Task[None] | None = None
        self._backoff: TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop of the first start(): the hub's."""

    def __repr__(self) -> str:
        return f"<RedisHub {self.publisher} {self.channel!r} {self.state.value}>"

    # -- the local hub ------------------------------------------------------------

    def add(self, conn: GuardedConnection) -> None:
        """Add a local member (:meth:`Hub.add <wsstate.Hub.add>`)."""
        self.hub.add(conn)

    def discard(self, conn: GuardedConnection) -> None:
        """Remove a local member (:meth:`Hub.discard <wsstate.Hub.discard>`)."""
        self.hub.discard(conn)

    def __len__(self) -> int:
        return len(self.hub)

    def __iter__(self) -> Iterator[GuardedConnection]:
        return iter(self.hub)

    def __contains__(self, conn: object) -> bool:
        return conn in self.hub

    # -- the public API -------------------------------------------------------------

    async def __aenter__(self) -> RedisHub:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> bool:
        """Start the link (the first attempt at once); True for the call that started it.

        Raises :class:`RuntimeError` outside a running event loop, or from
        another loop than the first start()'s (nothing changes).
        """
        self._loop = self._check_loop("start")
        return Effect.RETURN_TRUE in self._feed(Event.START).effects

    async def close(self) -> bool:
        """Close the link for good (from any state; idempotent); True for the call that did.

        The local members stay: close them with ``hub.hub.close(code)``. Broadcasts
        after this reach the local members only, and no message of another
        process is delivered once this is called. The link's tasks are cancelled
        (an awaited ``on_gap`` hook among them); what still runs ``timeout``
        seconds later (a hook that ignored its cancellation) is cancelled again,
        logged at WARNING, and waited for up to ``timeout`` more (then logged at
        ERROR if still running). Raises :class:`RuntimeError` from another event
        loop than the hub's (nothing changes).
        """
        self._check_loop("close")
        row = self._feed(Event.APP_CLOSE)
        self._closed.set()
        self._connected.set()
        # An on_gap hook that ignores its cancellation holds the listener: nothing of
        # the hub may run on after close(), so it is cancelled again.
        cancelled, left = await finish_tasks(self._tasks, self.timeout)
        if cancelled:
            logger.warning(
                "%s: %d task(s) still running %.3g s after close() (an on_gap hook "
                "that does not return?): cancelled",
                self.publisher,
                len(cancelled),
                self.timeout,
            )
        if left:
            logger.error(
                "%s: %d task(s) ignored their cancellation by close(): left running "
                "(they deliver nothing: the hub is CLOSED)",
                self.publisher,
                len(left),
            )
        return Effect.RETURN_TRUE in row.effects

    async def wait_connected(self) -> bool:
        """Wait until the link is CONNECTED (True) or CLOSED (False)."""
        await self._connected.wait()
        return self.state is State.CONNECTED

    async def broadcast(self, data: Payload) -> BroadcastResult:
        """Send ``data`` to the local members and, through Redis, to every other process'.

        Returns the local :class:`~wsstate.BroadcastResult`; never raises for a
        closure, nor for Redis being away (the message is then counted in
        ``stats.lost`` and the other processes report the gap). Returns once
        Redis acknowledged the message or it was counted as lost.

        Cancelling the call does not withdraw the message: it is published (or
        counted as lost) all the same, and counted once.

        Raises at the call, before the message takes a number (so nothing is
        published, nothing sent, no gap left): :class:`TypeError` for a payload
        neither ``str`` nor bytes-like, :class:`ValueError` for a ``str`` UTF-8
        cannot encode, :class:`RuntimeError` from another event loop than the
        hub's or its members'. A bytes-like payload is copied when the call starts.
        """
        payload = checked_payload(data)
        self._check_loop("broadcast")
        self.hub._check_loop("broadcast")
        self._seq += 1
        row = self._feed(Event.APP_BROADCAST)
        local: Coroutine[Any, Any, BroadcastResult] | None = None
        published: asyncio.Future[bool] | None = None
        for effect in row.effects:
            if effect is Effect.DELIVER_LOCAL:
                local = self.hub.broadcast(payload)
            elif effect is Effect.PUBLISH:
                published = self._enqueue(encode(self.publisher, self.epoch, self._seq, payload))
            elif effect is Effect.COUNT_LOST:
                self.stats.lost += 1
        result = await local if local is not None else BroadcastResult(0, 0)
        if published is not None:
            # Cancelling the call leaves the message to the publisher, which counts it
            # once, published or lost (a cancelled future it would skip, counted by none).
            await asyncio.shield(published)
        return result

    def next_delay(self) -> float:
        """Draw the next backoff delay: full jitter after the cap."""
        level = max(self.attempts - 1, 0)
        try:
            cap = min(self.backoff_max, self.backoff_initial * self.backoff_factor**level)
        except OverflowError:
            cap = self.backoff_max
        return self.rng.uniform(0.0, cap)

    # -- the engine ---------------------------------------------------------------

    def _check_loop(self, operation: str) -> asyncio.AbstractEventLoop:
        """The running loop, if the hub may be used from it (checked before any event)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"RedisHub.{operation}() must be called from a running event loop"
            ) from None
        # The loop of the first start(), else that of the local members (a hub not
        # started yet still sends to them).
        loop = self._loop if self._loop is not None else self.hub._loop
        if loop is not None and running is not loop:
            raise RuntimeError(
                f"RedisHub.{operation}() must be called from the event loop the hub was "
                "started on, or its members' (from another thread: "
                f"asyncio.run_coroutine_threadsafe(hub.{operation}(...), loop))"
            )
        return running

    def _feed(self, event: Event, detail: str = "") -> Row:
        state = self.state
        row = TABLE[(state, event)]
        nxt = row.next
        if nxt is None:
            logger.error("%s: internal error: %s in %s", self.publisher, event.value, state.value)
            raise ImpossibleEvent(state.value, event.value, row.note)
        self.state = nxt
        if logger.isEnabledFor(row.log):
            logger.log(
                row.log,
                "%s: %s in %s -> %s%s: %s",
                self.publisher,
                event.value,
                state.value,
                nxt.value,
                f" ({detail})" if detail else "",
                row.note,
                extra={"wsstate_transition": (self.publisher, state, event, nxt)},
            )
        for effect in row.effects:
            handler = _EFFECTS.get(effect)
            if handler is not None:
                handler(self)
        return row

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: internal error in a task", self.publisher, exc_info=task.exception())

    # -- effects --------------------------------------------------------------------

    def _attempt(self) -> None:
        self.stats.attempts += 1
        self._generation += 1
        link = _Link(self._generation)
        self._attempt_task = self._spawn(self._run_attempt(link))

    async def _run_attempt(self, link: _Link) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        try:
            # No retry inside redis-py: every failure is the link's, fed to the table.
            link.client = Redis.from_url(
                self.url,
                retry=Retry(NoBackoff(), 0),
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
            )
            async with asyncio.timeout(self.timeout):
                link.pubsub = link.client.pubsub()
                await link.pubsub.subscribe(self.channel)
                while True:  # the subscription is confirmed before anything is published
                    reply = await link.pubsub.get_message(timeout=self.timeout)
                    if reply is not None and reply.get("type") == "subscribe":
                        break
                await link.client.ping()
        except asyncio.CancelledError:
            await self._close_link(link)
            raise
        except Exception as exc:  # Redis away, refusing, loading, timing out
            self._attempt_task = None
            if self.state is State.CONNECTING:  # the table hears of it first
                self._feed(attempt_event(exc), detail=_why(exc))
            await self._close_link(link)
            return
        self._attempt_task = None
        if self.state is not State.CONNECTING:  # pragma: no cover - cancelled meanwhile
            await self._close_link(link)
            return
        self._candidate = link
        self._feed(Event.SUBSCRIBED, detail=f"generation {link.generation}")

    def _cancel_attempt(self) -> None:
        if self._attempt_task is not None:
            self._attempt_task.cancel()
            self._attempt_task = None

    def _adopt(self) -> None:
        link, self._candidate = self._candidate, None
        assert link is not None
        self._link = link
        self.stats.links += 1
        link.tasks.append(self._spawn(self._listen(link)))
        link.tasks.append(self._spawn(self._publish(link)))
        self._connected.set()

    def _drop(self) -> None:
        link, self._link = self._link, None
        self._connected.clear()
        if link is None:
            return
        for task in link.tasks:
            task.cancel()
        for _, future in (*link.sending, *link.queue):
            if not future.done():
                self.stats.lost += 1
                future.set_result(False)
        link.sending.clear()
        link.queue.clear()
        self._spawn(self._close_link(link))

    async def _close_link(self, link: _Link) -> None:
        for thing in (link.pubsub, link.client):
            if thing is not None:
                try:
                    await thing.aclose()
                except Exception as exc:  # the connection is gone already
                    logger.debug("%s: closing the link: %s", self.publisher, _why(exc))

    def _lost(self, link: _Link, exc: BaseException) -> None:
        if self._link is link and self.state is State.CONNECTED:
            self._feed(Event.LINK_LOST, detail=_why(exc))

    def _goes_on(self, link: _Link) -> bool:
        """Whether a task of ``link`` goes on after an await: False once the link was
        dropped; CancelledError if the task was cancelled and a library swallowed it
        (redis-py's writes wait in ``asyncio.wait_for``, which on Python 3.11 can
        return normally when the cancellation lands as the write completes)."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return self._link is link

    async def _listen(self, link: _Link) -> None:
        try:
            while True:
                reply = await link.pubsub.get_message(timeout=None)
                if not self._goes_on(link):
                    return
                if reply is not None and reply.get("type") == "message":
                    await self._arrived(link, reply["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(link, exc)

    async def _arrived(self, link: _Link, raw: bytes) -> None:
        message = decode(raw)
        if message is None:
            self.stats.malformed += 1
            logger.debug("%s: ignored a message that is not a RedisHub's", self.publisher)
            return
        publisher, epoch, seq, payload = message
        if publisher == self.publisher and epoch == self.epoch:
            event, missed = Event.OWN_MESSAGE, 0
        else:
            event, missed = classify(self._peers.get(publisher), epoch, seq)
        if self._link is not link:  # pragma: no cover - a dropped link's last read
            return
        row = self._feed(event, detail=f"{publisher} #{seq}")
        for effect in row.effects:
            if effect is Effect.REPORT_GAP:
                self.stats.missed += missed
                self.stats.gaps += 1
                # The missed numbers are reported now: a hook interrupted (the link lost
                # meanwhile) leaves only this message to count as missed, not them again.
                self._peers[publisher] = (epoch, seq - 1)
                await self._report(publisher, missed)
                if self.state is State.CLOSED:  # closed while the hook ran: the table's
                    return  # CLOSED delivers nothing, whatever the hook does
            elif effect is Effect.DELIVER_REMOTE:
                self._peers[publisher] = (epoch, seq)
                self.stats.received += 1
                try:
                    await self.hub.broadcast(payload)
                except Exception:  # a member's misuse, raised after every member was tried
                    self.stats.delivery_errors += 1
                    logger.error(
                        "%s: a local member refused %s #%d",
                        self.publisher,
                        publisher,
                        seq,
                        exc_info=True,
                    )
            elif effect is Effect.DISCARD:
                self.stats.duplicates += 1

    async def _report(self, publisher: str, missed: int) -> None:
        if self.on_gap is None:
            return
        try:
            result = self.on_gap(publisher, missed)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the hub's: the link was dropped or the hub closed
            # The hook's own (it awaited something cancelled elsewhere): the hook's
            # failure, not the listener's end.
            self.stats.hook_errors += 1
            logger.error("%s: on_gap raised CancelledError", self.publisher, exc_info=True)
        except Exception:
            self.stats.hook_errors += 1
            logger.error("%s: on_gap raised", self.publisher, exc_info=True)

    def _enqueue(self, frame: bytes) -> asyncio.Future[bool]:
        link = self._link
        assert link is not None  # publish is performed in CONNECTED only
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        link.queue.append((frame, future))
        link.wake.set()
        return future

    async def _publish(self, link: _Link) -> None:
        try:
            while self._goes_on(link):
                if not link.queue:
                    link.wake.clear()
                    try:
                        async with asyncio.timeout(self.ping_interval):
                            await link.wake.wait()
                    except TimeoutError:
                        await link.client.ping()
                        continue
                batch = list(link.queue)
                link.queue.clear()
                link.sending = batch
                pipe = link.client.pipeline(transaction=False)
                for frame, _ in batch:
                    pipe.publish(self.channel, frame)
                await pipe.execute()
                if not self._goes_on(link):
                    return  # dropped meanwhile: the drop counted the batch as lost
                link.sending = []
                for _, future in batch:
                    if not future.done():
                        self.stats.published += 1
                        future.set_result(True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(link, exc)

    def _count_attempt(self) -> None:
        self.attempts += 1

    def _reset_attempts(self) -> None:
        self.attempts = 0

    def _arm_backoff(self) -> None:
        delay = self.next_delay()
        self.last_delay = delay
        logger.info("%s: next attempt in %.3f s (%d failed)", self.publisher, delay, self.attempts)
        self._backoff = self.clock.call_later(delay, self._backoff_fired)

    def _backoff_fired(self) -> None:
        self._backoff = None
        if self.state is State.BACKOFF:
            self._feed(Event.BACKOFF_ELAPSED)

    def _cancel_backoff(self) -> None:
        if self._backoff is not None:
            self._backoff.cancel()
            self._backoff = None


def attempt_event(exc: BaseException) -> Event:
    """How a failed attempt ends, from its exception (a pure function: the table's
    ``attempt_failed`` and ``attempt_refused`` rows decide what follows).

    Redis answered with an error (redis-py's ``ResponseError``: a database out of
    range, a command the ACL forbids) or refused the credentials
    (``AuthenticationError``, ``AuthorizationError``): ``attempt_refused``, a
    configuration only its fix ends; but an error reply Redis gives while it is
    busy or waiting for its master (``BUSY``, ``MASTERDOWN``, ``MISCONF``,
    ``TRYAGAIN``, ``CLUSTERDOWN``, ``OOM``, ``LOADING``) clears up by itself, as
    anything else does (no answer, a reset, a timeout): ``attempt_failed``, Redis
    away.
    """
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        BusyLoadingError,
        ClusterDownError,
        OutOfMemoryError,
        ResponseError,
        TryAgainError,
    )

    if isinstance(exc, AuthenticationError | AuthorizationError):
        return Event.ATTEMPT_REFUSED
    if isinstance(exc, BusyLoadingError | ClusterDownError | OutOfMemoryError | TryAgainError):
        return Event.ATTEMPT_FAILED
    if isinstance(exc, ResponseError):
        code = str(exc).split(" ", 1)[0]
        return Event.ATTEMPT_FAILED if code in _TRANSIENT_REPLIES else Event.ATTEMPT_REFUSED
    return Event.ATTEMPT_FAILED


#: Error replies of a Redis that is busy or waiting, which clear up by themselves
#: (redis-py raises a plain ResponseError for these; its message starts with the code).
_TRANSIENT_REPLIES: Final = frozenset(
    {"BUSY", "MASTERDOWN", "MISCONF", "TRYAGAIN", "CLUSTERDOWN", "OOM", "LOADING"}
)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _check_url(url: object) -> None:
    """Refuse a url redis-py would not connect with, as the attempt would use it.

    redis-py's own parser reads it (its schemes, port, ``db``, the query's
    options), then its connection class is built with what it read (an unknown
    query option, a bad ``protocol``): nothing is connected. A ``unix://`` url
    must name its socket; a query option that would override ``timeout``
    (``socket_timeout``, ``socket_connect_timeout``) is refused, not obeyed, and
    so is one that would change what the link reads (``decode_responses``, which
    redis-py takes as true whatever its value, ``False`` included: every message
    would fail to parse, and be lost with no gap reported), a
    database that is not a number >= 0 (redis-py ignores ``/notadb`` and sends
    ``/-1``, which Redis refuses at each attempt),
    and whitespace or a control character (redis-py would look up ``" h"``).
    """
    if not isinstance(url, str):
        raise InvalidOption.wrong_type(
            "url", f"url must be a str (redis://, rediss:// or unix://), not {type(url).__name__}"
        )
    from redis.asyncio.connection import ConnectionPool, UnixDomainSocketConnection, parse_url
    from redis.exceptions import RedisError

    overridden: list[str] = []
    try:
        if UNSAFE_IN_URL.search(url):
            raise ValueError("whitespace or a control character in it (percent-encode it)")
        pool = ConnectionPool.from_url(url)
        parsed = parse_url(url)
        overridden = sorted(_OWN_QUERY_OPTIONS.intersection(parsed))
        _check_db(url, parsed)
        if issubclass(pool.connection_class, UnixDomainSocketConnection) and not (
            pool.connection_kwargs.get("path")
        ):
            raise ValueError("a unix:// url names the socket's path (unix:///path/to.sock)")
        made = pool.connection_class(**pool.connection_kwargs)  # built, not connected
        # redis-py looks its codec up only when it first encodes: at every attempt.
        codecs.lookup(pool.connection_kwargs.get("encoding", "utf-8"))
        codecs.lookup_error(pool.connection_kwargs.get("encoding_errors", "strict"))
        # As redis-py reads the option: a url's value is a str, so "False" decodes too.
        if getattr(getattr(made, "encoder", None), "decode_responses", False):
            overridden.append("decode_responses")
    except (ValueError, TypeError, LookupError, RedisError) as exc:
        problem: str | None = str(exc)
    else:
        problem = None
    if problem is not None:
        # Raised out of the except block: the parser's error, which may quote any part
        # of the url (a password's too), is neither the cause nor the context; its
        # message is given only for a url without credentials.
        redacted = _redacted(url)
        why = problem if redacted == url else "(the parser's message may quote them: withheld)"
        raise InvalidOption("url", f"url {redacted!r} is not a Redis url: {why}")
    if overridden:
        option = overridden[0]
        why = (
            "which would override RedisHub's timeout: remove it from the url and pass timeout="
            if option.startswith("socket_")
            else "which would change what the link reads (str, not the bytes it parses): "
            "remove it from the url"
        )
        raise InvalidOption("url", f"url {_redacted(url)!r} sets {option}, {why}")


#: redis-py's url query options that would replace what RedisHub passes from its
#: own ``timeout`` (redis-py lets a url's options override the constructor's), or
#: change what the link reads (str instead of the bytes it parses).
_OWN_QUERY_OPTIONS: Final = frozenset({"socket_timeout", "socket_connect_timeout"})


def _check_db(url: str, parsed: Mapping[str, Any]) -> None:
    """A ``redis://``/``rediss://`` url's database: its path, if any, a number >= 0."""
    db = parsed.get("db")
    if db is not None and (db.__class__ is not int or db < 0):
        raise ValueError(f"database {db!r}: a number >= 0")
    if parsed.get("path") is None:  # not unix://, whose path is the socket's
        # As redis-py reads it: unquoted, slashes around it dropped.
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).strip("/")
        if path and not path.isdigit():
            raise ValueError(f"database {path!r} in the path: a number >= 0")


#: The user info (up to the last "@": a password may hold "/", "?", "#" or "@"), and
#: a ``password`` query option.
_CREDENTIALS: Final = re.compile(r"^([^:/?#]*://).*@|(?<=[?&]password=)[^&]*")


def _redacted(url: str) -> str:
    """``url`` without its credentials (the user info, a ``password`` query option)."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}***@" if m.group(1) else "***", url)


def _check_name(option: str, value: object, limit: int | None = None) -> None:
    """Refuse a channel or publisher name: not a str, empty, not UTF-8, over ``limit`` bytes."""
    if not isinstance(value, str):
        raise InvalidOption.wrong_type(
            option, f"{option} must be a str, not {type(value).__name__}"
        )
    try:
        size = len(value.encode())
    except UnicodeEncodeError as exc:
        raise InvalidOption(
            option, f"{option} must be encodable as UTF-8: {exc.reason} at position {exc.start}"
        ) from None
    if not size:
        raise InvalidOption(option, f"{option} must be a non-empty str")
    if limit is not None and size > limit:
        raise InvalidOption(
            option, f"{option} must be at most {limit} bytes in UTF-8, not {size} bytes"
        )


_Handler = Callable[[RedisHub], None]

#: The effects the engine performs when a row carries them.
_EFFECTS: Final[Mapping[Effect, _Handler]] = MappingProxyType(
    {
        Effect.ATTEMPT: RedisHub._attempt,
        Effect.CANCEL_ATTEMPT: RedisHub._cancel_attempt,
        Effect.ADOPT_LINK: RedisHub._adopt,
        Effect.DROP_LINK: RedisHub._drop,
        Effect.COUNT_ATTEMPT: RedisHub._count_attempt,
        Effect.RESET_ATTEMPTS: RedisHub._reset_attempts,
        Effect.ARM_BACKOFF_TIMER: RedisHub._arm_backoff,
        Effect.CANCEL_BACKOFF_TIMER: RedisHub._cancel_backoff,
    }
)

#: Effects an operation performs itself, in its row's order.
_PERFORMED_BY: Final = {
    Effect.DELIVER_LOCAL: "broadcast(): the local Hub's broadcast",
    Effect.PUBLISH: "broadcast(): queued for the link's publisher task",
    Effect.COUNT_LOST: "broadcast(): stats.lost",
    Effect.DELIVER_REMOTE: "the listener: the local Hub's broadcast",
    Effect.REPORT_GAP: "the listener: on_gap(publisher, missed)",
    Effect.DISCARD: "the listener: stats.duplicates",
}


def _effect_handlers() -> dict[Effect, tuple[str, ...]]:
    handlers: dict[Effect, list[str]] = {}
    for effect in _EFFECTS:
        handlers.setdefault(effect, []).append("performed by RedisHub (_EFFECTS)")
    for effect, who in _PERFORMED_BY.items():
        handlers.setdefault(effect, []).append(who)
    for event, effects in OPERATION_OUTCOMES.items():
        for effect in effects:
            handlers.setdefault(effect, []).append(f"outcome of {event.value}")
    return {e: tuple(w) for e, w in handlers.items()}


#: Every effect the link runtime handles, with who handles it.
EFFECT_HANDLERS: Final[Mapping[Effect, tuple[str, ...]]] = MappingProxyType(_effect_handlers())
