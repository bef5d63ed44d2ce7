"""Row 38 (issue 18, acceptance 1): several workers broadcast through a Redis that restarts.

Real parts only: a real ``redis-server`` on a free port (started, SIGKILLed and
restarted on the same port by the test), three worker processes (websockets
servers whose guarded connections are members of a :class:`wsstate.RedisHub`,
``wsstate_tools.bench.redis_fanout``), 300 real websockets clients spread over
them. The workers' backoff is scaled down (0.05 s, capped at 0.2 s).

1. Every worker broadcasts 10 messages: every client receives all 30, once each,
   in each publisher's order.
2. redis-server is killed: every link leaves CONNECTED; every worker broadcasts
   5 more: its own clients receive them at once (local delivery continues).
3. redis-server restarts: every link is CONNECTED again within its backoff cap
   (plus the attempt), and every worker broadcasts 10 more: every client
   receives them (no listener left dead), once, in order.
4. Every worker reported, through ``on_gap``, exactly 5 missed messages of each
   other worker; the clients' view agrees; zero ERROR records and no
   traceback in any worker.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter

import pytest
from support.transports import Transport

from wsstate.testing.redis_server import INSTALL_HINT, RedisServer
from wsstate_tools.bench.redis_fanout import Clients, Workers

WORKERS = 3
PER_WORKER = 100
BEFORE, DURING, AFTER = 10, 5, 10
BACKOFF_MAX = 0.2


@pytest.mark.transports("ws-server")
@pytest.mark.scenario(38)
def test_38_workers_broadcast_through_a_broker_that_restarts(transport: Transport) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail(INSTALL_HINT)
    asyncio.run(_scenario())


async def _scenario() -> None:
    redis = RedisServer()
    redis.start()
    workers = Workers(redis.url, count=WORKERS, backoff_max=BACKOFF_MAX)
    clients: Clients | None = None
    errs: list[str] = []
    try:
        await workers.start()
        await workers.until(
            lambda st: all(s["state"] == "CONNECTED" for s in st), 10, "every link subscribed"
        )
        clients = Clients(workers.ports, PER_WORKER)
        await clients.start()
        n = len(clients.conns)
        assert n == WORKERS * PER_WORKER
        await workers.until(
            lambda st: all(s["members"] == PER_WORKER for s in st), 20, "every member added"
        )

        # 1. Every worker's broadcasts reach every client.
        await _broadcast_all(workers, 0, BEFORE)
        await clients.until_total(n * WORKERS * BEFORE, 20)

        # 2. Redis goes away: local delivery continues.
        redis.kill()
        await workers.until(
            lambda st: all(s["state"] != "CONNECTED" for s in st), 10, "every link lost"
        )
        got_before = clients.total()
        await _broadcast_all(workers, BEFORE, DURING)
        await clients.until_total(got_before + n * DURING, 20)

        # 3. Redis is back: every link reconnects within its backoff, every listener lives.
        restarted = redis.start()
        stats = await workers.until(
            lambda st: all(s["state"] == "CONNECTED" for s in st), 10, "every link back"
        )
        for s in stats:
            back = [t for t in s["subscribed"] if t >= restarted - 0.05]
            assert back, s
            # The delay drawn is at most the cap; the attempt itself is a loopback round trip.
            assert back[0] - restarted <= BACKOFF_MAX + 1.0, (back[0] - restarted, s)
            assert s["stats"]["lost"] == DURING, s  # counted, never silent
        await _broadcast_all(workers, BEFORE + DURING, AFTER)
        expected = n * (WORKERS * (BEFORE + AFTER) + DURING)
        await clients.until_total(expected, 20)
        await asyncio.sleep(0.2)  # nothing more arrives: no duplicate in flight
        assert clients.total() == expected

        # Exactly once, per-publisher order, the outage's messages only from the own worker.
        names = workers.names
        for i, got in enumerate(clients.got):
            own = names[clients.worker_of[i]]
            by_publisher: dict[str, list[int]] = {name: [] for name in names}
            for publisher, index in got:
                by_publisher[publisher].append(index)
            for publisher, indexes in by_publisher.items():
                want = list(range(BEFORE + DURING + AFTER))
                if publisher != own:
                    want = [k for k in want if not BEFORE <= k < BEFORE + DURING]
                assert indexes == want, (i, own, publisher, indexes)

        # 4. The gap, on every subscriber, per publisher, with the right count.
        stats = await workers.stats()
        for me, s in zip(names, stats, strict=True):
            missed = Counter[str]()
            for publisher, count in s["gaps"]:
                missed[publisher] += count
            assert missed == {p: DURING for p in names if p != me}, (me, s["gaps"])
            assert s["stats"]["missed"] == DURING * (WORKERS - 1), s
            assert s["stats"]["duplicates"] >= 0
            assert s["errors"] == 0, s["error_lines"]
    finally:
        if clients is not None:
            await clients.close()
        errs = await workers.stop()
        redis.kill()
    for err in errs:
        assert "Traceback" not in err, err
        assert "ERROR" not in err, err


async def _broadcast_all(workers: Workers, start: int, n: int) -> None:
    started = time.monotonic()
    await asyncio.gather(
        *(workers.ask(i, op="broadcast", start=start, n=n) for i in range(workers.count))
    )
    assert time.monotonic() - started < 10
