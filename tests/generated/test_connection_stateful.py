# GENERATED FILE - DO NOT EDIT.
# Source: spec/connection.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""Hypothesis stateful tests of the connection machine against real sockets.

One rule per event of the table; a rule is enabled when wsstate.testing.stateful
can drive its event in the model's state. The python-statemachine model is the
oracle; every check is in the harness. One test class per role of the harness.
Profile: WSSTATE_HYPOTHESIS_PROFILE=ci (default) or long.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from wsstate.machines.connection import TERMINAL, Event
from wsstate.testing.stateful import (
    CONCURRENT_PAIRS,
    ROLES,
    Harness,
    HypothesisChoices,
    Role,
    class_name,
    drivable_pairs,
    open_site,
    register_profiles,
    role_doc,
    role_settings,
    run_tour,
)

register_profiles()
PROFILE = settings.get_profile(os.environ.get("WSSTATE_HYPOTHESIS_PROFILE", "ci"))


class ConnectionMachine(RuleBasedStateMachine):
    """Drives one guarded endpoint; one subclass per role."""

    role: ClassVar[Role]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # One server and proxy for the example; each (re)opened endpoint is a
        # fresh connection through them, checked on its own at its stop().
        self.site = open_site(self.role)
        try:
            self.loop.run_until_complete(self.site.open())
            self.h = Harness(self.role, site=self.site)
            self.loop.run_until_complete(self.h.start())
        except BaseException:
            # Hypothesis runs no teardown after a failed __init__: undo it here
            # (the failure to start is the error, not what closing then finds).
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.site.close())
            self.loop.close()
            raise

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.h.stop())
        finally:
            try:
                self.loop.run_until_complete(self.site.close())
            finally:
                self.loop.close()

    def _step(self, event: Event, data: Any) -> None:
        self.loop.run_until_complete(self.h.step(event, HypothesisChoices(data)))

    @precondition(lambda self: self.h.model_state in TERMINAL)
    @rule()
    def reopen(self) -> None:
        """Check and tear down the finished endpoint, then open a new one."""
        self.loop.run_until_complete(self.h.stop())
        self.h = Harness(self.role, site=self.site)
        self.loop.run_until_complete(self.h.start())

    @precondition(
        lambda self: any(self.h.enabled_concurrently(a, b) for a, b in CONCURRENT_PAIRS)
    )
    @rule(data=st.data())
    def together(self, data: Any) -> None:
        """Two operations started together (a pair of CONCURRENT_PAIRS)."""
        pairs = [p for p in CONCURRENT_PAIRS if self.h.enabled_concurrently(*p)]
        a, b = data.draw(st.sampled_from(pairs), label="pair")
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

    @precondition(lambda self: self.h.enabled(Event.HANDSHAKE_OK))
    @rule(data=st.data())
    def handshake_ok(self, data: Any) -> None:
        """remote: The opening handshake completed (accepted, or the server's 101 received)."""
        self._step(Event.HANDSHAKE_OK, data)

    @precondition(lambda self: self.h.enabled(Event.HANDSHAKE_FAIL))
    @rule(data=st.data())
    def handshake_fail(self, data: Any) -> None:
        """remote: The opening handshake failed or the peer left during it."""
        self._step(Event.HANDSHAKE_FAIL, data)

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

    @precondition(lambda self: self.h.enabled(Event.PEER_CLOSE_INVALID))
    @rule(data=st.data())
    def peer_close_invalid(self, data: Any) -> None:
        """remote: A Close frame with a reserved or invalid code or reason arrived."""
        self._step(Event.PEER_CLOSE_INVALID, data)

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

    @precondition(lambda self: self.h.enabled(Event.OPEN_TIMEOUT))
    @rule(data=st.data())
    def open_timeout(self, data: Any) -> None:
        """timer: The open timer fired: the handshake took too long."""
        self._step(Event.OPEN_TIMEOUT, data)

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

    @precondition(lambda self: self.h.enabled(Event.LIBRARY_CLOSE))
    @rule(data=st.data())
    def library_close(self, data: Any) -> None:
        """transport: The transport library sent a Close frame on its own, on the application's behalf: its code does not blame the peer (a server handler returned, 1000, or raised, 1011; the server shuts down, 1001)."""
        self._step(Event.LIBRARY_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.APP_ACCEPT_AGAIN))
    @rule(data=st.data())
    def app_accept_again(self, data: Any) -> None:
        """local: The application calls accept() once the transport already has the handshake (a second accept(), while the first runs or after)."""
        self._step(Event.APP_ACCEPT_AGAIN, data)

    @precondition(lambda self: self.h.enabled(Event.LIBRARY_CLOSE_PEER_FAULT))
    @rule(data=st.data())
    def library_close_peer_fault(self, data: Any) -> None:
        """remote: The transport library failed the connection because of the peer: its own Close frame carries 1002, 1003, 1007 or 1009 (protocol error, unsupported data, invalid payload, message too big)."""
        self._step(Event.LIBRARY_CLOSE_PEER_FAULT, data)


for _role in ROLES:
    _cls: type[ConnectionMachine] = type(
        class_name(_role), (ConnectionMachine,), {"role": _role, "__doc__": role_doc(_role)}
    )
    _cls.TestCase.settings = role_settings(_role, PROFILE)
    globals()[f"Test{_cls.__name__}"] = _cls.TestCase


@pytest.mark.parametrize("role", ROLES)
def test_every_drivable_pair(role: Role) -> None:
    """Deterministic tour: each drivable pair once, checked as in the rules."""
    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"
    failures = asyncio.run(run_tour(role))
    assert not failures, "\n".join(failures)
