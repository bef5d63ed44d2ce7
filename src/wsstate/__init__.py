"""wsstate: a formally modelled WebSocket connection lifecycle.

One declarative transition table (``spec/connection.toml``) decides what every
operation does in every state of a connection. Frameworks wrap their native
connection with :func:`guard` (or open one with :func:`connect`) and never see
"send on a closed socket" or "close called twice" as an exception again.
"""

from __future__ import annotations

from .closecodes import InvalidCloseArgs, InvalidCloseCode, InvalidCloseReason
from .connection import CloseCallback, GuardedConnection, Options, Stats
from .core import Machine
from .errors import (
    ClosedBy,
    ConnectionClosed,
    HandshakeFailed,
    ImpossibleEvent,
    InvalidState,
    WSStateError,
)
from .guard import connect, guard
from .hub import BroadcastResult, Hub
from .machines.connection import TABLE, Effect, Event, Row, State
from .sessions import Session, SessionBroadcast, SessionClosed, Sessions

__all__ = [
    "TABLE",
    "BroadcastResult",
    "CloseCallback",
    "ClosedBy",
    "ConnectionClosed",
    "Effect",
    "Event",
    "GuardedConnection",
    "HandshakeFailed",
    "Hub",
    "ImpossibleEvent",
    "InvalidCloseArgs",
    "InvalidCloseCode",
    "InvalidCloseReason",
    "InvalidState",
    "Machine",
    "Options",
    "Row",
    "Session",
    "SessionBroadcast",
    "SessionClosed",
    "Sessions",
    "State",
    "Stats",
    "WSStateError",
    "__version__",
    "connect",
    "guard",
]

__version__ = "0.1.0"
