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

Several processes (pytest-xdist)
--------------------------------
``make pytest`` runs the suite on several workers (``-n 2``; docs/testing.md). Two
things keep that run's checks and report those of one process:

* tests sharing a module- or session-scoped fixture of this suite (a docs build,
  a wheel, SPIN's runs) go to one worker (:func:`pytest_xdist_make_scheduler`):
  built once, and never by two workers at once in the same place;
* the stateful harnesses count what they cover in module globals, which
  ``wsstate.testing.pytest_plugin`` prints at the end: each worker sends its
  counts to the controller, which adds them up before the plugin prints them
  (:func:`pytest_sessionfinish`, :func:`pytest_testnodedown`).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.coverage import HARNESSES
from support.harness import ROLES, Harness, Recorder, Role

from wsstate.testing.redis_server import INSTALL_HINT, RedisServer

__all__ = [
    "h",
    "pytest_collection_modifyitems",
    "pytest_configure_node",
    "pytest_pyfunc_call",
    "pytest_sessionfinish",
    "pytest_testnodedown",
    "pytest_unconfigure",
    "pytest_xdist_make_scheduler",
    "redis",
    "role",
]


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


# -- several processes (module docstring) ------------------------------------------------

#: What each stateful harness counts in its process: the pairs it saw the runtime take
#: and its examples and steps (what ``coverage_report()`` prints, in wsstate.testing).
COVERAGE_STATE = {name: ("_SEEN", "STATS") for name in HARNESSES}
_WORKEROUTPUT_KEY = "wsstate_coverage"
_MERGED = pytest.StashKey[set[str]]()


_GROUPS = "wsstate_groups"  # workerinput key: where a worker writes the groups it found
_GROUPS_DIR = pytest.StashKey[Path]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: write which tests share a module- or session-scoped fixture.

    Tests are linked when they share such a fixture of this suite; each linked set is
    one group, run on one worker (:func:`pytest_xdist_make_scheduler`). xdist's own
    ``--dist loadgroup`` reads marks through the test ids, which pytest 9.2 no longer
    lets it change (pytest-xdist issue 1386), so the groups travel in a file.
    """
    path = getattr(config, "workerinput", {}).get(_GROUPS)
    if path is None:  # not a worker of this suite's scheduler
        return
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    shared: dict[str, str] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        keys = [
            f"{d.baseid}::{d.argname}"
            for defs in (info.name2fixturedefs.values() if info is not None else ())
            for d in defs[-1:]
            if d.scope != "function" and d.baseid.startswith("tests")
        ]
        if keys:
            shared[item.nodeid] = keys[0]
            for key in keys[1:]:
                parent[find(key)] = find(keys[0])
    groups = {nodeid: find(key) for nodeid, key in shared.items()}
    worker = config.workerinput["workerid"]  # type: ignore[attr-defined]
    written = Path(f"{path}.{worker}.tmp")
    written.write_text(json.dumps(groups), encoding="utf-8")
    written.replace(f"{path}.{worker}")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the xdist controller: tell each worker where to write its groups."""
    config = node.config
    if _GROUPS_DIR not in config.stash:
        config.stash[_GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="wsstate-xdist-"))
    node.workerinput[_GROUPS] = str(config.stash[_GROUPS_DIR] / "groups.json")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GROUPS_DIR in config.stash:
        shutil.rmtree(config.stash[_GROUPS_DIR], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` (``--dist load`` or ``loadgroup``): xdist's load balancing, groups kept whole.

    Each test is a unit of work on its own, except the tests that share a module-
    or session-scoped fixture (as a worker found them: :func:`pytest_collection_modifyitems`),
    which are one unit: the fixture is built once, and never by two workers at once
    in the same place (the docs build in ``docs/_build``). Larger units start first.
    """
    if config.getoption("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class SharedFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                # Every worker collected the same tests (xdist checks), so any file does.
                found = sorted(config.stash[_GROUPS_DIR].glob("groups.json.gw*[0-9]"))
                assert found, "no worker wrote the groups of tests sharing a fixture"
                self.groups = json.loads(found[0].read_text(encoding="utf-8"))
            return self.groups.get(nodeid, nodeid)

    return SharedFixtureScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the stateful harnesses' counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is None:  # not a worker
        return
    state = {
        name: {attr: getattr(sys.modules[name], attr) for attr in attrs}
        for name, attrs in COVERAGE_STATE.items()
        if name in sys.modules
    }
    workeroutput[_WORKEROUTPUT_KEY] = pickle.dumps(state)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add a finished worker's counts to this process's."""
    output = getattr(node, "workeroutput", None) or {}
    if _WORKEROUTPUT_KEY not in output:
        return
    merged = node.config.stash.setdefault(_MERGED, set())
    if node.gateway.id in merged:  # a worker's counts are added once
        return
    merged.add(node.gateway.id)
    state: dict[str, dict[str, object]] = pickle.loads(output[_WORKEROUTPUT_KEY])
    for name, attrs in state.items():
        module = importlib.import_module(name)
        for attr, value in attrs.items():
            _merge(getattr(module, attr), value)


def _merge(into: object, more: object) -> None:
    """Add ``more`` to ``into`` in place: sets are united, counts added, dicts merged."""
    if isinstance(into, set) and isinstance(more, set):
        into |= more
    elif isinstance(into, dict) and isinstance(more, dict):
        for key, value in more.items():
            if key not in into:
                into[key] = value
            elif isinstance(value, int) and isinstance(into[key], int):
                into[key] += value
            else:
                _merge(into[key], value)
    else:
        raise TypeError(f"cannot add a {type(more).__name__} to a {type(into).__name__}")


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


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A real redis-server on an ephemeral port, stopped after the test; a failure,
    not a skip, when redis-server is not installed (CI installs it)."""
    if shutil.which("redis-server") is None:
        pytest.fail(INSTALL_HINT)
    with RedisServer() as server:
        yield server
