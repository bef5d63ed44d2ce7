"""Broadcast while connections join and leave, some dead (row 23): a snapshot is sent to,
and each connection's failure stays its own."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from support.harness import Harness, Pair, assert_peer_gone, eventually, received
from support.transports import Transport, open_pair, pause_reading, write_transport

from wsstate import ClosedBy, Hub


@pytest.mark.scenario(23)
async def test_23_hub_broadcast_with_churn_and_dead_connections(
    h: Harness, transport: Transport
) -> None:
    pairs = [await open_pair(h, transport) for _ in range(9)]
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
    big = random.Random(23).randbytes(256 * 1024)
    slow: Pair | None = None
    if transport.exposes_write_buffer:
        # 7 reads slowly, and its kernel send buffer is small: its send cannot fit
        # and has to wait, so the broadcast is in flight while the hub changes.
        slow = pairs[7]
        assert slow.link is not None
        sock = write_transport(slow).get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        slow.link.slow_reader(True, slow.out)

    # The broadcast never waits on a member: 7's message joins its own backlog.
    result = await asyncio.wait_for(hub.broadcast(big), 0.5)
    assert result.sent + result.queued + result.dropped == 6  # the snapshot: 2..7
    # The hub changes while 7's message is still on its way.
    closing = [asyncio.create_task(pairs[4].conn.close())]
    hub.discard(pairs[5].conn)  # leaves, but was in the snapshot
    hub.add(pairs[8].conn)  # joins, was not
    if slow is not None:
        assert slow.link is not None
        assert result.queued >= 1  # 7 at least
        await asyncio.sleep(0.05)
        assert slow.conn.stats.sent == 0  # still queued
        slow.link.slow_reader(False, slow.out)
    await asyncio.gather(*closing)
    assert pairs[4].conn.closed
    if not transport.accepts_send_after_reset:
        for pair in pairs[2:4]:
            assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
        assert set(hub) == {pairs[6].conn, pairs[7].conn, pairs[8].conn}
    # Where a dead connection whose reset the stack had not seen may have taken
    # the message (lost), the next broadcast finds it gone at the latest.
    members_then = len(hub)
    second = await hub.broadcast("small")
    # A transport whose every send is asynchronous (ASGI) finds out in the
    # members' own backlogs, after the broadcast returned.
    await eventually(lambda: all(p.conn.closed for p in pairs[2:4]))
    for pair in pairs[2:4]:
        assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    assert set(hub) == {pairs[6].conn, pairs[7].conn, pairs[8].conn}
    assert second.sent + second.queued + second.dropped == members_then
    # 7 may still be draining its backlog; over ASGI every send is queued (dead ones too).
    assert second.sent + second.queued >= 3
    if not transport.accepts_send_after_reset:
        assert second.dropped == 0

    for pair in pairs[5:]:
        await pair.conn.close()
    got = await asyncio.wait_for(asyncio.gather(*collectors), 2.0)
    # Each live connection's send counted exactly when its peer received it.
    if not transport.accepts_send_after_reset:
        assert sum(big in messages for messages in got) == result.sent + result.queued
    assert [big in messages for messages in got] == [
        p.conn.stats.sent > 0 and p is not pairs[8] for p in pairs[4:]
    ]
    assert [messages.count("small") for messages in got] == [0, 0, 1, 1, 1]
    assert len(hub) == 0
