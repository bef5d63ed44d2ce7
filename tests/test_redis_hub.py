"""wsstate.RedisHub (issue 18): the runtime performs the link table, against a real redis-server.

The multi-process acceptance run (three workers, 300 clients, Redis killed and
restarted) is scenario row 38, tests/scenarios/test_broker.py. Here: every
declared effect is handled; ``import wsstate`` loads no redis; the message
format and the per-publisher classification; two hubs in this process through
a real redis-server (started on a free port by the test; the test fails, not
skips, when redis-server is not installed): delivery, own echoes discarded,
Redis killed (broadcasts counted as lost, the link in BACKOFF, close() at once
from there) and restarted (the gap reported with its count, delivery again).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time

import pytest

import wsstate
from wsstate.machines.link import TABLE, Effect, Event, State
from wsstate.redis_hub import EFFECT_HANDLERS, OPERATION_OUTCOMES, classify, decode, encode
from wsstate_tools.bench.redis_fanout import RedisServer


def test_every_declared_effect_is_handled() -> None:
    assert [e.value for e in Effect if e not in EFFECT_HANDLERS] == []


def test_every_operation_row_has_one_outcome() -> None:
    for event, outcomes in OPERATION_OUTCOMES.items():
        for state in State:
            row = TABLE[(state, event)]
            assert row.next is not None
            assert sum(e in row.effects for e in outcomes) == 1, (state, event)


def test_import_wsstate_does_not_import_redis() -> None:
    code = (
        "import sys, wsstate; print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
    assert wsstate.RedisHub.__module__ == "wsstate.redis_hub"


def test_the_message_format_round_trips() -> None:
    for data in ("héllo", b"\x00\xff", bytearray(b"ab"), ""):
        frame = encode("host:1:ab", 2**62, 7, data)
        assert decode(frame) == (
            "host:1:ab",
            2**62,
            7,
            bytes(data) if not isinstance(data, str) else data,
        )
    assert decode(b"not ours") is None
    assert decode(b"wsl1" + b"\x09" * 30) is None


def test_classification_per_publisher() -> None:
    assert classify(None, 5, 9) == (Event.PEER_MESSAGE, 0)  # first heard: the baseline
    assert classify((5, 3), 5, 4) == (Event.PEER_MESSAGE, 0)
    assert classify((5, 3), 5, 7) == (Event.PEER_MESSAGE_GAP, 3)
    assert classify((5, 3), 5, 3) == (Event.PEER_MESSAGE_STALE, 0)
    assert classify((5, 3), 5, 1) == (Event.PEER_MESSAGE_STALE, 0)
    assert classify((5, 3), 6, 1) == (Event.PEER_MESSAGE, 0)  # restarted: a new epoch
    assert classify((5, 3), 6, 4) == (Event.PEER_MESSAGE_GAP, 3)


def test_options_are_checked_at_the_call() -> None:
    with pytest.raises(ValueError, match="backoff_max"):
        wsstate.RedisHub("redis://x", "c", backoff_max=-1)
    with pytest.raises(ValueError, match="channel"):
        wsstate.RedisHub("redis://x", "")
    with pytest.raises(TypeError, match="on_gap"):
        wsstate.RedisHub("redis://x", "c", on_gap=3)  # type: ignore[arg-type]


async def _until(predicate: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_two_hubs_through_a_redis_that_restarts(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsstate")

    async def main() -> None:
        gaps: list[tuple[str, int]] = []
        options = {"backoff_initial": 0.02, "backoff_max": 0.1, "timeout": 1.0}
        a = wsstate.RedisHub(redis.url, "t", publisher="a", **options)  # type: ignore[arg-type]
        b = wsstate.RedisHub(
            redis.url,
            "t",
            publisher="b",
            on_gap=lambda p, n: gaps.append((p, n)),
            **options,
        )
        async with a, b:
            assert not a.start()  # already started
            assert await a.wait_connected()
            assert await b.wait_connected()
            for i in range(3):
                await a.broadcast(f"m{i}")
            await _until(lambda: b.stats.received == 3 and a.stats.duplicates == 3)
            assert a.stats.published == 3
            assert a.stats.received == 0

            redis.kill()
            await _until(lambda: a.state is not State.CONNECTED and b.state is not State.CONNECTED)
            assert a.state in (State.BACKOFF, State.CONNECTING)
            for i in range(3, 5):
                assert await a.broadcast(f"m{i}") == wsstate.BroadcastResult(0, 0)
            assert a.stats.lost == 2

            redis.start()
            await asyncio.wait_for(asyncio.gather(a.wait_connected(), b.wait_connected()), 5)
            await a.broadcast("m5")
            await _until(lambda: b.stats.received == 4)
            assert gaps == [("a", 2)]
            assert b.stats.missed == 2
            assert b.stats.gaps == 1
            assert a.attempts == 0
            assert b.stats.links == 2

            redis.kill()
            await _until(lambda: b.state is State.BACKOFF or b.state is State.CONNECTING)
            started = time.monotonic()
        assert time.monotonic() - started < 1.5  # close() while reconnecting: at once
        assert a.state is b.state is State.CLOSED
        assert not await a.close()  # idempotent
        assert await a.broadcast("late") == wsstate.BroadcastResult(0, 0)
        assert not a.start()

    asyncio.run(main())
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("link_lost" in w for w in warnings), warnings
