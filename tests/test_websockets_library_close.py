"""Who closed, when websockets closes on its own: classified by code, never by text."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed as WSClosed

import wsstate
from wsstate import ClosedBy, GuardedConnection, State


async def _server_closes_on_its_own(how: str) -> tuple[GuardedConnection, int | None]:
    seen: asyncio.Future[GuardedConnection] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, ping_interval=None, close_timeout=0.5)
        seen.set_result(conn)
        await asyncio.sleep(0.05)
        if how == "raises":
            raise RuntimeError("the application's own bug")  # websockets closes with 1011
        # "returns": websockets closes with 1000

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}") as client:
            with contextlib.suppress(WSClosed):
                await asyncio.wait_for(client.recv(), 2.0)
            code = client.close_code
        conn = await seen
        await asyncio.wait_for(conn.wait_closed(), 2.0)
    return conn, code


@pytest.mark.parametrize(("how", "code"), [("raises", 1011), ("returns", 1000)])
def test_library_close_on_the_applications_behalf_is_local(how: str, code: int) -> None:
    conn, client_saw = asyncio.run(_server_closes_on_its_own(how))
    assert client_saw == code
    assert conn.state is State.CLOSED
    assert conn.closed_by is ClosedBy.LOCAL, "the peer did nothing: not a remote closure"
    assert conn.close_code == code
