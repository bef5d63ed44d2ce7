"""The tornado adapter's pure classifications: ``on_ws_connection_close`` (closure_facts),
the peer's Close frames that break RFC 6455 (close_frame_fault) and tornado's
aborts for the peer's faults (abort_fault)."""

from __future__ import annotations

import pytest

from wsstate.adapters.base import Facts
from wsstate.adapters.tornado import abort_fault, close_frame_fault, closure_facts

CASES = [
    # (close_code, close_reason, stream_error, library_close) -> facts
    ((1000, "bye", False, None), Facts(close_rcvd=(1000, "bye"), lost=True)),
    ((1001, None, False, None), Facts(close_rcvd=(1001, ""), lost=True)),
    ((4001, "x", True, None), Facts(close_rcvd=(4001, "x"), lost=True)),  # reset after
    ((None, None, True, None), Facts(lost=True, lost_error=True)),  # RST
    ((None, None, False, None), Facts(lost=True, lost_error=False)),  # FIN, or empty Close
    (
        (None, None, False, (1009, "message too big")),
        Facts(library_close=(1009, "message too big"), lost=True),
    ),
    (
        (1000, "", False, (1000, "handler")),
        Facts(library_close=(1000, "handler"), close_rcvd=(1000, ""), lost=True),
    ),
]


@pytest.mark.parametrize(("closure", "facts"), CASES, ids=[str(c[0]) for c in CASES])
def test_closure_facts(
    closure: tuple[int | None, str | None, bool, tuple[int, str] | None], facts: Facts
) -> None:
    code, reason, error, library = closure
    assert closure_facts(code, reason, stream_error=error, library_close=library) == facts


EMPTY_CLOSE = [
    # (close_code, stream_error) with the peer's empty Close seen -> facts
    ((None, False), Facts(close_rcvd=(None, ""), lost=True)),  # 1005, then the end of TCP
    ((None, True), Facts(close_rcvd=(None, ""), lost=True)),  # a reset after it: no error
    ((1000, False), Facts(close_rcvd=(1000, ""), lost=True)),  # a code wins (cannot both be)
]


@pytest.mark.parametrize(("closure", "facts"), EMPTY_CLOSE, ids=[str(c[0]) for c in EMPTY_CLOSE])
def test_closure_facts_of_an_empty_close(closure: tuple[int | None, bool], facts: Facts) -> None:
    code, error = closure
    got = closure_facts(code, None, stream_error=error, library_close=None, empty_close=True)
    assert got == facts


FRAMES = [
    # the peer's Close payload -> the Close wsstate fails the connection with (None: valid)
    (b"", None),  # no code: valid
    ((1000).to_bytes(2, "big"), None),
    ((1000).to_bytes(2, "big") + "fin \u00e9".encode(), None),  # UTF-8 reason
    ((3000).to_bytes(2, "big"), None),
    ((4999).to_bytes(2, "big") + b"app", None),
    ((1014).to_bytes(2, "big"), None),
    (b"\x03", (1002, "invalid close frame")),  # one byte
    ((1004).to_bytes(2, "big"), (1002, "invalid close code")),  # reserved
    ((1005).to_bytes(2, "big"), (1002, "invalid close code")),
    ((1006).to_bytes(2, "big"), (1002, "invalid close code")),
    ((1015).to_bytes(2, "big"), (1002, "invalid close code")),
    ((999).to_bytes(2, "big"), (1002, "invalid close code")),
    ((2999).to_bytes(2, "big"), (1002, "invalid close code")),
    ((5000).to_bytes(2, "big"), (1002, "invalid close code")),
    ((1000).to_bytes(2, "big") + b"\xc3", (1007, "invalid close reason")),  # cut UTF-8
    ((1000).to_bytes(2, "big") + b"\xed\xa0\x80", (1007, "invalid close reason")),  # surrogate
    ((1006).to_bytes(2, "big") + b"\xff", (1002, "invalid close code")),  # the code first
]


@pytest.mark.parametrize(("payload", "fault"), FRAMES, ids=[f[0].hex() or "empty" for f in FRAMES])
def test_close_frame_fault(payload: bytes, fault: tuple[int, str] | None) -> None:
    assert close_frame_fault(payload) == fault


ABORTS = [
    # (tornado's function that called _abort(), the opcode being handled) -> the fault
    (("_receive_frame", None), (1002, "protocol error")),  # a frame that breaks the RFC
    (("_receive_frame", 0x1), (1002, "protocol error")),
    (("_handle_message", 0x1), (1007, "invalid text message")),  # not UTF-8
    (("_handle_message", 0x3), (1002, "protocol error")),  # a reserved opcode
    (("_handle_message", 0xB), (1002, "protocol error")),
    (("_run_callback", 0x9), None),  # the application's on_ping raised
    (("on_done", None), None),  # ... its coroutine failed
    (("_receive_frame_loop", None), None),  # the stream ended
    (("on_connection_close", None), None),
    (("_accept_connection", None), None),  # open() raised
    (("abort_transport", None), None),  # ours
]


@pytest.mark.parametrize(("call", "fault"), ABORTS, ids=[f"{a[0][0]}-{a[0][1]}" for a in ABORTS])
def test_abort_fault(call: tuple[str, int | None], fault: tuple[int, str] | None) -> None:
    assert abort_fault(*call) == fault
