"""The aiohttp adapter's pure classification of what ``receive()`` returned (message_facts)."""

from __future__ import annotations

import pytest
from aiohttp import WebSocketError, WSMsgType

from wsstate.adapters.aiohttp import message_facts
from wsstate.adapters.base import Facts

CASES = [
    # (type, data, extra) -> facts
    ((WSMsgType.TEXT, "hi", None), None),
    ((WSMsgType.BINARY, b"hi", None), None),
    ((WSMsgType.PING, b"", None), None),
    ((WSMsgType.PONG, b"", None), None),
    ((WSMsgType.CLOSING, None, None), None),
    ((WSMsgType.CLOSE, 1000, "bye"), Facts(close_rcvd=(1000, "bye"))),
    ((WSMsgType.CLOSE, 4001, ""), Facts(close_rcvd=(4001, ""))),
    ((WSMsgType.CLOSE, 0, ""), Facts(close_rcvd=(None, ""))),  # a Close without a code
    ((WSMsgType.CLOSE, 1006, ""), Facts(library_close=(1002, "invalid close code"))),
    ((WSMsgType.CLOSE, 1005, ""), Facts(library_close=(1002, "invalid close code"))),
    (
        (WSMsgType.ERROR, WebSocketError(1009, "too big"), None),
        Facts(library_close=(1009, ""), lost=True, lost_error=False),
    ),
    (
        (WSMsgType.ERROR, WebSocketError(1002, "bad frame"), None),
        Facts(library_close=(1002, ""), lost=True, lost_error=False),
    ),
    ((WSMsgType.ERROR, ConnectionResetError(), None), Facts(lost=True, lost_error=True)),
    ((WSMsgType.CLOSED, None, None), Facts(lost=True, lost_error=False)),
]


@pytest.mark.parametrize(("message", "facts"), CASES, ids=[str(c[0][:2]) for c in CASES])
def test_message_facts(message: tuple[WSMsgType, object, object], facts: Facts | None) -> None:
    assert message_facts(*message) == facts
