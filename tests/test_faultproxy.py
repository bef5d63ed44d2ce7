"""The fault proxy, its wire tap and the hygiene helpers, against real websockets peers.

Every scenario runs in a fresh event loop through :func:`run`, which fails the
test if the loop's exception handler was called or if a socket, descriptor or
task opened by the scenario is still there one second after it ended.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidMessage
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from wsstate.testing import (
    Direction,
    FaultProxy,
    LoopWatch,
    ResourceSnapshot,
    Side,
    WireFrame,
    WireTap,
)

C2S, S2C = Direction.C2S, Direction.S2C
SCENARIO_TIMEOUT = 5.0


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` in a new loop; then require a silent loop and no leaks."""

    async def checked() -> None:
        baseline = ResourceSnapshot.take()
        with LoopWatch() as watch:
            async with asyncio.timeout(SCENARIO_TIMEOUT):
                await scenario()
            await baseline.assert_restored(settle=1.0)
            watch.assert_not_called()

    asyncio.run(checked())


Behaviour = Callable[[ServerConnection], Awaitable[None]]


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def idle(ws: ServerConnection) -> None:
    await ws.wait_closed()


class Server:
    """A websockets server on loopback that records its connections and how they ended."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.port = 0
        self.connections: list[ServerConnection] = []
        #: Per connection: the ConnectionClosed its handler got, or None if it ended quietly.
        self.outcomes: list[asyncio.Future[ConnectionClosed | None]] = []
        self.accepted = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        outcome: asyncio.Future[ConnectionClosed | None] = asyncio.Future()
        self.connections.append(ws)
        self.outcomes.append(outcome)
        self.accepted.set()
        try:
            await self.behaviour(ws)
        except ConnectionClosed as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    async def first(self) -> ServerConnection:
        await self.accepted.wait()
        return self.connections[0]


@asynccontextmanager
async def setup(
    behaviour: Behaviour = echo, **server_options: Any
) -> AsyncIterator[tuple[Server, FaultProxy]]:
    """A real websockets server and a FaultProxy in front of it."""
    peer = Server(behaviour)
    server_options.setdefault("close_timeout", 0.5)
    server_options.setdefault("ping_interval", None)
    async with serve(peer.handler, "127.0.0.1", 0, **server_options) as server:
        peer.port = server.sockets[0].getsockname()[1]
        async with FaultProxy("127.0.0.1", peer.port) as proxy:
            yield peer, proxy


def client(proxy: FaultProxy, **options: Any) -> connect:
    options.setdefault("close_timeout", 0.5)
    options.setdefault("ping_interval", None)
    return connect(proxy.url, **options)


async def closed_by(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    return info.value


def assert_abnormal(exc: ConnectionClosed | None) -> ConnectionClosedError:
    """No Close frame either way: websockets reports 1006."""
    assert isinstance(exc, ConnectionClosedError), exc
    assert exc.rcvd is None
    assert exc.sent is None
    return exc


async def eventually(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` until it holds; fail after a second."""
    async with asyncio.timeout(1.0):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


# Pass-through and the tap


def test_echo_passes_through_and_frames_are_recorded_both_ways() -> None:
    async def scenario() -> None:
        async with setup(compression=None) as (_, proxy):
            big = bytes(70_000)  # 8-byte length form
            async with client(proxy, compression=None) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await ws.send(big)
                assert await ws.recv() == big
            (pair,) = await proxy.wait_connections(1)
            await pair.wait_closed()
            expected = [
                WireFrame(Opcode.TEXT, 5, None),
                WireFrame(Opcode.BINARY, 70_000, None),
                WireFrame(Opcode.CLOSE, 2, 1000),
            ]
            assert proxy.frames == {C2S: expected, S2C: expected}
            assert pair.dropped == {C2S: 0, S2C: 0}
            assert pair.forwarded[C2S] == pair.tap.directions[C2S].nbytes > 70_000
            assert pair.forwarded[S2C] == pair.tap.directions[S2C].nbytes > 70_000
            assert proxy.connections == []
            proxy.assert_wire_clean()

    run(scenario)


def test_tap_follows_compressed_frames() -> None:
    async def scenario() -> None:
        async with setup() as (_, proxy):  # permessage-deflate on by default
            async with client(proxy) as ws:
                await ws.send("a" * 10_000)
                assert await ws.recv() == "a" * 10_000
            await proxy.accepted[0].wait_closed()
            for direction in Direction:
                (text, close) = proxy.frames[direction]
                assert text.opcode is Opcode.TEXT
                assert 0 < text.length < 100  # compressed on the wire
                assert close == WireFrame(Opcode.CLOSE, 2, 1000)
            assert proxy.accepted[0].tap.compressed is True
            proxy.assert_wire_clean()

    run(scenario)


# Faults


def test_reset_kills_both_ends_with_an_rst_and_no_close_frame() -> None:
    async def scenario() -> None:
        async with setup() as (server, proxy), client(proxy) as ws:
            await ws.send("x")
            await ws.recv()
            start = time.monotonic()
            await proxy.reset()
            exc = await closed_by(ws)
            server_exc = await server.outcomes[0]
            elapsed = time.monotonic() - start
            for end in (exc, server_exc):
                cause = assert_abnormal(end).__cause__
                assert isinstance(cause, ConnectionResetError), cause
            assert ws.close_code == 1006
            assert server.connections[0].close_code == 1006
            assert elapsed < 1.0
            assert proxy.connections == []
            proxy.assert_wire_clean()

    run(scenario)


def test_fin_ends_the_client_without_a_close_frame() -> None:
    async def scenario() -> None:
        async with setup() as (server, proxy), client(proxy) as ws:
            await ws.send("x")
            await ws.recv()
            await proxy.fin(Side.CLIENT)
            exc = await closed_by(ws)
            assert_abnormal(exc)
            assert isinstance(exc.__cause__, EOFError), exc.__cause__  # a FIN, not an RST
            # The client's own FIN is passed on: the server sees a bare EOF too.
            server_exc = await asyncio.wait_for(server.outcomes[0], 1.0)
            assert_abnormal(server_exc)
            assert not any(f.opcode is Opcode.CLOSE for d in Direction for f in proxy.frames[d])
            proxy.assert_wire_clean()

    run(scenario)


def test_reset_and_fin_at_the_tcp_level() -> None:
    """Raw sockets: reset() is an RST to both peers, fin() a FIN to one (half-close)."""

    async def scenario() -> None:
        upstream: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        arrived = asyncio.Event()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            upstream.append((reader, writer))
            arrived.set()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with FaultProxy("127.0.0.1", port) as proxy:
                # reset: both ends get ECONNRESET.
                reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
                await arrived.wait()
                await proxy.reset()
                with pytest.raises(ConnectionResetError):
                    await reader.read(1)
                with pytest.raises(ConnectionResetError):
                    await upstream[0][0].read(1)
                writer.close()
                upstream[0][1].close()

                # fin(CLIENT): the client reads EOF; its direction still works.
                arrived.clear()
                reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
                await arrived.wait()
                await proxy.fin(Side.CLIENT)
                assert await reader.read(1) == b""
                writer.write(b"still flowing\r\n")
                assert await upstream[1][0].readexactly(15) == b"still flowing\r\n"
                writer.close()  # FIN from the client, passed on
                assert await upstream[1][0].read(1) == b""
                upstream[1][1].close()
                await proxy.accepted[1].wait_closed()
                # The tap saw garbage, not WebSocket: recorded, not raised.
                assert proxy.accepted[1].tap.directions[C2S].error is not None

                # reset(SERVER): only the server gets an RST; the client's leg stays open.
                arrived.clear()
                reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
                await arrived.wait()
                pair = proxy.accepted[2]
                await pair.reset(Side.SERVER)
                with pytest.raises(ConnectionResetError):
                    await upstream[2][0].read(1)
                upstream[2][1].close()
                assert pair.is_open(Side.CLIENT)
                writer.write(b"into the void")
                await eventually(lambda: pair.dropped[C2S] == 13)
                writer.close()  # the proxy answers the client's FIN and closes that leg
                await writer.wait_closed()
                await pair.wait_closed()
        finally:
            server.close()
            await server.wait_closed()

    run(scenario)


def test_blackhole_makes_a_ping_time_out_while_tcp_stays_open() -> None:
    async def scenario() -> None:
        async with setup() as (server, proxy):
            async with client(proxy, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2) as ws:
                (pair,) = await proxy.wait_connections(1)
                server_ws = await server.first()
                start = time.monotonic()
                proxy.blackhole()
                # The keepalive gives up and sends Close 1011.
                await eventually(lambda: ws.state is not State.OPEN)
                detected = time.monotonic() - start
                assert 0.2 <= detected < 1.0
                assert pair.is_open(Side.CLIENT)
                assert pair.is_open(Side.SERVER)
                exc = await closed_by(ws)
                assert isinstance(exc, ConnectionClosedError)
                assert exc.sent is not None
                assert exc.sent.code == 1011
                assert exc.rcvd is None
            # The client gave up; the server never heard of it.
            await asyncio.sleep(0.1)
            assert server_ws.state is State.OPEN
            assert pair.is_open(Side.SERVER)
            assert not server.outcomes[0].done()
            assert pair.dropped[C2S] > 0
            # The tap saw what the client sent into the hole: pings, then Close 1011.
            assert Opcode.PING in {f.opcode for f in pair.frames[C2S]}
            assert pair.frames[C2S][-1] == WireFrame(Opcode.CLOSE, 24, 1011)
            proxy.assert_wire_clean()
            # Lifting the hole lets the held-back closure through.
            proxy.heal()
            assert_abnormal(await asyncio.wait_for(server.outcomes[0], 1.0))

    run(scenario)


def test_slow_reader_blocks_the_sender_and_release_lets_data_through() -> None:
    chunk = os.urandom(16_384)
    total = 2_000  # 32 MiB: several times what loopback kernel buffers hold (~4 MB seen)

    async def scenario() -> None:
        async with setup(idle, compression=None) as (server, proxy):
            async with client(proxy, compression=None, max_queue=None) as ws:
                server_ws = await server.first()
                proxy.slow_reader(True, S2C)
                sent = 0

                async def flood() -> None:
                    nonlocal sent
                    for _ in range(total):
                        await server_ws.send(chunk)
                        sent += 1

                sender = asyncio.create_task(flood())
                # Wait until sends stop completing for 0.2 s.
                last, since = -1, time.monotonic()
                while time.monotonic() - since < 0.2:
                    await asyncio.sleep(0.02)
                    if sent != last:
                        last, since = sent, time.monotonic()
                assert not sender.done()
                assert sent < total
                assert server_ws.transport.get_write_buffer_size() > 32_768  # above write_limit
                assert proxy.buffered <= proxy.buffer_limit + proxy.read_size
                assert proxy.accepted[0].forwarded[S2C] < 2_000  # 101 + nothing else
                proxy.slow_reader(False)
                for _ in range(total):
                    assert await ws.recv() == chunk
                await asyncio.wait_for(sender, 1.0)
            proxy.assert_wire_clean()

    run(scenario)


def test_faults_armed_for_new_connections_until_healed() -> None:
    async def scenario() -> None:
        async with setup() as (server, proxy):
            await proxy.reset(new=True)
            with pytest.raises((OSError, InvalidMessage)):
                async with client(proxy):
                    pass
            assert server.connections == []
            proxy.heal()
            proxy.blackhole(True, C2S)  # also applies to connections opened later
            with pytest.raises(TimeoutError):
                async with client(proxy, open_timeout=0.2):
                    pass
            proxy.heal()
            async with client(proxy) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(scenario)


def test_closing_the_proxy_ends_live_connections() -> None:
    async def scenario() -> None:
        async with setup() as (server, proxy), client(proxy) as ws:
            await ws.send("x")
            await ws.recv()
            proxy.slow_reader()
            await ws.send("stuck in the pipes")
            await proxy.close()
            assert_abnormal(await closed_by(ws))
            assert_abnormal(await asyncio.wait_for(server.outcomes[0], 1.0))
            assert proxy.connections == []
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", proxy.port)
            await proxy.close()  # idempotent

    run(scenario)


# assert_wire_clean


async def raw_websocket(port: int) -> tuple[asyncio.StreamWriter, int]:
    """Open a WebSocket connection by hand, to write raw frames; return its handshake size."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"))
    protocol.send_request(protocol.connect())
    request = b"".join(protocol.data_to_send())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    while protocol.state is State.CONNECTING:
        protocol.receive_data(await reader.read(4096))
    assert protocol.state is State.OPEN
    return writer, len(request)


def masked(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=True)


async def send_raw(proxy: FaultProxy, *frames: bytes) -> list[WireFrame]:
    """Send raw client frames through the proxy; return what the tap recorded."""
    writer, handshake = await raw_websocket(proxy.port)
    (pair,) = proxy.connections
    writer.write(b"".join(frames))
    await writer.drain()
    expected = handshake + sum(map(len, frames))
    await eventually(lambda: pair.tap.directions[C2S].nbytes >= expected)
    writer.close()
    await writer.wait_closed()
    await pair.wait_closed()
    return pair.frames[C2S]


CLOSE_1000 = masked(Opcode.CLOSE, Close(1000, "bye").serialize())


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([CLOSE_1000, masked(Opcode.TEXT, b"late")], "TEXT (data, 4 bytes) follows frame #0 CLOSE"),
        ([CLOSE_1000, masked(Opcode.CLOSE, b"")], "is a second Close"),
        ([masked(Opcode.CLOSE, struct.pack("!H", 1006))], "carries code 1006, which may not"),
        ([masked(Opcode.CLOSE, b"\x03")], "1-byte payload"),
        ([Frame(Opcode.TEXT, b"hi").serialize(mask=False)], "incorrect masking"),
    ],
    ids=["data-after-close", "two-closes", "code-1006", "short-close", "garbled"],
)
def test_assert_wire_clean_fails_on_a_dirty_wire(frames: list[bytes], message: str) -> None:
    async def scenario() -> None:
        async with setup() as (_, proxy):
            await send_raw(proxy, *frames)
            with pytest.raises(AssertionError, match="wire not clean") as info:
                proxy.assert_wire_clean()
            assert message in str(info.value)
            assert "connection #1 client->server" in str(info.value)

    run(scenario)


@pytest.mark.parametrize(
    "frames",
    [[CLOSE_1000], [masked(Opcode.CLOSE, b"")], [masked(Opcode.PING, b""), CLOSE_1000]],
    ids=["close-1000", "empty-close", "ping-then-close"],
)
def test_assert_wire_clean_passes_on_a_clean_wire(frames: list[bytes]) -> None:
    async def scenario() -> None:
        async with setup() as (_, proxy):
            recorded = await send_raw(proxy, *frames)
            assert len(recorded) == len(frames)
            proxy.assert_wire_clean()

    run(scenario)


# The tap on its own (sans-I/O)


def _sample_stream() -> tuple[bytes, bytes]:
    protocol = ClientProtocol(parse_uri("ws://example/"))
    protocol.send_request(protocol.connect())
    request = b"".join(protocol.data_to_send())
    c2s = request + masked(Opcode.TEXT, b"x" * 300) + CLOSE_1000
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: whatever\r\n\r\n"
    )
    s2c = response + Frame(Opcode.CLOSE, Close(1001, "").serialize()).serialize(mask=False)
    return c2s, s2c


def test_tap_parses_a_stream_fed_byte_by_byte() -> None:
    c2s, s2c = _sample_stream()
    tap = WireTap()
    for i in range(len(s2c)):
        tap.feed(S2C, s2c[i : i + 1])
    for i in range(len(c2s)):
        tap.feed(C2S, c2s[i : i + 1])
    assert tap.frames(C2S) == [WireFrame(Opcode.TEXT, 300, None), WireFrame(Opcode.CLOSE, 5, 1000)]
    assert tap.frames(S2C) == [WireFrame(Opcode.CLOSE, 2, 1001)]
    assert tap.handshake_status == 101
    assert tap.problems() == []


def test_tap_records_truncation_and_garbage_without_raising() -> None:
    c2s, s2c = _sample_stream()
    tap = WireTap()
    tap.feed(S2C, s2c)
    tap.feed(C2S, c2s[:-3])  # cut inside the Close frame
    tap.feed_eof(C2S)
    tap.feed_eof(C2S)  # idempotent
    tap.feed(C2S, b"after eof")  # ignored
    assert tap.directions[C2S].truncated is not None
    assert tap.directions[C2S].error is None
    assert tap.problems() == []

    garbled = WireTap()
    garbled.feed(S2C, b"\x00\xff not http at all\r\n\r\n" + os.urandom(1000))
    garbled.feed_eof(S2C)
    assert garbled.directions[S2C].error is not None
    (problem,) = garbled.problems()
    assert "does not parse" in problem


def test_tap_stops_when_the_handshake_is_refused() -> None:
    c2s, _ = _sample_stream()
    tap = WireTap()
    tap.feed(S2C, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!")
    tap.feed(C2S, c2s)
    assert tap.handshake_status == 403
    assert tap.stopped == "handshake answered 403"
    assert tap.frames(C2S) == []
    assert tap.frames(S2C) == []
    assert tap.problems() == []


# Hygiene helpers


def test_loop_watch_records_unhandled_errors() -> None:
    async def failing() -> None:
        me = asyncio.current_task()  # a reference cycle: only the collector frees it
        raise RuntimeError(f"boom in {me!r}")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        with LoopWatch() as watch:
            watch.assert_not_called()
            task = loop.create_task(failing())
            await asyncio.sleep(0.01)
            del task  # never retrieved: reported on garbage collection
            with pytest.raises(AssertionError, match="Task exception was never retrieved"):
                watch.assert_not_called()
            loop.call_soon(lambda: 1 / 0)
            await asyncio.sleep(0.01)
            assert len(watch.calls) == 2
            assert isinstance(watch.calls[1]["exception"], ZeroDivisionError)
        assert loop.get_exception_handler() is previous

    asyncio.run(scenario())


def test_resource_snapshot_reports_sockets_and_tasks_left_open() -> None:
    async def scenario() -> None:
        baseline = ResourceSnapshot.take()
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sleeper = asyncio.create_task(asyncio.sleep(10))
        leaks = baseline.leaks()
        assert any(f"127.0.0.1:{port}" in leak and "LISTEN" in leak for leak in leaks), leaks
        assert any(leak.startswith("task ") for leak in leaks), leaks
        with pytest.raises(AssertionError, match="not back to baseline"):
            await baseline.assert_restored(settle=0.05)
        sleeper.cancel()
        server.close()
        await server.wait_closed()
        await baseline.assert_restored(settle=1.0)

    asyncio.run(scenario())
