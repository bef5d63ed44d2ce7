"""wsstate.testing.fuzz (issue 16): every check fails on an endpoint that breaks it, a
guarded endpoint passes, a seed replays, bad arguments are refused at the call.

Each broken endpoint is a real websockets server (in this process, or on a thread
of its own for a ``ws://`` URL target) that commits one fault; the test asserts
that the counterexample names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shlex
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import wsstate
from wsstate.testing import EndpointFailure, FuzzReport, TargetError, fuzz
from wsstate.testing.endpoint import Step

Handler = Callable[[ServerConnection], Coroutine[Any, Any, None]]

# Searches are short and few: a correct endpoint must pass them, a broken one fails the first.
FAST: dict[str, Any] = {"examples": 8, "steps": 8, "close_timeout": 0.5}
#: The one program a broken endpoint below needs to show its fault: a client opens and sends.
OPEN_SEND = [Step("open"), Step("send")]


@contextlib.contextmanager
def served_elsewhere(handler: Handler) -> Iterator[str]:
    """``handler`` on a websockets server in a thread of its own; yields its ws:// URL."""
    ready = threading.Event()
    stop: list[Callable[[], object]] = []
    url: list[str] = []

    async def run() -> None:
        done = asyncio.Event()
        # close_timeout: a connection whose handler broke the closing handshake on purpose
        # must not hold the server's shutdown for websockets' default 10 s
        async with serve(handler, "127.0.0.1", 0, close_timeout=0.5) as server:
            port = server.sockets[0].getsockname()[1]
            url.append(f"ws://127.0.0.1:{port}/any/path")
            loop = asyncio.get_running_loop()
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield url[0]
    finally:
        stop[0]()
        thread.join(10)


async def guarded(ws: ServerConnection) -> None:
    conn = wsstate.guard(ws, close_timeout=0.5)
    async for message in conn:
        await conn.try_send(f"echo {message!r}")


async def echo_then(ws: ServerConnection, fault: Callable[[ServerConnection], None]) -> None:
    async for _ in ws:
        fault(ws)
        break
    await ws.wait_closed()  # returning would make websockets close on its own


def _raw(data: bytes) -> Callable[[ServerConnection], None]:
    def fault(ws: ServerConnection) -> None:
        ws.transport.write(data)
        ws.transport.close()

    return fault


def failure_of(target: object, **options: Any) -> EndpointFailure:
    """The failure of a search (seed 7), or of ``program=`` when given."""
    if "program" in options:
        options = {"close_timeout": FAST["close_timeout"], **options}
    else:
        options = {**FAST, "seed": 7, **options}
    with pytest.raises(EndpointFailure) as info:
        fuzz(target, **options)
    return info.value


# --- a correct endpoint passes ---------------------------------------------------------


def test_a_guarded_websockets_handler_passes() -> None:
    report = fuzz(guarded, **FAST, seed=1)
    assert isinstance(report, FuzzReport)
    assert report.examples >= FAST["examples"]
    assert report.steps >= report.examples
    assert report.seed == 1


def test_a_guarded_server_behind_a_url_passes() -> None:
    with served_elsewhere(guarded) as url:
        report = fuzz(url, **FAST, seed=2)
    assert report.target.startswith(url)


async def gives_up_on_slow_readers(ws: ServerConnection) -> None:
    """Guarded, with a short write timeout: 8 MB for each message, to a client that does
    not read, stall the send; the table's answer is Close 1008 (stuck behind the data)
    and, when the close timer fires, an abort."""
    conn = wsstate.guard(ws, write_timeout=0.05, close_timeout=0.05)
    async for _ in conn:
        for _ in range(8):
            await conn.try_send("y" * 1_000_000)


def test_a_server_that_aborts_a_stalled_slow_reader_as_the_table_says_passes() -> None:
    """No 'a Close was due' for it: the client stopped reading, the Close could not be
    written. (This failed before: 'the server ended TCP (RST) instead of answering'.)"""
    report = fuzz(
        gives_up_on_slow_readers,
        close_timeout=1.0,
        program=[Step("open"), Step("slow"), Step("send"), *[Step("pause", arg=3)] * 3],
    )
    assert report.steps == 6


# --- each client-observable check, on a server that breaks it (URL target) --------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (_raw(b"\x88\x02\x03\xee"), "carries code 1006, which may not be sent"),
        (_raw(b"\x88\x02\x03\xe8\x81\x02hi"), "frame #1 TEXT (data, 2 bytes) follows frame #0"),
        (_raw(b"\x88\x02\x03\xe8\x88\x02\x03\xe8"), "is a second Close"),
        (lambda ws: ws.transport.close(), "the server ended TCP (FIN) without a Close frame"),
        (lambda ws: ws.transport.abort(), "without a Close frame"),
        (
            lambda ws: ws.transport.pause_reading(),
            "was not answered within the close timeout (0.5 s)",
        ),
    ],
    ids=["reserved-code", "data-after-close", "second-close", "fin", "abort", "unanswered"],
)
def test_a_client_observable_fault_is_a_readable_counterexample(
    fault: Callable[[ServerConnection], None], expected: str
) -> None:
    with served_elsewhere(lambda ws: echo_then(ws, fault)) as url:
        failure = failure_of(url, program=OPEN_SEND)
        again = failure_of(url, program=failure.program)  # the exact replay
    text = str(failure)
    assert text.startswith(f"{url}: 1 problem(s) in example 1, "), text  # the URL once
    assert expected in text, text
    assert "events:\n  1. c1: open\n  2. c1: send text" in text  # what provoked the fault
    assert "wire when the problem was seen" in text
    assert "c1: client sent TEXT" in text
    assert failure.replay == (
        f"wsstate.testing.fuzz({url!r}, program=[Step('open', 0, 0), Step('send', 0, 0)], "
        "close_timeout=0.5)"
    )
    assert f"replay: {failure.replay}" in text
    assert "seed:" not in text  # no search, nothing to seed
    assert not failure.errors  # a URL target: nothing is looked at inside the server
    assert len(failure.problems) == 1, text  # the fault, not its consequences
    assert again.problems == failure.problems
    assert again.events == failure.events


def test_a_search_prints_its_seed_and_a_wsstate_fuzz_replay() -> None:
    with served_elsewhere(lambda ws: echo_then(ws, _raw(b"\x88\x02\x03\xee"))) as url:
        failure = failure_of(url)
    text = str(failure)
    assert "carries code 1006, which may not be sent" in text
    assert failure.seed == 7
    assert "seed: 7" in text
    assert (
        f"replay: wsstate fuzz --target {url} --close-timeout 0.5 --replay 7 --examples 8 "
        "--steps 8\n" in f"{text}\n"
    )
    assert failure.program  # the failing program, for fuzz(target, program=...)


# --- what only an in-process target shows --------------------------------------------


async def raises(ws: ServerConnection) -> None:
    async for message in ws:
        raise RuntimeError(f"cannot handle {message!r}")


leaked: set[asyncio.Task[None]] = set()


async def leaks_a_task(ws: ServerConnection) -> None:
    leaked.add(asyncio.create_task(asyncio.sleep(3600)))
    async for _ in ws:
        pass


async def _fails() -> None:
    raise RuntimeError("fire and forget")


async def fire_and_forget(ws: ServerConnection) -> None:
    async for _ in ws:
        asyncio.ensure_future(_fails())  # noqa: RUF006 - the bug under test


def test_an_error_record_is_a_failure() -> None:
    failure = failure_of(raises, program=OPEN_SEND)
    text = str(failure)
    assert "ERROR record: ERROR websockets.server: connection handler failed" in text
    assert "RuntimeError: cannot handle" in text  # the record's exception, with its place
    assert "in raises)" in text
    assert failure.errors


async def raises_and_logs_losses(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            raise RuntimeError(f"cannot handle {message!r}")
    except ConnectionClosed:
        logging.getLogger("test_fuzz_endpoint").error("lost a client")


def test_the_counterexample_lists_the_records_until_the_problem_not_the_teardowns() -> None:
    """c1's message kills its handler; the harness then resets c2 to end the example, and
    c2's handler logs that loss: a consequence of the harness's teardown, not shown."""
    failure = failure_of(raises_and_logs_losses, program=[Step("open"), Step("open"), Step("send")])
    text = str(failure)
    assert "RuntimeError: cannot handle" in text
    assert "lost a client" not in text, text


async def logs_to_its_own_logger(ws: ServerConnection) -> None:
    """Makes a logger that keeps its records to itself once it runs (an app configuring
    logging at start-up), then logs an ERROR for each message."""
    log = logging.getLogger("made_while_running")
    if not log.handlers:
        log.propagate = False
        log.addHandler(logging.NullHandler())
    async for message in ws:
        log.error("cannot handle %r", message)


def test_an_error_record_of_a_logger_made_while_running_is_a_failure() -> None:
    try:
        text = str(failure_of(logs_to_its_own_logger, program=OPEN_SEND))
    finally:
        made = logging.getLogger("made_while_running")
        made.handlers.clear()
        made.propagate = True
    assert "ERROR record: ERROR made_while_running: cannot handle" in text


def test_a_loop_exception_handler_call_is_a_failure() -> None:
    text = str(failure_of(fire_and_forget, program=OPEN_SEND))
    assert "loop exception handler: Task exception was never retrieved" in text
    assert "RuntimeError: fire and forget" in text


def test_a_task_left_running_is_a_failure() -> None:
    try:
        text = str(failure_of(leaks_a_task, program=[Step("open")]))
    finally:
        for task in leaked:
            task.cancel()
        leaked.clear()
    assert "resources not back to baseline" in text
    assert "task <Task pending" in text


# --- replay --------------------------------------------------------------------------


def test_the_same_seed_replays_the_same_events() -> None:
    first = failure_of(raises, seed=11)
    again = failure_of(raises, seed=11)
    assert again.events == first.events
    assert again.example == first.example
    assert "replay: wsstate fuzz --target tests.test_fuzz_endpoint:raises" in str(first) or (
        "replay: wsstate fuzz --target test_fuzz_endpoint:raises" in str(first)
    )


def test_the_replay_command_carries_every_option_that_changes_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A replay without connections=2 would run other programs: the command names it,
    and running it (in this process) fails the same way."""
    from wsstate_tools.cli import main

    failure = failure_of(raises, seed=5, connections=2, settle=0.01)
    words = shlex.split(failure.replay)
    assert words[:3] == ["wsstate", "fuzz", "--target"]
    assert words[3].endswith("test_fuzz_endpoint:raises")
    tail = " ".join(words[4:])
    assert "--close-timeout 0.5 --settle 0.01 --connections 2 --replay 5" in tail
    capsys.readouterr()
    assert main(words[1:]) == 1
    out = capsys.readouterr().out
    assert "replay seed 5: FAILED" in out
    assert failure.problems[0] in out
    assert f"events:\n  1. {failure.events[0]}" in out


def test_a_target_without_an_import_name_replays_as_the_call() -> None:
    async def local(ws: ServerConnection) -> None:
        await raises(ws)

    failure = failure_of(local, seed=4, connections=2)
    assert failure.replay == (
        "wsstate.testing.fuzz(<the target>, seed=4, examples=8, steps=8, "
        "close_timeout=0.5, connections=2)"
    )


# --- bad arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "options", "error", "match"),
    [
        ("localhost", {}, ValueError, "neither a ws:// URL nor 'module:attribute'"),
        ("http://127.0.0.1:1/", {}, ValueError, "not a ws:// URL"),
        ("wss://127.0.0.1:1/", {}, ValueError, "wss:// is not supported"),
        ("ws:///nohost", {}, ValueError, "has no host"),
        ("ws://127.0.0.1:99999/", {}, ValueError, "invalid port"),
        ("nosuchmodule_x:app", {}, ValueError, "cannot import 'nosuchmodule_x'"),
        ("wsstate:nosuchapp", {}, ValueError, "has no 'nosuchapp'"),
        (42, {}, TypeError, "not int"),
        (lambda a, b: None, {}, TypeError, "cannot tell what"),
        (guarded, {"kind": "http"}, ValueError, "kind must be one of"),
        (guarded, {"close_timeout": math.nan}, ValueError, "close_timeout must be a finite"),
        (guarded, {"close_timeout": math.inf}, ValueError, "close_timeout must be a finite"),
        (guarded, {"close_timeout": -1}, ValueError, "close_timeout must be a finite"),
        (guarded, {"close_timeout": 0}, ValueError, "close_timeout must be a finite"),
        (guarded, {"settle": -0.1}, ValueError, "settle must be a finite number 0 or above"),
        (guarded, {"settle": "1"}, TypeError, "settle must be a number"),
        (guarded, {"examples": 0}, ValueError, "examples must be at least 1"),
        (guarded, {"steps": 2.5}, TypeError, "steps must be an int"),
        (guarded, {"seed": "7"}, TypeError, "seed must be an int"),
        (guarded, {"path": "ws"}, ValueError, "path must be a string starting with '/'"),
        (guarded, {"uvicorn_ws": "h11"}, ValueError, "uvicorn_ws must be one of"),
        ("ws://127.0.0.1:1/", {"path": "/x"}, ValueError, "a URL target carries its own"),
        (guarded, {"program": "open"}, TypeError, "program must be a sequence of Step"),
        (guarded, {"program": []}, ValueError, "program must hold at least one Step"),
        (guarded, {"program": [("open", 0, 0)]}, TypeError, "program must hold Step objects"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(
    target: object, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        fuzz(target, **options)


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"action": "jump"}, ValueError, "Step action must be one of open, send"),
        ({"action": "send", "conn": -1}, ValueError, "Step conn must be at least 0"),
        ({"action": "send", "arg": 1.5}, TypeError, "Step arg must be an int"),
    ],
)
def test_a_bad_step_is_refused_where_it_is_made(
    fields: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Step(**fields)


def test_fuzz_refuses_a_running_loop() -> None:
    async def inside() -> None:
        fuzz(guarded)

    with pytest.raises(RuntimeError, match="runs its own event loop"):
        asyncio.run(inside())


def test_a_wrong_path_is_a_target_error_not_a_counterexample() -> None:
    from fastapi import FastAPI, WebSocket

    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()

    with pytest.raises(TargetError, match=r"refused the opening handshake \(HTTP 403\)"):
        fuzz(app, path="/nope", examples=1)


def test_a_failure_saved_in_the_database_is_replayed_first_by_the_next_run(
    tmp_path: Path,
) -> None:
    """What ``wsstate fuzz --workers`` relies on: workers share the directory database."""
    database = str(tmp_path / "examples")
    found = failure_of(raises, seed=3, examples=20, database=database)
    assert any(tmp_path.rglob("*")), "nothing saved"
    # Another seed, one example: only the database's program can fail in it.
    replayed = failure_of(raises, seed=999, examples=1, database=database)
    assert replayed.example == 1
    assert replayed.events == found.events
    # With a database the seed still decides the programs.
    again = failure_of(raises, seed=3, examples=20, database=str(tmp_path / "other"))
    assert again.events == found.events


def test_a_target_is_named_by_its_module_before_the_script_that_imported_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A script that imports an app (``from naive_endpoint import naive_app``) holds it
    too: the replay must import the app's module, not run the script again."""
    import sys
    import types

    from wsstate.testing.targets import resolve_target

    async def handler(ws: ServerConnection) -> None:
        await guarded(ws)

    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "my_script.py")
    module = types.ModuleType("my_app_module")
    script.app = module.app = handler  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", script)  # keeps its early place
    monkeypatch.setitem(sys.modules, "my_app_module", module)  # comes after it
    assert resolve_target(handler).import_name == "my_app_module:app"
    # held by the script only: named by the script's file, its directory for --app-dir
    monkeypatch.delitem(sys.modules, "my_app_module")
    target = resolve_target(handler)
    assert (target.import_name, target.app_dir) == ("my_script:app", str(tmp_path))
