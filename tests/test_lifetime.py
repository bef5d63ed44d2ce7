"""Nothing lost at the end of a connection's life (issue 15, acceptance 3).

Real websockets servers and clients on loopback: a send waiting on a full write
buffer when the connection is aborted is reported as not sent, and
:func:`wsstate.close_all` closes every guarded connection of a server within
its deadline, unresponsive peers included. (A loop closed under open
connections is scenario row 37, tests/scenarios/test_loop_per_page.py.)
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import threading
import time
from typing import cast

import pytest
from support.harness import GUARD_DEFAULTS, WS_DEFAULTS, Harness, Role, eventually, port_of
from support.threads import race
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.utils import accept_key

import wsstate
from wsstate import ClosedBy, ConnectionClosed, GuardedConnection, State, _lifetime


@pytest.mark.parametrize("api", ["send", "try_send"])
async def test_an_aborted_waiting_send_is_not_sent(h: Harness, role: Role, api: str) -> None:
    pair = await h.pair(role, write_timeout=30.0, ping_interval=None)
    raw = pair.conn.transport.connection  # type: ignore[attr-defined]
    raw.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)  # the proxy stops reading what we send
    # Fill every buffer on the way (kernel ones grow): a send that must wait.
    chunk = random.Random(15).randbytes(256 * 1024)  # incompressible (permessage-deflate)
    for _ in range(200):
        sending = asyncio.create_task(getattr(pair.conn, api)(chunk))
        await asyncio.sleep(0.02)
        if not sending.done():
            break
        await sending
    assert not sending.done()
    written = pair.conn.stats.sent
    assert pair.conn.abort() is True
    if api == "send":
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(sending, 1.0)
    else:
        assert await asyncio.wait_for(sending, 1.0) is False
    assert pair.conn.stats.sent == written
    assert pair.conn.stats.dropped == 1
    assert pair.conn.state is State.CLOSED
    pair.link.slow_reader(False, pair.out)


async def test_close_all_closes_a_thousand_connections_within_its_deadline(h: Harness) -> None:
    h.wsstate_info = True  # none should need it, but a close timer may end one (INFO row)
    n, unresponsive = 1000, 50
    conns: list[GuardedConnection] = []
    ready = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        # No keepalive: under load a late pong would close a connection before
        # close_all() does (it returned 982 of 1,000 once on a loaded machine).
        options = {**GUARD_DEFAULTS, "close_timeout": 10.0, "ping_interval": None}
        conn = wsstate.guard(ws, **options)
        h.track(conn)
        conns.append(conn)
        if len(conns) == n:
            ready.set()
        await conn.wait_closed()

    server = await h.serve(handler)
    url = f"ws://127.0.0.1:{port_of(server)}/"
    clients: list[ClientConnection] = []
    for _ in range(n // 100):
        clients += await asyncio.gather(*(connect(url, **WS_DEFAULTS) for _client in range(100)))
    await asyncio.wait_for(ready.wait(), 10.0)
    # Some peers stop answering: their closing handshake would take the close timeout (10 s).
    for client in clients[:unresponsive]:
        client.transport.pause_reading()

    deadline = 1.0
    t0 = time.monotonic()
    closed = await wsstate.close_all(1001, "shutdown", deadline=deadline)
    elapsed = time.monotonic() - t0
    assert closed == n
    # Without the deadline the unresponsive peers hold it for the close timeout (10 s);
    # the slack is for a loaded 2-core machine closing 1,000 connections.
    assert elapsed < deadline + 4.0, f"{elapsed:.2f} s"
    assert all(conn.state is State.CLOSED for conn in conns)
    assert all(conn.closed_by is ClosedBy.LOCAL for conn in conns)
    assert all(conn.close_code == 1001 for conn in conns)
    assert sum(conn.clean for conn in conns) >= n - unresponsive
    assert await wsstate.close_all() == 0  # nothing left on this loop
    for client in clients[:unresponsive]:
        client.transport.abort()
    await asyncio.gather(*(client.wait_closed() for client in clients))
    await eventually(lambda: all(c.close_code is not None for c in clients[unresponsive:]))
    assert all(c.close_code == 1001 for c in clients[unresponsive:])


def test_each_loop_lists_its_own_connections_when_loops_take_turns() -> None:
    # The registry remembers the loop it was last asked about: loops taking turns
    # (a loop per page) must each keep their own list. Real guarded
    # connections: a websockets server and a guarded client on each loop.
    class Site:
        def __init__(self) -> None:
            self.server_side: list[GuardedConnection] = []
            self.done = asyncio.Event()

        async def start(self) -> GuardedConnection:
            async def handler(ws: ServerConnection) -> None:
                self.server_side.append(wsstate.guard(ws))
                await self.done.wait()

            self.server = await serve(handler, "127.0.0.1", 0)
            client = wsstate.guard(await connect(f"ws://127.0.0.1:{port_of(self.server)}"))
            await eventually(lambda: bool(self.server_side))
            return client

        async def stop(self) -> None:
            self.done.set()
            self.server.close()
            await self.server.wait_closed()

    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    sites = [Site(), Site()]
    try:
        clients = [
            loop.run_until_complete(site.start()) for loop, site in zip(loops, sites, strict=True)
        ]
        for loop, site, client in zip(loops, sites, clients, strict=True):
            assert set(_lifetime.live(loop)) == {site.server_side[0], client}
        # A connection closing on the second loop leaves the first loop's list alone.
        loops[1].run_until_complete(clients[1].close())
        assert set(_lifetime.live(loops[0])) == {sites[0].server_side[0], clients[0]}
        loops[1].run_until_complete(eventually(lambda: not _lifetime.live(loops[1])))
        loops[0].run_until_complete(clients[0].close())
        loops[0].run_until_complete(eventually(lambda: not _lifetime.live(loops[0])))
        for loop, site in zip(loops, sites, strict=True):
            loop.run_until_complete(site.stop())
    finally:
        for loop in loops:
            loop.close()


def test_threads_with_a_loop_each_list_under_their_own_loop() -> None:
    # The registry remembers the last loop; threads running a loop each register
    # at once: each entry must land in its own loop's list. (A registry test: the
    # entries are plain objects, listed and unlisted, never ended.)
    per_thread, threads = 20_000, 4
    loops = [asyncio.new_event_loop() for _ in range(threads)]
    entries = [[cast(GuardedConnection, object()) for _ in range(per_thread)] for _ in loops]

    lists: list[dict[GuardedConnection, None]] = [{} for _ in loops]

    def register(index: int) -> None:
        for entry in entries[index]:
            lists[index] = _lifetime.register(loops[index], entry)

    race(register, threads)
    try:
        for index, loop in enumerate(loops):
            assert _lifetime.live(loop) == entries[index]
            assert lists[index] is _lifetime._LIVE[loop]  # the list each entry leaves by
    finally:
        for index, loop in enumerate(loops):
            for entry in entries[index]:
                lists[index].pop(entry)
            loop.close()


def test_a_loop_ending_while_a_keepalive_ping_waits_closes_the_connection() -> None:
    # Row 37 with a keepalive ping in flight: asyncio.run() ends (the ping's task
    # cancelled, the loop closed) while a guarded client's ping waits for a pong
    # from a server (in a thread) that answered the handshake and then reads
    # nothing. Closing the loop aborts the connection; cancelling its keepalive
    # asked asyncio.current_task() with no loop running, which raised RuntimeError
    # out of asyncio.run() and left the connection OPEN.
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def silent_server() -> None:
        sock, _ = listener.accept()
        held.append(sock)
        request = b""
        while b"\r\n\r\n" not in request:
            request += sock.recv(4096)
        found = re.search(rb"sec-websocket-key: *(\S+)", request, re.I)
        assert found is not None, request
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(found.group(1).decode()).encode()
            + b"\r\n\r\n"
        )

    thread = threading.Thread(target=silent_server, daemon=True)
    thread.start()
    conns: list[GuardedConnection] = []
    notified: list[GuardedConnection] = []

    async def main() -> None:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        conn = wsstate.guard(
            await connect(url, **WS_DEFAULTS), ping_interval=0.05, ping_timeout=30.0
        )
        conn.on_close(notified.append)
        conns.append(conn)
        await eventually(lambda: isinstance(conn._keepalive, asyncio.Task))
        assert conn.state is State.OPEN  # and so at the loop's end

    try:
        asyncio.run(main())
    finally:
        thread.join(timeout=5)
        for sock in (*held, listener):
            sock.close()
    (conn,) = conns
    assert (conn.state, conn.closed_by) == (State.CLOSED, ClosedBy.LOCAL)
    assert notified == [conn]


@pytest.mark.parametrize("ends", ["asyncio.run", "loop.close"])
def test_an_async_on_close_finishes_before_the_loop_closes(ends: str) -> None:
    # A connection still open when asyncio.run() ended (or its loop was closed by
    # hand) reached CLOSED, but its async on_close was cut off at its first await
    # (asyncio: "Task was destroyed but it is pending!"): the loop ran only a few
    # bare turns after the aborts.
    done: list[str] = []
    loop_errors: list[str] = []

    async def main() -> GuardedConnection:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: loop_errors.append(context["message"])
        )

        async def handler(ws: ServerConnection) -> None:
            await ws.wait_closed()

        server = await serve(handler, "127.0.0.1", 0)
        conn = await wsstate.connect(f"ws://127.0.0.1:{port_of(server)}/").__aenter__()

        async def on_close(c: GuardedConnection) -> None:
            await asyncio.sleep(0.05)  # persisting the session, telling a hub
            done.append("saved")

        conn.on_close(on_close)
        return conn  # the loop ends with the connection OPEN

    if ends == "asyncio.run":
        conn = asyncio.run(main())
    else:
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(main())
        loop.close()
    assert conn.state is State.CLOSED
    assert done == ["saved"]
    assert loop_errors == []


def test_on_close_registered_once_the_loop_is_closed() -> None:
    # It raised a bare RuntimeError("Event loop is closed") from call_soon.
    async def main() -> GuardedConnection:
        async def handler(ws: ServerConnection) -> None:
            await ws.wait_closed()

        server = await serve(handler, "127.0.0.1", 0)
        conn = await wsstate.connect(f"ws://127.0.0.1:{port_of(server)}/").__aenter__()
        await conn.close()
        server.close()
        await server.wait_closed()
        return conn

    conn = asyncio.run(main())
    seen: list[GuardedConnection] = []
    conn.on_close(seen.append)  # a plain callback runs at once
    assert seen == [conn]

    async def later(c: GuardedConnection) -> None:
        seen.append(c)

    with pytest.raises(RuntimeError, match="event loop is closed"):
        conn.on_close(later)
    assert seen == [conn]


def test_the_loop_end_bound_is_the_connections_default_close_timeout() -> None:
    assert wsstate.Options().close_timeout == _lifetime._CLOSE_TIMEOUT
