"""Figure 9: reconnecting, wsstate.ReconnectingClient vs websockets' ``async for connect()`` loop.

* 9a, the herd: a fleet of clients connected to one real server; the server
  closes every connection with 1012 (a restart) and keeps listening. The figure
  is the largest share of the fleet's reconnects that fall in any 100 ms
  window (lower is better). websockets' loop resets its backoff after every
  connection that opened, so the whole fleet comes back at once; wsstate draws
  a full-jitter delay on every reconnect.
* 9b, accept-then-close: the server accepts every handshake, then closes it at
  once (1011). The figure is the attempts each client makes in a fixed time.
  websockets' loop reconnects at once after each (a tight loop); wsstate's
  counter resets only after ``min_uptime``, so its delays keep growing
  (backoff_initial 0.1 s here, to show the schedule in a short run).

Both variants use the websockets loop as its documentation shows it: ``async
for ws in connect(uri)`` with ``except ConnectionClosed: continue`` around the
body.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from .common import Figure, Settings, _per_round


class _Server:
    def __init__(self) -> None:
        self.mode = "accept"
        self.requests: list[float] = []
        self.conns: set[object] = set()

    def process_request(self, conn: object, request: object) -> None:
        self.requests.append(asyncio.get_running_loop().time())

    async def handler(self, conn: object) -> None:
        from websockets.asyncio.server import ServerConnection

        assert isinstance(conn, ServerConnection)
        if self.mode == "accept_close":
            await conn.close(1011)
            return
        self.conns.add(conn)
        try:
            await conn.wait_closed()
        finally:
            self.conns.discard(conn)


async def _with_server(body: Callable[[_Server, str], Awaitable[float]]) -> float:
    from websockets.asyncio.server import serve

    srv = _Server()
    async with serve(
        srv.handler, "127.0.0.1", 0, process_request=srv.process_request, compression=None
    ) as ws:
        port = next(iter(ws.sockets)).getsockname()[1]
        return await body(srv, f"ws://127.0.0.1:{port}")


async def _websockets_loop(uri: str, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async for ws in connect(uri, compression=None):
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        if stop.is_set():
            await ws.close()
            return


async def _until(predicate: Callable[[], bool], within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    for _ in range(int(within / 0.01) + 1):
        if predicate() or asyncio.get_running_loop().time() >= deadline:
            return
        await asyncio.sleep(0.01)


def _worst_window(times: list[float], width: float = 0.1) -> int:
    times = sorted(times)
    worst, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - width:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


async def _herd(fleet: int, use_wsstate: bool) -> float:
    import wsstate

    async def body(srv: _Server, uri: str) -> float:
        stop = asyncio.Event()
        clients: list[wsstate.ReconnectingClient] = []
        tasks: list[asyncio.Task[None]] = []
        if use_wsstate:
            for i in range(fleet):
                c = wsstate.ReconnectingClient(
                    uri, backoff_initial=1.0, rng=random.Random(i), compression=None
                )
                c.start()
                clients.append(c)
        else:
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(_websockets_loop(uri, stop)) for _ in range(fleet)]
        await _until(lambda: len(srv.conns) == fleet, 30)
        start = len(srv.requests)
        await asyncio.gather(*(c.close(1012) for c in list(srv.conns)))  # type: ignore[attr-defined]
        await _until(lambda: len(srv.requests) >= start + fleet, 30)
        share = _worst_window(srv.requests[start:]) / fleet * 100
        stop.set()
        await asyncio.gather(*(c.close() for c in clients))
        await asyncio.gather(*(c.close() for c in list(srv.conns)))  # type: ignore[attr-defined]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return share

    return await _with_server(body)


async def _accept_then_close(seconds: float, use_wsstate: bool) -> float:
    import wsstate

    async def body(srv: _Server, uri: str) -> float:
        srv.mode = "accept_close"
        if use_wsstate:
            c = wsstate.ReconnectingClient(
                uri, backoff_initial=0.1, rng=random.Random(1), compression=None
            )
            c.start()
            await asyncio.sleep(seconds)
            await c.close()
        else:
            stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(_websockets_loop(uri, stop))
            await asyncio.sleep(seconds)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return float(len(srv.requests))

    return await _with_server(body)


async def _reconnect(s: Settings) -> list[Figure]:
    fleet = 50 if s.decision_rounds <= 3 else 200
    rounds = 1 if s.decision_rounds <= 3 else 3
    seconds = 1.0 if s.decision_rounds <= 3 else 3.0
    quiet = [logging.getLogger(n) for n in ("websockets", "wsstate")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)
    try:
        herd_w: list[float] = []
        herd_b: list[float] = []
        rate_w: list[float] = []
        rate_b: list[float] = []
        for r in range(rounds):
            order = [True, False] if r % 2 == 0 else [False, True]
            for use in order:
                (herd_w if use else herd_b).append(await _herd(fleet, use))
            for use in order:
                (rate_w if use else rate_b).append(await _accept_then_close(seconds, use))
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    return [
        Figure(
            "9a",
            f"reconnect herd: {fleet} clients, most in a 100 ms window (x fewer)",
            "wsstate",
            "websockets",
            "%",
            "websockets/wsstate",
            herd_w,
            herd_b,
            _per_round(herd_b, herd_w),
            target=">= 2",
            meets=lambda r: r >= 2,
            note="share of the fleet's reconnects in the busiest 100 ms window after the "
            "server closed every connection with 1012 (issue 12: at most a quarter)",
        ),
        Figure(
            "9b",
            f"accept-then-close: attempts in {seconds:g} s (x fewer)",
            "wsstate",
            "websockets",
            "attempts",
            "websockets/wsstate",
            rate_w,
            rate_b,
            _per_round(rate_b, rate_w),
            target=">= 10",
            meets=lambda r: r >= 10,
            note="the server accepts, then closes with 1011; wsstate backoff_initial 0.1 s, "
            "factor 2 (the counter never resets: no connection stays up min_uptime)",
        ),
    ]
