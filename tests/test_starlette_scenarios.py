"""SCENARIOS.md rows 1-13 for Starlette on a real uvicorn, each of its three implementations.

The guarded side is a Starlette endpoint on an in-process uvicorn server (the
``impl`` fixture: ``websockets``, ``websockets-sansio``, ``wsproto``); the peer is
a real websockets client through the fault proxy (tests/test_starlette_support.py).
The ``h`` harness checks after teardown: every guarded connection CLOSED and
notified once, a clean wire, no ERROR from any logger (uvicorn's included), no
call of the loop's exception handler, descriptors and tasks back to the baseline.

Where ASGI differs from websockets (the adapter's module doc): the peer's Close
and the transport's end arrive as one disconnect message, so there is no
CLOSE_RECEIVED window to observe; a close this side starts is never marked clean
(ASGI does not say whether the peer answered); a send into a connection the peer
has just reset may be accepted by the server before it notices (the bytes are
lost, as over any TCP), and the next send is then refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
import warnings
from typing import Any

import pytest
from conftest import (
    GUARD_DEFAULTS,
    WS_DEFAULTS,
    Harness,
    assert_peer_gone,
    assert_sends_absorbed,
    eventually,
    received,
)
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from test_starlette_support import IMPLS, LOST_CODE, Pair, Site, fill_queues
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.adapters.starlette import StarletteTransport
from wsstate.testing import LoopWatch, WireFrame

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import uvicorn

pytestmark = [
    pytest.mark.parametrize("impl", IMPLS),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def not_keepalive(frames: list[WireFrame]) -> list[WireFrame]:
    return [f for f in frames if f.opcode not in (Opcode.PING, Opcode.PONG)]


def asgi(pair: Pair) -> StarletteTransport:
    transport = pair.conn.transport
    assert isinstance(transport, StarletteTransport)
    return transport


# -- 1. peer closes cleanly while idle -------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(1000, "bye"), (1001, "going away")])
async def test_01_peer_closes_cleanly(h: Harness, impl: str, code: int, reason: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    await pair.peer.close(code, reason)
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=code, reason=reason)
    assert asgi(pair).disconnect == (code, reason)
    await assert_sends_absorbed(pair)
    # The server echoed the peer's code and sent nothing else.
    assert [(f.opcode, f.close_code) for f in not_keepalive(pair.frames_out())] == [
        (Opcode.CLOSE, code)
    ]


# -- 2. peer resets TCP, no Close frame ------------------------------------------------


async def test_02_peer_resets(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    assert pair.link is not None
    await pair.link.reset()
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    # Not clean, 1006, whatever the server said (its code differs per implementation).
    assert asgi(pair).disconnect is not None
    assert asgi(pair).disconnect[0] == LOST_CODE[impl]  # type: ignore[index]
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)


# -- 3, 4, 5. send right after an abrupt disconnect, again, then close() ---------------


@pytest.mark.parametrize("first", ["send", "try_send"])
async def test_03_04_05_send_after_reset_before_reader_noticed(
    h: Harness, impl: str, first: str
) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    assert pair.link is not None
    await fill_queues(pair)
    await pair.link.reset()
    assert conn.state is State.OPEN  # nobody noticed yet
    # 3: sends hit the dead socket. The server may accept the first one before it
    # notices (its bytes are lost); then sends are refused and absorbed.
    outcomes = []
    closures = []
    for i in range(3):
        if first == "send":
            try:
                await conn.send(f"right after the reset {i}")
            except wsstate.ConnectionClosed as exc:
                outcomes.append(False)
                closures.append((exc.state, exc.clean, exc.code))
            else:
                outcomes.append(True)
        else:
            outcomes.append(await conn.try_send(f"right after the reset {i}"))
    assert outcomes in ([False] * 3, [True, False, False]), outcomes
    assert set(closures) <= {("CLOSED", False, 1006)}
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    # 4: every further send, the same outcome.
    await assert_sends_absorbed(pair, times=5)
    # 5: close() in the error handler is a no-op.
    try:
        await conn.send("once more")
    except wsstate.ConnectionClosed:
        assert await conn.close() is False
        assert await conn.close(4000, "again") is False
    else:
        pytest.fail("send did not raise")
    assert conn.close_code == 1006
    assert conn.stats.sent == outcomes.count(True)


async def test_03_send_in_flight_when_the_peer_resets(h: Harness, impl: str) -> None:
    # The send already waits for the peer to read (its buffers are full) when the
    # reset comes: the server refuses it under us.
    site = await Site.start(h, impl)
    pair = await site.pair(write_timeout=None)
    conn = pair.conn
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)
    chunk = random.Random(3).randbytes(256 * 1024)  # incompressible
    sends: list[asyncio.Task[None]] = []
    async with asyncio.timeout(3.0):
        while not sends or sends[-1].done():  # until one send waits
            sends.append(asyncio.create_task(conn.send(chunk)))
            await asyncio.sleep(0.02)
    await pair.link.reset()
    results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 1.0)
    failures = [r for r in results if r is not None]
    assert failures
    for failure in failures:  # never the transport's own exception
        assert type(failure) is wsstate.ConnectionClosed, repr(failure)
        assert (failure.code, failure.clean, failure.state) == (1006, False, "CLOSED")
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)
    pair.link.slow_reader(False)


# -- 6, 7. a background send, then close(), after the peer closed cleanly --------------


async def test_06_background_send_after_peer_closed(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    await pair.peer.close(1000, "tab closed")
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    # Fire-and-forget, as a UI framework pushes an update: quietly dropped.
    background = asyncio.create_task(conn.try_send("update"))
    assert await background is False
    with pytest.raises(wsstate.ConnectionClosed) as info:
        await conn.send("update")
    assert (info.value.code, info.value.reason, info.value.closed_by) == (
        1000,
        "tab closed",
        ClosedBy.REMOTE,
    )
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000, reason="tab closed")
    assert (conn.stats.dropped, conn.stats.sent) == (2, 0)
    assert [f.opcode for f in not_keepalive(pair.frames_out())] == [Opcode.CLOSE]
    # Starlette itself was never asked to send after the close (no RuntimeError path).
    assert asgi(pair).websocket.application_state.name == "CONNECTED"


async def test_06_send_racing_the_peers_close(h: Harness, impl: str) -> None:
    # The peer's Close is processed by the server while a send is on its way: the
    # send is refused or lost, never raises anything but ConnectionClosed, and the
    # closure is still the peer's clean one.
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    assert pair.link is not None
    closing = asyncio.create_task(pair.peer.close(1001, "racing"))
    for i in range(200):
        if not await conn.try_send(f"racing {i}"):
            break
        await asyncio.sleep(0)
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    await closing
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="racing")


async def test_07_close_after_peer_closed(h: Harness, impl: str) -> None:
    # The FastAPI tutorial pattern: the disconnect was received, then close().
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    await pair.peer.close(1001, "navigated away")
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    assert await conn.close() is False
    assert await conn.close(4000, "again") is False
    assert_peer_gone(
        pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="navigated away"
    )
    assert [f.close_code for f in pair.frames_out()] == [1001]  # the echo, nothing else


async def test_07_close_racing_the_peers_close(h: Harness, impl: str) -> None:
    # close() while the peer's Close is on its way, or already processed by the
    # server but not yet reported: whoever is first, one closure, quiet.
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    closing = asyncio.create_task(pair.peer.close(1001, "navigated away"))
    await asyncio.sleep(0.01)
    result = await conn.close(1000, "bye")
    await closing
    assert conn.state is State.CLOSED
    if result:
        assert (conn.closed_by, conn.close_code) == (ClosedBy.LOCAL, 1000)
    else:
        assert (conn.closed_by, conn.close_code) == (ClosedBy.REMOTE, 1001)
    # One Close from the server: its echo of the peer's 1001, or its own 1000.
    assert len([f for f in pair.frames_out() if f.opcode is Opcode.CLOSE]) == 1


def slow_disconnect(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware that hands the disconnect message on 0.1 s late."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def late_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await asyncio.sleep(0.1)
            return message

        await app(scope, late_receive, send)

    return wrapped


async def test_07_close_crossing_the_peers_close(h: Harness, impl: str) -> None:
    # The peer's Close was answered by the server, but its disconnect message is
    # still on its way when the application closes: the closures cross. Both
    # Close frames were exchanged (the server's echo answered the peer's): clean.
    site = await Site.start(h, impl, middleware=slow_disconnect)
    pair = await site.pair()
    conn = pair.conn
    await pair.peer.close(1001, "navigated away")
    assert conn.state is State.OPEN  # not told yet
    assert await conn.close(1000, "bye") is True
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=1000, reason="bye")
    assert [f.close_code for f in pair.frames_out()] == [1001]  # the echo, nothing else


# -- 8. close() twice: sequentially, and from two tasks at once ------------------------


@pytest.mark.parametrize("how", ["sequential", "concurrent"])
async def test_08_close_twice(h: Harness, impl: str, how: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    if how == "sequential":
        assert await conn.close(4001, "first") is True
        assert conn.state is State.CLOSED
        assert await conn.close(4002, "second") is False
    else:
        first = asyncio.create_task(conn.close(4001, "first"))
        second = asyncio.create_task(conn.close(4002, "second"))
        assert list(await asyncio.gather(first, second)) == [True, False]
        assert conn.state is State.CLOSED  # both returned once CLOSED
    assert await conn.close(1000) is False
    # ASGI does not report the peer's answer to our Close: never marked clean.
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=False, code=4001, reason="first")
    await asyncio.wait_for(pair.peer.wait_closed(), 1.0)
    assert (pair.peer.close_code, pair.peer.close_reason) == (4001, "first")
    # The first code won on the wire: one Close, 4001, answered by the peer.
    assert [(f.opcode, f.close_code) for f in not_keepalive(pair.frames_out())] == [
        (Opcode.CLOSE, 4001)
    ]
    assert [f.close_code for f in pair.frames_in() if f.opcode is Opcode.CLOSE] == [4001]


# -- 9. recv after disconnect; messages before the peer's Close, all, in order ---------


async def test_09_recv_after_clean_close_delivers_everything_first(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    sent = [f"message {i}" for i in range(40)]  # more than the adapter's queue (16)

    async def peer() -> None:
        for message in sent:
            await pair.peer.send(message)
        await pair.peer.close(1000, "done")

    peer_task = asyncio.create_task(peer())
    got = [message async for message in conn]  # ends quietly
    assert got == sent
    await peer_task
    for _ in range(2):
        with pytest.raises(wsstate.ConnectionClosed) as info:
            await conn.recv()
        assert (info.value.code, info.value.reason, info.value.clean) == (1000, "done", True)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000, reason="done")
    assert conn.stats.received == len(sent)


async def test_09_recv_after_reset(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    assert pair.link is not None
    sent = [f"message {i}" for i in range(5)]
    for message in sent:
        await pair.peer.send(message)
    assert await conn.recv() == sent[0]
    await pair.link.reset()
    got = [message async for message in conn]  # ends quietly
    assert got == sent[1 : 1 + len(got)]  # what arrived, in order, once
    with pytest.raises(wsstate.ConnectionClosed) as info:
        await conn.recv()
    assert (info.value.code, info.value.closed_by, info.value.clean) == (
        1006,
        ClosedBy.TRANSPORT,
        False,
    )
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)


# -- 10. many tasks sending while another closes ---------------------------------------


async def test_10_many_senders_one_closer(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    outcomes: list[tuple[str, bool, State]] = []

    async def producer(task: int) -> None:
        for i in range(40):
            message = f"{task}:{i}"
            state = conn.state
            try:
                await conn.send(message)
            except wsstate.ConnectionClosed:
                outcomes.append((message, False, state))
            else:
                outcomes.append((message, True, state))
            await asyncio.sleep(0)

    collector = asyncio.create_task(received(pair.peer))
    producers = [asyncio.create_task(producer(t)) for t in range(12)]
    await eventually(lambda: len(outcomes) >= 150)
    assert await conn.close(1000, "enough") is True
    await asyncio.gather(*producers)
    got = [str(m) for m in await asyncio.wait_for(collector, 1.0)]

    went_out = [m for m, ok, _ in outcomes if ok]
    assert sorted(got) == sorted(went_out)  # sends that returned went out, failures did not
    assert len(set(got)) == len(got)
    for task in range(12):  # per task, in order, and a failure is final
        mine = [int(m.split(":")[1]) for m in got if m.startswith(f"{task}:")]
        assert mine == sorted(mine)
        flags = [ok for m, ok, _ in outcomes if m.startswith(f"{task}:")]
        assert flags == sorted(flags, reverse=True)
    assert all(not ok for _, ok, state in outcomes if state is not State.OPEN)
    assert 0 < len(went_out) < len(outcomes)
    assert conn.stats.sent == len(went_out)
    assert conn.stats.dropped == len(outcomes) - len(went_out)
    data = [f for f in pair.frames_out() if f.opcode is Opcode.TEXT]
    assert len(data) == len(got)
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1000]
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=False, code=1000)


# -- 11. send_threadsafe from several threads and the loop at once ---------------------


async def test_11_send_threadsafe_from_threads_and_loop(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    per_source, threads_n = 150, 4
    results: dict[str, list[bool]] = {}
    start = threading.Barrier(threads_n + 1)

    def worker(name: str) -> None:  # a framework's render thread
        start.wait()
        results[name] = [conn.send_threadsafe(f"{name}:{i}") for i in range(per_source)]

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    await asyncio.to_thread(start.wait)
    loop_results = []
    for i in range(per_source):
        loop_results.append(conn.send_threadsafe(f"loop:{i}"))
        if i % 10 == 0:
            await asyncio.sleep(0)
    results["loop"] = loop_results
    total = per_source * (threads_n + 1)
    got = [await asyncio.wait_for(pair.peer.recv(), 2.0) for _ in range(total)]
    for thread in threads:
        thread.join()

    assert all(all(r) for r in results.values())
    assert len(got) == len(set(got)) == total  # each message exactly once
    for name in results:  # in per-thread order
        mine = [int(str(m).split(":")[1]) for m in got if str(m).startswith(f"{name}:")]
        assert mine == list(range(per_source))
    assert conn.stats.sent == total
    assert conn.stats.threadsafe_failures == 0
    assert await conn.close() is True


async def test_11_sends_keep_the_order_they_were_called_in(h: Harness, impl: str) -> None:
    # The adapter gives the server a loop turn between two sends of a connection;
    # a send that waits for it keeps its place (send_threadsafe relies on it).
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    first = asyncio.create_task(conn.send("1"))  # starts next turn, finds the turn used
    await conn.send("0")  # goes out now, in this turn
    second = asyncio.create_task(conn.send("2"))  # starts next turn too, after the first
    await asyncio.gather(first, second)
    got = [await asyncio.wait_for(pair.peer.recv(), 1.0) for _ in range(3)]
    assert got == ["0", "1", "2"]
    await conn.close()


# -- 12. send_threadsafe after the connection's loop stopped, then closed --------------


async def test_12_send_threadsafe_after_loop_stopped_and_closed(h: Harness, impl: str) -> None:
    # uvicorn runs in its own loop, in another thread, driven step by step: between
    # steps that loop is stopped. A render thread keeps a guarded connection.
    loop = asyncio.new_event_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="uvicorn-loop")
    watch = LoopWatch(loop)
    handed: concurrent.futures.Future[GuardedConnection] = concurrent.futures.Future()

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **{**GUARD_DEFAULTS, "ping_interval": None})
        await conn.accept()
        handed.set_result(conn)
        await conn.wait_closed()

    config = uvicorn.Config(
        Starlette(routes=[WebSocketRoute("/", endpoint)]),
        ws=impl,
        lifespan="off",
        log_config=None,
        ws_ping_interval=None,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    server_task: asyncio.Task[None] | None = None

    async def step(coro: Any) -> Any:
        return await asyncio.wrap_future(pool.submit(loop.run_until_complete, coro))

    async def start() -> int:
        nonlocal server_task
        watch.__enter__()
        server_task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        return port

    port = await step(start())

    async def connect() -> ClientConnection:
        return await ws_connect(f"ws://127.0.0.1:{port}/", **WS_DEFAULTS)

    peer_connecting = asyncio.create_task(connect())

    async def take() -> GuardedConnection:
        return await asyncio.wrap_future(handed)

    conn = await step(take())
    peer = await peer_connecting
    try:
        # Stopped: the message is queued, and sent when the loop runs again.
        assert await asyncio.to_thread(conn.send_threadsafe, "queued while stopped") is True
        assert conn.send_threadsafe("from the test's thread") is True
        await step(asyncio.sleep(0.05))
        got = [await asyncio.wait_for(peer.recv(), 1.0) for _ in range(2)]
        assert got == ["queued while stopped", "from the test's thread"]

        # The server shuts down (uvicorn closes every connection with 1012), then
        # its loop is closed; a late send from a thread is a quiet no-op.
        async def shutdown() -> None:
            server.should_exit = True
            assert server_task is not None
            await server_task

        await step(shutdown())
        assert conn.state is State.CLOSED
        assert conn.close_code == 1012
        await step(loop.shutdown_asyncgens())
        watch.__exit__(None, None, None)
        loop.close()
        before = conn.stats.dropped + conn.stats.threadsafe_failures
        assert conn.send_threadsafe("from the test's thread") is False
        assert await asyncio.to_thread(conn.send_threadsafe, b"from a thread") is False
        assert conn.stats.dropped + conn.stats.threadsafe_failures == before + 2
        await asyncio.wait_for(peer.wait_closed(), 1.0)
        assert peer.close_code == 1012
        watch.assert_not_called()
    finally:
        if not loop.is_closed():
            loop.close()
        await asyncio.to_thread(pool.shutdown)
        await peer.close()


# -- 13. fire-and-forget sends that fail ------------------------------------------------


async def test_13_fire_and_forget_failures_are_retrieved_and_counted(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    conn = pair.conn
    assert pair.link is not None
    await fill_queues(pair)
    await pair.link.reset()  # nobody noticed yet: the first sends find out
    n = 10
    for i in range(n):
        asyncio.create_task(conn.try_send(f"task {i}"))  # noqa: RUF006 - fire and forget
    from_loop = [conn.send_threadsafe(f"loop {i}") for i in range(n)]
    from_thread = await asyncio.to_thread(lambda: [conn.send_threadsafe(b"t") for _ in range(n)])
    # At most the first send was accepted before the server noticed (the bytes lost).
    await eventually(lambda: conn.stats.dropped + conn.stats.sent == 3 * n)
    assert conn.stats.sent <= 1
    assert all(from_loop)  # queued while the connection looked open
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert conn.stats.threadsafe_failures == sum(from_loop) + sum(from_thread)
    # The harness then checks that the loop's exception handler was never called.
