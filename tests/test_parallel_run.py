"""``make pytest`` runs the suite on several xdist workers: its report is one process's.

tests/conftest.py carries the stateful harnesses' coverage counts from each worker
to the controller, where ``wsstate.testing.pytest_plugin`` prints them, and
tests/scenarios/conftest.py prints the catalogue's not-applicable rows from the
reports (only the workers collect). Here the same tests run in one process and
then on two workers that each run all of them (``--dist each``): the coverage
section must show the same pairs, with twice the examples and steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Deterministic tours (the same pairs, examples and steps every run), a few seconds each.
TESTS = (
    "tests/generated/test_session_stateful.py::test_every_drivable_pair",
    "tests/generated/test_client_stateful.py::test_every_drivable_pair",
    "tests/scenarios/test_catalogue.py",
)
COVERAGE = "wsstate transition coverage"
CATALOGUE = "scenario catalogue: rows not applicable, per transport"
COUNTS = re.compile(r"\((\d+) examples, (\d+) steps\)")


def _pytest(*options: str) -> str:
    # Not this run's xdist settings, if it is a worker's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _section(output: str, title: str) -> list[str]:
    """The lines of the terminal summary's section ``title`` (empty if there is none)."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(rf"=+ {re.escape(title)} =+", line)]
    if not starts:
        return []
    section = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("=====") or re.match(r"\d+ passed", line):  # -q: no === around
            break
        section.append(line)
    return section


def test_two_workers_report_what_one_process_reports() -> None:
    one = _pytest()
    two = _pytest("-n", "2", "--dist", "each")
    coverage = _section(one, COVERAGE)
    assert len([line for line in coverage if COUNTS.search(line)]) == 2, one
    doubled = [
        COUNTS.sub(lambda m: f"({2 * int(m[1])} examples, {2 * int(m[2])} steps)", line)
        for line in coverage
    ]
    assert _section(two, COVERAGE) == doubled, two
    assert _section(one, CATALOGUE), one
    assert _section(two, CATALOGUE) == _section(one, CATALOGUE), two
