"""Deliberately broken runtimes, to prove the stateful tests catch real bugs.

Each mutant is a context manager that patches :class:`~wsstate.GuardedConnection`
for its duration, reproducing one bug class from the field. The mutation check
(``tests/test_mutations.py``) runs the generated stateful tests under each one
and requires a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Final

from ..adapters.base import Data
from ..connection import GuardedConnection
from ..machines.connection import Event, State

__all__ = ["MUTANTS", "NOT_A_BUG_ON", "TIMER_MUTANTS"]

Patch = Callable[[], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _patched(name: str, replacement: Callable[..., Any]) -> Iterator[None]:
    original = getattr(GuardedConnection, name)
    setattr(GuardedConnection, name, replacement(original))
    try:
        yield
    finally:
        setattr(GuardedConnection, name, original)


def _fed_instead(
    event: Event,
    instead: Event,
    *,
    before: Callable[[GuardedConnection], object] | None = None,
) -> contextlib.AbstractContextManager[None]:
    """The table is fed ``instead`` whenever the runtime would feed ``event``
    (after ``before(connection)``, when given)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def _handle(
            self: GuardedConnection,
            fed: Event,
            code: int | None = None,
            reason: str | None = None,
        ) -> Any:
            if fed is event:
                if before is not None:
                    before(self)
                fed = instead
            return original(self, fed, code, reason)

        return _handle

    return _patched("_handle", wrap)


@contextlib.contextmanager
def _patched_sends(replacement: Callable[..., Any]) -> Iterator[None]:
    """Patch ``send`` and ``try_send`` alike (each sends on its own)."""
    with _patched("send", replacement), _patched("try_send", replacement):
        yield


def double_close_raises() -> contextlib.AbstractContextManager[None]:
    """close() on a connection that is no longer OPEN raises, as Starlette's does."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def close(self: GuardedConnection, code: int = 1000, reason: str = "") -> bool:
            if self.state is not State.OPEN:
                raise RuntimeError('Cannot call "send" once a close message has been sent.')
            result: bool = await original(self, code, reason)
            return result

        return close

    return _patched("close", wrap)


def send_leaks_transport_exception() -> contextlib.AbstractContextManager[None]:
    """A send on a closed connection reaches the transport and raises its own exception."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def send(self: GuardedConnection, data: Data) -> Any:
            if self.state is State.CLOSED:
                native = getattr(self.transport, "connection", None)
                if native is not None:  # websockets: the library's own send
                    await native.send(data)
                else:  # the adapter's write, as the transport refuses it
                    pending = self.transport.write(data)
                    if pending is not None:
                        await pending
            return await original(self, data)

        return send

    return _patched_sends(wrap)


def send_waits_while_closing() -> contextlib.AbstractContextManager[None]:
    """A send while closing waits for the close timeout instead of failing fast."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def send(self: GuardedConnection, data: Data) -> Any:
            if self.state in (State.CLOSING, State.CLOSE_RECEIVED):
                await asyncio.sleep(self.options.close_timeout)
            return await original(self, data)

        return send

    return _patched_sends(wrap)


def closed_callback_fires_twice() -> contextlib.AbstractContextManager[None]:
    """The closed notification runs every callback twice."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def _notify_closed(self: GuardedConnection) -> None:
            callbacks = list(self._callbacks)
            original(self)
            for callback in callbacks:
                self._run_callback(callback)

        return _notify_closed

    return _patched("_notify_closed", wrap)


def invalid_close_code_reaches_wire() -> contextlib.AbstractContextManager[None]:
    """close() sends whatever code it is given, reserved ones included."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def close(self: GuardedConnection, code: int = 1000, reason: str = "") -> bool:
            if self.state is State.OPEN and not 1000 <= code <= 1003:
                self.transport.start_close(code, reason)
                return True
            result: bool = await original(self, code, reason)
            return result

        return close

    return _patched("close", wrap)


def recv_loses_buffered_messages() -> contextlib.AbstractContextManager[None]:
    """recv() after the peer's Close raises at once, losing what was already received."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def recv(self: GuardedConnection) -> Data:
            if self.state in (State.CLOSE_RECEIVED, State.CLOSED):
                raise self._closed_error()
            result: Data = await original(self)
            return result

        return recv

    return _patched("recv", wrap)


def keepalive_timeout_drops_tcp() -> contextlib.AbstractContextManager[None]:
    """A keepalive timeout drops TCP without a Close frame and reports a loss (1006).

    aiohttp's heartbeat does this (#1768, issue 14); the table says: Close 1011,
    then the close timer. Only a timer path reveals it: the keepalive's ping
    going unanswered (tests/test_mutations.py shows the suite without its timer
    rules passes under it).
    """

    return _fed_instead(
        Event.KEEPALIVE_TIMEOUT,
        Event.TRANSPORT_ERROR,
        before=lambda conn: conn.transport.abort_transport(),
    )


def reset_fed_as_orderly_end() -> contextlib.AbstractContextManager[None]:
    """A TCP reset is fed to the table as an orderly end (FIN): transport_eof.

    The connection ends CLOSED all the same, so no state tells it; the table's
    row is another (close the transport gracefully instead of aborting it, a
    clean close after the closing handshake instead of a reset): the harness's
    check that the runtime moved as the model did reveals it. aiohttp cannot
    tell a reset from a FIN (``FED_AS``): not a bug there, not run there.
    """

    return _fed_instead(Event.TRANSPORT_ERROR, Event.TRANSPORT_EOF)


#: name -> patch, one bug class each.
MUTANTS: Final[dict[str, Patch]] = {
    "double close raises": double_close_raises,
    "send in CLOSED leaks the transport's exception": send_leaks_transport_exception,
    "send waits while closing": send_waits_while_closing,
    "the closed callback fires twice": closed_callback_fires_twice,
    "an invalid close code reaches the wire": invalid_close_code_reaches_wire,
    "recv loses messages received before the peer's Close": recv_loses_buffered_messages,
    "a keepalive timeout drops TCP without a Close": keepalive_timeout_drops_tcp,
    "a reset is fed as an orderly end": reset_fed_as_orderly_end,
}

#: Mutants that are no bug on a role, with why (the mutation check skips the pair).
NOT_A_BUG_ON: Final[dict[str, dict[str, str]]] = {
    "a reset is fed as an orderly end": {
        role: "aiohttp reports a reset as the end of the stream: its adapter feeds "
        "transport_eof, and the model takes it (stateful.FED_AS)"
        for role in ("aiohttp-server", "aiohttp-client")
    },
}

#: The mutants that only a timer rule (close_timeout, keepalive_timeout) can reveal.
TIMER_MUTANTS: Final = frozenset({"a keepalive timeout drops TCP without a Close"})
