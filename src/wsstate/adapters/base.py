"""What an adapter provides: a small, uniform view of one transport's connection.

An adapter translates a native connection (websockets, Starlette, ...) into
:class:`Transport`: operations that either succeed or raise
:class:`TransportClosed` (never the library's own exception), and
:class:`Facts`, what the transport has observed so far. The guarded connection
turns new facts into table events; the adapter never decides a transition.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

__all__ = [
    "Callbacks",
    "Data",
    "Facts",
    "Listener",
    "Payload",
    "Request",
    "Transport",
    "TransportClosed",
    "check_loop",
]

#: A message: what a transport writes and what ``recv()`` returns.
Data = str | bytes
#: What a send takes: str or bytes-like (``bytes``, ``bytearray``, ``memoryview``,
#: ``array.array``: anything with the buffer protocol, PEP 688's ``Buffer`` to a
#: type checker). A bytes-like payload is copied to bytes when the send starts (an
#: ``async`` send: when its coroutine starts running; ``send_threadsafe`` and
#: ``broadcast_threadsafe``: at the call, in the caller's thread), so changing it
#: afterwards changes nothing sent.
if TYPE_CHECKING:
    from typing_extensions import Buffer

    Payload = str | Buffer
else:
    Payload = str | bytes | bytearray | memoryview


def check_loop(loop: object) -> None:
    """Raise :class:`RuntimeError` unless ``loop``, the event loop running a native
    connection, is the one running now: ``guard()`` called from another thread's
    loop would drive the connection from two threads (and abort it when that loop
    closed). Called by each adapter before it changes anything."""
    if loop is not asyncio.get_running_loop():
        raise RuntimeError(
            "guard() must be called from the event loop running the connection, "
            "not another thread's (from another thread: asyncio.run_coroutine_threadsafe())"
        )


class TransportClosed(Exception):
    """The transport could not perform an operation because it is closing or closed."""


class Facts(NamedTuple):
    """What the transport has observed, cumulatively (each fact only ever becomes true).

    ``library_close``: a Close frame (code, reason) the transport library sent on
    its own, before any Close from the peer and not on our request: with 1002,
    1003, 1007 or 1009 it failed the connection because of the peer (a protocol
    violation, data it cannot take); with any other code it closed on the
    application's behalf (a server handler returned or raised, the server shut
    down, its own keepalive gave up). ``close_rcvd``: the peer's valid Close frame (code,
    reason; code None when the frame had none). ``lost``: the transport is
    gone; ``lost_error`` tells a failure (RST, OSError) from an orderly end.

    A named tuple: built on every closing fact, it must be cheap (a frozen
    dataclass costs twice as much to construct).
    """

    library_close: tuple[int, str] | None = None
    close_rcvd: tuple[int | None, str] | None = None
    lost: bool = False
    lost_error: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """The opening handshake's request, the same for every transport.

    On a server: what the client asked for; on a client: what it sent.
    """

    path: str
    """The request target's path (``/chat``), without the query."""
    query: str = ""
    """The query string, without ``?`` (``room=1&x=2``); empty if none."""
    headers: tuple[tuple[str, str], ...] = ()
    """Every header, in order, names as sent (duplicates kept)."""
    remote_address: tuple[str, int] | None = None
    """The peer's ``(host, port)``; None if the transport does not know it."""
    subprotocol: str | None = None
    """The negotiated subprotocol; None if none (or not known)."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @staticmethod
    def address(value: object) -> tuple[str, int] | None:
        """``(host, port)`` from a socket address (IPv6's four-tuple too), else None."""
        if isinstance(value, Iterable) and not isinstance(value, str | bytes):
            parts = list(value)
            if len(parts) >= 2 and isinstance(parts[1], int):
                return str(parts[0]), parts[1]
        return None


class Listener(Protocol):
    """Whom a transport reports to (:meth:`Transport.attach`): the guarded connection."""

    def _sync(self) -> None:
        """A closing fact may be new (the transport is lost, or a Close frame went or came)."""

    def _on_data(self) -> None:
        """A data message arrived (it waits in the transport for ``recv()``)."""


class Callbacks:
    """A :class:`Listener` made of two callables (:meth:`Transport.set_listener`'s)."""

    __slots__ = ("_on_data", "_sync")

    def __init__(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        self._sync = listener
        self._on_data = on_data


class Transport(abc.ABC):
    """One native WebSocket connection, seen through a uniform interface.

    No instance attributes of its own (``__slots__``): a subclass that declares
    its slots pays for no ``__dict__`` per connection.
    """

    __slots__ = ()

    loop: asyncio.AbstractEventLoop

    @abc.abstractmethod
    def facts(self) -> Facts:
        """What the transport has observed so far."""

    @abc.abstractmethod
    def is_open(self) -> bool:
        """True while nothing closing has been observed (cheap: checked on every send)."""

    @abc.abstractmethod
    def write(self, data: Data) -> Awaitable[None] | None:
        """Hand one data message to the transport, without waiting if it can.

        Returns None once the message is written (in the transport's buffer, or
        on the wire); an awaitable if sending it has to wait (for the peer to read,
        for a send ahead of it, or because the transport's API is asynchronous):
        the caller awaits it, within its write timeout. Raises
        :class:`TransportClosed`, at once or from the awaitable, if the transport
        cannot send the message.
        """

    def discard_write(self, pending: Awaitable[None]) -> None:
        """Give up an awaitable :meth:`write` returned, never awaited (a broadcast's
        backlog dropped after a failed write): the message is not sent.

        By default a coroutine is closed; a transport that counted the write when
        it returned the awaitable uncounts it here (a coroutine closed before it
        started runs no ``finally``).
        """
        if inspect.iscoroutine(pending):
            pending.close()

    def write_shared(self, data: Data, shared: dict[object, Any]) -> Awaitable[None] | None:
        """:meth:`write` of a message many transports send at once (a broadcast).

        ``shared`` lives for one broadcast and is handed to every member's
        transport: one may keep there what the others can reuse (the websockets
        adapter keeps the serialized frame). The same result and errors as
        :meth:`write`, which it is by default.
        """
        return self.write(data)

    @abc.abstractmethod
    async def ping(self) -> Awaitable[None] | None:
        """Send a ping; return an awaitable resolved by the pong (None if unsupported).

        Both raise :class:`TransportClosed` when the transport closes.
        """

    @abc.abstractmethod
    async def recv(self, block: bool = True) -> Data:
        """The next message; :class:`TransportClosed` once the transport is closed and none is left.

        With ``block=False``, only a message already received is returned; if there
        is none, :class:`TransportClosed` is raised at once.
        """

    @abc.abstractmethod
    def start_close(self, code: int, reason: str) -> None:
        """Start sending a Close frame; never blocks, never raises."""

    def echo_close(self) -> None:  # noqa: B027 - deliberately a no-op by default
        """Echo the peer's Close frame. The transports supported so far echo by themselves."""

    @abc.abstractmethod
    def close_transport(self) -> None:
        """End the transport gracefully once pending data is written."""

    @abc.abstractmethod
    def abort_transport(self) -> None:
        """Drop the transport at once."""

    def request(self) -> Request:
        """The opening handshake's request (:class:`Request`); an adapter that cannot
        tell reports an empty path and nothing else."""
        return Request("")

    @abc.abstractmethod
    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        """Call ``listener()`` when the transport observes a new closing fact, and
        ``on_data()`` when a data message arrives.

        The transport must call ``listener()`` once it is lost (so the connection
        learns of the loss without polling), except for a loss it knows at once
        in :meth:`close_transport`: the connection reads :meth:`facts` again
        once the row that ended the transport is done. It may call it for other closing
        facts too, as soon as it observes them (a Close frame received or sent
        by the library). Facts it does not report are found on the connection's
        next operation, which reads :meth:`facts` whenever :meth:`is_open` is
        False.
        """

    def attach(self, listener: Listener) -> None:
        """Report to ``listener``: its ``_sync()`` as :meth:`set_listener`'s
        ``listener``, its ``_on_data()`` as ``on_data``.

        What the guarded connection calls. By default the two bound methods
        are handed to :meth:`set_listener`; a transport may keep the one
        object instead (the websockets adapter does: two bound methods cost
        128 B per connection).
        """
        self.set_listener(listener._sync, listener._on_data)
