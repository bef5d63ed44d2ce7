"""The exceptions wsstate raises. All are exported from :mod:`wsstate`.

Closure is reported as :class:`ConnectionClosed`, whatever the transport raised;
API misuse stays loud, raised by the call that made it (:class:`InvalidState`
and its kinds, :class:`TypeError`, :class:`InvalidOption` and the
:class:`~wsstate.closecodes.InvalidCloseArgs` family, both ``ValueError``); an
event the table calls impossible is an internal bug (:class:`ImpossibleEvent`).
No exception type of a transport library ever reaches the caller.
"""

from __future__ import annotations

import enum

from .closecodes import InvalidCloseArgs, InvalidCloseCode, InvalidCloseReason

__all__ = [
    "AlreadyGuarded",
    "ClosedBy",
    "ConcurrentRecv",
    "ConnectionClosed",
    "HandshakeFailed",
    "ImpossibleEvent",
    "InvalidCloseArgs",
    "InvalidCloseCode",
    "InvalidCloseReason",
    "InvalidOption",
    "InvalidState",
    "WSStateError",
]


class ClosedBy(enum.StrEnum):
    """Who ended a connection."""

    LOCAL = "local"
    """This endpoint called close() or abort()."""
    REMOTE = "remote"
    """The peer sent a Close frame (or failed the handshake, or broke the protocol)."""
    TRANSPORT = "transport"
    """The TCP connection ended or failed without a closing handshake."""
    TIMEOUT = "timeout"
    """A timer ran out: keepalive, a stalled write, the handshake."""


class WSStateError(Exception):
    """Base class of wsstate's own exceptions (except the ValueError family)."""


class ConnectionClosed(WSStateError):
    """The operation cannot complete: the connection is closing or closed.

    Raised by ``send`` (``try_send`` returns False instead) and ``recv`` whatever
    the transport's own exception was. Carries what is known of the closure.
    """

    def __init__(
        self,
        code: int | None,
        reason: str,
        closed_by: ClosedBy | None,
        clean: bool,
        state: str,
    ) -> None:
        self.code = code
        self.reason = reason
        self.closed_by = closed_by
        self.clean = clean
        self.state = state
        who = closed_by.value if closed_by is not None else "unknown"
        detail = f"code {code}" if code is not None else "no code yet"
        if reason:
            detail += f" ({reason})"
        super().__init__(
            f"connection is {state}: {detail}, closed by {who}, {'clean' if clean else 'not clean'}"
        )


class HandshakeFailed(WSStateError):
    """The opening handshake did not complete (refused, timed out, or the peer left)."""


class InvalidState(WSStateError, RuntimeError):
    """API misuse: an operation the table forbids in this state (e.g. send before accept)."""


class ConcurrentRecv(InvalidState):
    """API misuse: ``recv()`` while another ``recv()`` of the same connection waits."""


class AlreadyGuarded(InvalidState):
    """API misuse: ``guard()`` of a native connection that is already guarded.

    Two machines over one transport would each believe they own it.
    """


class InvalidOption(ValueError):
    """An option or argument of :func:`~wsstate.guard`, :func:`~wsstate.connect`,
    :class:`~wsstate.Options`, :class:`~wsstate.Hub`,
    :class:`~wsstate.ReconnectingClient` (:func:`~wsstate.reconnect`),
    :class:`~wsstate.Sessions` or :class:`~wsstate.RedisHub` is invalid; ``option``
    names it.

    Raised by the call that received it, before anything is opened or changed.
    A value of the wrong type (a bool or a string for a timeout) raises the
    subclass that is also a :class:`TypeError` (:meth:`wrong_type`).
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)

    @classmethod
    def wrong_type(cls, option: str, message: str) -> InvalidOption:
        """The error for a value of the wrong type: an InvalidOption and a TypeError."""
        return _InvalidOptionType(option, message)


class _InvalidOptionType(InvalidOption, TypeError):
    """:class:`InvalidOption` for a value of the wrong type (also a TypeError)."""


class ImpossibleEvent(WSStateError, AssertionError):
    """An event the table calls impossible reached the machine: a bug in wsstate or an adapter."""

    def __init__(self, state: str, event: str, note: str) -> None:
        self.state = state
        self.event = event
        super().__init__(f"impossible event {event} in state {state}: {note}")
