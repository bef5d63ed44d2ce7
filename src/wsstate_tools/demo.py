"""``wsstate demo`` (what ``make demo`` runs): a naive handler and wsstate, side by side.

A real websockets server on loopback serves a storm of real clients twice: once
with a handler written the way frameworks write it today (``await ws.send`` in
``try/except Exception: log.error``, fire-and-forget pushes, ``close()`` in
``finally``), once with the same handler on wsstate. The clients close cleanly,
reset the TCP connection mid-stream, vanish without FIN or RST (half-open,
through the fault proxy's black hole), end with a FIN and no Close, and reload
fifty times in a row. Then a table compares ERROR records (from any logger),
tracebacks, unretrieved task exceptions, messages delivered and wall time.
The same storm then runs against aiohttp and tornado servers, each with its
framework's own naive handler (:mod:`wsstate_tools.demo_frameworks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed as WSConnectionClosed

from wsstate.connection import GuardedConnection
from wsstate.errors import ConnectionClosed as WSStateConnectionClosed
from wsstate.guard import guard
from wsstate.hub import Hub
from wsstate.testing.faultproxy import FaultProxy

__all__ = ["DemoResult", "run_variant", "storm_section"]

log: Final = logging.getLogger("app")

PUSH_INTERVAL: Final = 0.005
PING_INTERVAL: Final = 0.2
PING_TIMEOUT: Final = 0.3
CLOSE_TIMEOUT: Final = 0.5


@dataclass
class DemoResult:
    """What one variant of the demo produced."""

    name: str
    errors: int = 0
    tracebacks: int = 0
    unretrieved: int = 0
    delivered: int = 0
    seconds: float = 0.0
    first_error: str = ""
    phases: list[str] = field(default_factory=list)
    #: Closures the handler's ``on_close`` saw without a close code (tornado); None: not counted.
    no_code: int | None = None


class _Recorder(logging.Handler):
    def __init__(self, result: DemoResult) -> None:
        super().__init__(logging.DEBUG)
        self.result = result

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.result.errors += 1
            if not self.result.first_error:
                self.result.first_error = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            self.result.tracebacks += 1


# -- the two server variants ----------------------------------------------------------


class NaiveApp:
    """A handler written the way frameworks write it today."""

    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()

    async def handler(self, ws: ServerConnection) -> None:
        self.clients.add(ws)
        try:
            async for message in ws:
                await ws.send(f"echo {message!s}")
        except Exception:
            log.error("error in websocket handler", exc_info=True)
        finally:
            self.clients.discard(ws)
            await ws.send("goodbye")  # a last update after the peer left
            await ws.close()
            await ws.close()

    async def push(self, update: str) -> None:
        for ws in list(self.clients):
            try:
                await ws.send(update)
            except Exception:
                log.error("failed to push an update", exc_info=True)
            # Fire-and-forget, as UI frameworks do for "render" messages.
            asyncio.get_running_loop().create_task(ws.send(update))


class GuardedApp:
    """The same handler on wsstate."""

    def __init__(self) -> None:
        self.hub = Hub()

    async def handler(self, ws: ServerConnection) -> None:
        conn = guard(
            ws,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        )
        self.hub.add(conn)
        async for message in conn:
            await conn.try_send(f"echo {message!s}")
        await conn.try_send("goodbye")
        await conn.close()
        await conn.close()

    async def push(self, update: str) -> None:
        await self.hub.broadcast(update)
        for conn in self.hub:
            asyncio.get_running_loop().create_task(_fire_and_forget(conn, update))


async def _fire_and_forget(conn: GuardedConnection, update: str) -> None:
    await conn.try_send(update)


# -- the client storm ----------------------------------------------------------------


async def _reader(ws: ClientConnection, counter: list[int]) -> None:
    with contextlib.suppress(WSConnectionClosed, OSError):
        async for _ in ws:
            counter[0] += 1


async def _clients(
    url: str, n: int, counter: list[int], **kwargs: Any
) -> list[tuple[ClientConnection, asyncio.Task[None]]]:
    out = []
    for _ in range(n):
        ws = await ws_connect(url, ping_interval=None, close_timeout=CLOSE_TIMEOUT, **kwargs)
        await ws.send("hello")
        out.append((ws, asyncio.get_running_loop().create_task(_reader(ws, counter))))
    return out


async def _finish(clients: list[tuple[ClientConnection, asyncio.Task[None]]]) -> None:
    for ws, task in clients:
        ws.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 1.0)


async def _phase_clean(url: str, counter: list[int]) -> str:
    clients = await _clients(url, 20, counter)
    await asyncio.sleep(0.2)
    for i, (ws, _) in enumerate(clients):
        await ws.close(1000 if i % 2 else 1001, "bye")
    await _finish(clients)
    return "20 clean closes"


async def _phase_fault(port: int, counter: list[int], n: int, fault: str) -> str:
    """``n`` clients through the proxy, then every TCP connection reset or FINed."""
    async with FaultProxy("127.0.0.1", port) as proxy:
        clients = await _clients(proxy.url, n, counter)
        await asyncio.sleep(0.2)
        await (proxy.reset() if fault == "reset" else proxy.fin())
        await asyncio.sleep(0.3)
        await _finish(clients)
    return f"{n} TCP resets mid-stream" if fault == "reset" else f"{n} FIN without Close"


async def _phase_halfopen(port: int, counter: list[int]) -> str:
    async with FaultProxy("127.0.0.1", port) as proxy:
        clients = await _clients(proxy.url, 5, counter)
        await asyncio.sleep(0.1)
        proxy.blackhole(True)
        await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT + CLOSE_TIMEOUT + 0.4)
        await _finish(clients)
    return "5 half-open peers (black hole)"


async def _phase_reload(url: str, counter: list[int]) -> str:
    for _ in range(50):
        ws = await ws_connect(url, ping_interval=None, close_timeout=CLOSE_TIMEOUT)
        await ws.send("hello")
        with contextlib.suppress(WSConnectionClosed, TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)
            counter[0] += 1
        await ws.close()
    return "50 reloads"


class FrameworkApp(Protocol):
    """A variant served by a web framework of its own (:mod:`wsstate_tools.demo_frameworks`)."""

    def serving(self) -> contextlib.AbstractAsyncContextManager[int]:
        """Serve on 127.0.0.1; yield the port."""
        ...

    async def push(self, update: str) -> None:
        """Push ``update`` to every client."""


@contextlib.asynccontextmanager
async def _serving(app: NaiveApp | GuardedApp | FrameworkApp) -> AsyncIterator[int]:
    """The variant's server on 127.0.0.1 (websockets', or its framework's); yields the port."""
    if isinstance(app, NaiveApp | GuardedApp):
        async with serve(
            app.handler,
            "127.0.0.1",
            0,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        ) as server:
            yield server.sockets[0].getsockname()[1]
    else:
        async with app.serving() as port:
            yield port


async def run_variant(
    name: str,
    app: NaiveApp | GuardedApp | FrameworkApp,
    progress: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    """Run the whole storm against one server variant; return what it produced."""
    result = DemoResult(name)
    recorder = _Recorder(result)
    root = logging.getLogger()
    root.addHandler(recorder)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_loop_exception(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("future"), asyncio.Future) and "exception" in context:
            result.unretrieved += 1
        else:
            result.errors += 1
        if "exception" in context:
            result.tracebacks += 1

    loop.set_exception_handler(on_loop_exception)
    counter = [0]
    started = time.perf_counter()
    stop = asyncio.Event()

    async def pusher() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await app.push(f"update {n}")
            await asyncio.sleep(PUSH_INTERVAL)

    try:
        async with _serving(app) as port:
            url = f"ws://127.0.0.1:{port}/"
            push_task = loop.create_task(pusher())
            phases: list[Awaitable[str]] = [
                _phase_clean(url, counter),
                _phase_fault(port, counter, 20, "reset"),
                _phase_fault(port, counter, 10, "fin"),
                _phase_halfopen(port, counter),
                _phase_reload(url, counter),
            ]
            for phase in phases:
                line = await phase
                result.phases.append(line)
                progress(
                    f"  {name:<8} {line:<32} ERROR so far: {result.errors:>4}   "
                    f"unretrieved: {result.unretrieved:>4}"
                )
            stop.set()
            await push_task
            await asyncio.sleep(CLOSE_TIMEOUT + 0.2)
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(previous)
        root.removeHandler(recorder)
    result.delivered = counter[0]
    result.seconds = time.perf_counter() - started
    result.no_code = getattr(app, "no_code", None)
    return result


def format_results(results: list[DemoResult]) -> str:
    """The side-by-side table."""
    rows = [
        ("ERROR records (any logger)", [str(r.errors) for r in results]),
        ("tracebacks", [str(r.tracebacks) for r in results]),
        ("unretrieved task exceptions", [str(r.unretrieved) for r in results]),
        ("messages delivered", [str(r.delivered) for r in results]),
        ("wall time (s)", [f"{r.seconds:.1f}" for r in results]),
    ]
    out = [f"{'':<30}" + "".join(f"{r.name:>12}" for r in results)]
    for label, values in rows:
        out.append(f"{label:<30}" + "".join(f"{v:>12}" for v in values))
    return "\n".join(out) + "\n" + TABLE_NOTE


#: Why the last two rows differ between the columns (printed under the table).
TABLE_NOTE = """
why the last two rows differ:
  messages delivered  every message the clients received (echoes and pushed
                      updates). The pusher starts a round every 5 ms for every
                      connected client, so a column delivers more when its rounds
                      cost less: the naive pusher raises, logs and formats a
                      traceback for each dead connection (and its fire-and-forget
                      sends fail again); wsstate drops those sends after one table
                      lookup. Not a delivery guarantee: updates to peers that left
                      are lost in both columns.
  wall time           set by the storm's phases (fixed waits for the half-open
                      peers, the closing handshakes), not by the handlers: about
                      the same in both columns.
"""


async def _main() -> list[DemoResult]:
    def progress(line: str) -> None:
        print(line, flush=True)

    print("storm: clean closes, TCP resets, FIN without Close, half-open peers, 50 reloads;")
    print("the server pushes an update every 5 ms to every client, awaited and fire-and-forget\n")
    naive = await run_variant("naive", NaiveApp(), progress)
    guarded = await run_variant("wsstate", GuardedApp(), progress)
    return [naive, guarded]


def storm_section() -> int:
    """Run both variants of the storm and print the side-by-side table; 1 if wsstate logged."""
    results = asyncio.run(_main())
    print()
    print(format_results(results))
    naive, guarded = results
    if naive.first_error:
        print(f"first naive ERROR: {naive.first_error}")
    if guarded.errors or guarded.unretrieved or guarded.tracebacks:
        print(f"wsstate column is not clean: first ERROR: {guarded.first_error}", file=sys.stderr)
        return 1
    print("wsstate: zero ERROR records, zero tracebacks, zero unretrieved task exceptions")
    return 0


# -- Solara #1013 on Starlette and uvicorn ---------------------------------------------
#
# Solara 1.44 pushed kernel messages to each Starlette WebSocket from a loop; on an
# exception it logged "Error sending message: ..., closing websocket" at ERROR and
# called websocket.close(), and closed the socket again in a finally. When a browser
# tab resets the TCP connection mid-send, uvicorn raises ClientDisconnected, Starlette
# turns it into WebSocketDisconnect(1006) (Solara expected its own disconnect class),
# the handler logs it, close() raises RuntimeError ('Cannot call "send" once a close
# message has been sent.'), and uvicorn logs "Exception in ASGI application". The
# same handler on wsstate: the failed send is wsstate.ConnectionClosed, close() is an
# idempotent no-op, nothing above DEBUG. Needs `pip install wsstate[starlette]`.

SOLARA_CLIENTS: Final = 10
SOLARA_PAYLOAD: Final = b"\x00" * 512


class _SolaraDisconnect(Exception):
    """Solara's own WebSocketDisconnect: what its wrapper expected, never what Starlette raised."""


@dataclass
class ChainResult:
    """What one handler variant produced under one uvicorn WebSocket implementation."""

    impl: str
    variant: str
    errors: int = 0
    tracebacks: int = 0
    unretrieved: int = 0
    delivered: int = 0
    #: "logger: exception type" of every ERROR record, in order.
    chain: list[str] = field(default_factory=list)
    #: (logger, exception) of every ERROR record, in order.
    records: list[tuple[str, BaseException | None]] = field(default_factory=list)


class _ChainRecorder(logging.Handler):
    def __init__(self, result: ChainResult) -> None:
        super().__init__(logging.DEBUG)
        self.result = result

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.result.tracebacks += 1
        if record.levelno >= logging.ERROR:
            self.result.errors += 1
            exc = record.exc_info[1] if record.exc_info else None
            kind = type(exc).__name__ if exc is not None else "no exception"
            self.result.chain.append(f"{record.name}: {kind}")
            self.result.records.append((record.name, exc))


def solara_endpoint(variant: str) -> Callable[[Any], Awaitable[None]]:
    """The Starlette endpoint, written as Solara 1.44 wrote it; ``variant``: naive | wsstate."""
    from starlette.websockets import WebSocket

    async def endpoint(websocket: WebSocket) -> None:
        send: Callable[[bytes], Awaitable[object]]
        close: Callable[[], Awaitable[object]]
        disconnected: type[Exception]
        if variant == "naive":
            await websocket.accept()
            send, close, disconnected = websocket.send_bytes, websocket.close, _SolaraDisconnect
        else:
            conn = guard(websocket, close_timeout=CLOSE_TIMEOUT)
            await conn.accept()
            send, close = conn.send, conn.close
            disconnected = WSStateConnectionClosed
        try:
            while True:
                try:
                    await send(SOLARA_PAYLOAD)
                except disconnected:
                    break
                except Exception as e:
                    log.exception("Error sending message: %s, closing websocket", e)
                    await close()
                    break
                await asyncio.sleep(PUSH_INTERVAL)
        finally:
            await close()

    return endpoint


async def run_solara_1013(impl: str, variant: str) -> ChainResult:
    """Serve the Solara-style endpoint on a real uvicorn (``ws=impl``); reset every client
    mid-send through the fault proxy; return what was logged."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    result = ChainResult(impl, variant)
    recorder = _ChainRecorder(result)
    root, uv_logger = logging.getLogger(), logging.getLogger("uvicorn")
    saved = root.level, uv_logger.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    uv_logger.setLevel(logging.INFO)  # the legacy implementation logs each frame at DEBUG
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_loop_exception(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        result.unretrieved += 1

    loop.set_exception_handler(on_loop_exception)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    app = Starlette(routes=[WebSocketRoute("/", solara_endpoint(variant))])
    config = uvicorn.Config(app, ws=impl, lifespan="off", log_config=None, ws_ping_interval=None)
    server = Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    serving = loop.create_task(server.serve(sockets=[sock]))
    counter = [0]
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.01)
        async with FaultProxy("127.0.0.1", sock.getsockname()[1]) as proxy:
            clients = await _clients(proxy.url, SOLARA_CLIENTS, counter)
            await asyncio.sleep(0.2)
            await proxy.reset()  # every browser tab resets mid-send
            await asyncio.sleep(0.3)
            await _finish(clients)
    finally:
        server.should_exit = True
        await serving
        sock.close()
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.01)
        loop.set_exception_handler(previous)
        root.removeHandler(recorder)
        root.setLevel(saved[0])
        uv_logger.setLevel(saved[1])
    result.delivered = counter[0]
    return result


def format_1013(results: list[ChainResult]) -> str:
    """The #1013 table: one row per uvicorn implementation, naive against wsstate."""
    by = {(r.impl, r.variant): r for r in results}
    impls = list(dict.fromkeys(r.impl for r in results))
    heads = ("naive ERROR", "tracebacks", "wsstate ERROR", "tracebacks")
    out = [f"{'uvicorn --ws':<20}" + "".join(f"{h:>15}" for h in heads)]
    for impl in impls:
        naive, guarded = by[(impl, "naive")], by[(impl, "wsstate")]
        counts = (naive.errors, naive.tracebacks, guarded.errors, guarded.tracebacks)
        out.append(f"{impl:<20}" + "".join(f"{n:>15}" for n in counts))
    return "\n".join(out) + "\n"


SOLARA_IMPLS: Final = ("websockets", "websockets-sansio", "wsproto")


def solara_1013_section() -> int:
    """Print the #1013 comparison; 1 if the wsstate column is not clean (0 if skipped)."""
    print()
    print("Solara #1013: a Starlette handler that pushes, logs the failed send and closes")
    print(f"again, on a real uvicorn; {SOLARA_CLIENTS} clients reset the connection mid-send\n")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("skipped: pip install 'wsstate[starlette]'")
        return 0

    async def run_all() -> list[ChainResult]:
        return [
            await run_solara_1013(impl, variant)
            for impl in SOLARA_IMPLS
            for variant in ("naive", "wsstate")
        ]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uvicorn's legacy implementation is deprecated
        results = asyncio.run(run_all())
    print(format_1013(results))
    naive = next(r for r in results if r.variant == "naive" and r.chain)
    print(f"naive chain ({naive.impl}): " + " -> ".join(dict.fromkeys(naive.chain)))
    dirty = [
        r for r in results if r.variant == "wsstate" and (r.errors or r.tracebacks or r.unretrieved)
    ]
    if dirty:
        print(f"wsstate column is not clean: {dirty[0].chain}", file=sys.stderr)
        return 1
    print("wsstate: zero ERROR records under all three implementations")
    return 0
