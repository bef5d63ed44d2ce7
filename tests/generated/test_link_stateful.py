# GENERATED FILE - DO NOT EDIT.
# Source: spec/link.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""Hypothesis stateful tests of the link machine against real sockets.

One rule per event of the table; a rule is enabled when wsstate.testing.link_stateful
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

from wsstate.machines.link import TERMINAL, Event
from wsstate.testing.link_stateful import (
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


class LinkMachine(RuleBasedStateMachine):
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
        """local: The application starts the hub (async with RedisHub(...), or start())."""
        self._step(Event.START, data)

    @precondition(lambda self: self.h.enabled(Event.APP_BROADCAST))
    @rule(data=st.data())
    def app_broadcast(self, data: Any) -> None:
        """local: The application broadcasts a message (await hub.broadcast(data))."""
        self._step(Event.APP_BROADCAST, data)

    @precondition(lambda self: self.h.enabled(Event.APP_CLOSE))
    @rule(data=st.data())
    def app_close(self, data: Any) -> None:
        """local: The application closes the hub's link (close(), or leaving async with)."""
        self._step(Event.APP_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.SUBSCRIBED))
    @rule(data=st.data())
    def subscribed(self, data: Any) -> None:
        """remote: The attempt connected to Redis and the subscription to the channel was confirmed."""
        self._step(Event.SUBSCRIBED, data)

    @precondition(lambda self: self.h.enabled(Event.ATTEMPT_FAILED))
    @rule(data=st.data())
    def attempt_failed(self, data: Any) -> None:
        """transport: The attempt failed: Redis did not answer or went away during it (connection refused, timeout, loading)."""
        self._step(Event.ATTEMPT_FAILED, data)

    @precondition(lambda self: self.h.enabled(Event.ATTEMPT_REFUSED))
    @rule(data=st.data())
    def attempt_refused(self, data: Any) -> None:
        """remote: The attempt reached Redis and Redis refused it: a wrong or missing password, an ACL without the channel, a database out of range (an error reply, not an absence)."""
        self._step(Event.ATTEMPT_REFUSED, data)

    @precondition(lambda self: self.h.enabled(Event.LINK_LOST))
    @rule(data=st.data())
    def link_lost(self, data: Any) -> None:
        """transport: The subscription or the publishing connection failed: Redis went away, restarted, or closed the client (output buffer limit)."""
        self._step(Event.LINK_LOST, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_MESSAGE))
    @rule(data=st.data())
    def peer_message(self, data: Any) -> None:
        """remote: A message of another process arrived with the next number of its publisher (or the first heard from it)."""
        self._step(Event.PEER_MESSAGE, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_MESSAGE_GAP))
    @rule(data=st.data())
    def peer_message_gap(self, data: Any) -> None:
        """remote: A message of another process arrived after numbers this process never received: the publisher's messages in between were missed."""
        self._step(Event.PEER_MESSAGE_GAP, data)

    @precondition(lambda self: self.h.enabled(Event.PEER_MESSAGE_STALE))
    @rule(data=st.data())
    def peer_message_stale(self, data: Any) -> None:
        """remote: A message arrived with a number of its publisher already passed: a duplicate."""
        self._step(Event.PEER_MESSAGE_STALE, data)

    @precondition(lambda self: self.h.enabled(Event.OWN_MESSAGE))
    @rule(data=st.data())
    def own_message(self, data: Any) -> None:
        """remote: This process' own broadcast came back from the channel."""
        self._step(Event.OWN_MESSAGE, data)

    @precondition(lambda self: self.h.enabled(Event.BACKOFF_ELAPSED))
    @rule(data=st.data())
    def backoff_elapsed(self, data: Any) -> None:
        """timer: The backoff delay ran out."""
        self._step(Event.BACKOFF_ELAPSED, data)


for _role in ROLES:
    _cls: type[LinkMachine] = type(
        class_name(_role), (LinkMachine,), {"role": _role, "__doc__": role_doc(_role)}
    )
    _cls.TestCase.settings = role_settings(_role, PROFILE)
    globals()[f"Test{_cls.__name__}"] = _cls.TestCase


@pytest.mark.parametrize("role", ROLES)
def test_every_drivable_pair(role: Role) -> None:
    """Deterministic tour: each drivable pair once, checked as in the rules."""
    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"
    failures = asyncio.run(run_tour(role))
    assert not failures, "\n".join(failures)
