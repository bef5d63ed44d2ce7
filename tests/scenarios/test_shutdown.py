"""Server shutdown with open guarded connections (row 18): all closed by a deadline, no ERROR.

Stacks differ in who closes and how fast: websockets closes each connection
itself with 1001 (on our behalf: LOCAL) and gives up on unresponsive peers after
its close timeout; uvicorn tells each application 1012 at once (REMOTE), its
legacy implementation only once each closing handshake ended or its 10 s close
timeout ran out. aiohttp and tornado leave open WebSockets to the application's
shutdown hook (aiohttp's ``on_shutdown``, tornado's server stop), where a Hub of
the guarded connections closes them with 1001 (LOCAL): wsstate's close timer
ends the unresponsive ones. aiohttp discards everything received once its
shutdown began, so there even the peers that answer are ended by the timer
(not clean).
"""

from __future__ import annotations

import asyncio

import pytest
from support.harness import SLACK, WS_DEFAULTS, Harness
from support.transports import Transport, serve
from websockets.asyncio.client import connect as ws_connect

from wsstate import GuardedConnection


@pytest.mark.scenario(18)
async def test_18_server_shutdown_closes_every_connection(h: Harness, transport: Transport) -> None:
    conns: list[GuardedConnection] = []

    async def echo(conn: GuardedConnection) -> None:
        h.track(conn)
        conns.append(conn)
        async for message in conn:
            await conn.try_send(message)

    if transport.shutdown_by_hub:
        h.wsstate_info = True  # our close timer ends the unresponsive peers (INFO, per the table)
    served = await serve(h, transport, echo)
    clients = [await ws_connect(served.url(proxy=False), **WS_DEFAULTS) for _ in range(4)]
    # Two more through the proxy, unresponsive by the time of the shutdown.
    clients += [await ws_connect(served.url(), **WS_DEFAULTS) for _ in range(2)]
    for client in clients:
        h.defer(client.close)
        await client.send("hi")
        assert await client.recv() == "hi"
    assert len(conns) == 6
    served.proxy.blackhole()
    loop = asyncio.get_running_loop()
    start = loop.time()
    shutdown = asyncio.create_task(served.shutdown())
    waited = conns if transport.shutdown_drops_unresponsive else conns[:4]
    await asyncio.wait_for(asyncio.gather(*(c.wait_closed() for c in waited)), 2.0)
    assert loop.time() - start <= transport.shutdown_deadline + SLACK
    for conn in waited:
        assert (conn.closed_by, conn.close_code) == transport.shutdown_close
    for client in clients[:4]:
        await asyncio.wait_for(client.wait_closed(), 1.0)
        assert client.close_code == transport.shutdown_close[1]
    if transport.local_close_clean:  # the unresponsive two never answered
        answered = transport.shutdown_reads_answers
        assert [c.clean for c in conns] == [answered] * 4 + [False] * 2
    if not transport.shutdown_waits_for_answers:
        await asyncio.wait_for(shutdown, 1.0)
        assert loop.time() - start <= transport.shutdown_deadline + SLACK
    served.proxy.heal()  # the last two answer now: every server ends
    await asyncio.wait_for(shutdown, 2.0)
    assert all(c.closed for c in conns)
