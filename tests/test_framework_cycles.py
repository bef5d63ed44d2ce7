"""A closed aiohttp or tornado connection is freed by reference counting, as a websockets one is.

Frameworks open and drop connections all day: if the guard tied a connection
into a reference cycle, each would wait for the cycle collector, whose work
then grows with the churn (docs/performance.md, figures 10 and 11: before the
adapters let go of the connection's callbacks and held the aiohttp socket's
``close`` hook weakly, the collector took ~60 µs per aiohttp connection).
Real clients against a real websockets server on loopback, the collector off.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import aiohttp
import pytest
import tornado.websocket
from support.harness import eventually
from websockets.asyncio.server import ServerConnection, serve

import wsstate
from wsstate import State


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.usefixtures("no_cycle_collector")
@pytest.mark.parametrize("framework", ["aiohttp", "tornado"])
async def test_a_closed_client_connection_is_freed_by_reference_counting(framework: str) -> None:
    refs: list[weakref.ref[object]] = []
    async with serve(_echo, "127.0.0.1", 0, ping_interval=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                if framework == "aiohttp":
                    native: object = await session.ws_connect(url)
                    refs.append(weakref.ref(native))  # aiohttp's own socket is acyclic too
                else:
                    native = await tornado.websocket.websocket_connect(url)
                conn = wsstate.guard(native)
                del native
                refs += [weakref.ref(conn), weakref.ref(conn.transport)]
                await conn.send("ping")
                assert await conn.recv() == "ping"
                await conn.close()
                assert conn.state is State.CLOSED
                del conn
            # Callbacks already scheduled may hold a reference for a loop turn or two.
            await eventually(lambda: all(ref() is None for ref in refs), within=2.0)


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_closed_aiohttp_server_connection_is_freed_by_reference_counting() -> None:
    from aiohttp import web
    from websockets.asyncio.client import connect

    refs: list[weakref.ref[object]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = wsstate.guard(ws, ping_interval=None)
        refs.extend((weakref.ref(conn), weakref.ref(conn.transport)))
        async for message in conn:
            await conn.send(message)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for _ in range(3):
            async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as client:
                await client.send("ping")
                assert await client.recv() == "ping"
        assert len(refs) == 6
        await eventually(lambda: all(ref() is None for ref in refs), within=2.0)
    finally:
        await runner.cleanup()
