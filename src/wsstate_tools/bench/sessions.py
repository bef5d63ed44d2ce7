"""Figure 8: sessions across reconnects (wsstate.Sessions): memory, and broadcast cost."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

from .common import SMALL, Figure, Settings, _interleave, _per_round
from .peer import _Server


async def _sessions(s: Settings) -> list[Figure]:
    """8a: memory a session adds per connection; 8b: ``Sessions.broadcast`` vs ``Hub.broadcast``.

    Both over the same real connections (a peer process's clients): each guarded
    connection is in a :class:`~wsstate.Hub` and attached to a session of a
    :class:`~wsstate.Sessions` (history 1000, on its default loop clock).
    """
    from wsstate.connection import GuardedConnection
    from wsstate.guard import guard
    from wsstate.hub import Hub
    from wsstate.sessions import Sessions

    n = s.memory_connections

    def traced() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    session_sizes: list[float] = []
    guard_sizes: list[float] = []
    tracemalloc.start()
    try:
        for _ in range(s.memory_rounds):
            await asyncio.sleep(0.05)
            async with _Server(n) as server:
                before = traced()
                guarded: list[GuardedConnection] = [guard(ws) for ws in server.conns]
                await asyncio.sleep(0)
                opened = traced()
                sessions = Sessions()
                for i, conn in enumerate(guarded):
                    sessions.attach(f"page-{i}", conn)
                after = traced()
                guard_sizes.append((opened - before) / n)
                session_sizes.append((after - opened) / n)
                for conn in guarded:
                    conn.abort()
                await asyncio.sleep(0)
            del guarded, server, sessions
    finally:
        tracemalloc.stop()

    payload = b"x" * SMALL
    hub = Hub()
    sessions = Sessions()
    async with _Server(n) as server:
        conns = [guard(ws) for ws in server.conns]
        for i, conn in enumerate(conns):
            hub.add(conn)
            sessions.attach(f"page-{i}", conn)
        try:

            async def by_hub() -> float:
                started = time.perf_counter()
                result = await hub.broadcast(payload)
                took = time.perf_counter() - started
                if result.sent != n:
                    raise RuntimeError(f"Hub.broadcast sent {result.sent} of {n}")
                await asyncio.sleep(0.01)  # let the peers read
                return took * 1e3

            async def by_sessions() -> float:
                started = time.perf_counter()
                result = await sessions.broadcast(payload)
                took = time.perf_counter() - started
                if result.sent != n:
                    raise RuntimeError(f"Sessions.broadcast sent {result.sent} of {n}")
                await asyncio.sleep(0.01)
                return took * 1e3

            await by_hub()  # warm-up; fills each session's history once
            await by_sessions()
            sb, hb = await _interleave(s.broadcast_rounds, [by_sessions, by_hub])
        finally:
            for conn in conns:
                conn.abort()
            await asyncio.sleep(0)
    return [
        Figure(
            "8a",
            "memory per session: session added / guard added",
            "session adds",
            "guard adds",
            "B",
            "session/guard",
            session_sizes,
            guard_sizes,
            _per_round(session_sizes, guard_sizes),
            note=f"tracemalloc, {n} sessions per round, each attached to a guarded connection, "
            "empty history (each message kept adds a tuple and a deque slot)",
        ),
        Figure(
            "8b",
            f"broadcast to {n:,} live: Sessions vs Hub (x slower)",
            "Sessions.broadcast",
            "Hub.broadcast",
            "ms",
            "sessions/hub",
            sb,
            hb,
            _per_round(sb, hb),
            "< 2",
            lambda r: r < 2.0,
            note="the same connections; a session's send also numbers the message and keeps "
            "it in its history (history 1000)",
        ),
    ]
