"""The reconnecting client when its tasks are cancelled from outside, and when its loop ends.

``asyncio.run()`` cancels every task left when its main coroutine returns: the
application's (which then closes the client on its way out) and the client's
own (its attempt, the reader that feeds a closure). The client must stop, not
retry on a loop being shut down, and ``close()`` must return: these tests run
``asyncio.run()`` in a thread and fail when it does not return in time. Real
websockets servers on loopback, and a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

import wsstate
from wsstate import ClientState

#: Far longer than any close here takes (close_timeout=1), far shorter than for ever.
_RETURNS_WITHIN = 10.0


def _run_in_thread(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """``asyncio.run(main())`` in a thread; fail if it has not returned in time."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(_RETURNS_WITHIN)
    assert not thread.is_alive(), "asyncio.run() did not return: the client never stopped"
    if failure:
        raise failure[0]


@pytest.fixture
def asyncio_errors() -> Iterator[list[str]]:
    """asyncio's ERROR records meanwhile ("Task was destroyed but it is pending!", ...)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record.getMessage())

    handler = Collect()
    logging.getLogger("asyncio").addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger("asyncio").removeHandler(handler)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting to it is refused


async def _talking(ws: ServerConnection) -> None:
    for i in range(3):
        await ws.send(f"m{i}")
    await ws.wait_closed()


def test_asyncio_run_returns_with_a_client_open_in_a_background_task(
    asyncio_errors: list[str],
) -> None:
    # The application's task leaves `async with client` (close(), waiting for
    # STOPPED) while the client's reader, which fed the closure, is cancelled too.
    seen: dict[str, object] = {}

    async def main() -> None:
        server = await serve(_talking, "127.0.0.1", 0)
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        client = wsstate.ReconnectingClient(uri, close_timeout=1)
        seen["client"] = client

        async def app() -> None:
            async with client:
                async for _ in client:
                    pass

        seen["task"] = asyncio.create_task(app())
        for _ in range(500):
            if client.state is ClientState.OPEN:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the client never opened")

    _run_in_thread(main)
    client = seen["client"]
    assert isinstance(client, wsstate.ReconnectingClient)
    assert client.state is ClientState.STOPPED
    assert client.generation == 1  # stopped, not reconnected
    assert asyncio_errors == []


@pytest.mark.parametrize("leave", ["break", "raise"])
def test_leaving_reconnect_at_the_end_of_main_lets_asyncio_run_return(
    leave: str, asyncio_errors: list[str]
) -> None:
    # `break` leaves the generator to be closed by asyncio.run()'s shutdown, in a
    # task it cancels: the generator used to swallow that cancellation and wait.
    async def main() -> None:
        server = await serve(_talking, "127.0.0.1", 0)
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async for conn in wsstate.reconnect(uri, close_timeout=1):
            assert await conn.recv() == "m0"
            if leave == "break":
                break
            raise LookupError("the application's error")

    if leave == "raise":
        with pytest.raises(LookupError, match="the application's error"):
            _run_in_thread(main)
    else:
        _run_in_thread(main)
    assert asyncio_errors == []


@pytest.mark.parametrize("state", [ClientState.CONNECTING, ClientState.BACKOFF])
def test_a_client_left_running_stops_when_asyncio_run_ends(
    state: ClientState, asyncio_errors: list[str]
) -> None:
    # Its cancelled attempt was a retryable refusal: BACKOFF, then new attempts on
    # a loop being shut down, the last destroyed pending.
    seen: dict[str, wsstate.ReconnectingClient] = {}

    async def main() -> None:
        client = wsstate.ReconnectingClient(
            f"ws://127.0.0.1:{_closed_port()}", backoff_initial=0, backoff_max=0
        )
        seen["client"] = client
        client.start()
        for _ in range(1000):  # refused at once, then retried at once: every state comes
            if client.state is state and client.stats.attempts > 3:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"never {state.value}")

    _run_in_thread(main)
    client = seen["client"]
    assert client.state is ClientState.STOPPED
    assert [t for t in client._tasks if not t.done()] == []
    assert asyncio_errors == []  # no "Task was destroyed but it is pending!"


def test_a_client_left_running_stops_when_its_loop_closes(asyncio_errors: list[str]) -> None:
    # A loop closed by hand (a framework's loop per page), not by asyncio.run().
    loop = asyncio.new_event_loop()
    client = wsstate.ReconnectingClient(
        f"ws://127.0.0.1:{_closed_port()}", backoff_initial=0.001, backoff_max=0.001
    )

    async def started() -> None:
        client.start()
        await asyncio.sleep(0.05)

    loop.run_until_complete(started())
    running = client.state
    assert running is not ClientState.STOPPED
    loop.close()
    assert client.state is ClientState.STOPPED
    assert [t for t in client._tasks if not t.done()] == []
    assert asyncio_errors == []


def test_start_outside_a_running_loop_raises_and_changes_nothing() -> None:
    client = wsstate.ReconnectingClient("ws://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="no running event loop"):
        client.start()
    assert client.state is ClientState.IDLE
    assert client.stats.attempts == 0


def test_the_connection_reconnect_yields_is_read_by_the_loop_body() -> None:
    # The client behind the iteration read every connection itself: conn.recv()
    # raised ConcurrentRecv and the messages piled up where nothing read them.
    got: list[object] = []

    async def main() -> None:
        server = await serve(_talking, "127.0.0.1", 0)
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async for conn in wsstate.reconnect(uri, close_timeout=1):
            got.append(await asyncio.wait_for(conn.recv(), 5))
            async for message in conn:
                got.append(message)
                if len(got) == 3:
                    break
            break
        server.close()

    _run_in_thread(main)
    assert got == ["m0", "m1", "m2"]


def test_a_loop_closed_from_inside_another_loop_stops_its_client_on_its_own_loop(
    asyncio_errors: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Closing a stopped loop from a coroutine of another loop in the same thread:
    # stopping the client there started its close on the running (wrong) loop, an
    # ERROR, and left it CLOSING for good; then only the connection was aborted,
    # without a turn of its loop, so its socket stayed open (the server saw it
    # open until it gave up). The closing loop now runs in a helper thread: the
    # client stops on it, and the socket is closed.
    ended: list[int | None] = []

    async def talking(ws: ServerConnection) -> None:
        await _talking(ws)
        ended.append(ws.close_code)

    async def serving(ready: asyncio.Future[int], done: asyncio.Event) -> None:
        async with serve(talking, "127.0.0.1", 0, close_timeout=0.5) as server:
            ready.set_result(server.sockets[0].getsockname()[1])
            await done.wait()

    server_loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = server_loop.create_future()
    done = asyncio.Event()
    thread = threading.Thread(
        target=server_loop.run_until_complete, args=(serving(ready, done),), daemon=True
    )
    thread.start()
    port = concurrent_result(server_loop, ready)
    inner = asyncio.new_event_loop()
    client = wsstate.ReconnectingClient(f"ws://127.0.0.1:{port}", close_timeout=1)

    async def opened() -> None:
        client.start()
        for _ in range(500):
            if client.state is ClientState.OPEN:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the client never opened")

    inner.run_until_complete(opened())
    conn = client.connection
    assert conn is not None

    async def close_inner() -> None:
        inner.close()
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.ERROR, logger="wsstate"):
        asyncio.run(close_inner())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert conn.state is wsstate.State.CLOSED
    assert client.state is ClientState.STOPPED  # stopped on its own loop
    for _ in range(100):  # the server sees the connection end at once (not 0.5 s later)
        if ended:
            break
        threading.Event().wait(0.01)
    assert len(ended) == 1, ended
    server_loop.call_soon_threadsafe(done.set)
    thread.join(10)
    assert not thread.is_alive()
    server_loop.close()
    assert asyncio_errors == []


def concurrent_result(loop: asyncio.AbstractEventLoop, future: asyncio.Future[int]) -> int:
    """``future``'s result, set on ``loop`` (running in another thread)."""

    async def wait() -> int:
        return await future

    return asyncio.run_coroutine_threadsafe(wait(), loop).result(5)
