"""SCENARIOS.md rows 1-13 against real websockets peers on loopback, both roles.

Each test runs under the ``h`` harness (tests/conftest.py), which also checks
after teardown: every guarded connection CLOSED with ``on_close`` fired exactly
once, a clean wire through the proxy, no call of the loop's exception handler,
descriptors and tasks back to the baseline, and the log rules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import random
import threading
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from conftest import (
    CLOSE_TIMEOUT,
    WS_DEFAULTS,
    Harness,
    Pair,
    Role,
    assert_peer_gone,
    assert_sends_absorbed,
    eventually,
    pause_reading,
    port_of,
    received,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.testing import WireFrame

T = TypeVar("T")


def not_keepalive(frames: list[WireFrame]) -> list[WireFrame]:
    """Frames other than keepalive pings and pongs."""
    return [f for f in frames if f.opcode not in (Opcode.PING, Opcode.PONG)]


# -- 1. peer closes cleanly while idle ------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(1000, "bye"), (1001, "going away")])
async def test_01_peer_closes_cleanly(h: Harness, role: Role, code: int, reason: str) -> None:
    pair = await h.pair(role)
    await pair.peer.close(code, reason)
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=code, reason=reason)
    await assert_sends_absorbed(pair)
    # The guarded endpoint echoed the peer's code and sent nothing else.
    assert [(f.opcode, f.close_code) for f in not_keepalive(pair.frames_out())] == [
        (Opcode.CLOSE, code)
    ]


# -- 2. peer resets TCP, no Close frame ------------------------------------------------


async def test_02_peer_resets(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
    assert pair.link is not None
    await pair.link.reset()
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    # Not clean, and the code is wsstate's (1006), whatever the transport reported.
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)


# -- 3, 4, 5. send right after an abrupt disconnect, again, then close() ---------------


@pytest.mark.parametrize("first", ["send", "try_send"])
async def test_03_04_05_send_after_reset_before_reader_noticed(
    h: Harness, role: Role, first: str
) -> None:
    pair = await h.pair(role, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    await pause_reading(pair)
    await pair.link.reset()
    assert conn.state is State.OPEN  # nobody noticed yet
    # 3: the first send hits the dead socket: absorbed.
    if first == "send":
        with pytest.raises(wsstate.ConnectionClosed) as info:
            await conn.send("right after the reset")
        assert info.value.state == "CLOSED"
        assert info.value.clean is False
    else:
        assert await conn.try_send("right after the reset") is False
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert conn.stats.sent == 0
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
    assert conn.stats.dropped == 1 + 5 * 2 + 1


async def test_03_send_in_flight_when_the_peer_resets(h: Harness, role: Role) -> None:
    # The other timing of row 3: the send already waits for the peer to read (its
    # buffers are full) when the reset comes; the transport fails under it.
    pair = await h.pair(role, ping_interval=None, write_timeout=None)
    conn = pair.conn
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)
    transport = conn.transport.connection.transport  # type: ignore[attr-defined]
    chunk = random.Random(3).randbytes(256 * 1024)  # incompressible
    limit = transport.get_write_buffer_limits()[1]
    sends = []
    async with asyncio.timeout(2.0):
        while transport.get_write_buffer_size() <= limit:  # until the kernel's buffers are full
            sends.append(asyncio.create_task(conn.send(chunk)))
            await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert not sends[-1].done()  # in flight
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


async def peer_closes(pair: Pair, code: int, reason: str, when: str) -> asyncio.Task[None]:
    """The peer closes; return once the guarded endpoint got the peer's Close (``when``:
    "close_received", before the transport ended, if the timing allows) or is CLOSED."""
    closing = asyncio.create_task(pair.peer.close(code, reason))
    if when == "closed":
        await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    else:
        protocol = pair.conn.transport.connection.protocol  # type: ignore[attr-defined]
        # Checked at every loop iteration: the window before TCP ends is short.
        async with asyncio.timeout(1.0):
            while protocol.close_rcvd is None:  # noqa: ASYNC110
                await asyncio.sleep(0)
    return closing


@pytest.mark.parametrize("when", ["close_received", "closed"])
async def test_06_background_send_after_peer_closed(h: Harness, role: Role, when: str) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    closing = await peer_closes(pair, 1000, "tab closed", when)
    # Fire-and-forget, as a UI framework pushes an update: quietly dropped.
    background = asyncio.create_task(conn.try_send("update"))
    assert await background is False
    # The peer's Close is known; its TCP teardown is not, when the test caught it first.
    assert conn.state is (State.CLOSE_RECEIVED if when == "close_received" else State.CLOSED)
    with pytest.raises(wsstate.ConnectionClosed) as info:
        await conn.send("update")
    assert (info.value.code, info.value.reason, info.value.closed_by) == (
        1000,
        "tab closed",
        ClosedBy.REMOTE,
    )
    await closing
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000, reason="tab closed")
    assert conn.stats.dropped == 2
    assert conn.stats.sent == 0
    # Only DEBUG from wsstate (the harness checks it); no data frame went out.
    assert [f.opcode for f in not_keepalive(pair.frames_out())] == [Opcode.CLOSE]


@pytest.mark.parametrize("when", ["close_received", "closed"])
async def test_07_close_after_peer_closed(h: Harness, role: Role, when: str) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    closing = await peer_closes(pair, 1001, "navigated away", when)
    assert await conn.close() is False  # waits for CLOSED, if not there yet
    assert conn.state is State.CLOSED
    await closing
    assert_peer_gone(
        pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="navigated away"
    )
    assert [f.close_code for f in pair.frames_out()] == [1001]  # the echo, nothing else


# -- 8. close() twice: sequentially, and from two tasks at once ------------------------


@pytest.mark.parametrize("how", ["sequential", "concurrent"])
async def test_08_close_twice(h: Harness, role: Role, how: str) -> None:
    pair = await h.pair(role)
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
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=4001, reason="first")
    # The first code won on the wire: one Close, 4001.
    assert [(f.opcode, f.close_code) for f in not_keepalive(pair.frames_out())] == [
        (Opcode.CLOSE, 4001)
    ]
    await asyncio.wait_for(pair.peer.wait_closed(), 1.0)
    assert (pair.peer.close_code, pair.peer.close_reason) == (4001, "first")


# -- 9. recv after disconnect; messages before the peer's Close, all, in order ---------


async def test_09_recv_after_clean_close_delivers_everything_first(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    sent = [f"message {i}" for i in range(40)]  # more than websockets' max_queue (16)

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


async def test_09_recv_after_reset(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
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


async def test_10_many_senders_one_closer(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
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
    # Sends started after the close started are no-ops.
    assert all(not ok for _, ok, state in outcomes if state is not State.OPEN)
    assert 0 < len(went_out) < len(outcomes)
    assert conn.stats.sent == len(went_out)
    assert conn.stats.dropped == len(outcomes) - len(went_out)
    data = [f for f in pair.frames_out() if f.opcode is Opcode.TEXT]
    assert len(data) == len(got)
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1000]
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=1000)


# -- 11. send_threadsafe from several threads and the loop at once ---------------------


async def test_11_send_threadsafe_from_threads_and_loop(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
    conn = pair.conn
    per_source, threads_n = 150, 4
    results: dict[str, list[bool]] = {}
    start = threading.Barrier(threads_n + 1)

    def worker(name: str) -> None:
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


# -- 12. send_threadsafe after the connection's loop stopped, then closed --------------


class OtherLoop:
    """An event loop run step by step in one other thread (stopped between steps)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="other-loop")

    async def step(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the other loop until ``coro`` is done; then it is stopped again."""
        future = self._thread.submit(self.loop.run_until_complete, coro)
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """End the loop as ``asyncio.run`` does: cancel every task, wait, close."""

        def shutdown() -> None:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:  # gather() of nothing needs a current loop, which this thread lacks
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

        await asyncio.wrap_future(self._thread.submit(shutdown))
        await asyncio.to_thread(self._thread.shutdown)


async def test_12_send_threadsafe_after_loop_stopped_and_closed(h: Harness, role: Role) -> None:
    # The guarded endpoint lives in another loop, in another thread; its raw peer here.
    other = OtherLoop()
    options = {"ping_interval": None, "close_timeout": CLOSE_TIMEOUT}
    if role == "server":
        handed: concurrent.futures.Future[GuardedConnection] = concurrent.futures.Future()

        async def handler(ws: ServerConnection) -> None:
            conn = wsstate.guard(ws, **options)
            handed.set_result(conn)
            await conn.wait_closed()

        async def start() -> Server:
            return await serve(handler, "127.0.0.1", 0, **WS_DEFAULTS)

        async def accept() -> GuardedConnection:
            return await asyncio.wrap_future(handed)

        server = await other.step(start())
        accepting = asyncio.create_task(other.step(accept()))
        peer: Connection = await ws_connect(f"ws://127.0.0.1:{port_of(server)}/", **WS_DEFAULTS)
        conn = await accepting
    else:
        accepted: asyncio.Future[ServerConnection] = asyncio.Future()

        async def raw_handler(ws: ServerConnection) -> None:
            accepted.set_result(ws)
            await ws.wait_closed()

        raw_server = await h.serve(raw_handler)

        async def open_guarded() -> GuardedConnection:
            ws = await ws_connect(f"ws://127.0.0.1:{port_of(raw_server)}/", **WS_DEFAULTS)
            return wsstate.guard(ws, **options)

        conn = await other.step(open_guarded())
        peer = await accepted

    # Stopped: the message is queued, and sent when the loop runs again.
    assert conn.send_threadsafe("queued while stopped") is True
    await other.step(asyncio.sleep(0.05))
    assert await asyncio.wait_for(peer.recv(), 1.0) == "queued while stopped"

    # Closed: the application shut its loop down (as asyncio.run ends) under the
    # open connection; then a thread sends. Never an exception: False, counted.
    if role == "server":
        # Cancelled, websockets' handler closes the connection with 1011 on its
        # own, which the guarded connection reads as the library failing the
        # connection (peer_protocol_error, logged at INFO): it is CLOSED before
        # the loop is. A client's connection stays open while its loop closes.
        h.wsstate_info = True
        server.server.close()  # stop listening; the handler is cancelled below
    await other.close()
    before = conn.stats.dropped + conn.stats.threadsafe_failures
    assert conn.send_threadsafe("from the test's thread") is False
    from_thread: list[bool] = []

    def send_from_thread(c: GuardedConnection) -> None:
        from_thread.append(c.send_threadsafe(b"from a thread"))

    thread = threading.Thread(target=send_from_thread, args=(conn,))
    thread.start()
    await asyncio.to_thread(thread.join)  # a joined thread holds no reference to conn
    assert from_thread == [False]
    assert conn.stats.dropped + conn.stats.threadsafe_failures == before + 2
    if role == "client":
        assert conn.state is State.OPEN  # nobody can tell it any more
        assert conn.stats.threadsafe_failures == 2
        lines = [r.getMessage() for r in h.records(logging.DEBUG)]
        assert sum("after the event loop closed" in line for line in lines) == 2
    else:
        assert conn.state is State.CLOSED

    # The closed loop can no longer close its sockets: garbage collection does.
    del conn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    await asyncio.wait_for(peer.wait_closed(), 1.0)


# -- 13. fire-and-forget sends that fail ------------------------------------------------


async def test_13_fire_and_forget_failures_are_retrieved_and_counted(
    h: Harness, role: Role
) -> None:
    pair = await h.pair(role, ping_interval=None)
    conn = pair.conn
    assert pair.link is not None
    await pause_reading(pair)
    await pair.link.reset()  # nobody noticed yet: the first send finds out
    n = 10
    for i in range(n):
        asyncio.create_task(conn.try_send(f"task {i}"))  # noqa: RUF006 - fire and forget
    from_loop = [conn.send_threadsafe(f"loop {i}") for i in range(n)]
    from_thread = await asyncio.to_thread(lambda: [conn.send_threadsafe(b"t") for _ in range(n)])
    await eventually(lambda: conn.stats.dropped == 3 * n)
    gc.collect()  # an unretrieved task exception is reported on collection
    await asyncio.sleep(0)
    assert all(from_loop)  # queued while the connection looked open
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert conn.stats.sent == 0
    assert conn.stats.threadsafe_failures == sum(from_loop) + sum(from_thread)
    # The harness then checks that the loop's exception handler was never called.
