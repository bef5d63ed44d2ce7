"""Bad options and arguments are refused by the call that made them (issue 19, acceptance 2, 3).

Every timeout option refuses NaN, infinities, booleans and non-numbers with an
:class:`~wsstate.InvalidOption` naming it, at ``Options()``, ``guard()`` and
``connect()`` time; a NaN delay never reaches the shared timer queue, so the
loop's other timers stay on time. ``connect()`` refuses a URI that is not
``ws://``/``wss://`` and keywords nobody takes, at the call, with wsstate's or
Python's own exception types, never websockets'.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from support.harness import Harness

import wsstate
from wsstate import InvalidOption, Options
from wsstate._timers import call_later
from wsstate.guard import _KEPT_OPTIONS, _kept_options, _options

TIMEOUTS = ("ping_interval", "ping_timeout", "close_timeout", "write_timeout", "open_timeout")
NOT_A_NUMBER: list[object] = [True, False, "5", b"5", [1], None]
# 10**400: an int no float can hold (once an OverflowError, not InvalidOption).
NOT_FINITE_OR_POSITIVE: list[object] = [math.nan, math.inf, -math.inf, 0, -1, -0.5, 10**400]


def _bad_values(option: str) -> list[object]:
    optional = option not in ("ping_timeout", "close_timeout")
    return [v for v in NOT_A_NUMBER if not (v is None and optional)] + NOT_FINITE_OR_POSITIVE


@pytest.mark.parametrize("option", TIMEOUTS)
def test_options_refuse_every_bad_timeout_naming_it(option: str) -> None:
    for bad in _bad_values(option):
        with pytest.raises(InvalidOption, match=option) as info:
            Options(**{option: bad})  # type: ignore[arg-type]
        assert info.value.option == option
        assert isinstance(info.value, ValueError)
        if bad is not None and (isinstance(bad, bool) or not isinstance(bad, int | float)):
            assert isinstance(info.value, TypeError)  # a wrong type is both
    Options(**{option: 0.25})  # a valid one still is


@pytest.mark.parametrize("option", TIMEOUTS)
async def test_guard_and_connect_refuse_bad_timeouts_at_the_call(h: Harness, option: str) -> None:
    pair = await h.pair("server", proxy=False)
    native = pair.conn.transport.connection  # type: ignore[attr-defined]
    for bad in (math.nan, math.inf, True, "1"):
        with pytest.raises(InvalidOption, match=option):
            wsstate.guard(native, **{option: bad})
        with pytest.raises(InvalidOption, match=option):
            wsstate.connect("ws://127.0.0.1:9/", **{option: bad})  # nothing is opened
    assert pair.conn.state is wsstate.State.OPEN  # the failed guard() touched nothing
    await pair.conn.close()


class _Seconds(float):
    pass


class _Count(int):
    pass


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        (0.25, 0.25),
        (3, 3),
        (_Seconds(0.5), 0.5),  # subclasses of float and int are numbers
        (_Count(2), 2),
        (1e308, 1e308),
        (10**300, 10**300),  # an int a float can hold
    ],
)
def test_options_take_every_finite_positive_number(value: float, taken: float) -> None:
    for option in TIMEOUTS:
        assert getattr(Options(**{option: value}), option) == taken


async def test_guard_refuses_a_value_equal_to_a_kept_one_every_time(h: Harness) -> None:
    # guard() keeps the Options of keywords it checked (frameworks pass the same
    # ones to every call); a value equal to a kept one but refused (True == 1), or
    # equal to nothing (NaN), is still refused, every time, as an unknown keyword is.
    _kept_options.clear()  # whatever earlier tests of this process kept
    _options({"ping_interval": 1})
    assert _kept_options
    pair = await h.pair("server", proxy=False)
    native = pair.conn.transport.connection  # type: ignore[attr-defined]
    for _ in range(2):
        with pytest.raises(InvalidOption, match="ping_interval"):
            wsstate.guard(native, ping_interval=True)
        with pytest.raises(InvalidOption, match="ping_interval"):
            wsstate.guard(native, ping_interval=math.nan)
        with pytest.raises(TypeError, match="'bogus'"):
            wsstate.guard(native, bogus=1)
    assert pair.conn.state is wsstate.State.OPEN
    await pair.conn.close()


def test_kept_options_are_the_ones_asked_for_and_bounded() -> None:
    _kept_options.clear()  # whatever earlier tests of this process kept
    first = _options({"ping_interval": 1})
    assert _options({"ping_interval": 1}) is first  # kept
    as_float = _options({"ping_interval": 1.0})
    assert as_float is not first
    assert type(as_float.ping_interval) is float
    with pytest.raises(InvalidOption):
        _options({"ping_interval": True})
    with pytest.raises(InvalidOption):
        _options({"ping_interval": [1]})  # unhashable: refused, not a TypeError of dict's
    for i in range(_KEPT_OPTIONS + 10):  # many distinct sets: bounded
        assert _options({"close_timeout": 1 + i}).close_timeout == 1 + i
    assert len(_kept_options) == _KEPT_OPTIONS
    # The oldest went, the latest stay: a set in use is kept again once asked for.
    assert _options({"close_timeout": _KEPT_OPTIONS + 10}) is _options(
        {"close_timeout": _KEPT_OPTIONS + 10}
    )
    again = _options({"ping_interval": 1})
    assert again is not first
    assert _options({"ping_interval": 1}) is again


class _EqualToAll(float):
    """A float subclass equal to every value, with one hash: a key that matches any."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def test_kept_options_hold_only_the_builtin_numbers() -> None:
    # A subclass decides its own equality: a kept set of it could be found for
    # another value. Only int, float and None values are kept; the others are
    # checked and built each time, and taken as given.
    _kept_options.clear()  # whatever earlier tests of this process kept
    assert float(_options({"ping_interval": _EqualToAll(5.0)}).ping_interval or 0) == 5.0
    assert float(_options({"ping_interval": _EqualToAll(7.0)}).ping_interval or 0) == 7.0
    assert not _kept_options
    _options({"ping_interval": 5.0, "write_timeout": None})
    assert len(_kept_options) == 1


async def test_nan_delay_never_poisons_the_shared_timer_queue() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    start = loop.time()
    call_later(loop, 0.05, lambda: fired.append(loop.time() - start))
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="timer delay"):
            call_later(loop, bad, lambda: None)
    with pytest.raises(InvalidOption):
        Options(close_timeout=math.nan)
    # An unrelated sleep loop ticks on time: 8 ticks of 50 ms in about 0.4 s.
    ticks = 0
    while ticks < 8:
        await asyncio.sleep(0.05)
        ticks += 1
    elapsed = loop.time() - start
    assert elapsed < 0.4 + 0.3, f"8 ticks of 50 ms took {elapsed:.2f} s"
    assert len(fired) == 1
    assert fired[0] < 0.05 + 0.2


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:1/",
        "https://example.com/",
        "127.0.0.1:8000",
        "",
        "ws://",
        "ws://h:99999/",  # a port out of range, not a number, a bracket left open:
        "ws://h:abc/",  # urllib's bare ValueError went through
        "ws://[::1/",
        "ws://h:0/",  # websockets connected to port 80
        "ws://h/a b",  # sent as it is: a malformed request line
        "ws://h/chat\r\nX-Injected: 1",  # urllib dropped CR LF: another path
        "ws://exa mple.com/",
        "ws://h/\x00",
    ],
)
def test_connect_refuses_a_non_ws_uri_at_the_call(uri: str) -> None:
    with pytest.raises(InvalidOption, match="uri") as info:
        wsstate.connect(uri)
    assert info.value.option == "uri"
    assert type(info.value).__module__.startswith("wsstate")


def test_connect_refuses_a_uri_that_is_not_a_str() -> None:
    with pytest.raises(TypeError, match="uri"):
        wsstate.connect(b"ws://127.0.0.1/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"subprotocols": "chat"}, TypeError, "subprotocols must be a list"),
        ({"ssl": True}, ValueError, "incompatible with a ws:// URI"),
    ],
)
def test_connect_refuses_what_websockets_checks_at_the_call(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    # websockets checks these when its connect() is made: made at the call, not on
    # entry (they used to fail only at `async with`).
    with pytest.raises(error, match=match):
        wsstate.connect("ws://127.0.0.1:1/", **options)
    with pytest.raises(error, match=match):
        wsstate.ReconnectingClient("ws://127.0.0.1:1/", **options)


def test_connect_refuses_unknown_keywords_at_the_call() -> None:
    with pytest.raises(TypeError, match="'bogus'"):
        wsstate.connect("ws://127.0.0.1:1/", bogus=1)
    # websockets' own keywords and those it passes to create_connection are taken.
    wsstate.connect("ws://127.0.0.1:1/", subprotocols=["chat"], max_size=2**20, local_addr=None)


async def test_guard_refuses_unknown_options_and_a_bad_name(h: Harness) -> None:
    pair = await h.pair("server", proxy=False)
    native = pair.conn.transport.connection  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="'bogus'"):
        wsstate.guard(native, bogus=1)
    with pytest.raises(TypeError, match="name"):
        wsstate.guard(native, name=5)
    await pair.conn.close()


async def test_connect_failure_is_handshake_failed_never_websockets_own() -> None:
    # A server that answers HTTP 200 instead of upgrading: websockets raises its
    # InvalidStatus (an InvalidHandshake); wsstate says HandshakeFailed.
    async def not_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_websocket, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(wsstate.HandshakeFailed) as info:
            async with wsstate.connect(f"ws://127.0.0.1:{port}/", open_timeout=2):
                pass
        assert type(info.value) is wsstate.HandshakeFailed
    finally:
        server.close()
        await server.wait_closed()
