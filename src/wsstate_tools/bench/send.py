"""Figure 1: send throughput over loopback, guarded vs bare, and the sender's CPU."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .common import LARGE, SMALL, Figure, Settings, _interleave, _per_round
from .peer import _Server


async def _send_throughput(s: Settings) -> list[Figure]:
    from wsstate.adapters.base import Data
    from wsstate.adapters.websockets import WebsocketsTransport
    from wsstate.guard import guard

    rates: list[Figure] = []
    costs: list[Figure] = []
    shares: list[Figure] = []
    async with _Server(3) as server:
        ws = server.conns[0]
        conn = guard(server.conns[1])
        # The guard's write path alone: the adapter, no table, no checks.
        unguarded = server.conns[2]
        adapter = WebsocketsTransport(unguarded)

        async def adapter_send(data: Data) -> None:
            pending = adapter.write(data)
            if pending is not None:
                await pending

        try:
            for key, size, count in (("1a", SMALL, s.send_small), ("1b", LARGE, s.send_large)):
                payload = b"x" * size
                cpu: dict[str, list[float]] = {"bare": [], "guarded": [], "adapter": []}

                async def measure(
                    name: str,
                    send: Callable[[Data], Awaitable[None]],
                    recv: Callable[[], Awaitable[Data]],
                    payload: bytes = payload,
                    count: int = count,
                    cpu: dict[str, list[float]] = cpu,
                ) -> float:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for _ in range(count):
                        await send(payload)
                    cpu[name].append((time.process_time() - cpu_started) / count * 1e6)
                    await send("END")
                    if await recv() != "ACK":
                        raise RuntimeError("the receiver did not acknowledge")
                    return count / (time.perf_counter() - started)

                async def bare() -> float:
                    return await measure("bare", ws.send, ws.recv)

                async def guarded() -> float:
                    return await measure("guarded", conn.send, conn.recv)

                async def adapter_only() -> float:
                    return await measure("adapter", adapter_send, unguarded.recv)

                await bare()  # warm-up, not counted
                await guarded()
                await adapter_only()
                for values in cpu.values():
                    values.clear()
                a, b, _ = await _interleave(s.send_rounds, [guarded, bare, adapter_only])
                label = "64 B" if size == SMALL else "16 KiB"
                rates.append(
                    Figure(
                        key,
                        f"send throughput, {label}: guarded/bare",
                        "conn.send",
                        "ws.send",
                        "msg/s",
                        "guarded/bare",
                        a,
                        b,
                        _per_round(a, b),
                        ">= 0.95",
                        lambda r: r >= 0.95,
                        f"server to client, {count:,} messages per round, {s.send_rounds} "
                        "rounds, until the client (another process) has read them all",
                    )
                )
                ca, cb, cc = cpu["guarded"], cpu["bare"], cpu["adapter"]
                costs.append(
                    Figure(
                        {"1a": "1c", "1b": "1d"}[key],
                        f"sender CPU per message, {label}: guarded/bare (cost)",
                        "conn.send",
                        "ws.send",
                        "µs",
                        "guarded/bare CPU",
                        ca,
                        cb,
                        _per_round(ca, cb),
                        note=f"the same rounds as {key}: CPU time of the sending process "
                        "(the receiver is another process), so other load on the machine "
                        "matters less",
                    )
                )
                shares.append(
                    Figure(
                        {"1a": "1e", "1b": "1f"}[key],
                        f"sender CPU per message, {label}: guarded/write path",
                        "conn.send",
                        "adapter.write",
                        "µs",
                        "guarded/adapter CPU",
                        ca,
                        cc,
                        _per_round(ca, cc),
                        note=f"the same rounds as {key}, a third variant: the websockets "
                        "adapter's write (the frame written through websockets' Sans-I/O "
                        "protocol, as its broadcast() does) without the guard: what the "
                        "table's decision and the guard's checks add to a send",
                    )
                )
        finally:
            conn.abort()
    return rates + costs + shares


# -- 2. the cost of one decision ------------------------------------------------------------
