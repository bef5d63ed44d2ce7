"""The Python blocks of README.md and of the pages without a test of their own run as written.

tests/test_docs_integrations.py does it for docs/aiohttp.md and docs/tornado.md;
this file for every other page with a ```python block: README.md,
docs/client.md, docs/redis.md, docs/sessions.md, docs/starlette.md, docs/api.md,
docs/endpoint-testing.md. None of these blocks ran anywhere before (the programs
under examples/ that some of them resemble are near copies, which can drift):
each is read from its page and executed here, against real parts (websockets
and uvicorn servers on loopback, a real redis-server, the real fuzzing and
adapter-checking harnesses), and the test asserts what the page says of it.

How a block is run:

* a complete block runs as a module (``run_blocks``, or :func:`run_block` when
  the test substitutes a URL);
* a fragment (it uses names the page defines in prose, or elides with ``...``)
  runs in a namespace the test completes with the fewest names, each said in a
  comment where it is given;
* a block with a top-level ``await`` or ``async with`` (README.md, client.md,
  sessions.md) is written for the asyncio REPL (``python -m asyncio``): it runs
  as that REPL runs it, statement by statement in the running loop
  (:func:`run_in_repl`), and each expression's value (what the REPL prints) is
  kept for the test to check;
* a URL that nothing answers here (``ws://localhost:8000``,
  ``wss://example.com/feed``, ``redis://redis:6379/0``) is replaced by the
  loopback server's; each replaced text must occur exactly once;
* the first block of endpoint-testing.md is a test module: pytest runs it in a
  project directory of its own, with the installed plugin.

The async tests run under the harness ``h``: no ERROR or WARNING from any
logger (but the WARNING or INFO rows a test names), no task or descriptor left
behind, and every connection the page's code guards (:func:`record_guards`)
CLOSED with its notification fired once.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import linecache
import logging
import os
import re
import subprocess
import sys
import types
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import pytest
import websockets.asyncio.client
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from support.asgi import Site
from support.harness import WS_DEFAULTS, Harness, eventually, port_of, received
from test_docs_integrations import blocks, run_blocks
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection

import wsstate
from wsstate import ClosedBy, GuardedConnection
from wsstate.adapters.websockets import WebsocketsTransport
from wsstate.machines.session import State as SessionState
from wsstate.testing import EndpointFailure, FuzzReport, Step, fuzz
from wsstate.testing.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: README.md, as ``blocks()`` (which reads ``docs/<page>``) reaches it.
README = "../README.md"
#: How long a step may take (a loopback echo, a close with an answering peer).
STEP = 2.0
#: uvicorn's WebSocket implementation for the ASGI pages (the one their run lines name).
IMPL = "websockets-sansio"


# -- running a block -------------------------------------------------------------------


def where(page: str, index: int) -> str:
    """The name a block is compiled under (tracebacks and fuzz reports show it)."""
    path = "README.md" if page == README else f"docs/{page}"
    return f"{path}, python block {index + 1}"


def source(page: str, index: int, replace: dict[str, str] | None = None) -> tuple[str, str]:
    """Block ``index`` of ``page`` with ``replace`` applied, and its name, registered in
    :mod:`linecache` so that tracebacks and fuzz reports quote its lines."""
    text = blocks(page)[index]
    for old, new in (replace or {}).items():
        assert text.count(old) == 1, f"{where(page, index)}: {old!r} is not there once"
        text = text.replace(old, new)
    name = where(page, index)
    linecache.cache[name] = (len(text), None, text.splitlines(keepends=True), name)
    return text, name


def run_block(
    page: str,
    index: int,
    namespace: dict[str, Any] | None = None,
    replace: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Execute one block as a module in ``namespace`` (a fragment's completion); return it."""
    text, name = source(page, index, replace)
    found = {} if namespace is None else namespace
    found.setdefault("__name__", f"docs_{Path(page).stem}")
    exec(compile(text, name, "exec"), found)
    return found


def statements(
    page: str, index: int, replace: dict[str, str] | None = None
) -> Iterator[tuple[CodeType, bool]]:
    """The block's top-level statements, compiled one by one as the asyncio REPL compiles
    them (top-level ``await`` allowed); True for an expression (the REPL prints its value)."""
    text, name = source(page, index, replace)
    for node in ast.parse(text, name).body:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        if isinstance(node, ast.Expr):
            yield compile(ast.Expression(node.value), name, "eval", flags=flags), True
        else:
            yield compile(ast.Module([node], type_ignores=[]), name, "exec", flags=flags), False


async def run_in_repl(
    page: str, index: int, namespace: dict[str, Any], replace: dict[str, str] | None = None
) -> list[Any]:
    """Run a block as ``python -m asyncio`` does, in ``namespace``, in the running loop;
    return the values of its expression statements, in order."""
    values: list[Any] = []
    for code, expression in statements(page, index, replace):
        value = eval(code, namespace)
        if code.co_flags & inspect.CO_COROUTINE:
            value = await value
        if expression:
            values.append(value)
    return values


def run_in_plain_repl(page: str, index: int, namespace: dict[str, Any]) -> list[Any]:
    """:func:`run_in_repl` for a block with no ``await`` (one that runs its own loop)."""
    values: list[Any] = []
    for code, expression in statements(page, index):
        assert not code.co_flags & inspect.CO_COROUTINE, "this block awaits: use run_in_repl"
        value = eval(code, namespace)
        if expression:
            values.append(value)
    return values


def record_guards(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[GuardedConnection]:
    """Every connection the page's code guards with ``wsstate.guard(...)``, in order, each
    tracked by the harness (CLOSED at the end, notified once). The block's own
    ``import wsstate`` finds the module patched; the real ``guard`` does the work."""
    made: list[GuardedConnection] = []
    real = wsstate.guard

    def guard(ws: object, **options: Any) -> GuardedConnection:
        conn = real(ws, **options)
        h.track(conn)
        made.append(conn)
        return conn

    monkeypatch.setattr(wsstate, "guard", guard)
    return made


def test_the_pages_have_the_blocks_tested_here() -> None:
    # One test (or more) per block; a page that gains a block must gain its test here.
    counts = {
        page: len(blocks(page))
        for page in (
            README,
            "client.md",
            "redis.md",
            "sessions.md",
            "starlette.md",
            "api.md",
            "endpoint-testing.md",
        )
    }
    assert counts == {
        README: 1,
        "client.md": 1,
        "redis.md": 1,
        "sessions.md": 1,
        "starlette.md": 1,
        "api.md": 3,
        "endpoint-testing.md": 4,
    }
    # Every other page with a python block is tested in test_docs_integrations.py.
    others = {p.name for p in (ROOT / "docs").glob("*.md") if "```python" in p.read_text("utf-8")}
    assert others == set(counts) - {README} | {"aiohttp.md", "tornado.md"}


# -- README.md -------------------------------------------------------------------------


async def test_readme(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    guarded = record_guards(h, monkeypatch)
    docs: dict[str, Any] = {"__name__": "docs_readme"}

    async def handler(ws: ServerConnection) -> None:
        await docs["handler"](ws)  # the page's, defined by the block's first statement

    server = await h.serve(handler)
    url = f"ws://127.0.0.1:{port_of(server)}"

    # The whole block: its client connects to its handler, sends "hello", and closes
    # when leaving `async with`; the handler's loop then ends quietly.
    await asyncio.wait_for(run_in_repl(README, 0, docs, {"ws://localhost:8000": url}), STEP)
    (first,) = guarded
    await asyncio.wait_for(first.wait_closed(), STEP)
    assert first.stats.received == 1
    assert (first.close_code, first.closed_by, first.clean) == (1000, ClosedBy.REMOTE, True)

    # The handler against a raw client: an echo, then the peer's Close ends it quietly.
    client = await ws_connect(url, **WS_DEFAULTS)
    h.defer(client.close)
    await client.send("hi")
    assert await asyncio.wait_for(client.recv(), STEP) == "echo hi"
    await client.close()
    second = guarded[1]
    await asyncio.wait_for(second.wait_closed(), STEP)
    assert (second.close_code, second.closed_by, second.clean) == (1000, ClosedBy.REMOTE, True)
    assert await second.close() is False  # "idempotent: a no-op if the peer closed"


# -- docs/client.md --------------------------------------------------------------------


async def test_client_page(h: Harness) -> None:
    got: list[str | bytes] = []

    async def feed(ws: ServerConnection) -> None:
        async for message in ws:
            got.append(message)
            if message == "subscribe":
                await ws.send("update")
                # 4000-4999 are fatal (spec/retry/client.toml): the client stops, so
                # the block's `async for message in client` ends.
                await ws.close(4001, "done")
                return

    # The client's rows: INFO for its attempts, one WARNING for the fatal close.
    h.wsstate_info = True
    h.wsstate_warnings = 1
    server = await h.serve(feed)
    url = f"ws://127.0.0.1:{port_of(server)}/feed"
    docs: dict[str, Any] = {"__name__": "docs_client"}
    await asyncio.wait_for(run_in_repl("client.md", 0, docs, {"wss://example.com/feed": url}), STEP)
    client: wsstate.ReconnectingClient = docs["client"]
    # on_open's send goes out before anything buffered; "subscribe" was buffered until
    # the first connection, then flushed.
    assert got == ['{"token": "..."}', "subscribe"]
    assert (client.stats.buffered, client.stats.flushed) == (1, 1)
    assert (client.state, client.generation) == (wsstate.ClientState.STOPPED, 1)


# -- docs/redis.md ---------------------------------------------------------------------


async def test_redis_page(h: Harness, monkeypatch: pytest.MonkeyPatch, redis: RedisServer) -> None:
    h.wsstate_info = True  # the link's rows log its connects and its close at INFO
    guarded = record_guards(h, monkeypatch)
    # Two workers, each running the page's code (its own module, its own RedisHub) on
    # its own uvicorn, with the page's lifespan; Redis is the test's.
    workers: list[tuple[wsstate.RedisHub, Site]] = []
    for n in range(2):
        docs = run_block(
            "redis.md", 0, {"__name__": f"worker{n}"}, {"redis://redis:6379/0": redis.url}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a lifespan Starlette takes as it is
            app = Starlette(
                routes=[WebSocketRoute("/ws", docs["endpoint"])], lifespan=docs["lifespan"]
            )
        site = await Site.start(h, IMPL, app=app, lifespan="on")
        hub: wsstate.RedisHub = docs["hub"]
        assert await asyncio.wait_for(hub.wait_connected(), STEP)
        workers.append((hub, site))
    clients = []
    for hub, site in workers:
        client = await ws_connect(site.url("/ws"), **WS_DEFAULTS)
        h.defer(client.close)
        clients.append(client)
        await eventually(lambda hub=hub: len(hub) == 1, within=STEP)  # type: ignore[misc]

    # "every member of every worker": each client gets each broadcast once, the
    # sender's own included (its copy back from Redis is discarded).
    for sender, text in ((0, "hi"), (1, "bye")):
        await clients[sender].send(text)
        for client in clients:
            assert await asyncio.wait_for(client.recv(), STEP) == text
    assert [len(hub) for hub, _ in workers] == [1, 1]
    assert [hub.stats.gaps for hub, _ in workers] == [0, 0]
    assert len(guarded) == 2


# -- docs/sessions.md ------------------------------------------------------------------


async def test_sessions_api(h: Harness) -> None:
    pair = await h.pair("server", proxy=False)
    expired: list[wsstate.Session] = []
    # A fragment: the names the prose gives (on_expire=cleanup, a page's id, a guarded
    # connection, something to send).
    docs: dict[str, Any] = {
        "__name__": "docs_sessions",
        "wsstate": wsstate,
        "cleanup": expired.append,
        "session_id": "page-1",
        "conn": pair.conn,
        "data": "update",
    }
    values = await asyncio.wait_for(run_in_repl("sessions.md", 0, docs), STEP)
    session: wsstate.Session = docs["session"]
    assert values == [
        ("page-1", 1, SessionState.ATTACHED, False, False, 0),  # right after attach
        None,  # send
        True,  # try_send
        True,  # close: the call that ended it
        False,  # page_close: no session any more
        (None, 0),  # get, len
        wsstate.SessionBroadcast(sent=0, held=0, dropped=0),
        0,  # close_all: the one session was closed already
    ]
    assert (session.state, session.last_sent, expired) == (SessionState.CLOSED, 2, [session])
    # The session closed its connection ("session closed") after the two messages.
    assert await asyncio.wait_for(received(pair.peer), STEP) == ["update", "update"]
    await asyncio.wait_for(pair.conn.wait_closed(), STEP)
    assert (pair.conn.close_code, pair.conn.close_reason) == (1000, "session closed")


# -- docs/starlette.md -----------------------------------------------------------------


async def test_starlette_pattern(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    guarded = record_guards(h, monkeypatch)
    docs = run_blocks("starlette.md", 0)
    hub: wsstate.Hub = docs["hub"]
    site = await Site.start(h, IMPL, routes={"/ws": docs["session"]})
    client = await ws_connect(site.url("/ws"), **WS_DEFAULTS)
    h.defer(client.close)
    await client.send("hi")
    assert await asyncio.wait_for(client.recv(), STEP) == "echo hi"
    (conn,) = guarded
    assert conn in hub
    assert conn.options.close_timeout == 5
    await client.close()
    assert client.close_code == 1000
    await asyncio.wait_for(conn.wait_closed(), STEP)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1000, ClosedBy.REMOTE, True)
    assert len(hub) == 0  # "leaves the hub by itself when it closes"


# -- docs/api.md -----------------------------------------------------------------------


async def test_api_guard_handler(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    guarded = record_guards(h, monkeypatch)
    hub = wsstate.Hub()
    # A fragment: `wsstate` imported, `hub` the Hub the prose adds connections to.
    docs = run_block("api.md", 0, {"wsstate": wsstate, "hub": hub})
    server = await h.serve(docs["handler"])
    client = await ws_connect(f"ws://127.0.0.1:{port_of(server)}", **WS_DEFAULTS)
    h.defer(client.close)
    await eventually(lambda: len(hub) == 1, within=STEP)
    (conn,) = guarded
    assert conn in hub
    assert (conn.options.ping_interval, conn.options.close_timeout) == (20, 5)
    for text in ("one", "two"):
        await client.send(text)
    await eventually(lambda: conn.stats.received == 2, within=STEP)
    await client.close()
    await asyncio.wait_for(conn.wait_closed(), STEP)
    assert (conn.close_code, conn.closed_by, conn.clean) == (1000, ClosedBy.REMOTE, True)
    assert len(hub) == 0


async def test_api_relay_annotated_with_the_message_types(h: Harness) -> None:
    # A whole block: the relay between two guarded connections, annotated with
    # wsstate.Data and wsstate.Payload (test_typing checks the annotations).
    docs = run_block("api.md", 1, {})
    conns: list[GuardedConnection] = []

    async def handler(ws: ServerConnection) -> None:
        conn = wsstate.guard(ws)
        h.track(conn)
        conns.append(conn)
        await conn.wait_closed()

    server = await h.serve(handler)
    url = f"ws://127.0.0.1:{port_of(server)}"
    source = await ws_connect(url, **WS_DEFAULTS)
    await eventually(lambda: len(conns) == 1, within=STEP)
    sink = await ws_connect(url, **WS_DEFAULTS)
    h.defer(sink.close)
    await eventually(lambda: len(conns) == 2, within=STEP)
    relaying = asyncio.ensure_future(docs["relay"](conns[0], conns[1]))
    await source.send("text")
    await source.send(b"bytes")
    assert [await asyncio.wait_for(sink.recv(), STEP) for _ in range(2)] == ["text", b"bytes"]
    await source.close()
    await asyncio.wait_for(relaying, STEP)  # the source closed: the relay ends


class CounterMetricFamily:
    """Stands in for ``prometheus_client.core.CounterMetricFamily`` (its arguments)."""

    def __init__(self, name: str, documentation: str, value: float | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.value = value


class GaugeMetricFamily(CounterMetricFamily):
    """Stands in for ``prometheus_client.core.GaugeMetricFamily`` (its arguments)."""


def test_api_counters_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    # prometheus_client is not a dependency: the block's import finds a stand-in.
    core = types.ModuleType("prometheus_client.core")
    core.CounterMetricFamily = CounterMetricFamily  # type: ignore[attr-defined]
    core.GaugeMetricFamily = GaugeMetricFamily  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prometheus_client", types.ModuleType("prometheus_client"))
    monkeypatch.setitem(sys.modules, "prometheus_client.core", core)
    # A fragment: `wsstate` imported.
    docs = run_block("api.md", 2, {"wsstate": wsstate})
    families = list(docs["collect"]())
    snapshot = wsstate.counters.snapshot()
    # The counters the prose lists, each exported once with its value.
    assert set(snapshot) == {
        "guarded",
        "open",
        "closed",
        "closed_local",
        "closed_remote",
        "closed_transport",
        "closed_timeout",
        "dropped",
        "threadsafe_failures",
        "callback_errors",
    }
    assert {f.name: f.value for f in families} == {f"wsstate_{k}": v for k, v in snapshot.items()}
    assert all(f.documentation == f"wsstate {f.name.removeprefix('wsstate_')}" for f in families)
    # `open` falls as connections close: a gauge; every other one only grows.
    gauges = [f.name for f in families if isinstance(f, GaugeMetricFamily)]
    assert gauges == ["wsstate_open"], gauges


# -- docs/endpoint-testing.md ----------------------------------------------------------


def test_endpoint_testing_pytest_plugin(tmp_path: Path) -> None:
    # The block is a test module of a project where wsstate is installed: run by pytest
    # in a directory of its own, with examples/ (tutorial_fastapi) importable, sizes cut
    # down by the page's own options.
    (tmp_path / "test_tutorial_endpoint.py").write_text(blocks("endpoint-testing.md")[0])
    path = os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("--wsstate-seed", "1", "--wsstate-examples", "2", "--wsstate-steps", "4"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^2 passed\b", done.stdout.splitlines()[-1]), output


def naive_app_of_the_page() -> FastAPI:
    """The page's ``naive_tick`` and ``naive_endpoint`` (block 2, an excerpt of
    examples/naive_endpoint.py) on a FastAPI app whose lifespan runs the tick."""
    # A fragment: completed with what examples/naive_endpoint.py defines above it.
    names: dict[str, Any] = {
        "asyncio": asyncio,
        "log": logging.getLogger("naive_endpoint"),
        "TICK": 0.02,
        "clients": set(),
        "WebSocket": WebSocket,
        "WebSocketDisconnect": WebSocketDisconnect,
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(names["naive_tick"]())
        yield
        task.cancel()

    names["naive_app"] = FastAPI(lifespan=lifespan)
    docs = run_block("endpoint-testing.md", 1, names)
    app: FastAPI = docs["naive_app"]
    return app


def test_endpoint_testing_naive_endpoint() -> None:
    app = naive_app_of_the_page()
    # "a binary message kills the handler (KeyError: 'text', called from message =
    # await websocket.receive_text())"; uvicorn's FIN without a Close that follows is
    # in the report only when it comes before the run stops at the ERROR record.
    with pytest.raises(EndpointFailure) as binary:
        fuzz(app, path="/ws", program=[Step("open"), Step("send", arg=1)])
    report = str(binary.value)
    assert "KeyError: 'text'" in report, report
    assert "in naive_endpoint: message = await websocket.receive_text()" in report, report
    # A closed tab: the error handler's close() raises (uvicorn's ERROR, called from it).
    with pytest.raises(EndpointFailure) as left:
        fuzz(app, path="/ws", program=[Step("open"), Step("leave")])
    report = str(left.value)
    assert "ERROR uvicorn.error: Exception in ASGI application" in report, report
    assert "in naive_endpoint: await websocket.close()" in report, report


def test_endpoint_testing_program() -> None:
    # A fragment: `app` is the endpoint under test. The guarded one of
    # examples/naive_endpoint.py passes the regression test; the page's naive one fails it.
    spec = importlib.util.spec_from_file_location("naive_endpoint", EXAMPLES / "naive_endpoint.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    (report,) = run_in_plain_repl("endpoint-testing.md", 2, {"app": example.guarded_app})
    assert isinstance(report, FuzzReport)
    assert (report.examples, report.steps) == (1, 4)
    with pytest.raises(EndpointFailure) as failed:
        run_in_plain_repl("endpoint-testing.md", 2, {"app": naive_app_of_the_page()})
    events = "\n".join(failed.value.events)
    assert "stops reading" in events, events
    assert "send large text (65536 B)" in events, events
    assert "leave" in events, events


class MyTransport(WebsocketsTransport):
    """Stands for the reader's adapter: wsstate's websockets one, with the count of
    received messages waiting for ``recv()`` that the harness reads (``queued``)."""

    __slots__ = ()

    @property
    def queued(self) -> int:
        return len(self.connection.recv_messages.frames)


def test_endpoint_testing_check_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    # A fragment: `MyTransport` is the reader's adapter over their library's connection,
    # `my_library` that library (websockets' client here).
    docs = run_block(
        "endpoint-testing.md",
        3,
        {"MyTransport": MyTransport, "my_library": websockets.asyncio.client},
    )
    docs["test_my_adapter"]()
    printed = capsys.readouterr().out
    for role in ("my-server", "my-client"):
        assert f"transition coverage ({role}): 45/45 drivable pairs" in printed, printed
