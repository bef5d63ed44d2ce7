"""wsstate.ReconnectingClient against a real websockets server: the API beyond the catalogue rows.

The catalogue's rows 29-34 are in tests/scenarios/test_reconnect.py; here: the
table is what the runtime performs (every declared effect handled, one outcome
per operation row), option checks, the retry predicate, 1012 reconnects,
max_attempts, on_close once per connection, iteration across generations and
reconnect(). Helpers (server, clock) are in support.reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from support.reconnect import Server, client, no_errors, serving, until

import wsstate
from wsstate import ClientState, ReconnectingClient
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


# -- scenario 29: accept then close --------------------------------------------------------


# -- scenario 31: Retry-After --------------------------------------------------------------


# -- scenario 32: fatal refusals -------------------------------------------------------------


@serving
async def test_the_retry_predicate_overrides_the_table(server: Server) -> None:
    server.mode, server.code = "accept_close", 4001
    c = client(server, retry=lambda r: True if r.value == 4001 else None)
    async with c:
        await until(lambda: c.state is ClientState.BACKOFF)


@serving
async def test_close_1012_reconnects(server: Server) -> None:
    c = client(server)
    async with c:
        await until(lambda: c.state is ClientState.OPEN)
        await server.close_all(1012)
        await until(lambda: c.state is ClientState.BACKOFF)
        server.clock.advance(c.last_delay or 0)
        await until(lambda: c.state is ClientState.OPEN and c.generation == 2)


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


# -- scenario 30: the herd -------------------------------------------------------------------
