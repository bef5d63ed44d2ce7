"""Scenario 16 over ASGI: a half-open peer is detected by uvicorn's own ping.

ASGI has no ping message, so wsstate's keepalive cannot run over Starlette; a
server that sets uvicorn's ``ws_ping_interval`` detects a half-open client
itself, and wsstate reports it as a transport loss.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import CLOSE_TIMEOUT, SLACK, Harness, assert_peer_gone, assert_sends_absorbed
from test_starlette_support import Site

from wsstate import ClosedBy, State


# Not run on uvicorn's legacy "websockets" implementation: it reports a keepalive
# timeout only once its closing handshake gave up, after its fixed 10 s close
# timeout, too slow for the suite (documented in docs/starlette.md).
@pytest.mark.parametrize("ws_impl", ["websockets-sansio", "wsproto"])
async def test_16_half_open_peer_detected_by_uvicorns_ping(h: Harness, ws_impl: str) -> None:
    interval = 0.15
    site = await Site.start(h, ws_impl, ws_ping_interval=interval, ws_ping_timeout=interval)
    pair = await site.pair(ping_interval=None)
    assert pair.link is not None
    await asyncio.sleep(interval * 1.5)  # uvicorn's pings answered
    assert pair.conn.state is State.OPEN
    loop = asyncio.get_running_loop()
    pair.link.blackhole()
    start = loop.time()
    await asyncio.wait_for(pair.conn.wait_closed(), 2 * interval + CLOSE_TIMEOUT + 1)
    assert loop.time() - start <= 2 * interval + SLACK
    assert_peer_gone(pair, closed_by=ClosedBy.TRANSPORT, clean=False, code=1006)
    await assert_sends_absorbed(pair)
    pair.link.blackhole(False)
