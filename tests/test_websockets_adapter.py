"""The websockets adapter's own paths, on real connections over loopback.

The adapter writes frames through websockets' Sans-I/O protocol (as
websockets' ``broadcast()`` does) instead of its ``send()`` coroutine
(docs/performance.md). These tests pin down what that must not change: a
message sent around the guard in fragments is never interleaved with a guarded
one, and a guarded connection that ends is freed by reference counting, without
waiting for the cycle collector.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest
from support.harness import Harness, Role, eventually
from websockets.asyncio.server import ServerConnection, serve

import wsstate
from wsstate import Hub, State


async def test_a_guarded_send_waits_for_a_fragmented_message_sent_around_the_guard(
    h: Harness, role: Role
) -> None:
    pair = await h.pair(role)
    raw = pair.conn.transport.connection  # type: ignore[attr-defined]
    first_out = asyncio.Event()
    more = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "part one, "
        first_out.set()
        await more.wait()
        yield "part two"

    fragmented = asyncio.create_task(raw.send(fragments()))
    await asyncio.wait_for(first_out.wait(), 1.0)
    await asyncio.sleep(0.01)
    sending = asyncio.create_task(pair.conn.send("after"))
    await asyncio.sleep(0.05)
    assert not sending.done()  # it waits: a frame of its own now would corrupt the stream
    more.set()
    await asyncio.wait_for(asyncio.gather(fragmented, sending), 1.0)
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "part one, part two"
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "after"
    assert pair.conn.stats.sent == 1
    assert pair.conn.state is State.OPEN


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_closed_connection_is_freed_by_reference_counting(role: Role) -> None:
    # Frameworks open and drop connections all day: if the guard tied a
    # connection into a reference cycle, each would wait for the cycle
    # collector, and the collector's work would grow with the churn
    # (docs/performance.md, figure 5). Both guarded ends, one at a time.
    refs: list[weakref.ref[object]] = []

    async def handler(ws: ServerConnection) -> None:
        if role == "server":
            conn = wsstate.guard(ws, ping_interval=None)
            refs.extend((weakref.ref(conn), weakref.ref(ws)))
            async for message in conn:
                await conn.send(message)
        else:
            async for message in ws:
                await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        for _ in range(3):
            async with wsstate.connect(url) as conn:
                await conn.send("ping")
                assert await conn.recv() == "ping"
                if role == "client":
                    refs.extend((weakref.ref(conn), weakref.ref(conn.transport.connection)))  # type: ignore[attr-defined]
            assert conn.state is State.CLOSED
            del conn
    assert len(refs) == 6
    # Callbacks already scheduled may hold a reference for a loop turn or two.
    await eventually(lambda: all(ref() is None for ref in refs), within=2.0)


async def test_broadcast_of_a_wrong_payload_type_raises_and_sends_nothing(
    h: Harness, role: Role
) -> None:
    pair = await h.pair(role)
    with pytest.raises(TypeError, match="str or bytes-like, not int"):
        await Hub().broadcast(123)  # type: ignore[arg-type]  # no members: still an error
    hub = Hub()
    hub.add(pair.conn)
    with pytest.raises(TypeError, match="str or bytes-like, not dict"):
        await hub.broadcast({"a": 1})  # type: ignore[arg-type]
    assert pair.conn.stats.sent == 0
    assert pair.conn.state is State.OPEN
    result = await hub.broadcast(bytearray(b"ok"))  # bytes-like: sent as binary
    assert (result.sent, result.dropped) == (1, 0)
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == b"ok"


async def test_connect_rejects_invalid_options_before_connecting_and_opens_once() -> None:
    # Port 9 (discard) on loopback: nothing listens, so an attempt would fail with
    # HandshakeFailed; ValueError proves there was none.
    with pytest.raises(ValueError, match="ping_timeout must be a positive number"):
        wsstate.connect("ws://127.0.0.1:9/", ping_timeout=0)

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        opener = wsstate.connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
        async with opener as conn:
            assert conn.state is State.OPEN
            with pytest.raises(RuntimeError, match="already in use"):
                await opener.__aenter__()
        assert conn.state is State.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above across the await


async def test_abort_after_the_transport_drained_and_closed_does_nothing() -> None:
    # CPython's selector transport, closed with data still buffered, reports the
    # loss once the buffer drains but forgets that it did: a later abort()
    # raised AttributeError (websockets aborts when a server handler returns
    # after the connection ended: "connection handler failed" at ERROR). The
    # guard makes abort() a no-op once the connection is lost, without adding
    # anything to the transport (docs/performance.md, memory).
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import broadcast

    guarded: asyncio.Future[wsstate.GuardedConnection] = asyncio.Future()
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        guarded.set_result(wsstate.guard(ws, ping_interval=None))
        await release.wait()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            url = f"ws://127.0.0.1:{port}/"
            async with connect(
                url, ping_interval=None, compression=None, close_timeout=0.5
            ) as client:
                conn = await asyncio.wait_for(guarded, 2.0)
                ws = conn.transport.connection  # type: ignore[attr-defined]
                transport = ws.transport
                client.transport.pause_reading()
                for _ in range(1000):  # past the kernel's buffers, never waiting
                    if transport.get_write_buffer_size() > 0:
                        break
                    broadcast([ws], b"x" * 65536)
                    await asyncio.sleep(0)
                assert transport.get_write_buffer_size() > 0
                transport.close()  # as asyncio does on the peer's FIN: data still buffered
                client.transport.resume_reading()
                await asyncio.wait_for(asyncio.shield(ws.connection_lost_waiter), 5.0)
                transport.abort()  # must do nothing: the transport is gone
                transport.abort()
                await eventually(lambda: conn.state is State.CLOSED, within=2.0)
        finally:
            release.set()


async def test_a_broadcast_reaches_every_kind_of_member_as_sent() -> None:
    # Hub.broadcast serializes the frame once for the members that send the
    # same bytes (server connections without an extension) and hands it to each
    # transport; a member with permessage-deflate, or a client (masked frames),
    # writes its own. Every member's peer receives each message as sent.
    from websockets.asyncio.client import ClientConnection, connect

    hub = Hub()
    received: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def guarded(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, ping_interval=None)
        hub.add(conn)
        await conn.wait_closed()

    async def reader(ws: ServerConnection) -> None:  # the guarded client's peer
        async for message in ws:
            received.put_nowait(message)

    messages: list[str | bytes] = ["text é", b"\x00binary", "x" * 70_000, b"b" * 200]
    async with (
        serve(guarded, "127.0.0.1", 0, ping_interval=None, compression=None) as plain,
        serve(guarded, "127.0.0.1", 0, ping_interval=None) as deflating,
        serve(reader, "127.0.0.1", 0, ping_interval=None) as raw,
    ):
        clients: list[ClientConnection] = []
        for server, compression in ((plain, None), (deflating, "deflate")):
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            for _ in range(3):
                clients.append(await connect(url, ping_interval=None, compression=compression))
        assert {c.protocol.extensions != [] for c in clients} == {False, True}
        url = f"ws://127.0.0.1:{raw.sockets[0].getsockname()[1]}/"
        async with wsstate.connect(url, ping_interval=None, compression=None) as client_member:
            await eventually(lambda: len(hub) == 6, within=2.0)
            hub.add(client_member)
            for message in messages:
                result = await hub.broadcast(message)
                assert (result.sent, result.queued, result.dropped) == (7, 0, 0)
            await hub.broadcast(bytearray(b"last"))
            for c in clients:
                got = [await asyncio.wait_for(c.recv(), 2.0) for _ in range(5)]
                assert got == [*messages, b"last"]
            got = [await asyncio.wait_for(received.get(), 2.0) for _ in range(5)]
            assert got == [*messages, b"last"]
        for c in clients:
            await c.close()
