"""What a framework author needs besides the table (issue 19, acceptance 4), on every
transport wsstate guards (websockets server and client, Starlette on uvicorn's
three implementations, aiohttp and tornado server and client), over real sockets:

* ``conn.data``: the application's own dict, created on first use;
* ``conn.request``: path, query, headers, remote address, subprotocol, the same
  shape everywhere; ``conn.name``; ``conn.transport``;
* ``Hub.close(code, reason)`` and the hub's thread contract;
* ``wsstate.counters``: process-wide totals for a metrics exporter.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from support.harness import WS_DEFAULTS, Harness, received
from support.transports import TRANSPORTS, Transport, open_pair, serve_handshakes
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

import wsstate
from wsstate import ClosedBy, GuardedConnection, Request, State

EVERY = pytest.mark.parametrize("transport", TRANSPORTS, ids=str)
SERVERS = pytest.mark.parametrize(
    "transport", [t for t in TRANSPORTS if t.role == "server"], ids=str
)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # uvicorn's legacy one


@EVERY
async def test_data_is_the_applications_and_created_lazily(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    assert conn._data is None  # nothing allocated until used
    conn.data["user"] = "ada"
    assert conn.data == {"user": "ada"}
    seen: list[Any] = []
    conn.on_close(lambda c: seen.append(c.data.get("user")))
    with pytest.raises(AttributeError):
        conn.user = "x"  # type: ignore[attr-defined]  # __slots__: data is the place
    await conn.close()
    await asyncio.sleep(0)
    assert seen == ["ada"]
    assert conn.data["user"] == "ada"  # kept after CLOSED


@EVERY
async def test_request_details_and_name(h: Harness, transport: Transport) -> None:
    peer = {"additional_headers": {"X-Trial": "19"}} if transport.role == "server" else None
    pair = await open_pair(h, transport, **({"peer": peer} if peer else {}))
    conn = pair.conn
    request = conn.request
    assert isinstance(request, Request)
    assert request.path.startswith("/")
    assert "?" not in request.path
    if transport.family == "asgi":
        assert request.path == "/guarded"
        assert request.query.startswith("id=")
    else:
        assert (request.path, request.query) == ("/", "")
    assert request.header("HOST") is not None  # case-insensitive
    if transport.role == "server":
        assert request.header("x-trial") == "19"
        assert request.header_values("X-Trial") == ["19"]
    assert request.remote_address is not None
    host, port = request.remote_address
    assert host == "127.0.0.1"
    assert isinstance(port, int)
    assert port > 0
    assert request.subprotocol is None
    assert conn.name.startswith("ws")
    assert conn.name in repr(conn)
    await conn.close()
    assert conn.request == request  # still readable once CLOSED


@EVERY
async def test_request_subprotocol(h: Harness, transport: Transport) -> None:
    if transport.family != "asgi":  # the native endpoint negotiates
        pair = await open_pair(
            h, transport, ws={"subprotocols": ["chat"]}, peer={"subprotocols": ["chat", "x"]}
        )
        assert pair.conn.request.subprotocol == "chat"
        assert pair.peer.subprotocol == "chat"
        await pair.conn.close()
        assert pair.conn.request.subprotocol == "chat"  # once CLOSED too
        return
    conns: asyncio.Queue[GuardedConnection] = asyncio.Queue()

    async def endpoint(native: Any) -> None:
        conn = wsstate.guard(native, name="chat-endpoint")
        assert await conn.accept("chat")
        await conns.put(conn)
        await conn.wait_closed()

    served = await serve_handshakes(h, transport, endpoint)
    async with ws_connect(
        f"{served.url()}?room=1", subprotocols=[Subprotocol("chat")], **WS_DEFAULTS
    ) as ws:
        conn = await asyncio.wait_for(conns.get(), 2.0)
        h.track(conn)
        assert ws.subprotocol == "chat"
        assert conn.request.subprotocol == "chat"
        assert conn.request.query == "room=1"
        assert conn.name == "chat-endpoint"
        await conn.close()


@pytest.mark.parametrize("transport", [t for t in TRANSPORTS if t.family == "asgi"], ids=str)
async def test_accept_refuses_a_subprotocol_the_client_did_not_offer(
    h: Harness, transport: Transport
) -> None:
    """Checked at the call, before anything reaches the server: it used to be sent
    (``b'chat'`` by its repr), the server's side OPEN, the client's handshake failed."""
    refused: asyncio.Queue[list[str]] = asyncio.Queue()

    async def endpoint(native: Any) -> None:
        conn = wsstate.guard(native, name="chat-endpoint")
        errors = []
        for bad in (b"chat", 123, ["chat"], "bad proto", "unoffered"):
            try:
                await conn.accept(bad)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            assert conn.state is State.CONNECTING  # nothing changed
        assert await conn.accept("v2")
        await refused.put(errors)
        await conn.wait_closed()

    served = await serve_handshakes(h, transport, endpoint)
    offered = [Subprotocol("chat"), Subprotocol("v2")]
    async with ws_connect(served.url(), subprotocols=offered, **WS_DEFAULTS) as ws:
        errors = await asyncio.wait_for(refused.get(), 2.0)
        assert ws.subprotocol == "v2"
        await ws.close()
    assert [e.split(":")[0] for e in errors] == [
        "TypeError",
        "TypeError",
        "TypeError",
        "ValueError",
        "ValueError",
    ]
    assert "the client offered 'chat', 'v2'" in errors[-1]


@SERVERS
async def test_request_query_on_a_server(h: Harness, transport: Transport) -> None:
    """A server's query and repeated headers, as the client sent them."""
    conns: asyncio.Queue[GuardedConnection] = asyncio.Queue()

    async def endpoint(native: Any) -> None:
        conn = wsstate.guard(native, name="q")
        if transport.family == "asgi":
            await conn.accept()
        await conns.put(conn)
        await conn.wait_closed()

    served = await serve_handshakes(h, transport, endpoint)
    url = f"{served.url()}?room=1&who=a%20b"
    async with ws_connect(url, additional_headers=[("X-Two", "1"), ("X-Two", "2")], **WS_DEFAULTS):
        conn = await asyncio.wait_for(conns.get(), 2.0)
        h.track(conn)
        request = conn.request
        assert (request.path, request.query) == (served.path, "room=1&who=a%20b")
        assert request.header_values("x-two") == ["1", "2"]
        await conn.close()
    assert conn.request == request


@EVERY
async def test_hub_close_closes_every_member_once(h: Harness, transport: Transport) -> None:
    pairs = [await open_pair(h, transport) for _ in range(3)]
    hub = wsstate.Hub()
    for pair in pairs:
        hub.add(pair.conn)
    with pytest.raises(wsstate.InvalidCloseCode):
        await hub.close(1005)  # validated first: nothing closed
    assert all(p.conn.state is State.OPEN for p in pairs)
    peers = [asyncio.create_task(received(p.peer)) for p in pairs]
    assert await hub.close(1001, "shutting down") == 3
    for pair in pairs:
        assert pair.conn.state is State.CLOSED
        assert (pair.conn.close_code, pair.conn.closed_by) == (1001, ClosedBy.LOCAL)
    await asyncio.wait_for(asyncio.gather(*peers), 2.0)
    assert [p.peer.close_code for p in pairs] == [1001] * 3
    assert len(hub) == 0
    assert await hub.close() == 0  # idempotent


@EVERY
async def test_hub_thread_contract(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    hub = wsstate.Hub()
    hub.add(pair.conn)
    errors: list[BaseException] = []
    results: list[object] = []

    def worker() -> None:
        # Loop-only methods refuse another thread at once, nothing changed ...
        calls: tuple[Callable[[], object], ...] = (
            lambda: hub.add(pair.conn),
            lambda: hub.discard(pair.conn),
        )
        for call in calls:
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)
        # ... the snapshot reads are fine, and broadcast_threadsafe queues.
        results.append((len(hub), pair.conn in hub, list(hub) == [pair.conn]))
        results.append(hub.broadcast_threadsafe("from a thread"))

    thread = threading.Thread(target=worker)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert len(errors) == 2
    assert all("event loop" in str(e) for e in errors)
    assert results == [(1, True, True), True]
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "from a thread"
    with pytest.raises(TypeError):
        hub.broadcast_threadsafe(1)  # type: ignore[arg-type]
    await hub.close()
    assert wsstate.Hub().broadcast_threadsafe("no member yet") is False


@EVERY
async def test_counters_aggregate_across_connections(h: Harness, transport: Transport) -> None:
    before = wsstate.counters.snapshot()
    a = await open_pair(h, transport)
    b = await open_pair(h, transport)
    assert wsstate.counters.guarded - before["guarded"] == 2
    assert wsstate.counters.open - before["open"] == 2

    def failing(_: GuardedConnection) -> None:
        raise RuntimeError("the application's bug")

    h.wsstate_errors = 1  # the failing callback, logged once
    b.conn.on_close(failing)
    await a.conn.close()
    assert await a.conn.try_send("late") is False  # a dropped send
    await b.peer.close()  # closed by the peer
    await asyncio.wait_for(b.conn.wait_closed(), 2.0)
    await asyncio.sleep(0)
    after = wsstate.counters.snapshot()
    delta = {key: after[key] - before[key] for key in after}
    assert delta["closed"] == 2
    assert delta["open"] == 0
    assert delta["closed_local"] == 1
    assert delta["closed_remote"] + delta["closed_transport"] == 1
    assert delta["dropped"] >= 1
    assert delta["callback_errors"] == 1
    assert all(isinstance(v, int) for v in after.values())


@pytest.mark.parametrize("transport", [t for t in TRANSPORTS if t.family == "tornado"], ids=str)
async def test_a_guarded_tornado_socket_sends_without_nagle(
    h: Harness, transport: Transport
) -> None:
    # tornado leaves Nagle's algorithm on (asyncio's transports do not): guarded,
    # a small message or the Close frame must not wait for a delayed ACK.
    import socket

    pair = await open_pair(h, transport)
    conn = pair.conn
    sock = conn.transport._stream.socket  # type: ignore[attr-defined]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    await conn.close()
