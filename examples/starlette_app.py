"""A Starlette app that pushes UI updates over WebSockets, the way a framework does, on wsstate.

What a framework author would copy:

* ``wsstate.guard(websocket)`` first, then ``await conn.accept()``: a peer that
  leaves during the handshake is a quiet ``False``, not an exception.
* ``async for message in conn`` ends quietly on any closure; ``try_send`` returns
  False once the connection is closing or closed. No ``try/except`` around sends,
  no ``close()`` in ``finally`` (it would be an idempotent no-op anyway).
* A render thread per session (as Solara's kernels, Streamlit's script runners)
  pushes with ``conn.send_threadsafe``: thread-safe, in order, never raises for a
  closed connection or a loop that is gone; ``on_close`` stops the thread.
* A ``Hub`` broadcasts from the event loop to every live session; dead ones are
  dropped, each failure isolated.

Run it (FastAPI's ``WebSocket`` is the same class; the endpoint is unchanged)::

    pip install 'wsstate[starlette]'
    uvicorn examples.starlette_app:app --ws websockets-sansio --ws-ping-interval 20

``--ws-ping-interval``: ASGI has no ping message, so uvicorn's own ping is what
detects a peer that vanished without closing (docs/starlette.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

import wsstate

log = logging.getLogger("example")

#: Seconds between the render thread's frames and between clock broadcasts.
RENDER_INTERVAL = 0.1
CLOCK_INTERVAL = 1.0

hub = wsstate.Hub()


def render(conn: wsstate.GuardedConnection, stop: threading.Event) -> None:
    """A session's render thread: computes frames and pushes them from outside the loop."""
    frame = 0
    while not stop.wait(RENDER_INTERVAL):
        frame += 1
        # False once the connection is closed (or its loop is gone): nothing to catch.
        conn.send_threadsafe(json.dumps({"frame": frame}))


async def session(websocket: WebSocket) -> None:
    conn = wsstate.guard(websocket, close_timeout=5)
    if not await conn.accept():
        return  # the peer left during the handshake
    hub.add(conn)  # leaves the hub by itself when it closes
    stop = threading.Event()
    conn.on_close(lambda c: stop.set())  # exactly once, whoever ends the connection
    renderer = threading.Thread(target=render, args=(conn, stop), name="render", daemon=True)
    renderer.start()
    await conn.try_send(json.dumps({"hello": websocket.url.path}))
    async for message in conn:  # ends quietly on any closure
        await conn.try_send(json.dumps({"echo": message}))
    log.debug("session ended: %s by %s", conn.close_code, conn.closed_by)
    await asyncio.to_thread(renderer.join)


async def clock() -> None:
    """Broadcast the time to every live session."""
    while True:
        await asyncio.sleep(CLOCK_INTERVAL)
        await hub.broadcast(json.dumps({"time": time.time()}))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(clock())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


app = Starlette(routes=[WebSocketRoute("/ws", session)], lifespan=lifespan)
