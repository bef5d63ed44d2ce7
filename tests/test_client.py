"""wsstate.ReconnectingClient against a real websockets server: the API beyond the catalogue rows.

The catalogue's rows 29-34 are in tests/scenarios/test_reconnect.py; here: the
table is what the runtime performs (every declared effect handled, one outcome
per operation row), option checks, the retry predicate, 1012 reconnects,
max_attempts, on_close once per connection, iteration across generations and
reconnect(). Helpers (server, clock) are in support.reconnect.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
from typing import Any

import pytest
from support.reconnect import ManualClock, Server, client, no_errors, serving, until

import wsstate
from wsstate import ClientState, InvalidOption, ReconnectingClient, Refusal
from wsstate.client import EFFECT_HANDLERS, OPERATION_OUTCOMES
from wsstate.machines.client import TABLE, Effect

pytestmark = pytest.mark.usefixtures(no_errors.__name__)


# -- the table is what the runtime performs ---------------------------------------------


def test_every_declared_effect_has_a_handler() -> None:
    assert set(EFFECT_HANDLERS) == set(Effect)


def test_every_row_of_an_operation_has_exactly_one_handled_outcome() -> None:
    for event, outcomes in OPERATION_OUTCOMES.items():
        for (state, e), row in TABLE.items():
            if e is event and row.next is not None:
                assert [o for o in outcomes if o in row.effects], (state, event)


def test_options_are_checked_at_once() -> None:
    with pytest.raises(ValueError, match="backoff_factor"):
        ReconnectingClient("ws://127.0.0.1:1", backoff_factor=0.5)
    with pytest.raises(ValueError, match="close_timeout"):
        ReconnectingClient("ws://127.0.0.1:1", close_timeout=-1)


# Every option is checked at the call that gave it, as InvalidOption naming it (also a
# TypeError for a value of the wrong type). Each of these used to be taken: a NaN or
# infinite delay left the client in BACKOFF for good, retry=5 stuck it in CONNECTING
# (close() never returned), a hook that is not callable failed at every connection.
URI = "ws://127.0.0.1:1"


async def _async_retry(refusal: Refusal) -> bool:
    return False


_DELAYS = ("backoff_initial", "backoff_max", "min_uptime", "backoff_factor")
_OUT_OF_RANGE: list[tuple[str, object]] = [
    *((o, v) for o in _DELAYS for v in (math.nan, math.inf, -math.inf, 10**400, -1)),
    ("backoff_factor", 0.5),
    ("max_attempts", 0),
    ("max_buffered", -1),
    ("name", ""),
]
_WRONG_TYPE: list[tuple[str, object]] = [
    *((o, v) for o in _DELAYS for v in (True, "1", None)),
    *((o, v) for o in ("max_attempts", "max_buffered") for v in (True, False, 1.0, "1")),
    ("max_buffered", None),
    ("on_open", 5),
    ("on_close", "x"),
    ("retry", 5),
    # Hooks that cannot take their one argument (the connection, the refusal), and an
    # async predicate: accepted once, they failed only when called (the retry
    # predicate left the client in CONNECTING for good, its async one read as True).
    ("on_open", lambda: None),
    ("on_close", lambda conn, extra: None),
    ("retry", lambda: True),
    ("retry", _async_retry),
    ("retry_on_1000", "no"),
    ("retry_on_1000", 0),
    ("clock", 5),
    ("clock", random.Random()),
    ("rng", 5),
    ("rng", ManualClock()),
    ("name", 5),
    ("name", b"n"),
]


def _id(value: object) -> str:
    return repr(value)[:12] if not isinstance(value, str) else value


@pytest.mark.parametrize(("option", "value"), _OUT_OF_RANGE, ids=_id)
def test_an_option_out_of_range_is_refused_at_once(option: str, value: object) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(InvalidOption, match=option) as info:
        ReconnectingClient(URI, **options)
    assert info.value.option == option
    assert not isinstance(info.value, TypeError)


@pytest.mark.parametrize(("option", "value"), _WRONG_TYPE, ids=_id)
def test_an_option_of_the_wrong_type_is_refused_at_once(option: str, value: object) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(InvalidOption, match=option) as info:
        ReconnectingClient(URI, **options)
    assert info.value.option == option
    assert isinstance(info.value, TypeError)


def test_the_bounds_themselves_are_accepted() -> None:
    c = ReconnectingClient(
        URI,
        backoff_initial=0,
        backoff_max=0,
        min_uptime=0,
        backoff_factor=1,
        max_attempts=1,
        max_buffered=0,
        on_open=print,
        on_close=None,
        retry=lambda r: None,
        retry_on_1000=False,
        clock=ManualClock(),
        rng=random.Random(1),
        name="n",
    )
    assert (c.backoff_initial, c.backoff_max, c.min_uptime, c.backoff_factor) == (0, 0, 0, 1)
    assert isinstance(c.backoff_factor, float)
    assert ReconnectingClient(URI, max_attempts=None).max_attempts is None


@pytest.mark.parametrize(
    "uri",
    ["ws://h:99999", "ws://h:abc/", "ws://[::1/", "http://x/", "ws://", "ws://h:0/", "ws://h/a b"],
)
def test_an_invalid_uri_is_refused_at_once_as_an_invalid_option(uri: str) -> None:
    # A port out of range or not a number, an unclosed IPv6 bracket: these were a
    # bare ValueError of urllib's, not InvalidOption (guard.connect's URI check).
    with pytest.raises(InvalidOption) as info:
        ReconnectingClient(uri)
    assert info.value.option == "uri"
    with pytest.raises(InvalidOption) as info:
        wsstate.reconnect(uri)
    assert info.value.option == "uri"


@pytest.mark.parametrize(
    ("uri", "options", "error"),
    [
        (None, {}, "uri"),
        ("http://x/", {}, "uri"),
        (URI, {"on_open": 5}, "on_open"),
        (URI, {"on_close": "x"}, "on_close"),
        (URI, {"retry": 5}, "retry"),
        (URI, {"backoff_initial": math.nan}, "backoff_initial"),
        (URI, {"ping_interval": math.nan}, "ping_interval"),
    ],
)
def test_reconnect_checks_everything_at_the_call(
    uri: Any, options: dict[str, Any], error: str
) -> None:
    # reconnect() was an async generator: nothing was checked before the first
    # `async for` step, and with on_open=5 the iteration never yielded.
    with pytest.raises(InvalidOption) as info:
        wsstate.reconnect(uri, **options)
    assert info.value.option == error


def test_reconnect_refuses_an_unknown_keyword_at_the_call() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        wsstate.reconnect(URI, no_such_option=1)


# -- scenario 29: accept then close --------------------------------------------------------


# -- scenario 31: Retry-After --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "floor"),
    [
        (b"Retry-After: \xb2\r\n", None),  # "\u00b2" in ISO-8859-1: isdigit(), no number
        (b"Retry-After: 5\r\nRetry-After: 7\r\n", 7.0),  # a proxy's and the app's
        (b"Retry-After: soon\r\n", None),
        (b"Retry-After: " + b"9" * 400 + b"\r\n", None),  # too large for a float
        (b"Retry-After: 3\r\n", 3.0),
    ],
    ids=["superscript", "two headers", "a word", "huge", "seconds"],
)
def test_a_malformed_retry_after_is_no_floor_and_never_stalls_the_client(
    headers: bytes, floor: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    # The header's value escaped the classification (float("\u00b2") raised, two
    # headers made websockets' Headers.get raise): the attempt's end was never fed,
    # the client stayed CONNECTING for good and close() never returned.
    caplog.set_level(logging.DEBUG, logger="wsstate")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\n" + headers + b"Content-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        raw = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = raw.sockets[0].getsockname()[1]
        c = ReconnectingClient(f"ws://127.0.0.1:{port}/", clock=ManualClock(), rng=random.Random(3))
        try:
            async with c:
                await until(lambda: c.state is ClientState.BACKOFF)  # 429: retried
                assert c.last_refusal is not None
                assert (c.last_refusal.value, c.last_refusal.floor) == (429, floor)
                if floor is not None:
                    assert c.last_delay is not None
                    assert c.last_delay >= floor
            assert c.state is ClientState.STOPPED  # close() returned
        finally:
            raw.close()
            await raw.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 10))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


@serving
async def test_a_failure_the_classification_cannot_read_still_ends_the_attempt(
    server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the classification's own bug, the attempt's end is fed (the client
    # never stays CONNECTING with nothing running), logged once at ERROR.
    def broken(exc: BaseException, now: float) -> Refusal:
        raise RuntimeError("a bug of the classification")

    monkeypatch.setattr(wsstate.client, "classify_failure", broken)
    server.mode, server.status = "refuse", 503
    c = client(server)
    async with c:
        await until(lambda: c.state is not ClientState.CONNECTING)
        assert c.last_refusal is not None
        assert c.last_refusal.value == "invalid_handshake"
    assert c.state is ClientState.STOPPED
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "internal error classifying" in errors[0]


# -- scenario 32: fatal refusals -------------------------------------------------------------


@serving
async def test_the_retry_predicate_overrides_the_table(server: Server) -> None:
    server.mode, server.code = "accept_close", 4001
    c = client(server, retry=lambda r: True if r.value == 4001 else None)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)


@pytest.mark.parametrize(
    "retry", [lambda r: 1 / 0, lambda r: "yes"], ids=["raises", "answers a str"]
)
@serving
async def test_a_failing_retry_predicate_is_logged_and_the_table_decides(
    server: Server, caplog: pytest.LogCaptureFixture, retry: Any
) -> None:
    # The predicate's exception escaped the attempt's task: the client stayed in
    # CONNECTING for good, its close() never returned.
    server.mode, server.status = "refuse", 503
    c = client(server, retry=retry, max_attempts=2)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)  # 503: the table retries
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.state is ClientState.STOPPED)  # then gives up
    assert c.stats.hook_errors == 2
    failed = [r for r in caplog.records if "the retry predicate failed" in r.getMessage()]
    assert len(failed) == 2
    assert all(r.levelname == "ERROR" for r in failed)
    assert "503" in failed[0].getMessage()


@serving
async def test_close_1012_reconnects(server: Server) -> None:
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        await server.close_all(1012)
        await until(lambda: c.state is ClientState.BACKOFF)
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.state is ClientState.OPEN and c.generation == 2)


def _requests_reach(server: Server, count: int) -> bool:
    return len(server.requests) == count


@pytest.mark.parametrize("max_attempts", [1, 2, 3])
@serving
async def test_max_attempts_attempts_follow_a_connection_that_stayed_up(
    server: Server, max_attempts: int
) -> None:
    # The closure of a connection that stayed up min_uptime counted as a failure
    # towards max_attempts (its count_attempt is for the next delay): with
    # max_attempts=1 the client gave up at once and never reconnected, and with N it
    # made N - 1 attempts.
    c = client(server, max_attempts=max_attempts, min_uptime=5.0)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        server.clock.advance(5.0)  # stayed up: a success, attempts back to 0
        await until(lambda: c.attempts == 0)
        server.mode, server.status = "refuse", 503
        await server.close_all(1012)
        for n in range(max_attempts):
            await until(lambda: c.state in (ClientState.BACKOFF, ClientState.STOPPED))
            assert c.state is ClientState.BACKOFF, f"gave up after {n} attempts"
            server.clock.advance(c.last_delay or 0)
            await until(functools.partial(_requests_reach, server, n + 2))
        await until(lambda: c.state is ClientState.STOPPED)  # then gives up
    assert len(server.requests) == 1 + max_attempts


@serving
async def test_max_attempts_gives_up_once(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    server.mode, server.status = "refuse", 503
    c = client(server, max_attempts=3)
    async with c:
        for _ in range(2):
            await until(lambda: c.state is ClientState.BACKOFF)
            server.clock.advance(c.last_delay or 0)
            await until(lambda: c.state is not ClientState.BACKOFF)
        await until(lambda: c.state is ClientState.STOPPED)
    assert len(server.requests) == 3
    gave_up = [r for r in caplog.records if "give_up" in r.getMessage()]
    assert len(gave_up) == 1
    assert gave_up[0].levelno == logging.WARNING


# -- scenario 34: the buffer ---------------------------------------------------------------


@serving
async def test_a_message_is_checked_and_copied_when_given_not_when_flushed(
    server: Server,
) -> None:
    # While disconnected a message is buffered: one that is not str or bytes-like
    # used to be taken (True), then failed the flush ("internal error in a task",
    # at ERROR) and lost the messages buffered with it; a bytearray changed after
    # the call went out changed.
    server.mode, server.status = "refuse", 503
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)
        for bad in (123, None, ["x"]):
            with pytest.raises(TypeError, match="str or bytes-like, not "):
                await c.try_send(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="str or bytes-like, not "):
                await c.send(bad)  # type: ignore[arg-type]
        assert c.stats.buffered == 0
        given = bytearray(b"as given")
        assert await c.try_send(given) is True
        given[:] = b"changed!"
        assert await c.try_send(memoryview(b"view")) is True
        assert await c.try_send("text") is True
        assert c.stats.buffered == 3
        server.mode = "accept"
        server.clock.advance(c.last_delay or 0)
        await until(lambda: bool(server.received) and len(server.received[-1]) == 3)
        assert server.received[-1] == [str(b"as given"), str(b"view"), "text"]


@serving
async def test_text_utf8_cannot_encode_is_refused_at_the_call_in_every_state(
    server: Server,
) -> None:
    # A lone surrogate used to be buffered (True) while disconnected; at the flush
    # the client stuck in OPENING for good and nothing buffered after it was sent.
    bad = "a\ud800b"
    server.mode, server.status = "refuse", 503
    c = client(server)

    async def refused() -> None:
        with pytest.raises(ValueError, match="UTF-8"):
            await c.try_send(bad)
        with pytest.raises(ValueError, match="UTF-8"):
            await c.send(bad)

    await refused()  # IDLE
    assert await c.try_send("before") is True
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)
        await refused()
        assert await c.try_send("after") is True
        assert c.stats.buffered == 2
        server.mode = "accept"
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.state is ClientState.OPEN)
        await refused()
        assert await c.try_send("open") is True
        await until(lambda: bool(server.received) and len(server.received[-1]) == 3)
        assert server.received[-1] == ["before", "after", "open"]
    assert c.state is ClientState.STOPPED
    await refused()


# -- scenario 33: close() while waiting ------------------------------------------------------


@serving
async def test_on_close_fires_once_per_connection_and_iteration_spans_generations(
    server: Server,
) -> None:
    # The connections themselves, kept alive: id() of a collected one can be reused.
    closed: list[object] = []
    c = client(server, on_close=closed.append)
    received: list[object] = []

    async def echo_twice() -> None:
        for conn in list(server.connections):
            await conn.send(f"g{c.generation}")

    async def reader() -> None:
        async for message in c:
            received.append(message)

    task = asyncio.get_running_loop().create_task(reader())
    async with c:
        await until(lambda: c.state is ClientState.OPEN and bool(server.connections))
        await echo_twice()
        await server.close_all(1001)
        await until(lambda: c.state is ClientState.BACKOFF)
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.generation == 2 and bool(server.connections))
        await echo_twice()
        await until(lambda: len(received) == 2)
    await asyncio.wait_for(task, 2)
    assert received == ["g1", "g2"]
    assert len(closed) == 2
    assert closed[0] is not closed[1]


@serving
async def test_reconnect_yields_one_connection_per_generation(server: Server) -> None:
    gens = []
    async for conn in wsstate.reconnect(
        server.uri, clock=server.clock, rng=random.Random(1), close_timeout=1.0
    ):
        gens.append(conn)
        if len(gens) == 1:
            await server.close_all(1012)
            await conn.wait_closed()
            asyncio.get_running_loop().call_later(0.05, server.clock.advance, 5.0)
        else:
            break
    assert len(gens) == 2
    assert gens[0] is not gens[1]


@serving
async def test_reconnect_goes_on_after_its_body_returns_even_without_retry_on_1000(
    server: Server,
) -> None:
    # The generator's own close (1000) was classified as the server's normal
    # closure: with retry_on_1000=False the client stopped after one generation.
    gens: list[wsstate.GuardedConnection] = []

    async def iterate() -> None:
        async for conn in wsstate.reconnect(
            server.uri,
            clock=server.clock,
            rng=random.Random(1),
            close_timeout=1.0,
            retry_on_1000=False,
            # Runs once the closure was classified and the delay armed (a retry),
            # whatever the machine's load: then the delay runs out at once.
            on_close=lambda _: server.clock.advance(5.0),
        ):
            gens.append(conn)
            if len(gens) == 2:
                break

    await asyncio.wait_for(iterate(), 5.0)
    assert len(gens) == 2
    assert (gens[0].closed_by, gens[0].close_code) == (wsstate.ClosedBy.LOCAL, 1000)


@serving
async def test_reconnect_yields_the_connection_when_on_open_raises(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # The client carries on after a hook that raises (logged at ERROR); the
    # iteration used to wait for a connection it was never given.
    def on_open(conn: wsstate.GuardedConnection) -> None:
        raise RuntimeError("on_open failed")

    async def first() -> None:
        async for conn in wsstate.reconnect(
            server.uri, on_open=on_open, clock=server.clock, close_timeout=1.0
        ):
            assert not conn.closed
            await conn.send("given")
            break
        else:
            raise AssertionError("the iteration ended without a connection")

    await asyncio.wait_for(first(), 3)
    await until(lambda: server.received == [["given"]])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"client({server.uri}): on_open raised"]
    caplog.clear()  # the one ERROR expected (no_errors)


# -- scenario 30: the herd -------------------------------------------------------------------


# -- close() and the hooks still running (found by a hunt, session 18) -----------------------


@pytest.mark.parametrize("on_open_does", ["waits forever", "sends after close()"])
@serving
async def test_close_during_on_open_leaves_no_hook_running_and_logs_no_error(
    server: Server, caplog: pytest.LogCaptureFixture, on_open_does: str
) -> None:
    # close() returned with the on_open task still pending (a loop closed by hand then
    # reported "Task was destroyed but it is pending!"), and an on_open whose send
    # met the closing connection was logged at ERROR as the application's bug.
    caplog.set_level(logging.DEBUG, logger="wsstate")
    seen: list[str] = []
    opened = asyncio.Event()

    async def on_open(conn: wsstate.GuardedConnection) -> None:
        opened.set()
        try:
            if on_open_does == "waits forever":
                await asyncio.Event().wait()
            else:
                while conn.state is wsstate.State.OPEN:  # noqa: ASYNC110 - no event marks CLOSING
                    await asyncio.sleep(0.01)
                await conn.send("too late")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("returned")  # pragma: no cover - it never returns

    c = client(server, on_open=on_open)
    async with c:
        await opened.wait()
        await until(lambda: c.state is ClientState.OPENING)
    assert c.state is ClientState.STOPPED
    assert not [t for t in c._tasks if not t.done()]
    if on_open_does == "waits forever":
        assert seen == ["cancelled"]
    assert c.stats.hook_errors == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


@serving
async def test_close_returns_once_an_async_on_close_has_run(server: Server) -> None:
    # close() returned as soon as the client was STOPPED: an async on_close (saving
    # the session's state) was still running, and asyncio.run() then cancelled it.
    done: list[str] = []

    async def on_close(conn: wsstate.GuardedConnection) -> None:
        await asyncio.sleep(0.2)
        done.append("saved")

    c = client(server, on_close=on_close)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
    assert done == ["saved"]
    assert not [t for t in c._tasks if not t.done()]


@serving
async def test_close_cancels_an_on_close_that_outlives_close_timeout(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wsstate")
    seen: list[str] = []

    async def on_close(conn: wsstate.GuardedConnection) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    c = client(server, on_close=on_close, close_timeout=0.2)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
    assert seen == ["cancelled"]
    assert not [t for t in c._tasks if not t.done()]
    warned = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert len(warned) == 1
