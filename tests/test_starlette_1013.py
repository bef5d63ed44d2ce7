"""Solara #1013 as a test: the chain of ERRORs on a real uvicorn, and its end with wsstate.

The endpoint (``wsstate.demo.solara_endpoint``, also run by ``wsstate demo``) is
written as Solara 1.44 wrote it: push in a loop; on an exception log
"Error sending message" with its traceback and call ``websocket.close()``; close
again in ``finally``. Ten real websockets clients reset their TCP connection
mid-send through the fault proxy. Naive, under each of uvicorn's three
implementations: the app's ERROR (Starlette's ``WebSocketDisconnect``), then
uvicorn's "Exception in ASGI application" ERROR (the ``RuntimeError`` close()
raises). The same endpoint on wsstate: no ERROR, no traceback, no unretrieved
task exception, from any logger.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocketDisconnect
from support.asgi import IMPLS

from wsstate_tools.demo import SOLARA_CLIENTS, ChainResult, format_1013, run_solara_1013

pytestmark = [
    pytest.mark.parametrize("impl", IMPLS),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def test_solara_1013_chain_and_its_end(impl: str) -> None:
    async def both() -> tuple[ChainResult, ChainResult]:
        return await run_solara_1013(impl, "naive"), await run_solara_1013(impl, "wsstate")

    naive, guarded = asyncio.run(both())
    table = format_1013([naive, guarded])
    # The naive handler shows the whole chain for every client (so this test fails
    # if the reset stops biting): its own ERROR, then uvicorn's.
    app = [exc for name, exc in naive.records if name == "app"]
    server = [exc for name, exc in naive.records if name == "uvicorn.error"]
    assert len(app) == len(server) == SOLARA_CLIENTS, table
    assert all(isinstance(exc, WebSocketDisconnect) for exc in app), naive.chain
    assert all(isinstance(exc, RuntimeError) for exc in server), naive.chain
    assert naive.errors == naive.tracebacks == 2 * SOLARA_CLIENTS, table
    # wsstate: nothing, from anyone.
    assert (guarded.errors, guarded.tracebacks, guarded.unretrieved) == (0, 0, 0), guarded.chain
    # Both pushed to every client before the reset.
    assert naive.delivered > SOLARA_CLIENTS, table
    assert guarded.delivered > SOLARA_CLIENTS, table
