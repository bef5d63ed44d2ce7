"""``wsstate.testing.check_adapter``: an adapter written outside wsstate, checked against the table.

The adapter is this module's: :class:`Relay`, a :class:`~wsstate.adapters.base.Transport`
of its own over a websockets connection (it relays each operation to
wsstate's websockets adapter, as a project wrapping a transport would), served
by a real websockets server or opened by a real websockets client. Its
correct form passes both roles with full coverage; :class:`DeafRelay`, which
never reports the peer's Close (the library echoed it, the adapter did not
tell), fails with a counterexample whose replay command reproduces it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from wsstate.adapters.base import Data, Facts, Transport
from wsstate.adapters.websockets import WebsocketsTransport
from wsstate.machines.connection import Event, State
from wsstate.testing import AdapterCheckFailure, AdapterRole, check_adapter
from wsstate.testing.sites import OnTransport


class Relay(Transport):
    """A transport adapter of another project: every operation goes to an inner one."""

    __slots__ = ("inner", "loop")

    def __init__(self, ws: object) -> None:
        self.inner = WebsocketsTransport(ws)  # type: ignore[arg-type]
        self.loop = self.inner.loop

    @property
    def queued(self) -> int:
        """Received messages waiting for recv() (what the harness waits on)."""
        return len(self.inner.connection.recv_messages.frames)

    def facts(self) -> Facts:
        return self.inner.facts()

    def is_open(self) -> bool:
        return self.inner.is_open()

    def write(self, data: Data) -> Awaitable[None] | None:
        return self.inner.write(data)

    async def ping(self) -> Awaitable[None] | None:
        return await self.inner.ping()

    async def recv(self, block: bool = True) -> Data:
        return await self.inner.recv(block)

    def start_close(self, code: int, reason: str) -> None:
        self.inner.start_close(code, reason)

    def close_transport(self) -> None:
        self.inner.close_transport()

    def abort_transport(self) -> None:
        self.inner.abort_transport()

    def set_listener(self, listener: Callable[[], None], on_data: Callable[[], None]) -> None:
        self.inner.set_listener(listener, on_data)


class DeafRelay(Relay):
    """The bug: the peer's Close is never reported (websockets echoed it all the same)."""

    __slots__ = ()

    def facts(self) -> Facts:
        return self.inner.facts()._replace(close_rcvd=None)


class CalmRelay(Relay):
    """The bug: a reset reported as an orderly end of TCP (the same CLOSED, another way)."""

    __slots__ = ()

    def facts(self) -> Facts:
        return self.inner.facts()._replace(lost_error=False)


def _serve(kind: type[Relay]) -> Callable[..., contextlib.AbstractAsyncContextManager[object]]:
    @contextlib.asynccontextmanager
    async def run(sock: object, on_transport: OnTransport) -> AsyncIterator[None]:
        async def handler(ws: ServerConnection) -> None:
            await on_transport(kind(ws))

        server = await serve(handler, sock=sock, ping_interval=None, compression=None)
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()

    return run


async def _connect(url: str) -> Transport:
    return Relay(await connect(url, ping_interval=None, compression=None))


RELAY_SERVER = AdapterRole.server(
    "relay-server", _serve(Relay), doc="a websockets server behind the Relay adapter"
)
RELAY_CLIENT = AdapterRole.client(
    "relay-client", _connect, doc="a websockets client behind the Relay adapter"
)
DEAF_SERVER = AdapterRole.server("deaf-relay-server", _serve(DeafRelay))
CALM_SERVER = AdapterRole.server("calm-relay-server", _serve(CalmRelay))


@pytest.mark.parametrize("role", [RELAY_SERVER, RELAY_CLIENT], ids=lambda r: r.name)
def test_a_correct_adapter_passes_with_full_coverage(role: AdapterRole) -> None:
    report = check_adapter(role, steps=60, seed=1)
    print(report)
    assert report.complete, report.not_reached
    assert report.covered
    # Every pair of the table neither covered nor impossible has its reason.
    assert all(why for why in report.not_drivable.values())
    assert (State.OPEN, Event.APP_ACCEPT_AGAIN) in report.not_drivable
    assert str(report).startswith(f"transition coverage ({role.name}): ")


def test_a_deaf_adapter_fails_and_the_replay_reproduces_it() -> None:
    with pytest.raises(AdapterCheckFailure) as info:
        check_adapter(DEAF_SERVER, steps=40, seed=3, tour=False, settle=0.5)
    failure = info.value
    print(failure)
    message = str(failure)
    # The peer's Close: the model is in CLOSE_RECEIVED, the deaf adapter's runtime is not.
    assert "model is CLOSE_RECEIVED; steps: ['peer_close -> CLOSE_RECEIVED']" in message
    words = shlex.split(failure.replay)
    assert words[:4] == [
        "python",
        "-m",
        "wsstate.testing.adapter_replay",
        "test_adapter_check:DEAF_SERVER",
    ]
    assert words[-7:] == ["--seed", "3", "--steps", "40", "--no-tour", "--settle", "0.5"]
    run = subprocess.run(
        [sys.executable, *words[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # The same counterexample: the same steps, model's and runtime's.
    steps = re.compile(r"steps: \[.*?\]; runtime took: \[.*?\]")
    assert steps.findall(run.stderr) == steps.findall(message), run.stderr


def test_a_reset_reported_as_an_orderly_end_fails() -> None:
    """Not a state the model and the runtime disagree on: the event the runtime took."""
    with pytest.raises(AdapterCheckFailure) as info:
        check_adapter(CALM_SERVER, steps=0, settle=0.5)
    message = str(info.value)
    print(message)
    assert "tour, OPEN/transport_error via nothing" in message
    assert "['CONNECTING/handshake_ok', 'OPEN/transport_eof'], the model by" in message
    assert info.value.replay.endswith(
        "test_adapter_check:CALM_SERVER --app-dir tests --seed 0 --steps 0 --settle 0.5"
    )


@contextlib.asynccontextmanager
async def _serve_natives(sock: object, on_transport: OnTransport) -> AsyncIterator[None]:
    async def handler(ws: ServerConnection) -> None:
        await on_transport(ws)  # type: ignore[arg-type]  # the mistake: no Transport

    server = await serve(handler, sock=sock, ping_interval=None, compression=None)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


NATIVE_SERVER = AdapterRole.server("native-server", _serve_natives)


def test_a_server_handing_no_transport_fails_saying_so() -> None:
    with pytest.raises(
        AdapterCheckFailure,
        match=re.escape("takes a wsstate.adapters.base.Transport, not ServerConnection"),
    ) as info:
        check_adapter(NATIVE_SERVER, steps=1, settle=0.5)
    print(info.value)


def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="steps: at least 0"):
        check_adapter(RELAY_SERVER, steps=-1)
    with pytest.raises(TypeError, match="seed: an int"):
        check_adapter(RELAY_SERVER, seed=True)
    with pytest.raises(ValueError, match="settle: finite seconds above 0"):
        check_adapter(RELAY_SERVER, settle=float("nan"))
    with pytest.raises(TypeError, match="takes an AdapterRole"):
        check_adapter("relay-server")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs serve="):
        AdapterRole("x", "server")
    with pytest.raises(TypeError, match="takes no connect="):
        AdapterRole("x", "server", serve=_serve(Relay), connect=_connect)
    with pytest.raises(ValueError, match="built-in role"):
        AdapterRole.client("client", _connect)
    with pytest.raises(ValueError, match="must start with '/'"):
        AdapterRole.client("x", _connect, path="ws")
    with pytest.raises(TypeError, match="keys are"):
        AdapterRole.client("x", _connect, not_drivable={"OPEN": "why"})
