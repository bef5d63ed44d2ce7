"""Broadcast while connections join and leave, some dead (row 23): a snapshot is sent to,
and each connection's failure stays its own; one member that stopped reading never holds
up a broadcast (row 36)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time

import pytest
from support.harness import Harness, Pair, assert_peer_gone, eventually, received
from support.transports import Transport, open_pair, pause_reading, write_transport
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import wsstate
from wsstate import BroadcastResult, ClosedBy, GuardedConnection, Hub, State


@pytest.mark.scenario(23)
async def test_23_hub_broadcast_with_churn_and_dead_connections(
    h: Harness, transport: Transport
) -> None:
    # No keepalive of ours: a ping waits behind the data too, and a pong later than
    # the harness's 0.15 s would end a member first (1011, row 16): 7, the slow
    # member, before its slow-reader row; a fast one when compressing 256 KiB for
    # six members takes that long on a loaded machine. 7 keeps the harness's write
    # and close timeouts (its 1008 and close timer are the subject); the fast
    # members get seconds to write and close behind that data.
    pairs = [
        await open_pair(
            h,
            transport,
            ping_interval=None,
            **({} if i == 7 else {"write_timeout": 3.0, "close_timeout": 3.0}),
        )
        for i in range(9)
    ]
    hub = Hub()
    for pair in pairs[:8]:
        hub.add(pair.conn)
    # 0, 1 leave cleanly before the broadcast: the hub drops them by itself.
    for pair in pairs[:2]:
        await pair.peer.close()
        await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    assert len(hub) == 6
    # 2, 3 are dead, and nobody noticed yet.
    for pair in pairs[2:4]:
        assert pair.link is not None
        await pause_reading(pair)
        await pair.link.reset()
    collectors = [asyncio.create_task(received(p.peer)) for p in pairs[4:]]
    rng = random.Random(23)
    slow: Pair | None = None
    if transport.exposes_write_buffer:
        # 7 reads slowly, and its kernel send buffer is small: its buffer fills,
        # and a broadcast beyond it has to wait (queued), so a broadcast is in
        # flight while the hub changes.
        h.wsstate_warnings = 1  # 7's slow-reader 1008, once
        h.wsstate_info = True  # its close timer ends it (the table's INFO row)
        slow = pairs[7]
        assert slow.link is not None
        sock = write_transport(slow).get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        slow.link.slow_reader(True, slow.out)

    # The broadcast never waits on a member: a write that has to wait joins its
    # member's own backlog. Broadcast until 7 has one queued (ASGI: every send is
    # queued, the first does), within a bounded number of broadcasts.
    bigs: list[bytes] = []
    for n in range(4):
        bigs.append(n.to_bytes(4, "big") + rng.randbytes(256 * 1024))
        members = len(hub)
        result = await asyncio.wait_for(hub.broadcast(bigs[-1]), 0.5)
        assert result.sent + result.queued + result.dropped == members  # the snapshot
        if slow is None:
            if result.queued:
                break
        elif slow.conn.stats.sent + slow.conn.stats.dropped < len(bigs):
            break  # 7's write of this one waits behind its full buffer
        # The fast members' writes of this one are done before the next: a write
        # still queued at the close of 4 below would be dropped, not delivered.
        await eventually(
            lambda: all(p.conn.stats.sent + p.conn.stats.dropped == len(bigs) for p in pairs[4:7]),
            within=3.0,
        )
    else:
        pytest.fail(f"no broadcast was queued in {len(bigs)}: {result}")
    assert result.queued >= 1
    # The hub changes while a broadcast is still on its way.
    closing = [asyncio.create_task(pairs[4].conn.close())]
    hub.discard(pairs[5].conn)  # leaves, but was in the snapshot
    hub.add(pairs[8].conn)  # joins, was not
    live = {pairs[6].conn, pairs[7].conn, pairs[8].conn}
    if slow is not None:
        slow_sent = slow.conn.stats.sent
        assert slow_sent >= 1  # the write that filled its buffer went out
        await asyncio.sleep(0.05)
        assert slow.conn.state is State.OPEN
        assert slow.conn.stats.sent == slow_sent  # still queued
        # 7's fate: its queued write waits longer than write_timeout, the table's
        # slow-reader row closes it with 1008, its close timer ends it (7 does not
        # read the Close either), and what it had queued is dropped.
        await eventually(lambda: slow.conn.state is State.CLOSED, within=3.0)
        assert slow.conn.closed_by is ClosedBy.TIMEOUT
        assert slow.conn.close_code == 1008
        assert slow.conn.stats.sent == slow_sent
        assert slow.conn.stats.dropped >= 1
        live.discard(slow.conn)
        link = slow.link
        assert link is not None
        link.slow_reader(False, slow.out)  # so that its peer sees the end
    await asyncio.gather(*closing)
    assert pairs[4].conn.closed
    if not transport.accepts_send_after_reset:
        for pair in pairs[2:4]:
            assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
        assert set(hub) == live
    # Where a dead connection whose reset the stack had not seen may have taken
    # the message (lost), the next broadcast finds it gone at the latest.
    members_then = len(hub)
    second = await hub.broadcast("small")
    # A transport whose every send is asynchronous (ASGI) finds out in the
    # members' own backlogs, after the broadcast returned.
    await eventually(lambda: all(p.conn.closed for p in pairs[2:4]))
    for pair in pairs[2:4]:
        assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert set(hub) == live
    assert second.sent + second.queued + second.dropped == members_then
    # Over ASGI every send is queued (dead ones too).
    assert second.sent + second.queued >= len(live)
    if not transport.accepts_send_after_reset:
        assert second.dropped == 0

    for pair in pairs[5:]:
        await pair.conn.close()
    got = await asyncio.wait_for(asyncio.gather(*collectors), 2.0)
    big_got = [[m for m in messages if isinstance(m, bytes)] for messages in got]
    # The fast members in the snapshot (4 closed, 5 left after it) got every
    # broadcast, in order; 8 joined after them.
    assert big_got[:3] == [bigs, bigs, bigs]
    assert big_got[4] == []
    if slow is None:
        assert big_got[3] == bigs
    else:
        # 7 got at most what was reported sent to it, in order: nothing queued
        # and dropped arrived (its peer may lose the rest at the abort).
        assert big_got[3] == bigs[: len(big_got[3])]
        assert len(big_got[3]) <= slow_sent < len(bigs)
    assert [messages.count("small") for messages in got] == [
        0,
        0,
        int(pairs[6].conn in live),
        int(pairs[7].conn in live),
        int(pairs[8].conn in live),
    ]
    assert len(hub) == 0


# -- 36. one member stopped reading -------------------------------------------------------

FAST = 20
WRITE_TIMEOUT = 5.0
PERIOD = 0.02
DURATION = WRITE_TIMEOUT + 1.5
SIZE = 16 * 1024


async def _read_all(client: ClientConnection) -> list[int]:
    seqs: list[int] = []
    try:
        async for message in client:
            assert isinstance(message, bytes)
            seqs.append(int.from_bytes(message[:4], "big"))
    except ConnectionClosed:
        pass
    return seqs


@pytest.mark.scenario(36)
async def test_36_a_stalled_member_never_holds_up_a_broadcast(
    h: Harness, transport: Transport
) -> None:
    # Issue 15, acceptance 1: one client stops reading (its kernel buffers made
    # small, so its server-side write buffer fills within a second); twenty read
    # everything. Hub.broadcast returns at once every time; the table's
    # slow-reader row closes the stalled member with 1008 after write_timeout.
    h.wsstate_warnings = 1  # the slow reader's 1008, once
    h.wsstate_info = True  # its close timer may end it (the table's INFO row)
    hub = Hub()
    conns: dict[str, GuardedConnection] = {}
    joined = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/stalled":
            ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
        conn = wsstate.guard(ws, write_timeout=WRITE_TIMEOUT, close_timeout=1.0, ping_interval=None)
        h.track(conn)
        conns[ws.request.path] = conn
        hub.add(conn)
        if len(conns) == FAST + 1:
            joined.set()
        await conn.wait_closed()

    server = await h.serve(handler, compression=None)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    fast = [
        await connect(f"{url}/fast{i}", compression=None, max_size=None, ping_interval=None)
        for i in range(FAST)
    ]
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled = await connect(f"{url}/stalled", sock=raw, compression=None, ping_interval=None)
    stalled.transport.pause_reading()
    await asyncio.wait_for(joined.wait(), 5.0)
    readers = [asyncio.create_task(_read_all(c)) for c in fast]

    durations: list[float] = []
    results: list[BroadcastResult] = []
    slow = conns["/stalled"]
    first_queued: float | None = None
    seq = 0
    start = time.monotonic()
    while time.monotonic() - start < DURATION:
        message = seq.to_bytes(4, "big") + bytes(SIZE)
        t0 = time.perf_counter()
        result = await hub.broadcast(message)
        durations.append(time.perf_counter() - t0)
        results.append(result)
        if first_queued is None and result.queued:
            first_queued = time.monotonic()
        seq += 1
        await asyncio.sleep(PERIOD)

    # The slow reader's bounded path: closed with 1008 after the write timeout.
    await eventually(lambda: slow.state is State.CLOSED, within=3.0)
    assert first_queued is not None, "the stalled member's buffer never filled"
    assert slow.closed_by is ClosedBy.TIMEOUT
    assert slow.close_code == 1008
    warnings = h.records(logging.WARNING)
    assert len(warnings) == 1
    assert "transport_stalled" in warnings[0].getMessage()
    assert warnings[0].created - first_queued >= WRITE_TIMEOUT - 0.1

    # No broadcast waited on anyone.
    assert max(durations) < 0.05, f"slowest broadcast {max(durations) * 1000:.1f} ms"
    for result in results:
        assert result.sent + result.queued + result.dropped in (FAST, FAST + 1)

    # Every fast member got every message, in order, nothing interleaved.
    assert await hub.close() == FAST
    got = await asyncio.wait_for(asyncio.gather(*readers), 10.0)
    for seqs in got:
        assert seqs == list(range(seq))
    for conn in conns.values():
        if conn is not slow:
            assert conn.stats.sent == seq
            assert conn.stats.dropped == 0
    stalled.transport.abort()
    await asyncio.gather(*(c.close() for c in fast))
    await stalled.close()
