"""Cancelling a call is safe (docs/api.md): on every transport, against a real peer.

``asyncio.timeout()`` around ``recv()`` is how applications bound a wait: the
message that arrives after loses nothing. A cancelled ``close()`` still closes,
and a cancelled ``wait_closed()`` leaves the next one working.
"""

from __future__ import annotations

import asyncio

import pytest
from support.harness import Harness, assert_peer_gone
from support.transports import TRANSPORTS, Transport, open_pair

from wsstate import ClosedBy, State

# Not a row of the field's failure catalogue (tests/scenarios): a guarantee of the
# API, on every transport the scenario suite runs.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # uvicorn's legacy


@pytest.fixture(params=TRANSPORTS, ids=lambda t: t.id)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each transport of the scenario suite."""
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["recv", "async for"])
async def test_a_cancelled_recv_loses_nothing(h: Harness, transport: Transport, how: str) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn

    async def wait_for_one() -> None:
        if how == "recv":
            await conn.recv()
        else:
            async for _ in conn:
                raise AssertionError("nothing was sent yet")

    for _ in range(3):  # cancelled while waiting, three times over
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wait_for_one(), 0.05)
    assert conn.state is State.OPEN
    for i in range(3):
        await pair.peer.send(f"m{i}")
    if how == "recv":
        got = [await asyncio.wait_for(conn.recv(), 2.0) for _ in range(3)]
    else:
        got = []
        async with asyncio.timeout(2.0):
            async for message in conn:  # a new iteration: the cancelled one is over
                got.append(message)
                if len(got) == 3:
                    break
    assert got == ["m0", "m1", "m2"]
    assert await conn.close() is True


async def test_a_cancelled_close_still_closes(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    closing = asyncio.create_task(conn.close(4000, "bye"))
    await asyncio.sleep(0)  # the close has started: its Close is on its way
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.wait_for(conn.wait_closed(), 3.0)  # the peer answered
    assert_peer_gone(
        pair, closed_by=ClosedBy.LOCAL, clean=transport.local_close_clean, code=4000, reason="bye"
    )


async def test_a_cancelled_wait_closed_leaves_the_next_one_working(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await conn.wait_closed()
    waiting = asyncio.create_task(conn.wait_closed())
    await pair.peer.close(1001, "going")
    await asyncio.wait_for(waiting, 3.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="going")
