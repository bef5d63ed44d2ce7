"""A real WebSocket peer whose every move a test decides.

:class:`RawPeer` speaks the protocol through websockets' own sans-I/O
implementation (``ClientProtocol`` / ``ServerProtocol``) over a real TCP
socket, but writes nothing on its own except pongs: when the guarded side's
Close arrives, the peer's echo (and its end of TCP) is *held* until the test
calls :meth:`RawPeer.send_close`. That makes the peer's behaviour explicit
events of the table (``peer_data``, ``peer_close``, ``peer_protocol_error``)
instead of races, which is what the generated stateful tests need.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Final, Self

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

__all__ = ["RawPeer", "RawServer"]

_READ: Final = 65536


class RawPeer:
    """One side of a WebSocket connection, driven step by step by a test.

    Create with :meth:`connect` (the peer is a client) or get one from
    :class:`RawServer` (the peer is a server).
    """

    def __init__(
        self,
        protocol: Protocol,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.protocol = protocol
        self._reader = reader
        self._writer = writer
        #: Data messages received (text decoded), in order.
        self.messages: list[str | bytes] = []
        #: Close frames received.
        self.closes_received: list[Close] = []
        #: True once the other side ended TCP (EOF or reset).
        self.eof = False
        self._held: list[bytes] = []
        self._closed_sent = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str) -> Self:
        """Open a TCP connection to ``url`` and complete the opening handshake as a client."""
        uri = parse_uri(url)
        reader, writer = await asyncio.open_connection(uri.host, uri.port)
        protocol = ClientProtocol(uri)
        protocol.send_request(protocol.connect())
        peer = cls(protocol, reader, writer)
        peer._flush(protocol.data_to_send())
        await peer._handshake(Response)
        return peer

    async def _handshake(self, kind: type[Request] | type[Response]) -> None:
        while True:
            data = await self._reader.read(_READ)
            if not data:
                raise ConnectionError("connection closed during the handshake")
            self.protocol.receive_data(data)
            events = self.protocol.events_received()
            if isinstance(self.protocol, ServerProtocol):
                for event in events:
                    if isinstance(event, Request):
                        self.protocol.send_response(self.protocol.accept(event))
            self._flush(self.protocol.data_to_send())
            if any(isinstance(e, kind) for e in events):
                for event in events:
                    if isinstance(event, Frame):
                        self._record(event)
                break
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    def _flush(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            if chunk:
                self._writer.write(chunk)

    def _record(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT:
            self.messages.append(bytes(frame.data).decode())
        elif frame.opcode is Opcode.BINARY:
            self.messages.append(bytes(frame.data))
        elif frame.opcode is Opcode.CLOSE:
            close = Close.parse(frame.data) if frame.data else Close(1005, "")
            self.closes_received.append(close)

    async def _read_loop(self) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while True:
                data = await self._reader.read(_READ)
                if not data:
                    self.eof = True
                    self.protocol.receive_eof()
                else:
                    self.protocol.receive_data(data)
                events = self.protocol.events_received()
                close_seen = False
                for event in events:
                    if isinstance(event, Frame):
                        self._record(event)
                        close_seen |= event.opcode is Opcode.CLOSE
                out = self.protocol.data_to_send()
                if close_seen or self._held or not data:
                    # Our answer to a Close (and our end of TCP) waits for the test.
                    self._held.extend(out)
                else:
                    self._flush(out)  # pongs
                if not data:
                    return
        self.eof = True

    @property
    def close_sent(self) -> bool:
        """True once :meth:`send_close` ran."""
        return self._closed_sent

    @property
    def holding_close(self) -> bool:
        """True when the peer's Close echo is waiting for :meth:`send_close`."""
        return any(self._held)

    async def send_text(self, text: str) -> None:
        """Send a text message, even after the other side's Close (before our own)."""
        frame = Frame(Opcode.TEXT, text.encode())
        self._write_frame(frame)
        await self._writer.drain()

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Send our Close: the held echo if the other side closed first, else a new one."""
        if self._closed_sent:
            return
        self._closed_sent = True
        held = [chunk for chunk in self._held if chunk]
        self._held.clear()
        if held:
            self._flush(held)
        else:
            self._write_frame(Frame(Opcode.CLOSE, Close(code, reason).serialize()))
        with contextlib.suppress(OSError):
            await self._writer.drain()

    async def send_garbage(self) -> None:
        """Send a frame with a reserved opcode: a protocol violation."""
        mask = isinstance(self.protocol, ClientProtocol)
        if mask:
            key = os.urandom(4)
            self._writer.write(bytes([0x83, 0x80]) + key)
        else:
            self._writer.write(bytes([0x83, 0x00]))
        with contextlib.suppress(OSError):
            await self._writer.drain()

    def _write_frame(self, frame: Frame) -> None:
        mask = isinstance(self.protocol, ClientProtocol)
        self._writer.write(frame.serialize(mask=mask))

    async def close(self) -> None:
        """Tear down the TCP connection and the reader task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class RawServer:
    """A TCP server whose connections become :class:`RawPeer` servers."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1; return the port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(ServerProtocol(), reader, writer)
        try:
            await peer._handshake(Request)
        except (ConnectionError, OSError):
            writer.close()
            return
        await self.peers.put(peer)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
