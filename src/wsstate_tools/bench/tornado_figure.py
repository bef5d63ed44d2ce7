"""Figure 11: tornado, guarded vs bare: send throughput and churn (:mod:`.framework`).

Bare sends are ``await self.write_message(m, binary=True)`` on a
``WebSocketHandler``, as tornado documents it (the returned future resolves
once the frame is in the socket; tornado wraps it in a task per message); the
ACK comes through ``on_message``. Guarded ones are ``conn.send(m)`` on a second
handler guarded in ``open()``. Churn: ``websocket_connect``, one
``write_message``, ``close()`` and ``read_message()`` until it returns None (the
closing handshake done: about 40 ms, as tornado's client leaves Nagle's
algorithm on and its Close waits for the delayed ACK of the message before
it); guarded, ``wsstate.guard()`` on the connection, ``conn.send``, ``await
conn.close()`` (guarding sets ``TCP_NODELAY``, as asyncio's transports have it:
no such wait). Skipped (a note) without tornado.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from .common import Figure, Settings
from .framework import Variant, churn_figures, send_figures, start_clients

KEY = "11"


async def _tornado_figures(s: Settings, notes: list[str]) -> list[Figure]:
    try:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web
        import tornado.websocket
    except ImportError:
        notes.append("figure 11 skipped: pip install 'wsstate[tornado]'")
        return []
    from wsstate.connection import GuardedConnection
    from wsstate.guard import guard

    handlers: list[tuple[tornado.websocket.WebSocketHandler, asyncio.Queue[Any]]] = []
    guarded: list[GuardedConnection] = []
    both_in = asyncio.Event()

    class Handler(tornado.websocket.WebSocketHandler):
        inbox: asyncio.Queue[str | bytes]

        def open(self, *args: str, **kwargs: str) -> None:
            self.inbox = asyncio.Queue()
            if handlers:  # the second connection is the guarded one
                guarded.append(guard(self))
                both_in.set()
            handlers.append((self, self.inbox))

        def on_message(self, message: str | bytes) -> None:
            self.inbox.put_nowait(message)

    app = tornado.web.Application([("/", Handler)], log_function=lambda handler: None)
    http = tornado.httpserver.HTTPServer(app)
    listening = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET, backlog=1024)
    http.add_sockets(listening)
    port = listening[0].getsockname()[1]
    figures: list[Figure] = []
    try:
        peer = await start_clients(2, port)
        try:
            await asyncio.wait_for(both_in.wait(), 60)
            (ws, inbox), _ = handlers
            conn = guarded[0]

            async def bare_send(data: bytes | str) -> None:
                await ws.write_message(data, binary=isinstance(data, bytes))

            async def bare_recv() -> bytes | str:
                data: bytes | str = await inbox.get()
                return data

            figures += await send_figures(
                KEY,
                "tornado",
                s,
                Variant("conn.send", conn.send, conn.recv),
                Variant("write_message", bare_send, bare_recv),
                "bare: await self.write_message(m, binary=True), Nagle's algorithm on "
                "(tornado's default); guarded: TCP_NODELAY set by guard()",
            )
            conn.abort()
            ws.close()
        finally:
            await peer.stop()
    finally:
        http.stop()
        await http.close_all_connections()

    async def bare_one(url: str, message: bytes) -> None:
        ws = await tornado.websocket.websocket_connect(url)
        await ws.write_message(message, binary=True)
        ws.close(1000)
        while await ws.read_message() is not None:
            pass

    async def guarded_one(url: str, message: bytes) -> None:
        conn = guard(await tornado.websocket.websocket_connect(url))
        await conn.send(message)
        await conn.close()

    figures += await churn_figures(
        KEY,
        "tornado",
        s,
        ("guard(connect)", guarded_one),
        ("websocket_connect", bare_one),
        "guarded with wsstate's defaults (its keepalive on, TCP_NODELAY set), bare with "
        "tornado's (no pings, Nagle's algorithm on: each closing handshake waits about "
        "40 ms for a delayed ACK); a third of figure 5's rounds",
        notes=notes,
        rounds=max(1, s.churn_rounds // 3),
    )
    return figures
