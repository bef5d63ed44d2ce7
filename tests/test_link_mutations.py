"""The Redis link's mutation check: its generated stateful suite catches seeded runtime bugs.

Each mutant breaks :class:`wsstate.RedisHub` in one way seen in the field's
fan-out libraries (shared/ANCHORS.md): a listener that dies silently
(python-socketio #1581), a gap never reported, a duplicate delivered twice, a
reconnect without a delay, a refusal taken for an absence, a backoff that never
resets, a close or a loss that leaves the link (or the attempt) running. Under
each, the link's deterministic tour of the pair named (its path from a fresh
hub, against a real Redis: :func:`wsstate.testing.link_stateful.run_tour`) must
fail at that pair, with the check that names the bug. The control, the whole
tour passing without a mutant, is the generated
``tests/generated/test_link_stateful.py::test_every_drivable_pair``.
The model checker's mutants of the link's *table* are tests/fixtures/mutants/link.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import pytest
from support.coverage import uncounted

from wsstate import redis_hub
from wsstate.machines.link import Effect, Event, State
from wsstate.redis_hub import RedisHub
from wsstate.testing.link_stateful import run_tour


def _without(effect: Effect) -> Callable[[pytest.MonkeyPatch], None]:
    """The runtime forgets one of the table's effects."""

    def apply(mp: pytest.MonkeyPatch) -> None:
        kept = {e: f for e, f in redis_hub._EFFECTS.items() if e is not effect}
        mp.setattr(redis_hub, "_EFFECTS", MappingProxyType(kept))

    return apply


def _stale_delivered(mp: pytest.MonkeyPatch) -> None:
    classify = redis_hub.classify

    def no_duplicates(last: tuple[int, int] | None, epoch: int, seq: int) -> tuple[Event, int]:
        event, missed = classify(last, epoch, seq)
        return (Event.PEER_MESSAGE, 0) if event is Event.PEER_MESSAGE_STALE else (event, missed)

    mp.setattr(redis_hub, "classify", no_duplicates)


def _silent_gap(mp: pytest.MonkeyPatch) -> None:
    async def report(self: RedisHub, publisher: str, missed: int) -> None:
        return None

    mp.setattr(RedisHub, "_report", report)


def _listener_dies(mp: pytest.MonkeyPatch) -> None:
    def lost(self: RedisHub, link: Any, exc: BaseException) -> None:
        return None  # the listener ends; nobody hears of it

    mp.setattr(RedisHub, "_lost", lost)


def _in_flight_forgotten(mp: pytest.MonkeyPatch) -> None:
    drop = redis_hub._EFFECTS[Effect.DROP_LINK]

    def forget(self: RedisHub) -> None:
        if self._link is not None:  # the publishes in flight are neither lost nor published
            self._link.sending = []
            self._link.queue.clear()
        drop(self)

    mp.setattr(
        redis_hub, "_EFFECTS", MappingProxyType({**redis_hub._EFFECTS, Effect.DROP_LINK: forget})
    )


def _refusal_is_absence(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(redis_hub, "attempt_event", lambda exc: Event.ATTEMPT_FAILED)


#: mutant -> (how it breaks the runtime, the pair the tour must fail at, what it says)
MUTANTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str, str]] = {
    "stale_delivered": (
        _stale_delivered,
        "CONNECTED/peer_message_stale",
        "first, driven peer_message_stale",
    ),
    "silent_gap": (_silent_gap, "CONNECTED/peer_message_gap", "on_gap []"),
    "listener_dies": (_listener_dies, "CONNECTED/link_lost", "waited for BACKOFF"),
    "refusal_is_absence": (
        _refusal_is_absence,
        "CONNECTING/attempt_refused",
        "ATTEMPT_FAILED: 'attempt_failed'>, <State.BACKOFF: 'BACKOFF'>) first",
    ),
    "no_backoff_timer": (
        _without(Effect.ARM_BACKOFF_TIMER),
        "CONNECTING/attempt_failed",
        "0 backoff timers in BACKOFF",
    ),
    "attempts_never_reset": (
        _without(Effect.RESET_ATTEMPTS),
        "CONNECTING/subscribed",
        "attempts 1 != 0",
    ),
    "backoff_not_cancelled": (
        _without(Effect.CANCEL_BACKOFF_TIMER),
        "BACKOFF/app_close",
        "1 backoff timers in CLOSED",
    ),
    "close_keeps_the_link": (
        _without(Effect.DROP_LINK),
        "CONNECTED/app_close",
        "close() did not return",
    ),
    "loss_keeps_the_link": (
        _without(Effect.DROP_LINK),
        "CONNECTED/link_lost",
        "connections to Redis open",
    ),
    "in_flight_forgotten": (
        _in_flight_forgotten,
        "CONNECTED/app_broadcast+link_lost",
        "TimeoutError",
    ),
    "close_keeps_the_attempt": (
        _without(Effect.CANCEL_ATTEMPT),
        "CONNECTING/app_close",
        "close() did not return",
    ),
}


@pytest.fixture(autouse=True)
def _not_counted() -> Iterator[None]:
    """The runs here drive mutants: what they take is not the link's coverage."""
    with uncounted():
        yield


@contextlib.contextmanager
def _mutated(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        MUTANTS[name][0](mp)
        yield


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_link_tour_catches(mutant: str) -> None:
    _, pair, says = MUTANTS[mutant]
    state, events = pair.split("/")
    event, _, second = events.partition("+")
    if second:  # two operations together (CONCURRENT_PAIRS)
        tour = run_tour(pairs=[], concurrent=[(Event(event), Event(second))])
    else:
        tour = run_tour(pairs=[(State(state), Event(event))])
    with _mutated(mutant):
        failures = asyncio.run(tour)
    assert failures, f"{mutant} not caught at {pair}"
    # Caught at the pair itself (not on the path to it, nor when the hub stops), by
    # the check that names the bug.
    assert failures[0].startswith(f"{pair} (pair): "), failures
    assert says in failures[0], failures
