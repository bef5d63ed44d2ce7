"""A page that survives a network drop: wsstate.Sessions on FastAPI, resumed with last_seen.

Run it: ``python examples/sessions_fastapi.py``. It serves the app below with
uvicorn on a free loopback port. A plain websockets client (the "page") counts
the messages it receives; its TCP connection is cut while the server keeps
pushing; it reconnects with ``?last_seen=N`` and gets every message exactly
once, in order. Run a second time with a history shorter than what it missed,
the attach reports a gap, and the server sends a full state instead.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

import wsstate

GRACE = 5.0  # seconds a session waits for its page to come back

sessions = wsstate.Sessions(grace=GRACE, history=100, on_expire=lambda s: print("expired", s.id))
app = FastAPI()


@app.websocket("/ws")
async def page(websocket: WebSocket, session: str, last_seen: int | None = None) -> None:
    conn = wsstate.guard(websocket, close_timeout=2)
    if not await conn.accept():
        return
    s = sessions.attach(session, conn, last_seen)  # the old connection, if any, is fenced off
    if s.gap or (last_seen is None and s.last_sent):
        # Some messages are gone from the history: number a full state like any message.
        await s.send(f"full state after {s.last_sent}")
    async for message in conn:  # the page's input; the session detaches itself at the end
        await s.try_send(f"echo {message}")


async def push(session: str, count: int) -> None:
    """The application's updates: numbered, kept, held while the page is away."""
    s = sessions.get(session)
    assert s is not None
    for _ in range(count):
        await s.send(f"update {s.last_sent + 1}")


async def run_page(port: int, history: int) -> list[str]:
    sessions.history = history
    url = f"ws://127.0.0.1:{port}/ws?session=tab-{history}"
    received: list[str] = []
    async with connect(url) as ws:
        await push(f"tab-{history}", 3)
        received += [str(await ws.recv()) for _ in range(3)]
        ws.transport.abort()  # the network drops: no Close frame, just gone
    await push(f"tab-{history}", 5)  # pushed while the page is away
    last_seen = len(received)  # the page counts what it received
    async with connect(f"{url}&last_seen={last_seen}") as ws:
        await push(f"tab-{history}", 1)
        s = sessions.get(f"tab-{history}")
        assert s is not None
        expected = 6 if s.resumed else 2  # 5 replayed + 1 new, or a full state + 1 new
        received += [str(await ws.recv()) for _ in range(expected)]
        print(f"history {history}: resumed={s.resumed} gap={s.gap}")
    sessions.page_close(f"tab-{history}")  # the page's close beacon: expires at once
    return received


async def main() -> None:
    # A listening socket on a free port, handed to uvicorn: clients may connect at
    # once (the kernel queues them until the server accepts), no start-up polling.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    got = await run_page(port, history=100)
    assert got == [f"update {n}" for n in range(1, 10)], got  # each once, in order
    print("page received:", ", ".join(got))
    got = await run_page(port, history=2)
    assert got[3:] == ["full state after 8", "update 10"], got
    print("page received:", ", ".join(got))
    server.should_exit = True
    await serving
    sock.close()


if __name__ == "__main__":
    asyncio.run(main())
