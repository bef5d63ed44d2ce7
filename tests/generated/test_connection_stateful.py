# GENERATED FILE - DO NOT EDIT.
# Source: spec/connection.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""Hypothesis stateful tests of the connection machine against real sockets.

One rule per event of the table that a test can drive; the python-statemachine
model is the oracle; every check is in wsstate.testing.stateful.Harness. One
machine per role: the guarded side as a websockets server, as a websockets
client, and as a Starlette endpoint on a real uvicorn per ASGI implementation.
Profile: WSSTATE_HYPOTHESIS_PROFILE=ci (default) or long.
Events with no driver (listed in the coverage report): handshake_ok, handshake_fail,
peer_close_invalid, open_timeout.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from wsstate._generated import Event, State
from wsstate.testing.stateful import (
    ROLES,
    Harness,
    HypothesisChoices,
    Role,
    asgi_settings,
    drivable_pairs,
    register_profiles,
    run_tour,
)

register_profiles()
PROFILE = settings.get_profile(os.environ.get("WSSTATE_HYPOTHESIS_PROFILE", "ci"))
#: The ASGI roles start a uvicorn per connection: fewer examples (asgi_settings).
ASGI_PROFILE = asgi_settings(PROFILE)


class ConnectionMachine(RuleBasedStateMachine):
    """Drives one guarded connection; subclasses pick the role."""

    role: ClassVar[Role] = "server"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.h = Harness(self.role)
        self.loop.run_until_complete(self.h.start())

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.h.stop())
        finally:
            self.loop.close()

    def _step(self, event: Event, data: Any) -> None:
        self.loop.run_until_complete(self.h.step(event, HypothesisChoices(data)))

    @precondition(lambda self: self.h.model_state is State.CLOSED)
    @rule()
    def reopen(self) -> None:
        """Check and tear down the closed connection, then open a new one."""
        self.loop.run_until_complete(self.h.stop())
        self.h = Harness(self.role)
        self.loop.run_until_complete(self.h.start())

    def _together(self, a: Event, b: Event, data: Any) -> None:
        coro = self.h.step_concurrently(a, b, HypothesisChoices(data))
        self.loop.run_until_complete(coro)

    @precondition(lambda self: self.h.enabled(Event.APP_SEND))
    @rule(data=st.data())
    def app_send(self, data: Any) -> None:
        """local: The application sends a data message (send, try_send, send_threadsafe)."""
        self._step(Event.APP_SEND, data)

    @precondition(lambda self: self.h.enabled(Event.APP_PING))
    @rule(data=st.data())
    def app_ping(self, data: Any) -> None:
        """local: The application sends a ping."""
        self._step(Event.APP_PING, data)

    @precondition(lambda self: self.h.enabled(Event.APP_RECV))
    @rule(data=st.data())
    def app_recv(self, data: Any) -> None:
        """local: The application asks for the next received message."""
        self._step(Event.APP_RECV, data)

    @precondition(lambda self: self.h.enabled(Event.APP_ACCEPT))
    @rule(data=st.data())
    def app_accept(self, data: Any) -> None:
        """local: The application accepts the opening handshake (adapters whose application completes it: ASGI)."""
        self._step(Event.APP_ACCEPT, data)

    @precondition(lambda self: self.h.enabled(Event.APP_CLOSE))
    @rule(data=st.data())
    def app_close(self, data: Any) -> None:
        """local: The application calls close() with a valid code and reason."""
        self._step(Event.APP_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.APP_CLOSE_INVALID))
    @rule(data=st.data())
    def app_close_invalid(self, data: Any) -> None:
        """local: The application calls close() with an invalid code or reason."""
        self._step(Event.APP_CLOSE_INVALID, data)

    @precondition(lambda self: self.h.enabled(Event.APP_ABORT))
    @rule(data=st.data())
    def app_abort(self, data: Any) -> None:
        """local: The application calls abort(): drop the transport without a closing handshake."""
        self._step(Event.APP_ABORT, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_DATA))
    @rule(data=st.data())
    def peer_data(self, data: Any) -> None:
        """remote: A data message arrived from the peer."""
        self._step(Event.PEER_DATA, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_CLOSE))
    @rule(data=st.data())
    def peer_close(self, data: Any) -> None:
        """remote: A Close frame with a valid code (or no code) arrived from the peer."""
        self._step(Event.PEER_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_PROTOCOL_ERROR))
    @rule(data=st.data())
    def peer_protocol_error(self, data: Any) -> None:
        """remote: The peer violated the protocol (bad frame, frame after its Close)."""
        self._step(Event.PEER_PROTOCOL_ERROR, data)

    @precondition(lambda self: self.h.enabled(Event.TRANSPORT_EOF))
    @rule(data=st.data())
    def transport_eof(self, data: Any) -> None:
        """transport: The transport ended cleanly (TCP FIN) with no Close frame in between."""
        self._step(Event.TRANSPORT_EOF, data)

    @precondition(lambda self: self.h.enabled(Event.TRANSPORT_ERROR))
    @rule(data=st.data())
    def transport_error(self, data: Any) -> None:
        """transport: The transport failed (TCP RST, OSError, connection lost)."""
        self._step(Event.TRANSPORT_ERROR, data)

    @precondition(lambda self: self.h.enabled(Event.TRANSPORT_STALLED))
    @rule(data=st.data())
    def transport_stalled(self, data: Any) -> None:
        """transport: The outgoing buffer stayed full for the write timeout: a slow reader."""
        self._step(Event.TRANSPORT_STALLED, data)

    @precondition(lambda self: self.h.enabled(Event.CLOSE_TIMEOUT))
    @rule(data=st.data())
    def close_timeout(self, data: Any) -> None:
        """timer: The close timer fired: the closing handshake or teardown took too long."""
        self._step(Event.CLOSE_TIMEOUT, data)

    @precondition(lambda self: self.h.enabled(Event.KEEPALIVE_TIMEOUT))
    @rule(data=st.data())
    def keepalive_timeout(self, data: Any) -> None:
        """timer: A keepalive ping got no pong in time: the peer is unresponsive (half-open)."""
        self._step(Event.KEEPALIVE_TIMEOUT, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_SEND, Event.APP_CLOSE)
    )
    @rule(data=st.data())
    def together_app_send__app_close(self, data: Any) -> None:
        """app_send and app_close started together."""
        self._together(Event.APP_SEND, Event.APP_CLOSE, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_CLOSE, Event.APP_CLOSE)
    )
    @rule(data=st.data())
    def together_app_close__app_close(self, data: Any) -> None:
        """app_close and app_close started together."""
        self._together(Event.APP_CLOSE, Event.APP_CLOSE, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_SEND, Event.APP_ABORT)
    )
    @rule(data=st.data())
    def together_app_send__app_abort(self, data: Any) -> None:
        """app_send and app_abort started together."""
        self._together(Event.APP_SEND, Event.APP_ABORT, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_CLOSE, Event.TRANSPORT_ERROR)
    )
    @rule(data=st.data())
    def together_app_close__transport_error(self, data: Any) -> None:
        """app_close and transport_error started together."""
        self._together(Event.APP_CLOSE, Event.TRANSPORT_ERROR, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_SEND, Event.TRANSPORT_ERROR)
    )
    @rule(data=st.data())
    def together_app_send__transport_error(self, data: Any) -> None:
        """app_send and transport_error started together."""
        self._together(Event.APP_SEND, Event.TRANSPORT_ERROR, data)

    @precondition(
        lambda self: self.h.enabled_concurrently(Event.APP_CLOSE, Event.PEER_CLOSE)
    )
    @rule(data=st.data())
    def together_app_close__peer_close(self, data: Any) -> None:
        """app_close and peer_close started together."""
        self._together(Event.APP_CLOSE, Event.PEER_CLOSE, data)


class ServerSide(ConnectionMachine):
    """The guarded side is a websockets server."""

    role: ClassVar[Role] = "server"


class ClientSide(ConnectionMachine):
    """The guarded side is a websockets client."""

    role: ClassVar[Role] = "client"


class AsgiSansioSide(ConnectionMachine):
    """The guarded side is a Starlette endpoint on uvicorn (ws='websockets-sansio')."""

    role: ClassVar[Role] = "asgi-sansio"


class AsgiWsprotoSide(ConnectionMachine):
    """The guarded side is a Starlette endpoint on uvicorn (ws='wsproto')."""

    role: ClassVar[Role] = "asgi-wsproto"


TestServerSide = ServerSide.TestCase
TestServerSide.settings = PROFILE
TestClientSide = ClientSide.TestCase
TestClientSide.settings = PROFILE
TestAsgiSansioSide = AsgiSansioSide.TestCase
TestAsgiSansioSide.settings = ASGI_PROFILE
TestAsgiWsprotoSide = AsgiWsprotoSide.TestCase
TestAsgiWsprotoSide.settings = ASGI_PROFILE


@pytest.mark.parametrize("role", ROLES)
def test_every_drivable_pair(role: Role) -> None:
    """Deterministic tour: each drivable pair once, checked as in the rules."""
    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"
    failures = asyncio.run(run_tour(role))
    assert not failures, "\n".join(failures)
