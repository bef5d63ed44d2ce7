"""The wsstate pytest plugin: fuzz an endpoint from a test, and the stateful tests' coverage.

An installed wsstate registers this module with pytest (the ``pytest11`` entry
point ``wsstate.testing.pytest_plugin``), so any project's tests can use::

    def test_my_endpoint(wsstate_fuzz):
        wsstate_fuzz(app, path="/ws")          # or a ws:// URL, or a websockets handler

The ``wsstate_fuzz`` fixture is :func:`wsstate.testing.fuzz` with the command
line's ``--wsstate-seed``, ``--wsstate-examples`` and ``--wsstate-steps`` as
defaults; a failure's replay line is the pytest command that runs the same test
with the same seed. A test may also carry the marker
``@pytest.mark.wsstate_fuzz(target, **options)`` and no body of its own: the
plugin fuzzes ``target`` with those options.

After a run that drove this project's generated stateful tests, the terminal
summary shows their transition coverage (``covered/drivable`` per machine and
every pair not driven). Disable the plugin with ``-p no:wsstate.testing.pytest_plugin``.

Nothing here imports Hypothesis until a test fuzzes: a project without the
``testing`` extra is not affected by the plugin.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .endpoint import FuzzReport

__all__ = [
    "pytest_addoption",
    "pytest_configure",
    "pytest_terminal_summary",
    "wsstate_fuzz",
]

#: What the ``wsstate_fuzz`` fixture returns: :func:`wsstate.testing.fuzz`, with defaults.
Fuzzer = Callable[..., "FuzzReport"]


def _at_least_one(text: str) -> int:
    """``--wsstate-examples``, ``--wsstate-steps``: a whole number, at least 1 (0 runs nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (0 would run nothing), got {value}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--wsstate-seed``, ``--wsstate-examples``, ``--wsstate-steps``."""
    group = parser.getgroup("wsstate", "wsstate endpoint fuzzing")
    group.addoption(
        "--wsstate-seed",
        type=int,
        default=None,
        help="seed of every wsstate_fuzz run (default: a random one, printed on failure)",
    )
    group.addoption(
        "--wsstate-examples",
        type=_at_least_one,
        default=None,
        help="programs per wsstate_fuzz run (default: the test's, else 20)",
    )
    group.addoption(
        "--wsstate-steps",
        type=_at_least_one,
        default=None,
        help="most client events per program (default: the test's, else 12)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``wsstate_fuzz`` marker."""
    config.addinivalue_line(
        "markers",
        "wsstate_fuzz(target, **options): fuzz target's WebSocket endpoint "
        "(wsstate.testing.fuzz) as this test",
    )


def _replay(item: pytest.Item, seed: int) -> str:
    command = f"python -m pytest {shlex.quote(item.nodeid)} --wsstate-seed {seed}"
    for option in ("examples", "steps"):
        value = item.config.getoption(f"--wsstate-{option}")
        if value is not None:
            command += f" --wsstate-{option} {value}"
    return command


def _fuzzer(item: pytest.Item) -> Fuzzer:
    from .endpoint import fuzz

    config = item.config

    def run(target: object, **options: Any) -> FuzzReport:
        seed = config.getoption("--wsstate-seed")
        if seed is not None:
            options["seed"] = seed
        for option in ("examples", "steps"):
            value = config.getoption(f"--wsstate-{option}")
            if value is not None:
                options[option] = value
        options.setdefault("replay", lambda s: _replay(item, s))
        return fuzz(target, **options)

    return run


@pytest.fixture
def wsstate_fuzz(request: pytest.FixtureRequest) -> Fuzzer:
    """:func:`wsstate.testing.fuzz`, with the command line's seed and sizes and pytest's replay."""
    return _fuzzer(request.node)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked ``wsstate_fuzz(target, **options)`` fuzzes target, then runs its body."""
    marker = pyfuncitem.get_closest_marker("wsstate_fuzz")
    if marker is None:
        return None
    if len(marker.args) != 1:
        raise pytest.UsageError(
            f"{pyfuncitem.nodeid}: @pytest.mark.wsstate_fuzz takes one target "
            f"(a ws:// URL, an ASGI app, a websockets handler or 'module:attribute'), "
            f"got {len(marker.args)} positional arguments"
        )
    _fuzzer(pyfuncitem)(marker.args[0], **marker.kwargs)
    return None  # the test's own body runs next (it may check more)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """After the run: ``transition coverage: covered/drivable`` and every pair not driven, why."""
    reports = []
    # Only the harnesses a test imported can have covered anything (and importing one
    # needs the testing extra, which a project using the plugin may not have).
    for name in (
        "wsstate.testing.stateful",
        "wsstate.testing.session_stateful",
        "wsstate.testing.client_stateful",
        "wsstate.testing.link_stateful",
    ):
        module = sys.modules.get(name)
        if module is not None:
            reports.append(module.coverage_report())
    report = "\n".join(r for r in reports if r)
    if report:
        terminalreporter.section("wsstate transition coverage")
        for line in report.splitlines():
            terminalreporter.write_line(line)
