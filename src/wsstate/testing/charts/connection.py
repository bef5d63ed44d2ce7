# GENERATED FILE - DO NOT EDIT.
# Source: spec/connection.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The reference model of the connection machine, generated from spec/connection.toml.

``ConnectionChart`` is the python-statemachine model of ``wsstate.machines.connection.TABLE``.
Do not create one per connection: it is ~1000x slower than the table.
"""

from __future__ import annotations

from typing import Any

from statemachine import State as _S
from statemachine import StateChart

from wsstate.machines.connection import State

__all__ = ["ConnectionChart"]


class ConnectionChart(StateChart[Any]):
    """The reference model of the table, as a python-statemachine ``StateChart``.

    Strict: an event the table calls impossible raises ``TransitionNotAllowed``,
    and errors in callbacks propagate. Each event is a method named after it
    (``chart.app_close()``). Terminal states are not declared ``final``:
    python-statemachine forbids transitions out of a final state, and ours
    absorb late events as self-loops; ``TERMINAL`` names them instead.
    """

    allow_event_without_transition = False
    catch_errors_as_events = False
    enable_self_transition_entries = False
    atomic_configuration_update = True

    connecting = _S("CONNECTING", value=State.CONNECTING, initial=True)
    open = _S("OPEN", value=State.OPEN)
    closing = _S("CLOSING", value=State.CLOSING)
    close_received = _S("CLOSE_RECEIVED", value=State.CLOSE_RECEIVED)
    closed = _S("CLOSED", value=State.CLOSED)

    app_send = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_ping = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_recv = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_accept = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_close = (
        connecting.to(closed)
        | open.to(closing)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_close_invalid = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    app_abort = (
        connecting.to(closed)
        | open.to(closed)
        | closing.to(closed)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    handshake_ok = (
        connecting.to(open)
        | closed.to(closed, internal=True)
    )
    handshake_fail = (
        connecting.to(closed)
        | closed.to(closed, internal=True)
    )
    peer_data = (
        open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | closed.to(closed, internal=True)
    )
    peer_close = (
        open.to(close_received)
        | closing.to(closed)
        | closed.to(closed, internal=True)
    )
    peer_close_invalid = (
        open.to(closed)
        | closing.to(closed)
        | closed.to(closed, internal=True)
    )
    peer_protocol_error = (
        open.to(closed)
        | closing.to(closed)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    transport_eof = (
        connecting.to(closed)
        | open.to(closed)
        | closing.to(closed)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    transport_error = (
        connecting.to(closed)
        | open.to(closed)
        | closing.to(closed)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    transport_stalled = (
        open.to(closing)
        | closing.to(closing, internal=True)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    open_timeout = (
        connecting.to(closed)
        | closed.to(closed, internal=True)
    )
    close_timeout = (
        closing.to(closed)
        | close_received.to(closed)
        | closed.to(closed, internal=True)
    )
    keepalive_timeout = (
        open.to(closing)
        | closed.to(closed, internal=True)
    )
    library_close = (
        open.to(closing)
        | closing.to(closing, internal=True)
        | closed.to(closed, internal=True)
    )
    app_accept_again = (
        connecting.to(connecting, internal=True)
        | open.to(open, internal=True)
        | closing.to(closing, internal=True)
        | close_received.to(close_received, internal=True)
        | closed.to(closed, internal=True)
    )
    library_close_peer_fault = (
        open.to(closed)
        | closing.to(closed)
        | closed.to(closed, internal=True)
    )
