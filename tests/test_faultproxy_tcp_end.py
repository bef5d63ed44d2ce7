"""ProxiedConnection.tcp_end (how each peer ended TCP) and a cancel-safe wait_closed.

The classification is a pure function with a table of cases; the real cases drive a
plain TCP server through the real proxy: the server ends with a FIN, with an RST,
or the proxy's reset fault ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from wsstate.testing import FaultProxy, LoopWatch, ResourceSnapshot, Side, TcpEnd
from wsstate.testing.faultproxy import _classify_end

RESET = ConnectionResetError()


@pytest.mark.parametrize(
    ("connected", "lost", "fin", "by_fault", "error", "expected"),
    [
        (False, False, False, False, None, TcpEnd.UNCONNECTED),
        (True, False, False, False, None, TcpEnd.OPEN),
        (True, False, True, False, None, TcpEnd.HALF_CLOSED),
        (True, True, True, False, None, TcpEnd.FIN),
        (True, True, False, False, RESET, TcpEnd.RST),
        (True, True, True, False, RESET, TcpEnd.RST),  # FIN, then an RST on a late write
        (True, True, False, False, BrokenPipeError(), TcpEnd.RST),
        (True, True, False, False, TimeoutError(), TcpEnd.LOST),
        (True, True, False, False, None, TcpEnd.BY_PROXY),
        (True, True, False, True, None, TcpEnd.FAULT),
        (True, True, True, True, RESET, TcpEnd.FAULT),
    ],
)
def test_classify_end(
    connected: bool,
    lost: bool,
    fin: bool,
    by_fault: bool,
    error: BaseException | None,
    expected: TcpEnd,
) -> None:
    end = _classify_end(
        connected=connected, lost=lost, fin_received=fin, by_fault=by_fault, error=error
    )
    assert end is expected
    assert end.by_peer == (expected in (TcpEnd.HALF_CLOSED, TcpEnd.FIN, TcpEnd.RST, TcpEnd.LOST))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def checked() -> None:
        baseline = ResourceSnapshot.take()
        with LoopWatch() as watch:
            async with asyncio.timeout(5):
                await scenario()
            await baseline.assert_restored(settle=1.0)
            watch.assert_not_called()

    asyncio.run(checked())


async def _through_proxy(
    server_does: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    proxy_does: Callable[[FaultProxy], Awaitable[None]] | None = None,
) -> tuple[TcpEnd, TcpEnd]:
    """A client sends a line through the proxy; the server reads it and does its thing.
    Returns (the server leg's end, the client leg's end) once both legs closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        await server_does(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with FaultProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hello\n")
        [pair] = await proxy.wait_connections(1)
        if proxy_does is not None:
            await reader.readexactly(3)
            await proxy_does(proxy)
        else:
            with contextlib.suppress(ConnectionError):  # the RST case
                await reader.read()  # until the server's FIN or RST
        writer.close()
        with contextlib.suppress(ConnectionError):  # the RST case
            await writer.wait_closed()
        await pair.wait_closed()
        ends = (pair.tcp_end(Side.SERVER), pair.tcp_end(Side.CLIENT))
    server.close()
    await server.wait_closed()
    return ends


async def _fin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def _rst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hi\n")
    await writer.drain()
    with contextlib.suppress(ConnectionError):
        await reader.read()  # until the proxy's reset
    writer.close()


async def _proxy_reset(proxy: FaultProxy) -> None:
    await proxy.reset()


def test_tcp_end_tells_the_servers_fin_from_its_rst_and_from_a_fault() -> None:
    results: dict[str, tuple[TcpEnd, TcpEnd]] = {}

    async def scenario() -> None:
        results["fin"] = await _through_proxy(_fin)
        results["rst"] = await _through_proxy(_rst)
        results["fault"] = await _through_proxy(_hold, _proxy_reset)

    run(scenario)
    assert results["fin"][0] is TcpEnd.FIN
    assert results["rst"][0] is TcpEnd.RST
    assert results["fault"] == (TcpEnd.FAULT, TcpEnd.FAULT)
    assert results["fin"][0].by_peer
    assert results["rst"][0].by_peer
    assert not results["fault"][0].by_peer


def test_a_timed_out_wait_closed_leaves_the_connection_alone() -> None:
    """Cancelling wait_closed() (a timeout) must not cancel the legs' own futures: the
    connection still reads as open, and a later wait sees it close."""
    seen: dict[str, object] = {}

    async def scenario() -> None:
        release = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with FaultProxy("127.0.0.1", port) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            [pair] = await proxy.wait_connections(1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await pair.wait_closed()
            seen["closed after the timeout"] = pair.closed
            seen["server end after the timeout"] = pair.tcp_end(Side.SERVER)
            release.set()
            await reader.read()
            writer.close()
            await writer.wait_closed()
            async with asyncio.timeout(2):
                await pair.wait_closed()
            seen["server end"] = pair.tcp_end(Side.SERVER)
        server.close()
        await server.wait_closed()

    run(scenario)
    assert seen["closed after the timeout"] is False
    assert seen["server end after the timeout"] is TcpEnd.OPEN
    assert seen["server end"] is TcpEnd.FIN
