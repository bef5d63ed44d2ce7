"""Fixtures of every runtime test; the helpers themselves live in ``tests/support``.

Async tests
-----------
A test written as ``async def`` runs in a fresh event loop (:func:`asyncio.run`),
through :meth:`~support.harness.Harness.run` when it requests the ``h``
fixture. There is no async plugin: :func:`pytest_pyfunc_call` below is the whole
mechanism, and it leaves synchronous tests alone.

Fixtures
--------
``h``: the scenario harness (:class:`support.harness.Harness`: real endpoints,
and the checks every test must pass after its teardown). ``role``: the side a
websockets pair guards, ``"server"`` or ``"client"``.

Tests import their helpers from the ``support`` package (``pythonpath`` in
pyproject.toml), never from this module.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator

import pytest
from support.harness import ROLES, Harness, Recorder, Role

__all__ = ["h", "pytest_pyfunc_call", "role"]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh loop, under :meth:`Harness.run` if they use ``h``."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = inspect.signature(function).parameters
    coro = function(**{name: pyfuncitem.funcargs[name] for name in names})
    harness = pyfuncitem.funcargs.get("h")
    asyncio.run(harness.run(coro) if isinstance(harness, Harness) else coro)
    return True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """End loudly when the SPIN second opinion did not run (spin or gcc missing).

    Its tests skip outside CI (CI installs spin and fails without it): a run that
    skipped them must not look like one that passed them.
    """
    yield  # after every other summary (the -ra lines included): the run's last lines
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "apt-get install spin" in str(report.longrepr)
        or "spin or gcc is not installed" in str(report.longrepr)
    ]
    if not skipped:
        return
    line = (
        f"SPIN CHECK DID NOT RUN: {len(skipped)} test(s) skipped because spin or gcc is not "
        "installed. Install them (apt-get install spin gcc) and run again; CI installs them."
    )
    terminalreporter.write_sep("!", "SPIN CHECK DID NOT RUN", red=True, bold=True)
    terminalreporter.write_line(line, red=True, bold=True)


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> Role:
    """The side wsstate guards: ``"server"`` or ``"client"``."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def h() -> Iterator[Harness]:
    """The scenario harness (:mod:`support.harness`)."""
    recorder = Recorder()
    root, ws_logger = logging.getLogger(), logging.getLogger("websockets")
    saved = root.level, ws_logger.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    # websockets' DEBUG is a trace of every frame: costly and irrelevant here.
    ws_logger.setLevel(logging.INFO)
    try:
        yield Harness(recorder)
    finally:
        root.removeHandler(recorder)
        root.setLevel(saved[0])
        ws_logger.setLevel(saved[1])
