# GENERATED FILE - DO NOT EDIT.
# Source: spec/session.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""Hypothesis stateful tests of the session machine against real sockets.

One rule per event of the table; a rule is enabled when wsstate.testing.session_stateful
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

from wsstate.machines.session import TERMINAL, Event
from wsstate.testing.session_stateful import (
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


class SessionMachine(RuleBasedStateMachine):
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

    @precondition(lambda self: self.h.enabled(Event.ATTACH))
    @rule(data=st.data())
    def attach(self, data: Any) -> None:
        """local: A connection attaches with no last_seen (a fresh page): it becomes the next generation; nothing is replayed."""
        self._step(Event.ATTACH, data)

    @precondition(lambda self: self.h.enabled(Event.ATTACH_RESUME))
    @rule(data=st.data())
    def attach_resume(self, data: Any) -> None:
        """local: A connection attaches with a last_seen the history still covers: the next generation, with the later messages replayed."""
        self._step(Event.ATTACH_RESUME, data)

    @precondition(lambda self: self.h.enabled(Event.ATTACH_GAP))
    @rule(data=st.data())
    def attach_gap(self, data: Any) -> None:
        """local: A connection attaches with a last_seen older than the history keeps: the next generation, with a gap reported."""
        self._step(Event.ATTACH_GAP, data)

    @precondition(lambda self: self.h.enabled(Event.APP_SEND))
    @rule(data=st.data())
    def app_send(self, data: Any) -> None:
        """local: The application sends a message to the session (send, try_send, broadcast)."""
        self._step(Event.APP_SEND, data)

    @precondition(lambda self: self.h.enabled(Event.APP_CLOSE))
    @rule(data=st.data())
    def app_close(self, data: Any) -> None:
        """local: The application ends the session (session.close())."""
        self._step(Event.APP_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.PAGE_CLOSE))
    @rule(data=st.data())
    def page_close(self, data: Any) -> None:
        """remote: The page's close beacon arrived (Sessions.page_close), for the current generation or naming none."""
        self._step(Event.PAGE_CLOSE, data)

    @precondition(lambda self: self.h.enabled(Event.PAGE_CLOSE_STALE))
    @rule(data=st.data())
    def page_close_stale(self, data: Any) -> None:
        """remote: A close beacon naming another generation than the current arrived (an older page's, or one of an earlier session under the same id): that page is gone, another holds the session."""
        self._step(Event.PAGE_CLOSE_STALE, data)

    @precondition(lambda self: self.h.enabled(Event.DETACH))
    @rule(data=st.data())
    def detach(self, data: Any) -> None:
        """transport: The current generation's connection closed (its closed notification)."""
        self._step(Event.DETACH, data)

    @precondition(lambda self: self.h.enabled(Event.DETACH_STALE))
    @rule(data=st.data())
    def detach_stale(self, data: Any) -> None:
        """transport: An older generation's connection closed, after a newer one attached."""
        self._step(Event.DETACH_STALE, data)

    @precondition(lambda self: self.h.enabled(Event.GRACE_TIMEOUT))
    @rule(data=st.data())
    def grace_timeout(self, data: Any) -> None:
        """timer: The grace timer ran out: the page did not come back in time."""
        self._step(Event.GRACE_TIMEOUT, data)


for _role in ROLES:
    _cls: type[SessionMachine] = type(
        class_name(_role), (SessionMachine,), {"role": _role, "__doc__": role_doc(_role)}
    )
    _cls.TestCase.settings = role_settings(_role, PROFILE)
    globals()[f"Test{_cls.__name__}"] = _cls.TestCase


@pytest.mark.parametrize("role", ROLES)
def test_every_drivable_pair(role: Role) -> None:
    """Deterministic tour: each drivable pair once, checked as in the rules."""
    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"
    failures = asyncio.run(run_tour(role))
    assert not failures, "\n".join(failures)
