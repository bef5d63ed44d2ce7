"""Figure 13: ``Hub.broadcast`` against websockets' own ``broadcast()``, and with stalled members.

13a and 13b: one broadcast to N real connections (2,000 by default), all live,
then half dead (a quarter closed by the peer, a quarter reset), timed as
``Hub.broadcast`` (guarded members) and as ``websockets.broadcast()`` over the
same bare connections (it skips those not OPEN). Both write through
websockets' Sans-I/O protocol and never wait on a member.

13c: the Hub's broadcast to N members of which 1% stopped reading (their write
buffers already full, so each broadcast queues to or drops from their
backlog) against a Hub of N members that all read, over the same connections
and in the same rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from wsstate.connection import GuardedConnection


from .common import _FD_HEADROOM, SMALL, Figure, Settings, _interleave, _per_round, raise_fd_limit
from .peer import _Server

#: Share of the members that stop reading in 13c.
STALLED_SHARE = 0.01
#: A stalled member's transport holds at least this much unsent before 13c measures.
_FULL = 256 * 1024


def _size(s: Settings, notes: list[str], extra: int) -> int:
    wanted = s.broadcast_connections + extra
    limit = raise_fd_limit(wanted + _FD_HEADROOM)
    n = max(2, min(wanted, limit - _FD_HEADROOM)) - extra
    if n < s.broadcast_connections:
        notes.append(
            f"figure 13 scaled down to {n} connections: the open-files limit is {limit} "
            f"(ulimit -n; the hard limit allows no more)"
        )
    return max(2, n)


async def _hub_vs_websockets(s: Settings, notes: list[str]) -> list[Figure]:
    from websockets.asyncio.server import broadcast as ws_broadcast

    from wsstate.guard import guard
    from wsstate.hub import Hub

    n = _size(s, notes, 0)
    hub = Hub()
    payload = b"x" * SMALL
    async with _Server(n, lambda ws: hub.add(guard(ws))) as server:
        bare = server.conns
        try:

            def variants(expected: int) -> list[Callable[[], Awaitable[float]]]:
                async def hub_broadcast() -> float:
                    started = time.perf_counter()
                    result = await hub.broadcast(payload)
                    took = time.perf_counter() - started
                    if result.sent != expected:
                        raise RuntimeError(f"Hub.broadcast sent {result.sent} of {expected}")
                    await asyncio.sleep(0.01)  # let the peers read
                    return took * 1e3

                async def websockets_broadcast() -> float:
                    started = time.perf_counter()
                    ws_broadcast(bare, payload)
                    took = time.perf_counter() - started
                    await asyncio.sleep(0.01)
                    return took * 1e3

                return [hub_broadcast, websockets_broadcast]

            live_variants = variants(n)
            for v in live_variants:
                await v()  # warm-up
            h_live, w_live = await _interleave(s.broadcast_rounds, live_variants)

            dead = n // 2
            await server.end_clients(dead, hub)
            dead_variants = variants(n - dead)
            for v in dead_variants:
                await v()
            h_dead, w_dead = await _interleave(s.broadcast_rounds, dead_variants)
        finally:
            for conn in list(hub):
                conn.abort()
    where = f"{n:,} connections, one {SMALL} B message; both skip no live member"
    return [
        Figure(
            "13a",
            f"broadcast to {n:,}, all live: Hub vs websockets.broadcast (x faster)",
            "Hub.broadcast",
            "ws.broadcast",
            "ms",
            "ws/hub",
            h_live,
            w_live,
            _per_round(w_live, h_live),
            ">= 1.0",
            lambda r: r >= 1.0,
            where,
        ),
        Figure(
            "13b",
            "same, half dead: Hub vs websockets.broadcast (x faster)",
            "Hub.broadcast",
            "ws.broadcast",
            "ms",
            "ws/hub",
            h_dead,
            w_dead,
            _per_round(w_dead, h_dead),
            ">= 1.0",
            lambda r: r >= 1.0,
            f"{dead:,} of {n:,} dead ({dead - dead // 2} closed by the peer, {dead // 2} "
            "reset): the Hub has dropped them (on_close), websockets.broadcast() skips them "
            "by state",
        ),
    ]


async def _stalled_members(s: Settings, notes: list[str]) -> list[Figure]:
    from websockets.asyncio.server import broadcast as ws_broadcast

    from wsstate.guard import guard
    from wsstate.hub import Hub

    stalled_n = max(1, round(s.broadcast_connections * STALLED_SHARE))
    n = _size(s, notes, stalled_n)
    total = n + stalled_n
    guarded: dict[ServerConnection, GuardedConnection] = {}
    payload = b"x" * SMALL

    def on_connect(ws: ServerConnection) -> None:
        # A write timeout longer than the run: the stalled members stay stalled
        # (their closing after write_timeout is acceptance 1's test, not a cost).
        guarded[ws] = guard(ws, write_timeout=600)

    async with _Server(total, on_connect) as server:
        try:
            assert server.peer is not None
            server.peer.tell(f"stall {stalled_n}")
            answer = (await server.peer.line()).split()
            if not answer or answer[0] != "stalled":
                raise RuntimeError("the bench's clients did not stall")
            ports = {int(p) for p in answer[1:]}
            stalled = [ws for ws in server.conns if ws.remote_address[1] in ports]
            fast = [ws for ws in server.conns if ws.remote_address[1] not in ports]
            if len(stalled) != stalled_n:
                raise RuntimeError(f"found {len(stalled)} of the {stalled_n} stalled clients")
            # Fill their buffers (past the kernel's and websockets' high-water mark).
            deadline = time.monotonic() + 30
            filler = b"f" * 65536
            while min(ws.transport.get_write_buffer_size() for ws in stalled) < _FULL:
                if time.monotonic() > deadline:
                    raise RuntimeError("the stalled clients' buffers did not fill in 30 s")
                ws_broadcast(stalled, filler)
                await asyncio.sleep(0.01)
            with_stalled = Hub()
            for ws in fast[: n - stalled_n] + stalled:
                with_stalled.add(guarded[ws])
            none_stalled = Hub()
            for ws in fast[:n]:
                none_stalled.add(guarded[ws])

            async def timed(hub: Hub) -> float:
                started = time.perf_counter()
                await hub.broadcast(payload)
                took = time.perf_counter() - started
                await asyncio.sleep(0.01)
                return took * 1e3

            async def stalled_variant() -> float:
                return await timed(with_stalled)

            async def none_variant() -> float:
                return await timed(none_stalled)

            await stalled_variant()
            await none_variant()
            w, o = await _interleave(s.broadcast_rounds, [stalled_variant, none_variant])
            queued = sum(
                guarded[ws]._backlog is not None and len(guarded[ws]._backlog or ()) > 0
                for ws in stalled
            )
        finally:
            for conn in guarded.values():
                conn.abort()
    return [
        Figure(
            "13c",
            f"broadcast to {n:,}, 1% stalled: duration stalled/none",
            "1% stalled",
            "none",
            "ms",
            "stalled/none",
            w,
            o,
            _per_round(w, o),
            "<= 1.2",
            lambda r: r <= 1.2,
            f"{stalled_n} of {n:,} members stopped reading, their buffers full (>= "
            f"{_FULL // 1024} KiB unsent; {queued} with a backlog at the end): each broadcast "
            "queues to their backlog or drops, never waits; the other Hub has n members that "
            "all read",
        )
    ]


async def _hub_broadcast(s: Settings, notes: list[str]) -> list[Figure]:
    return await _hub_vs_websockets(s, notes) + await _stalled_members(s, notes)
