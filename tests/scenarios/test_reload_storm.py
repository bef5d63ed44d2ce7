"""Reload storm (row 21): 50 connect/close cycles, leaving three ways; zero ERROR, and
sockets, tasks and memory back to the baseline."""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import weakref
from collections.abc import Callable

import pytest
from support.harness import GUARD_DEFAULTS, WS_DEFAULTS, Harness, assert_heap_bounded, eventually
from support.transports import Transport, reset_now, serve
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection

import wsstate
from wsstate import GuardedConnection


@pytest.mark.scenario(21)
async def test_21_reload_storm(h: Harness, transport: Transport) -> None:
    # Like an application, the test keeps no reference to a closed connection (the
    # harness would keep every one alive): weak references and a count per cycle.
    cycles, warmup = 50, 10
    conns: weakref.WeakSet[GuardedConnection] = weakref.WeakSet()
    notified: collections.Counter[int] = collections.Counter()
    counter = itertools.count()

    def follow(conn: GuardedConnection, i: int) -> None:
        conns.add(conn)

        def closed(c: GuardedConnection) -> None:
            notified[i] += 1

        conn.on_close(closed)

    connections: Callable[[], set[object]]
    if transport.role == "server":

        async def echo(conn: GuardedConnection) -> None:
            follow(conn, next(counter))
            async for message in conn:
                await conn.try_send(message)

        served = await serve(h, transport, echo)
        uri = served.url(proxy=False)

        def connections() -> set[object]:
            return served.connections

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

        async def raw_echo(ws: ServerConnection) -> None:  # the raw peer
            async for message in ws:
                await ws.send(message)
                if message == "reset":
                    reset_now(ws)
                    return
                if message == "fin":
                    ws.transport.close()
                    return

        server = await h.serve(raw_echo)
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"

        def connections() -> set[object]:
            return server.connections  # type: ignore[return-value]

        async def cycle(i: int) -> None:
            async with wsstate.connect(uri, **GUARD_DEFAULTS) as conn:
                follow(conn, next(counter))
                message = ("close", "reset", "fin")[i % 3]
                await conn.send(message)
                assert await conn.recv() == message

    async def settled(n: int) -> None:
        await eventually(lambda: len(notified) == n and all(c.closed for c in conns))
        await eventually(lambda: not connections())
        await asyncio.sleep(0.05)
        gc.collect()

    # A leaked connection holds tens of KiB (websockets' alone ~12 KiB, the
    # guard ~5 KiB); 50 cycles measure 26-51 KiB of growth in all.
    await assert_heap_bounded(cycle, settled, warmup=warmup, cycles=cycles, limit=96 * 1024)
    assert notified == dict.fromkeys(range(warmup + cycles), 1)  # each notified once
    assert len(conns) == 0  # nothing keeps a closed connection alive
    # Zero ERROR, and sockets and tasks back to the baseline: the harness checks both.
