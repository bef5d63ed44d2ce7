"""The mutation check: the generated stateful suite catches every seeded runtime bug.

Each mutant in ``wsstate.testing.mutants`` breaks the runtime in one way seen in
the field. Under each, the generated stateful suite (its deterministic tour of
every drivable pair, then its Hypothesis state machine on the ci budget without
shrinking) must fail, on each role of ``MUTATION_ROLES`` (websockets, aiohttp
and tornado, server and client) where it is a bug (``NOT_A_BUG_ON`` says where
not, and why); without a mutant it must pass on each.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from support.coverage import uncounted

from wsstate.machines.connection import Event
from wsstate.testing.mutants import MUTANTS, NOT_A_BUG_ON, TIMER_MUTANTS
from wsstate.testing.stateful import (
    Role,
    class_name,
    open_site,
    run_tour,
    run_tour_pair,
    tour,
)

GENERATED = Path(__file__).parent / "generated" / "test_connection_stateful.py"


@pytest.fixture(autouse=True)
def _not_counted() -> Iterator[None]:
    """The runs here drive mutants (and the control, which tests/generated counts):
    what a mutant's run takes is not the runtime's coverage."""
    with uncounted():
        yield


def _generated() -> ModuleType:
    name = "wsstate_generated_stateful_for_mutations"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, GENERATED)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


BUDGET = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: finding is what counts
    report_multiple_bugs=False,
)


def _run_suite(role: Role) -> str | None:
    """Run the generated suite; return how it failed, or None if it passed."""
    failures = asyncio.run(run_tour(role, stop_at_first_failure=True))
    if failures:
        return f"tour: {failures[0]}"
    module = _generated()
    # The generated module exports only each role's TestCase: build the role's machine.
    machine = type(class_name(role), (module.ConnectionMachine,), {"role": role})
    try:
        run_state_machine_as_test(machine, settings=BUDGET)
    except Exception as exc:
        return f"hypothesis: {exc!r}"
    return None


#: The roles the check runs on: websockets' both sides, aiohttp's and tornado's.
MUTATION_ROLES: tuple[Role, ...] = (
    "server",
    "client",
    "aiohttp-server",
    "aiohttp-client",
    "tornado-server",
    "tornado-client",
)


#: Each mutant on each role, but where it is no bug (``NOT_A_BUG_ON``, with why).
CASES: list[tuple[str, Role]] = [
    (mutant, role)
    for role in MUTATION_ROLES
    for mutant in sorted(MUTANTS)
    if role not in NOT_A_BUG_ON.get(mutant, {})
]


@pytest.mark.parametrize(("mutant", "role"), CASES)
def test_stateful_suite_catches(mutant: str, role: Role) -> None:
    with MUTANTS[mutant]():
        finding = _run_suite(role)
    assert finding is not None, f"the stateful suite did not catch: {mutant} ({role})"


@pytest.mark.parametrize("role", MUTATION_ROLES)
def test_unmutated_runtime_passes(role: Role) -> None:
    """The control: without a mutant the same run passes, so each failure is its mutant's."""
    assert _run_suite(role) is None


_TIMER_EVENTS = {Event.CLOSE_TIMEOUT, Event.KEEPALIVE_TIMEOUT, Event.OPEN_TIMEOUT}


async def _tour_without_timers(role: Role) -> list[str]:
    """The tour's pairs whose event is not a timer's, through one site; the failures."""
    failures: list[str] = []
    site = open_site(role)
    await site.open()
    try:
        for state, event, path in tour(role):
            if event in _TIMER_EVENTS:
                continue
            try:
                await run_tour_pair(role, state, event, path, site)
            except AssertionError as exc:
                failures.append(f"{state}/{event}: {exc}")
    finally:
        await site.close()
    return failures


@pytest.mark.parametrize("mutant", sorted(TIMER_MUTANTS))
def test_timer_mutant_needs_a_timer_path(mutant: str) -> None:
    """A timer mutant is invisible to every pair but the timers' (so the timer rules catch it)."""
    with MUTANTS[mutant]():
        assert asyncio.run(_tour_without_timers("server")) == []
        assert asyncio.run(run_tour("server", stop_at_first_failure=True))
