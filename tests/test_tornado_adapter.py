"""The tornado adapter's pure classification of ``on_ws_connection_close`` (closure_facts)."""

from __future__ import annotations

import pytest

from wsstate.adapters.base import Facts
from wsstate.adapters.tornado import closure_facts

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
