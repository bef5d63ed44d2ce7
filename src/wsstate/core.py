"""The sans-I/O connection machine: events in, decisions out.

Theory of operation
-------------------

Every event is logged on the ``wsstate`` logger at its row's level; the record
carries ``wsstate_transition = (name, state, event, next)`` for tools (the
generated stateful tests measure transition coverage from it).

A :class:`Machine` holds one connection's state and what is known of its
closure. :meth:`Machine.feed` takes an :class:`~wsstate.Event`, looks the pair
``(state, event)`` up in the generated ``TABLE`` and returns its
:class:`~wsstate.Row`: the next state, the effects to perform, the log level and
a note. It knows nothing of sockets, tasks or time; every rule of the lifecycle
lives in ``spec/connection.toml`` and reaches this module only through the
generated table. The caller (:class:`~wsstate.GuardedConnection`) performs the
I/O effects; the machine itself performs the bookkeeping ones:

* ``record_close:<who>`` records who closed the connection and the close code:
  the row's ``code``/``reason`` when it has them, else the event's (the
  application's for ``app_close``, the peer's for ``peer_close``), else 1006 for
  a transport loss or timeout and 1005 for a peer Close without a code;
* ``mark_clean`` marks the closure clean.

An event the table calls impossible raises :class:`~wsstate.ImpossibleEvent`
and leaves the machine untouched: it means an adapter fed an event the transport
cannot produce in that state, which is a bug to fix, not a condition to absorb.
"""

from __future__ import annotations

import logging
from typing import Final, NamedTuple

from .closecodes import ABNORMAL_CLOSURE, NO_STATUS
from .errors import ClosedBy, ImpossibleEvent
from .machines.connection import (
    INITIAL,
    INITIAL_EFFECTS,
    TABLE,
    TERMINAL,
    Effect,
    Event,
    Row,
    State,
)

__all__ = ["Machine"]

logger: Final = logging.getLogger("wsstate")

_RECORD: Final = {
    Effect.RECORD_CLOSE_LOCAL: ClosedBy.LOCAL,
    Effect.RECORD_CLOSE_REMOTE: ClosedBy.REMOTE,
    Effect.RECORD_CLOSE_TRANSPORT: ClosedBy.TRANSPORT,
    Effect.RECORD_CLOSE_TIMEOUT: ClosedBy.TIMEOUT,
}


class _Books(NamedTuple):
    """A row's bookkeeping effects: who closed (its first ``record_close``), and ``mark_clean``."""

    who: ClosedBy | None
    clean: bool


def _books(row: Row) -> _Books | None:
    """The row's bookkeeping, None if it has none (most rows, the hot ones)."""
    who = next((_RECORD[e] for e in row.effects if e in _RECORD), None)
    clean = Effect.MARK_CLEAN in row.effects
    return _Books(who, clean) if who is not None or clean else None


# Per state, per event: the row, and its bookkeeping. A nested dict is the
# cheapest lookup we have (docs/performance.md).
_BY_STATE: Final[dict[State, dict[Event, tuple[Row, _Books | None]]]] = {
    s: {e: (TABLE[(s, e)], _books(TABLE[(s, e)])) for e in Event} for s in State
}


class Machine:
    """One connection's lifecycle state, driven by the generated table.

    ``state`` starts at the spec's initial state (CONNECTING). ``closed_by``,
    ``close_code``, ``close_reason`` are None until the closure is decided;
    ``clean`` becomes True when both Close frames were exchanged.
    """

    __slots__ = ("clean", "close_code", "close_reason", "closed_by", "name", "state")

    #: Effects to perform when a connection is created, before any event.
    initial_effects: Final = INITIAL_EFFECTS
    #: The effects :meth:`feed` performs itself (who closed, the code, clean).
    bookkeeping_effects: Final = frozenset((*_RECORD, Effect.MARK_CLEAN))

    def __init__(self, name: str = "connection") -> None:
        self.state: State = INITIAL
        self.closed_by: ClosedBy | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.clean = False
        self.name = name

    @property
    def terminated(self) -> bool:
        """True in the terminal state (CLOSED)."""
        return self.state in TERMINAL

    def feed(self, event: Event, code: int | None = None, reason: str | None = None) -> Row:
        """Apply ``event``; return the row saying what to do.

        ``code`` and ``reason`` are the event's own close code and reason (the
        application's for ``app_close``, the peer's for ``peer_close``).
        Raises :class:`~wsstate.ImpossibleEvent` if the table says the event
        cannot occur in the current state; the state is then unchanged. An
        ``event`` that is not one of :class:`Event`, a ``code`` that is not an
        ``int`` or a ``reason`` that is not a ``str`` raise :class:`TypeError`,
        before anything changes (the code's value is the caller's to check, as
        :meth:`GuardedConnection.close` does an application's).
        """
        state = self.state
        try:
            row, books = _BY_STATE[state][event]
        except (KeyError, TypeError):
            raise TypeError(
                f"feed() takes a wsstate.Event, not {event!r} "
                f"(events: {', '.join(e.value for e in Event)})"
            ) from None
        if (code is not None and (code.__class__ is bool or not isinstance(code, int))) or (
            reason is not None and not isinstance(reason, str)
        ):
            raise TypeError(
                f"feed() takes an int code and a str reason (or None), not {code!r}, {reason!r}"
            )
        nxt = row.next
        if nxt is None:  # an event given by its value ("app_close") is found too
            raise ImpossibleEvent(state.value, Event(event).value, row.note)
        if books is not None:
            self._bookkeep(row, books, code, reason)
        self.state = nxt
        if logger.isEnabledFor(row.log):
            self._log(state, event, nxt, row)
        return row

    def _log(self, state: State, event: Event, nxt: State, row: Row) -> None:
        """Log the transition at its row's level (the caller checked the level is enabled)."""
        logger.log(
            row.log,
            "%s: %s in %s -> %s: %s",
            self.name,
            event.value,
            state.value,
            nxt.value,
            row.note,
            extra={"wsstate_transition": (self.name, state, event, nxt)},
        )

    def _bookkeep(self, row: Row, books: _Books, code: int | None, reason: str | None) -> None:
        who = books.who
        if who is not None and self.closed_by is None:
            self.closed_by = who
            if row.code is not None:
                self.close_code, self.close_reason = row.code, row.reason or ""
            elif code is not None:
                self.close_code, self.close_reason = code, reason or ""
            elif who is ClosedBy.REMOTE:
                self.close_code, self.close_reason = NO_STATUS, ""
            else:
                self.close_code, self.close_reason = ABNORMAL_CLOSURE, ""
        if books.clean:
            self.clean = True
