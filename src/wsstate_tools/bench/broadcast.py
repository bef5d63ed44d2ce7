"""Figure 3: one broadcast to N real connections of which half are dead."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection


from .common import _FD_HEADROOM, SMALL, Figure, Settings, _interleave, _per_round, raise_fd_limit
from .peer import _Server


async def _broadcast(s: Settings, notes: list[str]) -> list[Figure]:
    from websockets.protocol import State as WSState

    from wsstate.guard import guard
    from wsstate.hub import Hub

    wanted = s.broadcast_connections
    limit = raise_fd_limit(wanted + _FD_HEADROOM)
    n = max(2, min(wanted, limit - _FD_HEADROOM))
    if n < wanted:
        notes.append(
            f"figure 3 scaled down to {n} connections: the open-files limit is {limit} "
            f"(ulimit -n; the hard limit allows no more)"
        )
    hub = Hub()
    payload = b"x" * SMALL
    async with _Server(n, lambda ws: hub.add(guard(ws))) as server:
        bare = server.conns
        try:
            dead = n // 2
            await server.end_clients(dead, hub)
            live = [ws for ws in bare if ws.state is WSState.OPEN]

            async def naive_over(conns: list[ServerConnection]) -> float:
                started = time.perf_counter()
                for ws in conns:
                    try:  # noqa: SIM105 - the naive loop as applications write it
                        await ws.send(payload)
                    except Exception:
                        pass
                took = time.perf_counter() - started
                await asyncio.sleep(0.01)  # let the peers read
                return took * 1e3

            async def naive_all() -> float:
                return await naive_over(bare)

            async def naive_live() -> float:
                return await naive_over(live)

            async def hub_broadcast() -> float:
                started = time.perf_counter()
                result = await hub.broadcast(payload)
                took = time.perf_counter() - started
                if result.sent != len(live):
                    raise RuntimeError(f"broadcast sent {result.sent} of {len(live)}")
                await asyncio.sleep(0.01)
                return took * 1e3

            await naive_all()  # warm-up
            await hub_broadcast()
            h, a, lv = await _interleave(s.broadcast_rounds, [hub_broadcast, naive_all, naive_live])
        finally:
            for conn in list(hub):
                conn.abort()
    where = f"{n:,} connections, {dead:,} dead ({dead - dead // 2} closed by the peer, "
    where += f"{dead // 2} reset), one {SMALL} B message"
    return [
        Figure(
            "3a",
            f"broadcast to {n:,}, half dead: Hub vs naive loop (x faster)",
            "Hub.broadcast",
            "naive loop",
            "ms",
            "naive/hub",
            h,
            a,
            _per_round(a, h),
            "> 1",
            lambda r: r > 1.0,
            where + "; the Hub has already dropped the dead ones (on_close), the naive "
            "loop tries all and catches",
        ),
        Figure(
            "3b",
            f"same, naive loop over the {n - dead:,} live ones only (x faster)",
            "Hub.broadcast",
            "naive, live",
            "ms",
            "naive/hub",
            h,
            lv,
            _per_round(lv, h),
            note="the guard's own cost per connection in a broadcast",
        ),
    ]


# -- 4. memory per connection -------------------------------------------------------------------
