"""A passive WebSocket wire tap: what each peer put on the wire, frame by frame.

A :class:`WireTap` watches one TCP connection as two byte streams, one per
:class:`Direction`. Each stream is parsed with websockets' own sans-I/O parsers
(:meth:`websockets.http11.Request.parse` / :meth:`~websockets.http11.Response.parse`
for the opening handshake, then :meth:`websockets.frames.Frame.parse` driven by a
:class:`websockets.streams.StreamReader`), and every frame is recorded as a
:class:`WireFrame` — opcode, payload length, close code — never its payload.

Theory of operation:

* The tap only reads copies of the bytes; whoever feeds it forwards the
  original bytes first. Parsing never raises into the caller: a garbled stream
  (bad HTTP, bad opcode, wrong masking, reserved bits, …) is recorded in
  :attr:`DirectionTap.error` and the rest of that direction is discarded
  unparsed. A stream that ends in the middle of a frame is recorded in
  :attr:`DirectionTap.truncated`; that is how aborted connections look, and is
  not a protocol error.
* Client-to-server frames must be masked, server-to-client frames must not be.
* If the server's handshake response is not ``101``, nothing after it is
  WebSocket: both directions stop parsing (:attr:`WireTap.handshake_status`
  says why).
* When the handshake negotiated ``permessage-deflate``, data frames carry RSV1;
  the tap accepts it and records the *compressed* payload length. Control
  frames (and so close codes) are never compressed.

:meth:`WireTap.problems` lists the rule violations that a correct endpoint never
commits: a data frame after its own Close, a second Close, a Close whose code
may not be sent (:func:`wsstate.closecodes.is_sendable_code`) or whose payload
is one byte long, and a stream that does not parse.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Generator
from typing import Final, NamedTuple

from websockets.extensions.base import Extension
from websockets.frames import CTRL_OPCODES, DATA_OPCODES, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.streams import StreamReader
from websockets.typing import ExtensionName

from wsstate.closecodes import is_sendable_code

__all__ = ["DEFAULT_MAX_FRAME", "Direction", "DirectionTap", "WireFrame", "WireTap"]

#: Largest payload the tap buffers to parse one frame; larger ones are a parse error.
DEFAULT_MAX_FRAME: Final = 64 * 2**20


class Direction(enum.StrEnum):
    """Which way bytes flow. "client" is the peer that opened the TCP connection."""

    C2S = "client->server"
    S2C = "server->client"

    @property
    def masked(self) -> bool:
        """True if frames in this direction must be masked (client to server)."""
        return self is Direction.C2S


class WireFrame(NamedTuple):
    """One frame as seen on the wire.

    ``length`` is the payload length on the wire (after compression, if any).
    ``close_code`` is set for Close frames that carry one (payload of 2 bytes
    or more), and ``None`` otherwise.
    """

    opcode: Opcode
    length: int
    close_code: int | None


class _AcceptRsv1(Extension):
    """Lets RSV1 through on data frames (permessage-deflate) without inflating."""

    name = ExtensionName("wsstate-tap-rsv1")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.rsv1 and frame.opcode in DATA_OPCODES:
            return dataclasses.replace(frame, rsv1=False)
        return frame

    def encode(self, frame: Frame) -> Frame:  # pragma: no cover - never encodes
        return frame


_ACCEPT_RSV1: Final = [_AcceptRsv1()]


class DirectionTap:
    """The parser and the record for one direction of one connection."""

    def __init__(self, tap: WireTap, direction: Direction, max_frame: int | None) -> None:
        self.direction: Final = direction
        #: Frames parsed so far, in wire order.
        self.frames: list[WireFrame] = []
        #: Why parsing stopped on a garbled stream, else None.
        self.error: str | None = None
        #: Set when the stream ended in the middle of a handshake or a frame.
        self.truncated: str | None = None
        #: Bytes fed so far.
        self.nbytes = 0
        self._tap = tap
        self._max_frame = max_frame
        self._reader = StreamReader()
        self._parser = self._parse()
        next(self._parser)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parse more bytes of this direction. Never raises."""
        self.nbytes += len(data)
        if self._reader.eof:
            return
        try:
            self._reader.feed_data(bytes(data))
            next(self._parser)
        except StopIteration:
            self._reader.discard()
        except Exception as exc:  # pragma: no cover - _parse catches everything
            self.error = self.error or f"tap failure: {exc!r}"
            self._reader.discard()

    def feed_eof(self) -> None:
        """End this direction's stream. Never raises; idempotent."""
        if self._reader.eof:
            return
        try:
            self._reader.feed_eof()
            next(self._parser)
        except StopIteration:
            pass
        except Exception as exc:  # pragma: no cover - _parse catches everything
            self.error = self.error or f"tap failure: {exc!r}"
        self._reader.discard()

    def _parse(self) -> Generator[None, None, None]:
        reader = self._reader
        try:
            if self.direction is Direction.C2S:
                yield from Request.parse(reader.read_line)
                if self._tap.stopped:
                    return
            else:
                response = yield from Response.parse(
                    reader.read_line, reader.read_exact, reader.read_to_eof
                )
                self._tap.handshake_status = response.status_code
                if response.status_code != 101:
                    self._tap.stop_all(f"handshake answered {response.status_code}")
                    return
                offers = ",".join(response.headers.get_all("Sec-WebSocket-Extensions"))
                self._tap.compressed = "permessage-deflate" in offers
            while not (yield from reader.at_eof()):
                # The client's frames follow the server's 101 causally, so by
                # now the response (and what it negotiated) has been parsed.
                if self._tap.stopped:
                    return
                frame = yield from Frame.parse(
                    reader.read_exact,
                    mask=self.direction.masked,
                    max_size=self._max_frame,
                    extensions=_ACCEPT_RSV1 if self._tap.compressed else None,
                )
                self.frames.append(_record(frame))
        except EOFError as exc:
            self.truncated = str(exc) or "stream ended mid-frame"
        except Exception as exc:  # ProtocolError, ValueError, PayloadTooBig, ...: garbage
            self.error = f"{type(exc).__name__}: {exc}"
        # Discard whatever follows: the stream can no longer be framed.
        while True:
            reader.discard()
            yield

    def problems(self) -> list[str]:
        """Rule violations in this direction, as readable sentences."""
        found: list[str] = []
        close_at: int | None = None
        for index, frame in enumerate(self.frames):
            what = _describe(index, frame)
            if frame.opcode is Opcode.CLOSE:
                if close_at is not None:
                    first = _describe(close_at, self.frames[close_at])
                    found.append(f"{what} is a second Close (first: {first})")
                else:
                    close_at = index
                if frame.close_code is not None and not is_sendable_code(frame.close_code):
                    found.append(f"{what} carries code {frame.close_code}, which may not be sent")
                if frame.length == 1:
                    found.append(f"{what} has a 1-byte payload (a code needs 2)")
            elif frame.opcode in DATA_OPCODES and close_at is not None:
                found.append(f"{what} follows {_describe(close_at, self.frames[close_at])}")
        if self.error is not None:
            found.append(f"stream does not parse after {len(self.frames)} frames: {self.error}")
        return found


class WireTap:
    """Both directions of one WebSocket-over-TCP connection."""

    def __init__(self, *, max_frame: int | None = DEFAULT_MAX_FRAME) -> None:
        #: Status code of the handshake response, once seen.
        self.handshake_status: int | None = None
        #: True when permessage-deflate was negotiated; None before the response.
        self.compressed: bool | None = None
        #: Set (with the reason) when parsing stopped for a non-protocol reason.
        self.stopped: str | None = None
        self.directions: Final = {d: DirectionTap(self, d, max_frame) for d in Direction}

    def feed(self, direction: Direction, data: bytes | bytearray | memoryview) -> None:
        """Parse bytes flowing in ``direction``. Never raises."""
        self.directions[direction].feed(data)

    def feed_eof(self, direction: Direction) -> None:
        """Mark the end of ``direction``'s stream. Never raises; idempotent."""
        self.directions[direction].feed_eof()

    def stop_all(self, why: str) -> None:
        """Stop parsing both directions."""
        self.stopped = why
        for tap in self.directions.values():
            tap._reader.discard()

    def frames(self, direction: Direction) -> list[WireFrame]:
        """Frames seen in ``direction``, in wire order."""
        return self.directions[direction].frames

    def problems(self) -> list[str]:
        """Rule violations in both directions, each prefixed with its direction."""
        return [f"{d.value}: {p}" for d, tap in self.directions.items() for p in tap.problems()]


def _record(frame: Frame) -> WireFrame:
    code: int | None = None
    if frame.opcode is Opcode.CLOSE and len(frame.data) >= 2:
        (code,) = struct.unpack("!H", frame.data[:2])
    return WireFrame(frame.opcode, len(frame.data), code)


def _describe(index: int, frame: WireFrame) -> str:
    name = frame.opcode.name
    if frame.opcode is Opcode.CLOSE:
        detail = "no code" if frame.close_code is None else f"code {frame.close_code}"
        return f"frame #{index} {name} ({detail})"
    kind = "data" if frame.opcode not in CTRL_OPCODES else "control"
    return f"frame #{index} {name} ({kind}, {frame.length} bytes)"
