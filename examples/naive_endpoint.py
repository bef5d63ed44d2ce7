"""Fuzzing a naive WebSocket endpoint, and its guarded twin, with ``wsstate.testing.fuzz``.

``naive_app`` is written the way Solara 1.44 wrote its endpoint: a broadcast
tick sends to every client without asking whether the connection is still
there, and the error handlers call ``close()``. It works in a demo, and every
closed tab fills the log with tracebacks. ``guarded_app`` is the same endpoint
on :func:`wsstate.guard` and a :class:`wsstate.Hub`.

Run it::

    python examples/naive_endpoint.py

The harness finds the naive endpoint's failures within a few examples (usually
one client that leaves or is reset, and the ERROR records that follow) and
prints the counterexample with its replay command; the guarded endpoint
passes the same campaign. ``tests/test_fuzz_examples.py`` checks both, and that
the printed replay command reproduces the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

import wsstate
from wsstate.testing import EndpointFailure, fuzz

log = logging.getLogger("naive_endpoint")

#: Seconds between two broadcasts of the tick.
TICK = 0.02

# --- the naive endpoint ---------------------------------------------------------

clients: set[WebSocket] = set()


async def naive_tick() -> None:
    while True:
        await asyncio.sleep(TICK)
        for websocket in list(clients):
            try:
                await websocket.send_text("tick")  # unguarded: the client may be gone
            except Exception:
                log.exception("tick failed")  # one ERROR and a traceback per closed tab
                clients.discard(websocket)
                await websocket.close()  # raises again: the connection is gone


@contextlib.asynccontextmanager
async def naive_lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(naive_tick())
    yield
    task.cancel()


naive_app = FastAPI(lifespan=naive_lifespan)


@naive_app.websocket("/ws")
async def naive_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    clients.add(websocket)
    try:
        while True:
            message = await websocket.receive_text()
            await websocket.send_text(f"echo {message}")
    except WebSocketDisconnect:
        clients.discard(websocket)
        await websocket.close()  # close() in the error handler: raises on a lost client


# --- the same endpoint, guarded ----------------------------------------------------

hub = wsstate.Hub()


async def guarded_tick() -> None:
    while True:
        await asyncio.sleep(TICK)
        await hub.broadcast("tick")  # dead members are dropped, never raised


@contextlib.asynccontextmanager
async def guarded_lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(guarded_tick())
    yield
    task.cancel()


guarded_app = FastAPI(lifespan=guarded_lifespan)


@guarded_app.websocket("/ws")
async def guarded_endpoint(websocket: WebSocket) -> None:
    conn = wsstate.guard(websocket, close_timeout=2)
    if not await conn.accept():
        return
    hub.add(conn)  # leaves the hub by itself when it closes
    async for message in conn:  # ends quietly on any closure
        await conn.try_send(f"echo {message}")


def main() -> int:
    """Fuzz both endpoints; exit 1 unless the naive one fails and the guarded one passes."""
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else None
    try:
        fuzz(naive_app, path="/ws", examples=20, seed=seed)
    except EndpointFailure as failure:
        print("naive endpoint: FAILED (as expected)\n")
        print(failure)
        naive_failed = True
    else:
        print("naive endpoint: passed (unexpected)")
        naive_failed = False
    report = fuzz(guarded_app, path="/ws", examples=20, seed=seed)
    print(
        f"\nguarded endpoint: passed, {report.examples} examples, {report.steps} events, "
        f"seed {report.seed}"
    )
    return 0 if naive_failed else 1


if __name__ == "__main__":
    sys.exit(main())
