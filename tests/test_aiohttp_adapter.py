"""The aiohttp adapter's pure classifications: what ``receive()`` returned
(message_facts), and what aiohttp's own ``close()`` learned of the answer (answer_facts)."""

from __future__ import annotations

import pytest
from aiohttp import WebSocketError, WSMsgType

from wsstate.adapters.aiohttp import answer_facts, message_facts
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


ANSWERS = [
    # (the native socket's close_code, its exception()) once its close() returned -> facts
    ((1000, None), Facts(close_rcvd=(1000, ""))),  # the peer answered: its code
    ((4001, None), Facts(close_rcvd=(4001, ""))),
    ((0, None), Facts(close_rcvd=(None, ""))),  # an answer without a code
    ((1006, None), None),  # no answer: aiohttp's close timed out or was cancelled
    ((1006, ConnectionResetError()), None),  # its write or read failed
    ((1000, ConnectionResetError()), None),  # an error says no answer, whatever the code
    ((None, None), None),  # no code at all
    ((1005, None), Facts(library_close=(1002, "invalid close code"))),  # as message_facts
]


@pytest.mark.parametrize(("closed", "facts"), ANSWERS, ids=[repr(a[0]) for a in ANSWERS])
def test_answer_facts(closed: tuple[int | None, BaseException | None], facts: Facts | None) -> None:
    assert answer_facts(*closed) == facts
    # A close() that read no answer (a server's, with a receive() waiting) has none,
    # whatever close_code says (it ended that receive() with 1000).
    assert answer_facts(*closed, read=False) is None
