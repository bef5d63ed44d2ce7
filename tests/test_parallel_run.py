"""``make pytest`` runs the suite on several xdist workers: its checks and report are one process's.

tests/conftest.py carries the stateful harnesses' coverage counts from each worker
to the controller, where ``wsstate.testing.pytest_plugin`` prints them, and
tests/scenarios/conftest.py prints the catalogue's not-applicable rows from the
reports (only the workers collect). Here the same tests run in one process and
then on two workers that each run all of them (``--dist each``): the coverage
section must show the same pairs, with twice the examples and steps.

tests/conftest.py also keeps the tests that share a module-scoped fixture on one
worker: with ``-n 2`` such a fixture is built once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A deterministic tour (the same pairs, examples and steps every run: 2 s), the catalogue.
TESTS = (
    "tests/generated/test_session_stateful.py::test_every_drivable_pair",
    "tests/scenarios/test_catalogue.py",
)
COVERAGE = "wsstate transition coverage"
CATALOGUE = "scenario catalogue: rows not applicable, per transport"
COUNTS = re.compile(r"\((\d+) examples, (\d+) steps\)")


def _pytest(*args: str, cwd: Path = ROOT, **env: str) -> str:
    # Not this run's xdist settings, if it is a worker's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | env
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
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
    one = _pytest(*TESTS)
    two = _pytest("-n", "2", "--dist", "each", *TESTS)
    coverage = _section(one, COVERAGE)
    assert len([line for line in coverage if COUNTS.search(line)]) == 1, one
    doubled = [
        COUNTS.sub(lambda m: f"({2 * int(m[1])} examples, {2 * int(m[2])} steps)", line)
        for line in coverage
    ]
    assert _section(two, COVERAGE) == doubled, two
    assert _section(one, CATALOGUE), one
    assert _section(two, CATALOGUE) == _section(one, CATALOGUE), two


SHARED = """
import os
import pytest


@pytest.fixture(scope="module")
def built():
    with open(os.environ["BUILDS"], "a") as log:
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("i", range(6))
def test_shares(built, i):
    pass


@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    pass
"""


def test_tests_sharing_a_module_fixture_run_on_one_worker(tmp_path: Path) -> None:
    # Under a "tests" folder, as this suite's fixtures are; tests/conftest.py as a plugin.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_shared.py").write_text(SHARED, encoding="utf-8")
    builds = tmp_path / "builds.log"
    out = _pytest(
        "-p",
        "conftest",
        "-n",
        "2",
        "--rootdir",
        str(tmp_path),
        "tests/test_shared.py",
        cwd=tmp_path,
        PYTHONPATH=str(ROOT / "tests"),
        BUILDS=str(builds),
    )
    assert "12 passed" in out, out
    assert len(builds.read_text(encoding="utf-8").split()) == 1, out
