"""The tornado adapter's closing edges, on a real tornado server and a raw TCP peer.

The peer writes and reads frames by hand (``test_aiohttp_reading``'s helpers), so
that it can send what a conforming client would not:

* a Close that breaks RFC 6455 (one byte, a code that may not be sent, a reason
  that is not UTF-8) fails the connection with 1002 or 1007: the peer receives
  that Close, not its own code echoed, and the connection reports it as a library
  close that blames the peer (``close_frame_fault``), as on aiohttp;
* a text message that is not UTF-8 (judged once decompressed) fails the
  connection with 1007, and a frame that breaks the RFC (a reserved opcode or
  bit, a bad control frame, a stray continuation) with 1002, where tornado
  dropped TCP without a Close (the connection reported 1006); tornado's abort
  when the application's ``on_ping`` raises is not blamed on the peer;
* a Close without a code is the peer's Close (1005, clean), not a loss;
* a message over tornado's ``websocket_max_message_size``: tornado's own Close
  1009 reaches the peer (the table used to hear of it first and end the stream
  before tornado wrote the frame);
* ``open()`` raising after ``guard()``: tornado aborts the stream without running
  its read loop, so nothing reported the closure and the connection stayed OPEN;
  now it is CLOSED (1006, the transport), its hub lets it go and ``recv()`` ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
import tornado.websocket
from support.frameworks import serve_tornado
from support.harness import GUARD_DEFAULTS, WS_DEFAULTS, Harness, eventually
from test_aiohttp_reading import CLOSE, CONTINUATION, PING, PONG, TEXT, frame, open_raw, read_frame
from websockets.asyncio.client import connect as ws_connect

import wsstate
from wsstate import ClosedBy, GuardedConnection, State

STEP = 2.0


async def serve(
    h: Harness, opened: Callable[[tornado.websocket.WebSocketHandler], None], **settings: Any
) -> int:
    """A tornado server whose handler's ``open()`` runs ``opened(self)``; its port."""

    class Handler(tornado.websocket.WebSocketHandler):
        def open(self, *args: str, **kwargs: str) -> None:
            opened(self)

    _server, port = await serve_tornado(h, [("/", Handler)], **settings)
    return port


async def guarded_server(
    h: Harness, **settings: Any
) -> tuple[int, list[GuardedConnection], list[tornado.websocket.WebSocketHandler]]:
    """A server whose handlers guard themselves in ``open()``: its port, the
    connections (tracked) and their handlers."""
    conns: list[GuardedConnection] = []
    handlers: list[tornado.websocket.WebSocketHandler] = []

    def opened(handler: tornado.websocket.WebSocketHandler) -> None:
        conn = wsstate.guard(handler, **{**GUARD_DEFAULTS, "ping_interval": None})
        h.track(conn)
        conns.append(conn)
        handlers.append(handler)

    return await serve(h, opened, **settings), conns, handlers


async def read_close(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The server's next frame, a Close (its payload), then the end of the stream."""
    opcode, payload = await asyncio.wait_for(read_frame(reader), STEP)
    assert opcode == CLOSE, (opcode, payload)
    rest = await asyncio.wait_for(reader.read(), STEP)
    return payload, rest


async def raw_peer_of_guarded(
    h: Harness,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, GuardedConnection]:
    """A raw peer of a guarded server connection: its stream and the connection."""
    h.wsstate_info = True  # library_close_peer_fault is logged at INFO
    port, conns, _handlers = await guarded_server(h)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    return reader, writer, conns[0]


async def assert_failed_by_peer(
    reader: asyncio.StreamReader, conn: GuardedConnection, code: int, reason: str
) -> None:
    """The peer received this Close, then the end of the stream; the connection
    reports it as the library's close blaming the peer."""
    answer, rest = await read_close(reader)
    assert (int.from_bytes(answer[:2], "big"), answer[2:]) == (code, reason.encode())
    assert rest == b""
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.close_reason) == (code, reason)
    assert (conn.closed_by, conn.clean) == (ClosedBy.REMOTE, False)


BROKEN = [
    # (the peer's Close payload, the Close it receives: code, reason)
    (b"\x03", 1002, "invalid close frame"),  # one byte
    ((1006).to_bytes(2, "big"), 1002, "invalid close code"),  # reserved, never sent
    ((1005).to_bytes(2, "big") + b"x", 1002, "invalid close code"),
    ((999).to_bytes(2, "big"), 1002, "invalid close code"),  # below the range
    ((2000).to_bytes(2, "big"), 1002, "invalid close code"),  # unassigned
    ((1000).to_bytes(2, "big") + b"\xff\xfe", 1007, "invalid close reason"),  # not UTF-8
]


@pytest.mark.parametrize(("payload", "code", "reason"), BROKEN, ids=[b[0].hex() for b in BROKEN])
async def test_a_close_that_breaks_the_rfc_fails_the_connection(
    h: Harness, payload: bytes, code: int, reason: str
) -> None:
    reader, writer, conn = await raw_peer_of_guarded(h)
    writer.write(frame(CLOSE, payload))
    await assert_failed_by_peer(reader, conn, code, reason)


NOT_UTF8 = [
    # the frames of one text message that is not UTF-8 (RFC 6455 8.1)
    [frame(TEXT, b"\xff\xfe")],
    [frame(TEXT, b"ok \xc3", fin=False), frame(CONTINUATION, b"(")],  # cut across fragments
]


@pytest.mark.parametrize("frames", NOT_UTF8, ids=["one-frame", "fragmented"])
async def test_a_text_message_that_is_not_utf8_fails_the_connection_with_1007(
    h: Harness, frames: list[bytes]
) -> None:
    reader, writer, conn = await raw_peer_of_guarded(h)
    # A valid message split inside a character first: delivered whole.
    writer.write(frame(TEXT, "caf\u00e9".encode()[:4], fin=False) + frame(CONTINUATION, b"\xa9"))
    assert await asyncio.wait_for(conn.recv(), STEP) == "caf\u00e9"
    writer.write(b"".join(frames))  # tornado dropped TCP without a Close
    await assert_failed_by_peer(reader, conn, 1007, "invalid text message")
    with pytest.raises(wsstate.ConnectionClosed):  # nothing of it was delivered
        await conn.recv()


async def test_a_compressed_text_message_that_is_not_utf8_fails_with_1007(h: Harness) -> None:
    """Judged once tornado decompressed it: websockets' client compresses by default
    (and sends bytes as a text frame unchecked with ``text=True``)."""
    h.wsstate_info = True
    conns: list[GuardedConnection] = []

    class Compressing(tornado.websocket.WebSocketHandler):
        def get_compression_options(self) -> dict[str, Any]:
            return {}  # permessage-deflate, tornado's defaults

        def open(self, *args: str, **kwargs: str) -> None:
            conns.append(wsstate.guard(self, **{**GUARD_DEFAULTS, "ping_interval": None}))
            h.track(conns[-1])

    _server, port = await serve_tornado(h, [("/", Compressing)])
    async with ws_connect(f"ws://127.0.0.1:{port}/", **WS_DEFAULTS) as peer:
        assert peer.protocol.extensions  # permessage-deflate negotiated
        await eventually(lambda: len(conns) == 1)
        (conn,) = conns
        await peer.send("caf\u00e9 " * 50)  # valid, compressed: delivered
        assert await asyncio.wait_for(conn.recv(), STEP) == "caf\u00e9 " * 50
        await peer.send(b"\xff\xfe" * 50, text=True)
        await asyncio.wait_for(peer.wait_closed(), STEP)
    assert (peer.close_code, peer.close_reason) == (1007, "invalid text message")
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1007, ClosedBy.REMOTE, False)


PROTOCOL_FAULTS = {
    # what the peer sends that tornado's reading aborts for, without a Close
    "reserved-opcode": frame(0x3, b"x"),
    "rsv1-without-extension": frame(TEXT, b"x", rsv1=True),
    "fragmented-ping": frame(PING, b"x", fin=False),
    "ping-over-125-bytes": frame(PING, b"x" * 126),
    "continuation-of-nothing": frame(CONTINUATION, b"x"),
    "new-message-inside-one": frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
}


@pytest.mark.parametrize("sent", PROTOCOL_FAULTS.values(), ids=PROTOCOL_FAULTS.keys())
async def test_a_frame_that_breaks_the_rfc_fails_the_connection_with_1002(
    h: Harness, sent: bytes
) -> None:
    reader, writer, conn = await raw_peer_of_guarded(h)
    writer.write(sent)  # tornado dropped TCP without a Close
    await assert_failed_by_peer(reader, conn, 1002, "protocol error")


async def test_an_on_ping_that_raises_is_not_blamed_on_the_peer(h: Harness) -> None:
    """tornado aborts when the application's ``on_ping`` raises: not the peer's fault."""

    class Handler(tornado.websocket.WebSocketHandler):
        def open(self, *args: str, **kwargs: str) -> None:
            conns.append(wsstate.guard(self, **{**GUARD_DEFAULTS, "ping_interval": None}))
            h.track(conns[-1])

        def on_ping(self, data: bytes) -> None:
            raise RuntimeError("the application's on_ping failed")

    conns: list[GuardedConnection] = []
    _server, port = await serve_tornado(h, [("/", Handler)])
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    writer.write(frame(PING, b"x"))
    received = []  # every frame until tornado drops TCP: its pong, and no Close
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            received.append(await asyncio.wait_for(read_frame(reader), STEP))
    assert [opcode for opcode, _ in received] == [PONG], received
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1006, ClosedBy.TRANSPORT, False)
    (logged,) = h.take(logging.ERROR, "tornado.application")
    assert str(logged.exc_info[1]) == "the application's on_ping failed"  # type: ignore[index]


async def test_a_client_fails_a_text_message_that_is_not_utf8_with_1007(h: Harness) -> None:
    """The same on a guarded ``websocket_connect`` client, from a raw server."""
    got: asyncio.Future[tuple[int, bytes, bytes]] = asyncio.get_running_loop().create_future()

    async def raw_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        (key,) = [
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        ]
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        writer.write(bytes([0x80 | TEXT, 2]) + b"\xff\xfe")  # unmasked, as a server's
        first, second = await reader.readexactly(2)  # the client's Close, masked
        mask = await reader.readexactly(4)
        payload = bytes(
            b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(second & 0x7F))
        )
        got.set_result((first & 0x0F, payload, await reader.read()))
        writer.close()

    server = await asyncio.start_server(raw_server, "127.0.0.1", 0)

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    h.defer(stop)
    port = server.sockets[0].getsockname()[1]
    native = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/")
    conn = wsstate.guard(native, **{**GUARD_DEFAULTS, "ping_interval": None})
    h.track(conn)
    h.wsstate_info = True  # library_close_peer_fault is logged at INFO
    opcode, payload, rest = await asyncio.wait_for(got, STEP)
    assert (opcode, int.from_bytes(payload[:2], "big"), payload[2:]) == (
        CLOSE,
        1007,
        b"invalid text message",
    )
    assert rest == b""  # then the end of the stream
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1007, ClosedBy.REMOTE, False)


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def test_a_close_without_a_code_is_the_peers_close(h: Harness) -> None:
    port, conns, _handlers = await guarded_server(h)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    writer.write(frame(CLOSE, b""))
    answer, rest = await read_close(reader)
    assert (answer, rest) == (b"", b"")  # tornado echoes it, without a code
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1005, ClosedBy.REMOTE, True)


async def test_a_message_too_big_gets_tornados_1009_on_the_wire(h: Harness) -> None:
    h.wsstate_info = True  # library_close_peer_fault is logged at INFO
    port, conns, _handlers = await guarded_server(h, websocket_max_message_size=100)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    writer.write(frame(TEXT, b"x" * 200))
    answer, _rest = await read_close(reader)
    assert (int.from_bytes(answer[:2], "big"), answer[2:]) == (1009, b"message too big")
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1009, ClosedBy.REMOTE, False)


async def test_open_raising_after_guard_ends_the_connection(h: Harness) -> None:
    hub = wsstate.Hub()
    conns: list[GuardedConnection] = []
    served: list[list[str | bytes]] = []
    tasks: list[asyncio.Future[None]] = []

    async def serve_messages(conn: GuardedConnection) -> None:
        got: list[str | bytes] = [message async for message in conn]  # ends quietly
        served.append(got)

    def opened(handler: tornado.websocket.WebSocketHandler) -> None:
        conn = wsstate.guard(handler, **{**GUARD_DEFAULTS, "ping_interval": None})
        h.track(conn)
        conns.append(conn)
        hub.add(conn)
        tasks.append(asyncio.ensure_future(serve_messages(conn)))
        raise RuntimeError("the application's check failed")

    port = await serve(h, opened)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    assert await asyncio.wait_for(reader.read(), STEP) == b""  # tornado aborted the stream
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1006, ClosedBy.TRANSPORT, False)
    await asyncio.wait_for(tasks[0], STEP)
    assert served == [[]]  # the async for ended quietly
    assert len(hub) == 0
    assert not await conn.try_send("after")
    # tornado logs the application's exception: the one ERROR of this test.
    (logged,) = h.take(logging.ERROR, "tornado.application")
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == "the application's check failed"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):  # the server reset it
        await writer.wait_closed()


NATIVE_REFUSED = [
    # the handler's own close(code, reason) -> the error, nothing changed
    ((1006, None), wsstate.InvalidCloseCode),
    ((999, "x"), wsstate.InvalidCloseCode),
    ((1000, "y" * 124), wsstate.InvalidCloseReason),  # tornado raised ValueError, after
    ((1000, "\ud800"), wsstate.InvalidCloseReason),  # a lone surrogate: not UTF-8
]


@pytest.mark.parametrize(("args", "error"), NATIVE_REFUSED, ids=[str(a[0]) for a in NATIVE_REFUSED])
async def test_the_handlers_own_close_is_checked_before_anything_changes(
    h: Harness, args: tuple[int, str | None], error: type[Exception]
) -> None:
    port, conns, handlers = await guarded_server(h)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    (handler,), (conn,) = handlers, conns
    with pytest.raises(error):
        handler.close(*args)
    assert conn.state is State.OPEN
    # Untouched: the guarded close still sends its Close (none went out before).
    closing = asyncio.ensure_future(conn.close(4000, "after"))
    opcode, payload = await asyncio.wait_for(read_frame(reader), STEP)
    assert (opcode, payload) == (CLOSE, (4000).to_bytes(2, "big") + b"after")
    writer.write(frame(CLOSE, (4000).to_bytes(2, "big")))
    assert await asyncio.wait_for(closing, STEP)
    assert (conn.close_code, conn.closed_by, conn.clean) == (4000, ClosedBy.LOCAL, True)


async def test_the_handlers_own_close_without_a_code_sends_1000(h: Harness) -> None:
    port, conns, handlers = await guarded_server(h)
    reader, writer = await open_raw(port, "/")
    h.defer(lambda: _close(writer))
    await eventually(lambda: len(conns) == 1)
    handlers[0].close()  # tornado alone sends an empty Close (the peer sees 1005)
    opcode, payload = await asyncio.wait_for(read_frame(reader), STEP)
    assert (opcode, payload) == (CLOSE, (1000).to_bytes(2, "big"))
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    conn = conns[0]
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1000, ClosedBy.LOCAL, True)


@pytest.mark.parametrize("ending", ["ours", "peer_close", "peer_drop"])
def test_a_guarded_client_connection_is_not_left_unclosed(ending: str) -> None:
    # tornado warns "Unclosed WebSocketClientConnection" when a client connection
    # whose close() was never called is freed, even one the peer closed.
    import gc
    import warnings

    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        if ending != "ours":
            await ws.recv()  # the client is guarded
        if ending == "peer_close":
            await ws.close(4000, "bye")
        elif ending == "peer_drop":
            assert ws.transport is not None
            ws.transport.abort()
        else:
            async for message in ws:
                await ws.send(message)

    async def main() -> tuple[int | None, ClosedBy | None]:
        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            native = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/")
            conn = wsstate.guard(native, ping_interval=None)
            del native
            if ending == "ours":
                await conn.close()
            else:
                await conn.send("go")
                with contextlib.suppress(wsstate.ConnectionClosed):
                    await asyncio.wait_for(conn.recv(), STEP)
                await eventually(lambda: conn.state is State.CLOSED, within=STEP)
            return conn.close_code, conn.closed_by

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, closed_by = asyncio.run(main())
        gc.collect()
    assert (code, closed_by) == {
        "ours": (1000, ClosedBy.LOCAL),
        "peer_close": (4000, ClosedBy.REMOTE),
        "peer_drop": (1006, ClosedBy.TRANSPORT),
    }[ending]
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("greetings", [1, 3])
async def test_a_client_guarded_late_gets_the_messages_that_came_before(
    h: Harness, greetings: int
) -> None:
    # tornado's client keeps received messages in a read queue of one, its read loop
    # waiting to put the next: the guard replaced on_message and never read that
    # queue. One greeting sent before guard() was lost; with more, tornado stopped
    # reading, and the peer's Close was never seen (OPEN for good).
    from websockets.asyncio.server import ServerConnection, serve

    async def greet(ws: ServerConnection) -> None:
        for i in range(greetings):
            await ws.send(f"hello {i}")
        await asyncio.sleep(0.2)
        await ws.send("later")
        await ws.close(1000, "done")

    async with serve(greet, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/")
        await asyncio.sleep(0.1)  # the application did something else first
        conn = wsstate.guard(ws, **GUARD_DEFAULTS)
        h.track(conn)
        got: list[str | bytes] = []
        async with asyncio.timeout(5.0):
            async for message in conn:
                got.append(message)
    assert got == [f"hello {i}" for i in range(greetings)] + ["later"]
    assert (conn.close_code, conn.closed_by) == (1000, wsstate.ClosedBy.REMOTE)
