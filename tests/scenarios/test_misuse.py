"""API misuse stays loud (row 24); invalid close codes and reasons are rejected first (25).

Over ASGI the misuse also covers the time before ``accept()`` (websockets
connections are guarded once open, so "send before accept" cannot happen there),
and a RuntimeError from below wsstate that is not a closure.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import tornado.websocket
from aiohttp import web
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from support.harness import GUARD_DEFAULTS, WS_DEFAULTS, Harness, assert_peer_gone
from support.transports import Transport, native_of, open_pair, start_site
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Opcode

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.adapters.starlette import DEFAULT_MAX_QUEUE, StarletteTransport

# -- 24. API misuse: send before accept, a wrong payload type --------------------------------


WRONG_PAYLOADS: list[object] = [123, None, 1.5, {"a": 1}, ["x"], object(), [b"x"]]
#: Text no transport can send: UTF-8 cannot encode a lone surrogate.
UNENCODABLE = ["\ud800", "caf\u00e9 \udfff"]


async def assert_misuse_raises(conn: GuardedConnection) -> None:
    for bad in WRONG_PAYLOADS:
        with pytest.raises(TypeError):
            await conn.send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await conn.try_send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            conn.send_threadsafe(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await asyncio.to_thread(conn.send_threadsafe, bad)  # type: ignore[arg-type]
    for text in UNENCODABLE:
        # Raised at the call, as a wrong type is: send_threadsafe used to queue it
        # (True), then lose it on the loop with an ERROR "internal error".
        with pytest.raises(ValueError, match="encodable as UTF-8"):
            await conn.send(text)
        with pytest.raises(ValueError, match="encodable as UTF-8"):
            await conn.try_send(text)
        with pytest.raises(ValueError, match="encodable as UTF-8"):
            conn.send_threadsafe(text)
        with pytest.raises(ValueError, match="encodable as UTF-8"):
            await asyncio.to_thread(conn.send_threadsafe, text)


@pytest.mark.scenario(24)
async def test_24_a_bytes_like_payload_is_copied_when_given(
    h: Harness, transport: Transport
) -> None:
    # send_threadsafe's message is sent later, by the loop: a thread that reuses its
    # buffer once the call returned must not change what goes out (it used to).
    pair = await open_pair(h, transport)
    conn = pair.conn
    buffer = bytearray(b"first")

    def render() -> None:  # a framework's render thread, reusing one buffer
        assert conn.send_threadsafe(buffer)
        buffer[:] = b"again"
        assert conn.send_threadsafe(memoryview(buffer))
        buffer[:] = b"later"

    await asyncio.to_thread(render)
    got = [await asyncio.wait_for(pair.peer.recv(), 1.0) for _ in range(2)]
    assert got == [b"first", b"again"]
    assert await conn.close() is True


@pytest.mark.scenario(24)
async def test_24_wrong_payload_type_raises_at_once(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    await assert_misuse_raises(conn)
    hub = wsstate.Hub()
    hub.add(conn)
    for bad in [*WRONG_PAYLOADS, *UNENCODABLE]:
        error = ValueError if bad in UNENCODABLE else TypeError
        with pytest.raises(error):
            await hub.broadcast(bad)  # type: ignore[arg-type]
        with pytest.raises(error):
            hub.broadcast_threadsafe(bad)  # type: ignore[arg-type]
        with pytest.raises(error):
            await asyncio.to_thread(hub.broadcast_threadsafe, bad)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # what a broadcast_threadsafe queued would run by now
    assert conn.state is State.OPEN
    assert (conn.stats.sent, conn.stats.dropped, conn.stats.threadsafe_failures) == (0, 0, 0)
    await conn.send("still fine")
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "still fine"
    assert [f.opcode for f in pair.frames_out() if f.opcode in (Opcode.TEXT, Opcode.BINARY)] == [
        Opcode.TEXT
    ]
    assert await conn.close() is True
    await assert_misuse_raises(conn)  # in every state


@pytest.mark.scenario(24)
async def test_24_a_call_from_another_event_loop_raises_at_once(
    h: Harness, transport: Transport
) -> None:
    # Another thread's loop: send wrote from the wrong thread, close() sent its
    # Close and then failed with asyncio's "attached to a different loop".
    pair = await open_pair(h, transport)
    conn = pair.conn
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "send": lambda: conn.send("from elsewhere"),
        "try_send": lambda: conn.try_send(b"from elsewhere"),
        "recv": conn.recv,
        "ping": conn.ping,
        "close": lambda: conn.close(4000, "from elsewhere"),
        "wait_closed": conn.wait_closed,
        "accept": conn.accept,  # open already: InvalidState from its own loop
    }

    def elsewhere() -> list[str]:
        refused = []
        for name, call in calls.items():
            with pytest.raises(RuntimeError, match="event loop") as info:
                asyncio.run(call())  # type: ignore[arg-type]
            assert "another thread" in str(info.value)
            refused.append(name)
        return refused

    assert await asyncio.to_thread(elsewhere) == list(calls)
    assert conn.state is State.OPEN
    assert (conn.stats.sent, conn.stats.dropped) == (0, 0)
    await conn.send("from its loop")  # untouched
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "from its loop"
    # Nothing else reached the wire: one data frame, no Close.
    sent = [f.opcode for f in pair.frames_out() if f.opcode is not Opcode.PING]
    assert sent == [Opcode.TEXT]
    assert await conn.close() is True


@pytest.mark.scenario(24)
# An ASGI WebSocket names no event loop: the connection's own calls are checked
# (the test above), its guard() cannot be.
@pytest.mark.transports("websockets", "aiohttp", "tornado")
async def test_24_guard_from_another_event_loop_raises_and_changes_nothing(
    h: Harness, transport: Transport
) -> None:
    guarded: asyncio.Queue[GuardedConnection] = asyncio.Queue()

    async def endpoint(native: object) -> None:
        async def elsewhere() -> None:
            wsstate.guard(native, **GUARD_DEFAULTS)

        with pytest.raises(RuntimeError, match="event loop running the connection"):
            await asyncio.to_thread(asyncio.run, elsewhere())
        conn = wsstate.guard(native, **GUARD_DEFAULTS)  # untouched: guarded here
        h.track(conn)
        await guarded.put(conn)
        await conn.wait_closed()

    from support.transports import serve_handshakes

    served = await serve_handshakes(h, transport, endpoint)
    async with ws_connect(served.url(), **WS_DEFAULTS) as peer:
        conn = await asyncio.wait_for(guarded.get(), 2.0)
        await peer.send("guarded on its own loop")
        assert await asyncio.wait_for(conn.recv(), 1.0) == "guarded on its own loop"
        await conn.close()
    assert (conn.close_code, conn.clean) == (1000, True)


@pytest.mark.scenario(24)
@pytest.mark.transports("asgi")  # "send before accept": websockets guards open connections
async def test_24_misuse_before_accept_raises_at_once(h: Harness, transport: Transport) -> None:
    checked: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        # Before accept: send, receive and ping are API misuse, raised at once.
        assert conn.state is State.CONNECTING
        for operation in (conn.send("early"), conn.try_send(b"early"), conn.recv(), conn.ping()):
            with pytest.raises(wsstate.InvalidState):
                await operation
        assert isinstance(wsstate.InvalidState("x"), RuntimeError)
        await assert_misuse_raises(conn)
        assert await conn.accept() is True
        with pytest.raises(wsstate.InvalidState):  # twice
            await conn.accept()
        await assert_misuse_raises(conn)
        assert (conn.stats.sent, conn.stats.dropped, conn.stats.threadsafe_failures) == (0, 0, 0)
        await conn.send("still fine")
        checked.append("before accept")
        await conn.wait_closed()

    async def accepted_first(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        assert conn.state is State.OPEN
        with pytest.raises(wsstate.InvalidState):  # accepted already
            await conn.accept()
        await conn.send("fine too")
        checked.append("after accept")
        await conn.wait_closed()

    site = await start_site(h, transport, {"/misuse": endpoint, "/accepted": accepted_first})
    for path, expected in (("/misuse", "still fine"), ("/accepted", "fine too")):
        async with ws_connect(site.url(path), **WS_DEFAULTS) as client:
            assert await asyncio.wait_for(client.recv(), 1.0) == expected
    assert checked == ["before accept", "after accept"]
    with pytest.raises(TypeError, match="does not support"):
        wsstate.guard(object())


def buggy(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware with a bug: its send raises RuntimeError for one payload."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def buggy_send(message: Message) -> None:
            if message.get("text") == "boom":
                raise RuntimeError("a bug below wsstate")
            await send(message)

        await app(scope, receive, buggy_send)

    return wrapped


@pytest.mark.scenario(24)
@pytest.mark.transports("asgi")  # a middleware between the server and the application
async def test_24_runtime_error_from_below_stays_loud(h: Harness, transport: Transport) -> None:
    # A RuntimeError is a closure only if the connection is closed: a bug in the
    # stack below wsstate is raised, never swallowed as a disconnect.
    site = await start_site(h, transport, middleware=buggy)
    pair = await site.pair()
    conn = pair.conn
    with pytest.raises(RuntimeError, match="a bug below wsstate"):
        await conn.send("boom")
    with pytest.raises(RuntimeError, match="a bug below wsstate"):
        await conn.try_send("boom")
    assert conn.state is State.OPEN
    await conn.send("fine")
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "fine"
    # Still bounded: the reader stops at its queue limit, as before.
    for i in range(3 * DEFAULT_MAX_QUEUE):
        await pair.peer.send(f"unread {i}")
    await asyncio.sleep(0.1)
    assert isinstance(conn.transport, StarletteTransport)
    assert conn.transport.queued == DEFAULT_MAX_QUEUE
    await conn.close()


# -- 25. reserved or invalid close codes and reasons ---------------------------------------


INVALID_CLOSES: list[tuple[object, object, type[wsstate.InvalidCloseArgs]]] = [
    *[
        (code, "", wsstate.InvalidCloseCode)
        for code in (1005, 1006, 1015, 999, 5000, 1004, 2999, 0, -1, 1016, 65536, "1000", True)
    ],
    (1000, "x" * 124, wsstate.InvalidCloseReason),
    (1000, "é" * 62, wsstate.InvalidCloseReason),  # 62 characters, 124 bytes
    (1000, "\ud800", wsstate.InvalidCloseReason),  # a lone surrogate
    (1000, "ok \udfff", wsstate.InvalidCloseReason),
    (1000, b"bytes", wsstate.InvalidCloseReason),
]


@pytest.mark.scenario(25)
async def test_25_invalid_close_rejected_before_any_state_change(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    for code, reason, error in INVALID_CLOSES:
        with pytest.raises(error) as info:
            await conn.close(code, reason)  # type: ignore[arg-type]
        assert isinstance(info.value, ValueError), (code, reason)
        assert conn.state is State.OPEN, (code, reason)
        assert (conn.closed_by, conn.close_code, conn.close_reason) == (None, None, None)
    await asyncio.sleep(0.05)
    assert [f for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == []  # nothing sent
    # Still open and usable.
    assert await conn.try_send("still open") is True
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "still open"
    assert await conn.close(1000, "x" * 61 + "é" * 31) is True  # 123 bytes: the limit
    for code, reason, error in INVALID_CLOSES:  # rejected even after close
        with pytest.raises(error):
            await conn.close(code, reason)  # type: ignore[arg-type]
    assert_peer_gone(pair, closed_by=ClosedBy.LOCAL, clean=transport.local_close_clean, code=1000)
    assert [f.close_code for f in pair.frames_out() if f.opcode is Opcode.CLOSE] == [1000]


@pytest.mark.scenario(25)
@pytest.mark.transports("asgi")  # guarded before accept()
async def test_25_invalid_close_before_accept(h: Harness, transport: Transport) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        for code, reason, error in INVALID_CLOSES:
            with pytest.raises(error):
                await conn.close(code, reason)  # type: ignore[arg-type]
        assert conn.state is State.CONNECTING  # untouched: the handshake goes on
        assert await conn.accept() is True
        await conn.send("accepted")
        await conn.wait_closed()

    site = await start_site(h, transport, {"/ep": endpoint})
    async with ws_connect(site.url("/ep"), **WS_DEFAULTS) as client:
        assert await asyncio.wait_for(client.recv(), 1.0) == "accepted"


# -- 24. misuse the issue #19 trial found: each raised by the call that made it ----------------


@pytest.mark.scenario(24)
async def test_24_concurrent_recv_raises_ours_not_the_transports(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    conn = pair.conn
    first = asyncio.create_task(conn.recv())
    await asyncio.sleep(0.05)  # the first recv() waits
    with pytest.raises(wsstate.ConcurrentRecv) as info:
        await conn.recv()
    assert isinstance(info.value, wsstate.InvalidState)
    assert type(info.value).__module__ == "wsstate.errors"
    with pytest.raises(wsstate.ConcurrentRecv):  # async for is a recv() too
        async for _ in conn:
            pass
    await pair.peer.send("one")
    assert await asyncio.wait_for(first, 1.0) == "one"
    await pair.peer.send("two")
    assert await asyncio.wait_for(conn.recv(), 1.0) == "two"  # the flag is cleared
    assert conn.state is State.OPEN
    await conn.close()


@pytest.mark.scenario(24)
async def test_24_non_callable_on_close_raises_at_the_call(
    h: Harness, transport: Transport
) -> None:
    pair = await open_pair(h, transport)
    for bad in (5, None, "callback"):
        with pytest.raises(TypeError, match="on_close"):
            pair.conn.on_close(bad)  # type: ignore[arg-type]
    await pair.conn.close()  # nothing was registered: no ERROR at close time
    assert pair.conn.stats.callback_errors == 0


@pytest.mark.scenario(24)
@pytest.mark.transports("server")  # the native object is handed to the endpoint
async def test_24_second_guard_of_one_socket_raises(h: Harness, transport: Transport) -> None:
    natives: asyncio.Queue[object] = asyncio.Queue()

    async def endpoint(native: object) -> None:
        conn = wsstate.guard(native, **GUARD_DEFAULTS)
        if transport.family == "asgi":
            await conn.accept()
        with pytest.raises(wsstate.AlreadyGuarded):
            wsstate.guard(native)
        await natives.put(conn)
        await conn.wait_closed()
        with pytest.raises(wsstate.AlreadyGuarded):  # once closed too
            wsstate.guard(native)
        await natives.put(True)

    from support.transports import serve_handshakes

    served = await serve_handshakes(h, transport, endpoint)
    async with ws_connect(served.url(), **WS_DEFAULTS) as peer:
        conn = await asyncio.wait_for(natives.get(), 2.0)
        assert isinstance(conn, GuardedConnection)
        h.track(conn)
        await peer.send("still guarded once")
        assert await asyncio.wait_for(conn.recv(), 1.0) == "still guarded once"
        await conn.close()
    assert await asyncio.wait_for(natives.get(), 2.0) is True


@pytest.mark.scenario(24)
@pytest.mark.transports("client")
async def test_24_second_guard_of_a_client_raises(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    native = native_of(pair.conn)
    with pytest.raises(wsstate.AlreadyGuarded):
        wsstate.guard(native)
    await pair.peer.send("still guarded once")
    assert await asyncio.wait_for(pair.conn.recv(), 1.0) == "still guarded once"
    await pair.conn.close()
    with pytest.raises(wsstate.AlreadyGuarded):  # once closed too
        wsstate.guard(native)


def raw_calls(native: Any) -> list[tuple[str, Callable[[], Awaitable[object] | object]]]:
    """The native socket's own send and receive calls, which a guard refuses."""
    if isinstance(native, WebSocket):
        return [
            ("send_text", lambda: native.send_text("bypass")),
            ("send_bytes", lambda: native.send_bytes(b"bypass")),
            ("receive_text", lambda: native.receive_text()),
            ("close", lambda: native.close()),
        ]
    if isinstance(native, web.WebSocketResponse | aiohttp.ClientWebSocketResponse):

        async def iterate() -> None:
            async for _ in native:
                pass

        return [
            ("send_str", lambda: native.send_str("bypass")),
            ("send_bytes", lambda: native.send_bytes(b"bypass")),
            ("send_json", lambda: native.send_json({"a": 1})),
            ("send_frame", lambda: native.send_frame(b"bypass", aiohttp.WSMsgType.TEXT)),
            ("receive", lambda: native.receive()),
            ("receive_str", lambda: native.receive_str()),
            ("async for", iterate),
        ]
    calls: list[tuple[str, Callable[[], Awaitable[object] | object]]] = [
        ("write_message", lambda: native.write_message("bypass")),
        ("write_message binary", lambda: native.write_message(b"bypass", binary=True)),
    ]
    if isinstance(native, tornado.websocket.WebSocketClientConnection):
        calls.append(("read_message", lambda: native.read_message()))
    return calls


async def called(call: Callable[[], Awaitable[object] | object]) -> None:
    """Make the call, and await what it returns if that is awaitable."""
    result = call()
    if inspect.isawaitable(result):
        await result


@pytest.mark.scenario(24)
@pytest.mark.transports("asgi", "aiohttp", "tornado")
async def test_24_raw_calls_on_a_guarded_socket_raise(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    native = native_of(pair.conn)
    calls = raw_calls(native)
    for name, call in calls:
        with pytest.raises(wsstate.InvalidState, match="guarded by wsstate"):
            await called(call)
        assert pair.conn.state is State.OPEN, name
    await pair.conn.send("through the guard")
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "through the guard"
    assert [f.opcode for f in pair.frames_out() if f.opcode in (Opcode.TEXT, Opcode.BINARY)] == [
        Opcode.TEXT
    ]  # only the guarded send reached the wire
    await pair.peer.send("to the guard")
    assert await asyncio.wait_for(pair.conn.recv(), 1.0) == "to the guard"
    await pair.conn.close()
    for name, call in calls:  # once closed too: the guard's error, not the transport's
        if name == "close":
            continue
        with pytest.raises(wsstate.InvalidState, match="guarded by wsstate"):
            await called(call)


@pytest.mark.scenario(24)
async def test_24_hub_add_of_a_non_connection_raises(h: Harness, transport: Transport) -> None:
    pair = await open_pair(h, transport)
    hub = wsstate.Hub()
    adapter = pair.conn.transport
    native = getattr(adapter, "websocket", None) or getattr(adapter, "connection", None)
    for bad in (object(), native or adapter, adapter, None, "conn"):
        with pytest.raises(TypeError, match="GuardedConnection"):
            hub.add(bad)  # type: ignore[arg-type]
    assert len(hub) == 0
    hub.add(pair.conn)
    assert pair.conn in hub
    await pair.conn.close()
    assert len(hub) == 0
