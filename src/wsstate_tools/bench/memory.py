"""Figure 4: the memory the guard adds per connection."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from .common import Figure, Settings, _median, _per_round
from .peer import _Server


async def _memory(s: Settings) -> list[Figure]:
    from wsstate.connection import GuardedConnection
    from wsstate.guard import guard

    n = s.memory_connections

    def traced() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    bare_sizes: list[float] = []
    guard_sizes: list[float] = []
    tracemalloc.start()
    try:
        for _ in range(s.memory_rounds):
            await asyncio.sleep(0.05)  # the previous round's connections are gone
            before = traced()
            async with _Server(n) as server:
                opened = traced()
                guarded: list[GuardedConnection] = [guard(ws) for ws in server.conns]
                await asyncio.sleep(0)  # the guard's tasks start
                after = traced()
                bare_sizes.append((opened - before) / n)
                guard_sizes.append((after - opened) / n)
                for conn in guarded:
                    conn.abort()
            del guarded, server
    finally:
        tracemalloc.stop()
    return [
        Figure(
            "4",
            "memory per connection: guard added / bare connection",
            "guard adds",
            "bare ws",
            "B",
            "guard/bare",
            guard_sizes,
            bare_sizes,
            _per_round(guard_sizes, bare_sizes),
            target="<= 1 KiB",
            meets=lambda _ratio: _median(guard_sizes) <= 1024,
            note=f"tracemalloc (Python heap, not kernel buffers), server side, {n} connections "
            "per round; the bare figure includes websockets' handler task; target: the guard adds "
            "at most 1 KiB (1,024 B, the A column), not a ratio",
        )
    ]


# -- 5. connection churn ------------------------------------------------------------------------
