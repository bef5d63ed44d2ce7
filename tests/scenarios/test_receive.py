"""Receiving after the peer left (row 9): what it sent before, all, in order, once."""

from __future__ import annotations

import asyncio

import pytest
from support.harness import Harness, assert_peer_gone
from support.transports import Transport, open_pair

import wsstate
from wsstate import ClosedBy


@pytest.mark.scenario(9)
async def test_09_recv_after_clean_close_delivers_everything_first(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    sent = [f"message {i}" for i in range(40)]  # more than a receive queue holds (16)

    async def peer() -> None:
        for message in sent:
            await pair.peer.send(message)
        await pair.peer.close(1000, "done")

    peer_task = asyncio.create_task(peer())
    got = [message async for message in conn]  # ends quietly
    assert got == sent
    await peer_task
    for _ in range(2):
        with pytest.raises(wsstate.ConnectionClosed) as info:
            await conn.recv()
        assert (info.value.code, info.value.reason, info.value.clean) == (1000, "done", True)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000, reason="done")
    assert conn.stats.received == len(sent)


@pytest.mark.scenario(9)
async def test_09_recv_after_reset(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    assert pair.link is not None
    sent = [f"message {i}" for i in range(5)]
    for message in sent:
        await pair.peer.send(message)
    assert await conn.recv() == sent[0]
    await pair.link.reset()
    got = [message async for message in conn]  # ends quietly
    assert got == sent[1 : 1 + len(got)]  # what arrived, in order, once
    with pytest.raises(wsstate.ConnectionClosed) as info:
        await conn.recv()
    assert (info.value.code, info.value.closed_by, info.value.clean) == (
        1006,
        ClosedBy.TRANSPORT,
        False,
    )
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
