"""The failure catalogue (docs/scenarios.md), and which rows each transport runs.

A scenario test (tests/scenarios) carries ``@pytest.mark.scenario(row, ...)``;
``@pytest.mark.transports(selector, ...)`` restricts it to the transports a
selector names (an id, a family or a role; :meth:`Transport.matches`). A test
runs on every transport it is not restricted from, except where one of its rows
is in the transport's :attr:`~support.transports.Transport.not_applicable`
table. :func:`coverage` reads that from the test modules themselves, so it does
not depend on which tests a run selected; :func:`problems` lists every
(transport, row) with neither a test nor a reason, and every test that runs
nowhere.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.transports import NOT_BUILT_YET, TRANSPORTS, Transport

#: The triggers of docs/scenarios.md, by row.
ROWS: dict[int, str] = {
    1: "peer closes cleanly (1000/1001) while idle",
    2: "peer resets TCP (RST), no Close frame",
    3: "send right after an abrupt disconnect, before the reader noticed",
    4: "further sends after 3",
    5: "close() in the error handler after 3 (Solara #1013)",
    6: "background send after a clean peer close already processed",
    7: "close() after the peer closed",
    8: "close() twice, sequentially and from two tasks at once",
    9: "receive after disconnect",
    10: "many tasks sending while another closes",
    11: "sends from other threads and from the loop thread at once",
    12: "a late send from another thread after the connection's loop stopped",
    13: "fire-and-forget send fails",
    14: "peer disconnects during the opening handshake",
    15: "teardown close() in finally after the peer left",
    16: "half-open: peer vanishes without FIN/RST",
    17: "slow reader",
    18: "server shutdown with open connections",
    19: "client reconnects while the old connection is still closing",
    20: "explicit page close racing the socket disconnect",
    21: "reload storm: 50 connect/close cycles a second",
    22: "a user's on-close hook raises",
    23: "broadcast while connections join and leave",
    24: "API misuse: send before accept, wrong payload type",
    25: "reserved or invalid close code, reason too long or not UTF-8",
    26: "compression on, many concurrent large sends, abort mid-frame",
    27: "proxy idle timeout cuts the upstream",
    28: "gateway quirks: text None with bytes; empty binary frames",
    29: "server accepts the handshake, then closes at once",
    30: "server restart with a fleet of clients connected",
    31: "429 or 503 with Retry-After, close 1013",
    32: "fatal refusal: 400/401/403/404, close 1008 or 4000-4999",
    33: "close() while waiting to reconnect; two disconnect events",
    34: "messages sent while disconnected",
    35: "a page resumes after a short network drop",
    36: "broadcast while one member stopped reading",
    37: "the event loop stops while connections are OPEN",
    38: "several workers broadcast through a broker that restarts",
}

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def marks_of(function: Callable[..., Any]) -> list[pytest.Mark]:
    """The marks a test function carries (its own and its module's)."""
    module = inspect.getmodule(function)
    own = list(getattr(function, "pytestmark", []))
    shared = getattr(module, "pytestmark", [])
    return own + (list(shared) if isinstance(shared, list) else [shared])


def rows_of(marks: Iterable[pytest.Mark]) -> tuple[int, ...]:
    """The catalogue rows the ``scenario`` marks name."""
    return tuple(row for mark in marks if mark.name == "scenario" for row in mark.args)


def runs_on(marks: Iterable[pytest.Mark]) -> list[Transport]:
    """The transports a test with these marks runs on (module doc)."""
    marks = list(marks)
    rows = rows_of(marks)
    selectors = [s for mark in marks if mark.name == "transports" for s in mark.args]
    return [
        t
        for t in TRANSPORTS
        if (not selectors or any(t.matches(s) for s in selectors))
        and not any(row in t.not_applicable for row in rows)
    ]


@dataclass
class Coverage:
    """Which tests run which row on which transport; what is wrong with that."""

    #: (transport id, row) -> the tests that run it there.
    tests: dict[tuple[str, int], list[str]]
    #: Tests in tests/scenarios without a ``scenario`` mark, or that run nowhere.
    strays: list[str]

    def problems(self) -> list[str]:
        """Every (transport, row) with neither a test nor a reason, and every stray."""
        missing = [
            f"{t.id}: row {row} ({ROWS[row]}) has neither a test nor a reason"
            for t in TRANSPORTS
            for row in ROWS
            if not self.tests.get((t.id, row)) and row not in t.not_applicable
        ]
        return missing + self.strays

    def rows_run(self, transport: Transport) -> list[int]:
        """The rows some test runs on ``transport``."""
        return [row for row in ROWS if self.tests.get((transport.id, row))]


def scenario_tests() -> list[tuple[str, Callable[..., Any]]]:
    """Every test function of tests/scenarios, as (``file::name``, function)."""
    found: list[tuple[str, Callable[..., Any]]] = []
    for path in sorted(SCENARIOS.glob("test_*.py")):
        module = importlib.import_module(f"scenarios.{path.stem}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and function.__module__ == module.__name__:
                found.append((f"{path.name}::{name}", function))
    return found


def coverage() -> Coverage:
    """Read the marks of every scenario test (module doc)."""
    tests: dict[tuple[str, int], list[str]] = {}
    strays = []
    for name, function in scenario_tests():
        marks = marks_of(function)
        if "transport" not in inspect.signature(function).parameters:
            continue  # not a scenario: the catalogue's own check
        rows = rows_of(marks)
        unknown = [row for row in rows if row not in ROWS]
        transports = runs_on(marks)
        if not rows or unknown:
            strays.append(f"{name}: no catalogue row (or unknown rows {unknown})")
        elif not transports:
            strays.append(f"{name}: runs on no transport")
        for t in transports:
            for row in rows:
                tests.setdefault((t.id, row), []).append(name)
    return Coverage(tests, strays)


def not_applicable_report() -> list[str]:
    """The lines the suite prints: the rows no transport runs yet, then per transport the
    rows it runs and those that do not apply to it, why."""
    cov = coverage()
    lines = ["not applicable yet, on every transport:"]
    for reason in dict.fromkeys(NOT_BUILT_YET.values()):
        rows = [row for row, r in NOT_BUILT_YET.items() if r == reason]
        why = reason.removeprefix("not applicable yet: ")
        label = "rows" if len(rows) > 1 else "row"
        lines.append(f"  {label} {', '.join(map(str, rows))}: {why}")
    for t in TRANSPORTS:
        run = cov.rows_run(t)
        own = sorted(set(t.not_applicable) - set(NOT_BUILT_YET))
        lines.append(f"{t.id} ({t.description}): {len(run)} of {len(ROWS)} rows run")
        for row in own:
            lines.append(f"  not applicable: {row} {ROWS[row]}: {t.not_applicable[row]}")
    problems = cov.problems()
    if problems:
        lines.append("ROWS WITH NEITHER A TEST NOR A REASON (test_catalogue.py fails):")
        lines += [f"  {p}" for p in problems]
    return lines
