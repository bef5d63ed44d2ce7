"""Adapter for websockets' asyncio implementation (``ServerConnection``, ``ClientConnection``).

websockets performs the closing handshake itself: it echoes the peer's Close,
closes TCP when the handshake completes (the server first, the client after a
timeout), and fails the connection with its own Close on a protocol violation.
This adapter reports what it did as :class:`~wsstate.adapters.base.Facts` and
converts its ``ConnectionClosed`` exceptions into
:class:`~wsstate.adapters.base.TransportClosed`; message and exception texts
are never inspected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import State as WSState

from .base import Data, Facts, Transport, TransportClosed

__all__ = ["WebsocketsTransport"]

logger: Final = logging.getLogger("wsstate")

# A data frame adds at most 14 bytes of header to its payload.
_FRAME_OVERHEAD: Final = 14
# An attribute lookup on an enum class is slow (~70 ns); these run on every send.
_OPEN: Final = WSState.OPEN


def _make_abort_idempotent(ws: Connection) -> None:
    """Make ``ws.transport.abort()`` a no-op once the connection is lost.

    CPython's selector transport (3.11 to 3.13 at least) loses track of its
    closure when ``close()`` is called with data still buffered and the buffer
    then drains: a later ``abort()`` raises ``AttributeError: 'NoneType' object
    has no attribute 'call_soon'``. asyncio calls ``close()`` itself when the
    peer's FIN arrives, and websockets calls ``abort()`` when a server handler
    returns after the connection closed, so a slow reader that leaves surfaces
    as "connection handler failed" at ERROR. The transport is already gone
    then; aborting it again must do nothing.
    """
    transport = ws.transport
    abort = transport.abort
    lost = ws.connection_lost_waiter

    def safe_abort() -> None:
        if lost.done():
            return
        abort()

    with contextlib.suppress(AttributeError):  # a transport with __slots__: leave it
        setattr(transport, "abort", safe_abort)  # noqa: B010 - mypy: method slot


class _PongWaiter:
    """Awaits a websockets pong waiter, converting its ConnectionClosed.

    A plain object, not a coroutine: a caller that never awaits it leaves no
    "coroutine was never awaited" warning (websockets itself cancels pong waiters
    that fail, so nothing is reported for the future either).
    """

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Awaitable[float]) -> None:
        self._waiter = waiter

    def __await__(self) -> Generator[Any, None, None]:
        return self._wait().__await__()

    async def _wait(self) -> None:
        try:
            await self._waiter
        except ConnectionClosed:
            raise TransportClosed from None


class WebsocketsTransport(Transport):
    """A websockets 15-17 asyncio connection seen as a :class:`Transport`."""

    __slots__ = ("_close_task", "_ws", "loop", "requested_close")

    def __init__(self, ws: Connection) -> None:
        self._ws = ws
        self.loop = asyncio.get_running_loop()
        self.requested_close = False
        self._close_task: asyncio.Task[None] | None = None
        _make_abort_idempotent(ws)

    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        # websockets has no callback for "a message arrived", "a Close frame
        # arrived" or "I failed the connection". All happen while it processes
        # incoming bytes: data_received() parses them and calls process_event()
        # once per frame. Wrapping these two methods of this instance lets the
        # table see each message and the peer's Close as they arrive (so sends
        # fail fast and the close timer starts then), not at the next operation.
        protocol = self._ws.protocol
        received = self._ws.data_received
        process = self._ws.process_event

        def data_received(data: bytes) -> None:
            received(data)
            if protocol.state is not _OPEN:
                listener()

        def process_event(event: Any) -> None:
            process(event)
            if isinstance(event, Frame) and event.opcode in DATA_OPCODES and event.fin:
                on_data()

        # setattr: mypy forbids assigning to a method.
        setattr(self._ws, "data_received", data_received)  # noqa: B010
        setattr(self._ws, "process_event", process_event)  # noqa: B010

    @property
    def connection(self) -> Connection:
        """The wrapped websockets connection."""
        return self._ws

    def facts(self) -> Facts:
        p = self._ws.protocol
        library_close: tuple[int, str] | None = None
        sent = p.close_sent
        if sent is not None and not self.requested_close and not p.close_rcvd_then_sent:
            library_close = (int(sent.code), sent.reason)
        rcvd = p.close_rcvd
        close_rcvd: tuple[int | None, str] | None = None
        if rcvd is not None:
            code: int | None = int(rcvd.code)
            if code == 1005:  # the frame carried no code
                code = None
            close_rcvd = (code, rcvd.reason)
        failed = self._write_failed()
        lost = self._ws.connection_lost_waiter.done() or failed
        return Facts(
            library_close=library_close,
            close_rcvd=close_rcvd,
            lost=lost,
            lost_error=lost and (self._ws.connection_exc is not None or failed),
        )

    def _write_failed(self) -> bool:
        # asyncio aborts a transport whose socket write failed (ECONNRESET, EPIPE:
        # the peer reset the connection before our reader noticed, scenario 3) and
        # tells websockets only one loop iteration later (connection_lost), so its
        # state is still OPEN meanwhile. Every write in that window is discarded,
        # and from the fifth on asyncio logs a WARNING ("socket.send() raised
        # exception."), so the loss must be a fact now. In OPEN nothing else closes
        # the transport: websockets closes it only after leaving OPEN, and our own
        # abort moves the table to CLOSED first.
        return self._ws.transport.is_closing() and self._ws.protocol.state is _OPEN

    def is_open(self) -> bool:
        return self._ws.protocol.state is _OPEN and not self._ws.transport.is_closing()

    def send_would_block(self, nbytes: int) -> bool:
        transport = self._ws.transport
        limit = transport.get_write_buffer_limits()[1]
        return transport.get_write_buffer_size() + nbytes + _FRAME_OVERHEAD > limit

    async def send(self, data: Data) -> None:
        try:
            await self._ws.send(data)
        except ConnectionClosed:
            raise TransportClosed from None
        # asyncio reports a failed socket write (ECONNRESET, EPIPE: the peer reset
        # the connection before our reader noticed, scenario 3) by aborting the
        # transport, not by raising, so websockets' send() returns normally; by
        # then connection_lost() has recorded the error (websockets' drain()
        # yields once when the transport is closing). An aborted transport
        # discards what it buffered: the message did not go out.
        ws = self._ws
        if ws.connection_exc is not None or (
            ws.transport.is_closing() and ws.protocol.state is _OPEN  # _write_failed()
        ):
            raise TransportClosed

    async def ping(self) -> Awaitable[None] | None:
        try:
            waiter = await self._ws.ping()
        except ConnectionClosed:
            raise TransportClosed from None
        return _PongWaiter(waiter)

    async def recv(self, block: bool = True) -> Data:
        try:
            if block:
                return await self._ws.recv()
            # A message already assembled is returned without suspending; if recv()
            # has to wait, the zero timeout cancels it, which websockets documents as
            # safe (no data lost).
            async with asyncio.timeout(0):
                return await self._ws.recv()
        except (ConnectionClosed, TimeoutError):
            raise TransportClosed from None

    def start_close(self, code: int, reason: str) -> None:
        if self._ws.protocol.state is WSState.OPEN:
            self.requested_close = True
        if self._close_task is None:
            self._close_task = self.loop.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # websockets' close() never raises ConnectionClosed; anything else is a bug
        # worth seeing, but must not become an unretrieved task exception.
        try:
            await self._ws.close(code, reason)
        except Exception:
            logger.error("websockets close() failed unexpectedly", exc_info=True)

    def close_transport(self) -> None:
        # websockets closes TCP itself once the closing handshake is complete.
        pass

    def abort_transport(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.transport.abort()

    async def wait_lost(self) -> None:
        await self._ws.wait_closed()
