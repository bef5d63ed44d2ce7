"""pytest plugin (enabled in pyproject.toml): prints the stateful tests' transition coverage."""

from __future__ import annotations

from typing import Any

from .client_stateful import coverage_report as client_coverage_report
from .session_stateful import coverage_report as session_coverage_report
from .stateful import coverage_report

__all__ = ["pytest_terminal_summary"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """After the run: ``transition coverage: covered/drivable`` and every pair not driven, why."""
    report = "\n".join(
        r for r in (coverage_report(), session_coverage_report(), client_coverage_report()) if r
    )
    if report:
        terminalreporter.section("wsstate transition coverage")
        for line in report.splitlines():
            terminalreporter.write_line(line)
