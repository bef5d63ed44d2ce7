"""The Starlette adapter's pure classification of the ASGI server's own close, seen
before its ``websocket.disconnect`` (``server_closing_facts``; issue 19, acceptance 1).

uvicorn's legacy implementation holds every send during its closing handshake, up to
its fixed 10 s close timeout: a half-open peer its keepalive found would otherwise be
reported as a slow reader (1008) by the first send that waits longer than the write
timeout. Real sockets: tests/scenarios/test_keepalive.py (half-open under a tick).
Its Close 1002, 1003, 1007 or 1009 with nothing from the peer is the library's close
blaming the peer (real sockets: tests/test_starlette_peer_faults.py).
"""

from __future__ import annotations

import logging

import pytest

from wsstate.adapters.base import Facts
from wsstate.adapters.starlette import server_closing_facts

LOST = Facts(lost=True, lost_error=True)

CASES = [
    # (close_sent, close_rcvd, requested_close) -> facts
    # The server's keepalive ping went unanswered (or it failed internally): lost now.
    (((1011, "keepalive ping timeout"), None, False), LOST),
    (((1011, ""), None, False), LOST),
    # Our own Close: the disconnect says how it ended.
    (((1000, "bye"), None, True), None),
    (((1011, "keepalive ping timeout"), None, True), None),
    # The peer's Close (the server echoed it): the disconnect reports it promptly.
    (((1000, ""), (1000, ""), False), None),
    (((1011, "keepalive ping timeout"), (1001, "away"), False), None),
    (((1000, ""), (4001, "x"), True), None),
    # The server's own Close that the peer answers (shutdown 1012): the disconnect says it.
    (((1012, ""), None, False), None),
    # The server failed the connection because of the peer (a protocol violation,
    # invalid UTF-8, a message too big): the library's close blaming the peer, now.
    (((1002, ""), None, False), Facts(library_close=(1002, ""), lost=True)),
    (((1007, ""), None, False), Facts(library_close=(1007, ""), lost=True)),
    (
        ((1009, "message too big"), None, False),
        Facts(library_close=(1009, "message too big"), lost=True),
    ),
    (((1003, ""), None, False), Facts(library_close=(1003, ""), lost=True)),
    # ... unless it is the answer to the peer's Close, or we closed first.
    (((1002, ""), (1002, "x"), False), None),
    (((1002, ""), None, True), None),
    # Nothing sent: a TCP loss the server reports at once (or nothing happened).
    ((None, None, False), None),
    ((None, (1000, ""), False), None),
]


@pytest.mark.parametrize(("closure", "facts"), CASES, ids=[str(c[0]) for c in CASES])
def test_server_closing_facts(
    closure: tuple[tuple[int, str] | None, tuple[int, str] | None, bool], facts: Facts | None
) -> None:
    sent, rcvd, requested = closure
    assert server_closing_facts(sent, rcvd, requested_close=requested) == facts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # uvicorn's legacy implementation
def test_a_shutdown_during_the_handshake_is_no_error_on_legacy_websockets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # uvicorn's legacy implementation refuses a handshake in progress at shutdown and
    # delivers websocket.disconnect; the table's abort then sent websocket.close,
    # which that implementation fails with an AttributeError: logged at ERROR as an
    # internal error of the adapter. It is the server's, after its disconnect: DEBUG.
    import asyncio

    from starlette.websockets import WebSocket
    from websockets.asyncio.client import connect

    import wsstate
    from wsstate.testing.asgi import AsgiSite

    results: list[tuple[bool, int | None, str | None]] = []
    arrived: list[asyncio.Event] = []

    async def endpoint(ws: WebSocket) -> None:
        conn = wsstate.guard(ws)
        arrived[0].set()
        await asyncio.sleep(0.2)  # an authentication lookup before accept()
        accepted = await conn.accept()
        results.append((accepted, conn.close_code, conn.closed_by and conn.closed_by.value))

    async def main() -> None:
        arrived.append(asyncio.Event())
        site = AsgiSite("websockets", endpoint)
        await site.start()
        client = asyncio.ensure_future(connect(f"ws://127.0.0.1:{site.port}/ws").__aenter__())
        await asyncio.wait_for(arrived[0].wait(), 5.0)
        await site.stop()  # should_exit: the handshake in progress is refused
        await asyncio.gather(client, return_exceptions=True)
        await asyncio.sleep(0.3)

    caplog.set_level(logging.DEBUG, logger="wsstate")
    asyncio.run(main())
    assert results == [(False, 1006, "transport")]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
