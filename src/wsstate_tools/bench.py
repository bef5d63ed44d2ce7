"""``wsstate bench``: what the guard costs, measured side by side.

Every figure is a ratio of two variants measured in the same run: several
rounds, the variants interleaved within each round (their order alternating
from one round to the next, so drift in the machine's speed hits both alike).
The table shows the median of each variant, the median of the per-round
ratios and their spread (min-max over the rounds). Nothing is a bare time.

The figures (DESIGN.md, section 6):

1. send throughput over loopback, ``GuardedConnection.send`` vs websockets'
   ``send``, server to client (a framework's push), 64 B and 16 KiB binary
   messages: a fixed count, then a text ``END`` that the client answers once
   it has read everything before it; the client is another process, so its
   work does not share the sender's CPU. With it, the sending process's CPU
   time per message (1c, 1d), which other load on the machine disturbs less,
   and against the guard's own write path without the table (1e, 1f: the
   websockets adapter writes frames through websockets' Sans-I/O protocol,
   as websockets' ``broadcast()`` does, which is cheaper than ``send()``; these
   rows show what the table's decisions cost on top of it);
2. the cost of one decision: ``Machine.feed`` (and a bare ``TABLE`` lookup) vs
   the python-statemachine model's event dispatch (``ConnectionChart``);
3. one broadcast to N real connections (2,000 by default) of which half are
   dead (a quarter closed by the peer, a quarter reset): ``Hub.broadcast`` vs a
   naive ``for ws in conns: try: await ws.send(m) except Exception: pass``
   over the bare websockets connections (all N; and, as a second row, over the
   live ones only, which is the guard's per-connection cost);
4. memory the guard adds per connection (tracemalloc), against the bare
   websockets connection's own;
5. connection churn (connect, one message, close) per second,
   :func:`wsstate.connect` vs websockets' ``connect``, and the client's CPU
   time per connection;
6. stateful fuzz steps per second against the real peer (a timed tour of the
   table's pairs without timers, :mod:`wsstate.testing.stateful`, guarded
   server vs guarded client) and verifier states per second
   (:func:`wsstate.verify.check`).

All connections use ``compression=None``: compression would add the same cost
to both variants and hide the guard's. ``--quick`` runs everything scaled down
(a smoke run of a few seconds; its figures are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import socket
import statistics
import struct
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection

__all__ = ["Figure", "Settings", "add_arguments", "main", "run"]

#: Payload sizes of figure 1.
SMALL: Final = 64
LARGE: Final = 16 * 1024
#: Connections of figure 3 (the fd limit may scale it down; the output says so).
BROADCAST_CONNECTIONS: Final = 2000
_FD_HEADROOM: Final = 256
_PEER_ENTRY: Final = "from wsstate.bench import _peer_main; _peer_main()"
#: Where this wsstate is imported from, for the peer process.
_SRC: Final = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Settings:
    """How much of each figure to run."""

    send_rounds: int = 31
    send_small: int = 2_000
    send_large: int = 500
    decision_rounds: int = 11
    decision_feed: int = 200_000
    decision_chart: int = 2_000
    broadcast_connections: int = BROADCAST_CONNECTIONS
    broadcast_rounds: int = 21
    memory_connections: int = 400
    memory_rounds: int = 3
    churn: int = 160
    churn_rounds: int = 61
    churn_workers: int = 8
    fuzz_seconds: float = 2.0
    fuzz_rounds: int = 3
    verify_rounds: int = 3
    verify_quick: bool = False

    @classmethod
    def quick(cls) -> Settings:
        """A smoke run: every figure, scaled down to a few seconds in all."""
        return cls(
            send_rounds=4,
            send_small=1_000,
            send_large=200,
            decision_rounds=3,
            decision_feed=20_000,
            decision_chart=200,
            broadcast_connections=100,
            broadcast_rounds=3,
            memory_connections=40,
            memory_rounds=2,
            churn=24,
            churn_rounds=3,
            churn_workers=4,
            fuzz_seconds=0.25,
            fuzz_rounds=2,
            verify_rounds=2,
            verify_quick=True,
        )


@dataclass
class Figure:
    """One row of the table: two variants measured round by round, and their ratio."""

    key: str
    what: str
    a_name: str
    b_name: str
    unit: str
    ratio_name: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    target: str = ""
    meets: Callable[[float], bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios."""
        return statistics.median(self.ratios) if self.ratios else float("nan")

    @property
    def verdict(self) -> str:
        """``ok``, ``BELOW`` or empty (no target)."""
        if self.meets is None or not self.ratios:
            return ""
        return "ok" if self.meets(self.ratio) else "BELOW"


# -- helpers ----------------------------------------------------------------------------


def _per_round(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """The ratio a/b of each round (both measured in it)."""
    return [x / y for x, y in zip(a, b, strict=True)]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit in ("us", "µs"):
        return f"{value:.3g} µs" if value < 100 else f"{value:,.0f} µs"
    if unit == "ms":
        return f"{value:.3g} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def _ratio_text(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:,.0f}"


def machine_info() -> list[tuple[str, str]]:
    """Where the figures come from: CPU, cores, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return [
        ("cpu", cpu),
        ("cores", str(os.cpu_count())),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("websockets", version("websockets")),
        ("python-statemachine", version("python-statemachine")),
        ("wsstate", version("wsstate")),
    ]


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit of open files towards ``wanted`` (at most the hard limit).

    Returns the soft limit in force afterwards.
    """
    try:
        import resource
    except ImportError:  # not on this platform: assume the usual default
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return wanted if soft == resource.RLIM_INFINITY else soft


async def _interleave(
    rounds: int, variants: Sequence[Callable[[], Awaitable[float]]]
) -> list[list[float]]:
    """Run each variant once per round, rotating their order; the values per variant."""
    values: list[list[float]] = [[] for _ in variants]
    n = len(variants)
    for r in range(rounds):
        for k in range(n):
            i = (r + k) % n
            gc.collect()
            values[i].append(await variants[i]())
    return values


# -- the peer process -------------------------------------------------------------------


class _Peer:
    """A helper process: a sink server (figure 5) or a crowd of clients (figures 1, 3, 4)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str) -> _Peer:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PEER_ENTRY,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def line(self) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if not raw:
            raise RuntimeError("the bench's peer process exited unexpectedly")
        return raw.decode().strip()

    def tell(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _peer_main() -> None:
    """Entry point of the peer process: ``sink`` or ``clients N PORT``."""
    args = sys.argv[1:]
    if args[0] == "sink":
        asyncio.run(_sink())
    else:
        asyncio.run(_clients(int(args[1]), int(args[2])))


async def _stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def _sink() -> None:
    """Serve on loopback: read every message; answer a text ``END`` with ``ACK``."""
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    raise_fd_limit(4096)

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str) and message == "END":
                    await ws.send("ACK")

    async with serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None, backlog=1024
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        while await _stdin_line():  # until EOF
            pass


async def _clients(n: int, port: int) -> None:
    """Open ``n`` clients that read everything (and answer a text ``END`` with ``ACK``).

    On ``kill K``, end K of them: every other victim sends a Close (closed by
    the peer), the others reset the TCP connection (SO_LINGER 0, abort).
    """
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    raise_fd_limit(n + _FD_HEADROOM)
    gate = asyncio.Semaphore(64)

    async def open_one() -> ClientConnection:
        async with gate:
            return await connect(
                f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None, close_timeout=2
            )

    async def drain(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str) and message == "END":
                    await ws.send("ACK")

    conns = await asyncio.gather(*(open_one() for _ in range(n)))
    readers = [asyncio.create_task(drain(ws)) for ws in conns]
    print("ready", flush=True)
    command = (await _stdin_line()).split()
    if command and command[0] == "kill":
        victims = conns[: int(command[1])]
        closes = []
        for i, ws in enumerate(victims):
            if i % 2:
                sock = ws.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
            else:
                closes.append(ws.close())
        await asyncio.gather(*closes)
        print("killed", flush=True)
        await _stdin_line()  # until EOF
    for task in readers:
        task.cancel()
    for ws in conns:
        ws.transport.abort()


# -- a server in this process, its clients in the peer ---------------------------------------


class _Server:
    """A websockets server in this process, its connections opened by a peer process's clients."""

    def __init__(self, n: int, on_connect: Callable[[ServerConnection], None] | None = None):
        self.n = n
        self.conns: list[ServerConnection] = []
        self.on_connect = on_connect
        self.all_in = asyncio.Event()
        self.server: Server | None = None
        self.peer: _Peer | None = None

    async def _handler(self, ws: ServerConnection) -> None:
        self.conns.append(ws)
        if self.on_connect is not None:
            self.on_connect(ws)
        if len(self.conns) == self.n:
            self.all_in.set()
        await ws.wait_closed()

    async def __aenter__(self) -> _Server:
        from websockets.asyncio.server import serve

        # As wsstate recommends: no websockets keepalive (the guard has its own).
        self.server = await serve(
            self._handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=1024
        )
        try:
            port = self.server.sockets[0].getsockname()[1]
            self.peer = await _Peer.start("clients", str(self.n), str(port))
            if await self.peer.line() != "ready":
                raise RuntimeError("the bench's clients did not connect")
            await asyncio.wait_for(self.all_in.wait(), 60)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.peer is not None:
            await self.peer.stop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


# -- 1. send throughput -------------------------------------------------------------------


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


async def _decision_cost(s: Settings) -> list[Figure]:
    from wsstate.core import Machine
    from wsstate.machines.connection import TABLE, Event, State
    from wsstate.testing.charts.connection import ConnectionChart

    send = Event.APP_SEND

    async def feed() -> float:
        m = Machine("bench")
        m.feed(Event.HANDSHAKE_OK)
        step = m.feed
        n = s.decision_feed
        started = time.perf_counter()
        for _ in range(n):
            step(send)
        return (time.perf_counter() - started) / n * 1e6

    async def lookup() -> float:
        table, state = TABLE, State.OPEN
        n = s.decision_feed
        started = time.perf_counter()
        for _ in range(n):
            table[(state, send)]  # the lookup is what is measured
        return (time.perf_counter() - started) / n * 1e6

    async def chart() -> float:
        c = ConnectionChart()
        c.handshake_ok()
        step = c.app_send
        n = s.decision_chart
        started = time.perf_counter()
        for _ in range(n):
            step()
        return (time.perf_counter() - started) / n * 1e6

    f, t, c = await _interleave(s.decision_rounds, [feed, lookup, chart])
    note = "app_send in OPEN, per event; the timing loop's own overhead is included"
    return [
        Figure(
            "2a",
            "one decision: Machine.feed vs ConnectionChart (x faster)",
            "Machine.feed",
            "chart event",
            "µs",
            "chart/feed",
            f,
            c,
            _per_round(c, f),
            note=note,
        ),
        Figure(
            "2b",
            "one decision: TABLE lookup vs ConnectionChart (x faster)",
            "TABLE[...]",
            "chart event",
            "µs",
            "chart/lookup",
            t,
            c,
            _per_round(c, t),
            note=note,
        ),
    ]


# -- 3. broadcast to many connections, half of them dead --------------------------------------


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
            assert server.peer is not None
            server.peer.tell(f"kill {dead}")
            if await server.peer.line() != "killed":
                raise RuntimeError("the bench's clients did not die")
            deadline = time.monotonic() + 30
            while len(hub) > n - dead or sum(ws.state is WSState.CLOSED for ws in bare) < dead:
                if time.monotonic() > deadline:
                    raise RuntimeError("the killed connections were not seen closing in 30 s")
                await asyncio.sleep(0.01)
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
            note=f"tracemalloc (Python heap, not kernel buffers), server side, {n} connections "
            "per round; the bare figure includes websockets' handler task",
        )
    ]


# -- 5. connection churn ------------------------------------------------------------------------


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


async def _fuzz_and_verify(root: Path | None, s: Settings, notes: list[str]) -> list[Figure]:
    from wsstate.machines.connection import Event
    from wsstate.testing import stateful

    timers = {Event.KEEPALIVE_TIMEOUT, Event.CLOSE_TIMEOUT, Event.TRANSPORT_STALLED}
    pairs = [p for p in stateful.tour() if p[1] not in timers]
    position = {"server": 0, "client": 0}
    failures: list[str] = []

    async def timed_tour(role: stateful.Role) -> float:
        before = stateful.STATS["steps"]
        started = time.perf_counter()
        deadline = started + s.fuzz_seconds
        while True:
            state, event, path = pairs[position[role] % len(pairs)]
            position[role] += 1
            try:
                await stateful.run_tour_pair(role, state, event, path)
            except Exception as exc:  # a finding, reported; the steps still count
                failures.append(f"{role} {state}/{event}: {exc!r}")
            if time.perf_counter() >= deadline:
                break
        return (stateful.STATS["steps"] - before) / (time.perf_counter() - started)

    async def server() -> float:
        return await timed_tour("server")

    async def client() -> float:
        return await timed_tour("client")

    # The tour must not count towards the coverage of the generated tests when
    # the bench runs inside a test session: what it saw is forgotten afterwards.
    seen = {role: set(taken) for role, taken in stateful.coverage().items()}
    counts = dict(stateful.STATS)
    try:
        srv, cli = await _interleave(s.fuzz_rounds, [server, client])
    finally:
        for role, taken in stateful.coverage().items():
            taken.intersection_update(seen[role])
        stateful.STATS.update(counts)
    if failures:
        notes.append(f"figure 6a: {len(failures)} tour pair(s) failed, e.g. {failures[0]}")
    figures = [
        Figure(
            "6a",
            "stateful fuzz steps/s, real peer: guarded server/guarded client",
            "server role",
            "client role",
            "steps/s",
            "server/client",
            srv,
            cli,
            _per_round(srv, cli),
            note=f"timed tour of the {len(pairs)} drivable pairs without timers, "
            "each in a fresh harness (start and teardown checks included)",
        )
    ]

    from . import verify
    from .paths import spec_path
    from .spec import load

    try:
        spec = load(spec_path("connection", root))
    except FileNotFoundError as exc:
        notes.append(f"figure 6b skipped: {exc}")
        figures.append(Figure("6b", "verifier states/s", "verify", "", "states/s", "-"))
        return figures
    bounds = verify.Bounds(sends=0) if s.verify_quick else verify.Bounds()
    rates: list[float] = []
    for _ in range(s.verify_rounds):
        gc.collect()
        result = verify.check(spec, bounds)
        rates.append(result.states / result.seconds)
    figures.append(
        Figure(
            "6b",
            "verifier states/s (wsstate verify, both searches)",
            "verify",
            "",
            "states/s",
            "-",
            rates,
            note=f"{result.states:,} states, {result.transitions:,} transitions "
            f"(+ {result.clean_states:,} states of the clean sub-model); bounds: {bounds}",
        )
    )
    return figures


# -- the table ------------------------------------------------------------------------------------


def render(figures: Sequence[Figure], notes: Sequence[str], info: Sequence[tuple[str, str]]) -> str:
    """The table of figures, with the machine it ran on and the notes."""
    lines = ["wsstate bench: what the guard costs, measured side by side", ""]
    width = max(len(k) for k, _ in info)
    lines += [f"  {k:<{width}}  {v}" for k, v in info]
    lines.append("")
    header = (
        f"{'#':<3} {'figure':<64} {'A: median':>22} {'B: median':>22} "
        f"{'ratio':>8} {'min-max':>15} {'target':>8} {'':5}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for f in figures:
        ma = f"{f.a_name} {_fmt(_median(f.a), f.unit)}" if f.a else "-"
        mb = f"{f.b_name} {_fmt(_median(f.b), f.unit)}" if f.b else "-"
        if f.ratios:
            spread = f"{_ratio_text(min(f.ratios))}-{_ratio_text(max(f.ratios))}"
            ratio = _ratio_text(f.ratio)
        else:
            spread = ratio = "-"
        lines.append(
            f"{f.key:<3} {f.what:<64} {ma:>22} {mb:>22} {ratio:>8} {spread:>15} "
            f"{f.target:>8} {f.verdict:5}".rstrip()
        )
    lines.append("")
    lines.append(
        "ratio: median of the per-round ratios ("
        + "; ".join(f"{f.key} {f.ratio_name}" for f in figures if f.ratios)
        + "); min-max over the rounds"
    )
    for f in figures:
        if f.note:
            lines.append(f"  {f.key}: {f.note}")
    for note in notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


async def _churn_against_sink(s: Settings) -> list[Figure]:
    sink = await _Peer.start("sink")
    try:
        return await _churn(f"ws://127.0.0.1:{await sink.line()}/", s)
    finally:
        await sink.stop()


async def run(s: Settings, root: Path | None = None, progress: bool = True) -> tuple[str, bool]:
    """Measure every figure; return the rendered table, and whether every figure was measured.

    A figure that fails (its peer process could not start, say) is reported in
    the notes and the others still run.
    """
    figures: list[Figure] = []
    notes: list[str] = []
    complete = True
    steps: list[tuple[str, Callable[[], Awaitable[list[Figure]]]]] = [
        ("1. send throughput", lambda: _send_throughput(s)),
        ("2. decision cost", lambda: _decision_cost(s)),
        (f"3. broadcast to {s.broadcast_connections:,} connections", lambda: _broadcast(s, notes)),
        ("4. memory per connection", lambda: _memory(s)),
        ("5. churn", lambda: _churn_against_sink(s)),
        ("6. fuzz steps and verifier states", lambda: _fuzz_and_verify(root, s, notes)),
    ]
    for title, measure in steps:
        if progress:
            print(f"  ... {title}", file=sys.stderr, flush=True)
        try:
            figures += await measure()
        except Exception as exc:
            complete = False
            notes.append(f"FAILED {title}: {type(exc).__name__}: {exc}")
    return render(figures, notes, machine_info()), complete


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds (noisy figures)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of figures 1, 2, 3 and 5 (default: 31, 11, 21 and 61; --quick: 3 or 4)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        help=f"connections of the broadcast figure (default: {BROADCAST_CONNECTIONS})",
    )


def main(args: argparse.Namespace) -> int:
    """Run the benchmarks and print the table; exit 1 if a figure could not be measured.

    Figures short of their targets are marked BELOW in the table; they do not
    change the exit status (a benchmark is a measurement, not a test).
    """
    s = Settings.quick() if args.quick else Settings()
    changes: dict[str, Any] = {}
    if args.rounds:
        for name in ("send_rounds", "decision_rounds", "broadcast_rounds", "churn_rounds"):
            changes[name] = max(1, args.rounds)
    if args.connections:
        changes["broadcast_connections"] = max(2, args.connections)
    if changes:
        from dataclasses import replace

        s = replace(s, **changes)
    root = Path(args.root) if getattr(args, "root", None) else None
    table, complete = asyncio.run(run(s, root))
    print(table)
    return 0 if complete else 1
