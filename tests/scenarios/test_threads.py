"""Threads: sends from several threads and the loop at once (row 11); late sends after
the connection's loop stopped, then closed (row 12)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings

import pytest
from support.harness import Harness
from support.transports import OtherLoop, Transport, host_in_other_loop, open_pair

from wsstate import GuardedConnection, State

# -- 11. send_threadsafe from several threads and the loop at once ---------------------


@pytest.mark.scenario(11)
async def test_11_send_threadsafe_from_threads_and_loop(h: Harness, transport: Transport) -> None:
    # A send's write timeout counts from the call: over ASGI (one send per loop
    # turn, in order) the last of this burst of 750 waits for the 749 before it,
    # which took longer than the harness's 0.3 s on a loaded CI machine. The peer
    # starts reading once the burst is queued (websockets stops reading its socket
    # after 16 unread messages): a keepalive ping sent meanwhile waits behind the
    # burst, whose pong could come later than the harness's 0.15 s. The
    # slow-reader policy is row 17's, keepalive row 16's.
    pair = await open_pair(h, transport, ping_interval=None, write_timeout=10.0)
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


@pytest.mark.scenario(11)
@pytest.mark.transports("asgi")  # the ASGI adapter's turn-taking
async def test_11_sends_keep_the_order_they_were_called_in(
    h: Harness, transport: Transport
) -> None:
    # The adapter gives the server a loop turn between two sends of a connection;
    # a send that waits for it keeps its place (send_threadsafe relies on it).
    pair = await open_pair(h, transport)
    conn = pair.conn
    first = asyncio.create_task(conn.send("1"))  # starts next turn, finds the turn used
    await conn.send("0")  # goes out now, in this turn
    second = asyncio.create_task(conn.send("2"))  # starts next turn too, after the first
    await asyncio.gather(first, second)
    got = [await asyncio.wait_for(pair.peer.recv(), 1.0) for _ in range(3)]
    assert got == ["0", "1", "2"]
    await conn.close()


# -- 12. send_threadsafe after the connection's loop stopped, then closed --------------


@pytest.mark.scenario(12)
async def test_12_send_threadsafe_after_loop_stopped_and_closed(
    h: Harness, transport: Transport
) -> None:
    # The guarded endpoint lives in another loop, in another thread, run step by
    # step (stopped between steps); its raw peer lives here.
    other = OtherLoop()
    hosted = await host_in_other_loop(h, transport, other)
    conn, peer = hosted.conn, hosted.peer

    # Stopped: the messages are queued, and sent when the loop runs again.
    assert await asyncio.to_thread(conn.send_threadsafe, "queued while stopped") is True
    assert conn.send_threadsafe("from the test's thread") is True
    await other.step(asyncio.sleep(0.05))
    got = [await asyncio.wait_for(peer.recv(), 1.0) for _ in range(2)]
    assert got == ["queued while stopped", "from the test's thread"]

    # Closed: the application shut its loop down (as asyncio.run ends; a server
    # shuts down first) under the open connection; then threads send. Never an
    # exception: False, counted.
    await hosted.stop()
    assert conn.state is hosted.state_after
    if hosted.peer_code is not None:
        assert conn.close_code == hosted.peer_code
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
    if conn.state is State.OPEN:  # nobody can tell it any more: both are thread failures
        assert conn.stats.threadsafe_failures == 2
        lines = [r.getMessage() for r in h.records(logging.DEBUG)]
        assert sum("after the event loop closed" in line for line in lines) == 2
    other.watch.assert_not_called()

    # The closed loop can no longer close its sockets: garbage collection does.
    del conn, hosted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    await asyncio.wait_for(peer.wait_closed(), 1.0)
    if transport.family == "asgi":
        assert peer.close_code == 1012  # uvicorn's shutdown code, sent before the loop closed
