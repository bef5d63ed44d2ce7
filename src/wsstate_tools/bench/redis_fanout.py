"""Broadcast across processes through Redis: the parts the tests and figure 12 share.

* :class:`RedisServer` (from :mod:`wsstate.testing.redis_server`): a real
  ``redis-server`` on a free loopback port;
* the worker program (``python -m wsstate_tools.bench.redis_fanout worker``):
  a websockets server whose connections are members of a
  :class:`wsstate.RedisHub` (``--mode wsstate``) or subscribers of the
  broadcaster library's Redis backend, one subscription per connection as its
  README shows (``--mode broadcaster``); a ``/control`` WebSocket takes JSON
  commands (``broadcast``, ``stats``) and answers them;
* :class:`Workers`: several worker processes and their control connections;
  :class:`Clients`: real websockets clients spread over the workers, each
  recording what it received (publisher, index) and when;
* figure 12 (:func:`_redis_fanout`): cross-process broadcast latency, p50 and
  p99 over every (message, connection), from one worker to N connections
  spread over three workers, wsstate.RedisHub vs broadcaster side by side.

A member's message is ``publisher|index|monotonic_ns`` (one host: the
monotonic clock is shared by the processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import Figure, Settings

__all__ = ["Clients", "Workers", "worker_main"]

# -- the worker program -------------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.lines.append(record.getMessage())


class _Subscribed(logging.Handler):
    """Wall-clock times of the link's subscribed transitions (read off its log records)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        transition = getattr(record, "wsstate_transition", None)
        if transition is not None and transition[2] == "subscribed":
            self.times.append(time.time())


async def _worker(args: argparse.Namespace) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    import wsstate

    errors = _Errors()
    logging.getLogger().addHandler(errors)
    subscribed = _Subscribed()
    link_logger = logging.getLogger("wsstate.redis")
    link_logger.setLevel(logging.INFO)
    link_logger.addHandler(subscribed)
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    loop.set_exception_handler(lambda _, ctx: loop_errors.append(str(ctx.get("message"))))
    gaps: list[tuple[str, int]] = []
    hub: wsstate.RedisHub | None = None
    bc: Any = None
    members: set[Any] = set()
    if args.mode == "wsstate":
        hub = wsstate.RedisHub(
            args.redis,
            args.channel,
            publisher=args.name,
            on_gap=lambda publisher, missed: gaps.append((publisher, missed)),
            backoff_initial=args.backoff_initial,
            backoff_max=args.backoff_max,
            timeout=2.0,
            ping_interval=1.0,
        )
        hub.start()
    else:
        from broadcaster import Broadcast

        bc = Broadcast(args.redis)
        await bc.connect()
        # One subscription held for the worker's life, then the listener woken again:
        # broadcaster 0.3.1's listener checks pubsub.subscribed before the SUBSCRIBE
        # was sent, finds it False, and waits for good (nothing is ever delivered).
        keeper = bc.subscribe(args.channel)
        await keeper.__aenter__()
        await asyncio.sleep(0.05)
        bc._backend._ready.set()

    async def control(ws: ServerConnection) -> None:
        async for raw in ws:
            cmd = json.loads(raw)
            op = cmd["op"]
            if op == "broadcast":
                for i in range(cmd["start"], cmd["start"] + cmd["n"]):
                    text = f"{args.name}|{i}|{time.monotonic_ns()}"
                    if hub is not None:
                        await hub.broadcast(text)
                    else:
                        await bc.publish(args.channel, text)
                    if cmd.get("interval"):
                        await asyncio.sleep(cmd["interval"])
                await ws.send(json.dumps({"done": cmd["n"]}))
            elif op == "stats":
                reply: dict[str, Any] = {
                    "members": len(hub) if hub is not None else len(members),
                    "errors": errors.count + len(loop_errors),
                    "error_lines": (errors.lines + loop_errors)[:5],
                    "gaps": gaps,
                    "subscribed": subscribed.times,
                }
                if hub is not None:
                    reply["state"] = hub.state.value
                    reply["stats"] = {
                        k: getattr(hub.stats, k) for k in hub.stats.__dataclass_fields__
                    }
                    reply["backoff_max"] = hub.backoff_max
                await ws.send(json.dumps(reply))

    async def member(ws: ServerConnection) -> None:
        if hub is not None:
            conn = wsstate.guard(ws)
            hub.add(conn)
            async for _ in conn:
                pass
            return
        members.add(ws)
        try:
            async with bc.subscribe(args.channel) as sub:
                reader = asyncio.ensure_future(ws.wait_closed())
                while True:
                    event = asyncio.ensure_future(sub.get())
                    done, _ = await asyncio.wait(
                        {event, reader}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if reader in done:
                        event.cancel()
                        return
                    await ws.send(event.result().message)
        finally:
            members.discard(ws)

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        await (control(ws) if path == "/control" else member(ws))

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await stop.wait()
        if hub is not None:
            await hub.close()
        else:
            with contextlib.suppress(Exception):
                await bc.disconnect()


def worker_main(argv: Sequence[str] | None = None) -> None:
    """``python -m wsstate_tools.bench.redis_fanout worker --redis URL --name NAME ...``."""
    p = argparse.ArgumentParser(prog="redis_fanout worker")
    p.add_argument("role", choices=["worker"])
    p.add_argument("--redis", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--channel", default="wsstate-test")
    p.add_argument("--mode", choices=["wsstate", "broadcaster"], default="wsstate")
    p.add_argument("--backoff-initial", type=float, default=0.05)
    p.add_argument("--backoff-max", type=float, default=0.2)
    asyncio.run(_worker(p.parse_args(argv)))


# -- the test's and the figure's side --------------------------------------------------


@dataclass
class Workers:
    """Worker processes and one control connection to each."""

    redis: str
    count: int = 3
    mode: str = "wsstate"
    channel: str = "wsstate-test"
    backoff_initial: float = 0.05
    backoff_max: float = 0.2
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    controls: list[Any] = field(default_factory=list)

    def spawn(self) -> None:
        """Start the worker processes (:meth:`start` does, then connects)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for i in range(self.count):
            name = f"w{i}"
            self.names.append(name)
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "wsstate_tools.bench.redis_fanout",
                        "worker",
                        "--redis",
                        self.redis,
                        "--name",
                        name,
                        "--channel",
                        self.channel,
                        "--mode",
                        self.mode,
                        "--backoff-initial",
                        str(self.backoff_initial),
                        "--backoff-max",
                        str(self.backoff_max),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )

    async def start(self) -> None:
        """Start the workers, wait for each to serve, open the control connections."""
        from websockets.asyncio.client import connect

        self.spawn()
        for proc in self.processes:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            if not line.startswith("READY "):
                raise RuntimeError(f"a worker did not start: {line!r}")
            self.ports.append(int(line.split()[1]))
        for port in self.ports:
            self.controls.append(
                await connect(f"ws://127.0.0.1:{port}/control", compression=None, max_size=None)
            )

    async def ask(self, i: int, **cmd: Any) -> dict[str, Any]:
        """Send a command to worker ``i``; its answer."""
        ws = self.controls[i]
        await ws.send(json.dumps(cmd))
        answer: dict[str, Any] = json.loads(await ws.recv())
        return answer

    async def stats(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.ask(i, op="stats") for i in range(self.count))))

    async def until(self, predicate: Any, within: float, what: str) -> list[dict[str, Any]]:
        """Poll every worker's stats until ``predicate(stats)``; fail after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            stats = await self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {stats}")
            await asyncio.sleep(0.02)

    async def stop(self) -> list[str]:
        """Stop every worker; their stderr."""
        for ws in self.controls:
            with contextlib.suppress(Exception):
                await ws.close()
        errs = []
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                _, err = await asyncio.to_thread(proc.communicate, timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            errs.append(err)
        return errs


@dataclass
class Clients:
    """Real websockets clients, ``per_worker`` connected to each worker."""

    ports: Sequence[int]
    per_worker: int
    conns: list[Any] = field(default_factory=list)
    worker_of: list[int] = field(default_factory=list)
    got: list[list[tuple[str, int]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        from websockets.asyncio.client import connect

        for w, port in enumerate(self.ports):
            for _ in range(self.per_worker):
                self.conns.append(await connect(f"ws://127.0.0.1:{port}/", compression=None))
                self.worker_of.append(w)
                self.got.append([])
        for i, ws in enumerate(self.conns):
            self.tasks.append(asyncio.get_running_loop().create_task(self._read(ws, i)))

    async def _read(self, ws: Any, i: int) -> None:
        got = self.got[i]
        with contextlib.suppress(Exception):
            async for message in ws:
                now = time.monotonic_ns()
                publisher, index, sent = str(message).split("|")
                got.append((publisher, int(index)))
                self.latencies.append((now - int(sent)) / 1e3)

    def total(self) -> int:
        return sum(len(g) for g in self.got)

    async def until_total(self, total: int, within: float) -> None:
        deadline = time.monotonic() + within
        while self.total() < total:
            if time.monotonic() > deadline:
                raise AssertionError(f"clients received {self.total()} of {total} messages")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.conns), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# -- figure 12 -------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _latency_round(
    mode: str, connections: int, messages: int, interval: float
) -> tuple[float, float]:
    from wsstate.testing.redis_server import RedisServer  # imports wsstate: not at load

    with RedisServer() as redis:
        workers = Workers(redis.url, mode=mode)
        await workers.start()
        clients = Clients(workers.ports, connections // workers.count)
        try:
            if mode == "wsstate":
                await workers.until(
                    lambda st: all(s["state"] == "CONNECTED" for s in st), 10, "subscribed"
                )
            await clients.start()
            await workers.until(
                lambda st: all(s["members"] == clients.per_worker for s in st), 30, "members"
            )
            await workers.ask(0, op="broadcast", start=0, n=2, interval=interval)  # warm-up
            await clients.until_total(2 * len(clients.conns), 30)
            clients.latencies.clear()
            await workers.ask(0, op="broadcast", start=2, n=messages, interval=interval)
            await clients.until_total((2 + messages) * len(clients.conns), 60)
            lat = list(clients.latencies)
        finally:
            await clients.close()
            await workers.stop()
    return _percentile(lat, 0.5), _percentile(lat, 0.99)


async def _redis_fanout(s: Settings, notes: list[str]) -> list[Figure]:
    """Figure 12: p50 and p99 latency, wsstate.RedisHub vs broadcaster, one round each."""
    if shutil.which("redis-server") is None:
        from wsstate.testing.redis_server import INSTALL_HINT

        notes.append(f"12: not measured: {INSTALL_HINT}")
        return []
    try:
        import broadcaster  # noqa: F401
        import redis  # noqa: F401  (both sides' workers need redis-py)
    except ImportError as exc:
        notes.append(
            f"12: {exc.name} is not installed (pip install 'wsstate[bench]'): not measured"
        )
        return []
    # The 3,000 connections; --quick: a tenth, one round.
    n, rounds, messages = (300, 1, 5) if s.verify_quick else (3_000, 3, 10)
    p50 = Figure(
        "12a",
        f"cross-process broadcast latency p50, {n:,} conns over 3 workers",
        "wsstate",
        "broadcaster",
        "ms",
        "wsstate/broadcaster",
    )
    p99 = Figure(
        "12b",
        f"cross-process broadcast latency p99, {n:,} conns over 3 workers",
        "wsstate",
        "broadcaster",
        "ms",
        "wsstate/broadcaster",
    )
    for r in range(rounds):
        order = ("wsstate", "broadcaster") if r % 2 == 0 else ("broadcaster", "wsstate")
        got: dict[str, tuple[float, float]] = {}
        for mode in order:
            got[mode] = await _latency_round(mode, n, messages, 0.1)
        (a50, a99), (b50, b99) = got["wsstate"], got["broadcaster"]
        p50.a.append(a50 / 1e3)
        p50.b.append(b50 / 1e3)
        p50.ratios.append(a50 / b50)
        p99.a.append(a99 / 1e3)
        p99.b.append(b99 / 1e3)
        p99.ratios.append(a99 / b99)
    note = (
        f"one worker broadcasts {messages} messages 100 ms apart; latency from "
        "the broadcast call to each client's receipt (every connection, every message), "
        "clients in this process; broadcaster: one subscription per connection (its README)"
    )
    p50.note = note
    return [p50, p99]


if __name__ == "__main__":
    worker_main()
