"""The five-minute tutorial: a websockets server and client, guarded by wsstate.

Run it: ``python examples/tutorial.py``. It starts an echo server on a free
loopback port, connects two clients (one polite, one that vanishes mid-stream
the way a closed browser tab does) and prints what each side saw. It exits 0
with no traceback and no ERROR line: that is the point.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection, serve

import wsstate

# --- server -------------------------------------------------------------------


async def handler(ws: ServerConnection) -> None:
    conn = wsstate.guard(ws, close_timeout=2)
    async for message in conn:  # ends quietly on any closure
        await conn.try_send(f"echo {message}")  # False instead of an exception
    # The loop ended: the client left. Sending now is a quiet no-op ...
    assert await conn.try_send("anyone there?") is False
    # ... and close() is idempotent: False, another party already closed.
    await conn.close()
    print(f"server: closed by {conn.closed_by.value}, code {conn.close_code}")


# --- client -------------------------------------------------------------------


async def polite_client(uri: str) -> None:
    async with wsstate.connect(uri) as conn:
        await conn.send("hello")
        print("client:", await conn.recv())
    # Leaving the block closed the connection; a send now raises wsstate's own
    # ConnectionClosed (never the transport's exception), and try_send says False.
    try:
        await conn.send("too late")
    except wsstate.ConnectionClosed as closed:
        print(f"client: send after close raised ConnectionClosed(code={closed.code})")
    assert await conn.try_send("too late") is False


async def vanishing_client(uri: str) -> None:
    async with wsstate.connect(uri) as conn:
        await conn.send("bye")
        conn.abort()  # drop TCP without a closing handshake: a tab closed, a laptop slept


# --- main ---------------------------------------------------------------------


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        uri = f"ws://127.0.0.1:{port}"
        await polite_client(uri)
        await vanishing_client(uri)
        await asyncio.sleep(0.2)  # let the server's handlers finish


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)  # closures log at DEBUG or INFO
    asyncio.run(main())
