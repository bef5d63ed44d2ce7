"""Rules that used to live in code, now rows of the table: real sockets, no mocks.

* a Close the transport library sends on its own is ``library_close`` (the
  application's) or ``library_close_peer_fault`` (the peer's), by its code;
* every send that times out is ``transport_stalled``: after the first, the
  table makes it a no-op in CLOSING, so the close timer still decides;
* a second ``accept()`` is ``app_accept_again``, and what ``accept()`` returns is
  the handshake row's ``return:`` effect;
* the Starlette adapter's ``websocket.disconnect`` classification is a pure
  function of the message and what we sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import IntEnum
from typing import Any

import pytest
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed as WSClosed

import wsstate
from wsstate import ClosedBy, Event, GuardedConnection, InvalidState, State
from wsstate.adapters.base import Facts
from wsstate.adapters.starlette import disconnect_facts
from wsstate.connection import PEER_FAULT_CODES, accept_event, library_close_event, loss_event
from wsstate.testing import FaultProxy
from wsstate.testing.asgi import AsgiSite
from wsstate.testing.wiretap import Direction


class _Transitions(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.taken: list[tuple[State, Event, State]] = []
        self.errors: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record)
        transition = getattr(record, "wsstate_transition", None)
        if transition is not None:
            self.taken.append(transition[1:])


@pytest.fixture
def transitions() -> Any:
    handler = _Transitions()
    logger = logging.getLogger("wsstate")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    assert not handler.errors, [r.getMessage() for r in handler.errors]


# -- the pure classifications -------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "event"),
    [
        (1000, Event.LIBRARY_CLOSE),  # a server handler returned
        (1001, Event.LIBRARY_CLOSE),  # the server shuts down
        (1011, Event.LIBRARY_CLOSE),  # a server handler raised; its keepalive gave up
        (1002, Event.LIBRARY_CLOSE_PEER_FAULT),  # protocol error
        (1003, Event.LIBRARY_CLOSE_PEER_FAULT),  # unsupported data
        (1007, Event.LIBRARY_CLOSE_PEER_FAULT),  # invalid payload
        (1009, Event.LIBRARY_CLOSE_PEER_FAULT),  # message too big
        (1008, Event.LIBRARY_CLOSE),
        (4000, Event.LIBRARY_CLOSE),
    ],
)
def test_library_close_event(code: int, event: Event) -> None:
    assert library_close_event(code) is event
    assert (code in PEER_FAULT_CODES) is (event is Event.LIBRARY_CLOSE_PEER_FAULT)


def test_loss_and_accept_events() -> None:
    assert loss_event(True) is Event.TRANSPORT_ERROR
    assert loss_event(False) is Event.TRANSPORT_EOF
    assert accept_event(False) is Event.APP_ACCEPT
    assert accept_event(True) is Event.APP_ACCEPT_AGAIN


def test_the_table_decides_who_closed() -> None:
    for state in (State.OPEN,):
        local = wsstate.TABLE[(state, Event.LIBRARY_CLOSE)]
        remote = wsstate.TABLE[(state, Event.LIBRARY_CLOSE_PEER_FAULT)]
        assert wsstate.Effect.RECORD_CLOSE_LOCAL in local.effects
        assert wsstate.Effect.RECORD_CLOSE_REMOTE in remote.effects


class _Code(IntEnum):  # servers pass their own IntEnums
    NORMAL = 1000


_OURS = (4000, "bye")

#: message, opened, requested_close, close_sent -> facts
DISCONNECTS: list[tuple[dict[str, Any], bool, bool, tuple[int, str] | None, Facts]] = [
    # The peer's Close, before ours: reported with its code, then the end of TCP.
    ({"code": 1000}, True, False, None, Facts(close_rcvd=(1000, ""), lost=True)),
    (
        {"code": 1001, "reason": "away"},
        True,
        False,
        None,
        Facts(close_rcvd=(1001, "away"), lost=True),
    ),
    ({"code": _Code.NORMAL}, True, False, None, Facts(close_rcvd=(1000, ""), lost=True)),
    ({"code": 4999, "reason": None}, True, False, None, Facts(close_rcvd=(4999, ""), lost=True)),
    # No code a Close frame may carry: a lost transport (an empty Close counts as one).
    ({"code": 1005}, True, False, None, Facts(lost=True, lost_error=True)),
    ({"code": 1006}, True, False, None, Facts(lost=True, lost_error=True)),
    ({}, True, False, None, Facts(lost=True, lost_error=True)),
    ({"code": "1000"}, True, False, None, Facts(lost=True, lost_error=True)),
    ({"code": 1015}, True, False, None, Facts(lost=True, lost_error=True)),
    # ... which is orderly once we asked to close.
    ({"code": 1006}, True, True, _OURS, Facts(lost=True)),
    # Before the handshake completed: never a Close.
    ({"code": 1000}, False, False, None, Facts(lost=True, lost_error=True)),
    ({"code": 1000}, False, True, (1000, ""), Facts(lost=True)),
    # After ours: our own code and reason repeated ends the connection in order ...
    ({"code": 4000, "reason": "bye"}, True, True, _OURS, Facts(lost=True)),
    # ... any other is the peer's Close crossing ours.
    (
        {"code": 4000, "reason": "other"},
        True,
        True,
        _OURS,
        Facts(close_rcvd=(4000, "other"), lost=True),
    ),
    ({"code": 1001}, True, True, _OURS, Facts(close_rcvd=(1001, ""), lost=True)),
]


@pytest.mark.parametrize(("message", "opened", "requested", "sent", "facts"), DISCONNECTS)
def test_disconnect_facts(
    message: dict[str, Any],
    opened: bool,
    requested: bool,
    sent: tuple[int, str] | None,
    facts: Facts,
) -> None:
    message = {"type": "websocket.disconnect", **message}
    got = disconnect_facts(message, opened=opened, requested_close=requested, close_sent=sent)
    assert got == facts
    if got.close_rcvd is not None:
        assert type(got.close_rcvd[0]) is int


# -- library closes on real sockets ----------------------------------------------------------


async def _library_fails_the_connection() -> tuple[GuardedConnection, int | None]:
    seen: asyncio.Future[GuardedConnection] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, ping_interval=None, close_timeout=0.5)
        seen.set_result(conn)
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=16) as server:
        port = server.sockets[0].getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}") as client:
            conn = await asyncio.wait_for(seen, 2.0)
            await client.send("x" * 100)  # too big for the server: websockets closes 1009
            with contextlib.suppress(WSClosed):
                await asyncio.wait_for(client.recv(), 2.0)
            code = client.close_code
        await asyncio.wait_for(conn.wait_closed(), 2.0)
    return conn, code


def test_library_close_blaming_the_peer_is_remote_with_its_code(transitions: Any) -> None:
    conn, client_saw = asyncio.run(_library_fails_the_connection())
    assert client_saw == 1009
    assert (conn.state, conn.closed_by) == (State.CLOSED, ClosedBy.REMOTE)
    # The library's own code, not a code of the row's: the table records what was sent.
    assert conn.close_code == 1009
    assert (State.OPEN, Event.LIBRARY_CLOSE_PEER_FAULT, State.CLOSED) in transitions.taken


# -- every timed-out send is a stall --------------------------------------------------------


async def _two_stalled_sends() -> tuple[GuardedConnection, list[bool], float, float]:
    seen: asyncio.Future[GuardedConnection] = asyncio.get_running_loop().create_future()
    close_timeout, write_timeout = 0.4, 0.15

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(
            ws, ping_interval=None, close_timeout=close_timeout, write_timeout=write_timeout
        )
        seen.set_result(conn)
        await conn.wait_closed()

    loop = asyncio.get_running_loop()
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with (
            FaultProxy("127.0.0.1", port) as proxy,
            ws_connect(proxy.url, compression=None, ping_interval=None) as client,
        ):
            conn = await asyncio.wait_for(seen, 2.0)
            async with asyncio.timeout(2.0):
                (pair,) = await proxy.wait_connections(1)
            pair.slow_reader(True, Direction.S2C)  # nobody reads what the server sends
            chunk = b"x" * (256 * 1024)
            # Several sends wait for the full buffer at once: all of them time out.
            sends: list[asyncio.Task[bool]] = []
            async with asyncio.timeout(5.0):
                while sum(not t.done() for t in sends) < 3:
                    sends.append(loop.create_task(conn.try_send(chunk)))
                    await asyncio.sleep(0.01)
            results = list(await asyncio.gather(*sends))
            stalled = loop.time()
            await asyncio.wait_for(conn.wait_closed(), 3.0)
            took = loop.time() - stalled
            pair.slow_reader(False, Direction.S2C)
            with contextlib.suppress(WSClosed, TimeoutError):
                await asyncio.wait_for(client.recv(), 0.5)
    return conn, results, took, close_timeout


def test_every_timed_out_send_is_a_stall_and_the_close_timer_decides(transitions: Any) -> None:
    conn, results, took, close_timeout = asyncio.run(_two_stalled_sends())
    assert results.count(False) >= 2
    stalls = [t for t in transitions.taken if t[1] is Event.TRANSPORT_STALLED]
    assert stalls[0] == (State.OPEN, Event.TRANSPORT_STALLED, State.CLOSING)
    # The later ones are fed too, and the table makes them no-ops ...
    assert (State.CLOSING, Event.TRANSPORT_STALLED, State.CLOSING) in stalls
    # ... so the 1008 Close still gets the close timeout, not an abort at once.
    assert (State.CLOSING, Event.CLOSE_TIMEOUT, State.CLOSED) in transitions.taken
    assert took >= close_timeout - 0.05
    assert (conn.closed_by, conn.close_code, conn.close_reason) == (
        ClosedBy.TIMEOUT,
        1008,
        "slow reader",
    )


# -- accept() on a real uvicorn ------------------------------------------------------------------


async def _accept_twice(impl: str) -> list[object]:
    outcomes: list[object] = []
    done = asyncio.Event()

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, ping_interval=None, close_timeout=0.5)
        outcomes.append(await conn.accept())  # the handshake row says True
        try:
            await conn.accept()  # after it
        except InvalidState as exc:
            outcomes.append(exc)
        await conn.close()
        outcomes.append(await conn.accept())  # once CLOSED: False, quietly
        done.set()

    site = AsgiSite(impl, endpoint)
    await site.start()
    try:
        async with ws_connect(f"ws://127.0.0.1:{site.port}/ws") as client:
            with contextlib.suppress(WSClosed):
                await asyncio.wait_for(client.recv(), 2.0)
        await asyncio.wait_for(done.wait(), 2.0)
    finally:
        await site.stop()
    return outcomes


@pytest.mark.parametrize("impl", ["websockets-sansio", "wsproto"])
def test_second_accept_is_app_accept_again(impl: str, transitions: Any) -> None:
    first, after, closed = asyncio.run(_accept_twice(impl))
    assert first is True
    assert isinstance(after, InvalidState)
    assert closed is False
    taken = transitions.taken
    assert (State.CONNECTING, Event.HANDSHAKE_OK, State.OPEN) in taken
    assert (State.OPEN, Event.APP_ACCEPT_AGAIN, State.OPEN) in taken
    assert (State.CLOSED, Event.APP_ACCEPT_AGAIN, State.CLOSED) in taken
