"""Figure 5: connection churn, wsstate.connect vs websockets' connect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .common import SMALL, Figure, Settings, _interleave, _per_round
from .peer import _Peer


async def _churn(url: str, s: Settings) -> list[Figure]:
    from websockets.asyncio.client import connect as ws_connect

    from wsstate.guard import connect

    message = b"x" * SMALL
    cpu: dict[str, list[float]] = {"bare": [], "guarded": []}

    async def run(name: str, one: Callable[[], Awaitable[None]]) -> float:
        per_worker = max(1, s.churn // s.churn_workers)

        async def worker() -> None:
            for _ in range(per_worker):
                await one()

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(s.churn_workers)))
        n = per_worker * s.churn_workers
        cpu[name].append((time.process_time() - cpu_started) / n * 1e6)
        return n / (time.perf_counter() - started)

    async def bare_one() -> None:
        # websockets' defaults but compression (its own keepalive included).
        async with ws_connect(url, compression=None) as ws:
            await ws.send(message)

    async def guarded_one() -> None:
        # wsstate's defaults (its keepalive instead of websockets').
        async with connect(url, compression=None) as conn:
            await conn.send(message)

    async def bare() -> float:
        return await run("bare", bare_one)

    async def guarded() -> float:
        return await run("guarded", guarded_one)

    # Warm-up, not counted: a whole round of each. The first rounds of a fresh
    # process run measurably slower (caches, the sink's accept path, the
    # kernel's socket tables), whichever variant happens to go first.
    await bare()
    await guarded()
    cpu["bare"].clear()
    cpu["guarded"].clear()
    a, b = await _interleave(s.churn_rounds, [guarded, bare])
    ca, cb = cpu["guarded"], cpu["bare"]
    return [
        Figure(
            "5a",
            "churn (connect, 1 message, close): guarded/bare",
            "wsstate.connect",
            "ws connect",
            "conn/s",
            "guarded/bare",
            a,
            b,
            _per_round(a, b),
            ">= 0.95",
            lambda r: r >= 0.95,
            f"{s.churn_workers} concurrent clients, {s.churn} connections per round, "
            f"{s.churn_rounds} rounds, to a server in another process",
        ),
        Figure(
            "5b",
            "client CPU per connection: guarded/bare (cost)",
            "wsstate.connect",
            "ws connect",
            "µs",
            "guarded/bare CPU",
            ca,
            cb,
            _per_round(ca, cb),
            note="the same rounds as 5a: CPU time of the client process",
        ),
    ]


# -- 6. fuzz steps and verifier states per second ------------------------------------------------


async def _churn_against_sink(s: Settings) -> list[Figure]:
    sink = await _Peer.start("sink")
    try:
        return await _churn(f"ws://127.0.0.1:{await sink.line()}/", s)
    finally:
        await sink.stop()
