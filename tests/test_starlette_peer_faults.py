"""A raw peer that breaks the WebSocket protocol, against a guarded Starlette endpoint
on each of uvicorn's implementations (docs/starlette.md, "a peer's protocol violation").

uvicorn fails such a connection itself: its Close 1002 (a protocol violation) or
1007 (invalid UTF-8 in a text message), or 1009 (a message over ``ws_max_size``),
then the end of TCP. wsstate reports it as websockets' own server does: the
library's close blaming the peer (``library_close_peer_fault``): ``close_code``
the library's code, ``closed_by`` REMOTE, not clean. Each implementation shows it
differently, and only the server's protocol tells it from the peer's own Close:

* ``websockets`` (legacy): its ``websocket.disconnect`` says 1006 (its Close went,
  no Close came back to the cancelled reader); the adapter sees its Close when the
  data transfer ends (:func:`~wsstate.adapters.starlette.server_closing_facts`);
* ``websockets-sansio``: the disconnect carries its Close's code and reason, and its
  sans-I/O protocol received no Close (``close_rcvd``);
* ``wsproto``: the disconnect carries wsproto's code and parser message, and wsproto
  is still OPEN: it received no Close, and uvicorn sent none either (TCP just ends).

The peer's own Close with the same codes stays the peer's (clean). The pure
classification at the disconnect is table-driven below
(:func:`~wsstate.adapters.starlette.disconnect_facts` with ``peer_closed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from support.asgi import IMPLS, Site
from support.harness import GUARD_DEFAULTS, Harness, eventually
from support.transports import raw_connection, upgrade_request
from test_aiohttp_reading import BINARY, CLOSE, CONTINUATION, PING, TEXT, frame, read_frame

import wsstate
from wsstate import ClosedBy, GuardedConnection, State
from wsstate.adapters import starlette as adapter_module
from wsstate.adapters.base import Facts
from wsstate.adapters.starlette import DEFAULT_MAX_QUEUE, StarletteTransport, disconnect_facts
from wsstate.connection import PEER_FAULT_CODES

# websockets' legacy server (under uvicorn's "websockets") warns about its handler.
pytestmark = pytest.mark.filterwarnings("ignore:remove second argument of ws_handler")


@dataclass(frozen=True)
class Fault:
    """Bytes a peer sends after a valid message, and the code the server fails it with."""

    name: str
    data: bytes
    code: int


FAULTS = [
    Fault("reserved opcode", frame(0x3, b"x"), 1002),
    Fault("RSV1 without extension", frame(TEXT, b"hello", rsv1=True), 1002),
    Fault("fragmented ping", frame(PING, b"p", fin=False), 1002),
    Fault("126-byte ping", frame(PING, b"p" * 126), 1002),
    Fault("unmasked frame", frame(TEXT, b"hello", masked=False), 1002),
    Fault("stray continuation", frame(CONTINUATION, b"x"), 1002),
    Fault("invalid UTF-8", frame(TEXT, b"\xff\xfe"), 1007),
    Fault("UTF-8 cut short", frame(TEXT, b"ab\xc3"), 1007),
    Fault(
        "invalid UTF-8 at the end of fragments",
        frame(TEXT, b"ab\xc3", fin=False) + frame(CONTINUATION, b"\xa9c\xe2\x82"),
        1007,
    ),
    Fault(
        "invalid UTF-8 in the first fragment",
        frame(TEXT, b"\xff", fin=False) + frame(CONTINUATION, b"ok"),
        1007,
    ),
]
#: What uvicorn puts on the wire when it fails a connection: its Close (legacy
#: websockets, websockets-sansio) or nothing at all (wsproto: TCP just ends).
SENDS_CLOSE = {"websockets": True, "websockets-sansio": True, "wsproto": False}
MAX_SIZE = 64


@dataclass
class Outcome:
    conn: GuardedConnection
    #: The server's Close frame (code, reason), None if none came before the end of TCP.
    wire: tuple[int, str] | None
    #: What the endpoint read, once the connection was CLOSED.
    received: list[object]


async def raw_peer_of(
    h: Harness,
    impl: str,
    accepted: Callable[[GuardedConnection], Awaitable[None]],
    **config: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, GuardedConnection]:
    """A raw peer's completed handshake with a guarded endpoint on ``impl`` that runs
    ``accepted(conn)`` once it accepted: the peer's stream and the connection.
    ``config`` is uvicorn's."""
    h.wsstate_info = True  # library_close_peer_fault is logged at INFO
    handed: asyncio.Queue[GuardedConnection] = asyncio.Queue()

    async def endpoint(websocket: WebSocket) -> None:
        conn = wsstate.guard(websocket, **GUARD_DEFAULTS)
        h.track(conn)
        handed.put_nowait(conn)
        if await conn.accept():
            await accepted(conn)

    site = await Site.start(h, impl, {"/app": endpoint}, **config)
    reader, writer = await raw_connection(site.port)
    writer.write(upgrade_request("/app"))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer, await asyncio.wait_for(handed.get(), 2.0)


async def fail_by_peer(
    h: Harness, impl: str, data: bytes, *, together: bool = False, **config: Any
) -> Outcome:
    """A guarded endpoint on ``impl``, a raw peer that sends "before" then ``data``.

    "before" is queued for ``recv()`` before ``data`` is sent, unless ``together``:
    then both go in one write. The peer reads the server's frames, answers its
    Close as a client would, and reads on to the end of TCP. ``config`` is uvicorn's.
    """
    received: list[object] = []

    async def accepted(conn: GuardedConnection) -> None:
        await conn.wait_closed()
        received.extend([m async for m in conn])  # buffered messages, then the end

    reader, writer, conn = await raw_peer_of(h, impl, accepted, **config)
    if together:
        writer.write(frame(TEXT, b"before") + data)
    else:
        writer.write(frame(TEXT, b"before"))
        await eventually(lambda: transport(conn).queued == 1)
        writer.write(data)
    wire = await read_to_the_end(reader, writer)
    await asyncio.wait_for(conn.wait_closed(), 2.0)
    await asyncio.sleep(0.02)  # the endpoint reads what was buffered
    return Outcome(conn, wire, received)


async def read_to_the_end(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, str] | None:
    """Read the server's frames to the end of TCP, answering its Close as a client
    would; return that Close (code, reason), None if none came."""
    wire: tuple[int, str] | None = None
    try:
        async with asyncio.timeout(3.0):
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == CLOSE and wire is None:
                    wire = (int.from_bytes(payload[:2], "big"), payload[2:].decode())
                    writer.write(frame(CLOSE, payload[:2]))  # the client's answer
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the end of TCP
    writer.close()
    return wire


def transport(conn: GuardedConnection) -> StarletteTransport:
    t = conn.transport
    assert isinstance(t, StarletteTransport)
    return t


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.parametrize("impl", IMPLS)
async def test_a_peers_protocol_violation_is_the_librarys_close_blaming_the_peer(
    h: Harness, impl: str, fault: Fault
) -> None:
    out = await fail_by_peer(h, impl, fault.data)
    conn = out.conn
    # As websockets, aiohttp and tornado report it: the library's code, by the
    # peer, not clean.
    assert conn.state is State.CLOSED
    assert (conn.close_code, conn.closed_by, conn.clean) == (fault.code, ClosedBy.REMOTE, False)
    # The code on the wire, if any: uvicorn's wsproto implementation sends none.
    if SENDS_CLOSE[impl]:
        assert out.wire is not None
        assert out.wire[0] == fault.code
        assert conn.close_reason == out.wire[1]
    else:
        assert out.wire is None
        # wsproto's own parser message, as the library's reason (never the peer's).
        assert conn.close_reason == transport(conn).disconnect[1]  # type: ignore[index]
    # The message before the violation was delivered, once.
    assert out.received == ["before"]
    if impl == "websockets-sansio" and fault.code == 1007:
        # uvicorn's own ERROR, with a traceback, for every invalid UTF-8 message
        # (docs/starlette.md): not wsstate's, but taken here so that nothing else is.
        (record,) = h.take(logging.ERROR, "uvicorn.error")
        assert "Invalid UTF-8" in record.getMessage()
        assert record.exc_info is not None


@pytest.mark.parametrize("impl", IMPLS)
async def test_a_message_too_big_is_the_librarys_close_blaming_the_peer(
    h: Harness, impl: str
) -> None:
    out = await fail_by_peer(h, impl, frame(BINARY, b"x" * (MAX_SIZE + 1)), ws_max_size=MAX_SIZE)
    conn = out.conn
    assert (conn.close_code, conn.closed_by, conn.clean) == (1009, ClosedBy.REMOTE, False)
    assert out.wire is not None  # every implementation sends it
    assert out.wire[0] == 1009
    assert conn.close_reason == out.wire[1]
    assert out.received == ["before"]


def recording(sent: list[str]) -> Callable[[ASGIApp], ASGIApp]:
    """A middleware that records the type of every message the app hands the server
    (its ``receive`` is the server's own: the adapter still sees the server's protocol)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            async def record(message: Message) -> None:
                sent.append(message["type"])
                await send(message)

            await app(scope, receive, record)

        return wrapped

    return wrap


@pytest.mark.parametrize("impl", IMPLS)
async def test_no_close_is_handed_to_the_server_after_its_own(h: Harness, impl: str) -> None:
    # The table's row sends the library's Close, which is on the wire already (or,
    # under wsproto, none can go): the adapter hands the server no websocket.close.
    sent: list[str] = []
    out = await fail_by_peer(h, impl, FAULTS[0].data, middleware=recording(sent))
    assert (out.conn.close_code, out.conn.closed_by) == (1002, ClosedBy.REMOTE)
    assert sent == ["websocket.accept"]


@pytest.mark.parametrize("impl", IMPLS)
async def test_the_closure_waits_behind_unread_messages(h: Harness, impl: str) -> None:
    # More messages than the adapter queues, then the violation, and an endpoint
    # that reads only later: every message first, in order, then the closure. The
    # legacy implementation reads on by itself (its own queue) and fails the
    # connection at once: the adapter reports it once it took those messages, as
    # the other implementations' disconnect comes after them.
    read_now = asyncio.Event()
    received: list[object] = []

    async def accepted(conn: GuardedConnection) -> None:
        await read_now.wait()
        received.extend([m async for m in conn])

    async def let_it_read() -> None:
        read_now.set()

    h.defer(let_it_read)  # whatever fails below, the endpoint ends
    reader, writer, conn = await raw_peer_of(h, impl, accepted)
    messages = [f"m{i}" for i in range(DEFAULT_MAX_QUEUE + 4)]
    writer.write(b"".join(frame(TEXT, m.encode()) for m in messages))
    await eventually(lambda: transport(conn).queued == DEFAULT_MAX_QUEUE)
    writer.write(FAULTS[0].data)
    await asyncio.sleep(0.1)  # the legacy implementation fails the connection meanwhile
    assert conn.state is State.OPEN
    read_now.set()
    wire = await read_to_the_end(reader, writer)
    await asyncio.wait_for(conn.wait_closed(), 2.0)
    await asyncio.sleep(0.02)
    assert received == messages
    assert (conn.close_code, conn.closed_by, conn.clean) == (1002, ClosedBy.REMOTE, False)
    assert (wire is not None) is SENDS_CLOSE[impl]


async def test_a_send_behind_the_legacy_failure_is_refused_at_once(h: Harness) -> None:
    # uvicorn's legacy implementation holds every send while its closing handshake
    # runs (up to 10 s): a send while the closure waits behind unread messages
    # reports it at once and is refused, well within the write timeout.
    send_now = asyncio.Event()
    outcome: list[object] = []

    async def accepted(conn: GuardedConnection) -> None:
        await send_now.wait()
        started = asyncio.get_running_loop().time()
        outcome.append(await conn.try_send("after"))
        outcome.append(asyncio.get_running_loop().time() - started)
        outcome.append([m async for m in conn])

    async def let_it_send() -> None:
        send_now.set()

    h.defer(let_it_send)  # whatever fails below, the endpoint ends
    reader, writer, conn = await raw_peer_of(h, "websockets", accepted)
    messages = [f"m{i}" for i in range(DEFAULT_MAX_QUEUE + 4)]
    writer.write(b"".join(frame(TEXT, m.encode()) for m in messages) + FAULTS[0].data)
    await eventually(lambda: transport(conn).queued == DEFAULT_MAX_QUEUE)
    await asyncio.sleep(0.05)
    assert conn.state is State.OPEN  # behind the unread messages
    send_now.set()
    await asyncio.wait_for(conn.wait_closed(), 1.0)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1002, ClosedBy.REMOTE, False)
    await eventually(lambda: len(outcome) == 3)
    refused, took, received = outcome
    assert refused is False
    assert isinstance(took, float)
    assert took < GUARD_DEFAULTS["write_timeout"]
    assert received == messages
    await read_to_the_end(reader, writer)


@pytest.mark.parametrize("impl", IMPLS)
async def test_messages_read_with_the_violation(h: Harness, impl: str) -> None:
    # A message that arrived in the same read as the violation: delivered, except
    # under uvicorn's websockets-sansio, which drops the events of a read its parser
    # failed on (docs/starlette.md); the closure is the same.
    out = await fail_by_peer(h, impl, FAULTS[0].data, together=True)
    conn = out.conn
    assert (conn.close_code, conn.closed_by, conn.clean) == (1002, ClosedBy.REMOTE, False)
    assert out.received == ([] if impl == "websockets-sansio" else ["before"])


@pytest.mark.parametrize("code", [1002, 1007, 1009])
@pytest.mark.parametrize("impl", IMPLS)
async def test_the_peers_own_close_with_such_a_code_stays_the_peers(
    h: Harness, impl: str, code: int
) -> None:
    # The same codes in a Close the peer sent: the peer's closure, clean (the
    # server echoed it), never taken for the library's.
    out = await fail_by_peer(h, impl, frame(CLOSE, code.to_bytes(2, "big") + b"mine"))
    conn = out.conn
    assert (conn.close_code, conn.close_reason) == (code, "mine")
    assert (conn.closed_by, conn.clean) == (ClosedBy.REMOTE, True)
    assert out.wire is not None  # uvicorn's echo
    assert out.wire[0] == code
    assert out.received == ["before"]


# -- the pure classification at the disconnect --------------------------------------


_OURS = (4000, "bye")

#: message, requested_close, close_sent, peer_closed -> facts (opened: True)
DISCONNECTS: list[tuple[dict[str, Any], bool, tuple[int, str] | None, bool | None, Facts]] = [
    # The server's protocol received no Close from the peer: a code blaming the peer
    # is the server failing the connection (websockets-sansio: its Close's code and
    # reason; wsproto: its parser's, no Close sent).
    (
        {"code": 1002, "reason": "invalid opcode"},
        False,
        None,
        False,
        Facts(library_close=(1002, "invalid opcode"), lost=True),
    ),
    ({"code": 1007}, False, None, False, Facts(library_close=(1007, ""), lost=True)),
    (
        {"code": 1009, "reason": "big"},
        False,
        None,
        False,
        Facts(library_close=(1009, "big"), lost=True),
    ),
    ({"code": 1003}, False, None, False, Facts(library_close=(1003, ""), lost=True)),
    # ... crossing our Close (not our code and reason repeated): the library's too.
    ({"code": 1002}, True, _OURS, False, Facts(library_close=(1002, ""), lost=True)),
    # Our own Close repeated: the orderly end, whatever the protocol received.
    ({"code": 4000, "reason": "bye"}, True, _OURS, False, Facts(lost=True)),
    # The server's other own closes (its 1012 at shutdown) still look like the peer's.
    ({"code": 1012}, False, None, False, Facts(close_rcvd=(1012, ""), lost=True)),
    ({"code": 1000}, False, None, False, Facts(close_rcvd=(1000, ""), lost=True)),
    # The protocol received the peer's Close: the peer's, whatever its code.
    ({"code": 1002, "reason": "x"}, False, None, True, Facts(close_rcvd=(1002, "x"), lost=True)),
    ({"code": 1007}, True, _OURS, True, Facts(close_rcvd=(1007, ""), lost=True)),
    # Unknown (no view of the server's protocol: a middleware wraps receive, another
    # ASGI server): as before, the disconnect's code is the peer's Close.
    ({"code": 1002}, False, None, None, Facts(close_rcvd=(1002, ""), lost=True)),
    # No code a Close frame may carry: a lost transport, whatever the protocol says.
    ({"code": 1005}, False, None, False, Facts(lost=True, lost_error=True)),
    ({"code": 1006}, False, None, True, Facts(lost=True, lost_error=True)),
]


@pytest.mark.parametrize(("message", "requested", "sent", "peer_closed", "facts"), DISCONNECTS)
def test_disconnect_facts_with_the_servers_protocol(
    message: dict[str, Any],
    requested: bool,
    sent: tuple[int, str] | None,
    peer_closed: bool | None,
    facts: Facts,
) -> None:
    message = {"type": "websocket.disconnect", **message}
    got = disconnect_facts(
        message, opened=True, requested_close=requested, close_sent=sent, peer_closed=peer_closed
    )
    assert got == facts


def test_the_adapters_peer_fault_codes_are_the_connections() -> None:
    # The adapter does not import the connection (it is below it): its copy of the
    # codes that blame the peer must stay the one library_close_event() uses.
    assert adapter_module._PEER_FAULT_CODES == PEER_FAULT_CODES
