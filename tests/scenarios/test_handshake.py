"""The opening handshake (row 14): the peer leaves during it, or the application refuses it.

Which side can be interrupted differs per transport: a server's handshake (the
peer leaves before the application is reached, or after its request), a
client's ``connect()``, and over ASGI an endpoint that guards the connection
before ``accept()`` (and may refuse it, or time out).
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocket
from support.harness import GUARD_DEFAULTS, OPEN_TIMEOUT, SLACK, WS_DEFAULTS, Harness, eventually
from support.transports import (
    Transport,
    knock,
    leave,
    raw_connection,
    serve_handshakes,
    start_site,
    upgrade_request,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidStatus

import wsstate
from wsstate import ClosedBy, GuardedConnection, State


@pytest.mark.scenario(14)
@pytest.mark.transports("server")
@pytest.mark.parametrize("sent", ["nothing", "partial request"])
async def test_14_peer_leaves_before_the_app_is_reached(
    h: Harness, transport: Transport, sent: str
) -> None:
    # The peer connects and resets before its request is complete: the application
    # is never called, and nothing is logged above INFO (the harness checks it).
    reached: list[object] = []

    async def endpoint(websocket: object) -> None:
        reached.append(websocket)

    served = await serve_handshakes(h, transport, endpoint)
    await knock(served, upgrade_request(served.path)[: 0 if sent == "nothing" else 40], "reset")
    assert reached == []


@pytest.mark.scenario(14)
@pytest.mark.transports("ws-server")  # websockets guards a connection once it is open
@pytest.mark.parametrize("then", ["reset", "fin"])
async def test_14_server_peer_leaves_after_its_request(
    h: Harness, transport: Transport, then: str
) -> None:
    # The whole request, then the peer leaves before (RST) or after (FIN) the 101:
    # reached or not, at most one teardown, quiet.
    reached: list[GuardedConnection] = []

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws, **GUARD_DEFAULTS)
        h.track(conn)
        reached.append(conn)
        got = [message async for message in conn]  # ends quietly
        assert got == []
        assert await conn.try_send("too late") is False
        assert await conn.close() is False

    served = await serve_handshakes(h, transport, handler)
    await knock(served, upgrade_request(), then)
    for conn in reached:
        await asyncio.wait_for(conn.wait_closed(), 1.0)
        assert conn.closed_by in (ClosedBy.TRANSPORT, ClosedBy.REMOTE)
        assert not conn.clean


@pytest.mark.scenario(14)
@pytest.mark.transports("ws-client")  # a client's connect()
@pytest.mark.parametrize("fault", ["reset", "fin", "blackhole"])
async def test_14_client_handshake_fails(h: Harness, transport: Transport, fault: str) -> None:
    # Client side: connect() through a proxy that breaks the handshake.
    async def never(ws: ServerConnection) -> None:
        raise AssertionError("no handshake can complete")

    server = await h.serve(never)
    proxy = await h.proxy(server)
    if fault == "blackhole":
        proxy.blackhole()
    elif fault == "reset":
        await proxy.reset(new=True)
    else:
        await proxy.fin(new=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(wsstate.HandshakeFailed) as info:
        async with wsstate.connect(proxy.url, **GUARD_DEFAULTS):
            pytest.fail("connected")
    assert loop.time() - start <= OPEN_TIMEOUT + SLACK
    assert info.value.__cause__ is not None  # the transport's own exception, kept
    assert isinstance(info.value, wsstate.WSStateError)
    proxy.heal()


@pytest.mark.scenario(14)
@pytest.mark.transports("asgi")  # guarded before accept()
@pytest.mark.parametrize("then", ["reset", "fin"])
@pytest.mark.parametrize("app", ["accepts late", "never accepts"])
async def test_14_peer_leaves_before_accept(
    h: Harness, transport: Transport, then: str, app: str
) -> None:
    # The endpoint guards the socket before accept(); the client sends the whole
    # upgrade request and leaves before the server's answer. The guarded
    # connection notices by itself (its reader), once; a late accept() reports
    # the peer gone; an endpoint that never accepts returns without uvicorn's
    # "returned without completing handshake" ERROR.
    results: list[bool] = []
    done = asyncio.Event()
    reached: list[GuardedConnection] = []

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        reached.append(conn)
        try:
            await asyncio.wait_for(conn.wait_closed(), 2.0)
            if app == "accepts late":
                results.append(await conn.accept())
            assert [m async for m in conn] == []  # ends quietly
            assert await conn.try_send("too late") is False
            assert await conn.close() is False
        finally:
            done.set()

    site = await start_site(h, transport, {"/late": endpoint})
    reader, writer = await raw_connection(site.port)
    writer.write(upgrade_request("/late"))
    await writer.drain()
    await eventually(lambda: bool(reached))
    await leave(reader, writer, then)
    await asyncio.wait_for(done.wait(), 3.0)
    (conn,) = reached
    assert conn.state is State.CLOSED
    assert conn.closed_by is ClosedBy.TRANSPORT
    assert (conn.close_code, conn.clean) == (1006, False)
    assert results == ([False] if app == "accepts late" else [])
    await eventually(lambda: not site.connections)


@pytest.mark.scenario(14)
@pytest.mark.transports("asgi")  # refused before accept(): HTTP 403
@pytest.mark.parametrize("how", ["close", "abort"])
async def test_14_close_before_accept_rejects_the_handshake(
    h: Harness, transport: Transport, how: str
) -> None:
    # close() (or abort()) before accept() refuses the handshake: HTTP 403. The
    # endpoint returns at once after it, so the refusal must already be with
    # uvicorn (else: "ASGI callable returned without completing handshake", ERROR).
    outcomes: list[object] = []
    conns: list[GuardedConnection] = []

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        conns.append(conn)
        outcomes.append(await conn.close(1000, "no") if how == "close" else conn.abort())

    site = await start_site(h, transport, {"/refuse": endpoint})
    with pytest.raises(InvalidStatus) as info:
        await ws_connect(site.url("/refuse"), **WS_DEFAULTS)
    assert info.value.response.status_code == 403
    (conn,) = conns
    h.track(conn)
    assert outcomes == [True]
    assert (conn.state, conn.closed_by) == (State.CLOSED, ClosedBy.LOCAL)
    assert await conn.accept() is False  # too late: quietly False
    with pytest.raises(wsstate.ConnectionClosed):
        await conn.send("no")
    await eventually(lambda: not site.connections)


@pytest.mark.scenario(14)
@pytest.mark.transports("asgi")  # guarded before accept()
async def test_14_an_accept_cancelled_before_it_reached_the_server_may_be_retried(
    h: Harness, transport: Transport
) -> None:
    # accept() in the turn of guard() waits for the adapter's reader first: a
    # cancellation there (a cancel scope, a timeout) left the transport marked
    # accepted with nothing sent, the retry refused, the peer waiting for the open
    # timeout's 403.
    seen: dict[str, object] = {}

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):  # cancelled at its first suspension
                await conn.accept()
        seen["after cancel"] = conn.state
        seen["retry"] = await conn.accept()
        await conn.send("hello")
        await conn.wait_closed()

    site = await start_site(h, transport, {"/retry": endpoint})
    async with ws_connect(site.url("/retry"), **WS_DEFAULTS) as peer:
        assert await asyncio.wait_for(peer.recv(), 1.0) == "hello"
    assert seen == {"after cancel": State.CONNECTING, "retry": True}


@pytest.mark.scenario(14)
@pytest.mark.transports("asgi")  # the open timeout runs before accept()
async def test_14_open_timeout_refuses_the_handshake(h: Harness, transport: Transport) -> None:
    h.wsstate_info = True  # open_timeout in CONNECTING logs at INFO
    closed: list[GuardedConnection] = []

    async def endpoint(websocket: WebSocket) -> None:  # never accepts in time
        conn = wsstate.guard(websocket, **{**GUARD_DEFAULTS, "open_timeout": 0.2})
        h.track(conn)
        await conn.wait_closed()
        closed.append(conn)
        assert await conn.accept() is False

    site = await start_site(h, transport, {"/slow": endpoint})
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(InvalidStatus) as info:
        await ws_connect(site.url("/slow"), **WS_DEFAULTS)
    assert info.value.response.status_code == 403
    assert 0.2 <= loop.time() - start <= 0.2 + SLACK
    (conn,) = closed
    assert (conn.closed_by, conn.close_code, conn.clean) == (ClosedBy.TIMEOUT, 1006, False)
