"""Closures: the peer's (rows 1, 6, 7), ours twice (8), ours in ``finally`` (15).

Every test runs under the ``h`` harness (support.harness), which also checks
after teardown: every guarded connection CLOSED with ``on_close`` fired once, a
clean wire through the proxy, no call of the loop's exception handler,
descriptors and tasks back to the baseline, and the log rules.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from support.asgi import Site
from support.harness import Harness, Pair, assert_peer_gone, assert_sends_absorbed, eventually
from support.harness import not_keepalive as data_frames
from support.transports import Transport, native_close, open_pair, start_site
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, State

# -- 1. peer closes cleanly while idle ------------------------------------------------


@pytest.mark.scenario(1)
@pytest.mark.parametrize(("code", "reason"), [(1000, "bye"), (1001, "going away")])
async def test_01_peer_closes_cleanly(
    h: Harness, transport: Transport, code: int, reason: str
) -> None:
    pair = await open_pair(h, transport)
    await pair.peer.close(code, reason)
    await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=code, reason=reason)
    assert native_close(pair) == (code, reason)  # what the stack below reported
    await assert_sends_absorbed(pair)
    # The guarded endpoint echoed the peer's code and sent nothing else.
    assert [(f.opcode, f.close_code) for f in data_frames(pair.frames_out())] == [
        (Opcode.CLOSE, code)
    ]


# -- 6, 7. a background send, then close(), after the peer closed cleanly --------------


async def peer_closes(pair: Pair, code: int, reason: str, when: str) -> asyncio.Task[None]:
    """The peer closes; return once the guarded endpoint got the peer's Close (``when``:
    "close_received", before the transport ended, if the timing allows) or is CLOSED."""
    closing = asyncio.create_task(pair.peer.close(code, reason))
    if when == "closed":
        await asyncio.wait_for(pair.conn.wait_closed(), 1.0)
    else:
        protocol = pair.conn.transport.connection.protocol  # type: ignore[attr-defined]
        # Checked at every loop iteration: the window before TCP ends is short.
        async with asyncio.timeout(1.0):
            while protocol.close_rcvd is None:  # noqa: ASYNC110
                await asyncio.sleep(0)
    return closing


def close_windows(transport: Transport) -> tuple[str, ...]:
    return transport.close_windows


@pytest.mark.scenario(6)
@pytest.mark.per_transport("when", close_windows)
async def test_06_background_send_after_peer_closed(
    h: Harness, transport: Transport, when: str
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    closing = await peer_closes(pair, 1000, "tab closed", when)
    # Fire-and-forget, as a UI framework pushes an update: quietly dropped.
    background = asyncio.create_task(conn.try_send("update"))
    assert await background is False
    # The peer's Close is known; its TCP teardown is not, when the test caught it first.
    assert conn.state is (State.CLOSE_RECEIVED if when == "close_received" else State.CLOSED)
    with pytest.raises(wsstate.ConnectionClosed) as info:
        await conn.send("update")
    assert (info.value.code, info.value.reason, info.value.closed_by) == (
        1000,
        "tab closed",
        ClosedBy.REMOTE,
    )
    await closing
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1000, reason="tab closed")
    assert (conn.stats.dropped, conn.stats.sent) == (2, 0)
    # Only DEBUG from wsstate (the harness checks it); no data frame went out.
    assert [f.opcode for f in data_frames(pair.frames_out())] == [Opcode.CLOSE]
    if isinstance(pair.server, Site):
        # Starlette itself was never asked to send after the close (no RuntimeError path).
        assert pair.conn.transport.websocket.application_state.name == "CONNECTED"  # type: ignore[attr-defined]


@pytest.mark.scenario(6)
async def test_06_send_racing_the_peers_close(h: Harness, transport: Transport) -> None:
    # The peer's Close is processed while a send is on its way: the send is
    # refused or lost, never raises anything but ConnectionClosed, and the
    # closure is still the peer's clean one.
    pair = await open_pair(h, transport)
    conn = pair.conn
    closing = asyncio.create_task(pair.peer.close(1001, "racing"))
    for i in range(200):
        if not await conn.try_send(f"racing {i}"):
            break
        await asyncio.sleep(0)
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    await closing
    assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="racing")


@pytest.mark.scenario(7)
@pytest.mark.per_transport("when", close_windows)
async def test_07_close_after_peer_closed(h: Harness, transport: Transport, when: str) -> None:
    # The FastAPI tutorial pattern: the disconnect was received, then close().
    pair = await open_pair(h, transport)
    conn = pair.conn
    closing = await peer_closes(pair, 1001, "navigated away", when)
    assert await conn.close() is False  # waits for CLOSED, if not there yet
    assert conn.state is State.CLOSED
    assert await conn.close(4000, "again") is False
    await closing
    assert_peer_gone(
        pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="navigated away"
    )
    assert [f.close_code for f in pair.frames_out()] == [1001]  # the echo, nothing else


@pytest.mark.scenario(7)
async def test_07_close_racing_the_peers_close(h: Harness, transport: Transport) -> None:
    # close() while the peer's Close is on its way, or already processed by the
    # stack but not yet reported: whoever is first, one closure, quiet.
    pair = await open_pair(h, transport)
    conn = pair.conn
    closing = asyncio.create_task(pair.peer.close(1001, "navigated away"))
    await asyncio.sleep(0.01)
    result = await conn.close(1000, "bye")
    await closing
    assert conn.state is State.CLOSED
    if result:
        assert (conn.closed_by, conn.close_code) == (ClosedBy.LOCAL, 1000)
    else:
        assert (conn.closed_by, conn.close_code) == (ClosedBy.REMOTE, 1001)
    # One Close from the guarded endpoint: its echo of the peer's 1001, or its own 1000.
    assert len([f for f in pair.frames_out() if f.opcode is Opcode.CLOSE]) == 1


def slow_disconnect(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware that hands the disconnect message on 0.1 s late."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def late_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await asyncio.sleep(0.1)
            return message

        await app(scope, late_receive, send)

    return wrapped


@pytest.mark.scenario(7)
@pytest.mark.transports("asgi")  # a middleware between the server and the application
async def test_07_close_crossing_the_peers_close(h: Harness, transport: Transport) -> None:
    # The peer's Close was answered by the server, but its disconnect message is
    # still on its way when the application closes: the closures cross. Both
    # Close frames were exchanged (the server's echo answered the peer's): clean.
    site = await start_site(h, transport, middleware=slow_disconnect)
    pair = await site.pair()
    conn = pair.conn
    await pair.peer.close(1001, "navigated away")
    assert conn.state is State.OPEN  # not told yet
    assert await conn.close(1000, "bye") is True
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=True, code=1000, reason="bye")
    assert [f.close_code for f in pair.frames_out()] == [1001]  # the echo, nothing else


# -- 8. close() twice: sequentially, and from two tasks at once ------------------------


@pytest.mark.scenario(8)
@pytest.mark.parametrize("how", ["sequential", "concurrent"])
async def test_08_close_twice(h: Harness, transport: Transport, how: str) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    if how == "sequential":
        assert await conn.close(4001, "first") is True
        assert conn.state is State.CLOSED
        assert await conn.close(4002, "second") is False
    else:
        first = asyncio.create_task(conn.close(4001, "first"))
        second = asyncio.create_task(conn.close(4002, "second"))
        assert list(await asyncio.gather(first, second)) == [True, False]
        assert conn.state is State.CLOSED  # both returned once CLOSED
    assert await conn.close(1000) is False
    # Clean only where the stack reports the peer's answer (not over ASGI).
    assert_peer_gone(
        pair,
        closed_by=ClosedBy.LOCAL,
        clean=transport.local_close_clean,
        code=4001,
        reason="first",
    )
    await asyncio.wait_for(pair.peer.wait_closed(), 1.0)
    assert (pair.peer.close_code, pair.peer.close_reason) == (4001, "first")
    # The first code won on the wire: one Close, 4001, answered by the peer.
    assert [(f.opcode, f.close_code) for f in data_frames(pair.frames_out())] == [
        (Opcode.CLOSE, 4001)
    ]
    assert [f.close_code for f in pair.frames_in() if f.opcode is Opcode.CLOSE] == [4001]


# -- 15. teardown close() in finally after the peer left -------------------------------


@pytest.mark.scenario(15)
@pytest.mark.parametrize("leaves", ["close", "reset", "fin"])
async def test_15_close_in_finally_after_peer_left(
    h: Harness, transport: Transport, leaves: str
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    assert pair.link is not None
    got: list[object] = []
    results: list[bool] = []

    async def application() -> None:  # the usual handler shape, no bare except needed
        try:
            async for message in conn:
                got.append(message)
        finally:
            results.append(await conn.close())

    app = asyncio.create_task(application())
    await pair.peer.send("hello")
    await eventually(lambda: got == ["hello"])
    if leaves == "close":
        await pair.peer.close(1001, "bye")
    elif leaves == "reset":
        await pair.link.reset()
    else:
        await pair.link.fin(pair.side)  # FIN towards the guarded endpoint, no Close frame
    await asyncio.wait_for(app, 1.0)
    assert results == [False]
    assert await conn.close() is False
    if leaves == "close":
        assert_peer_gone(pair, closed_by=ClosedBy.REMOTE, clean=True, code=1001, reason="bye")
    else:
        assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
