"""``wsstate soak``: N guarded connections churned by real clients with random faults.

A websockets server in this process guards every connection (short keepalive,
write and close timeouts, so that every fault ends on the table's own timers
within seconds) and adds it to a :class:`wsstate.Hub` that broadcasts all the
while (every 100 ms, paced so that broadcasts take at most a third of the
loop: ``BROADCAST_PAUSE``). Its clients run in another process (:mod:`wsstate_tools.bench.peer`'s
pattern): N slots, each holding one connection at a time; during the churn
phase each connection lives a random while and then ends by one of the faults,
some directly (clean close, reset), some through a
:class:`wsstate.testing.FaultProxy` (reset, FIN, half-open, slow reader), and
the slot connects again.

Phases: warm-up (open N, close them: the process's containers size to N once),
ramp (open N), churn (``--minutes``, broadcasts running), drain (every client
closes). At the start and end of each phase: open fds, tasks, RSS, Python heap
(tracemalloc), ERROR records, loop exception-handler calls, broadcasts made and
their p50/p99/max duration. The baseline is the ramp's start (after warm-up);
the exit status is 1 if any ERROR record was logged or the loop's exception
handler was called, or if fds, tasks or the heap at the drain's end are not
within 2% of the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import random
import resource
import socket
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from wsstate.hub import Hub

#: Fraction of the churned connections that go through the fault proxy.
PROXIED: Final = 0.3
#: The guard's timers on the server: every fault ends within seconds.
GUARD_OPTIONS: Final = {
    "ping_interval": 2.0,
    "ping_timeout": 2.0,
    "close_timeout": 2.0,
    "write_timeout": 2.0,
}
#: How often the server broadcasts, and what: every 100 ms, or, when a broadcast
#: takes longer than BROADCAST_SHARE of that, after BROADCAST_PAUSE times its
#: duration (the broadcasts take at most a third of the server's loop; the rest
#: is the churn's: handshakes, closes, the guard's timers).
BROADCAST_EVERY: Final = 0.1
BROADCAST_PAUSE: Final = 2.0
BROADCAST_SIZE: Final = 256
#: What the server answers a client's ``big``: enough to fill a slow reader's buffers.
BIG: Final = 256 * 1024
BIG_COUNT: Final = 16
#: The warm-up's churn, as a share of --minutes (at most 30 s).
WARM_UP_SHARE: Final = 0.2
#: How far fds, tasks and heap may end from the baseline.
TOLERANCE: Final = 0.02
_FD_HEADROOM: Final = 256


# -- the server's side: counters and snapshots ------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}"[:300])


@dataclass
class Snapshot:
    phase: str
    at: str
    fds: int
    tasks: int
    rss: int
    heap: int
    errors: int
    handler_calls: int
    broadcasts: int
    p50: float
    p99: float
    max: float
    connections: int
    elapsed: float


def _fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # listdir's own
    except OSError:
        return -1


def _rss() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Soak:
    def __init__(
        self, n: int, minutes: float, seed: int, inject_error: bool, inject_leak: bool = False
    ) -> None:
        self.n = n
        self.minutes = minutes
        self.seed = seed
        self.inject_error = inject_error
        self.inject_leak = inject_leak
        #: --inject-leak: every guarded connection kept for good (the heap must fail).
        self.leaked: list[Any] = []
        self.errors = _Errors()
        self.handler_calls: list[str] = []
        self.durations: list[float] = []
        self.snapshots: list[Snapshot] = []
        self.hub: Hub | None = None
        self.accepted = 0
        # One ping per connection every 2 s up to 1,000 connections, then at most
        # 500 pings a second in all (10,000 connections: every 20 s).
        keepalive = max(GUARD_OPTIONS["ping_interval"], n / 500)
        self.options = dict(GUARD_OPTIONS, ping_interval=keepalive, ping_timeout=keepalive)
        self.started = time.monotonic()
        self.faults: list[str] = []
        self.held = n
        self.heap_base: tracemalloc.Snapshot | None = None
        self.heap_last: tracemalloc.Snapshot | None = None

    # the guarded server

    async def _handler(self, ws: ServerConnection) -> None:
        from wsstate.guard import guard

        conn = guard(ws, **self.options)
        if self.inject_leak:
            self.leaked.append(conn)
        assert self.hub is not None
        self.hub.add(conn)
        self.accepted += 1
        if self.inject_error and self.accepted == 1:
            logging.getLogger("wsstate.soak").error(
                "a deliberately broken handler (--inject-error)"
            )
        async for message in conn:
            if message == "big":  # a slow reader's peer asks for more than it reads
                for _ in range(BIG_COUNT):
                    if not await conn.try_send(b"b" * BIG):
                        break
        await conn.wait_closed()

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.handler_calls.append(str(context.get("message")))
        loop.default_exception_handler(context)

    async def _broadcasts(self, stop: asyncio.Event) -> None:
        assert self.hub is not None
        payload = b"m" * BROADCAST_SIZE
        while not stop.is_set():
            started = time.perf_counter()
            await self.hub.broadcast(payload)
            took = time.perf_counter() - started
            self.durations.append(took * 1e3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(BROADCAST_EVERY, BROADCAST_PAUSE * took))

    async def _settle(self, connections: int) -> None:
        """Wait until the server holds ``connections`` guarded connections and no extra task."""
        assert self.hub is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(self.hub) == connections:
                break
            await asyncio.sleep(0.05)
        # the closed connections' last callbacks and tasks
        for _ in range(10):
            await asyncio.sleep(0.05)

    def snapshot(self, phase: str, at: str) -> Snapshot:
        gc.collect()
        assert self.hub is not None
        # The heap without the soak's own records (this module's lists of durations
        # and snapshots) or tracemalloc's: what the server, websockets and wsstate hold.
        traced = tracemalloc.take_snapshot().filter_traces(
            (
                tracemalloc.Filter(False, __file__),
                tracemalloc.Filter(False, tracemalloc.__file__),
            )
        )
        if phase == "ramp" and at == "start":
            self.heap_base = traced
        self.heap_last = traced
        d = self.durations
        snap = Snapshot(
            phase,
            at,
            _fds(),
            len(asyncio.all_tasks()),
            _rss(),
            sum(stat.size for stat in traced.statistics("filename")),
            len(self.errors.records),
            len(self.handler_calls),
            len(d),
            _percentile(d, 0.5),
            _percentile(d, 0.99),
            max(d) if d else float("nan"),
            len(self.hub),
            time.monotonic() - self.started,
        )
        self.snapshots.append(snap)
        return snap

    # the run

    async def run(self, progress: bool) -> tuple[str, bool]:
        from websockets.asyncio.server import serve

        from wsstate.hub import Hub

        from .bench.peer import _Peer

        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_exception)
        self.hub = Hub()

        def say(text: str) -> None:
            if progress:
                print(f"  ... {text}", file=sys.stderr, flush=True)

        server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=None,
            backlog=1024,
            max_size=BIG * 2,
        )
        peer: _Peer | None = None
        started = time.monotonic()
        try:
            port = server.sockets[0].getsockname()[1]
            peer = await _Peer.start(str(self.n), str(port), str(self.seed), entry=_PEER_ENTRY)
            await self._expect(peer, "listening")
            self.snapshot("warm-up", "start")
            # The same work, briefly: every container the process keeps (the
            # selector's map, the task set, the Hub's set) grows to its size once.
            warm = min(30.0, self.minutes * 60 * WARM_UP_SHARE)
            say(f"warm-up: opening {self.n:,} connections, {warm:.0f} s of churn, closing")
            peer.tell("open")
            await self._expect(peer, "ready")
            await self._settle(self.n)
            await self._churn(peer, warm, say)
            peer.tell("close")
            await self._expect(peer, "closed")
            await self._settle(0)
            # The closed connections' keepalive timers are still pending (cancelled
            # handles stay in the loop's heap until due): let them expire, or the
            # baseline holds them (a 2,000-connection run ended 2.65% below it).
            await asyncio.sleep(float(self.options["ping_interval"] or 0) + 0.5)
            self.snapshot("warm-up", "end")

            self.durations = []  # the figures from the baseline on
            self.snapshot("ramp", "start")
            say(f"ramp: opening {self.n:,} connections")
            peer.tell("open")
            await self._expect(peer, "ready")
            await self._settle(self.n)
            self.snapshot("ramp", "end")

            seconds = self.minutes * 60
            self.snapshot("churn", "start")
            await self._churn(peer, seconds, say)
            self.snapshot("churn", "end")

            self.snapshot("drain", "start")
            say("drain: every client closes")
            peer.tell("close")
            await self._expect(peer, "closed")
            await self._settle(0)
            await asyncio.sleep(float(self.options["ping_interval"] or 0) + 0.5)  # as at warm-up
            self.snapshot("drain", "end")  # the peer (and its pipes) still there, as at baseline
        finally:
            if peer is not None:
                await peer.stop()
            server.close()
            await server.wait_closed()
        return self.report(time.monotonic() - started)

    async def _churn(self, peer: Any, seconds: float, say: Callable[[str], None]) -> None:
        assert self.hub is not None
        stop = asyncio.Event()
        say(
            f"churn: {seconds:.0f} s of random faults, a broadcast every "
            f"{BROADCAST_EVERY * 1e3:.0f} ms"
        )
        broadcaster = asyncio.create_task(self._broadcasts(stop))
        peer.tell(f"churn {seconds}")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(min(5.0, max(0.0, end - time.monotonic())))
            d = self.durations
            say(
                f"{seconds - max(0.0, end - time.monotonic()):5.0f} s: {len(self.hub):,} open, "
                f"{self.accepted:,} accepted, {len(d):,} broadcasts (p99 "
                f"{_percentile(d, 0.99):.2f} ms, max {max(d) if d else 0:.2f} ms), "
                f"RSS {_rss() / 2**20:.0f} MB, {len(self.errors.records)} ERROR"
            )
        answer = await peer.line()
        if answer.split()[:1] != ["churned"]:
            raise RuntimeError(f"the soak's clients said {answer!r}, not 'churned ...'")
        # The slots whose connection was ending when the churn stopped did not
        # connect again: the server settles to the number still open.
        self.held = int(answer.split()[1])
        self.faults = answer.split()[2:]
        await self._settle(self.held)
        stop.set()
        await broadcaster

    async def _expect(self, peer: Any, word: str) -> None:
        line = await peer.line()
        if line != word:
            raise RuntimeError(f"the soak's clients said {line!r}, not {word!r}")

    def report(self, took: float) -> tuple[str, bool]:
        lines = [
            f"wsstate soak: {self.n:,} connections, {self.minutes:g} min of churn, seed "
            f"{self.seed} ({took:.0f} s in all; {self.accepted:,} connections accepted; guard "
            + ", ".join(f"{k}={v:g}" for k, v in self.options.items())
            + ")",
            "",
            f"{'phase':<8} {'at':<5} {'t s':>5} {'conns':>7} {'fds':>7} {'tasks':>7} {'RSS MB':>8} "
            f"{'heap MB':>9} {'ERROR':>6} {'handler':>8} {'bcasts':>7} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'max ms':>7}",
        ]
        for s in self.snapshots:
            lines.append(
                f"{s.phase:<8} {s.at:<5} {s.elapsed:>5.0f} {s.connections:>7,} {s.fds:>7,} "
                f"{s.tasks:>7,} "
                f"{s.rss / 2**20:>8.1f} {s.heap / 2**20:>9.3f} {s.errors:>6} "
                f"{s.handler_calls:>8} {s.broadcasts:>7,} {s.p50:>7.2f} {s.p99:>7.2f} "
                f"{s.max:>7.2f}"
            )
        base = next(s for s in self.snapshots if s.phase == "ramp" and s.at == "start")
        last = self.snapshots[-1]
        ok = True
        lines.append("")
        changes = (
            self.heap_last.compare_to(self.heap_base, "lineno")
            if self.heap_base and self.heap_last
            else []
        )
        # A container's table (a dict, a set) keeps the capacity it had at its
        # last resize, which depends on how many entries it held then: at the
        # baseline and at the end, with nothing in them, the same dicts and
        # sets can differ by hundreds of KiB at 10,000 connections, either way.
        # Such a change is one block resized (its line's block count is the
        # same); anything retained adds blocks. The heap is checked without
        # the resizing.
        resized = sum(c.size_diff for c in changes if c.count_diff == 0)
        for name, b, e in (
            ("fds", base.fds, last.fds),
            ("tasks", base.tasks, last.tasks),
            ("heap", base.heap, last.heap - resized),
        ):
            within = abs(e - b) <= TOLERANCE * b
            ok &= within
            if name == "heap":
                lines.append("heap: where it changed most (tracemalloc, end - baseline):")
                lines += [f"  {stat}" for stat in changes[:8]]
                lines.append(
                    f"heap: end {last.heap:,}, of which {resized:+,} B are containers "
                    "resized (lines whose block count is unchanged)"
                )
            change = (e - b) / b * 100 if b else 0.0
            lines.append(
                f"{name}: baseline {b:,}, end {e:,} ({change:+.2f}%): "
                f"{'ok' if within else 'NOT within 2%'}"
            )
        for name, count, examples in (
            ("ERROR records", last.errors, self.errors.records),
            ("loop exception-handler calls", last.handler_calls, self.handler_calls),
        ):
            ok &= count == 0
            lines.append(f"{name}: {count}{'' if count == 0 else ': FAIL'}")
            lines += [f"  {text}" for text in examples[:5]]
        churn = next((s for s in self.snapshots if s.phase == "churn" and s.at == "end"), last)
        churn_start = next(
            (s for s in self.snapshots if s.phase == "churn" and s.at == "start"), base
        )
        period = (churn.elapsed - churn_start.elapsed) / max(1, churn.broadcasts)
        lines.append(
            f"broadcasts: {last.broadcasts:,}, p50 {last.p50:.2f} ms, p99 {last.p99:.2f} ms, "
            f"max {last.max:.2f} ms (one every {period * 1e3:.0f} ms in the churn)"
        )
        lines.append(f"faults made by the clients in the churn: {' '.join(self.faults) or 'none'}")
        lines.append(f"soak: {'PASS' if ok else 'FAIL'}")
        return "\n".join(lines), ok


# -- the peer's side: N slots of real clients --------------------------------------------------


async def _peer(n: int, port: int, seed: int) -> None:
    """The clients: ``open``, ``churn SECONDS``, ``close`` from stdin, one answer line each."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    from wsstate.testing import FaultProxy

    from .bench.common import raise_fd_limit
    from .bench.peer import _stdin_line

    raise_fd_limit(n + int(2 * PROXIED * n) + _FD_HEADROOM)
    rng = random.Random(seed)
    proxy = await FaultProxy("127.0.0.1", port, tap_max_frame=0).start()
    gate = asyncio.Semaphore(64)
    churning = asyncio.Event()
    stopping = asyncio.Event()
    # a connection lives about n / 100 seconds: some 100 churned per second
    mean_life = max(1.0, n / 100)

    async def drain(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def open_one(proxied: bool, churned: bool = False) -> ClientConnection | None:
        # A slot reconnecting in the churn gives up once it stops (None): the
        # server then settles to the connections still open, without waiting
        # for a queue of handshakes that the churn's end left behind.
        target = proxy.port if proxied else port
        async with gate:
            for attempt in range(20):
                if churned and stopping.is_set():
                    return None
                try:
                    return await connect(
                        f"ws://127.0.0.1:{target}/",
                        compression=None,
                        ping_interval=None,
                        close_timeout=2,
                        open_timeout=30,
                        max_size=None,
                    )
                except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):
                    # A server short of CPU lets a handshake time out (its
                    # open_timeout) and closes it: counted, tried again.
                    faults["handshake-retry"] = faults.get("handshake-retry", 0) + 1
                    if attempt == 19 and not churned:
                        raise
                    await asyncio.sleep(0.1)
        faults["gave-up"] = faults.get("gave-up", 0) + 1  # this slot ends: reported
        return None

    async def end(ws: ClientConnection, proxied: bool) -> None:
        fault = rng.choice(
            ("close", "reset", "fin", "half-open", "slow") if proxied else ("close", "reset")
        )
        faults[fault] = faults.get(fault, 0) + 1
        pair = None
        if proxied:
            with contextlib.suppress(Exception):
                local = ws.local_address[1]
                pair = next(
                    (c for c in proxy.connections if not c.closed and _client_port(c) == local),
                    None,
                )
        if fault == "close" or (proxied and pair is None):
            await ws.close()
        elif fault == "reset":
            if pair is not None:
                await pair.reset()
            else:
                sock = ws.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
        elif fault == "fin" and pair is not None:
            await pair.fin()
        elif fault == "half-open" and pair is not None:
            pair.blackhole()  # the server's keepalive finds it (ping_timeout)
        elif fault == "slow" and pair is not None:
            pair.slow_reader()  # then ask for more than the buffers hold: write_timeout
            with contextlib.suppress(ConnectionClosed):
                await ws.send("big")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 8)
        ws.transport.abort()

    async def slot(first: asyncio.Future[None]) -> None:
        proxied = False
        opened = await open_one(proxied)
        assert opened is not None
        ws = opened
        reader = asyncio.create_task(drain(ws))
        first.set_result(None)
        await churning.wait()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), rng.uniform(0, 2 * mean_life))
            if stopping.is_set():
                break
            await end(ws, proxied)
            reader.cancel()
            if stopping.is_set():
                return  # the churn is over: no new connection for this slot
            proxied = rng.random() < PROXIED
            opened = await open_one(proxied, churned=True)
            if opened is None:
                return  # the churn stopped while this slot waited to reconnect
            ws = opened
            reader = asyncio.create_task(drain(ws))
        holder.append((ws, reader))

    holder: list[tuple[ClientConnection, asyncio.Task[None]]] = []
    faults: dict[str, int] = {}
    print("listening", flush=True)
    while command := (await _stdin_line()).split():
        if command[0] == "open":
            churning.clear()
            stopping.clear()
            loop = asyncio.get_running_loop()
            firsts: list[asyncio.Future[None]] = [loop.create_future() for _ in range(n)]
            slots = [asyncio.create_task(slot(f)) for f in firsts]
            await asyncio.gather(*firsts)
            print("ready", flush=True)
        elif command[0] == "churn":
            churning.set()
            await asyncio.sleep(float(command[1]))
            stopping.set()
            await asyncio.gather(*slots)
            proxy.accepted.clear()
            counts = " ".join(f"{k}={v}" for k, v in sorted(faults.items()))
            faults.clear()
            print(f"churned {len(holder)} {counts}".rstrip(), flush=True)
        elif command[0] == "close":
            if not stopping.is_set():
                stopping.set()
                churning.set()
                await asyncio.gather(*slots)
            closes = [ws.close() for ws, _ in holder]
            await asyncio.gather(*closes, return_exceptions=True)
            for _, reader in holder:
                reader.cancel()
            holder.clear()
            proxy.accepted.clear()
            print("closed", flush=True)
    await proxy.close()


def _client_port(pair: Any) -> int | None:
    transport = pair.transport("client")
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    return int(peer[1]) if peer else None


#: The peer process's entry (``_Peer.start``): ``N PORT SEED`` in its argv.
_PEER_ENTRY: Final = "from wsstate_tools.soak import _peer_main; _peer_main()"


def _peer_main() -> None:
    args = sys.argv[1:]
    asyncio.run(_peer(int(args[0]), int(args[1]), int(args[2])))


# -- the command ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--connections", type=int, default=10_000, help="connections held (default: 10,000)"
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of churn (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="the clients' random seed")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    # A deliberately broken handler (it logs an ERROR): the soak must fail.
    parser.add_argument("--inject-error", action="store_true", help=argparse.SUPPRESS)
    # A deliberately leaking handler (it keeps every connection): the soak must fail.
    parser.add_argument("--inject-leak", action="store_true", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    """Run the soak; print its report; exit 1 if it found a leak or an error."""
    from .bench.common import raise_fd_limit

    n = max(1, args.connections)
    limit = raise_fd_limit(n + _FD_HEADROOM)
    if limit < n + _FD_HEADROOM // 4:
        print(
            f"wsstate soak: {n:,} connections need about {n + _FD_HEADROOM:,} open files; "
            f"the limit is {limit:,} (ulimit -Hn)",
            file=sys.stderr,
        )
        return 2
    tracemalloc.start()
    soak = _Soak(n, args.minutes, args.seed, args.inject_error, args.inject_leak)
    root = logging.getLogger()
    root.addHandler(soak.errors)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    try:
        report, ok = asyncio.run(soak.run(not args.quiet))
    finally:
        root.removeHandler(soak.errors)
        tracemalloc.stop()
    print(report)
    return 0 if ok else 1
