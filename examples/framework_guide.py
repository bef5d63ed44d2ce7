"""The framework author's guide: what to replace in a server that pushes UI updates.

``naive_session`` is the pattern found in the field (Solara, NiceGUI, Panel-style
servers): every send wrapped in ``try/except``, exception text matched, a
``close()`` in ``finally`` that raises again. ``guarded_session`` is the same
session on wsstate. ``render_thread`` pushes from another thread, ``clock``
broadcasts to every session through a ``Hub``, ``shutdown`` closes them all.

Run it: ``python examples/framework_guide.py``. It serves ``guarded_session``
on a free loopback port, opens three browser-like sessions (one vanishes
mid-stream), broadcasts, shuts down, and checks that no log record above INFO
was made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import wsstate

log = logging.getLogger("framework")
hub = wsstate.Hub()


async def naive_session(ws: ServerConnection) -> None:
    """Before: the pattern to replace (shown for contrast; not served below)."""
    try:
        async for message in ws:
            try:
                await ws.send(json.dumps({"echo": str(message)}))
            except ConnectionClosed:
                break
            except RuntimeError as e:  # another transport's "close message" error
                if "close message" in repr(e):
                    break
                raise  # ... and everything else, logged at ERROR with a traceback
    finally:
        await ws.close()  # may raise again on another transport


async def guarded_session(ws: ServerConnection) -> None:
    """After: one guard; every operation is decided by the connection's state."""
    conn = wsstate.guard(ws, close_timeout=2)
    hub.add(conn)  # leaves the hub by itself when it closes
    stop = threading.Event()
    conn.on_close(lambda c: stop.set())  # exactly once, whoever ends the connection
    thread = threading.Thread(target=render_thread, args=(conn, stop), daemon=True)
    thread.start()
    async for message in conn:  # ends quietly on any closure
        await conn.try_send(json.dumps({"echo": message}))
    await asyncio.to_thread(thread.join)
    log.info("session ended: code %s, closed by %s", conn.close_code, conn.closed_by)


def render_thread(conn: wsstate.GuardedConnection, stop: threading.Event) -> None:
    """A kernel or script-runner thread: pushes frames from outside the event loop."""
    frame = 0
    while not stop.wait(0.02):
        frame += 1
        # Thread-safe, in order; False (never an exception) once the connection is
        # closed or its event loop is gone.
        conn.send_threadsafe(json.dumps({"frame": frame}))


async def clock() -> wsstate.BroadcastResult:
    """A broadcast to every live session: dead ones are skipped, each failure isolated."""
    return await hub.broadcast(json.dumps({"time": "tick"}))


async def shutdown() -> None:
    """Server shutdown: close every session with 1001 at once, each bounded by its timeout."""
    await asyncio.gather(*(conn.close(1001, "server shutdown") for conn in hub))


class _Loud(logging.Handler):
    """Counts records above INFO: a closure must never make one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def main() -> None:
    loud = _Loud()
    logging.getLogger().addHandler(loud)
    async with serve(guarded_session, "127.0.0.1", 0) as server:
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with (
            wsstate.connect(uri) as a,
            wsstate.connect(uri) as b,
            wsstate.connect(uri) as vanishing,
        ):
            await a.send("hello")
            # A first message from each session: all three are guarded and in the hub.
            await asyncio.gather(*(client.recv() for client in (a, b, vanishing)))
            vanishing.abort()  # a tab closed: no closing handshake at all
            await asyncio.sleep(0.1)
            result = await clock()
            print(f"broadcast: sent {result.sent}, dropped {result.dropped}")
            await shutdown()
            for client in (a, b):
                await client.wait_closed()
                print(f"client: closed by {client.closed_by.value}, code {client.close_code}")
        await asyncio.sleep(0.1)
    assert not loud.records, [r.getMessage() for r in loud.records]
    print("no log record above INFO")


if __name__ == "__main__":
    asyncio.run(main())
