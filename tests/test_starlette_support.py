"""Checks of the checks behind the Starlette tests (tests/support/asgi.py).

uvicorn's own ERROR for an application that fails is seen by the ``h`` harness
(else every "no ERROR" claim of the scenario suite would be void), the server
really runs the implementation asked for, and wsstate works without Starlette.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest
from starlette.websockets import WebSocket
from support.asgi import IMPLS, Site
from support.harness import WS_DEFAULTS, Harness
from websockets.asyncio.client import connect as ws_connect

# websockets' legacy server (under uvicorn's "websockets") warns about its handler.
pytestmark = pytest.mark.filterwarnings("ignore:remove second argument of ws_handler")


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    """uvicorn's WebSocket implementation under test."""
    return request.param  # type: ignore[no-any-return]


# -- checks of the checks ----------------------------------------------------------------


async def test_harness_sees_uvicorn_errors(h: Harness, impl: str) -> None:
    # An endpoint that fails after accept: uvicorn logs "Exception in ASGI
    # application" at ERROR. The harness must see it, or every "no ERROR" claim
    # of these tests would be void.
    async def failing(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("a bug in an endpoint")

    site = await Site.start(h, impl, {"/failing": failing})
    async with ws_connect(site.url("/failing"), **WS_DEFAULTS) as client:
        await asyncio.wait_for(client.wait_closed(), 2.0)
    await asyncio.sleep(0.05)
    errors = h.records(logging.ERROR, logger="uvicorn")
    assert errors, "uvicorn's ERROR was not recorded"
    with pytest.raises(AssertionError, match="records from other loggers"):
        h.check_logs()
    h._recorder.records.clear()  # the failure above was the point


async def test_server_runs_the_implementation_asked_for(h: Harness, impl: str) -> None:
    site = await Site.start(h, impl)
    pair = await site.pair()
    expected = {
        "websockets": "WebSocketProtocol",
        "websockets-sansio": "WebSocketsSansIOProtocol",
        "wsproto": "WSProtocol",
    }[impl]
    assert [type(p).__name__ for p in site.connections] == [expected]
    await pair.conn.send("hello")
    assert await asyncio.wait_for(pair.peer.recv(), 1.0) == "hello"
    assert await pair.conn.close() is True


def test_wsstate_needs_no_starlette() -> None:
    # Importing wsstate never imports Starlette, works without it, and guard() and
    # the demo's Starlette section say what is missing instead of failing.
    script = (
        "import sys\n"
        "sys.modules['starlette'] = None  # not installed\n"
        "import wsstate, wsstate_tools.demo\n"
        "assert 'starlette.websockets' not in sys.modules\n"
        "try:\n"
        "    wsstate.guard(object())\n"
        "except TypeError as exc:\n"
        "    assert 'starlette' in str(exc)\n"
        "assert wsstate_tools.demo.solara_1013_section() == 0\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "skipped: pip install 'wsstate[starlette]'" in result.stdout
    clean = subprocess.run(
        [sys.executable, "-c", "import sys, wsstate; print('starlette' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert clean.stdout.strip() == "False"
