"""docs/aiohttp.md and docs/tornado.md: each page's Python blocks run as written.

The blocks are read from the pages and executed, not copied here: what a reader
pastes is what is tested, on a real aiohttp or tornado server on loopback, with a
real websockets client (and the client-side sentence of each page, a guarded
aiohttp or tornado client), under the harness: no ERROR or WARNING from any
logger, no task or descriptor left behind. A page whose block stops running, or
stops doing what the page says of it, fails here.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tornado.websocket
from aiohttp import web
from support.frameworks import serve_tornado
from support.harness import WS_DEFAULTS, Harness, eventually
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

import wsstate

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: How long a step may take (a loopback echo, a close with an answering peer).
STEP = 2.0


def blocks(page: str) -> list[str]:
    """The ```python blocks of ``docs/<page>``, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def run_blocks(page: str, *indices: int) -> dict[str, Any]:
    """Execute blocks ``indices`` of ``page`` in one namespace, as a reader pasting
    them one after the other would; the compiled name says which block failed."""
    found = blocks(page)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.removesuffix('.md')}"}
    for index in indices:
        code = compile(found[index], f"docs/{page}, python block {index + 1}", "exec")
        exec(code, namespace)
    return namespace


async def connect_clients(h: Harness, port: int, count: int) -> list[ClientConnection]:
    """``count`` websockets clients of ``ws://127.0.0.1:<port>/ws``, closed at teardown."""
    clients = []
    for _ in range(count):
        client = await ws_connect(f"ws://127.0.0.1:{port}/ws", **WS_DEFAULTS)
        h.defer(client.close)
        clients.append(client)
    return clients


def test_the_pages_have_the_blocks_tested_here() -> None:
    # An integration block and a shutdown block each; more, and this file must grow.
    assert len(blocks("aiohttp.md")) == 2
    assert len(blocks("tornado.md")) == 2
    assert "wsstate.guard(ws" in blocks("aiohttp.md")[0]
    assert "wsstate.guard(self)" in blocks("tornado.md")[0]


def test_run_blocks_names_the_block_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check the tests below stand on: a broken block fails, and says which.
    (tmp_path / "broken.md").write_text(
        "```python\nx = 41\n```\n\n```python\nraise ValueError(x + 1)\n```\n"
    )
    monkeypatch.setitem(globals(), "DOCS", tmp_path)
    with pytest.raises(ValueError, match=r"^42$") as failed:
        run_blocks("broken.md", 0, 1)
    assert failed.traceback[-1].path == "docs/broken.md, python block 2"


# -- aiohttp ---------------------------------------------------------------------------


async def serve_aiohttp(h: Harness, app: web.Application) -> tuple[web.AppRunner, int]:
    """``app`` on an aiohttp ``AppRunner`` at 127.0.0.1 (ephemeral port), cleaned up at
    teardown if the test did not."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    h.defer(runner.cleanup)
    port: int = runner.addresses[0][1]
    return runner, port


async def test_aiohttp_integration(h: Harness) -> None:
    docs = run_blocks("aiohttp.md", 0)
    _runner, port = await serve_aiohttp(h, docs["app"])
    url = f"ws://127.0.0.1:{port}/ws"

    # A browser-like peer: echoed, then closed cleanly by its own Close.
    client = await ws_connect(url, **WS_DEFAULTS)
    h.defer(client.close)
    await client.send("hi")
    assert await asyncio.wait_for(client.recv(), STEP) == "echo hi"
    await client.close()
    assert client.close_code == 1000, client.close_code

    # The page's client side: `conn = wsstate.guard(await session.ws_connect(url))`.
    async with aiohttp.ClientSession() as session:
        conn = wsstate.guard(await session.ws_connect(url))
        h.track(conn)
        await conn.send("from aiohttp")
        assert await asyncio.wait_for(conn.recv(), STEP) == "echo from aiohttp"
        await asyncio.wait_for(conn.close(), STEP)
        assert (conn.close_code, conn.closed_by, conn.clean) == (1000, "local", True)


async def test_aiohttp_shutdown(h: Harness) -> None:
    docs = run_blocks("aiohttp.md", 0, 1)  # the shutdown block uses the first's imports
    runner, port = await serve_aiohttp(h, docs["app"])
    hub: wsstate.Hub = docs["hub"]
    clients = await connect_clients(h, port, 2)
    for client in clients:
        await client.send("up")
        assert await asyncio.wait_for(client.recv(), STEP) == "echo up"
    assert len(hub) == 2
    # The page: running the AppRunner yourself, close the hub before cleanup() for
    # clean closes (cleanup() runs on_shutdown again, on an empty hub).
    await asyncio.wait_for(docs["on_shutdown"](docs["app"]), STEP)
    assert len(hub) == 0
    await asyncio.wait_for(runner.cleanup(), STEP)
    for client in clients:
        await asyncio.wait_for(client.wait_closed(), STEP)
        assert (client.close_code, client.close_reason) == (1001, "server shutdown")


# -- tornado ---------------------------------------------------------------------------


async def test_tornado_integration(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    docs = run_blocks("tornado.md", 0)
    _server, port = await serve_tornado(h, [("/ws", docs["Updates"])])
    url = f"ws://127.0.0.1:{port}/ws"
    printed: list[str] = []

    def lines() -> list[str]:
        """What the page's on_close printed so far."""
        printed.extend(capsys.readouterr().out.splitlines())
        return printed

    client = await ws_connect(url, **WS_DEFAULTS)
    h.defer(client.close)
    await client.send("hi")
    assert await asyncio.wait_for(client.recv(), STEP) == "echo hi"
    await client.close()
    assert client.close_code == 1000, client.close_code
    # The page's on_close: it runs after the table saw the closure, and prints it.
    await eventually(lambda: lines() == ["1000 remote True"], within=STEP)

    # The page's client side: `wsstate.guard(await tornado.websocket.websocket_connect(url))`.
    conn = wsstate.guard(await tornado.websocket.websocket_connect(url))
    h.track(conn)
    await conn.send("from tornado")
    assert await asyncio.wait_for(conn.recv(), STEP) == "echo from tornado"
    await asyncio.wait_for(conn.close(), STEP)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1000, "local", True)
    await eventually(lambda: lines() == ["1000 remote True"] * 2, within=STEP)


async def test_tornado_shutdown(h: Harness) -> None:
    docs = run_blocks("tornado.md", 0, 1)  # the shutdown block uses the first's imports
    server, port = await serve_tornado(h, [("/ws", docs["Updates"])])
    hub: wsstate.Hub = docs["hub"]
    clients = await connect_clients(h, port, 2)
    await eventually(lambda: len(hub) == 2, within=STEP)
    await asyncio.wait_for(docs["shutdown"](server), STEP)
    assert len(hub) == 0
    for client in clients:
        await asyncio.wait_for(client.wait_closed(), STEP)
        assert (client.close_code, client.close_reason) == (1001, "server shutdown")
