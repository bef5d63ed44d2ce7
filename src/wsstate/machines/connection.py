# GENERATED FILE - DO NOT EDIT.
# Source: spec/connection.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The connection machine, generated from spec/connection.toml.

One WebSocket connection, seen from one endpoint (server or client).

``TABLE`` is the runtime's engine: one dict lookup per event. The reference
model of the same table (python-statemachine) is ``wsstate.testing.charts.connection``,
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
    """States of the connection machine."""

    CONNECTING = "CONNECTING"
    """The opening handshake is in progress; nothing may be sent or received yet."""
    OPEN = "OPEN"
    """The handshake completed; data flows both ways."""
    CLOSING = "CLOSING"
    """We sent a Close frame and wait for the peer's; sends fail fast, received data is still delivered."""
    CLOSE_RECEIVED = "CLOSE_RECEIVED"
    """The peer's Close frame arrived and we echoed it; we wait for the transport to end."""
    CLOSED = "CLOSED"
    """Terminal: the transport is gone; every operation is a quiet no-op."""


class Event(enum.StrEnum):
    """Events the machine reacts to."""

    APP_SEND = "app_send"
    """local: The application sends a data message (send, try_send, send_threadsafe)."""
    APP_PING = "app_ping"
    """local: The application sends a ping."""
    APP_RECV = "app_recv"
    """local: The application asks for the next received message."""
    APP_ACCEPT = "app_accept"
    """local: The application accepts the opening handshake (adapters whose application completes it: ASGI)."""
    APP_CLOSE = "app_close"
    """local: The application calls close() with a valid code and reason."""
    APP_CLOSE_INVALID = "app_close_invalid"
    """local: The application calls close() with an invalid code or reason."""
    APP_ABORT = "app_abort"
    """local: The application calls abort(): drop the transport without a closing handshake."""
    HANDSHAKE_OK = "handshake_ok"
    """remote: The opening handshake completed (accepted, or the server's 101 received)."""
    HANDSHAKE_FAIL = "handshake_fail"
    """remote: The opening handshake failed or the peer left during it."""
    PEER_DATA = "peer_data"
    """remote: A data message arrived from the peer."""
    PEER_CLOSE = "peer_close"
    """remote: A Close frame with a valid code (or no code) arrived from the peer."""
    PEER_CLOSE_INVALID = "peer_close_invalid"
    """remote: A Close frame with a reserved or invalid code or reason arrived."""
    PEER_PROTOCOL_ERROR = "peer_protocol_error"
    """remote: The peer violated the protocol (bad frame, frame after its Close)."""
    TRANSPORT_EOF = "transport_eof"
    """transport: The transport ended cleanly (TCP FIN) with no Close frame in between."""
    TRANSPORT_ERROR = "transport_error"
    """transport: The transport failed (TCP RST, OSError, connection lost)."""
    TRANSPORT_STALLED = "transport_stalled"
    """transport: The outgoing buffer stayed full for the write timeout: a slow reader."""
    OPEN_TIMEOUT = "open_timeout"
    """timer: The open timer fired: the handshake took too long."""
    CLOSE_TIMEOUT = "close_timeout"
    """timer: The close timer fired: the closing handshake or teardown took too long."""
    KEEPALIVE_TIMEOUT = "keepalive_timeout"
    """timer: A keepalive ping got no pong in time: the peer is unresponsive (half-open)."""
    LIBRARY_CLOSE = "library_close"
    """transport: The transport library sent a Close frame on its own, on the application's behalf: its code does not blame the peer (a server handler returned, 1000, or raised, 1011; the server shuts down, 1001)."""
    APP_ACCEPT_AGAIN = "app_accept_again"
    """local: The application calls accept() once the transport already has the handshake (a second accept(), while the first runs or after)."""
    LIBRARY_CLOSE_PEER_FAULT = "library_close_peer_fault"
    """remote: The transport library failed the connection because of the peer: its own Close frame carries 1002, 1003, 1007 or 1009 (protocol error, unsupported data, invalid payload, message too big)."""


class Effect(enum.StrEnum):
    """The connection machine's effect vocabulary (its spec's [effects] table)."""

    TRANSMIT = "transmit"
    """Send the data message on the wire; try_send returns True."""
    TRANSMIT_PING = "transmit_ping"
    """Send a Ping frame."""
    DROP = "drop"
    """Do not send: send() raises ConnectionClosed, try_send() and send_threadsafe() return False. No frame reaches the wire."""
    DELIVER = "deliver"
    """Queue the received message for recv(), in arrival order."""
    READ = "read"
    """recv() waits for the next message."""
    ACCEPT_HANDSHAKE = "accept_handshake"
    """accept() completes the opening handshake through the transport; its outcome is fed as handshake_ok or handshake_fail."""
    READ_BUFFERED = "read_buffered"
    """recv() returns the messages already received, then raises ConnectionClosed (iteration ends quietly)."""
    RAISE_INVALID_STATE = "raise:InvalidState"
    """Raise wsstate.InvalidState at once: API misuse."""
    RAISE_INVALID_CLOSE_ARGS = "raise:InvalidCloseArgs"
    """Raise wsstate.InvalidCloseCode or wsstate.InvalidCloseReason (ValueError subclasses); nothing changes."""
    RETURN_TRUE = "return:true"
    """close() or abort() returns True: this call started the closure; accept() returns True: the handshake completed."""
    RETURN_FALSE = "return:false"
    """close() or abort() returns False: another call started it; accept() returns False: the connection ended first."""
    WAIT_CLOSED = "wait_closed"
    """close() waits until the connection is CLOSED (bounded by the close timer)."""
    EMIT_CLOSE_FRAME = "emit_close_frame"
    """Send a Close frame: the row's code and reason if it has them, else the event's (the application's; for a library close, the library's own, already on the wire: nothing more is sent)."""
    ECHO_CLOSE_FRAME = "echo_close_frame"
    """Send a Close frame echoing the peer's code."""
    CLOSE_TRANSPORT = "close_transport"
    """End the transport gracefully (TCP FIN after pending data)."""
    ABORT_TRANSPORT = "abort_transport"
    """Drop the transport at once (TCP RST where possible)."""
    ARM_OPEN_TIMER = "arm:open_timer"
    """Start the open (handshake) timer; open_timeout fires if it runs out."""
    CANCEL_OPEN_TIMER = "cancel:open_timer"
    """Stop the open timer."""
    ARM_CLOSE_TIMER = "arm:close_timer"
    """Start the close timer; close_timeout fires if it runs out."""
    CANCEL_CLOSE_TIMER = "cancel:close_timer"
    """Stop the close timer."""
    ARM_KEEPALIVE = "arm:keepalive"
    """Start keepalive pings; keepalive_timeout fires when a pong is late."""
    CANCEL_KEEPALIVE = "cancel:keepalive"
    """Stop keepalive pings."""
    RECORD_CLOSE_LOCAL = "record_close:local"
    """Record the closure as started by us (code: the Close we, or the library on our behalf, send)."""
    RECORD_CLOSE_REMOTE = "record_close:remote"
    """Record the closure as started by the peer (code: the peer's Close, or the library's when it failed the connection because of the peer)."""
    RECORD_CLOSE_TRANSPORT = "record_close:transport"
    """Record the closure as a transport loss (code 1006)."""
    RECORD_CLOSE_TIMEOUT = "record_close:timeout"
    """Record the closure as a timeout (code: the row's, else 1006)."""
    MARK_CLEAN = "mark_clean"
    """Mark the closure clean: both Close frames were exchanged."""
    NOTIFY_CLOSED = "notify_closed"
    """Fire the closed callbacks (exactly once per connection)."""


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


INITIAL: Final = State.CONNECTING
TERMINAL: Final[frozenset[State]] = frozenset({State.CLOSED})
INITIAL_EFFECTS: Final[tuple[Effect, ...]] = (Effect.ARM_OPEN_TIMER,)
EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(
    {
        Event.APP_SEND: "local",
        Event.APP_PING: "local",
        Event.APP_RECV: "local",
        Event.APP_ACCEPT: "local",
        Event.APP_CLOSE: "local",
        Event.APP_CLOSE_INVALID: "local",
        Event.APP_ABORT: "local",
        Event.HANDSHAKE_OK: "remote",
        Event.HANDSHAKE_FAIL: "remote",
        Event.PEER_DATA: "remote",
        Event.PEER_CLOSE: "remote",
        Event.PEER_CLOSE_INVALID: "remote",
        Event.PEER_PROTOCOL_ERROR: "remote",
        Event.TRANSPORT_EOF: "transport",
        Event.TRANSPORT_ERROR: "transport",
        Event.TRANSPORT_STALLED: "transport",
        Event.OPEN_TIMEOUT: "timer",
        Event.CLOSE_TIMEOUT: "timer",
        Event.KEEPALIVE_TIMEOUT: "timer",
        Event.LIBRARY_CLOSE: "transport",
        Event.APP_ACCEPT_AGAIN: "local",
        Event.LIBRARY_CLOSE_PEER_FAULT: "remote",
    }
)
EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.TRANSMIT: "Send the data message on the wire; try_send returns True.",
        Effect.TRANSMIT_PING: "Send a Ping frame.",
        Effect.DROP: "Do not send: send() raises ConnectionClosed, try_send() and send_threadsafe() return False. No frame reaches the wire.",
        Effect.DELIVER: "Queue the received message for recv(), in arrival order.",
        Effect.READ: "recv() waits for the next message.",
        Effect.ACCEPT_HANDSHAKE: "accept() completes the opening handshake through the transport; its outcome is fed as handshake_ok or handshake_fail.",
        Effect.READ_BUFFERED: "recv() returns the messages already received, then raises ConnectionClosed (iteration ends quietly).",
        Effect.RAISE_INVALID_STATE: "Raise wsstate.InvalidState at once: API misuse.",
        Effect.RAISE_INVALID_CLOSE_ARGS: "Raise wsstate.InvalidCloseCode or wsstate.InvalidCloseReason (ValueError subclasses); nothing changes.",
        Effect.RETURN_TRUE: "close() or abort() returns True: this call started the closure; accept() returns True: the handshake completed.",
        Effect.RETURN_FALSE: "close() or abort() returns False: another call started it; accept() returns False: the connection ended first.",
        Effect.WAIT_CLOSED: "close() waits until the connection is CLOSED (bounded by the close timer).",
        Effect.EMIT_CLOSE_FRAME: "Send a Close frame: the row's code and reason if it has them, else the event's (the application's; for a library close, the library's own, already on the wire: nothing more is sent).",
        Effect.ECHO_CLOSE_FRAME: "Send a Close frame echoing the peer's code.",
        Effect.CLOSE_TRANSPORT: "End the transport gracefully (TCP FIN after pending data).",
        Effect.ABORT_TRANSPORT: "Drop the transport at once (TCP RST where possible).",
        Effect.ARM_OPEN_TIMER: "Start the open (handshake) timer; open_timeout fires if it runs out.",
        Effect.CANCEL_OPEN_TIMER: "Stop the open timer.",
        Effect.ARM_CLOSE_TIMER: "Start the close timer; close_timeout fires if it runs out.",
        Effect.CANCEL_CLOSE_TIMER: "Stop the close timer.",
        Effect.ARM_KEEPALIVE: "Start keepalive pings; keepalive_timeout fires when a pong is late.",
        Effect.CANCEL_KEEPALIVE: "Stop keepalive pings.",
        Effect.RECORD_CLOSE_LOCAL: "Record the closure as started by us (code: the Close we, or the library on our behalf, send).",
        Effect.RECORD_CLOSE_REMOTE: "Record the closure as started by the peer (code: the peer's Close, or the library's when it failed the connection because of the peer).",
        Effect.RECORD_CLOSE_TRANSPORT: "Record the closure as a transport loss (code 1006).",
        Effect.RECORD_CLOSE_TIMEOUT: "Record the closure as a timeout (code: the row's, else 1006).",
        Effect.MARK_CLEAN: "Mark the closure clean: both Close frames were exchanged.",
        Effect.NOTIFY_CLOSED: "Fire the closed callbacks (exactly once per connection).",
    }
)
TIMERS: Final[Mapping[str, Event]] = MappingProxyType(
    {
        "open_timer": Event.OPEN_TIMEOUT,
        "close_timer": Event.CLOSE_TIMEOUT,
        "keepalive": Event.KEEPALIVE_TIMEOUT,
    }
)
"""Timers the ``arm:``/``cancel:`` effects name -> the event each fires."""

_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(
    {
        # line 111
        (State.CONNECTING, Event.APP_SEND): Row(
            State.CONNECTING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "send before the handshake completed is API misuse: raised at once",
        ),
        # line 112
        (State.CONNECTING, Event.APP_PING): Row(
            State.CONNECTING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "ping before the handshake completed is API misuse: raised at once",
        ),
        # line 113
        (State.CONNECTING, Event.APP_RECV): Row(
            State.CONNECTING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "receive before the handshake completed is API misuse: raised at once",
        ),
        # line 114
        (State.CONNECTING, Event.APP_ACCEPT): Row(
            State.CONNECTING,
            (Effect.ACCEPT_HANDSHAKE,),
            _D,
            "the transport completes the handshake; its outcome arrives as handshake_ok or handshake_fail",
        ),
        # line 116
        (State.CONNECTING, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_OPEN_TIMER, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_LOCAL, Effect.NOTIFY_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "closing during the handshake rejects it (HTTP 403 on a server); no Close frame exists yet",
        ),
        # line 117
        (State.CONNECTING, Event.APP_CLOSE_INVALID): Row(
            State.CONNECTING,
            (Effect.RAISE_INVALID_CLOSE_ARGS,),
            _D,
            "invalid code or reason: rejected before any state change",
        ),
        # line 118
        (State.CONNECTING, Event.APP_ABORT): Row(
            State.CLOSED,
            (Effect.CANCEL_OPEN_TIMER, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_LOCAL, Effect.NOTIFY_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "abort during the handshake drops the transport",
        ),
        # line 119
        (State.CONNECTING, Event.HANDSHAKE_OK): Row(
            State.OPEN,
            (Effect.CANCEL_OPEN_TIMER, Effect.ARM_KEEPALIVE, Effect.RETURN_TRUE,),
            _D,
            "handshake complete: accept() returns True; keepalive starts",
        ),
        # line 120
        (State.CONNECTING, Event.HANDSHAKE_FAIL): Row(
            State.CLOSED,
            (Effect.CANCEL_OPEN_TIMER, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_REMOTE, Effect.NOTIFY_CLOSED, Effect.RETURN_FALSE,),
            _D,
            "peer left or refused during the handshake (scenario 14): accept() returns False, peer gone",
        ),
        # line 121
        (State.CONNECTING, Event.PEER_DATA): Row(
            None,
            (),
            _E,
            "no data frame can arrive before the handshake completes",
        ),
        # line 122
        (State.CONNECTING, Event.PEER_CLOSE): Row(
            None,
            (),
            _E,
            "no Close frame can arrive before the handshake completes",
        ),
        # line 123
        (State.CONNECTING, Event.PEER_CLOSE_INVALID): Row(
            None,
            (),
            _E,
            "no Close frame can arrive before the handshake completes",
        ),
        # line 124
        (State.CONNECTING, Event.PEER_PROTOCOL_ERROR): Row(
            None,
            (),
            _E,
            "a bad handshake is reported as handshake_fail",
        ),
        # line 125
        (State.CONNECTING, Event.TRANSPORT_EOF): Row(
            State.CLOSED,
            (Effect.CANCEL_OPEN_TIMER, Effect.CLOSE_TRANSPORT, Effect.RECORD_CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "peer closed TCP during the handshake",
        ),
        # line 126
        (State.CONNECTING, Event.TRANSPORT_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_OPEN_TIMER, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "TCP failed during the handshake",
        ),
        # line 127
        (State.CONNECTING, Event.TRANSPORT_STALLED): Row(
            None,
            (),
            _E,
            "no data is written before the handshake completes",
        ),
        # line 128
        (State.CONNECTING, Event.OPEN_TIMEOUT): Row(
            State.CLOSED,
            (Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_TIMEOUT, Effect.NOTIFY_CLOSED,),
            _I,
            "handshake took longer than the open timeout",
        ),
        # line 129
        (State.CONNECTING, Event.CLOSE_TIMEOUT): Row(
            None,
            (),
            _E,
            "the close timer is not armed before a close starts",
        ),
        # line 130
        (State.CONNECTING, Event.KEEPALIVE_TIMEOUT): Row(
            None,
            (),
            _E,
            "keepalive starts when the handshake completes",
        ),
        # line 131
        (State.CONNECTING, Event.LIBRARY_CLOSE): Row(
            None,
            (),
            _E,
            "the websockets adapter guards open connections and the ASGI one reports no library close",
        ),
        # line 115
        (State.CONNECTING, Event.APP_ACCEPT_AGAIN): Row(
            State.CONNECTING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "a second accept() while the first completes the handshake is API misuse: raised at once",
        ),
        # line 132
        (State.CONNECTING, Event.LIBRARY_CLOSE_PEER_FAULT): Row(
            None,
            (),
            _E,
            "a bad handshake is reported as handshake_fail",
        ),
        # line 135
        (State.OPEN, Event.APP_SEND): Row(
            State.OPEN,
            (Effect.TRANSMIT,),
            _D,
            "the hot path: the message goes out",
        ),
        # line 136
        (State.OPEN, Event.APP_PING): Row(
            State.OPEN,
            (Effect.TRANSMIT_PING,),
            _D,
            "ping goes out",
        ),
        # line 137
        (State.OPEN, Event.APP_RECV): Row(
            State.OPEN,
            (Effect.READ,),
            _D,
            "wait for the next message",
        ),
        # line 138
        (State.OPEN, Event.APP_ACCEPT): Row(
            State.OPEN,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept twice (or on a connection guarded open) is API misuse: raised at once",
        ),
        # line 140
        (State.OPEN, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.ARM_CLOSE_TIMER, Effect.RECORD_CLOSE_LOCAL, Effect.WAIT_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "start the closing handshake with the application's code; this caller's code wins",
        ),
        # line 141
        (State.OPEN, Event.APP_CLOSE_INVALID): Row(
            State.OPEN,
            (Effect.RAISE_INVALID_CLOSE_ARGS,),
            _D,
            "invalid code or reason (scenario 25): rejected before any state change, nothing sent",
        ),
        # line 142
        (State.OPEN, Event.APP_ABORT): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_LOCAL, Effect.NOTIFY_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "drop the transport without a closing handshake",
        ),
        # line 143
        (State.OPEN, Event.HANDSHAKE_OK): Row(
            None,
            (),
            _E,
            "the handshake completes once",
        ),
        # line 144
        (State.OPEN, Event.HANDSHAKE_FAIL): Row(
            None,
            (),
            _E,
            "the handshake already completed",
        ),
        # line 145
        (State.OPEN, Event.PEER_DATA): Row(
            State.OPEN,
            (Effect.DELIVER,),
            _D,
            "queue the message for recv, in order",
        ),
        # line 146
        (State.OPEN, Event.PEER_CLOSE): Row(
            State.CLOSE_RECEIVED,
            (Effect.CANCEL_KEEPALIVE, Effect.ECHO_CLOSE_FRAME, Effect.CLOSE_TRANSPORT, Effect.ARM_CLOSE_TIMER, Effect.RECORD_CLOSE_REMOTE, Effect.MARK_CLEAN,),
            _D,
            "peer closed cleanly (scenario 1): echo its code, keep code and reason",
        ),
        # line 147
        (State.OPEN, Event.PEER_CLOSE_INVALID): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.CLOSE_TRANSPORT, Effect.RECORD_CLOSE_REMOTE, Effect.NOTIFY_CLOSED,),
            _I,
            "fail the connection with 1002: the peer sent a reserved or invalid close code",
            1002,
            "invalid close frame",
        ),
        # line 148
        (State.OPEN, Event.PEER_PROTOCOL_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.CLOSE_TRANSPORT, Effect.RECORD_CLOSE_REMOTE, Effect.NOTIFY_CLOSED,),
            _I,
            "fail the connection with 1002",
            1002,
            "protocol error",
        ),
        # line 149
        (State.OPEN, Event.TRANSPORT_EOF): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.CLOSE_TRANSPORT, Effect.RECORD_CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "FIN without a Close frame: peer gone, 1006, not clean",
        ),
        # line 150
        (State.OPEN, Event.TRANSPORT_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.ABORT_TRANSPORT, Effect.RECORD_CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "RST or lost transport (scenarios 2, 3): peer gone, 1006, not clean",
        ),
        # line 151
        (State.OPEN, Event.TRANSPORT_STALLED): Row(
            State.CLOSING,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.ARM_CLOSE_TIMER, Effect.RECORD_CLOSE_TIMEOUT,),
            _W,
            "slow reader (scenario 17): close 1008, then the close timer bounds the wait",
            1008,
            "slow reader",
        ),
        # line 152
        (State.OPEN, Event.OPEN_TIMEOUT): Row(
            None,
            (),
            _E,
            "the open timer is cancelled when the handshake completes",
        ),
        # line 153
        (State.OPEN, Event.CLOSE_TIMEOUT): Row(
            None,
            (),
            _E,
            "the close timer is not armed before a close starts",
        ),
        # line 154
        (State.OPEN, Event.KEEPALIVE_TIMEOUT): Row(
            State.CLOSING,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.ARM_CLOSE_TIMER, Effect.RECORD_CLOSE_TIMEOUT,),
            _W,
            "half-open peer (scenario 16): close 1011, then the close timer, then abort",
            1011,
            "keepalive ping timeout",
        ),
        # line 155
        (State.OPEN, Event.LIBRARY_CLOSE): Row(
            State.CLOSING,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.ARM_CLOSE_TIMER, Effect.RECORD_CLOSE_LOCAL,),
            _D,
            "the library closed on the application's behalf (handler returned or raised, server shutdown): a local closure with its code; the close timer bounds the wait",
        ),
        # line 139
        (State.OPEN, Event.APP_ACCEPT_AGAIN): Row(
            State.OPEN,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept twice is API misuse: raised at once",
        ),
        # line 156
        (State.OPEN, Event.LIBRARY_CLOSE_PEER_FAULT): Row(
            State.CLOSED,
            (Effect.CANCEL_KEEPALIVE, Effect.EMIT_CLOSE_FRAME, Effect.CLOSE_TRANSPORT, Effect.RECORD_CLOSE_REMOTE, Effect.NOTIFY_CLOSED,),
            _I,
            "the library failed the connection because of the peer: a remote closure with the library's code (1002, 1003, 1007, 1009)",
        ),
        # line 159
        (State.CLOSING, Event.APP_SEND): Row(
            State.CLOSING,
            (Effect.DROP,),
            _D,
            "fail fast while closing: send raises ConnectionClosed, try_send returns False, no frame",
        ),
        # line 160
        (State.CLOSING, Event.APP_PING): Row(
            State.CLOSING,
            (Effect.DROP,),
            _D,
            "no ping after our Close",
        ),
        # line 161
        (State.CLOSING, Event.APP_RECV): Row(
            State.CLOSING,
            (Effect.READ,),
            _D,
            "data the peer sent before it saw our Close is still delivered",
        ),
        # line 162
        (State.CLOSING, Event.APP_ACCEPT): Row(
            State.CLOSING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept after the handshake is API misuse: raised at once",
        ),
        # line 164
        (State.CLOSING, Event.APP_CLOSE): Row(
            State.CLOSING,
            (Effect.WAIT_CLOSED, Effect.RETURN_FALSE,),
            _D,
            "already closing (scenario 8): the first code wins; wait for the end",
        ),
        # line 165
        (State.CLOSING, Event.APP_CLOSE_INVALID): Row(
            State.CLOSING,
            (Effect.RAISE_INVALID_CLOSE_ARGS,),
            _D,
            "invalid code or reason: rejected before any state change",
        ),
        # line 166
        (State.CLOSING, Event.APP_ABORT): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "stop waiting for the peer's Close",
        ),
        # line 167
        (State.CLOSING, Event.HANDSHAKE_OK): Row(
            None,
            (),
            _E,
            "the handshake completes once",
        ),
        # line 168
        (State.CLOSING, Event.HANDSHAKE_FAIL): Row(
            None,
            (),
            _E,
            "the handshake already completed",
        ),
        # line 169
        (State.CLOSING, Event.PEER_DATA): Row(
            State.CLOSING,
            (Effect.DELIVER,),
            _D,
            "deliver: nothing the peer sent before it saw our Close is lost",
        ),
        # line 170
        (State.CLOSING, Event.PEER_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.CLOSE_TRANSPORT, Effect.MARK_CLEAN, Effect.NOTIFY_CLOSED,),
            _D,
            "closing handshake complete: clean",
        ),
        # line 171
        (State.CLOSING, Event.PEER_CLOSE_INVALID): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "peer answered with an invalid Close: not clean, no second Close from us",
        ),
        # line 172
        (State.CLOSING, Event.PEER_PROTOCOL_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "protocol error while closing: not clean",
        ),
        # line 173
        (State.CLOSING, Event.TRANSPORT_EOF): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "peer closed TCP without answering our Close: not clean",
        ),
        # line 174
        (State.CLOSING, Event.TRANSPORT_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "transport failed while closing: not clean",
        ),
        # line 175
        (State.CLOSING, Event.TRANSPORT_STALLED): Row(
            State.CLOSING,
            (),
            _D,
            "another send timed out after the stall was reported, or after our Close: the close timer already bounds the wait",
        ),
        # line 176
        (State.CLOSING, Event.OPEN_TIMEOUT): Row(
            None,
            (),
            _E,
            "the open timer is cancelled when the handshake completes",
        ),
        # line 177
        (State.CLOSING, Event.CLOSE_TIMEOUT): Row(
            State.CLOSED,
            (Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "the peer did not answer our Close in time: abort, not clean",
        ),
        # line 178
        (State.CLOSING, Event.KEEPALIVE_TIMEOUT): Row(
            None,
            (),
            _E,
            "keepalive stops when a close starts",
        ),
        # line 179
        (State.CLOSING, Event.LIBRARY_CLOSE): Row(
            State.CLOSING,
            (),
            _D,
            "our own Close row ran first (keepalive, slow reader) but the library's Close went out: the close timer bounds the wait",
        ),
        # line 163
        (State.CLOSING, Event.APP_ACCEPT_AGAIN): Row(
            State.CLOSING,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept after the handshake is API misuse: raised at once",
        ),
        # line 180
        (State.CLOSING, Event.LIBRARY_CLOSE_PEER_FAULT): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.CLOSE_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "the library failed the connection while we were closing: not clean",
        ),
        # line 183
        (State.CLOSE_RECEIVED, Event.APP_SEND): Row(
            State.CLOSE_RECEIVED,
            (Effect.DROP,),
            _D,
            "background send after the peer closed (scenario 6): no-op",
        ),
        # line 184
        (State.CLOSE_RECEIVED, Event.APP_PING): Row(
            State.CLOSE_RECEIVED,
            (Effect.DROP,),
            _D,
            "no ping after the peer's Close",
        ),
        # line 185
        (State.CLOSE_RECEIVED, Event.APP_RECV): Row(
            State.CLOSE_RECEIVED,
            (Effect.READ_BUFFERED,),
            _D,
            "deliver what was received before the peer's Close, then ConnectionClosed",
        ),
        # line 186
        (State.CLOSE_RECEIVED, Event.APP_ACCEPT): Row(
            State.CLOSE_RECEIVED,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept after the handshake is API misuse: raised at once",
        ),
        # line 188
        (State.CLOSE_RECEIVED, Event.APP_CLOSE): Row(
            State.CLOSE_RECEIVED,
            (Effect.WAIT_CLOSED, Effect.RETURN_FALSE,),
            _D,
            "close after the peer closed (scenario 7, the FastAPI tutorial pattern): no-op",
        ),
        # line 189
        (State.CLOSE_RECEIVED, Event.APP_CLOSE_INVALID): Row(
            State.CLOSE_RECEIVED,
            (Effect.RAISE_INVALID_CLOSE_ARGS,),
            _D,
            "invalid code or reason: rejected before any state change",
        ),
        # line 190
        (State.CLOSE_RECEIVED, Event.APP_ABORT): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED, Effect.RETURN_TRUE,),
            _D,
            "stop waiting for the transport to end",
        ),
        # line 191
        (State.CLOSE_RECEIVED, Event.HANDSHAKE_OK): Row(
            None,
            (),
            _E,
            "the handshake completes once",
        ),
        # line 192
        (State.CLOSE_RECEIVED, Event.HANDSHAKE_FAIL): Row(
            None,
            (),
            _E,
            "the handshake already completed",
        ),
        # line 193
        (State.CLOSE_RECEIVED, Event.PEER_DATA): Row(
            None,
            (),
            _E,
            "a frame after the peer's Close is reported as peer_protocol_error",
        ),
        # line 194
        (State.CLOSE_RECEIVED, Event.PEER_CLOSE): Row(
            None,
            (),
            _E,
            "a second Close from the peer is reported as peer_protocol_error",
        ),
        # line 195
        (State.CLOSE_RECEIVED, Event.PEER_CLOSE_INVALID): Row(
            None,
            (),
            _E,
            "a second Close from the peer is reported as peer_protocol_error",
        ),
        # line 196
        (State.CLOSE_RECEIVED, Event.PEER_PROTOCOL_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "the peer kept sending after its Close: abort",
        ),
        # line 197
        (State.CLOSE_RECEIVED, Event.TRANSPORT_EOF): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.NOTIFY_CLOSED,),
            _D,
            "teardown complete: clean",
        ),
        # line 198
        (State.CLOSE_RECEIVED, Event.TRANSPORT_ERROR): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "peer reset after the closing handshake: still clean",
        ),
        # line 199
        (State.CLOSE_RECEIVED, Event.TRANSPORT_STALLED): Row(
            State.CLOSED,
            (Effect.CANCEL_CLOSE_TIMER, Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _I,
            "our echo cannot be written: abort",
        ),
        # line 200
        (State.CLOSE_RECEIVED, Event.OPEN_TIMEOUT): Row(
            None,
            (),
            _E,
            "the open timer is cancelled when the handshake completes",
        ),
        # line 201
        (State.CLOSE_RECEIVED, Event.CLOSE_TIMEOUT): Row(
            State.CLOSED,
            (Effect.ABORT_TRANSPORT, Effect.NOTIFY_CLOSED,),
            _D,
            "the peer did not end the transport in time: abort",
        ),
        # line 202
        (State.CLOSE_RECEIVED, Event.KEEPALIVE_TIMEOUT): Row(
            None,
            (),
            _E,
            "keepalive stops when the peer's Close arrives",
        ),
        # line 203
        (State.CLOSE_RECEIVED, Event.LIBRARY_CLOSE): Row(
            None,
            (),
            _E,
            "after the peer's Close the library's Close is its echo, not a close of its own",
        ),
        # line 187
        (State.CLOSE_RECEIVED, Event.APP_ACCEPT_AGAIN): Row(
            State.CLOSE_RECEIVED,
            (Effect.RAISE_INVALID_STATE,),
            _D,
            "accept after the handshake is API misuse: raised at once",
        ),
        # line 204
        (State.CLOSE_RECEIVED, Event.LIBRARY_CLOSE_PEER_FAULT): Row(
            None,
            (),
            _E,
            "after the peer's Close the library's Close is its echo, not a close of its own",
        ),
        # line 208
        (State.CLOSED, Event.APP_SEND): Row(
            State.CLOSED,
            (Effect.DROP,),
            _D,
            "send after close (scenarios 4, 6, 12): send raises ConnectionClosed, try_send returns False",
        ),
        # line 209
        (State.CLOSED, Event.APP_PING): Row(
            State.CLOSED,
            (Effect.DROP,),
            _D,
            "ping after close: dropped",
        ),
        # line 210
        (State.CLOSED, Event.APP_RECV): Row(
            State.CLOSED,
            (Effect.READ_BUFFERED,),
            _D,
            "receive after close (scenario 9): buffered messages, then ConnectionClosed",
        ),
        # line 211
        (State.CLOSED, Event.APP_ACCEPT): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "accept after the connection closed (refused, or the peer left during the handshake): False, quietly",
        ),
        # line 213
        (State.CLOSED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "close after close (scenarios 5, 8, 15): idempotent no-op",
        ),
        # line 214
        (State.CLOSED, Event.APP_CLOSE_INVALID): Row(
            State.CLOSED,
            (Effect.RAISE_INVALID_CLOSE_ARGS,),
            _D,
            "invalid code or reason: rejected, even after close",
        ),
        # line 215
        (State.CLOSED, Event.APP_ABORT): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "abort after close: no-op",
        ),
        # line 216
        (State.CLOSED, Event.HANDSHAKE_OK): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "the transport accepted after close() or abort() ended the connection during accept(): accept() returns False",
        ),
        # line 217
        (State.CLOSED, Event.HANDSHAKE_FAIL): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "the handshake failed after the connection ended during accept(): accept() returns False",
        ),
        # line 207, default row
        (State.CLOSED, Event.PEER_DATA): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.PEER_CLOSE): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.PEER_CLOSE_INVALID): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.PEER_PROTOCOL_ERROR): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.TRANSPORT_EOF): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.TRANSPORT_ERROR): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.TRANSPORT_STALLED): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.OPEN_TIMEOUT): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.CLOSE_TIMEOUT): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.KEEPALIVE_TIMEOUT): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 207, default row
        (State.CLOSED, Event.LIBRARY_CLOSE): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
        # line 212
        (State.CLOSED, Event.APP_ACCEPT_AGAIN): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "accept again after the connection closed: False, quietly",
        ),
        # line 207, default row
        (State.CLOSED, Event.LIBRARY_CLOSE_PEER_FAULT): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late event from the peer, the transport or a timer is absorbed",
        ),
    }
)
"""The total transition table: every (state, event) pair has a row."""
