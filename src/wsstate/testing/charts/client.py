# GENERATED FILE - DO NOT EDIT.
# Source: spec/client.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The reference model of the client machine, generated from spec/client.toml.

``ClientChart`` is the python-statemachine model of ``wsstate.machines.client.TABLE``.
Do not create one per connection: it is ~1000x slower than the table.
"""

from __future__ import annotations

from typing import Any

from statemachine import State as _S
from statemachine import StateChart

from wsstate.machines.client import State

__all__ = ["ClientChart"]


class ClientChart(StateChart[Any]):
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
    opening = _S("OPENING", value=State.OPENING)
    open = _S("OPEN", value=State.OPEN)
    backoff = _S("BACKOFF", value=State.BACKOFF)
    closing = _S("CLOSING", value=State.CLOSING)
    stopped = _S("STOPPED", value=State.STOPPED)

    start = (
        idle.to(connecting)
        | connecting.to(connecting, internal=True)
        | opening.to(opening, internal=True)
        | open.to(open, internal=True)
        | backoff.to(backoff, internal=True)
        | closing.to(closing, internal=True)
        | stopped.to(stopped, internal=True)
    )
    app_send = (
        idle.to(idle, internal=True)
        | connecting.to(connecting, internal=True)
        | opening.to(opening, internal=True)
        | open.to(open, internal=True)
        | backoff.to(backoff, internal=True)
        | closing.to(closing, internal=True)
        | stopped.to(stopped, internal=True)
    )
    app_send_full = (
        idle.to(idle, internal=True)
        | connecting.to(connecting, internal=True)
        | opening.to(opening, internal=True)
        | open.to(open, internal=True)
        | backoff.to(backoff, internal=True)
        | closing.to(closing, internal=True)
        | stopped.to(stopped, internal=True)
    )
    app_close = (
        idle.to(stopped)
        | connecting.to(closing)
        | opening.to(closing)
        | open.to(closing)
        | backoff.to(stopped)
        | closing.to(closing, internal=True)
        | stopped.to(stopped, internal=True)
    )
    connected = (
        connecting.to(opening)
        | closing.to(closing, internal=True)
    )
    ready = (
        opening.to(open)
        | closing.to(closing, internal=True)
    )
    refused_retryable = (
        connecting.to(backoff)
        | closing.to(stopped)
    )
    refused_retry_after = (
        connecting.to(backoff)
        | closing.to(stopped)
    )
    refused_fatal = (
        connecting.to(stopped)
        | closing.to(stopped)
    )
    closed_retryable = (
        opening.to(backoff)
        | open.to(backoff)
        | closing.to(stopped)
    )
    closed_retry_after = (
        opening.to(backoff)
        | open.to(backoff)
        | closing.to(stopped)
    )
    closed_fatal = (
        opening.to(stopped)
        | open.to(stopped)
        | closing.to(stopped)
    )
    give_up = (
        connecting.to(stopped)
        | opening.to(stopped)
        | open.to(stopped)
        | closing.to(stopped)
    )
    backoff_elapsed = (
        backoff.to(connecting)
    )
    min_uptime_elapsed = (
        opening.to(opening, internal=True)
        | open.to(open, internal=True)
    )
