"""A real uvicorn server running a Starlette app in the caller's event loop.

Used by the stateful harness's ASGI roles (:mod:`wsstate.testing.stateful`);
needs the ``starlette`` extra (starlette, uvicorn, wsproto). The server runs
in-process on 127.0.0.1 on an ephemeral port, without signal handlers, with
``log_config=None`` so that uvicorn's records reach the root logger (and the
harness's ERROR check), and without uvicorn's own keepalive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

with warnings.catch_warnings():
    # uvicorn's legacy implementation warns on import that it is deprecated.
    warnings.simplefilter("ignore")
    import uvicorn

__all__ = ["AsgiSite", "QuietServer"]


class QuietServer(uvicorn.Server):
    """uvicorn.Server for tests: no signal handlers, and it stops at once on request."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self.stopping.wait()

    def stop(self) -> None:
        self.should_exit = True
        self.stopping.set()


class AsgiSite:
    """A Starlette app with one WebSocket route, ``/ws``, on a real uvicorn."""

    def __init__(self, impl: str, endpoint: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.impl = impl
        self.endpoint = endpoint
        self.port = 0
        self._server: QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._level = logging.NOTSET

    async def start(self, limit: float = 5.0) -> None:
        """Start the server; return once it listens."""
        app = Starlette(routes=[WebSocketRoute("/ws", self.endpoint)])
        options: dict[str, Any] = {
            "ws": self.impl,
            "lifespan": "off",
            "log_config": None,
            "ws_ping_interval": None,
            "timeout_graceful_shutdown": 3,
        }
        server = QuietServer(uvicorn.Config(app, **options))
        uv_logger = logging.getLogger("uvicorn")
        self._level = uv_logger.level
        uv_logger.setLevel(logging.INFO)  # the legacy implementation logs frames at DEBUG
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._server = server
        self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(limit):
            while not server.started:
                if self._task.done():
                    await self._task
                await asyncio.sleep(0.002)

    async def stop(self) -> None:
        """Shut the server down and wait until it is done."""
        try:
            if self._server is not None and self._task is not None:
                self._server.stop()
                await self._task
        finally:
            logging.getLogger("uvicorn").setLevel(self._level)
            if self._sock is not None:
                self._sock.close()
