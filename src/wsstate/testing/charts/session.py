# GENERATED FILE - DO NOT EDIT.
# Source: spec/session.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The reference model of the session machine, generated from spec/session.toml.

``SessionChart`` is the python-statemachine model of ``wsstate.machines.session.TABLE``.
Do not create one per connection: it is ~1000x slower than the table.
"""

from __future__ import annotations

from typing import Any

from statemachine import State as _S
from statemachine import StateChart

from wsstate.machines.session import State

__all__ = ["SessionChart"]


class SessionChart(StateChart[Any]):
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

    new = _S("NEW", value=State.NEW, initial=True)
    attached = _S("ATTACHED", value=State.ATTACHED)
    detached = _S("DETACHED", value=State.DETACHED)
    closed = _S("CLOSED", value=State.CLOSED)

    attach = (
        new.to(attached)
        | attached.to(attached, internal=True)
        | detached.to(attached)
        | closed.to(closed, internal=True)
    )
    attach_resume = (
        new.to(attached)
        | attached.to(attached, internal=True)
        | detached.to(attached)
        | closed.to(closed, internal=True)
    )
    attach_gap = (
        new.to(attached)
        | attached.to(attached, internal=True)
        | detached.to(attached)
        | closed.to(closed, internal=True)
    )
    app_send = (
        new.to(new, internal=True)
        | attached.to(attached, internal=True)
        | detached.to(detached, internal=True)
        | closed.to(closed, internal=True)
    )
    app_close = (
        new.to(closed)
        | attached.to(closed)
        | detached.to(closed)
        | closed.to(closed, internal=True)
    )
    page_close = (
        attached.to(closed)
        | detached.to(closed)
        | closed.to(closed, internal=True)
    )
    page_close_stale = (
        attached.to(attached, internal=True)
        | detached.to(detached, internal=True)
        | closed.to(closed, internal=True)
    )
    detach = (
        attached.to(detached)
        | closed.to(closed, internal=True)
    )
    detach_stale = (
        attached.to(attached, internal=True)
        | detached.to(detached, internal=True)
        | closed.to(closed, internal=True)
    )
    grace_timeout = (
        detached.to(closed)
        | closed.to(closed, internal=True)
    )
