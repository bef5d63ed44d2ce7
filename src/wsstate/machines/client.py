# GENERATED FILE - DO NOT EDIT.
# Source: spec/client.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The client machine, generated from spec/client.toml.

A reconnecting WebSocket client: one connection at a time, backoff between attempts.

``TABLE`` is the runtime's engine: one dict lookup per event. The reference
model of the same table (python-statemachine) is ``wsstate.testing.charts.client``,
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
    """States of the client machine."""

    IDLE = "IDLE"
    """Created, not started: sends are buffered, no attempt has been made."""
    CONNECTING = "CONNECTING"
    """An attempt (opening handshake) is in progress; sends are buffered."""
    OPENING = "OPENING"
    """The handshake completed: on_open runs, then the buffer is flushed; new sends are buffered behind it."""
    OPEN = "OPEN"
    """A connection of the connection machine is open; sends go on it."""
    BACKOFF = "BACKOFF"
    """No connection: waiting for the backoff delay before the next attempt; sends are buffered."""
    CLOSING = "CLOSING"
    """close() was called: the attempt in progress is cancelled or the connection is closing; no attempt follows."""
    STOPPED = "STOPPED"
    """Terminal: no connection, no attempt, ever again; sends are refused."""


class Event(enum.StrEnum):
    """Events the machine reacts to."""

    START = "start"
    """local: The application starts the client (async with client, or the first iteration of reconnect())."""
    APP_SEND = "app_send"
    """local: The application sends a message (send, try_send) and the buffer has room."""
    APP_SEND_FULL = "app_send_full"
    """local: The application sends a message and the buffer holds max_buffered messages (always, with max_buffered=0)."""
    APP_CLOSE = "app_close"
    """local: The application calls close()."""
    CONNECTED = "connected"
    """remote: The attempt's opening handshake completed: a new connection is open."""
    READY = "ready"
    """remote: on_open returned and the buffer was flushed on the new connection."""
    REFUSED_RETRYABLE = "refused_retryable"
    """remote: The attempt failed and may be retried (OSError, timeout, EOF in the handshake, HTTP 408/429/500/502/503/504 without Retry-After), or was cancelled."""
    REFUSED_RETRY_AFTER = "refused_retry_after"
    """remote: The attempt was refused with HTTP 429 or 503 and a Retry-After header: a floor for the next delay."""
    REFUSED_FATAL = "refused_fatal"
    """remote: The attempt was refused for good (other 4xx, an invalid URI, a TLS verification error)."""
    CLOSED_RETRYABLE = "closed_retryable"
    """remote: The open connection closed with a retryable code (1001, 1006, 1011, 1012, 1014; 1000 by default)."""
    CLOSED_RETRY_AFTER = "closed_retry_after"
    """remote: The open connection closed with 1013 (Try Again Later) and a reason giving seconds: a floor for the next delay."""
    CLOSED_FATAL = "closed_fatal"
    """remote: The open connection closed with a fatal code (1002, 1003, 1007-1010, 4000-4999)."""
    GIVE_UP = "give_up"
    """remote: A retryable failure or closure after max_attempts consecutive failed attempts."""
    BACKOFF_ELAPSED = "backoff_elapsed"
    """timer: The backoff delay ran out: time for the next attempt."""
    MIN_UPTIME_ELAPSED = "min_uptime_elapsed"
    """timer: The current connection has stayed open min_uptime seconds: it counts as a success."""


class Effect(enum.StrEnum):
    """The client machine's effect vocabulary (its spec's [effects] table)."""

    ATTEMPT = "attempt"
    """Start one connection attempt (wsstate.connect with the client's options) in a task; its end is fed as connected, refused_* or give_up."""
    CANCEL_ATTEMPT = "cancel_attempt"
    """Cancel the attempt in progress; its end is then fed as refused_retryable, or as connected if the handshake won the race."""
    ADOPT_CONNECTION = "adopt_connection"
    """The new connection becomes client.connection, client.generation grows by one, and a reader feeds its messages and, once, its closure."""
    RUN_ON_OPEN = "run_on_open"
    """Await on_open(conn): its own sends go out first (re-authenticate, resume a session)."""
    FLUSH_BUFFER = "flush_buffer"
    """Send the buffered messages in order on the new connection, each taken out of the buffer before it is sent (at most once); then feed ready."""
    CLOSE_CONNECTION = "close_connection"
    """Close the current connection with close()'s code and reason; its closure is fed as closed_*."""
    RELEASE_CONNECTION = "release_connection"
    """The closed connection is released: on_close(conn) runs once, client.connection becomes None."""
    COUNT_ATTEMPT = "count_attempt"
    """client.attempts grows by one: an attempt failed, or its connection closed before min_uptime."""
    RESET_ATTEMPTS = "reset_attempts"
    """client.attempts becomes 0: the connection stayed open min_uptime, so the backoff starts again from backoff_initial."""
    FLOOR_DELAY = "floor_delay"
    """The server's Retry-After (or 1013's reason) becomes a floor for the next delay."""
    TRANSMIT = "transmit"
    """Send the message on the current connection; try_send returns what the connection's try_send returned."""
    BUFFER = "buffer"
    """Keep the message in the bounded buffer (max_buffered); try_send returns True."""
    REJECT = "reject"
    """Neither sent nor kept: try_send returns False, send raises ConnectionClosed."""
    WARN_OVERFLOW = "warn_overflow"
    """Count the refused message; log one WARNING per disconnected period."""
    DROP_BUFFER = "drop_buffer"
    """Discard the buffered messages (counted in client.stats.dropped)."""
    RETURN_TRUE = "return:true"
    """start() or close() returns True: this call started (or stopped) the client."""
    RETURN_FALSE = "return:false"
    """start() or close() returns False: another call did."""
    WAIT_STOPPED = "wait_stopped"
    """close() waits until the client is STOPPED."""
    NOTIFY_STOPPED = "notify_stopped"
    """The client is STOPPED: iteration over messages ends, close() waiters wake up."""
    ARM_BACKOFF_TIMER = "arm:backoff_timer"
    """Start the backoff delay: uniform(0, min(backoff_max, backoff_initial * factor^(attempts-1))), at least the floor."""
    CANCEL_BACKOFF_TIMER = "cancel:backoff_timer"
    """Stop the backoff delay: no attempt follows it."""
    ARM_UPTIME_TIMER = "arm:uptime_timer"
    """Start the min_uptime timer of the new connection."""
    CANCEL_UPTIME_TIMER = "cancel:uptime_timer"
    """Stop the min_uptime timer: the connection closed (or is closing) before it ran out."""


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
TERMINAL: Final[frozenset[State]] = frozenset({State.STOPPED})
INITIAL_EFFECTS: Final[tuple[Effect, ...]] = ()
EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(
    {
        Event.START: "local",
        Event.APP_SEND: "local",
        Event.APP_SEND_FULL: "local",
        Event.APP_CLOSE: "local",
        Event.CONNECTED: "remote",
        Event.READY: "remote",
        Event.REFUSED_RETRYABLE: "remote",
        Event.REFUSED_RETRY_AFTER: "remote",
        Event.REFUSED_FATAL: "remote",
        Event.CLOSED_RETRYABLE: "remote",
        Event.CLOSED_RETRY_AFTER: "remote",
        Event.CLOSED_FATAL: "remote",
        Event.GIVE_UP: "remote",
        Event.BACKOFF_ELAPSED: "timer",
        Event.MIN_UPTIME_ELAPSED: "timer",
    }
)
EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.ATTEMPT: "Start one connection attempt (wsstate.connect with the client's options) in a task; its end is fed as connected, refused_* or give_up.",
        Effect.CANCEL_ATTEMPT: "Cancel the attempt in progress; its end is then fed as refused_retryable, or as connected if the handshake won the race.",
        Effect.ADOPT_CONNECTION: "The new connection becomes client.connection, client.generation grows by one, and a reader feeds its messages and, once, its closure.",
        Effect.RUN_ON_OPEN: "Await on_open(conn): its own sends go out first (re-authenticate, resume a session).",
        Effect.FLUSH_BUFFER: "Send the buffered messages in order on the new connection, each taken out of the buffer before it is sent (at most once); then feed ready.",
        Effect.CLOSE_CONNECTION: "Close the current connection with close()'s code and reason; its closure is fed as closed_*.",
        Effect.RELEASE_CONNECTION: "The closed connection is released: on_close(conn) runs once, client.connection becomes None.",
        Effect.COUNT_ATTEMPT: "client.attempts grows by one: an attempt failed, or its connection closed before min_uptime.",
        Effect.RESET_ATTEMPTS: "client.attempts becomes 0: the connection stayed open min_uptime, so the backoff starts again from backoff_initial.",
        Effect.FLOOR_DELAY: "The server's Retry-After (or 1013's reason) becomes a floor for the next delay.",
        Effect.TRANSMIT: "Send the message on the current connection; try_send returns what the connection's try_send returned.",
        Effect.BUFFER: "Keep the message in the bounded buffer (max_buffered); try_send returns True.",
        Effect.REJECT: "Neither sent nor kept: try_send returns False, send raises ConnectionClosed.",
        Effect.WARN_OVERFLOW: "Count the refused message; log one WARNING per disconnected period.",
        Effect.DROP_BUFFER: "Discard the buffered messages (counted in client.stats.dropped).",
        Effect.RETURN_TRUE: "start() or close() returns True: this call started (or stopped) the client.",
        Effect.RETURN_FALSE: "start() or close() returns False: another call did.",
        Effect.WAIT_STOPPED: "close() waits until the client is STOPPED.",
        Effect.NOTIFY_STOPPED: "The client is STOPPED: iteration over messages ends, close() waiters wake up.",
        Effect.ARM_BACKOFF_TIMER: "Start the backoff delay: uniform(0, min(backoff_max, backoff_initial * factor^(attempts-1))), at least the floor.",
        Effect.CANCEL_BACKOFF_TIMER: "Stop the backoff delay: no attempt follows it.",
        Effect.ARM_UPTIME_TIMER: "Start the min_uptime timer of the new connection.",
        Effect.CANCEL_UPTIME_TIMER: "Stop the min_uptime timer: the connection closed (or is closing) before it ran out.",
    }
)
TIMERS: Final[Mapping[str, Event]] = MappingProxyType(
    {
        "backoff_timer": Event.BACKOFF_ELAPSED,
        "uptime_timer": Event.MIN_UPTIME_ELAPSED,
    }
)
"""Timers the ``arm:``/``cancel:`` effects name -> the event each fires."""

_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(
    {
        # line 88
        (State.IDLE, Event.START): Row(
            State.CONNECTING,
            (Effect.ATTEMPT, Effect.RETURN_TRUE,),
            _I,
            "The first attempt is made at once.",
        ),
        # line 89
        (State.IDLE, Event.APP_SEND): Row(
            State.IDLE,
            (Effect.BUFFER,),
            _D,
            "Not started: kept for the first connection (scenario 34).",
        ),
        # line 90
        (State.IDLE, Event.APP_SEND_FULL): Row(
            State.IDLE,
            (Effect.REJECT, Effect.WARN_OVERFLOW,),
            _D,
            "Buffer full: refused, one WARNING per disconnected period (scenario 34).",
        ),
        # line 91
        (State.IDLE, Event.APP_CLOSE): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.RETURN_TRUE, Effect.NOTIFY_STOPPED,),
            _I,
            "Closed before it started: no attempt is ever made.",
        ),
        # line 92
        (State.IDLE, Event.CONNECTED): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 93
        (State.IDLE, Event.READY): Row(
            None,
            (),
            _E,
            "No connection.",
        ),
        # line 94
        (State.IDLE, Event.REFUSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 95
        (State.IDLE, Event.REFUSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 96
        (State.IDLE, Event.REFUSED_FATAL): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 97
        (State.IDLE, Event.CLOSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No connection.",
        ),
        # line 98
        (State.IDLE, Event.CLOSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No connection.",
        ),
        # line 99
        (State.IDLE, Event.CLOSED_FATAL): Row(
            None,
            (),
            _E,
            "No connection.",
        ),
        # line 100
        (State.IDLE, Event.GIVE_UP): Row(
            None,
            (),
            _E,
            "No attempt was made.",
        ),
        # line 101
        (State.IDLE, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer is not armed.",
        ),
        # line 102
        (State.IDLE, Event.MIN_UPTIME_ELAPSED): Row(
            None,
            (),
            _E,
            "The uptime timer is not armed.",
        ),
        # line 105
        (State.CONNECTING, Event.START): Row(
            State.CONNECTING,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 106
        (State.CONNECTING, Event.APP_SEND): Row(
            State.CONNECTING,
            (Effect.BUFFER,),
            _D,
            "No connection yet: kept for it (scenario 34).",
        ),
        # line 107
        (State.CONNECTING, Event.APP_SEND_FULL): Row(
            State.CONNECTING,
            (Effect.REJECT, Effect.WARN_OVERFLOW,),
            _D,
            "Buffer full: refused, one WARNING per disconnected period.",
        ),
        # line 108
        (State.CONNECTING, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.CANCEL_ATTEMPT, Effect.RETURN_TRUE, Effect.WAIT_STOPPED,),
            _I,
            "The attempt is cancelled; no other follows (scenario 33).",
        ),
        # line 109
        (State.CONNECTING, Event.CONNECTED): Row(
            State.OPENING,
            (Effect.ADOPT_CONNECTION, Effect.ARM_UPTIME_TIMER, Effect.RUN_ON_OPEN, Effect.FLUSH_BUFFER,),
            _I,
            "on_open's sends first, then the buffer in order (scenario 34). The counter is NOT reset here: an accept-then-close server would get a tight loop (scenario 29).",
        ),
        # line 110
        (State.CONNECTING, Event.READY): Row(
            None,
            (),
            _E,
            "No connection yet.",
        ),
        # line 111
        (State.CONNECTING, Event.REFUSED_RETRYABLE): Row(
            State.BACKOFF,
            (Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "A transient failure: retried after a jittered delay.",
        ),
        # line 112
        (State.CONNECTING, Event.REFUSED_RETRY_AFTER): Row(
            State.BACKOFF,
            (Effect.COUNT_ATTEMPT, Effect.FLOOR_DELAY, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "429/503 with Retry-After: retried, not before it (scenario 31).",
        ),
        # line 113
        (State.CONNECTING, Event.REFUSED_FATAL): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "Refused for good (401, 403, ...): no retry (scenario 32).",
        ),
        # line 114
        (State.CONNECTING, Event.CLOSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No connection yet; a closure is fed once per connection, by its reader.",
        ),
        # line 115
        (State.CONNECTING, Event.CLOSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No connection yet; a closure is fed once per connection, by its reader.",
        ),
        # line 116
        (State.CONNECTING, Event.CLOSED_FATAL): Row(
            None,
            (),
            _E,
            "No connection yet; a closure is fed once per connection, by its reader.",
        ),
        # line 117
        (State.CONNECTING, Event.GIVE_UP): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "max_attempts consecutive failures: the client gives up, once.",
        ),
        # line 118
        (State.CONNECTING, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer was not armed for this attempt.",
        ),
        # line 119
        (State.CONNECTING, Event.MIN_UPTIME_ELAPSED): Row(
            None,
            (),
            _E,
            "The uptime timer is cancelled with every closure.",
        ),
        # line 122
        (State.OPENING, Event.START): Row(
            State.OPENING,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 123
        (State.OPENING, Event.APP_SEND): Row(
            State.OPENING,
            (Effect.BUFFER,),
            _D,
            "Behind on_open's sends and the buffer: kept, flushed in order (scenario 34).",
        ),
        # line 124
        (State.OPENING, Event.APP_SEND_FULL): Row(
            State.OPENING,
            (Effect.REJECT, Effect.WARN_OVERFLOW,),
            _D,
            "Buffer full while it is being flushed: refused.",
        ),
        # line 125
        (State.OPENING, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.CANCEL_UPTIME_TIMER, Effect.CLOSE_CONNECTION, Effect.RETURN_TRUE, Effect.WAIT_STOPPED,),
            _I,
            "The new connection is closed; no attempt follows.",
        ),
        # line 126
        (State.OPENING, Event.CONNECTED): Row(
            None,
            (),
            _E,
            "One attempt at a time.",
        ),
        # line 127
        (State.OPENING, Event.READY): Row(
            State.OPEN,
            (),
            _D,
            "on_open and the buffer are done: sends go straight to the connection.",
        ),
        # line 128
        (State.OPENING, Event.REFUSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "The attempt already ended.",
        ),
        # line 129
        (State.OPENING, Event.REFUSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "The attempt already ended.",
        ),
        # line 130
        (State.OPENING, Event.REFUSED_FATAL): Row(
            None,
            (),
            _E,
            "The attempt already ended.",
        ),
        # line 131
        (State.OPENING, Event.CLOSED_RETRYABLE): Row(
            State.BACKOFF,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "Closed while on_open ran: a failed attempt, with a delay (scenario 29).",
        ),
        # line 132
        (State.OPENING, Event.CLOSED_RETRY_AFTER): Row(
            State.BACKOFF,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.COUNT_ATTEMPT, Effect.FLOOR_DELAY, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "1013 while on_open ran: retried, not before the floor (scenario 31).",
        ),
        # line 133
        (State.OPENING, Event.CLOSED_FATAL): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "Closed for good (1008, 4xxx): no retry (scenario 32).",
        ),
        # line 134
        (State.OPENING, Event.GIVE_UP): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "max_attempts consecutive failures: the client gives up, once.",
        ),
        # line 135
        (State.OPENING, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer ran out before this attempt.",
        ),
        # line 136
        (State.OPENING, Event.MIN_UPTIME_ELAPSED): Row(
            State.OPENING,
            (Effect.RESET_ATTEMPTS,),
            _D,
            "A slow on_open, but the connection stayed up: a success.",
        ),
        # line 139
        (State.OPEN, Event.START): Row(
            State.OPEN,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 140
        (State.OPEN, Event.APP_SEND): Row(
            State.OPEN,
            (Effect.TRANSMIT,),
            _D,
            "Sent on the current connection.",
        ),
        # line 141
        (State.OPEN, Event.APP_SEND_FULL): Row(
            State.OPEN,
            (Effect.TRANSMIT,),
            _D,
            "The buffer is not used while OPEN (max_buffered=0 included).",
        ),
        # line 142
        (State.OPEN, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.CANCEL_UPTIME_TIMER, Effect.CLOSE_CONNECTION, Effect.RETURN_TRUE, Effect.WAIT_STOPPED,),
            _I,
            "The connection is closed; no attempt follows.",
        ),
        # line 143
        (State.OPEN, Event.CONNECTED): Row(
            None,
            (),
            _E,
            "One attempt at a time.",
        ),
        # line 144
        (State.OPEN, Event.READY): Row(
            None,
            (),
            _E,
            "Fed once per connection.",
        ),
        # line 145
        (State.OPEN, Event.REFUSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 146
        (State.OPEN, Event.REFUSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 147
        (State.OPEN, Event.REFUSED_FATAL): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 148
        (State.OPEN, Event.CLOSED_RETRYABLE): Row(
            State.BACKOFF,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.COUNT_ATTEMPT, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "Lost (1001, 1006, 1012...): reconnect after a jittered delay, even after a long uptime (scenario 30: the herd is spread).",
        ),
        # line 149
        (State.OPEN, Event.CLOSED_RETRY_AFTER): Row(
            State.BACKOFF,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.COUNT_ATTEMPT, Effect.FLOOR_DELAY, Effect.ARM_BACKOFF_TIMER,),
            _I,
            "1013 Try Again Later: not before the floor (scenario 31).",
        ),
        # line 150
        (State.OPEN, Event.CLOSED_FATAL): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "Closed for good (1008, 4xxx): no retry (scenario 32).",
        ),
        # line 151
        (State.OPEN, Event.GIVE_UP): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.CANCEL_UPTIME_TIMER, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _W,
            "max_attempts consecutive failures: the client gives up, once.",
        ),
        # line 152
        (State.OPEN, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer ran out before this attempt.",
        ),
        # line 153
        (State.OPEN, Event.MIN_UPTIME_ELAPSED): Row(
            State.OPEN,
            (Effect.RESET_ATTEMPTS,),
            _D,
            "Stayed up min_uptime: only now does the backoff start again from the beginning (scenario 29).",
        ),
        # line 156
        (State.BACKOFF, Event.START): Row(
            State.BACKOFF,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started.",
        ),
        # line 157
        (State.BACKOFF, Event.APP_SEND): Row(
            State.BACKOFF,
            (Effect.BUFFER,),
            _D,
            "Disconnected: kept for the next connection (scenario 34).",
        ),
        # line 158
        (State.BACKOFF, Event.APP_SEND_FULL): Row(
            State.BACKOFF,
            (Effect.REJECT, Effect.WARN_OVERFLOW,),
            _D,
            "Buffer full: refused, one WARNING per disconnected period (scenario 34).",
        ),
        # line 159
        (State.BACKOFF, Event.APP_CLOSE): Row(
            State.STOPPED,
            (Effect.CANCEL_BACKOFF_TIMER, Effect.DROP_BUFFER, Effect.RETURN_TRUE, Effect.NOTIFY_STOPPED,),
            _I,
            "The pending delay is cancelled: STOPPED at once, no further attempt (scenario 33).",
        ),
        # line 160
        (State.BACKOFF, Event.CONNECTED): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 161
        (State.BACKOFF, Event.READY): Row(
            None,
            (),
            _E,
            "No connection.",
        ),
        # line 162
        (State.BACKOFF, Event.REFUSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 163
        (State.BACKOFF, Event.REFUSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 164
        (State.BACKOFF, Event.REFUSED_FATAL): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 165
        (State.BACKOFF, Event.CLOSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "The connection was released; its closure is fed once (scenario 33: one loop).",
        ),
        # line 166
        (State.BACKOFF, Event.CLOSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "The connection was released; its closure is fed once (scenario 33: one loop).",
        ),
        # line 167
        (State.BACKOFF, Event.CLOSED_FATAL): Row(
            None,
            (),
            _E,
            "The connection was released; its closure is fed once (scenario 33: one loop).",
        ),
        # line 168
        (State.BACKOFF, Event.GIVE_UP): Row(
            None,
            (),
            _E,
            "No attempt in progress.",
        ),
        # line 169
        (State.BACKOFF, Event.BACKOFF_ELAPSED): Row(
            State.CONNECTING,
            (Effect.ATTEMPT,),
            _I,
            "The delay ran out: the next attempt.",
        ),
        # line 170
        (State.BACKOFF, Event.MIN_UPTIME_ELAPSED): Row(
            None,
            (),
            _E,
            "The uptime timer is cancelled with every closure.",
        ),
        # line 173
        (State.CLOSING, Event.START): Row(
            State.CLOSING,
            (Effect.RETURN_FALSE,),
            _D,
            "Already started, and closing.",
        ),
        # line 174
        (State.CLOSING, Event.APP_SEND): Row(
            State.CLOSING,
            (Effect.REJECT,),
            _D,
            "Closing: refused, nothing is kept.",
        ),
        # line 175
        (State.CLOSING, Event.APP_SEND_FULL): Row(
            State.CLOSING,
            (Effect.REJECT,),
            _D,
            "Closing: refused, nothing is kept.",
        ),
        # line 176
        (State.CLOSING, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.RETURN_FALSE, Effect.WAIT_STOPPED,),
            _D,
            "close() twice: the first call's code wins; this one waits.",
        ),
        # line 177
        (State.CLOSING, Event.CONNECTED): Row(
            State.CLOSING,
            (Effect.ADOPT_CONNECTION, Effect.CLOSE_CONNECTION,),
            _D,
            "The handshake won the race with the cancellation: closed at once.",
        ),
        # line 178
        (State.CLOSING, Event.READY): Row(
            State.CLOSING,
            (),
            _D,
            "The flush ended after close(): nothing to do.",
        ),
        # line 179
        (State.CLOSING, Event.REFUSED_RETRYABLE): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The cancelled attempt ended: no retry after close().",
        ),
        # line 180
        (State.CLOSING, Event.REFUSED_RETRY_AFTER): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The cancelled attempt ended: no retry after close().",
        ),
        # line 181
        (State.CLOSING, Event.REFUSED_FATAL): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The cancelled attempt ended: no retry after close().",
        ),
        # line 182
        (State.CLOSING, Event.CLOSED_RETRYABLE): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The connection we closed is closed.",
        ),
        # line 183
        (State.CLOSING, Event.CLOSED_RETRY_AFTER): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The connection we closed is closed.",
        ),
        # line 184
        (State.CLOSING, Event.CLOSED_FATAL): Row(
            State.STOPPED,
            (Effect.RELEASE_CONNECTION, Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The connection we closed is closed.",
        ),
        # line 185
        (State.CLOSING, Event.GIVE_UP): Row(
            State.STOPPED,
            (Effect.DROP_BUFFER, Effect.NOTIFY_STOPPED,),
            _D,
            "The cancelled attempt ended: no retry after close().",
        ),
        # line 186
        (State.CLOSING, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "The backoff timer is cancelled by close() (CLOSING is never entered from BACKOFF).",
        ),
        # line 187
        (State.CLOSING, Event.MIN_UPTIME_ELAPSED): Row(
            None,
            (),
            _E,
            "The uptime timer is cancelled by close().",
        ),
        # line 190
        (State.STOPPED, Event.START): Row(
            State.STOPPED,
            (Effect.RETURN_FALSE,),
            _D,
            "Stopped for good: a client is not restarted.",
        ),
        # line 191
        (State.STOPPED, Event.APP_SEND): Row(
            State.STOPPED,
            (Effect.REJECT,),
            _D,
            "Stopped: refused.",
        ),
        # line 192
        (State.STOPPED, Event.APP_SEND_FULL): Row(
            State.STOPPED,
            (Effect.REJECT,),
            _D,
            "Stopped: refused.",
        ),
        # line 193
        (State.STOPPED, Event.APP_CLOSE): Row(
            State.STOPPED,
            (Effect.RETURN_FALSE,),
            _D,
            "Idempotent.",
        ),
        # line 194
        (State.STOPPED, Event.CONNECTED): Row(
            None,
            (),
            _E,
            "No attempt is ever in progress in STOPPED.",
        ),
        # line 195
        (State.STOPPED, Event.READY): Row(
            None,
            (),
            _E,
            "No connection in STOPPED.",
        ),
        # line 196
        (State.STOPPED, Event.REFUSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No attempt is ever in progress in STOPPED.",
        ),
        # line 197
        (State.STOPPED, Event.REFUSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No attempt is ever in progress in STOPPED.",
        ),
        # line 198
        (State.STOPPED, Event.REFUSED_FATAL): Row(
            None,
            (),
            _E,
            "No attempt is ever in progress in STOPPED.",
        ),
        # line 199
        (State.STOPPED, Event.CLOSED_RETRYABLE): Row(
            None,
            (),
            _E,
            "No connection in STOPPED: released on the way.",
        ),
        # line 200
        (State.STOPPED, Event.CLOSED_RETRY_AFTER): Row(
            None,
            (),
            _E,
            "No connection in STOPPED: released on the way.",
        ),
        # line 201
        (State.STOPPED, Event.CLOSED_FATAL): Row(
            None,
            (),
            _E,
            "No connection in STOPPED: released on the way.",
        ),
        # line 202
        (State.STOPPED, Event.GIVE_UP): Row(
            None,
            (),
            _E,
            "No attempt is ever in progress in STOPPED.",
        ),
        # line 203
        (State.STOPPED, Event.BACKOFF_ELAPSED): Row(
            None,
            (),
            _E,
            "Every timer is cancelled on the way to STOPPED.",
        ),
        # line 204
        (State.STOPPED, Event.MIN_UPTIME_ELAPSED): Row(
            None,
            (),
            _E,
            "Every timer is cancelled on the way to STOPPED.",
        ),
    }
)
"""The total transition table: every (state, event) pair has a row."""
