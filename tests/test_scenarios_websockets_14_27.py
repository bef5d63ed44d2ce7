"""SCENARIOS.md rows 14-18 and 21-27 against real websockets peers on loopback.

Rows 19, 20 and 28 do not apply to this transport (reconnecting client, page
close racing the socket, ASGI gateway messages). Same harness and invariants as
tests/test_scenarios_websockets.py (rows 1-13).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import hashlib
import itertools
import logging
import random
import socket
import struct
import weakref
from collections.abc import Awaitable, Callable

import pytest
from conftest import (
    CLOSE_TIMEOUT,
    GUARD_DEFAULTS,
    OPEN_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    SLACK,
    WRITE_TIMEOUT,
    WS_DEFAULTS,
    Harness,
    Pair,
    Role,
    assert_heap_bounded,
    assert_peer_gone,
    assert_sends_absorbed,
    eventually,
    pause_reading,
    port_of,
    received,
)
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, GuardedConnection, Hub, State
from wsstate.testing import Side

_RST = struct.pack("ii", 1, 0)


def reset_now(ws: ClientConnection | ServerConnection) -> None:
    """Drop a raw websockets endpoint's TCP connection with an RST (no Close frame)."""
    ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
    ws.transport.abort()


# -- 14. the peer disconnects during the opening handshake -----------------------------

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize(
    ("sent", "then"),
    [
        (b"", "reset"),  # connects and leaves at once
        (UPGRADE[:40], "reset"),  # in the middle of the request
        (UPGRADE, "reset"),  # the whole request, gone before the 101
        (UPGRADE, "fin"),  # the whole request, then FIN
    ],
    ids=["nothing", "partial-request", "request-then-rst", "request-then-fin"],
)
async def test_14_server_peer_leaves_during_handshake(h: Harness, sent: bytes, then: str) -> None:
    # Server side: a server's accept is what the peer can interrupt. (The client
    # side is the next test: connect() raises HandshakeFailed.)
    reached: list[GuardedConnection] = []

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, **GUARD_DEFAULTS)
        h.track(conn)
        reached.append(conn)
        got = [message async for message in conn]  # ends quietly
        assert got == []
        assert await conn.try_send("too late") is False
        assert await conn.close() is False

    server = await h.serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
    writer.write(sent)
    await writer.drain()
    await asyncio.sleep(0.02)  # let the server read it
    if then == "reset":
        writer.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, _RST
        )
        writer.transport.abort()
    else:
        writer.write_eof()
        await reader.read()  # the 101, then the server's own close
        writer.close()
    await writer.wait_closed()
    await eventually(lambda: not server.connections)  # the server gave up the connection
    for conn in reached:  # reached or not: at most one teardown, quiet
        await asyncio.wait_for(conn.wait_closed(), 1.0)
        assert conn.closed_by in (ClosedBy.TRANSPORT, ClosedBy.REMOTE)
        assert not conn.clean


@pytest.mark.parametrize("fault", ["reset", "fin", "blackhole"])
async def test_14_client_handshake_fails(h: Harness, fault: str) -> None:
    # Client side: connect() through a proxy that breaks the handshake.
    async def never(ws: ServerConnection) -> None:
        raise AssertionError("no handshake can complete")

    server = await h.serve(never)
    proxy = await h.proxy(server)
    if fault == "blackhole":
        proxy.blackhole()
    elif fault == "reset":
        await proxy.reset(new=True)
    else:
        await proxy.fin(new=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(wsstate.HandshakeFailed) as info:
        async with wsstate.connect(proxy.url, **GUARD_DEFAULTS):
            pytest.fail("connected")
    assert loop.time() - start <= OPEN_TIMEOUT + SLACK
    assert info.value.__cause__ is not None  # the transport's own exception, kept
    assert isinstance(info.value, wsstate.WSStateError)
    proxy.heal()


# -- 15. teardown close() in finally after the peer left -------------------------------


@pytest.mark.parametrize("leaves", ["close", "reset", "fin"])
async def test_15_close_in_finally_after_peer_left(h: Harness, role: Role, leaves: str) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    assert pair.link is not None
    got: list[object] = []
    results: list[bool] = []

    async def application() -> None:  # the usual handler shape, no bare except needed
        try:
            async for message in conn:
                got.append(message)
        finally:
            results.append(await conn.close())

    app = asyncio.create_task(application())
    await pair.peer.send("hello")
    await eventually(lambda: got == ["hello"])
    if leaves == "close":
        await pair.peer.close(1001, "bye")
    elif leaves == "reset":
        await pair.link.reset()
    else:
        await pair.link.fin(pair.side)  # FIN towards the guarded endpoint, no Close frame
    await asyncio.wait_for(app, 1.0)
    assert results == [False]
    assert await conn.close() is False
    if leaves == "close":
        assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="bye")
    else:
        assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)


# -- 16. half-open: the peer vanishes without FIN or RST -------------------------------


async def test_16_half_open_detected_by_keepalive(h: Harness, role: Role) -> None:
    h.wsstate_warnings = 1  # keepalive_timeout in OPEN
    h.wsstate_info = True  # close_timeout in CLOSING: the 1011 is never answered
    pair = await h.pair(role)
    conn = pair.conn
    assert pair.link is not None
    await asyncio.sleep(PING_INTERVAL * 1.5)  # keepalive running, pongs coming back
    loop = asyncio.get_running_loop()
    pair.link.blackhole()
    start = loop.time()
    assert await conn.try_send("into the void") is True  # undetectable yet: it "goes out"
    await asyncio.wait_for(conn.wait_closed(), PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + 1)
    elapsed = loop.time() - start
    assert elapsed <= PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert elapsed >= PING_TIMEOUT  # not before a pong could have come back
    assert_peer_gone(
        pair, closed_by=ClosedBy.TIMEOUT, clean=False, code=1011, reason="keepalive ping timeout"
    )
    assert len(h.records(logging.WARNING)) == 1
    await assert_sends_absorbed(pair)
    # The guarded endpoint said why (the black hole ate it); its buffers are released.
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1011]
    assert conn.transport.connection.transport.get_write_buffer_size() == 0  # type: ignore[attr-defined]
    pair.link.blackhole(False)  # the held-back reset reaches the raw peer


# -- 17. slow reader ----------------------------------------------------------------------


async def test_17_slow_reader_closed_with_1008(h: Harness, role: Role) -> None:
    h.wsstate_warnings = 1  # transport_stalled in OPEN
    h.wsstate_info = True  # close_timeout in CLOSING: the 1008 cannot even be written
    # No keepalive: its pings would be stuck behind the data and time out first.
    pair = await h.pair(role, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    transport = conn.transport.connection.transport  # type: ignore[attr-defined]
    limit = transport.get_write_buffer_limits()[1]
    chunk = random.Random(17).randbytes(64 * 1024)  # incompressible
    pair.link.slow_reader(True, pair.out)  # nobody reads what the guarded endpoint sends
    loop = asyncio.get_running_loop()
    durations, largest = [], 0
    async with asyncio.timeout(5.0):
        while True:
            before = loop.time()
            ok = await conn.try_send(chunk)
            durations.append(loop.time() - before)
            largest = max(largest, transport.get_write_buffer_size())
            if not ok:
                break
    stalled_at = loop.time() - durations[-1]  # when the stalled send started
    await asyncio.wait_for(conn.wait_closed(), CLOSE_TIMEOUT + 1)
    # The producer waited at most write_timeout; CLOSED within write + close timeout.
    assert max(durations) <= WRITE_TIMEOUT + SLACK
    assert durations[-1] >= WRITE_TIMEOUT - 0.05
    assert loop.time() - stalled_at <= WRITE_TIMEOUT + CLOSE_TIMEOUT + SLACK
    # Bounded: websockets' write buffer never held more than its limit plus one message.
    assert largest <= limit + len(chunk) + 14
    assert pair.link.buffered <= pair.link.proxy.buffer_limit + pair.link.proxy.read_size
    assert_peer_gone(pair, closed_by=ClosedBy.TIMEOUT, clean=False, code=1008, reason="slow reader")
    assert len(h.records(logging.WARNING)) == 1
    assert await conn.try_send(chunk) is False  # at once
    assert conn.stats.dropped == 2
    pair.link.slow_reader(False)


# -- 18. server shutdown with open guarded connections ---------------------------------


async def test_18_server_shutdown_closes_every_connection(h: Harness) -> None:
    # Server side only: the client side of a shutdown is a peer's 1001 (row 1).
    conns: list[GuardedConnection] = []

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, **GUARD_DEFAULTS)
        h.track(conn)
        conns.append(conn)
        async for message in conn:
            await conn.try_send(message)

    server = await h.serve(handler)
    proxy = await h.proxy(server)
    clients = [
        await ws_connect(f"ws://127.0.0.1:{port_of(server)}/", **WS_DEFAULTS) for _ in range(4)
    ]
    # Two more through the proxy, unresponsive by the time of the shutdown.
    clients += [await ws_connect(proxy.url, **WS_DEFAULTS) for _ in range(2)]
    for client in clients:
        h.defer(client.close)
        await client.send("hi")
        assert await client.recv() == "hi"
    proxy.blackhole()
    loop = asyncio.get_running_loop()
    start = loop.time()
    server.close()
    await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT + 1)
    assert loop.time() - start <= CLOSE_TIMEOUT + SLACK
    assert len(conns) == 6
    for conn in conns:
        assert conn.state is State.CLOSED
        assert conn.close_code == 1001  # websockets' shutdown code, sent on our behalf
        assert conn.closed_by is ClosedBy.LOCAL
    assert [c.clean for c in conns] == [True] * 4 + [False] * 2
    proxy.heal()


# -- 21. reload storm -------------------------------------------------------------------


async def test_21_reload_storm(h: Harness, role: Role) -> None:
    # Like an application, the test keeps no reference to a closed connection (the
    # harness would keep every one alive): weak references and a count per cycle.
    cycles, warmup = 50, 10
    conns: weakref.WeakSet[GuardedConnection] = weakref.WeakSet()
    notified: collections.Counter[int] = collections.Counter()

    def follow(conn: GuardedConnection, i: int) -> None:
        conns.add(conn)

        def closed(c: GuardedConnection) -> None:
            notified[i] += 1

        conn.on_close(closed)

    counter = itertools.count()
    if role == "server":

        async def handler(ws: ServerConnection) -> None:
            conn = wsstate.guard(ws, **GUARD_DEFAULTS)
            follow(conn, next(counter))
            async for message in conn:
                await conn.try_send(message)

        server = await h.serve(handler)
        uri = f"ws://127.0.0.1:{port_of(server)}/"

        async def cycle(i: int) -> None:  # a browser tab reloading, leaving three ways
            client = await ws_connect(uri, **WS_DEFAULTS)
            await client.send("hello")
            assert await client.recv() == "hello"
            if i % 3 == 0:
                await client.close(1001)
            elif i % 3 == 1:
                reset_now(client)
            else:
                client.transport.close()  # FIN without a Close frame
    else:

        async def echo(ws: ServerConnection) -> None:  # the raw peer
            async for message in ws:
                await ws.send(message)
                if message == "reset":
                    reset_now(ws)
                    return
                if message == "fin":
                    ws.transport.close()
                    return

        server = await h.serve(echo)
        uri = f"ws://127.0.0.1:{port_of(server)}/"

        async def cycle(i: int) -> None:
            async with wsstate.connect(uri, **GUARD_DEFAULTS) as conn:
                follow(conn, next(counter))
                message = ("close", "reset", "fin")[i % 3]
                await conn.send(message)
                assert await conn.recv() == message

    async def settled(n: int) -> None:
        await eventually(lambda: len(notified) == n and all(c.closed for c in conns))
        await eventually(lambda: not server.connections)
        await asyncio.sleep(0.05)
        gc.collect()

    # A leaked connection holds tens of KiB (websockets' alone ~12 KiB, the
    # guard ~5 KiB); 50 cycles measure 26-51 KiB of growth in all.
    await assert_heap_bounded(cycle, settled, warmup=warmup, cycles=cycles, limit=96 * 1024)
    assert notified == dict.fromkeys(range(warmup + cycles), 1)  # each notified once
    assert len(conns) == 0  # nothing keeps a closed connection alive
    # Zero ERROR, and sockets and tasks back to the baseline: the harness checks both.


# -- 22. an on_close hook raises ------------------------------------------------------------


@pytest.mark.parametrize("failing", ["sync", "async"])
async def test_22_failing_on_close_hook(h: Harness, role: Role, failing: str) -> None:
    h.wsstate_errors = 1  # the hook's failure, once; nothing else
    pair = await h.pair(role)
    conn = pair.conn
    calls: list[str] = []

    def bad_sync(c: GuardedConnection) -> None:
        raise RuntimeError("bug in a hook")

    async def bad_async(c: GuardedConnection) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("bug in a hook")

    async def good_async(c: GuardedConnection) -> None:
        await asyncio.sleep(0)
        calls.append("async")

    conn.on_close(lambda c: calls.append("before"))
    conn.on_close(bad_sync if failing == "sync" else bad_async)
    conn.on_close(good_async)
    conn.on_close(lambda c: calls.append("after"))
    await pair.peer.close()
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    await eventually(lambda: len(calls) == 3 and conn.stats.callback_errors == 1)
    assert sorted(calls) == ["after", "async", "before"]
    assert calls.index("before") < calls.index("after")
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000)
    (error,) = h.records(logging.ERROR)
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], RuntimeError)
    # A hook registered after the closure runs once, soon.
    conn.on_close(lambda c: calls.append("late"))
    await eventually(lambda: calls.count("late") == 1)
    await asyncio.sleep(0.01)
    assert calls.count("late") == 1


# -- 23. broadcast while connections join and leave, some dead -----------------------------


async def test_23_hub_broadcast_with_churn_and_dead_connections(h: Harness, role: Role) -> None:
    pairs = [await h.pair(role) for _ in range(9)]
    hub = Hub()
    for pair in pairs[:8]:
        hub.add(pair.conn)
    # 0, 1 leave cleanly before the broadcast: the hub drops them by itself.
    for pair in pairs[:2]:
        await pair.peer.close()
        await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    assert len(hub) == 6
    # 2, 3 are dead, and nobody noticed yet.
    for pair in pairs[2:4]:
        assert pair.link is not None
        await pause_reading(pair)
        await pair.link.reset()
    collectors = [asyncio.create_task(received(p.peer)) for p in pairs[4:]]
    big = random.Random(23).randbytes(256 * 1024)
    # 7 reads slowly, and its kernel send buffer is small: its send cannot fit and
    # has to wait, so the broadcast is in flight while the hub changes.
    slow = pairs[7]
    assert slow.link is not None
    sock = slow.conn.transport.connection.transport.get_extra_info("socket")  # type: ignore[attr-defined]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.link.slow_reader(True, slow.out)

    async def churn() -> None:  # while the broadcast is in flight
        await asyncio.sleep(0)
        assert not broadcast.done()
        closing.append(asyncio.create_task(pairs[4].conn.close()))
        hub.discard(pairs[5].conn)  # leaves, but was in the snapshot
        hub.add(pairs[8].conn)  # joins, was not
        await asyncio.sleep(0.05)
        assert not broadcast.done()  # 7 still waits
        slow.link.slow_reader(False, slow.out)

    closing: list[asyncio.Task[bool]] = []
    broadcast = asyncio.create_task(hub.broadcast(big))
    await churn()
    result = await broadcast
    await asyncio.gather(*closing)
    assert result.sent + result.dropped == 6  # the snapshot: 2..7
    for pair in pairs[2:4]:
        assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert pairs[4].conn.closed
    assert set(hub) == {pairs[6].conn, pairs[7].conn, pairs[8].conn}

    second = await hub.broadcast("small")
    assert (second.sent, second.dropped) == (3, 0)
    for pair in pairs[5:]:
        await pair.conn.close()
    got = await asyncio.wait_for(asyncio.gather(*collectors), 2.0)
    # Each sent counted exactly when a peer received it.
    assert sum(big in messages for messages in got) == result.sent
    assert [big in messages for messages in got] == [
        p.conn.stats.sent > 0 and p is not pairs[8] for p in pairs[4:]
    ]
    assert [messages.count("small") for messages in got] == [0, 0, 1, 1, 1]
    assert len(hub) == 0


# -- 24. API misuse: a wrong payload type --------------------------------------------------

WRONG_PAYLOADS: list[object] = [123, None, 1.5, {"a": 1}, ["x"], object(), [b"x"]]


async def assert_misuse_raises(conn: GuardedConnection) -> None:
    for bad in WRONG_PAYLOADS:
        with pytest.raises(TypeError):
            await conn.send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await conn.try_send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            conn.send_threadsafe(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await asyncio.to_thread(conn.send_threadsafe, bad)  # type: ignore[arg-type]


async def test_24_wrong_payload_type_raises_at_once(h: Harness, role: Role) -> None:
    # "send before accept" cannot happen here: guard() takes an open websockets connection.
    pair = await h.pair(role)
    conn = pair.conn
    await assert_misuse_raises(conn)
    assert conn.state is State.OPEN
    assert (conn.stats.sent, conn.stats.dropped, conn.stats.threadsafe_failures) == (0, 0, 0)
    await conn.send("still fine")
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "still fine"
    assert [f.opcode for f in pair.frames_out() if f.opcode in (Opcode.TEXT, Opcode.BINARY)] == [
        Opcode.TEXT
    ]
    assert await conn.close() is True
    await assert_misuse_raises(conn)  # in every state


# -- 25. reserved or invalid close codes and reasons ---------------------------------------

INVALID_CLOSES: list[tuple[object, object, type[wsstate.InvalidCloseArgs]]] = [
    *[
        (code, "", wsstate.InvalidCloseCode)
        for code in (1005, 1006, 1015, 999, 5000, 1004, 2999, 0, -1, 1016, 65536, "1000", True)
    ],
    (1000, "x" * 124, wsstate.InvalidCloseReason),
    (1000, "é" * 62, wsstate.InvalidCloseReason),  # 62 characters, 124 bytes
    (1000, "\ud800", wsstate.InvalidCloseReason),  # a lone surrogate
    (1000, "ok \udfff", wsstate.InvalidCloseReason),
    (1000, b"bytes", wsstate.InvalidCloseReason),
]


async def test_25_invalid_close_rejected_before_any_state_change(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    for code, reason, error in INVALID_CLOSES:
        with pytest.raises(error) as info:
            await conn.close(code, reason)  # type: ignore[arg-type]
        assert isinstance(info.value, ValueError), (code, reason)
        assert conn.state is State.OPEN, (code, reason)
        assert (conn.closed_by, conn.close_code, conn.close_reason) == (None, None, None)
    await asyncio.sleep(0.05)
    assert [f for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == []  # nothing sent
    # Still open and usable.
    assert await conn.try_send("still open") is True
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "still open"
    assert await conn.close(1000, "x" * 61 + "é" * 31) is True  # 123 bytes: the limit
    for code, reason, error in INVALID_CLOSES:  # rejected even after close
        with pytest.raises(error):
            await conn.close(code, reason)  # type: ignore[arg-type]
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=1000)
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1000]


# -- 26. compression on, many concurrent large sends, abort mid-stream ---------------------


def make_message(i: int) -> bytes:
    """A large, partly compressible message that proves its own integrity."""
    body = f"{i:06d} ".encode() * 2000 + random.Random(i).randbytes(48_000)
    return hashlib.sha256(body).digest() + body


def intact(message: str | bytes) -> bool:
    assert isinstance(message, bytes)
    return hashlib.sha256(message[32:]).digest() == message[:32]


@pytest.mark.parametrize("stop", ["abort", "reset", "close"])
async def test_26_compressed_concurrent_sends_stopped_mid_stream(
    h: Harness, role: Role, stop: str
) -> None:
    pair = await h.pair(role, ping_interval=None)  # permessage-deflate: websockets' default
    conn, link = pair.conn, pair.link
    assert link is not None
    assert link.tap.compressed
    transport = conn.transport.connection.transport  # type: ignore[attr-defined]
    tasks, per_task = 16, 10
    outcomes: dict[int, bool | str] = {}
    at_peer: list[str | bytes] = []

    async def producer(task: int) -> None:
        for n in range(per_task):
            i = task * 100 + n
            try:
                outcomes[i] = await conn.try_send(make_message(i))
            except Exception as exc:  # nothing else may escape
                outcomes[i] = repr(exc)

    async def peer_producer() -> None:  # the other way at the same time
        with contextlib.suppress(ConnectionClosed):
            for i in range(40):
                await pair.peer.send(make_message(10_000 + i))

    flowing = asyncio.Event()

    async def peer_consumer() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in pair.peer:
                at_peer.append(message)
                if len(at_peer) == 1:
                    flowing.set()

    async def consumer() -> list[str | bytes]:
        return [message async for message in conn]

    at_conn = asyncio.create_task(consumer())
    peer_tasks = [asyncio.create_task(peer_producer()), asyncio.create_task(peer_consumer())]
    await eventually(lambda: conn.stats.received >= 3)
    # Hold the guarded endpoint's data until its buffers are full and sends wait ...
    link.slow_reader(True, pair.out)
    producers = [asyncio.create_task(producer(t)) for t in range(tasks)]
    limit = transport.get_write_buffer_limits()[1]
    await eventually(lambda: transport.get_write_buffer_size() > limit, within=3.0)
    # ... then let it flow, and stop it in the middle.
    link.slow_reader(False, pair.out)
    await asyncio.wait_for(flowing.wait(), 3.0)
    pending = tasks * per_task - len(outcomes)
    assert pending > 0
    if stop == "abort":
        assert conn.abort() is True
    elif stop == "reset":
        await link.reset()
    else:
        assert await conn.close(1001, "enough") is True
    await asyncio.wait_for(asyncio.gather(*producers, *peer_tasks), 2.0)
    got_conn = await asyncio.wait_for(at_conn, 2.0)

    assert all(isinstance(ok, bool) for ok in outcomes.values()), outcomes
    assert all(intact(m) for m in at_peer)  # each message atomic, never corrupt
    assert got_conn
    assert all(intact(m) for m in got_conn)
    assert len(got_conn) == conn.stats.received
    sent = {i for i, ok in outcomes.items() if ok}
    arrived = [int(m[32:38]) for m in at_peer]
    assert len(set(arrived)) == len(arrived)
    assert set(arrived) <= sent  # nothing reported failed arrived
    assert len(sent) < len(outcomes)  # the sends not yet started when it stopped failed
    if stop == "close":
        assert set(arrived) == sent  # a clean close delivers everything reported sent
        assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=1001)
    else:
        who = ClosedBy.LOCAL if stop == "abort" else ClosedBy.TRANSPORT
        assert_peer_gone(pair, closed_by=who, clean=False, code=1006)


# -- 27. a proxy's idle timeout cuts the connection -----------------------------------------


async def idle_timeout(pair: Pair, idle: float, cut: Callable[[], Awaitable[None]]) -> None:
    """A proxy's idle timeout: ``cut()`` once no byte crossed for ``idle`` seconds."""
    assert pair.link is not None
    loop = asyncio.get_running_loop()
    last, since = -1, loop.time()
    while True:
        total = sum(pair.link.forwarded.values()) + sum(pair.link.dropped.values())
        if total != last:
            last, since = total, loop.time()
        elif loop.time() - since >= idle:
            await cut()
            return
        await asyncio.sleep(0.01)


async def test_27_keepalive_shorter_than_proxy_idle_timeout_keeps_it_open(
    h: Harness, role: Role
) -> None:
    pair = await h.pair(role, ping_interval=0.1, ping_timeout=0.2)
    assert pair.link is not None
    watchdog = asyncio.create_task(idle_timeout(pair, 0.3, pair.link.fin))
    await asyncio.sleep(0.9)  # the application is idle three idle timeouts long
    assert not watchdog.done()
    watchdog.cancel()
    assert pair.conn.state is State.OPEN
    assert sum(f.opcode is Opcode.PING for f in pair.frames_out()) >= 5
    assert await pair.conn.close() is True


@pytest.mark.parametrize("cut", ["fin", "blackhole-then-reset"])
async def test_27_proxy_idle_timeout_cuts_the_connection(h: Harness, role: Role, cut: str) -> None:
    # The keepalive is longer than the proxy's idle timeout, so the proxy cuts:
    # either both ways with FIN (nginx), or it stops forwarding, then resets the
    # upstream leg only. Either way: peer gone.
    h.wsstate_warnings = 1  # a guarded client behind a silent proxy: keepalive timeout
    h.wsstate_info = True  # ... then the close timeout in CLOSING
    interval, idle = 0.3, 0.15
    pair = await h.pair(role, ping_interval=interval, ping_timeout=PING_TIMEOUT)
    link = pair.link
    assert link is not None

    async def fin() -> None:
        await link.fin()

    async def blackhole_then_reset() -> None:
        link.blackhole()
        await asyncio.sleep(0.05)
        await link.reset(Side.SERVER)

    loop = asyncio.get_running_loop()
    start = loop.time()
    watchdog = asyncio.create_task(
        idle_timeout(pair, idle, fin if cut == "fin" else blackhole_then_reset)
    )
    await asyncio.wait_for(pair.conn.wait_closed(), 3.0)
    await watchdog
    bound = idle + 0.05 + interval + PING_TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert loop.time() - start <= bound
    assert_peer_gone(pair, closed_by={ClosedBy.TRANSPORT, ClosedBy.TIMEOUT}, clean=False)
    if pair.conn.closed_by is ClosedBy.TIMEOUT:
        assert pair.conn.close_code == 1011
    else:
        assert pair.conn.close_code == 1006
        assert not h.records(logging.WARNING)
    await assert_sends_absorbed(pair)
    link.blackhole(False)
