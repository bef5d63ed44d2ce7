"""The link composition: one process' link to a lossy broker, and a publisher beyond it.

Theory of operation
===================

One instance of the link machine (``spec/link.toml``: process A's link to
Redis, :class:`wsstate.RedisHub`) runs against an environment that stands for
everything A does not control: the broker (up or restarting; it may drop A's
connection, lose a message in transit or deliver one twice), another process P
that publishes numbered messages on the channel, the backoff timer and A's
application. A global state (:class:`LinkWorld`) holds the link's machine
state, its armed timers, whether an attempt is in flight, whether a link is
live, whether the broker is up, the faults used, A's publishes not yet
acknowledged, the messages on their way to A's listener (P's numbers, and 0
for A's own broadcast echoed back), the last number of P that A recorded, and
*ghost* variables that exist only to state properties: the numbers of P
delivered to A's members, the numbers reported missed through ``on_gap``, and
whether a backoff delay ran out since the last attempt.

P is known to A from the start (its last number is 0): the runtime's rule for
a publisher first heard from (its first number is the baseline) is a
classification outside the table (docs/redis.md).

Transitions (kind ``app``: A's application; ``env``: broker, P, timers;
``fault``: the broker's faults, at most :attr:`LinkBounds.faults` per run):

* A's application: ``start``, ``app_close``, and up to
  :attr:`LinkBounds.broadcasts` messages (``app_broadcast``);
* P publishes its next number (up to :attr:`LinkBounds.messages`): it reaches
  A's listener only while A's link is live; otherwise no one hears it;
* the broker acknowledges one of A's publishes while the link is live: the
  message comes back to A's own listener (0 on the channel);
* A's listener reads the next message and the runtime classifies it as it
  does: ``own_message`` (0), ``peer_message`` (P's number after the last),
  ``peer_message_gap`` (beyond it), ``peer_message_stale`` (not beyond it);
* an attempt in flight ends: ``subscribed`` or ``attempt_refused`` (broker up:
  it accepts, or answers with an error: a password, an ACL, a database) or
  ``attempt_failed``;
* faults: the broker drops A's connection, or restarts (down until it comes
  back), either of which ends the link (``link_lost``, the channel's content
  gone); it loses P's next message in transit, or delivers it twice;
* the broker comes back after a restart; the backoff timer runs out.

Effects: ``attempt`` puts an attempt in flight; ``cancel_attempt`` ends it;
``drop_link`` ends the live link (what was queued or unacknowledged on it is
counted as lost); ``publish`` puts the message in flight; ``count_lost``
accounts for it; ``deliver_local`` is the local members' copy;
``deliver_remote`` hands the message to A's members and records its number;
``report_gap`` adds the numbers between the last and this one to the reported
ones; ``arm:``/``cancel:`` the timer. The others (``adopt_link``,
``discard``, the counters, the outcomes) change nothing the properties look at.

Properties (:data:`LINK_PROPERTIES`) are checked on every transition, except
``no_dead_listener``, checked on every reachable state. A transition that
breaks one is not followed further, so the breadth-first search gives each
violated property a shortest counterexample
(:func:`~wsstate_tools.verify.search.explore`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from ..spec import Row, Spec
from .model import Bad, Kind
from .report import Replay, Result
from .search import check_composed, replay_composed

__all__ = [
    "LINK_PROPERTIES",
    "RESTING",
    "LinkBounds",
    "LinkModel",
    "LinkWorld",
    "check_link",
    "replay_link",
]

#: Every property of the link composition, with what it means.
LINK_PROPERTIES: Final = MappingProxyType(
    {
        "closed_absorbing": "once CLOSED, the link stays CLOSED",
        "impossible_event": "the link never receives an event its table calls impossible in "
        "its current state",
        "local_delivery_always": "every broadcast reaches this process' members, in every state "
        "of the link",
        "local_delivered_once": "a process' own broadcast, echoed back by the broker, does not "
        "reach its members a second time",
        "remote_accounted": "every broadcast is either published or counted as lost, never both "
        "nor neither",
        "publish_only_connected": "a message is published only while the link is CONNECTED",
        "gap_always_reported": "before a publisher's message is delivered, every earlier number "
        "of that publisher was delivered or reported missed through on_gap: a gap is never "
        "silent",
        "delivered_at_most_once": "no message of a publisher reaches the members twice",
        "backoff_between_attempts": "between a failed attempt or a lost link and the next "
        "attempt, a backoff delay runs out",
        "single_link": "an attempt starts only when no other is in flight and no link is live",
        "link_released": "outside CONNECTED no link is live nor any publish unaccounted, and "
        "once CLOSED no attempt is in flight",
        "no_dead_listener": "a link that is started and not CLOSED always has an attempt in "
        "flight, a live link (its listener reading) or the backoff timer armed",
    }
)

#: States that wait for the application, not for the environment.
RESTING: Final = frozenset({"IDLE", "CLOSED"})
#: The channel's marker for A's own broadcast echoed back.
OWN: Final = 0


@dataclass(frozen=True, slots=True)
class LinkBounds:
    """What keeps the link composition finite."""

    messages: int = 4
    """Numbers the remote publisher P sends in a run."""
    broadcasts: int = 2
    """Messages A's application broadcasts in a run."""
    faults: int = 3
    """Broker faults per run: drops of A's connection, restarts, messages lost or doubled."""
    capacity: int = 3
    """Messages on their way to A's listener at once."""

    def __str__(self) -> str:
        return (
            f"{self.messages} message(s) from the other publisher, {self.broadcasts} "
            f"broadcast(s), {self.faults} broker fault(s), {self.capacity} in transit"
        )


class LinkWorld(NamedTuple):
    """A global state of the link composition."""

    state: str
    timers: int
    pending: bool
    """An attempt is in flight."""
    live: bool
    """The link (subscription and publishing connection) is up."""
    up: bool
    """The broker is running."""
    faults: int
    inflight: int
    """A's publishes not yet acknowledged by the broker."""
    sent: int
    """Broadcasts A's application made so far."""
    published: int
    """Numbers P used so far (1..published)."""
    chan: tuple[int, ...]
    """On the way to A's listener, in order: P's numbers, OWN for A's own echo."""
    last: int
    """The last number of P that A recorded (the runtime's per-publisher tracker)."""
    delivered: int
    """Ghost: bit set of P's numbers delivered to A's members."""
    reported: int
    """Ghost: bit set of P's numbers reported missed through on_gap."""
    gap: bool
    """Ghost: a backoff delay ran out since the last attempt; True before the first."""


class LinkModel:
    """The link composition built from ``spec``, within ``bounds``."""

    def __init__(self, spec: Spec, bounds: LinkBounds | None = None) -> None:
        self.spec = spec
        self.bounds = bounds or LinkBounds()
        self.timer_bits = {t: 1 << i for i, t in enumerate(spec.timers)}
        self.terminal = spec.terminal
        self.fired: set[tuple[str, str]] = set()
        self.ops: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}
        for key, row in spec.rows.items():
            if not row.impossible:
                self.ops[key] = self._compile(row)

    def _compile(self, row: Row) -> tuple[tuple[str, int], ...]:
        ops: list[tuple[str, int]] = []
        for effect in row.effects:
            verb, _, arg = effect.partition(":")
            if verb in ("arm", "cancel") and arg in self.timer_bits:
                ops.append((verb, self.timer_bits[arg]))
            else:
                ops.append((effect, 0))
        return tuple(ops)

    def initial(self) -> LinkWorld:
        return LinkWorld(self.spec.initial, 0, False, False, True, 0, 0, 0, 0, (), 0, 0, 0, True)

    def stuck(self, w: LinkWorld) -> bool:
        """Started, not CLOSED, and waiting for nothing (``no_dead_listener``)."""
        return w.state not in RESTING and not (w.pending or w.live or w.timers)

    def successors(
        self, w: LinkWorld, *, clean: bool = False
    ) -> Iterator[tuple[str, Kind, LinkWorld | Bad | None]]:
        b = self.bounds
        yield "app start", "app", self.fire(w, "start")
        yield "app close", "app", self.fire(w, "app_close")
        if w.sent < b.broadcasts:
            yield (
                f"app broadcast b{w.sent + 1}",
                "app",
                self.fire(w._replace(sent=w.sent + 1), "app_broadcast"),
            )
        room = len(w.chan) < b.capacity
        if w.published < b.messages and (room or not w.live):
            n = w.published + 1
            if w.live:
                yield f"P publishes m{n} -> A", "env", w._replace(published=n, chan=(*w.chan, n))
            else:
                yield f"P publishes m{n} (no link: unheard)", "env", w._replace(published=n)
        if w.inflight and w.live and room:
            after = w._replace(inflight=w.inflight - 1, chan=(*w.chan, OWN))
            yield "broker acknowledges A's publish", "env", after
        if w.live and w.chan:
            head, rest = w.chan[0], w.chan[1:]
            after = w._replace(chan=rest)
            if head == OWN:
                yield "A reads its own echo -> own_message", "env", self.fire(after, "own_message")
            else:
                if head == w.last + 1:
                    event = "peer_message"
                elif head > w.last:
                    event = "peer_message_gap"
                else:
                    event = "peer_message_stale"
                yield f"A reads m{head} -> {event}", "env", self.fire(after, event, head)
        if w.pending:
            if w.up:
                after = w._replace(pending=False, live=True)
                yield "broker accepts -> subscribed", "env", self.fire(after, "subscribed")
                after = w._replace(pending=False)
                refused = self.fire(after, "attempt_refused")
                yield "broker refuses (password, ACL, database) -> attempt_refused", "env", refused
            after = w._replace(pending=False)
            yield "attempt fails -> attempt_failed", "env", self.fire(after, "attempt_failed")
        if not w.up:
            yield "broker comes back", "env", w._replace(up=True)
        for timer, bit in self.timer_bits.items():
            if w.timers & bit:
                event = self.spec.timers[timer]
                after = w._replace(timers=w.timers & ~bit, gap=True)
                yield f"timer {timer} -> {event}", "env", self.fire(after, event)
        if w.faults < b.faults:
            f = w._replace(faults=w.faults + 1)
            if w.live:
                lost = f._replace(live=False, chan=())
                yield "broker drops A's link -> link_lost", "fault", self.fire(lost, "link_lost")
            if w.up:
                down = f._replace(up=False)
                if w.live:
                    down = down._replace(live=False, chan=())
                    yield "broker restarts -> link_lost", "fault", self.fire(down, "link_lost")
                else:
                    yield "broker restarts", "fault", down
            if w.chan and w.chan[0] != OWN:
                yield f"broker loses m{w.chan[0]}", "fault", f._replace(chan=w.chan[1:])
                if room:
                    twice = (w.chan[0], *w.chan)
                    yield f"broker delivers m{w.chan[0]} twice", "fault", f._replace(chan=twice)

    def fire(self, w: LinkWorld, event: str, message: int = OWN) -> LinkWorld | Bad:
        """Feed ``event`` to the link and perform its row (``message``: P's number read)."""
        state = w.state
        self.fired.add((state, event))
        ops = self.ops.get((state, event))
        row = self.spec.row(state, event)
        if ops is None:
            return Bad(
                "impossible_event",
                f"link got {event} in {state}, which the table calls impossible "
                f"(line {row.line}: {row.note})",
            )
        assert row.next is not None
        where = f"on {event} in {state} (line {row.line})"
        if state in self.terminal and row.next != state:
            return Bad("closed_absorbing", f"link left {state} for {row.next} {where}")
        timers, pending, live, inflight, chan = w.timers, w.pending, w.live, w.inflight, w.chan
        last, delivered, reported, gap = w.last, w.delivered, w.reported, w.gap
        local = remote = 0
        for op, arg in ops:
            if op == "arm":
                timers |= arg
            elif op == "cancel":
                timers &= ~arg
            elif op == "attempt":
                if pending or live:
                    return Bad(
                        "single_link",
                        f"link starts an attempt while "
                        f"{'another is in flight' if pending else 'a link is live'} {where}",
                    )
                if not gap:
                    return Bad(
                        "backoff_between_attempts",
                        f"link starts an attempt with no backoff delay since the last one {where}",
                    )
                pending, gap = True, False
            elif op == "cancel_attempt":
                pending = False
            elif op == "drop_link":
                live, chan, inflight = False, (), 0
            elif op == "deliver_local":
                local += 1
            elif op == "publish":
                if state != "CONNECTED":
                    return Bad(
                        "publish_only_connected", f"link publishes b{w.sent} in {state} {where}"
                    )
                inflight += 1
                remote += 1
            elif op == "count_lost":
                remote += 1
            elif op == "report_gap":
                for n in range(last + 1, message):
                    reported |= 1 << n
            elif op == "deliver_remote":
                if message == OWN:
                    return Bad(
                        "local_delivered_once",
                        f"A's own broadcast reaches A's members a second time {where}",
                    )
                if delivered & 1 << message:
                    return Bad(
                        "delivered_at_most_once", f"m{message} reaches A's members twice {where}"
                    )
                missing = [n for n in range(1, message) if not (delivered | reported) & 1 << n]
                if missing:
                    return Bad(
                        "gap_always_reported",
                        f"m{message} is delivered but "
                        + ", ".join(f"m{n}" for n in missing)
                        + f" was neither delivered nor reported missed {where}",
                    )
                delivered |= 1 << message
                last = message
        if event == "app_broadcast":
            if local != 1:
                return Bad("local_delivery_always", f"b{w.sent} does not reach A's members {where}")
            if remote != 1:
                fate = "neither published nor counted as lost" if not remote else "both"
                return Bad("remote_accounted", f"b{w.sent} is {fate} {where}")
        if row.next != "CONNECTED" and (live or inflight):
            what = "a link is live" if live else f"{inflight} publish(es) unaccounted"
            return Bad("link_released", f"link enters {row.next} while {what} {where}")
        if row.next in self.terminal and pending:
            return Bad("link_released", f"link enters {row.next} with an attempt in flight {where}")
        return w._replace(
            state=row.next,
            timers=timers,
            pending=pending,
            live=live,
            inflight=inflight,
            chan=chan,
            last=last,
            delivered=delivered,
            reported=reported,
            gap=gap,
        )

    def describe(self, w: LinkWorld) -> str:
        """One line: the link, the broker, the channel and what A's members got."""
        timers = [t for t, bit in self.timer_bits.items() if w.timers & bit]
        text = f"link {w.state}"
        if timers:
            text += " {" + ", ".join(timers) + "}"
        flags = [
            name for name, on in (("attempt in flight", w.pending), ("link live", w.live)) if on
        ]
        if flags:
            text += " [" + ", ".join(flags) + "]"
        broker = "up" if w.up else "down"
        chan = " ".join("own" if m == OWN else f"m{m}" for m in w.chan) or "-"
        got = " ".join(f"m{n}" for n in range(1, w.published + 1) if w.delivered & 1 << n) or "-"
        missed = " ".join(f"m{n}" for n in range(1, w.published + 1) if w.reported & 1 << n)
        return (
            f"{text} | broker {broker}, unacknowledged {w.inflight} | to A: {chan} | "
            f"A's members got: {got} | reported missed: {missed or '-'}"
        )


# -- the search --------------------------------------------------------------------


def check_link(spec: Spec, bounds: LinkBounds | None = None) -> Result:
    """Explore every reachable state of the link composition; check :data:`LINK_PROPERTIES`."""
    started = time.perf_counter()
    model = LinkModel(spec, bounds)
    return check_composed(
        spec,
        model,
        LINK_PROPERTIES,
        stuck="no_dead_listener",
        stuck_message=lambda w: (
            f"link waits in {w.state} for nothing: no attempt, no live link, "
            "no timer (its listener is dead for good)"
        ),
        describe=f"the link with a broker that drops it, restarts, loses and doubles messages, a "
        f"remote publisher and the backoff timer ({model.bounds})",
        started=started,
    )


def replay_link(spec: Spec, steps: Sequence[str], bounds: LinkBounds | None = None) -> Replay:
    """Follow labels ``steps`` through the link composition; report what breaks."""
    return replay_composed(
        LinkModel(spec, bounds), steps, stuck="no_dead_listener", why="the link waits for nothing"
    )
