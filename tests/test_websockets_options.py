"""websockets' own options of ``wsstate.connect()`` are checked at the call.

websockets 17 checks ``max_size``, ``max_queue``, ``write_limit``, header values,
``proxy``, ``logger``, ``create_connection`` only once it connects (``max_queue=(4,
16)`` raised inside asyncio's ``connection_made``, a traceback the loop logged);
``wsstate.connect()``, ``ReconnectingClient`` and ``reconnect()`` refuse them when
called (:mod:`wsstate._websockets_options`), and what websockets takes still
reaches it, unchanged: checked against a real server and a real HTTP proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers

import wsstate
from wsstate import InvalidOption
from wsstate._websockets_options import CHECKS, checked

URI = "ws://127.0.0.1:1/"


class _DuckLogger:
    """A logger that is no logging.Logger (a structlog-style wrapper): websockets takes it."""

    def isEnabledFor(self, level: int) -> bool:
        return False

    def debug(self, *args: object, **kwargs: object) -> None:
        pass

    info = warning = error = debug


#: asyncio's create_connection() takes all_errors from Python 3.12.
ALL_ERRORS = "all_errors" in inspect.signature(asyncio.BaseEventLoop.create_connection).parameters

# (options, the option named, a TypeError too)
REFUSED: list[tuple[dict[str, Any], str, bool]] = [
    ({"max_size": "big"}, "max_size", True),
    ({"max_size": 1.5}, "max_size", True),
    ({"max_size": math.nan}, "max_size", True),
    ({"max_size": math.inf}, "max_size", True),
    ({"max_size": True}, "max_size", True),
    ({"max_size": 0}, "max_size", False),
    ({"max_size": -1}, "max_size", False),
    ({"max_size": (1, "x")}, "max_size", True),
    ({"max_size": (1, 2, 3)}, "max_size", False),
    ({"max_size": (2**20, 0)}, "max_size", False),
    ({"max_queue": "big"}, "max_queue", True),
    ({"max_queue": -1}, "max_queue", False),
    ({"max_queue": 1.5}, "max_queue", True),
    ({"max_queue": (4, 16)}, "max_queue", False),
    ({"max_queue": (None, -1)}, "max_queue", False),
    ({"max_queue": (1, "x")}, "max_queue", True),
    ({"write_limit": None}, "write_limit", True),
    ({"write_limit": -1}, "write_limit", False),
    ({"write_limit": math.nan}, "write_limit", True),
    ({"write_limit": (4, 16)}, "write_limit", False),
    ({"write_limit": (None, 4)}, "write_limit", True),
    ({"origin": 5}, "origin", True),
    ({"origin": "http://a\r\nX-Evil: 1"}, "origin", False),
    ({"user_agent_header": b"agent"}, "user_agent_header", True),
    ({"user_agent_header": "a\nb"}, "user_agent_header", False),
    ({"additional_headers": 5}, "additional_headers", True),
    ({"additional_headers": "X-A: b"}, "additional_headers", True),
    ({"additional_headers": [("X-A",)]}, "additional_headers", True),
    ({"additional_headers": {"X-A": 5}}, "additional_headers", True),
    ({"additional_headers": {"X A": "b"}}, "additional_headers", False),
    ({"additional_headers": [("X-A", "b\r\nX-Evil: 1")]}, "additional_headers", False),
    ({"proxy": 5}, "proxy", True),
    ({"proxy": False}, "proxy", True),
    ({"proxy": "not a url"}, "proxy", False),
    ({"proxy": "ftp://127.0.0.1:21"}, "proxy", False),
    ({"proxy": "http://127.0.0.1:3128/path"}, "proxy", False),
    ({"proxy": "http://127.0.0.1:3128", "proxy_ssl": True}, "proxy_ssl", False),
    ({"proxy": "https://127.0.0.1:3128", "proxy_ssl": None}, "proxy_ssl", False),
    ({"logger": "websockets.client"}, "logger", True),
    ({"process_exception": 5}, "process_exception", True),
    ({"create_connection": 5}, "create_connection", True),
    ({"create_connection": object()}, "create_connection", True),
    ({"reconnect_delays": lambda: iter([1.0])}, "reconnect_delays", False),
    ({"subprotocols": [1]}, "subprotocols", True),
    ({"subprotocols": ["chat room"]}, "subprotocols", False),
    ({"ssl": 5}, "ssl", True),
    ({"family": "x"}, "family", True),
    ({"proto": True}, "proto", True),
    ({"flags": 1.0}, "flags", True),
    ({"sock": 5}, "sock", True),
    ({"local_addr": "x"}, "local_addr", True),
    ({"local_addr": ("127.0.0.1", 1.5)}, "local_addr", True),
    ({"local_addr": ("127.0.0.1", 99999)}, "local_addr", False),
    ({"server_hostname": 1}, "server_hostname", True),
    ({"server_hostname": "example.com"}, "server_hostname", False),  # ws://: no TLS
    ({"ssl_handshake_timeout": -1}, "ssl_handshake_timeout", False),
    ({"ssl_handshake_timeout": 5}, "ssl_handshake_timeout", False),  # ws://: no TLS
    ({"ssl_shutdown_timeout": math.nan}, "ssl_shutdown_timeout", False),
    ({"happy_eyeballs_delay": "soon"}, "happy_eyeballs_delay", True),
    ({"happy_eyeballs_delay": math.inf}, "happy_eyeballs_delay", False),
    ({"interleave": "x"}, "interleave", True),
    ({"interleave": -1}, "interleave", False),
    *([({"all_errors": 1}, "all_errors", True)] if ALL_ERRORS else []),
    ({"proxy": "https://127.0.0.1:3128", "proxy_ssl": 5}, "ssl", True),
    ({"proxy_ssl": True}, "proxy_ssl", False),  # no proxy: create_connection refused it
    ({"proxy": None, "proxy_server_hostname": "p"}, "proxy_server_hostname", False),
    ({"proxy": "http://127.0.0.1:99999"}, "proxy", False),  # was urllib's ValueError
    ({"proxy": "http://[::1"}, "proxy", False),
]

ACCEPTED: list[dict[str, Any]] = [
    {"max_size": None},
    {"max_size": 1},
    {"max_size": (None, 2**16)},
    {"max_size": (2**20, None)},
    {"max_queue": None},
    {"max_queue": 0},
    {"max_queue": (None, 4)},
    {"max_queue": (16, None)},
    {"max_queue": (16, 16)},
    {"write_limit": 0},
    {"write_limit": (2**16, None)},
    {"write_limit": (2**16, 2**14)},
    {"origin": None},
    {"origin": "https://example.com"},
    {"user_agent_header": None},
    {"user_agent_header": "agent/1.0 (\u00e9)"},  # latin-1, as websockets sends it
    {"additional_headers": None},
    {"additional_headers": {"X-A": "b"}},
    {"additional_headers": [("X-A", "b"), ("X-A", "c")]},
    {"proxy": True},
    {"proxy": None},
    {"proxy": "socks5h://127.0.0.1:1080"},
    {"proxy": "https://127.0.0.1:3128", "proxy_ssl": True, "proxy_server_hostname": "p"},
    {"proxy": "http://127.0.0.1:3128", "proxy_ssl": None},
    {"logger": logging.getLogger("x")},
    {"logger": logging.LoggerAdapter(logging.getLogger("x"))},
    {"process_exception": lambda exc: exc},
    {"create_connection": None},
    {"create_connection": ClientConnection},
    {"subprotocols": ["chat", "v2.chat"]},
    {"ssl": None},
    {"family": socket.AF_INET, "proto": 0, "flags": 0},
    {"local_addr": ("127.0.0.1", 0)},
    {"happy_eyeballs_delay": 0.25, "interleave": 1},
    {"interleave": 0},
    {"local_addr": ("127.0.0.1", "0")},  # what getaddrinfo takes: a service too
    {"local_addr": ("127.0.0.1", None)},
    {"create_connection": functools.partial(ClientConnection)},
    {"logger": _DuckLogger()},
    {"additional_headers": Headers([("X-A", "1"), ("X-A", "2")])},  # a name twice
    *([{"all_errors": True}] if ALL_ERRORS else []),
]

SECURE_ACCEPTED: list[dict[str, Any]] = [
    {"server_hostname": "example.com"},
    {"ssl_handshake_timeout": 5, "ssl_shutdown_timeout": 2.5},
    {"ssl": ssl.create_default_context()},
]


def _id(options: object) -> str:
    """A test id that is the same in every process (no object addresses: xdist)."""
    assert isinstance(options, dict)
    plain = (int, float, str, bytes, tuple, type(None))
    return ",".join(
        f"{k}={v!r}" if isinstance(v, plain) else f"{k}:{type(v).__name__}"
        for k, v in options.items()
    )


@pytest.mark.parametrize(
    ("options", "option", "type_error"), REFUSED, ids=[_id(o) for o, _, _ in REFUSED]
)
def test_refused_at_the_call_naming_the_option(
    options: dict[str, Any], option: str, type_error: bool
) -> None:
    for make in (wsstate.connect, wsstate.ReconnectingClient, wsstate.reconnect):
        with pytest.raises(InvalidOption) as info:
            make(URI, **options)
        assert info.value.option == option
        assert isinstance(info.value, TypeError) is type_error, info.value


@pytest.mark.parametrize("options", ACCEPTED, ids=_id)
def test_accepted_and_passed_on_unchanged(options: dict[str, Any]) -> None:
    assert checked(options) == options
    wsstate.connect(URI, **options)


@pytest.mark.parametrize("options", SECURE_ACCEPTED, ids=_id)
def test_tls_options_accepted_for_a_wss_uri(options: dict[str, Any]) -> None:
    assert checked(options, secure=True) == options
    wsstate.connect("wss://127.0.0.1:1/", **options)
    wsstate.connect("WSS://127.0.0.1:1/", **options)


def test_every_check_is_in_the_table_above() -> None:
    # A check added to CHECKS without a refused row here is a check nobody saw fail.
    refused = {key for options, _, _ in REFUSED for key in options}
    assert set(CHECKS) - refused <= ({"all_errors"} if not ALL_ERRORS else set())


def test_an_iterator_of_headers_is_read_once_and_passed_on_as_read() -> None:
    headers: Iterator[tuple[str, str]] = iter([("X-A", "b")])
    passed = checked({"additional_headers": headers})
    assert passed["additional_headers"] == [("X-A", "b")]


def test_proxy_prefixed_tls_keywords_are_websockets_and_others_are_not() -> None:
    wsstate.connect(URI, proxy="https://127.0.0.1:3128", proxy_ssl_handshake_timeout=5)
    # Only websockets' four for TLS to the proxy: the others were taken and failed
    # on entry with a bare TypeError of asyncio's.
    for other in ("proxy_bogus", "proxy_max_size", "proxy_origin", "proxy_family"):
        with pytest.raises(TypeError, match=f"'{other}'"):
            wsstate.connect(URI, proxy="http://127.0.0.1:3128", **{other: 1})


async def _echo_headers(ws: ServerConnection) -> None:
    assert ws.request is not None
    await ws.send(repr(ws.request.headers.get_all("X-A")))
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async with serve(_echo_headers, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


async def test_valid_limits_and_headers_reach_websockets() -> None:
    def generated() -> Iterator[tuple[str, str]]:
        yield ("X-A", "one")
        yield ("X-A", "two")

    async with (
        echo_server() as server_port,
        wsstate.connect(
            f"ws://127.0.0.1:{server_port}/",
            max_size=(64, None),
            max_queue=(8, 2),
            write_limit=(2**16, 2**12),
            additional_headers=generated(),
            proxy=None,
        ) as conn,
    ):
        assert await conn.recv() == "['one', 'two']"  # nothing of the generator lost
        native = conn.transport.connection  # type: ignore[attr-defined]
        assert native.protocol.max_message_size == 64
        assert (native.max_queue_high, native.max_queue_low) == (8, 2)
        assert native.transport.get_write_buffer_limits() == (2**12, 2**16)
        await conn.send("x" * 64)
        assert await conn.recv() == "x" * 64
        await conn.send("x" * 65)  # over max_size: websockets fails it with 1009
        with pytest.raises(wsstate.ConnectionClosed):
            await conn.recv()
        assert conn.close_code == 1009


async def test_a_reconnecting_client_sends_an_iterator_of_headers_every_time() -> None:
    # The client's options were checked once (reading the generator) and then passed
    # unchecked: the generator, empty, to every attempt: the header never arrived.
    def generated() -> Iterator[tuple[str, str]]:
        yield ("X-A", "again")

    seen: list[object] = []
    async with echo_server() as port:
        connections = wsstate.reconnect(
            f"ws://127.0.0.1:{port}/", additional_headers=generated(), backoff_initial=0
        )
        async with contextlib.aclosing(connections):
            async for conn in connections:
                seen.append(await conn.recv())
                if len(seen) == 2:
                    break
                await conn.close()  # closed here: the client opens the next generation
    assert seen == ["['again']", "['again']"]


async def _connect_proxy(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
) -> None:
    """A minimal HTTP CONNECT proxy (RFC 9110 9.3.6): one tunnel per client."""
    head = await reader.readuntil(b"\r\n\r\n")
    seen.append(head.split(b"\r\n", 1)[0])
    target = head.split(b" ")[1].decode()
    host, _, port = target.rpartition(":")
    up_reader, up_writer = await asyncio.open_connection(host, int(port))
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)


async def test_proxy_keywords_go_through_a_real_proxy() -> None:
    async with echo_server() as server_port:
        await _through_proxy(server_port)


async def _through_proxy(server_port: int) -> None:
    seen: list[bytes] = []
    proxy = await asyncio.start_server(lambda r, w: _connect_proxy(r, w, seen), "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    try:
        async with wsstate.connect(
            f"ws://127.0.0.1:{server_port}/",
            proxy=f"http://127.0.0.1:{proxy_port}",
            proxy_ssl=None,  # once refused as an unknown keyword
            additional_headers={"X-A": "via proxy"},
        ) as conn:
            assert await conn.recv() == "['via proxy']"
        assert (conn.close_code, conn.clean) == (1000, True)
        assert seen == [f"CONNECT 127.0.0.1:{server_port} HTTP/1.1".encode()]
    finally:
        proxy.close()
        await proxy.wait_closed()
