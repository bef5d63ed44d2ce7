"""The harness behind the Redis link's generated stateful tests: a real Redis, the chart as oracle.

Theory of operation
-------------------

A :class:`Harness` runs one :class:`wsstate.RedisHub` against a real
``redis-server`` (:class:`~wsstate.testing.redis_server.RedisServer`, one per
harness) reached through a :class:`~wsstate.testing.FaultProxy`, with its backoff
delay on a :class:`~wsstate.testing.ManualClock`. The hub has one local member: a
real websockets server connection, guarded, whose client is a
:class:`~wsstate.testing.peer.RawPeer`. Beside the hub, straight to Redis (not
through the proxy), the harness holds a *raw publisher* that publishes frames of
its own making on the hub's channel (any publisher, epoch and number, as
:func:`wsstate.redis_hub.encode` writes them), a *raw subscriber* that records
every frame on the channel, and an admin connection.

An attempt is held by the proxy (it stops reading what the hub sends: a slow
reader) from the moment it starts until the harness decides how it ends, so
that its end is an event the rules choose, not a race.

Drivers (:data:`DRIVERS`), one per event: ``start``, ``app_broadcast`` (text or
bytes) and ``app_close`` are the hub's calls; ``subscribed`` lifts the hold;
``attempt_failed`` resets the attempt's TCP connection; ``attempt_refused`` makes
Redis require a password the hub does not have (``CONFIG SET requirepass``) and
lifts the hold (Redis answers ``NOAUTH``), then removes the password;
``link_lost`` resets every connection of the link; ``backoff_elapsed`` advances
the clock by ``backoff_max``; ``peer_message``, ``peer_message_gap`` and
``peer_message_stale`` publish a frame of another publisher with its next number
(or the first of a new epoch), a number beyond it (drawn) and a number already
passed (drawn); ``own_message`` publishes a frame with the hub's own publisher id
and epoch (what Redis echoes of each of its broadcasts). Two operations
together (:data:`CONCURRENT_PAIRS`, in CONNECTED): a broadcast whose publish the
proxy holds unacknowledged, then the link lost (a reset) or the hub closed;
either way the broadcast is counted as lost, once (a closed link's last bytes may
still reach Redis when the hold is lifted: that frame may be on the channel, once).

The model is the generated ``LinkChart`` (python-statemachine). After every
step: the hub's state equals the model's; ``start()``/``close()`` returned as the
row says; ``attempts`` counts the row's ``count_attempt`` and is 0 after
``reset_attempts``; a backoff timer is armed on the clock in BACKOFF only, its
delay within the cap; the member received every local broadcast and every
delivered message of the other publisher, once, in order; the raw subscriber saw
exactly the hub's published broadcasts, numbered one per broadcast (a broadcast
counted as lost uses its number); ``on_gap`` was called once per gap with the
count missed; ``stats`` (published, lost, received, missed, duplicates) agree;
no log record at ERROR; the loop's exception handler never called. Pairs that
cannot be driven are in :data:`NOT_DRIVABLE` with the reason;
:func:`coverage_report` prints ``link transition coverage: covered/drivable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from websockets.asyncio.server import Server, ServerConnection, serve

from ..connection import GuardedConnection
from ..guard import guard
from ..machines.link import TABLE, Effect, Event, State
from ..redis_hub import RedisHub, decode, encode
from ._watching import Transitions, Watching
from .charts.link import LinkChart
from .clock import ManualClock
from .faultproxy import FaultProxy
from .peer import RawPeer
from .redis_server import RedisServer
from .sites import NoSite
from .stateful import Choices, FirstChoices, HypothesisChoices, register_profiles, wait_until
from .wiretap import Direction

__all__ = [
    "CONCURRENT_PAIRS",
    "DRIVERS",
    "NOT_DRIVABLE",
    "ROLES",
    "Harness",
    "HypothesisChoices",
    "Role",
    "class_name",
    "coverage",
    "coverage_report",
    "drivable_pairs",
    "open_site",
    "register_profiles",
    "role_doc",
    "role_settings",
    "run_tour",
]

Role = Literal["redis"]
ROLES: Final[tuple[Role, ...]] = ("redis",)
#: A broadcast whose publish Redis has not acknowledged yet (the proxy holds it) when
#: the link is lost, or the hub closed: drop_link counts it as lost, once.
CONCURRENT_PAIRS: Final[tuple[tuple[Event, Event], ...]] = (
    (Event.APP_BROADCAST, Event.LINK_LOST),
    (Event.APP_BROADCAST, Event.APP_CLOSE),
)

CHANNEL: Final = "wsstate-link-harness"
PUBLISHER: Final = "hub"
PEER: Final = "peer"
BACKOFF_MAX: Final = 4.0
#: Longer than any example: an attempt held by the proxy must not time out on its own,
#: nor the idle publisher ping (close() is bounded by SETTLE instead: close_hub).
TIMEOUT: Final = 3600.0
SETTLE: Final = 5.0
#: The hub's Redis user: attempt_refused takes its channels away (ACL SETUSER).
USER: Final = "hub"
PASSWORD: Final = "hub-secret"

_NOTHING_LEFT: Final = (
    "every row entering CLOSED cancels the attempt, drops the link (its listener) or "
    "cancels the backoff timer: nothing is left to report it (the default row absorbs "
    "a late one, which the runtime does not feed)"
)
NOT_DRIVABLE: Final[dict[tuple[State, Event], str]] = {
    (State.CLOSED, event): _NOTHING_LEFT
    for event in Event
    if event not in (Event.START, Event.APP_BROADCAST, Event.APP_CLOSE)
}

log: Final = logging.getLogger("wsstate.testing")

_SEEN: Final[set[tuple[State, Event]]] = set()
STATS: Final[dict[str, int]] = {"examples": 0, "steps": 0}


def open_site(role: Role) -> NoSite:
    """The generated tests' per-example site: none here (each harness starts its own Redis)."""
    return NoSite()


@dataclass
class _Expected:
    """What the hub should have done so far."""

    member: list[str | bytes] = field(default_factory=list)
    """What the local member received, in order."""
    published: list[tuple[int, str | bytes]] = field(default_factory=list)
    """The hub's broadcasts on the channel: (number, payload)."""
    unacknowledged: list[tuple[int, str | bytes]] = field(default_factory=list)
    """Broadcasts counted as lost that Redis may still have received (a closed link's
    last bytes): on the channel at most once each."""
    gaps: list[tuple[str, int]] = field(default_factory=list)
    lost: int = 0
    received: int = 0
    duplicates: int = 0
    attempts: int = 0
    started: int = 0
    """Attempts started (each row with ``attempt``): stats.attempts."""
    adopted: int = 0
    """Links adopted (each row with ``adopt_link``): stats.links."""


@dataclass
class Harness:
    """One RedisHub, its Redis behind a fault proxy, its member, and a raw publisher."""

    role: Role = "redis"
    #: Unused: this harness starts its own Redis (see :func:`open_site`).
    site: NoSite | None = None
    chart: LinkChart = field(init=False)
    steps: list[str] = field(default_factory=list)

    async def start(self) -> None:
        from redis.asyncio import Redis

        STATS["examples"] += 1
        self.chart = LinkChart()
        self.clock = ManualClock()
        self.expected = _Expected()
        self.seq = 0  # the hub's numbers used
        self.peer: tuple[int, int] | None = None  # the raw publisher's (epoch, number) delivered
        self.peer_epoch = 1
        self.gaps: list[tuple[str, int]] = []
        self.channel: list[tuple[str, int, int, str | bytes]] = []
        self.forged: list[tuple[str, int, int, str | bytes]] = []  # own_message's frames
        self.handler = Transitions[State, Event](PUBLISHER, State)
        self._fed = 0  # transitions taken and fed to the chart
        self._server: Server | None = None
        self._listening: asyncio.Task[None] | None = None
        self._listen_error: BaseException | None = None
        self._released = False
        self._watching = Watching(self.handler, logging.getLogger())
        self.watch = self._watching.watch
        try:
            self.redis = RedisServer()
            self.redis.start()  # ~20 ms; nothing else runs in this loop yet
            self.proxy = await FaultProxy("127.0.0.1", self.redis.port).start()
            self.admin = Redis.from_url(self.redis.url)
            await self.admin.acl_setuser(
                USER,
                enabled=True,
                passwords=[f"+{PASSWORD}"],
                keys=["*"],
                channels=["*"],
                categories=["+@all"],
            )
            await self._subscribe_raw()
            await self._serve()
            self.hub = RedisHub(
                f"redis://{USER}:{PASSWORD}@127.0.0.1:{self.proxy.port}/0",
                CHANNEL,
                publisher=PUBLISHER,
                on_gap=lambda publisher, missed: self.gaps.append((publisher, missed)),
                backoff_initial=1.0,
                backoff_factor=2.0,
                backoff_max=BACKOFF_MAX,
                timeout=TIMEOUT,
                ping_interval=TIMEOUT,
                rng=random.Random(0),
                clock=self.clock,
            )
            self.hub.add(self.member)
        except BaseException:
            await self._release()  # start() failed: stop() may never run
            raise

    async def _subscribe_raw(self) -> None:
        self.raw = self.admin.pubsub()
        await self.raw.subscribe(CHANNEL)
        while (reply := await self.raw.get_message(timeout=SETTLE)) is None or reply.get(
            "type"
        ) != "subscribe":
            pass

        async def listen() -> None:
            try:
                while True:
                    reply = await self.raw.get_message(timeout=None)
                    if reply is not None and reply.get("type") == "message":
                        message = decode(reply["data"])
                        if message is None:
                            raise AssertionError(f"not a RedisHub frame: {reply['data']!r}")
                        self.channel.append(message)
            except Exception as exc:  # check() reports it
                self._listen_error = exc

        self._listening = asyncio.get_running_loop().create_task(listen())

    async def _serve(self) -> None:
        accepted: asyncio.Queue[GuardedConnection] = asyncio.Queue()

        async def handler(ws: ServerConnection) -> None:
            conn = guard(ws, close_timeout=SETTLE, ping_interval=None)
            await accepted.put(conn)
            await conn.wait_closed()

        self._server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.page = await RawPeer.connect(f"ws://127.0.0.1:{port}/")
        self.member = await asyncio.wait_for(accepted.get(), SETTLE)

    # -- the model -------------------------------------------------------------------

    @property
    def model_state(self) -> State:
        value = self.chart.current_state_value
        assert isinstance(value, State)
        return value

    def enabled(self, event: Event) -> bool:
        state = self.model_state
        if TABLE[(state, event)].next is None or (state, event) in NOT_DRIVABLE:
            return False
        check = _PRECONDITIONS.get(event)
        return check is None or check(self)

    def enabled_concurrently(self, a: Event, b: Event) -> bool:
        return (a, b) in CONCURRENT_PAIRS and self.model_state is State.CONNECTED

    async def step_concurrently(self, a: Event, b: Event, draw: Choices) -> None:
        """A broadcast held unacknowledged by the proxy, then ``b`` (module doc)."""
        assert self.enabled_concurrently(a, b), f"{a}, {b} not enabled in {self.model_state}"
        STATS["steps"] += 1
        start = self.model_state
        self.hold(True)
        self.seq += 1
        data = f"b{self.seq}"
        sent = asyncio.ensure_future(self.hub.broadcast(data))
        link = self.hub._link
        went = await wait_until(lambda: link is not None and bool(link.sending), SETTLE)
        assert went, "the publisher task never took the broadcast"
        if b is Event.LINK_LOST:
            await self.proxy.reset()  # the held bytes are dropped with the connections
            await _until_state(self, State.BACKOFF)
        else:
            assert await self.close_hub()
            self.expected.unacknowledged.append((self.seq, data))
        result = await asyncio.wait_for(sent, SETTLE)
        self.hold(False)
        assert (result.sent, result.dropped) == (1, 0), result
        self.expected.member.append(data)
        self.expected.lost += 1
        taken = [t[:2] for t in self.handler.taken[self._fed :]]
        assert taken == [(start, a), (start, b)], f"the hub took {taken}"
        self.follow()
        self.steps.append(f"{a.value} + {b.value} -> {self.model_state.value}")
        if Effect.COUNT_ATTEMPT in TABLE[(start, b)].effects:
            self.expected.attempts += 1
        await self.check()

    # -- stepping ---------------------------------------------------------------------

    async def step(self, event: Event, draw: Choices) -> None:
        assert self.enabled(event), f"{event} not enabled in {self.model_state}"
        STATS["steps"] += 1
        start = self.model_state
        row = TABLE[(start, event)]
        await DRIVERS[event](self, row.effects, draw)
        # The first transition the hub took since the last step is this very one.
        ok = await wait_until(lambda: len(self.handler.taken) > self._fed, SETTLE)
        assert ok, f"{event.value} in {start.value}: the hub took no transition"
        first = self.handler.taken[self._fed]
        assert first[:2] == (start, event), f"the hub took {first} first, driven {event.value}"
        self.follow()
        self.steps.append(f"{event.value} -> {self.model_state.value}")
        for effect in row.effects:
            if effect is Effect.COUNT_ATTEMPT:
                self.expected.attempts += 1
            elif effect is Effect.RESET_ATTEMPTS:
                self.expected.attempts = 0
        for effect in row.effects:
            if effect is Effect.ATTEMPT:
                self.expected.started += 1
            elif effect is Effect.ADOPT_LINK:
                self.expected.adopted += 1
        taken = len(self.handler.taken)
        await self.check()
        # What followed on its own can only be a broadcast's echo (own_message).
        later = self.handler.taken[taken:]
        assert all(t == (State.CONNECTED, Event.OWN_MESSAGE, State.CONNECTED) for t in later), (
            f"{event.value}: then the hub took {later} on its own; {self.steps}"
        )
        self.follow()
        assert self.hub.state is self.model_state, f"hub {self.hub.state}; {self.steps}"

    def follow(self) -> None:
        """Feed the chart every transition the hub took since the last feed, each checked
        (the driven one, and a broadcast's echo)."""
        for state, event, nxt in self.handler.taken[self._fed :]:
            assert self.model_state is state, (
                f"the hub took {event} in {state}, model {self.model_state}; {self.steps}"
            )
            getattr(self.chart, event.value)()
            assert self.model_state is nxt, f"{event} in {state}: hub {nxt}, the table differs"
            _SEEN.add((state, event))
        self._fed = len(self.handler.taken)

    async def check(self) -> None:
        hub, expected = self.hub, self.expected
        state = self.model_state
        assert hub.state is state, f"hub is {hub.state}, model is {state}; steps {self.steps}"
        assert hub.attempts == expected.attempts, f"attempts {hub.attempts} != {expected.attempts}"
        assert self._listen_error is None, f"the raw subscriber failed: {self._listen_error!r}"
        started = (hub.stats.attempts, hub.stats.links)
        assert started == (expected.started, expected.adopted), (
            f"(attempts started, links) {started} != {(expected.started, expected.adopted)}"
        )
        armed = 1 if state is State.BACKOFF else 0
        assert self.clock.pending == armed, f"{self.clock.pending} backoff timers in {state}"
        if armed:
            # Full jitter under the cap of this many failures (the reconnecting client's),
            # and the timer armed is the delay drawn.
            cap = min(BACKOFF_MAX, hub.backoff_initial * hub.backoff_factor ** (hub.attempts - 1))
            assert hub.last_delay is not None
            assert 0 <= hub.last_delay <= cap, f"delay {hub.last_delay} over the cap {cap}"
            due = self.clock.next_due
            assert due is not None
            assert math.isclose(due, hub.last_delay, abs_tol=1e-9), (due, hub.last_delay)
        ok = await wait_until(
            lambda: (
                self.page.messages == expected.member
                and hub.stats.duplicates == expected.duplicates
                and self.published() == expected.published
            ),
            SETTLE,
        )
        assert ok, (
            f"member got {self.page.messages}, expected {expected.member}; "
            f"duplicates {hub.stats.duplicates}, expected {expected.duplicates}; "
            f"channel {self.published()}, expected {expected.published}; steps {self.steps}"
        )
        assert self.gaps == expected.gaps, f"on_gap {self.gaps}, expected {expected.gaps}"
        if state in (State.IDLE, State.BACKOFF, State.CLOSED):
            # No link, no attempt: none of the hub's tasks (attempt, listener, publisher,
            # closing) is left, nor any of its connections to Redis.
            ok = await wait_until(lambda: self.idle(), SETTLE)
            assert ok, (
                f"in {state}: {len(self.proxy.connections)} connections to Redis open, "
                f"tasks {[t for t in self.hub._tasks if not t.done()]}"
            )
        stats = hub.stats
        counts = (stats.published, stats.lost, stats.received, stats.missed)
        want = (
            len(expected.published),
            expected.lost,
            expected.received,
            sum(n for _, n in expected.gaps),
        )
        assert counts == want, f"(published, lost, received, missed) {counts} != {want}"
        assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
        assert not self.watch.calls, self.watch.describe()

    def idle(self) -> bool:
        """No task of the hub running, no connection of it to Redis open."""
        return not self.proxy.connections and all(t.done() for t in self.hub._tasks)

    async def stop(self) -> None:
        try:
            if hasattr(self, "hub"):
                await self.close_hub()
                self.proxy.heal()
                assert await wait_until(self.idle, SETTLE), "the closed hub left work behind"
                assert self.clock.pending == 0, "the closed hub left its backoff timer armed"
            assert not self.handler.errors, [r.getMessage() for r in self.handler.errors]
        finally:
            await self._release()

    async def _release(self) -> None:
        """Give back what start() took (each part only if it was made; once)."""
        if self._released:
            return
        self._released = True
        try:
            hub = getattr(self, "hub", None)
            tasks = [t for t in (hub._tasks if hub is not None else ()) if not t.done()]
            if self._listening is not None:
                tasks.append(self._listening)
            for task in tasks:  # a hub whose close() failed, and the raw subscriber
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Each part on its own: one failing to close does not keep the next open.
            for part in ("raw", "admin"):
                thing = getattr(self, part, None)
                if thing is not None:
                    with contextlib.suppress(Exception):
                        await thing.aclose()
            if hasattr(self, "member"):
                self.member.abort()
                with contextlib.suppress(Exception):
                    await self.page.close()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            if hasattr(self, "proxy"):
                await self.proxy.close()
        finally:
            if hasattr(self, "redis"):
                self.redis.kill()
            self._watching.end()

    # -- what drivers share -----------------------------------------------------------

    def published(self) -> list[tuple[int, str | bytes]]:
        """The hub's own frames the raw subscriber saw (not own_message's forged ones, nor
        the unacknowledged ones Redis may have received: each at most once)."""
        frames = [(m[2], m[3]) for m in self.channel if m[0] == PUBLISHER and m not in self.forged]
        maybe = self.expected.unacknowledged
        assert all(frames.count(m) <= 1 for m in maybe), f"an unacknowledged one twice: {frames}"
        return [m for m in frames if m not in maybe]

    def hold(self, on: bool) -> None:
        """Hold (or let through) what the hub sends Redis: its attempts wait."""
        self.proxy.slow_reader(on, Direction.C2S)

    async def attempt_made(self) -> None:
        """Wait until the attempt just started has its TCP connection through the proxy."""
        async with asyncio.timeout(SETTLE):
            await self.proxy.wait_connections(len(self.proxy.accepted) + 1)

    async def close_hub(self) -> bool:
        """``hub.close()``, which must return within :data:`SETTLE` (it cancels and closes)."""
        try:
            async with asyncio.timeout(SETTLE):
                return await self.hub.close()
        except TimeoutError:
            raise AssertionError(f"close() did not return within {SETTLE} s") from None

    async def publish_raw(self, publisher: str, epoch: int, seq: int, data: str | bytes) -> None:
        """Publish a frame of our making on the channel, straight to Redis."""
        await self.admin.publish(CHANNEL, encode(publisher, epoch, seq, data))


Driver = Callable[[Harness, tuple[Effect, ...], Choices], Awaitable[None]]


async def _start(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    attempt = Effect.ATTEMPT in effects
    if attempt:
        h.hold(True)
        before = len(h.proxy.accepted)
    assert h.hub.start() == (Effect.RETURN_TRUE in effects)
    if attempt:
        async with asyncio.timeout(SETTLE):
            await h.proxy.wait_connections(before + 1)


async def _broadcast(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.seq += 1
    data: str | bytes = f"b{h.seq}" if draw.flag() else f"b{h.seq}".encode()
    result = await h.hub.broadcast(data)
    assert (result.sent, result.dropped) == (1, 0), result
    h.expected.member.append(data)
    if Effect.PUBLISH in effects:
        h.expected.published.append((h.seq, data))
        h.expected.duplicates += 1  # its echo comes back: own_message, discarded
    else:
        h.expected.lost += 1


async def _close(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert await h.close_hub() == (Effect.RETURN_TRUE in effects)
    h.hold(False)


async def _until_state(h: Harness, state: State) -> None:
    ok = await wait_until(lambda: h.hub.state is state, SETTLE)
    assert ok, f"the hub is {h.hub.state}, waited for {state}; steps {h.steps}"


async def _subscribed(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.hold(False)
    await _until_state(h, State.CONNECTED)


async def _attempt_failed(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.proxy.reset()
    await _until_state(h, State.BACKOFF)
    h.hold(False)


async def _attempt_refused(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    # The held connection is authenticated once its AUTH goes through; its SUBSCRIBE
    # then gets NOPERM: the hub's user may no longer use any channel.
    await h.admin.acl_setuser(USER, enabled=True, reset_channels=True)
    try:
        h.hold(False)
        await _until_state(h, State.BACKOFF)
    finally:
        await h.admin.acl_setuser(USER, enabled=True, channels=["*"])


async def _link_lost(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    await h.proxy.reset()
    await _until_state(h, State.BACKOFF)


async def _backoff_elapsed(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    h.hold(True)
    before = len(h.proxy.accepted)
    assert h.clock.advance(BACKOFF_MAX) == 1
    async with asyncio.timeout(SETTLE):
        await h.proxy.wait_connections(before + 1)


def _deliver(h: Harness, epoch: int, seq: int, text: str) -> None:
    h.peer = (epoch, seq)
    h.expected.member.append(text)
    h.expected.received += 1


async def _peer_message(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    if h.peer is None:
        epoch, seq = h.peer_epoch, draw.choice((1, 2, 3))  # the first heard: any number
    elif draw.flag():
        h.peer_epoch += 1  # the publisher restarted: its new epoch starts at 1
        epoch, seq = h.peer_epoch, 1
    else:
        epoch, seq = h.peer[0], h.peer[1] + 1
    text = f"p{epoch}.{seq}"
    await h.publish_raw(PEER, epoch, seq, text)
    _deliver(h, epoch, seq, text)


async def _peer_message_gap(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.peer is not None
    missed = draw.choice((1, 2, 3))
    if draw.flag():
        h.peer_epoch += 1  # a new epoch that starts after 1
        epoch, seq = h.peer_epoch, missed + 1
    else:
        epoch, seq = h.peer[0], h.peer[1] + missed + 1
    text = f"p{epoch}.{seq}"
    await h.publish_raw(PEER, epoch, seq, text)
    h.expected.gaps.append((PEER, missed))
    _deliver(h, epoch, seq, text)


async def _peer_message_stale(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    assert h.peer is not None
    epoch, last = h.peer
    await h.publish_raw(PEER, epoch, draw.choice(tuple(range(1, last + 1))), "stale")
    h.expected.duplicates += 1


async def _own_message(h: Harness, effects: tuple[Effect, ...], draw: Choices) -> None:
    frame = (PUBLISHER, h.hub.epoch, draw.choice(tuple(range(1, h.seq + 2))), "echo")
    h.forged.append(frame)
    await h.publish_raw(*frame)
    h.expected.duplicates += 1


DRIVERS: Final[dict[Event, Driver]] = {
    Event.START: _start,
    Event.APP_BROADCAST: _broadcast,
    Event.APP_CLOSE: _close,
    Event.SUBSCRIBED: _subscribed,
    Event.ATTEMPT_FAILED: _attempt_failed,
    Event.ATTEMPT_REFUSED: _attempt_refused,
    Event.LINK_LOST: _link_lost,
    Event.BACKOFF_ELAPSED: _backoff_elapsed,
    Event.PEER_MESSAGE: _peer_message,
    Event.PEER_MESSAGE_GAP: _peer_message_gap,
    Event.PEER_MESSAGE_STALE: _peer_message_stale,
    Event.OWN_MESSAGE: _own_message,
}

_PRECONDITIONS: Final[dict[Event, Callable[[Harness], bool]]] = {
    # A gap or a duplicate is judged against the publisher's last number heard.
    Event.PEER_MESSAGE_GAP: lambda h: h.peer is not None,
    Event.PEER_MESSAGE_STALE: lambda h: h.peer is not None,
}


# -- coverage, tours, settings ---------------------------------------------------------


def coverage() -> dict[str, set[tuple[State, Event]]]:
    """Pairs seen so far in this process, per role (one set: the roles share the table)."""
    return {role: _SEEN for role in ROLES}


def drivable_pairs(role: Role = "redis") -> list[tuple[State, Event]]:
    """Possible pairs of the table the harness can drive, in table order."""
    return [k for k, r in TABLE.items() if r.next is not None and k not in NOT_DRIVABLE]


def coverage_report() -> str:
    """``link transition coverage: covered/drivable`` and the pairs not driven, why."""
    if not STATS["steps"]:
        return ""
    drivable = drivable_pairs()
    missing = [f"{s}/{e}" for s, e in drivable if (s, e) not in _SEEN]
    lines = [
        f"link transition coverage: {len(drivable) - len(missing)}/{len(drivable)} "
        f"drivable pairs ({STATS['examples']} examples, {STATS['steps']} steps)"
        + (f"; not reached: {', '.join(missing)}" if missing else "")
    ]
    lines.append(f"  CLOSED/(every event but start, app_broadcast, app_close): {_NOTHING_LEFT}")
    return "\n".join(lines)


_PATHS: Final[dict[State, list[Event]]] = {
    State.IDLE: [],
    State.CONNECTING: [Event.START],
    State.CONNECTED: [Event.START, Event.SUBSCRIBED],
    State.BACKOFF: [Event.START, Event.ATTEMPT_FAILED],
    State.CLOSED: [Event.START, Event.APP_CLOSE],
}
# Pairs that need the other publisher heard first, or a failed attempt before.
_PREFIX: Final[dict[tuple[State, Event], list[Event]]] = {
    (State.CONNECTING, Event.SUBSCRIBED): [
        Event.START,
        Event.ATTEMPT_FAILED,
        Event.BACKOFF_ELAPSED,
    ],
    (State.CONNECTED, Event.PEER_MESSAGE_GAP): [Event.START, Event.SUBSCRIBED, Event.PEER_MESSAGE],
    (State.CONNECTED, Event.PEER_MESSAGE_STALE): [
        Event.START,
        Event.SUBSCRIBED,
        Event.PEER_MESSAGE,
    ],
}


async def run_tour(
    role: Role = "redis",
    pairs: Iterable[tuple[State, Event]] | None = None,
    concurrent: Iterable[tuple[Event, Event]] | None = None,
) -> list[str]:
    """Drive every drivable pair (or ``pairs``) once, each in a fresh harness, then (without
    ``pairs``) each of :data:`CONCURRENT_PAIRS` (or ``concurrent``) in CONNECTED; return
    the failures."""
    failures: list[str] = []
    together: list[tuple[State, Event, Event | None]] = [
        (State.CONNECTED, a, b)
        for a, b in (concurrent if concurrent is not None else () if pairs else CONCURRENT_PAIRS)
    ]
    for state, event, second in [
        (s, e, None) for s, e in (drivable_pairs(role) if pairs is None else pairs)
    ] + together:
        h = Harness(role)
        await h.start()
        where = "path"
        try:
            choices = FirstChoices()
            for step in _PREFIX.get((state, event), _PATHS[state]):
                await h.step(step, choices)
            assert h.model_state is state, f"reached {h.model_state}, wanted {state}"
            where = "pair"
            if second is None:
                await h.step(event, choices)
            else:
                await h.step_concurrently(event, second, choices)
            where = "stop"
            await h.stop()
        except Exception as exc:  # a failed check or a crash: both are findings
            name = f"{state}/{event}" + (f"+{second}" if second is not None else "")
            failures.append(f"{name} ({where}): {exc!r} after {h.steps}")
        finally:
            if where != "stop":
                with contextlib.suppress(Exception):
                    await h.stop()  # the finding is the failure above
    return failures


def role_doc(role: Role) -> str:
    return (
        "The hub's Redis is a real redis-server behind the fault proxy; its member is a "
        "websockets server connection; the other publisher is raw frames on the channel."
    )


def class_name(role: Role) -> str:
    return "LinkOverRedis"


def role_settings(role: Role, profile: Any) -> Any:
    """The profile as it is: a step costs milliseconds (one Redis per example)."""
    return profile
