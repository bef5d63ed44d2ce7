# GENERATED FILE - DO NOT EDIT.
# Source: spec/client.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""Hypothesis stateful tests of the client machine against real sockets.

One rule per event of the table; a rule is enabled when wsstate.testing.client_stateful
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

from wsstate.machines.client import TERMINAL, Event
from wsstate.testing.client_stateful import (
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


class ClientMachine(RuleBasedStateMachine):
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

    @precondition(lambda self: self.h.enabled(Event.START))
    @rule(data=st.data())
    def start(self, data: Any) -> None:
        """local: The application starts the client (async with client, or the first iteration of reconnect())."""
        self._step(Event.START, data)

    @precondition(lambda self: self.h.enabled(Event.APP_SEND))
    @rule(data=st.data())
    def app_send(self, data: Any) -> None:
        """local: The application sends a message (send, try_send) and the buffer has room."""
        self._step(Event.APP_SEND, data)

    @precondition(lambda self: self.h.enabled(Event.APP_SEND_FULL))
    @rule(data=st.data())
    def app_send_full(self, data: Any) -> None:
        """local: The application sends a message and the buffer holds max_buffered messages (always, with max_buffered=0)."""
        self._step(Event.APP_SEND_FULL, data)

    @precondition(lambda self: self.h.enabled(Event.APP_CLOSE))
    @rule(data=st.data())
    def app_close(self, data: Any) -> None:
        """local: The application calls close()."""
        self._step(Event.APP_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.CONNECTED))
    @rule(data=st.data())
    def connected(self, data: Any) -> None:
        """remote: The attempt's opening handshake completed: a new connection is open."""
        self._step(Event.CONNECTED, data)

    @precondition(lambda self: self.h.enabled(Event.READY))
    @rule(data=st.data())
    def ready(self, data: Any) -> None:
        """remote: on_open returned and the buffer was flushed on the new connection."""
        self._step(Event.READY, data)

    @precondition(lambda self: self.h.enabled(Event.REFUSED_RETRYABLE))
    @rule(data=st.data())
    def refused_retryable(self, data: Any) -> None:
        """remote: The attempt failed and may be retried (OSError, timeout, EOF in the handshake, HTTP 408/429/500/502/503/504 without Retry-After), or was cancelled."""
        self._step(Event.REFUSED_RETRYABLE, data)

    @precondition(lambda self: self.h.enabled(Event.REFUSED_RETRY_AFTER))
    @rule(data=st.data())
    def refused_retry_after(self, data: Any) -> None:
        """remote: The attempt was refused with HTTP 429 or 503 and a Retry-After header: a floor for the next delay."""
        self._step(Event.REFUSED_RETRY_AFTER, data)

    @precondition(lambda self: self.h.enabled(Event.REFUSED_FATAL))
    @rule(data=st.data())
    def refused_fatal(self, data: Any) -> None:
        """remote: The attempt was refused for good (other 4xx, an invalid URI, a TLS verification error)."""
        self._step(Event.REFUSED_FATAL, data)

    @precondition(lambda self: self.h.enabled(Event.CLOSED_RETRYABLE))
    @rule(data=st.data())
    def closed_retryable(self, data: Any) -> None:
        """remote: The open connection closed with a retryable code (1001, 1006, 1011, 1012, 1014; 1000 by default)."""
        self._step(Event.CLOSED_RETRYABLE, data)

    @precondition(lambda self: self.h.enabled(Event.CLOSED_RETRY_AFTER))
    @rule(data=st.data())
    def closed_retry_after(self, data: Any) -> None:
        """remote: The open connection closed with 1013 (Try Again Later) and a reason giving seconds: a floor for the next delay."""
        self._step(Event.CLOSED_RETRY_AFTER, data)

    @precondition(lambda self: self.h.enabled(Event.CLOSED_FATAL))
    @rule(data=st.data())
    def closed_fatal(self, data: Any) -> None:
        """remote: The open connection closed with a fatal code (1002, 1003, 1007-1010, 4000-4999)."""
        self._step(Event.CLOSED_FATAL, data)

    @precondition(lambda self: self.h.enabled(Event.GIVE_UP))
    @rule(data=st.data())
    def give_up(self, data: Any) -> None:
        """remote: A retryable failure or closure after max_attempts consecutive failed attempts."""
        self._step(Event.GIVE_UP, data)

    @precondition(lambda self: self.h.enabled(Event.BACKOFF_ELAPSED))
    @rule(data=st.data())
    def backoff_elapsed(self, data: Any) -> None:
        """timer: The backoff delay ran out: time for the next attempt."""
        self._step(Event.BACKOFF_ELAPSED, data)

    @precondition(lambda self: self.h.enabled(Event.MIN_UPTIME_ELAPSED))
    @rule(data=st.data())
    def min_uptime_elapsed(self, data: Any) -> None:
        """timer: The current connection has stayed open min_uptime seconds: it counts as a success."""
        self._step(Event.MIN_UPTIME_ELAPSED, data)


for _role in ROLES:
    _cls: type[ClientMachine] = type(
        class_name(_role), (ClientMachine,), {"role": _role, "__doc__": role_doc(_role)}
    )
    _cls.TestCase.settings = role_settings(_role, PROFILE)
    globals()[f"Test{_cls.__name__}"] = _cls.TestCase


@pytest.mark.parametrize("role", ROLES)
def test_every_drivable_pair(role: Role) -> None:
    """Deterministic tour: each drivable pair once, checked as in the rules."""
    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"
    failures = asyncio.run(run_tour(role))
    assert not failures, "\n".join(failures)
