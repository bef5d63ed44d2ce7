"""Sessions across reconnects (rows 19, 20, 35): generations fence an old connection off,
the close beacon and the disconnect commute, a resume replays after ``last_seen``.

Every test attaches real guarded connections (through the fault proxy) to a
:class:`wsstate.Sessions`; the grace timer runs on a
:class:`~wsstate.testing.ManualClock`, advanced by the test. The harness checks
what every scenario leaves behind, zero ERROR records among it.
"""

from __future__ import annotations

import asyncio

import pytest
from support.harness import CLOSE_TIMEOUT, SLACK, Harness, Pair, eventually
from support.transports import Transport, open_pair

from wsstate import ClosedBy, Session, Sessions
from wsstate.machines.session import State
from wsstate.testing import ManualClock

GRACE = 30.0


def sessions_with(clock: ManualClock, expired: list[Session], **options: object) -> Sessions:
    return Sessions(grace=GRACE, clock=clock, on_expire=expired.append, **options)  # type: ignore[arg-type]


async def recv_all(pair: Pair, count: int) -> list[str | bytes]:
    return [await asyncio.wait_for(pair.peer.recv(), 2.0) for _ in range(count)]


async def network_drop(pair: Pair) -> None:
    """The TCP connection is reset under both ends; the guarded one notices."""
    assert pair.link is not None
    await pair.link.reset()
    await asyncio.wait_for(pair.conn.wait_closed(), 2.0)


@pytest.mark.scenario(19)
@pytest.mark.per_transport("old", lambda t: ("closing", "reset"))
async def test_19_reconnect_while_the_old_connection_is_closing(
    h: Harness, transport: Transport, old: str
) -> None:
    clock, expired = ManualClock(), list[Session]()
    sessions = sessions_with(clock, expired)
    first = await open_pair(h, transport)
    session = sessions.attach("page", first.conn)
    await session.send("m1")
    assert await recv_all(first, 1) == ["m1"]
    assert first.link is not None
    if old == "closing":
        # The old page's answers vanish: its connection stays CLOSING for the close timeout.
        first.link.blackhole(True, first.side.other.sends)
        h.wsstate_info = True  # the connection's close timeout logs at INFO
    else:
        await first.link.reset()

    second = await open_pair(h, transport)
    assert sessions.attach("page", second.conn, last_seen=1) is session
    assert (session.generation, session.state, session.resumed) == (2, State.ATTACHED, True)
    assert session.connection is second.conn
    await session.send("m2")
    assert await recv_all(second, 1) == ["m2"]

    # The old connection's teardown ends after the new one attached: it changes nothing.
    await asyncio.wait_for(first.conn.wait_closed(), CLOSE_TIMEOUT + SLACK)
    await asyncio.sleep(0.01)
    assert (session.generation, session.state) == (2, State.ATTACHED)
    assert session.connection is second.conn
    assert sessions.get("page") is session
    assert expired == []
    if old == "closing":
        assert first.conn.closed_by is ClosedBy.LOCAL
        assert (first.conn.close_code, first.conn.close_reason) == (1000, "superseded")
    # A late beacon of the old page (it names generation 1) is a no-op too.
    assert sessions.page_close("page", generation=1)
    assert session.state is State.ATTACHED
    await session.send("m3")
    assert await recv_all(second, 1) == ["m3"]

    assert await session.close()
    assert expired == [session]
    await asyncio.wait_for(second.conn.wait_closed(), CLOSE_TIMEOUT + SLACK)
    clock.advance(2 * GRACE)
    assert expired == [session]


@pytest.mark.scenario(20)
@pytest.mark.per_transport("first", lambda t: ("beacon", "disconnect"))
async def test_20_page_close_and_disconnect_commute(
    h: Harness, transport: Transport, first: str
) -> None:
    clock, expired = ManualClock(), list[Session]()
    sessions = sessions_with(clock, expired)
    pair = await open_pair(h, transport)
    session = sessions.attach("page", pair.conn)
    if first == "beacon":
        assert sessions.page_close("page")
        # Ended at once; the session closes its connection (1001), whose detach is absorbed.
        assert session.state is State.CLOSED
        await asyncio.wait_for(pair.conn.wait_closed(), CLOSE_TIMEOUT + SLACK)
        assert pair.conn.close_code == 1001
    else:
        await pair.peer.close()
        await asyncio.wait_for(pair.conn.wait_closed(), 2.0)
        await eventually(lambda: session.state is State.DETACHED)
        assert expired == []
        assert sessions.page_close("page")
    assert session.state is State.CLOSED
    assert expired == [session]
    assert "page" not in sessions
    # Nothing fires it again: a second beacon, the grace window, a late send.
    assert not sessions.page_close("page")
    clock.advance(2 * GRACE)
    assert not await session.try_send("late")
    assert not await session.close()
    assert expired == [session]
    assert clock.pending == 0


@pytest.mark.scenario(35)
async def test_35_resume_after_a_network_drop_replays_each_message_once_in_order(
    h: Harness, transport: Transport
) -> None:
    clock, expired = ManualClock(), list[Session]()
    sessions = sessions_with(clock, expired, history=10)
    first = await open_pair(h, transport)
    session = sessions.attach("page", first.conn)
    for m in ("m1", "m2"):
        await session.send(m)
    assert await recv_all(first, 2) == ["m1", "m2"]
    last_seen = 2  # the page counts what it received

    await network_drop(first)
    await eventually(lambda: session.state is State.DETACHED)
    for m in ("m3", "m4"):
        assert await session.try_send(m)  # held for the resume
    assert session.last_sent == 4

    second = await open_pair(h, transport)
    sessions.attach("page", second.conn, last_seen=last_seen)
    assert (session.resumed, session.gap, session.generation) == (True, False, 2)
    await session.send("m5")
    assert await recv_all(second, 3) == ["m3", "m4", "m5"]
    assert expired == []
    await second.peer.close()
    await asyncio.wait_for(second.conn.wait_closed(), 2.0)
    # Nothing more arrived on the resumed connection: each message exactly once.
    assert second.conn.stats.sent == 3
    clock.advance(GRACE)
    assert expired == [session]
    h.wsstate_info = True  # the grace timeout's row logs at INFO


@pytest.mark.scenario(35)
async def test_35_history_overflow_is_reported_as_a_gap(h: Harness, transport: Transport) -> None:
    clock, expired = ManualClock(), list[Session]()
    sessions = sessions_with(clock, expired, history=2)
    first = await open_pair(h, transport)
    session = sessions.attach("page", first.conn)
    await session.send("m1")
    assert await recv_all(first, 1) == ["m1"]
    await network_drop(first)
    await eventually(lambda: session.state is State.DETACHED)
    for n in range(2, 6):
        assert await session.try_send(f"m{n}")  # the history keeps m4 and m5 only

    second = await open_pair(h, transport)
    sessions.attach("page", second.conn, last_seen=1)
    assert (session.resumed, session.gap) == (False, True)
    await session.send("full state")  # the application resends everything
    assert await recv_all(second, 1) == ["full state"]
    assert second.conn.stats.sent == 1  # nothing was replayed
    assert await session.close()
    assert expired == [session]
