# GENERATED FILE - DO NOT EDIT.
# Source: spec/link.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The link machine, generated from spec/link.toml.

A process' link to the broadcast broker: subscribed, reconnecting with backoff, closed; local delivery always, remote delivery numbered per publisher.

``TABLE`` is the runtime's engine: one dict lookup per event. The reference
model of the same table (python-statemachine) is ``wsstate.testing.charts.link``,
used as the oracle in tests; this module imports only the standard library.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

__all__ = [
    "EFFECT_DOCS",
    "EVENT_KINDS",
    "INITIAL",
    "INITIAL_EFFECTS",
    "TABLE",
    "TERMINAL",
    "TIMERS",
    "Effect",
    "Event",
    "Row",
    "State",
]


class State(enum.StrEnum):
    """States of the link machine."""

    IDLE = "IDLE"
    """Created, not started: broadcasts reach the local members only (their remote part is counted as lost)."""
    CONNECTING = "CONNECTING"
    """An attempt is in progress: connect to Redis and subscribe to the channel; broadcasts reach the local members only."""
    CONNECTED = "CONNECTED"
    """Subscribed: broadcasts are published to the channel, and messages of the other processes arrive."""
    BACKOFF = "BACKOFF"
    """The link was lost (or an attempt failed): waiting for the backoff delay before the next attempt; broadcasts reach the local members only."""
    CLOSED = "CLOSED"
    """Terminal: the link is closed for good; broadcasts still reach the local members."""


class Event(enum.StrEnum):
    """Events the machine reacts to."""

    START = "start"
    """local: The application starts the hub (async with RedisHub(...), or start())."""
    APP_BROADCAST = "app_broadcast"
    """local: The application broadcasts a message (await hub.broadcast(data))."""
    APP_CLOSE = "app_close"
    """local: The application closes the hub's link (close(), or leaving async with)."""
    SUBSCRIBED = "subscribed"
    """remote: The attempt connected to Redis and the subscription to the channel was confirmed."""
    ATTEMPT_FAILED = "attempt_failed"
    """transport: The attempt failed: Redis did not answer or went away during it (connection refused, timeout, loading)."""
    ATTEMPT_REFUSED = "attempt_refused"
    """remote: The attempt reached Redis and Redis refused it: a wrong or missing password, an ACL without the channel, a database out of range (an error reply, not an absence)."""
    LINK_LOST = "link_lost"
    """transport: The subscription or the publishing connection failed: Redis went away, restarted, or closed the client (output buffer limit)."""
    PEER_MESSAGE = "peer_message"
    """remote: A message of another process arrived with the next number of its publisher (or the first heard from it)."""
    PEER_MESSAGE_GAP = "peer_message_gap"
    """remote: A message of another process arrived after numbers this process never received: the publisher's messages in between were missed."""
    PEER_MESSAGE_STALE = "peer_message_stale"
    """remote: A message arrived with a number of its publisher already passed: a duplicate."""
    OWN_MESSAGE = "own_message"
    """remote: This process' own broadcast came back from the channel."""
    BACKOFF_ELAPSED = "backoff_elapsed"
    """timer: The backoff delay ran out."""


class Effect(enum.StrEnum):
    """The link machine's effect vocabulary (its spec's [effects] table)."""

    ATTEMPT = "attempt"
    """Start an attempt: connect to Redis, subscribe to the channel; its end is fed as subscribed, attempt_failed or attempt_refused (classified by wsstate.redis_hub.attempt_event)."""
    CANCEL_ATTEMPT = "cancel_attempt"
    """Cancel the attempt in progress; its connections are closed, its end is not fed."""
    ADOPT_LINK = "adopt_link"
    """The attempt's connections become the link: a listener reads the channel, a publisher sends in order."""
    DROP_LINK = "drop_link"
    """Close the link's connections and stop its listener; every publish still queued or unacknowledged on it is counted as lost."""
    DELIVER_LOCAL = "deliver_local"
    """Send the message to this process' members (Hub.broadcast): the call's BroadcastResult."""
    PUBLISH = "publish"
    """Queue the numbered message for the channel; broadcast() returns once Redis acknowledged it (or it was counted as lost)."""
    COUNT_LOST = "count_lost"
    """Do not publish: the message is counted in stats.lost (its number is used, so the subscribers see the gap)."""
    DELIVER_REMOTE = "deliver_remote"
    """Send the arriving message to this process' members, and record its number as its publisher's last."""
    REPORT_GAP = "report_gap"
    """Call on_gap(publisher, missed) with the number of the publisher's messages this process missed (stats.missed grows)."""
    DISCARD = "discard"
    """Drop the arriving message: it was delivered here already (a duplicate, or this process' own broadcast)."""
    COUNT_ATTEMPT = "count_attempt"
    """link.attempts grows by one: an attempt failed or the link was lost."""
    RESET_ATTEMPTS = "reset_attempts"
    """link.attempts becomes 0: subscribed again, the next loss starts from backoff_initial."""
    RETURN_TRUE = "return:true"
    """start() or close() returns True: this call started (or closed) the link."""
    RETURN_FALSE = "return:false"
    """start() or close() returns False: another call did."""
    ARM_BACKOFF_TIMER = "arm:backoff_timer"
    """Start the backoff delay: uniform(0, min(backoff_max, backoff_initial * backoff_factor^(attempts-1)))."""
    CANCEL_BACKOFF_TIMER = "cancel:backoff_timer"
    """Stop the backoff delay: no attempt follows it."""


class Row(NamedTuple):
    """What the machine does for one (state, event) pair."""

    next: State | None
    """The next state; None when the event is impossible in this state."""
    effects: tuple[Effect, ...]
    """Effects to perform, in order."""
    log: int
    """The ``logging`` level to log the event at."""
    note: str
    """Why the row is what it is."""
    code: int | None = None
    """Close code the row emits or records, when not the application's or peer's."""
    reason: str | None = None
    """Close reason that goes with ``code``."""


INITIAL: Final = State.IDLE
TERMINAL: Final[frozenset[State]] = frozenset({State.CLOSED})
INITIAL_EFFECTS: Final[tuple[Effect, ...]] = ()
EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(
    {
        Event.START: "local",
        Event.APP_BROADCAST: "local",
        Event.APP_CLOSE: "local",
        Event.SUBSCRIBED: "remote",
        Event.ATTEMPT_FAILED: "transport",
        Event.ATTEMPT_REFUSED: "remote",
        Event.LINK_LOST: "transport",
        Event.PEER_MESSAGE: "remote",
        Event.PEER_MESSAGE_GAP: "remote",
        Event.PEER_MESSAGE_STALE: "remote",
        Event.OWN_MESSAGE: "remote",
        Event.BACKOFF_ELAPSED: "timer",
    }
)
EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.ATTEMPT: "Start an attempt: connect to Redis, subscribe to the channel; its end is fed as subscribed, attempt_failed or attempt_refused (classified by wsstate.redis_hub.attempt_event).",
        Effect.CANCEL_ATTEMPT: "Cancel the attempt in progress; its connections are closed, its end is not fed.",
        Effect.ADOPT_LINK: "The attempt's connections become the link: a listener reads the channel, a publisher sends in order.",
        Effect.DROP_LINK: "Close the link's connections and stop its listener; every publish still queued or unacknowledged on it is counted as lost.",
        Effect.DELIVER_LOCAL: "Send the message to this process' members (Hub.broadcast): the call's BroadcastResult.",
        Effect.PUBLISH: "Queue the numbered message for the channel; broadcast() returns once Redis acknowledged it (or it was counted as lost).",
        Effect.COUNT_LOST: "Do not publish: the message is counted in stats.lost (its number is used, so the subscribers see the gap).",
        Effect.DELIVER_REMOTE: "Send the arriving message to this process' members, and record its number as its publisher's last.",
        Effect.REPORT_GAP: "Call on_gap(publisher, missed) with the number of the publisher's messages this process missed (stats.missed grows).",
        Effect.DISCARD: "Drop the arriving message: it was delivered here already (a duplicate, or this process' own broadcast).",
        Effect.COUNT_ATTEMPT: "link.attempts grows by one: an attempt failed or the link was lost.",
        Effect.RESET_ATTEMPTS: "link.attempts becomes 0: subscribed again, the next loss starts from backoff_initial.",
        Effect.RETURN_TRUE: "start() or close() returns True: this call started (or closed) the link.",
        Effect.RETURN_FALSE: "start() or close() returns False: another call did.",
        Effect.ARM_BACKOFF_TIMER: "Start the backoff delay: uniform(0, min(backoff_max, backoff_initial * backoff_factor^(attempts-1))).",
        Effect.CANCEL_BACKOFF_TIMER: "Stop the backoff delay: no attempt follows it.",
    }
)
TIMERS: Final[Mapping[str, Event]] = MappingProxyType(
    {
        "backoff_timer": Event.BACKOFF_ELAPSED,
    }
)
"""Timers the ``arm:``/``cancel:`` effects name -> the event each fires."""

_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(
    {
        # line 84
        (State.IDLE, Event.START): Row(
            State.CONNECTING,
            (Effect.ATTEMPT, Effect.RETURN_TRUE,),
            _I,
            "The first attempt is made at once.",
        ),
        # line 85
        (State.IDLE, Event.APP_BROADCAST): Row(
            State.IDLE,
            (Effect.DELIVER_LOCAL, Effect.COUNT_LOST,),
            _D,
            "Not started: the local members get it; no other process can.",
        ),
        # line 86
        (State.IDLE, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.RETURN_TRUE,),
            _I,
            "Closed before it started: no attempt is ever made.",
        ),
        # line 87
        (State.IDLE, Event.SUBSCRIBED): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 88
        (State.IDLE, Event.ATTEMPT_FAILED): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 89
        (State.IDLE, Event.ATTEMPT_REFUSED): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 90
        (State.IDLE, Event.LINK_LOST): Row(
            None,
            (),
            _E,
            "No link.",
        ),
        # line 91
        (State.IDLE, Event.PEER_MESSAGE): Row(
            None,
            (),
            _E,
            "No listener: messages are read only by the link's listener.",
        ),
        # line 92
        (State.IDLE, Event.PEER_MESSAGE_GAP): Row(
            None,
            (),
            _E,
            "No listener: messages are read only by the link's listener.",
        ),
        # line 93
        (State.IDLE, Event.PEER_MESSAGE_STALE): Row(
            None,
            (),
            _E,
            "No listener: messages are read only by the link's listener.",
        ),
        # line 94
        (State.IDLE, Event.OWN_MESSAGE): Row(
            None,
            (),
            _E,
            "No listener: messages are read only by the link's listener.",
        ),
        # line 95
        (State.IDLE, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer is not armed.",
        ),
        # line 98
        (State.CONNECTING, Event.START): Row(
            State.CONNECTING,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 99
        (State.CONNECTING, Event.APP_BROADCAST): Row(
            State.CONNECTING,
            (Effect.DELIVER_LOCAL, Effect.COUNT_LOST,),
            _D,
            "Not subscribed yet: local members get it; its number is used, so the others see the gap (scenario 38).",
        ),
        # line 100
        (State.CONNECTING, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_ATTEMPT, Effect.RETURN_TRUE,),
            _I,
            "The attempt is cancelled; no other follows.",
        ),
        # line 101
        (State.CONNECTING, Event.SUBSCRIBED): Row(
            State.CONNECTED,
            (Effect.ADOPT_LINK, Effect.RESET_ATTEMPTS,),
            _I,
            "Subscribed: broadcasts are published again, the listener runs.",
        ),
        # line 102
        (State.CONNECTING, Event.ATTEMPT_FAILED): Row(
            State.BACKOFF,
            (Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "Redis is still away: retried after a jittered delay.",
        ),
        # line 103
        (State.CONNECTING, Event.ATTEMPT_REFUSED): Row(
            State.BACKOFF,
            (Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _W,
            "Redis refused the link (its password, its ACL, its database): retried after a jittered delay, as an absence is, but logged as a warning: only a fix of the configuration ends it.",
        ),
        # line 104
        (State.CONNECTING, Event.LINK_LOST): Row(
            None,
            (),
            _E,
            "No link yet: a failing attempt is attempt_failed.",
        ),
        # line 105
        (State.CONNECTING, Event.PEER_MESSAGE): Row(
            None,
            (),
            _E,
            "The listener starts with the link (adopt_link).",
        ),
        # line 106
        (State.CONNECTING, Event.PEER_MESSAGE_GAP): Row(
            None,
            (),
            _E,
            "The listener starts with the link (adopt_link).",
        ),
        # line 107
        (State.CONNECTING, Event.PEER_MESSAGE_STALE): Row(
            None,
            (),
            _E,
            "The listener starts with the link (adopt_link).",
        ),
        # line 108
        (State.CONNECTING, Event.OWN_MESSAGE): Row(
            None,
            (),
            _E,
            "The listener starts with the link (adopt_link).",
        ),
        # line 109
        (State.CONNECTING, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer ran out before this attempt.",
        ),
        # line 112
        (State.CONNECTED, Event.START): Row(
            State.CONNECTED,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 113
        (State.CONNECTED, Event.APP_BROADCAST): Row(
            State.CONNECTED,
            (Effect.DELIVER_LOCAL, Effect.PUBLISH,),
            _D,
            "The hot path: local members at once, then the channel.",
        ),
        # line 114
        (State.CONNECTED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.DROP_LINK, Effect.RETURN_TRUE,),
            _I,
            "The link is closed; publishes not yet acknowledged are counted as lost.",
        ),
        # line 115
        (State.CONNECTED, Event.SUBSCRIBED): Row(
            None,
            (),
            _E,
            "One attempt at a time.",
        ),
        # line 116
        (State.CONNECTED, Event.ATTEMPT_FAILED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 117
        (State.CONNECTED, Event.ATTEMPT_REFUSED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 118
        (State.CONNECTED, Event.LINK_LOST): Row(
            State.BACKOFF,
            (Effect.DROP_LINK, Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _W,
            "Redis went away: the listener is not left dead (python-socketio #1581); reconnect after a jittered delay (scenario 38).",
        ),
        # line 119
        (State.CONNECTED, Event.PEER_MESSAGE): Row(
            State.CONNECTED,
            (Effect.DELIVER_REMOTE,),
            _D,
            "In order: to the local members.",
        ),
        # line 120
        (State.CONNECTED, Event.PEER_MESSAGE_GAP): Row(
            State.CONNECTED,
            (Effect.REPORT_GAP, Effect.DELIVER_REMOTE,),
            _I,
            "Messages were missed (link down, Redis restarted): the application hears of it before the next message, never silently (scenario 38).",
        ),
        # line 121
        (State.CONNECTED, Event.PEER_MESSAGE_STALE): Row(
            State.CONNECTED,
            (Effect.DISCARD,),
            _D,
            "Already delivered: never twice.",
        ),
        # line 122
        (State.CONNECTED, Event.OWN_MESSAGE): Row(
            State.CONNECTED,
            (Effect.DISCARD,),
            _D,
            "Delivered locally when it was broadcast: not twice.",
        ),
        # line 123
        (State.CONNECTED, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer ran out before this attempt.",
        ),
        # line 126
        (State.BACKOFF, Event.START): Row(
            State.BACKOFF,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 127
        (State.BACKOFF, Event.APP_BROADCAST): Row(
            State.BACKOFF,
            (Effect.DELIVER_LOCAL, Effect.COUNT_LOST,),
            _D,
            "No link: local members get it, the others will see the gap (scenario 38).",
        ),
        # line 128
        (State.BACKOFF, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_BACKOFF_TIMER, Effect.RETURN_TRUE,),
            _I,
            "The pending delay is cancelled: CLOSED at once.",
        ),
        # line 129
        (State.BACKOFF, Event.SUBSCRIBED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 130
        (State.BACKOFF, Event.ATTEMPT_FAILED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 131
        (State.BACKOFF, Event.ATTEMPT_REFUSED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 132
        (State.BACKOFF, Event.LINK_LOST): Row(
            None,
            (),
            _E,
            "The link was dropped; its loss is fed once.",
        ),
        # line 133
        (State.BACKOFF, Event.PEER_MESSAGE): Row(
            None,
            (),
            _E,
            "The listener was stopped with its link.",
        ),
        # line 134
        (State.BACKOFF, Event.PEER_MESSAGE_GAP): Row(
            None,
            (),
            _E,
            "The listener was stopped with its link.",
        ),
        # line 135
        (State.BACKOFF, Event.PEER_MESSAGE_STALE): Row(
            None,
            (),
            _E,
            "The listener was stopped with its link.",
        ),
        # line 136
        (State.BACKOFF, Event.OWN_MESSAGE): Row(
            None,
            (),
            _E,
            "The listener was stopped with its link.",
        ),
        # line 137
        (State.BACKOFF, Event.BACKOFF_ELAPSED): Row(
            State.CONNECTING,
            (Effect.ATTEMPT,),
            _I,
            "The delay ran out: the next attempt.",
        ),
        # line 140
        (State.CLOSED, Event.START): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "Closed for good: a link is not restarted.",
        ),
        # line 141
        (State.CLOSED, Event.APP_BROADCAST): Row(
            State.CLOSED,
            (Effect.DELIVER_LOCAL, Effect.COUNT_LOST,),
            _D,
            "The link is closed; the hub's local members still get it.",
        ),
        # line 142
        (State.CLOSED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "Idempotent.",
        ),
        # line 143, default row
        (State.CLOSED, Event.SUBSCRIBED): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.ATTEMPT_FAILED): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.ATTEMPT_REFUSED): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.LINK_LOST): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.PEER_MESSAGE): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.PEER_MESSAGE_GAP): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.PEER_MESSAGE_STALE): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.OWN_MESSAGE): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
        # line 143, default row
        (State.CLOSED, Event.BACKOFF_ELAPSED): Row(
            State.CLOSED,
            (),
            _D,
            "Terminal: a late attempt end, loss, message or timer is absorbed.",
        ),
    }
)
"""The total transition table: every (state, event) pair has a row."""
