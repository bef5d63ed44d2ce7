# GENERATED FILE - DO NOT EDIT.
# Source: spec/session.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The session machine, generated from spec/session.toml.

A page's session across reconnects: one connection generation at a time, a grace window while detached, resume by message number.

``TABLE`` is the runtime's engine: one dict lookup per event. The reference
model of the same table (python-statemachine) is ``wsstate.testing.charts.session``,
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
    """States of the session machine."""

    NEW = "NEW"
    """Created by Sessions.attach, which adopts its first connection at once; nothing attached yet."""
    ATTACHED = "ATTACHED"
    """A connection (the current generation) holds the session: sends go to it and into the history."""
    DETACHED = "DETACHED"
    """The current connection closed: sends are kept in the history while the grace timer runs; a reattach resumes."""
    CLOSED = "CLOSED"
    """Terminal: the session ended (grace window over, page closed, or closed by the application); on_expire has fired."""


class Event(enum.StrEnum):
    """Events the machine reacts to."""

    ATTACH = "attach"
    """local: A connection attaches with no last_seen (a fresh page): it becomes the next generation; nothing is replayed."""
    ATTACH_RESUME = "attach_resume"
    """local: A connection attaches with a last_seen the history still covers: the next generation, with the later messages replayed."""
    ATTACH_GAP = "attach_gap"
    """local: A connection attaches with a last_seen older than the history keeps: the next generation, with a gap reported."""
    APP_SEND = "app_send"
    """local: The application sends a message to the session (send, try_send, broadcast)."""
    APP_CLOSE = "app_close"
    """local: The application ends the session (session.close())."""
    PAGE_CLOSE = "page_close"
    """remote: The page's close beacon arrived (Sessions.page_close), for the current generation or naming none."""
    PAGE_CLOSE_STALE = "page_close_stale"
    """remote: A close beacon naming another generation than the current arrived (an older page's, or one of an earlier session under the same id): that page is gone, another holds the session."""
    DETACH = "detach"
    """transport: The current generation's connection closed (its closed notification)."""
    DETACH_STALE = "detach_stale"
    """transport: An older generation's connection closed, after a newer one attached."""
    GRACE_TIMEOUT = "grace_timeout"
    """timer: The grace timer ran out: the page did not come back in time."""


class Effect(enum.StrEnum):
    """The session machine's effect vocabulary (its spec's [effects] table)."""

    ADOPT = "adopt"
    """Make the attaching connection the current one, as the next generation (session.generation + 1); its closure is fed as detach; attach returns the session."""
    SUPERSEDE = "supersede"
    """Close the previous current connection with the row's code and reason (1000 superseded); its closure is fed as detach_stale and it can no longer touch the session."""
    REPLAY = "replay"
    """Send the history's messages after last_seen to the new connection, in order, before any new one; session.resumed becomes True, session.gap False."""
    REPORT_GAP = "report_gap"
    """Replay nothing: session.resumed becomes False and session.gap True (the application resends a full state)."""
    REFUSE = "refuse"
    """The session ended: Sessions.attach starts a new session under the same id instead."""
    TRANSMIT = "transmit"
    """Number the message, keep it in the history and send it to the current connection; send() returns, try_send() returns True."""
    HOLD = "hold"
    """Number the message and keep it in the history only: no connection is attached; the next resume replays it. try_send() returns True."""
    DROP = "drop"
    """The session ended: send() raises SessionClosed, try_send() returns False; nothing is numbered or kept."""
    CLOSE_CONNECTION = "close_connection"
    """Close the current connection with the row's code and reason; its closure, fed as detach, is then absorbed."""
    RETURN_TRUE = "return:true"
    """close() returns True: this call ended the session."""
    RETURN_FALSE = "return:false"
    """close() returns False: the session had already ended."""
    ARM_GRACE = "arm:grace"
    """Start the grace timer; grace_timeout fires if no connection attaches before it runs out."""
    CANCEL_GRACE = "cancel:grace"
    """Stop the grace timer."""
    EXPIRE = "expire"
    """Remove the session from its Sessions and call on_expire(session): exactly once per session."""


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


INITIAL: Final = State.NEW
TERMINAL: Final[frozenset[State]] = frozenset({State.CLOSED})
INITIAL_EFFECTS: Final[tuple[Effect, ...]] = ()
EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(
    {
        Event.ATTACH: "local",
        Event.ATTACH_RESUME: "local",
        Event.ATTACH_GAP: "local",
        Event.APP_SEND: "local",
        Event.APP_CLOSE: "local",
        Event.PAGE_CLOSE: "remote",
        Event.PAGE_CLOSE_STALE: "remote",
        Event.DETACH: "transport",
        Event.DETACH_STALE: "transport",
        Event.GRACE_TIMEOUT: "timer",
    }
)
EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.ADOPT: "Make the attaching connection the current one, as the next generation (session.generation + 1); its closure is fed as detach; attach returns the session.",
        Effect.SUPERSEDE: "Close the previous current connection with the row's code and reason (1000 superseded); its closure is fed as detach_stale and it can no longer touch the session.",
        Effect.REPLAY: "Send the history's messages after last_seen to the new connection, in order, before any new one; session.resumed becomes True, session.gap False.",
        Effect.REPORT_GAP: "Replay nothing: session.resumed becomes False and session.gap True (the application resends a full state).",
        Effect.REFUSE: "The session ended: Sessions.attach starts a new session under the same id instead.",
        Effect.TRANSMIT: "Number the message, keep it in the history and send it to the current connection; send() returns, try_send() returns True.",
        Effect.HOLD: "Number the message and keep it in the history only: no connection is attached; the next resume replays it. try_send() returns True.",
        Effect.DROP: "The session ended: send() raises SessionClosed, try_send() returns False; nothing is numbered or kept.",
        Effect.CLOSE_CONNECTION: "Close the current connection with the row's code and reason; its closure, fed as detach, is then absorbed.",
        Effect.RETURN_TRUE: "close() returns True: this call ended the session.",
        Effect.RETURN_FALSE: "close() returns False: the session had already ended.",
        Effect.ARM_GRACE: "Start the grace timer; grace_timeout fires if no connection attaches before it runs out.",
        Effect.CANCEL_GRACE: "Stop the grace timer.",
        Effect.EXPIRE: "Remove the session from its Sessions and call on_expire(session): exactly once per session.",
    }
)
TIMERS: Final[Mapping[str, Event]] = MappingProxyType(
    {
        "grace": Event.GRACE_TIMEOUT,
    }
)
"""Timers the ``arm:``/``cancel:`` effects name -> the event each fires."""

_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(
    {
        # line 75
        (State.NEW, Event.ATTACH): Row(
            State.ATTACHED,
            (Effect.ADOPT,),
            _D,
            "the first generation of a new session: nothing to replay",
        ),
        # line 76
        (State.NEW, Event.ATTACH_RESUME): Row(
            State.ATTACHED,
            (Effect.ADOPT, Effect.REPLAY,),
            _D,
            "a page that saw nothing yet (last_seen 0) resumes a new session: nothing is missing",
        ),
        # line 77
        (State.NEW, Event.ATTACH_GAP): Row(
            State.ATTACHED,
            (Effect.ADOPT, Effect.REPORT_GAP,),
            _D,
            "a page that saw messages of a session that no longer exists (expired, restarted): a gap (scenario 35)",
        ),
        # line 78
        (State.NEW, Event.APP_SEND): Row(
            State.NEW,
            (Effect.HOLD,),
            _D,
            "kept in the history until the first connection attaches",
        ),
        # line 79
        (State.NEW, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.EXPIRE, Effect.RETURN_TRUE,),
            _D,
            "ended before any connection attached",
        ),
        # line 80
        (State.NEW, Event.PAGE_CLOSE): Row(
            None,
            (),
            _E,
            "Sessions.attach adopts the first connection at once: no beacon can reach a session before it",
        ),
        # line 81
        (State.NEW, Event.PAGE_CLOSE_STALE): Row(
            None,
            (),
            _E,
            "no generation exists yet: no beacon can name an older one",
        ),
        # line 82
        (State.NEW, Event.DETACH): Row(
            None,
            (),
            _E,
            "no connection is attached yet",
        ),
        # line 83
        (State.NEW, Event.DETACH_STALE): Row(
            None,
            (),
            _E,
            "no connection is attached yet",
        ),
        # line 84
        (State.NEW, Event.GRACE_TIMEOUT): Row(
            None,
            (),
            _E,
            "the grace timer is armed only on detach",
        ),
        # line 87
        (State.ATTACHED, Event.ATTACH): Row(
            State.ATTACHED,
            (Effect.SUPERSEDE, Effect.ADOPT,),
            _D,
            "a reconnect while the old connection is still open or closing (scenario 19): the old one is closed and fenced off",
            1000,
            "superseded",
        ),
        # line 88
        (State.ATTACHED, Event.ATTACH_RESUME): Row(
            State.ATTACHED,
            (Effect.SUPERSEDE, Effect.ADOPT, Effect.REPLAY,),
            _D,
            "the page reconnected before its old connection was seen to close: fence the old one, then replay after last_seen (scenarios 19, 35)",
            1000,
            "superseded",
        ),
        # line 89
        (State.ATTACHED, Event.ATTACH_GAP): Row(
            State.ATTACHED,
            (Effect.SUPERSEDE, Effect.ADOPT, Effect.REPORT_GAP,),
            _D,
            "reconnect with a last_seen the history no longer covers: fence the old one, report the gap",
            1000,
            "superseded",
        ),
        # line 90
        (State.ATTACHED, Event.APP_SEND): Row(
            State.ATTACHED,
            (Effect.TRANSMIT,),
            _D,
            "the hot path: to the current connection, and into the history",
        ),
        # line 91
        (State.ATTACHED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.CLOSE_CONNECTION, Effect.EXPIRE, Effect.RETURN_TRUE,),
            _D,
            "the application ends the session: its connection is closed, on_expire fires once",
            1000,
            "session closed",
        ),
        # line 92
        (State.ATTACHED, Event.PAGE_CLOSE): Row(
            State.CLOSED,
            (Effect.CLOSE_CONNECTION, Effect.EXPIRE,),
            _D,
            "the beacon arrived before the socket's disconnect (scenario 20): end now; the later detach is absorbed",
            1001,
            "page closed",
        ),
        # line 93
        (State.ATTACHED, Event.PAGE_CLOSE_STALE): Row(
            State.ATTACHED,
            (),
            _D,
            "the unloading page's beacon after the reloaded page attached: it names an older generation, a no-op",
        ),
        # line 94
        (State.ATTACHED, Event.DETACH): Row(
            State.DETACHED,
            (Effect.ARM_GRACE,),
            _D,
            "the current connection closed: the page may come back within the grace window",
        ),
        # line 95
        (State.ATTACHED, Event.DETACH_STALE): Row(
            State.ATTACHED,
            (),
            _D,
            "an older generation's teardown after a reconnect (Solara #1012, NiceGUI #4253): a no-op",
        ),
        # line 96
        (State.ATTACHED, Event.GRACE_TIMEOUT): Row(
            None,
            (),
            _E,
            "attaching cancels the grace timer; it is armed only in DETACHED",
        ),
        # line 99
        (State.DETACHED, Event.ATTACH): Row(
            State.ATTACHED,
            (Effect.CANCEL_GRACE, Effect.ADOPT,),
            _D,
            "a fresh page within the grace window: the session continues, nothing replayed",
        ),
        # line 100
        (State.DETACHED, Event.ATTACH_RESUME): Row(
            State.ATTACHED,
            (Effect.CANCEL_GRACE, Effect.ADOPT, Effect.REPLAY,),
            _D,
            "the page came back within the grace window: every message after last_seen, once, in order (scenario 35)",
        ),
        # line 101
        (State.DETACHED, Event.ATTACH_GAP): Row(
            State.ATTACHED,
            (Effect.CANCEL_GRACE, Effect.ADOPT, Effect.REPORT_GAP,),
            _D,
            "the page came back but the history overflowed meanwhile: a gap is reported (scenario 35)",
        ),
        # line 102
        (State.DETACHED, Event.APP_SEND): Row(
            State.DETACHED,
            (Effect.HOLD,),
            _D,
            "no connection: kept in the bounded history for the resume",
        ),
        # line 103
        (State.DETACHED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_GRACE, Effect.EXPIRE, Effect.RETURN_TRUE,),
            _D,
            "the application ends a detached session",
        ),
        # line 104
        (State.DETACHED, Event.PAGE_CLOSE): Row(
            State.CLOSED,
            (Effect.CANCEL_GRACE, Effect.EXPIRE,),
            _D,
            "the beacon after the socket's disconnect (scenario 20): end now, the grace timer is stopped",
        ),
        # line 105
        (State.DETACHED, Event.PAGE_CLOSE_STALE): Row(
            State.DETACHED,
            (),
            _D,
            "a beacon from an older generation than the one that detached: a no-op",
        ),
        # line 106
        (State.DETACHED, Event.DETACH): Row(
            None,
            (),
            _E,
            "the current connection's closure is fed once, and it detached already",
        ),
        # line 107
        (State.DETACHED, Event.DETACH_STALE): Row(
            State.DETACHED,
            (),
            _D,
            "an older generation's late teardown: a no-op, the grace timer keeps running",
        ),
        # line 108
        (State.DETACHED, Event.GRACE_TIMEOUT): Row(
            State.CLOSED,
            (Effect.EXPIRE,),
            _I,
            "the page did not come back within the grace window: on_expire fires once",
        ),
        # line 111
        (State.CLOSED, Event.ATTACH): Row(
            State.CLOSED,
            (Effect.REFUSE,),
            _D,
            "the session ended: Sessions.attach starts a new one under the id",
        ),
        # line 112
        (State.CLOSED, Event.ATTACH_RESUME): Row(
            State.CLOSED,
            (Effect.REFUSE,),
            _D,
            "the session ended: Sessions.attach starts a new one, which reports the gap",
        ),
        # line 113
        (State.CLOSED, Event.ATTACH_GAP): Row(
            State.CLOSED,
            (Effect.REFUSE,),
            _D,
            "the session ended: Sessions.attach starts a new one, which reports the gap",
        ),
        # line 114
        (State.CLOSED, Event.APP_SEND): Row(
            State.CLOSED,
            (Effect.DROP,),
            _D,
            "send after the session ended: dropped, quietly",
        ),
        # line 115
        (State.CLOSED, Event.APP_CLOSE): Row(
            State.CLOSED,
            (Effect.RETURN_FALSE,),
            _D,
            "close twice: a no-op",
        ),
        # line 116, default row
        (State.CLOSED, Event.PAGE_CLOSE): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late detach, beacon or timer is absorbed; on_expire does not fire again (scenario 20)",
        ),
        # line 116, default row
        (State.CLOSED, Event.PAGE_CLOSE_STALE): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late detach, beacon or timer is absorbed; on_expire does not fire again (scenario 20)",
        ),
        # line 116, default row
        (State.CLOSED, Event.DETACH): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late detach, beacon or timer is absorbed; on_expire does not fire again (scenario 20)",
        ),
        # line 116, default row
        (State.CLOSED, Event.DETACH_STALE): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late detach, beacon or timer is absorbed; on_expire does not fire again (scenario 20)",
        ),
        # line 116, default row
        (State.CLOSED, Event.GRACE_TIMEOUT): Row(
            State.CLOSED,
            (),
            _D,
            "terminal: a late detach, beacon or timer is absorbed; on_expire does not fire again (scenario 20)",
        ),
    }
)
"""The total transition table: every (state, event) pair has a row."""
