# GENERATED FILE - DO NOT EDIT.
# Source: spec/link.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The reference model of the link machine, generated from spec/link.toml.

``LinkChart`` is the python-statemachine model of ``wsstate.machines.link.TABLE``.
Do not create one per connection: it is ~1000x slower than the table.
"""

from __future__ import annotations

from typing import Any

from statemachine import State as _S
from statemachine import StateChart

from wsstate.machines.link import State

__all__ = ["LinkChart"]


class LinkChart(StateChart[Any]):
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

    idle = _S("IDLE", value=State.IDLE, initial=True)
    connecting = _S("CONNECTING", value=State.CONNECTING)
    connected = _S("CONNECTED", value=State.CONNECTED)
    backoff = _S("BACKOFF", value=State.BACKOFF)
    closed = _S("CLOSED", value=State.CLOSED)

    start = (
        idle.to(connecting)
        | connecting.to(connecting, internal=True)
        | connected.to(connected, internal=True)
        | backoff.to(backoff, internal=True)
        | closed.to(closed, internal=True)
    )
    app_broadcast = (
        idle.to(idle, internal=True)
        | connecting.to(connecting, internal=True)
        | connected.to(connected, internal=True)
        | backoff.to(backoff, internal=True)
        | closed.to(closed, internal=True)
    )
    app_close = (
        idle.to(closed)
        | connecting.to(closed)
        | connected.to(closed)
        | backoff.to(closed)
        | closed.to(closed, internal=True)
    )
    subscribed = (
        connecting.to(connected)
        | closed.to(closed, internal=True)
    )
    attempt_failed = (
        connecting.to(backoff)
        | closed.to(closed, internal=True)
    )
    attempt_refused = (
        connecting.to(backoff)
        | closed.to(closed, internal=True)
    )
    link_lost = (
        connected.to(backoff)
        | closed.to(closed, internal=True)
    )
    peer_message = (
        connected.to(connected, internal=True)
        | closed.to(closed, internal=True)
    )
    peer_message_gap = (
        connected.to(connected, internal=True)
        | closed.to(closed, internal=True)
    )
    peer_message_stale = (
        connected.to(connected, internal=True)
        | closed.to(closed, internal=True)
    )
    own_message = (
        connected.to(connected, internal=True)
        | closed.to(closed, internal=True)
    )
    backoff_elapsed = (
        backoff.to(connecting)
        | closed.to(closed, internal=True)
    )
