"""examples/starlette_app.py works as documented, on a real uvicorn, all three implementations.

Sessions get their greeting, echoes, frames from their render thread and the
clock broadcast; a client that resets mid-stream, one that closes and one that
leaves during the handshake end their sessions and render threads, with no
ERROR from any logger (the ``h`` harness checks it, and everything else).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from support.asgi import IMPLS, Site
from support.harness import WS_DEFAULTS, Harness, eventually
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

pytestmark = [
    pytest.mark.parametrize("impl", IMPLS),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "starlette_app.py"


def load_example() -> Any:
    """A fresh copy of the example module (its hub and app are module state)."""
    spec = importlib.util.spec_from_file_location("starlette_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(spec.name, None)
    spec.loader.exec_module(module)
    return module


def renderers() -> int:
    """Render threads alive."""
    return sum(t.name.startswith("render") for t in threading.enumerate())


async def until(client: ClientConnection, key: str) -> dict[str, Any]:
    """The next message from ``client`` that has ``key``."""
    while True:
        message = json.loads(await asyncio.wait_for(client.recv(), 2.0))
        if key in message:
            return message  # type: ignore[no-any-return]


async def test_example_app(h: Harness, impl: str) -> None:
    example = load_example()
    example.RENDER_INTERVAL = 0.02
    example.CLOCK_INTERVAL = 0.05
    site = await Site.start(h, impl, app=example.app, lifespan="on")
    url = site.url("/ws")

    clients = [await ws_connect(url, **WS_DEFAULTS) for _ in range(3)]
    for client in clients:
        h.defer(client.close)
        assert await until(client, "hello") == {"hello": "/ws"}
        await client.send("ping")
        assert await until(client, "echo") == {"echo": "ping"}
        assert (await until(client, "frame"))["frame"] >= 1  # from the render thread
        assert "time" in await until(client, "time")  # from the hub, in the loop
    assert len(example.hub) == 3
    assert renderers() == 3

    # One resets mid-stream, one closes, one leaves during the handshake.
    assert site.proxy is not None
    await site.proxy.accepted[0].reset()
    await clients[1].close(1001)
    _reader, writer = await asyncio.open_connection("127.0.0.1", site.proxy.port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    writer.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
    )
    writer.transport.abort()
    await eventually(lambda: len(example.hub) == 1)
    await eventually(lambda: renderers() == 1)
    # The survivor still gets everything.
    await clients[2].send("still here")
    assert await until(clients[2], "echo") == {"echo": "still here"}
    assert "time" in await until(clients[2], "time")
    await clients[2].close()
    await eventually(lambda: len(example.hub) == 0)
    await eventually(lambda: renderers() == 0)
