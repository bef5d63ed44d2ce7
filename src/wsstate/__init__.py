"""wsstate: a formally modelled WebSocket connection lifecycle.

One declarative transition table (``spec/connection.toml``) decides what every
operation does in every state of a connection. Frameworks wrap their native
connection with :func:`guard` (or open one with :func:`connect`) and never see
"send on a closed socket" or "close called twice" as an exception again.
"""

from __future__ import annotations

from ._lifetime import close_all
from .adapters.base import Data, Payload, Request
from .client import ClientStats, ReconnectingClient, reconnect
from .closecodes import InvalidCloseArgs, InvalidCloseCode, InvalidCloseReason
from .connection import CloseCallback, Counters, GuardedConnection, Options, Stats, counters
from .core import Machine
from .errors import (
    AlreadyGuarded,
    ClosedBy,
    ConcurrentRecv,
    ConnectionClosed,
    HandshakeFailed,
    ImpossibleEvent,
    InvalidOption,
    InvalidState,
    WSStateError,
)
from .guard import connect, guard
from .hub import BroadcastResult, Hub
from .machines.client import State as ClientState
from .machines.connection import TABLE, Effect, Event, Row, State
from .machines.link import State as LinkState
from .redis_hub import GapCallback, LinkStats, RedisHub
from .retry import Refusal
from .sessions import (
    Clock,
    ExpireCallback,
    Session,
    SessionBroadcast,
    SessionClosed,
    Sessions,
    TimerHandle,
)

__all__ = [
    "TABLE",
    "AlreadyGuarded",
    "BroadcastResult",
    "ClientState",
    "ClientStats",
    "Clock",
    "CloseCallback",
    "ClosedBy",
    "ConcurrentRecv",
    "ConnectionClosed",
    "Counters",
    "Data",
    "Effect",
    "Event",
    "ExpireCallback",
    "GapCallback",
    "GuardedConnection",
    "HandshakeFailed",
    "Hub",
    "ImpossibleEvent",
    "InvalidCloseArgs",
    "InvalidCloseCode",
    "InvalidCloseReason",
    "InvalidOption",
    "InvalidState",
    "LinkState",
    "LinkStats",
    "Machine",
    "Options",
    "Payload",
    "ReconnectingClient",
    "RedisHub",
    "Refusal",
    "Request",
    "Row",
    "Session",
    "SessionBroadcast",
    "SessionClosed",
    "Sessions",
    "State",
    "Stats",
    "TimerHandle",
    "WSStateError",
    "__version__",
    "close_all",
    "connect",
    "counters",
    "guard",
    "reconnect",
]

__version__ = "0.1.0"
