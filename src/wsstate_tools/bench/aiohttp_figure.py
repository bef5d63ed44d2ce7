"""Figure 10: aiohttp, guarded vs bare: send throughput and churn (:mod:`.framework`).

Bare sends are ``await ws.send_bytes(m)`` on a ``web.WebSocketResponse`` (the
ACK read with ``ws.receive()``); guarded ones ``conn.send(m)`` on a second
connection of the same server. Churn: ``ClientSession.ws_connect`` (one session
for every round), one ``send_bytes``, ``close()``; guarded, ``wsstate.guard()`` on the
connection, ``conn.send``, ``await conn.close()``; and like for like, in
rounds of their own: with wsstate's keepalive off (row h: dead-peer detection on
neither side, as aiohttp's default) and against aiohttp's heartbeat (row i: on both,
as wsstate's keepalive is on by default). Skipped (a note) without aiohttp.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .common import Figure, Settings
from .framework import (
    AlsoChurn,
    OneConnection,
    Variant,
    churn_figures,
    send_figures,
    start_clients,
)

KEY = "10"


async def _aiohttp_figures(s: Settings, notes: list[str]) -> list[Figure]:
    try:
        import aiohttp
        from aiohttp import web
    except ImportError:
        notes.append("figure 10 skipped: pip install 'wsstate[aiohttp]'")
        return []
    from wsstate.guard import guard

    sockets: list[web.WebSocketResponse] = []
    both_in = asyncio.Event()
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # aiohttp's defaults: no heartbeat
        await ws.prepare(request)
        sockets.append(ws)
        if len(sockets) == 2:
            both_in.set()
        await done.wait()  # nobody reads here: the bare variant reads the ACK itself
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    figures: list[Figure] = []
    try:
        peer = await start_clients(2, port)
        try:
            await asyncio.wait_for(both_in.wait(), 60)
            ws, guarded_ws = sockets
            conn = guard(guarded_ws)

            async def bare_send(data: bytes | str) -> None:
                if isinstance(data, str):
                    await ws.send_str(data)
                else:
                    await ws.send_bytes(data)

            async def bare_recv() -> bytes | str:
                msg = await ws.receive()
                data: bytes | str = msg.data
                return data

            figures += await send_figures(
                KEY,
                "aiohttp",
                s,
                Variant("conn.send", conn.send, conn.recv),
                Variant("ws.send_bytes", bare_send, bare_recv),
                "bare: await ws.send_bytes(m)",
            )
            conn.abort()
        finally:
            done.set()
            await peer.stop()
    finally:
        await runner.cleanup()

    session: list[aiohttp.ClientSession] = []

    def session_now() -> aiohttp.ClientSession:
        if not session or session[0].closed:
            session[:] = [aiohttp.ClientSession()]
        return session[0]

    async def bare_one(url: str, message: bytes) -> None:
        async with session_now().ws_connect(url) as ws:
            await ws.send_bytes(message)

    def guarded(**options: Any) -> OneConnection:
        async def one(url: str, message: bytes) -> None:
            conn = guard(await session_now().ws_connect(url), **options)
            await conn.send(message)
            await conn.close()

        return one

    guarded_one = guarded()  # wsstate's defaults

    # Like for like (rows h, i): dead-peer detection on neither side (wsstate's
    # keepalive off), or on both (aiohttp's heartbeat: a ping every 20 s as
    # wsstate's default ping_interval, its pong awaited half that).
    async def heartbeat_one(url: str, message: bytes) -> None:
        async with session_now().ws_connect(url, heartbeat=20.0) as ws:
            await ws.send_bytes(message)

    try:
        figures += await churn_figures(
            KEY,
            "aiohttp",
            s,
            ("guard(ws_connect)", guarded_one),
            ("ws_connect", bare_one),
            "one ClientSession for all; guarded with wsstate's defaults (its keepalive on), "
            "bare with aiohttp's (no heartbeat)",
            notes=notes,
            also=(
                AlsoChurn(
                    "h",
                    "both without dead-peer detection",
                    ("guard(ws_connect, ping_interval=None)", guarded(ping_interval=None)),
                    ("ws_connect", bare_one),
                    "guarded with wsstate's keepalive off (guard(ws, ping_interval=None)), "
                    "as aiohttp's default has no heartbeat",
                ),
                AlsoChurn(
                    "i",
                    "both with dead-peer detection",
                    ("guard(ws_connect)", guarded_one),
                    ("ws_connect(heartbeat=20)", heartbeat_one),
                    "bare with aiohttp's heartbeat (a ping every 20 s), as the guarded one "
                    "has wsstate's keepalive (measured last: see framework.churn_figures)",
                ),
            ),
        )
    finally:
        if session:
            await session[0].close()
    return figures
