"""The five-minute tutorial, FastAPI edition: the same guarded endpoint on uvicorn.

Run it: ``python examples/tutorial_fastapi.py``. It serves the app below with
uvicorn on a free loopback port, talks to it with ``wsstate.connect`` and stops
the server. To serve it yourself::

    pip install 'wsstate[starlette]' fastapi
    uvicorn examples.tutorial_fastapi:app --ws websockets-sansio --ws-ping-interval 20
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from fastapi import FastAPI, WebSocket

import wsstate

app = FastAPI()


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    conn = wsstate.guard(websocket, close_timeout=2)
    if not await conn.accept():  # False: the client left during the handshake
        return
    async for message in conn:  # ends quietly on any closure
        await conn.try_send(f"echo {message}")  # False once closing or closed
    # No try/except, no close() in a finally: nothing to catch, nothing to undo.


async def main() -> None:
    # A listening socket on a free port, handed to uvicorn: clients may connect at
    # once (the kernel queues them until the server accepts), no start-up polling.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with wsstate.connect(f"ws://127.0.0.1:{port}/ws") as conn:
        await conn.send("hello")
        print("client:", await conn.recv())
    async with wsstate.connect(f"ws://127.0.0.1:{port}/ws") as conn:
        conn.abort()  # a tab closed mid-session: the server's loop just ends
    server.should_exit = True
    await serving
    sock.close()


if __name__ == "__main__":
    asyncio.run(main())
