"""A loop per page, stopped and closed with its connections OPEN (row 37).

Frameworks that run an event loop per page in a thread (Solara) stop and close
that loop when the page goes. Whatever is still OPEN on it must not be left
behind: each guarded connection reaches CLOSED, its ``on_close`` fires once, no
ERROR record, no call of the loop's exception handler, and the peer sees the
connection end.
"""

from __future__ import annotations

import asyncio

import pytest
from support.harness import Harness
from support.transports import OtherLoop, Transport, host_in_other_loop

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.machines.session import State as SessionState


@pytest.mark.scenario(37)
async def test_37_a_loop_closed_under_an_open_connection_closes_it(
    h: Harness, transport: Transport
) -> None:
    other = OtherLoop()
    hosted = await host_in_other_loop(h, transport, other)
    conn, peer = hosted.conn, hosted.peer
    notified: list[GuardedConnection] = []
    conn.on_close(notified.append)
    assert conn.state is State.OPEN
    # The page goes: its loop ends as asyncio.run ends one (tasks cancelled, then
    # closed), with the connection still OPEN.
    await hosted.stop()
    assert conn.state is State.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above across the await
    assert notified == [conn]
    other.watch.assert_not_called()
    await asyncio.wait_for(peer.wait_closed(), 2.0)


@pytest.mark.scenario(37)
# Not ASGI: the ASGI server runs in that loop, and closing it without the server's
# shutdown leaves uvicorn's own tasks pending (the test above covers ASGI).
@pytest.mark.transports("websockets", "aiohttp", "tornado")
async def test_37_a_loop_stopped_then_closed_directly(h: Harness, transport: Transport) -> None:
    other = OtherLoop()
    hosted = await host_in_other_loop(h, transport, other)
    conn, peer = hosted.conn, hosted.peer
    notified: list[GuardedConnection] = []
    conn.on_close(notified.append)
    assert conn.state is State.OPEN

    def close_directly() -> None:
        # No task cancelled, no shutdown of anything: loop.close() on a stopped loop.
        other.loop.close()
        other.watch.__exit__(None, None, None)

    await asyncio.wrap_future(other._thread.submit(close_directly))
    await asyncio.to_thread(other._thread.shutdown)
    assert conn.state is State.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above across the await
    assert conn.closed_by is ClosedBy.LOCAL
    assert notified == [conn]
    other.watch.assert_not_called()
    await asyncio.wait_for(peer.wait_closed(), 2.0)


@pytest.mark.scenario(37)
@pytest.mark.transports("websockets", "aiohttp", "tornado")  # as the test above
async def test_37_a_loop_closed_under_a_hub_member_and_a_session(
    h: Harness, transport: Transport
) -> None:
    # The connection was aborted while the loop stood still: the hub's discard and
    # the session's detach, called back, found no running loop: an ERROR each, the
    # member left in the hub, the session ATTACHED to a closed connection.
    other = OtherLoop()
    hosted = await host_in_other_loop(h, transport, other)
    conn = hosted.conn
    hub = wsstate.Hub()
    sessions = wsstate.Sessions(grace=30.0)

    async def join() -> wsstate.Session:
        hub.add(conn)
        return sessions.attach("page", conn)

    session = await other.step(join())

    def close_directly() -> None:
        other.loop.close()
        other.watch.__exit__(None, None, None)

    await asyncio.wrap_future(other._thread.submit(close_directly))
    await asyncio.to_thread(other._thread.shutdown)
    assert conn.state is State.CLOSED
    assert conn not in hub
    assert session.state is SessionState.DETACHED  # its grace began: no connection left
    assert conn.stats.callback_errors == 0
    other.watch.assert_not_called()
    await asyncio.wait_for(hosted.peer.wait_closed(), 2.0)
