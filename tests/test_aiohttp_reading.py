"""How the aiohttp adapter reads: in the parser's turn, a task only when a read must wait.

The adapter puts a tap in front of aiohttp's WebSocket parser: once aiohttp parsed
what the socket delivered, the adapter reads its queue in the same turn (no task
per connection). These tests drive a guarded aiohttp server from a raw TCP peer
(frames written and read by hand, so that the peer can stop reading):

* a burst of messages larger than both queues reaches ``recv()`` whole and in
  order, with back-pressure (the adapter stops at ``max_queue``, aiohttp's queue
  holds the rest, and each ``recv()`` reads on), and no task was needed;
* a read that has to wait (the pong to a ping, behind a peer that stopped reading)
  is finished by a task, which reads on from then: the pong goes out once the
  peer reads, and a message the peer sent after its ping still reaches ``recv()``;
* the end of the stream (a FIN without Close) is read by a task: aiohttp's own
  ``close()``, which ``receive()`` runs then, waits within ``asyncio.timeout``;
* messages (and the Close) a client's aiohttp queue held before ``guard()`` are
  read at once, not when the next bytes arrive;
* the native socket's own ``close()``, called by the application, is a library
  close whose answer aiohttp's ``close()`` reads itself;
* aiohttp's receive timeout, set on a server's or a client's socket, is switched
  off by guarding (the keepalive replaces it; stepped outside a task it failed
  every connection on its first message);
* a failure while a message is taken, in the parser's turn, is the loss of the
  transport (logged once), as it is in the reading task;
* the loss that follows ending TCP after the peer's Close (``close_transport``)
  is fed in the same turn as that Close, after its row's effects.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from support.harness import Harness, eventually
from support.transports import by_id, raw_connection, serve, upgrade_request

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.adapters.aiohttp import DEFAULT_MAX_QUEUE, AiohttpTransport

SERVER = by_id("aiohttp-server")
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, masked: bool = True
) -> bytes:
    """One client frame: final unless ``fin`` is False, with RSV1 set if ``rsv1``,
    masked (as a client's must be) unless ``masked`` is False."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        length = bytes([mask_bit | n])
    elif n < 1 << 16:
        length = bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    first = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    if not masked:
        return first + length + payload
    mask = os.urandom(4)
    return first + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (unmasked): its opcode and payload."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)


async def open_raw(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await raw_connection(port)
    writer.write(upgrade_request(path))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def close_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close from the raw peer; read the server's frames up to its Close."""
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    while (await read_frame(reader))[0] != CLOSE:
        pass
    writer.close()
    await writer.wait_closed()


async def serve_aiohttp(
    h: Harness, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> int:
    """A real aiohttp server of ``handler`` on ``/`` (cleaned up at teardown): its port."""
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    h.defer(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    return port


async def echo_hello(port: int) -> None:
    """A raw peer sends "hello", reads it echoed, then closes."""
    reader, writer = await open_raw(port, "/")
    writer.write(frame(TEXT, b"hello"))
    assert await read_frame(reader) == (TEXT, b"hello")
    await close_raw(reader, writer)


def adapter(conn: GuardedConnection) -> AiohttpTransport:
    transport = conn.transport
    assert isinstance(transport, AiohttpTransport)
    return transport


async def test_a_burst_reaches_recv_in_order_with_back_pressure_and_no_task(
    h: Harness,
) -> None:
    count = 300  # ~300 KB: more than the adapter's 16 messages and aiohttp's 128 KiB
    payloads = [f"m{i}:{'x' * 1000}" for i in range(count)]
    opened: list[GuardedConnection] = []
    queued: list[tuple[int, int]] = []
    got: list[object] = []
    done = asyncio.Event()

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        t = adapter(conn)
        # Nobody calls recv() yet: the adapter's queue fills, aiohttp's holds the rest.
        await eventually(lambda: len(t._messages) == DEFAULT_MAX_QUEUE and bool(t._queue._buffer))
        queued.append((len(t._messages), len(t._queue._buffer)))
        for _ in range(count):
            got.append(await conn.recv())
        done.set()
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    reader, writer = await open_raw(served.port, served.path)
    writer.write(b"".join(frame(TEXT, p.encode()) for p in payloads))
    await asyncio.wait_for(done.wait(), 10)
    assert got == payloads
    ((held, in_aiohttp),) = queued
    assert held == DEFAULT_MAX_QUEUE
    assert in_aiohttp > 0
    assert adapter(opened[0])._reader is None  # read in the parser's turn throughout
    await close_raw(reader, writer)
    await eventually(lambda: opened[0].state is State.CLOSED)
    assert opened[0].clean


async def test_a_read_that_must_wait_is_finished_by_a_task_which_reads_on(h: Harness) -> None:
    opened: list[GuardedConnection] = []
    full = asyncio.Event()
    after: list[object] = []

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        t = adapter(conn)
        writer: Any = t.websocket._writer
        # The peer reads nothing: write until asyncio's buffer is above its mark...
        while not writer.protocol._paused:
            await conn.send(b"x" * 65536)
        # ...and let aiohttp's writer count reach its limit: the next frame it
        # writes (the pong) makes it wait for the peer to read.
        writer._output_size = writer._limit
        full.set()
        after.append(await conn.recv())
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None, write_timeout=None)
    reader, writer = await open_raw(served.port, served.path)
    await asyncio.wait_for(full.wait(), 10)
    writer.write(frame(PING, b"p1") + frame(TEXT, b"after"))
    conn = opened[0]
    await eventually(lambda: adapter(conn)._reader is not None)  # the pong waits in a task
    assert not after  # "after" waits behind the pong
    pong = None
    while pong is None:  # the peer reads: the buffered data, then the pong
        opcode, payload = await read_frame(reader)
        if opcode == PONG:
            pong = payload
    assert pong == b"p1"
    await eventually(lambda: after == ["after"])
    await close_raw(reader, writer)
    await eventually(lambda: conn.state is State.CLOSED)
    assert conn.clean


async def test_a_receive_timeout_on_the_server_socket_is_replaced(h: Harness) -> None:
    """aiohttp's receive timeout would run asyncio.timeout() in the pump (no task):
    guarding switches it off, as the heartbeat (the keepalive replaces both)."""
    from aiohttp import web

    from wsstate import guard

    conns: list[GuardedConnection] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(receive_timeout=30)
        await ws.prepare(request)
        conn = guard(ws, ping_interval=None)
        conns.append(conn)
        await conn.send(await conn.recv())  # echo one message
        await conn.wait_closed()
        return ws

    await echo_hello(await serve_aiohttp(h, handler))
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.clean) == (1000, True)
    assert adapter(conn).websocket.exception() is None


async def test_a_receive_timeout_on_the_client_socket_is_replaced(h: Harness) -> None:
    import aiohttp
    from websockets.asyncio.server import ServerConnection, serve

    from wsstate import guard

    async def handler(ws: ServerConnection) -> None:
        await ws.send("hi")
        await ws.send(f"and {await ws.recv()!s}")
        await ws.wait_closed()

    # The socket read timeout aiohttp derives (the larger of sock_read and
    # ws_receive) and ws_receive itself: both off once guarded.
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=0.2)) as session:
            native = await session.ws_connect(
                f"ws://127.0.0.1:{port}/",
                timeout=aiohttp.ClientWSTimeout(ws_receive=0.2, ws_close=10),
            )
            conn = guard(native, ping_interval=None)
            assert await conn.recv() == "hi"
            await asyncio.sleep(0.5)  # silence, longer than both
            await conn.send("bye")
            assert await conn.recv() == "and bye"
            assert await conn.close() is True
            assert (conn.close_code, conn.clean) == (1000, True)
            assert native.exception() is None


async def test_the_end_of_the_stream_is_read_by_a_task(h: Harness) -> None:
    """A FIN without a Close frame: the message before it is delivered, then the
    loss; aiohttp's own close() (run by receive()) finishes inside a task."""
    opened: list[GuardedConnection] = []
    got: list[object] = []

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        got.append(await conn.recv())
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    reader, writer = await open_raw(served.port, served.path)
    writer.write(frame(TEXT, b"last"))
    writer.write_eof()
    await reader.read()  # whatever the server sends, until it closes
    writer.close()
    await writer.wait_closed()
    (conn,) = opened
    await eventually(lambda: conn.state is State.CLOSED)
    assert got == ["last"]
    assert adapter(conn)._reader is not None
    assert not conn.clean
    # aiohttp's close() ran in a task: not "Timeout should be used inside a task"
    # (its Close frame found the transport closing: aiohttp records that).
    assert not isinstance(adapter(conn).websocket.exception(), RuntimeError)


async def test_messages_queued_before_guard_reach_recv(h: Harness) -> None:
    """A client guarded after the server's first messages (and its Close) reached
    aiohttp's queue: the adapter reads them at once (no feed will come for them)."""
    import aiohttp
    from websockets.asyncio.server import ServerConnection, serve

    from wsstate import ClosedBy, guard

    async def handler(ws: ServerConnection) -> None:
        await ws.send("early")
        await ws.send("earlier than guard()")
        await ws.close(4000, "done")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with aiohttp.ClientSession() as session:
            native = await session.ws_connect(f"ws://127.0.0.1:{port}/")
            queue = native._reader
            assert queue is not None
            await eventually(lambda: len(queue._buffer) == 3)  # two messages and the Close
            conn = guard(native, ping_interval=None)
            # At once: nothing else (the server's close timeout, a FIN) may wake it.
            async with asyncio.timeout(2):
                assert await conn.recv() == "early"
                assert await conn.recv() == "earlier than guard()"
                await conn.wait_closed()
            assert (conn.close_code, conn.close_reason, conn.closed_by) == (
                4000,
                "done",
                ClosedBy.REMOTE,
            )
            assert conn.clean


async def test_aiohttp_own_close_reads_the_answer_itself(h: Harness) -> None:
    """The application calls the native socket's close(): a library close with its
    code; aiohttp's close() reads the peer's answer (the pump reads nothing more,
    the data the peer sent before its answer included), then the loss."""
    from wsstate import ClosedBy

    opened: list[GuardedConnection] = []
    returned: list[bool] = []

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        returned.append(await adapter(conn).websocket.close(code=4001, message=b"native"))
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    reader, writer = await open_raw(served.port, served.path)
    opcode, payload = await read_frame(reader)
    assert (opcode, payload) == (CLOSE, (4001).to_bytes(2, "big") + b"native")
    (conn,) = opened
    assert conn.state is State.CLOSING  # aiohttp's close() waits for the answer
    writer.write(frame(TEXT, b"too late") + frame(CLOSE, (4001).to_bytes(2, "big")))
    await eventually(lambda: conn.state is State.CLOSED)
    assert returned == [True]
    assert (conn.close_code, conn.close_reason, conn.closed_by) == (4001, "native", ClosedBy.LOCAL)
    assert conn.clean  # the peer answered (aiohttp read it: answer_facts)
    assert adapter(conn)._messages == deque()  # "too late" was aiohttp's to discard
    assert adapter(conn)._reader is None
    writer.close()
    await writer.wait_closed()


async def test_a_handler_returning_open_closes_cleanly_once_the_peer_answers(
    h: Harness,
) -> None:
    """aiohttp closes a handler's WebSocket when the handler returns: a library close;
    the peer's answer, which aiohttp's close() reads, makes it clean."""
    from aiohttp import web

    opened: list[GuardedConnection] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = wsstate.guard(ws, ping_interval=None)
        h.track(conn)
        opened.append(conn)
        return ws  # open: aiohttp's own close() follows

    reader, writer = await open_raw(await serve_aiohttp(h, handler), "/")
    opcode, payload = await read_frame(reader)
    assert (opcode, payload) == (CLOSE, (1000).to_bytes(2, "big"))
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    (conn,) = opened
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1000, ClosedBy.LOCAL, True)
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


async def test_a_failure_while_a_message_is_taken_is_the_loss_of_the_transport(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the adapter does with a message failed (here: the connection's own
    # notice of it): in the parser's turn as in the reading task, that is logged
    # once at ERROR and the transport is lost (the connection reaches CLOSED at
    # once, not by its timers), and nothing of it reaches aiohttp's data_received.
    opened: list[GuardedConnection] = []

    def broken(self: GuardedConnection) -> None:
        raise RuntimeError("broken on purpose")

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    _, writer = await open_raw(served.port, served.path)
    await eventually(lambda: bool(opened))
    monkeypatch.setattr(GuardedConnection, "_on_data", broken)
    h.wsstate_errors = 1
    writer.write(frame(TEXT, b"hello"))
    conn = opened[0]
    await eventually(lambda: conn.state is State.CLOSED)
    monkeypatch.undo()
    assert conn.closed_by is ClosedBy.TRANSPORT
    assert adapter(conn)._reader is None  # it failed in the parser's turn
    (record,) = h.records(logging.ERROR)
    assert record.getMessage() == "aiohttp receive() failed on a guarded WebSocket"
    writer.close()


async def test_the_loss_after_ending_the_transport_is_fed_in_the_same_turn(h: Harness) -> None:
    # The peer's Close on the server: its row echoes it and ends TCP
    # (close_transport), and the adapter knows the loss then. The connection reads
    # the facts again once that row is done: CLOSE_RECEIVED -> CLOSED by the loss
    # in the same turn of the loop as the peer's Close, after the row's effects.
    opened: list[GuardedConnection] = []
    seen: list[tuple[str, str, int]] = []
    turns = [0]
    loop = asyncio.get_running_loop()

    def tick() -> None:
        turns[0] += 1
        if not opened or opened[0].state is not State.CLOSED:
            loop.call_soon(tick)

    class Transitions(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            transition = getattr(record, "wsstate_transition", None)
            if transition is not None:
                _, _, event, nxt = transition
                seen.append((event.value, nxt.value, turns[0]))

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        await conn.wait_closed()

    handler = Transitions(logging.DEBUG)
    wsstate_logger = logging.getLogger("wsstate")
    level = wsstate_logger.level
    wsstate_logger.addHandler(handler)
    wsstate_logger.setLevel(logging.DEBUG)
    try:
        served = await serve(h, SERVER, app, ping_interval=None)
        reader, writer = await open_raw(served.port, served.path)
        await eventually(lambda: bool(opened))
        loop.call_soon(tick)
        writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
        assert await read_frame(reader) == (CLOSE, (1000).to_bytes(2, "big"))  # the echo
        await eventually(lambda: opened[0].state is State.CLOSED)
    finally:
        wsstate_logger.removeHandler(handler)
        wsstate_logger.setLevel(level)
    closing = [(event, nxt) for event, nxt, _ in seen if nxt != "OPEN"]
    assert closing == [("peer_close", "CLOSE_RECEIVED"), ("transport_eof", "CLOSED")]
    (peer_turn,) = {t for event, _, t in seen if event == "peer_close"}
    (loss_turn,) = {t for event, _, t in seen if event == "transport_eof"}
    assert loss_turn == peer_turn
    assert opened[0].clean
    assert opened[0].closed_by is ClosedBy.REMOTE
    writer.close()
    await writer.wait_closed()


NATIVE_REFUSED = [
    # the native socket's own close(code=..., message=...) -> the error, nothing changed
    ({"code": 1006}, wsstate.InvalidCloseCode),  # aiohttp put it on the wire
    ({"code": 2000, "message": b"x"}, wsstate.InvalidCloseCode),
    ({"message": b"y" * 124}, wsstate.InvalidCloseReason),  # the peer failed with 1002
    ({"message": b"\xff"}, wsstate.InvalidCloseReason),  # not UTF-8
]


@pytest.mark.parametrize(
    ("kwargs", "error"), NATIVE_REFUSED, ids=[str(k) for k, _ in NATIVE_REFUSED]
)
async def test_the_native_close_is_checked_before_anything_changes(
    h: Harness, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    opened: list[GuardedConnection] = []
    refused: list[BaseException] = []

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        try:
            await adapter(conn).websocket.close(**kwargs)
        except Exception as exc:
            refused.append(exc)
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    reader, writer = await open_raw(served.port, served.path)
    await eventually(lambda: len(refused) == 1)
    (conn,) = opened
    assert isinstance(refused[0], error), refused
    assert conn.state is State.OPEN
    # Untouched: the guarded close still sends its Close (none went out before).
    closing = asyncio.ensure_future(conn.close(4000, "after"))
    opcode, payload = await asyncio.wait_for(read_frame(reader), 2.0)
    assert (opcode, payload) == (CLOSE, (4000).to_bytes(2, "big") + b"after")
    writer.write(frame(CLOSE, (4000).to_bytes(2, "big")))
    assert await asyncio.wait_for(closing, 2.0)
    assert (conn.close_code, conn.closed_by, conn.clean) == (4000, ClosedBy.LOCAL, True)
    writer.close()
    await writer.wait_closed()


async def test_a_native_close_while_the_task_reads_is_clean_only_with_an_answer(
    h: Harness,
) -> None:
    """While the adapter's reading task waits in receive(), aiohttp's close() ends that
    receive() with close_code 1000 and closes TCP without reading the answer: the
    close is not clean (answer_facts, read=False), whatever close_code says."""
    opened: list[GuardedConnection] = []
    full = asyncio.Event()

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        writer: Any = adapter(conn).websocket._writer
        while not writer.protocol._paused:  # as above: the pong must wait in a task
            await conn.send(b"x" * 65536)
        writer._output_size = writer._limit
        full.set()
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None, write_timeout=None)
    reader, writer = await open_raw(served.port, served.path)
    await asyncio.wait_for(full.wait(), 10)
    writer.write(frame(PING, b"p1"))
    conn = opened[0]
    await eventually(lambda: adapter(conn)._reader is not None)
    while (await read_frame(reader))[0] != PONG:  # the peer reads: the task reads on
        pass
    ws: Any = adapter(conn).websocket
    await eventually(lambda: ws._waiting)  # in receive(), waiting for a frame
    closing = asyncio.ensure_future(ws.close(code=4001, message=b"native"))
    assert await read_frame(reader) == (CLOSE, (4001).to_bytes(2, "big") + b"native")
    assert await asyncio.wait_for(closing, 2.0)  # never answered
    assert ws.close_code == 1000  # what aiohttp says: not an answer
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.closed_by, conn.clean) == (4001, ClosedBy.LOCAL, False)
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("code", [1002, 1003, 1007, 1009])
async def test_a_native_close_that_blames_the_peer_is_on_the_wire(h: Harness, code: int) -> None:
    """The table ends the transport once it hears of a close that blames the peer:
    the frame goes out first (it used to be recorded first, and TCP ended bare)."""
    h.wsstate_info = True  # library_close_peer_fault is logged at INFO
    opened: list[GuardedConnection] = []
    returned: list[bool] = []

    async def app(conn: GuardedConnection) -> None:
        opened.append(conn)
        returned.append(await adapter(conn).websocket.close(code=code, message=b"bye"))
        await conn.wait_closed()

    served = await serve(h, SERVER, app, ping_interval=None)
    reader, writer = await open_raw(served.port, served.path)
    assert await asyncio.wait_for(read_frame(reader), 2.0) == (
        CLOSE,
        code.to_bytes(2, "big") + b"bye",
    )
    assert await asyncio.wait_for(reader.read(), 2.0) == b""  # then the end of TCP
    (conn,) = opened
    await eventually(lambda: conn.state is State.CLOSED)
    assert returned == [True]
    assert (conn.close_code, conn.close_reason) == (code, "bye")
    assert (conn.closed_by, conn.clean) == (ClosedBy.REMOTE, False)
    writer.close()
    await writer.wait_closed()


async def test_guard_before_prepare_says_prepare_first(h: Harness) -> None:
    """Before ``prepare()`` a response has neither writer nor loop: the error says to
    prepare it first (the event-loop check, which needs the loop, comes after)."""
    from aiohttp import web

    from wsstate import guard

    conns: list[GuardedConnection] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        with pytest.raises(TypeError, match="prepare"):
            guard(ws)
        await ws.prepare(request)
        conn = guard(ws, ping_interval=None)  # nothing changed: guarded once prepared
        conns.append(conn)
        await conn.send(await conn.recv())
        await conn.wait_closed()
        return ws

    await echo_hello(await serve_aiohttp(h, handler))
    (conn,) = conns
    await eventually(lambda: conn.state is State.CLOSED)
    assert (conn.close_code, conn.clean) == (1000, True)
