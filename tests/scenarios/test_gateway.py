"""Gateway quirks (row 28): ``"text": None`` next to bytes, empty messages; ours follow the
ASGI spec (exactly one of text and bytes)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from support.harness import Harness
from support.transports import Transport, start_site


def gateway(app: ASGIApp, sent: list[Message]) -> ASGIApp:
    """An ASGI middleware that does what some gateways do: both keys, one of them None.

    It also records what the application sends, to check wsstate's own messages.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def quirky_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                message = {"text": None, "bytes": None, **message}
            return message

        async def recording_send(message: Message) -> None:
            sent.append(message)
            await send(message)

        await app(scope, quirky_receive, recording_send)

    return wrapped


@pytest.mark.scenario(28)
async def test_28_gateway_quirks(h: Harness, transport: Transport) -> None:
    sent: list[Message] = []
    site = await start_site(h, transport, middleware=lambda app: gateway(app, sent))
    pair = await site.pair()
    conn = pair.conn
    messages: list[str | bytes] = ["text", b"bytes", b"", "", "\x00", b"\x00"]
    for message in messages:
        await pair.peer.send(message)
    got = [await asyncio.wait_for(conn.recv(), 1.0) for _ in messages]
    assert got == messages
    assert [type(m) for m in got] == [type(m) for m in messages]
    for message in messages:
        await conn.send(message)
    echoed = [await asyncio.wait_for(pair.peer.recv(), 1.0) for _ in messages]
    assert echoed == messages
    # Ours follow the ASGI spec: exactly one of text and bytes, never None.
    data = [m for m in sent if m["type"] == "websocket.send"]
    assert [sorted(m) for m in data] == [
        ["text" if isinstance(m, str) else "bytes", "type"] for m in messages
    ]
    await conn.close()
