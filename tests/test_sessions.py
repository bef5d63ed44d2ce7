"""wsstate.Sessions: every effect of the session spec handled; the grace window on the real
loop clock; on_expire's failures; the attach classification.

The races themselves (rows 19, 20, 35) are in tests/scenarios/test_sessions.py, on every
transport; the generated stateful tests drive the table (tests/generated/test_session_stateful.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
from collections.abc import Callable
from typing import Any

import pytest
from starlette.websockets import WebSocket
from support.harness import WS_DEFAULTS, Harness, eventually
from support.transports import by_id, start_site
from websockets.asyncio.client import connect as ws_connect

import wsstate
from wsstate import InvalidOption, Sessions
from wsstate.machines.session import EFFECT_DOCS, TABLE, Effect, Event, State
from wsstate.sessions import (
    _ACTIONS,
    EFFECT_HANDLERS,
    OPERATION_OUTCOMES,
    LoopClock,
    TimerHandle,
    attach_event,
)
from wsstate.testing import ManualClock


def test_every_declared_effect_has_a_handler() -> None:
    assert [e.value for e in Effect if e not in EFFECT_HANDLERS] == []
    assert set(EFFECT_DOCS) == {e.value for e in Effect}


def test_every_row_effect_is_handled_for_its_event() -> None:
    problems = [
        f"{state}/{event}: {effect}"
        for (state, event), row in TABLE.items()
        for effect in row.effects
        if effect not in _ACTIONS and effect not in OPERATION_OUTCOMES.get(event, ())
    ]
    assert problems == []


#: The operations' events in the spec's order (a name: pytest's argument type would
#: make mypy infer sorted()'s items as object).
OPERATION_EVENTS = sorted(OPERATION_OUTCOMES, key=list(Event).index)


@pytest.mark.parametrize("event", OPERATION_EVENTS)
def test_every_row_of_an_operation_has_exactly_one_outcome(event: Event) -> None:
    for state in State:
        row = TABLE[(state, event)]
        if row.next is not None:
            found = [e for e in row.effects if e in OPERATION_OUTCOMES[event]]
            assert len(found) == 1, f"{state}/{event}: {found}"


@pytest.mark.parametrize(
    ("last_seen", "last_sent", "kept", "event"),
    [
        (None, 5, 5, Event.ATTACH),
        (0, 0, 0, Event.ATTACH_RESUME),  # a new page of a new session
        (3, 0, 0, Event.ATTACH_GAP),  # a page of a session that no longer exists
        (5, 5, 0, Event.ATTACH_RESUME),  # saw everything
        (2, 5, 3, Event.ATTACH_RESUME),  # 3, 4, 5 kept
        (1, 5, 3, Event.ATTACH_GAP),  # 2 was dropped
        (6, 5, 5, Event.ATTACH_GAP),  # beyond what was sent
    ],
)
def test_attach_classification(
    last_seen: int | None, last_sent: int, kept: int, event: Event
) -> None:
    assert attach_event(last_seen, last_sent, kept) is event


def test_attach_classification_refuses_a_negative_last_seen() -> None:
    with pytest.raises(ValueError, match="last_seen"):
        attach_event(-1, 0, 0)


def test_manual_clock_runs_due_callbacks_in_order() -> None:
    clock, ran = ManualClock(), []
    clock.call_later(2, lambda: ran.append("b"))
    clock.call_later(1, lambda: ran.append("a"))
    clock.call_later(3, lambda: ran.append("c")).cancel()
    assert clock.advance(2.5) == 2
    assert ran == ["a", "b"]
    assert clock.pending == 0


async def test_no_reattach_within_the_grace_window_expires_once_in_time(h: Harness) -> None:
    """Acceptance: one expiry, within the window + 10%, on the event loop's own clock."""
    grace = 0.5
    loop = asyncio.get_running_loop()
    expired: list[float] = []
    armed: list[float] = []

    class Recording(LoopClock):
        def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
            armed.append(loop.time())  # the moment of the detach
            return super().call_later(delay, callback)

    sessions = Sessions(
        grace=grace, on_expire=lambda s: expired.append(loop.time()), clock=Recording()
    )
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    await pair.peer.close()
    await eventually(lambda: bool(expired), within=2.0 + 2 * grace)
    await asyncio.sleep(0.1)
    assert len(expired) == 1
    assert len(armed) == 1
    assert grace <= expired[0] - armed[0] <= grace * 1.1
    assert session.state is State.CLOSED
    assert len(sessions) == 0
    h.wsstate_info = True  # the grace timeout's row logs at INFO


async def test_a_failing_on_expire_is_logged_once_at_error(h: Harness) -> None:
    def hook(session: object) -> None:
        raise RuntimeError("user bug")

    sessions = Sessions(on_expire=hook, clock=ManualClock())
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    assert await session.close()
    assert session.state is State.CLOSED
    assert sessions.expire_errors == 1
    assert not await session.close()
    failing = [r for r in h.records(logging.ERROR) if "on_expire" in r.getMessage()]
    assert len(failing) == 1
    h.wsstate_errors = 1


async def test_an_async_on_expire_is_awaited(h: Harness) -> None:
    done = asyncio.Event()

    async def hook(session: object) -> None:
        await asyncio.sleep(0)
        done.set()

    sessions = Sessions(on_expire=hook, clock=ManualClock())
    pair = await h.pair("server")
    sessions.attach("page", pair.conn)
    assert sessions.page_close("page")
    await asyncio.wait_for(done.wait(), 1.0)


async def test_broadcast_reaches_attached_sessions_and_holds_for_detached(h: Harness) -> None:
    clock = ManualClock()
    sessions = Sessions(clock=clock)
    live = await h.pair("server")
    gone = await h.pair("server")
    a = sessions.attach("a", live.conn)
    b = sessions.attach("b", gone.conn)
    await gone.peer.close()
    await eventually(lambda: b.state is State.DETACHED)
    result = await sessions.broadcast("hello")
    assert (result.sent, result.held, result.dropped) == (1, 1, 0)
    assert await asyncio.wait_for(live.peer.recv(), 1.0) == "hello"
    assert (a.last_sent, b.last_sent) == (1, 1)
    with pytest.raises(TypeError):
        await sessions.broadcast(42)  # type: ignore[arg-type]
    await a.close()
    await b.close()


async def test_attaching_the_current_connection_again_is_refused(h: Harness) -> None:
    sessions = Sessions(clock=ManualClock())
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    with pytest.raises(ValueError, match="already"):
        sessions.attach("page", pair.conn)
    with pytest.raises(TypeError):
        sessions.attach("page", object())  # type: ignore[arg-type]
    await session.close()


# -- arguments: refused at the call, and the call changes nothing ------------------------


@pytest.mark.parametrize(
    ("option", "value", "wrong_type"),
    [
        ("grace", math.nan, False),
        ("grace", math.inf, False),
        ("grace", -1, False),
        pytest.param("grace", 10**400, False, id="grace-int-beyond-float"),
        ("grace", True, True),
        ("grace", "30", True),
        ("grace", None, True),
        ("history", -1, False),
        ("history", 1.5, True),
        ("history", 10.0, True),
        ("history", math.nan, True),
        ("history", math.inf, True),
        ("history", True, True),
        ("history", "10", True),
        ("history", None, True),
        ("on_expire", 5, True),
        ("on_expire", "cleanup", True),
        ("clock", 5, True),
        ("clock", object(), True),
    ],
)
def test_an_invalid_option_is_refused_when_given(
    option: str, value: object, wrong_type: bool
) -> None:
    with pytest.raises(InvalidOption, match=option) as raised:
        Sessions(**{option: value})  # type: ignore[arg-type]
    assert raised.value.option == option
    assert isinstance(raised.value, TypeError) is wrong_type
    # Set later (examples/sessions_fastapi.py sets sessions.history), the same check.
    sessions = Sessions()
    before = (sessions.grace, sessions.history, sessions.on_expire, sessions.clock)
    with pytest.raises(InvalidOption, match=option):
        setattr(sessions, option, value)
    assert (sessions.grace, sessions.history, sessions.on_expire, sessions.clock) == before


def test_the_documented_option_values_are_accepted() -> None:
    clock = ManualClock()
    sessions = Sessions(grace=0, history=0, on_expire=None, clock=clock)
    assert (sessions.grace, sessions.history, sessions.on_expire, sessions.clock) == (
        0,
        0,
        None,
        clock,
    )
    sessions = Sessions(grace=2.5, history=10, on_expire=print)
    assert (sessions.grace, sessions.history, sessions.on_expire) == (2.5, 10, print)
    assert isinstance(sessions.clock, LoopClock)
    sessions.clock = clock
    sessions.clock = None  # set later as given to the constructor: the loop's again
    assert isinstance(sessions.clock, LoopClock)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("page", "conn", -1), ValueError),
        (("page", "conn", "3"), TypeError),
        (("page", "conn", 1.0), TypeError),
        (("page", "conn", math.nan), TypeError),
        (("page", "conn", True), TypeError),
        ((None, "conn", None), TypeError),
        ((b"page", "conn", None), TypeError),
        (("page", None, None), TypeError),
    ],
    ids=[
        "last_seen-negative",
        "last_seen-str",
        "last_seen-float",
        "last_seen-nan",
        "last_seen-bool",
        "id-None",
        "id-bytes",
        "conn-None",
    ],
)
async def test_a_refused_attach_changes_nothing(
    h: Harness, args: tuple[Any, Any, Any], error: type[Exception]
) -> None:
    sessions = Sessions(clock=ManualClock())
    pair = await h.pair("server")
    session_id, conn, last_seen = args
    conn = pair.conn if conn == "conn" else conn
    with pytest.raises(error):
        sessions.attach(session_id, conn, last_seen)
    assert (len(sessions), list(sessions), session_id in sessions) == (0, [], False)
    # Nor does a refused attach of an existing session's next generation.
    session = sessions.attach("page", pair.conn)
    await session.send("m1")
    second = await h.pair("server")
    with pytest.raises(error):
        sessions.attach(session_id, second.conn if conn is pair.conn else conn, last_seen)
    assert (len(sessions), session.connection, session.generation) == (1, pair.conn, 1)
    assert (session.state, session.last_sent, pair.conn.closed) == (State.ATTACHED, 1, False)
    with pytest.raises(TypeError, match="generation"):
        sessions.page_close("page", generation="1")  # type: ignore[arg-type]
    assert session.state is State.ATTACHED
    await session.close()


@pytest.mark.parametrize("send", ["send", "try_send", "broadcast"])
async def test_a_message_no_connection_can_send_is_refused_at_the_call(
    h: Harness, send: str
) -> None:
    """A str UTF-8 cannot encode (a lone surrogate) raises ValueError at the send, in
    every state, and is neither numbered nor kept: the resume after it replays
    everything else (it raised mid-row, left the session DETACHED on the new
    connection without a grace timer, and lost what was held after it)."""
    sessions = Sessions(clock=ManualClock())
    first = await h.pair("server")
    session = sessions.attach("page", first.conn)

    async def poisoned(data: str) -> None:
        before = (session.last_sent, session.state)
        call = sessions.broadcast if send == "broadcast" else getattr(session, send)
        with pytest.raises(ValueError, match="UTF-8"):
            await call(data)
        assert (session.last_sent, session.state) == before

    await poisoned("\ud800")  # ATTACHED
    await session.send("m1")
    assert await asyncio.wait_for(first.peer.recv(), 2.0) == "m1"
    await first.peer.close()
    await eventually(lambda: session.state is State.DETACHED)
    await poisoned("held \udfff")  # DETACHED
    buffer = bytearray(b"important")
    await session.send(buffer)
    buffer[:] = b"overwritten"  # copied at the call
    second = await h.pair("server")
    assert sessions.attach("page", second.conn, last_seen=0) is session
    assert (session.state, session.resumed, session.generation) == (State.ATTACHED, True, 2)
    got = [await asyncio.wait_for(second.peer.recv(), 2.0) for _ in range(2)]
    assert got == ["m1", b"important"]
    assert await session.close()
    await poisoned("\ud800")  # CLOSED: still refused, not dropped


async def test_a_connection_not_yet_accepted_is_refused_by_attach(h: Harness) -> None:
    """A resume onto an ASGI WebSocket before accept() failed mid-replay (InvalidState
    from the write), leaving the session DETACHED with no grace timer: never ended."""
    sessions = Sessions(grace=5.0, history=8)
    checked: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        first = wsstate.guard(websocket)
        h.track(first)
        assert first.state is wsstate.State.CONNECTING
        with pytest.raises(wsstate.InvalidState, match="accept"):
            sessions.attach("page", first)
        assert len(sessions) == 0  # nothing registered
        await first.accept()
        session = sessions.attach("page", first)
        await session.send("after accept")
        checked.append("attached once accepted")
        await first.wait_closed()

    site = await start_site(h, by_id("asgi-sansio"), {"/page": endpoint})
    async with ws_connect(site.url("/page"), **WS_DEFAULTS) as client:
        assert await asyncio.wait_for(client.recv(), 2.0) == "after accept"
    assert checked == ["attached once accepted"]


@pytest.mark.parametrize("how", ["send", "broadcast"])
async def test_a_cancelled_send_to_a_slow_reader_still_goes_out_in_its_place(
    h: Harness, how: str
) -> None:
    # An asyncio.timeout around a send to a slow reader cancelled the write itself:
    # numbered and kept, never sent, while the messages after it were: the page,
    # counting what it received, had a hole and a last_seen off by one.
    sessions = Sessions()
    pair = await h.pair("server", write_timeout=None, ping_interval=None, peer={"max_size": None})
    session = sessions.attach("page", pair.conn)
    raw = pair.conn.transport.connection  # type: ignore[attr-defined]
    raw.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert pair.link is not None
    pair.link.slow_reader(True, pair.out)  # the proxy stops reading what the server sends
    noise = random.Random(35).randbytes(256 * 1024)  # incompressible (permessage-deflate)

    def send(n: int) -> asyncio.Task[object]:
        message = n.to_bytes(4, "big") + noise
        if how == "broadcast":
            return asyncio.create_task(sessions.broadcast(message))
        return asyncio.create_task(session.send(message))

    for n in range(1, 200):  # until a send has to wait for the reader (kernel buffers grow)
        task = send(n)
        await asyncio.sleep(0.02)
        if not task.done():
            break
    else:
        raise AssertionError("the reader never held a send up")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    later = [send(n + 1), send(n + 2)]
    pair.link.slow_reader(False, pair.out)
    await asyncio.wait_for(asyncio.gather(*later), 10)
    received = []
    for _ in range(n + 2):
        message = await asyncio.wait_for(pair.peer.recv(), 5)
        assert isinstance(message, bytes)
        received.append(int.from_bytes(message[:4], "big"))
    assert received == list(range(1, n + 3))
    assert session.last_sent == n + 2
    await session.close()


async def test_close_all_ends_every_session_at_shutdown(h: Harness) -> None:
    expired: list[str] = []

    async def on_expire(session: wsstate.Session) -> None:
        await asyncio.sleep(0)
        expired.append(session.id)

    sessions = Sessions(grace=30.0, on_expire=on_expire)
    live = await h.pair("server")
    gone = await h.pair("server")
    a = sessions.attach("a", live.conn)
    b = sessions.attach("b", gone.conn)
    await gone.peer.close()
    await eventually(lambda: b.state is State.DETACHED)  # in its grace window
    assert await sessions.close_all() == 2
    assert sorted(expired) == ["a", "b"]  # the coroutines finished: close_all waited
    assert (a.state, b.state) == (State.CLOSED, State.CLOSED)
    assert live.conn.state is wsstate.State.CLOSED  # the session's connection closed too
    assert len(sessions) == 0
    assert await sessions.close_all() == 0


# -- found by a hunt (session 18): each seen failing on the old code -------------------


async def test_an_earlier_sessions_beacon_leaves_the_next_session_under_its_id(
    h: Harness,
) -> None:
    # Generations restarted at 1 for every session: the unloading page's beacon of an
    # expired session (generation 1) matched the new session's first generation and
    # closed it (1001, on_expire fired for it).
    h.wsstate_info = True  # the grace runs out: a row logged at INFO
    clock = ManualClock()
    expired: list[tuple[str, int]] = []
    sessions = Sessions(
        grace=30, on_expire=lambda s: expired.append((s.id, s.generation)), clock=clock
    )
    first = await h.pair("server")
    old = sessions.attach("tab-1", first.conn)
    await old.send("hello")
    beacon_generation = old.generation  # what the old page sends with its beacon
    await first.conn.close()
    await eventually(lambda: old.state is State.DETACHED)
    clock.advance(31)  # the grace runs out: the old session ends
    assert (old.state, expired) == (State.CLOSED, [("tab-1", 1)])
    second = await h.pair("server")
    new = sessions.attach("tab-1", second.conn, last_seen=1)  # the reloaded page
    assert new is not old
    assert new.generation > beacon_generation
    assert sessions.page_close("tab-1", generation=beacon_generation)  # a no-op
    await asyncio.sleep(0.1)
    assert (new.state, second.conn.closed, expired) == (State.ATTACHED, False, [("tab-1", 1)])
    assert sessions.page_close("tab-1", generation=new.generation)  # its own ends it
    assert new.state is State.CLOSED


async def test_a_superseded_connection_attached_again_is_refused_at_the_call(
    h: Harness,
) -> None:
    # attach(p, c1), attach(p, c2), attach(p, c1): c1's close (it was superseded) then
    # fed detach twice (its on_close registered twice): ImpossibleEvent at ERROR.
    sessions = Sessions(grace=30)
    one, two = await h.pair("server"), await h.pair("server")
    session = sessions.attach("p", one.conn)
    sessions.attach("p", two.conn)  # one is superseded: closed 1000
    with pytest.raises(ValueError, match="earlier generation of session 'p'"):
        sessions.attach("p", one.conn)
    await one.conn.wait_closed()
    await asyncio.sleep(0.05)
    assert (session.state, session.connection, session.generation) == (State.ATTACHED, two.conn, 2)
    assert not two.conn.closed
    assert await session.close()
