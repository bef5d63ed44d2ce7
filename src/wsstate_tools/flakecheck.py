"""``make flake-check``: the generated stateful tests, many times, on every Python.

Runs the generated stateful tests ``--runs`` times in each venv given (one per
Python), each run a fresh pytest process with a fresh Hypothesis seed and the
``seeded`` profile (the ci profile without the example database: the seed alone
decides what a run does). Prints a line per run and a summary per Python. A
failing run is printed with the failing test, the harness's steps (the model's
and the runtime's), Hypothesis' falsifying example, and the command that replays
it: the same test, the same seed; the harness runs the connection's timers on a
clock it controls, so a replay takes the same steps (issue 20).

Usage: ``python -m wsstate_tools.flakecheck --runs 20 --venv .venv --venv
.venv-3.12 [tests ...]``. Exit status 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["Run", "main", "run_once"]

DEFAULT_TESTS: Final = ("tests/generated",)  # every machine with a harness
PROFILE: Final = "seeded"
#: A run that takes longer than this is killed and counted as a failure.
RUN_LIMIT: Final = 1800.0

_FAILED: Final = re.compile(r"^FAILED (\S+)", re.MULTILINE)
#: pytest's ``E`` lines: the assertion (with the harness's steps) and Hypothesis'
#: failing case (``state = ServerSide()``, ``state.app_close(...)``, draws, blob).
_ERROR_LINES: Final = re.compile(r"^E {3,}(\S.*)$", re.MULTILINE)


@dataclass
class Run:
    """One pytest run of the stateful tests."""

    python: str
    seed: int
    seconds: float
    returncode: int
    output: str = field(repr=False)
    #: pytest's options of the run besides the tests (``-p plugin``...), for the replay.
    options: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """True if pytest did not pass (a failure, an error, a timeout)."""
        return self.returncode != 0

    def failing_tests(self) -> list[str]:
        """The node ids pytest reported as failed."""
        return _FAILED.findall(self.output)

    def replay(self, venv: str, test: str) -> str:
        """The command that replays ``test`` of this run."""
        options = "".join(f" {shlex.quote(o)}" for o in self.options)
        return (
            f"WSSTATE_HYPOTHESIS_PROFILE={PROFILE} {venv}/bin/python -m pytest -p no:cacheprovider"
            f"{options} {shlex.quote(test)} --hypothesis-seed={self.seed}"
        )

    def report(self, venv: str) -> str:
        """What a failure shows: the tests, the steps, the falsifying example, replays."""
        lines = [f"  FAILED run: Python {self.python}, seed {self.seed}"]
        tests = self.failing_tests() or ["(no test named: see the output's tail below)"]
        for test in tests:
            lines.append(f"    test: {test}")
        errors = list(dict.fromkeys(m.strip() for m in _ERROR_LINES.findall(self.output)))
        lines.extend(f"    {line}" for line in errors[:60])
        for test in self.failing_tests():
            lines.append(f"    replay: {self.replay(venv, test)}")
        if not self.failing_tests():
            lines.extend(f"    | {line}" for line in self.output.splitlines()[-30:])
        return "\n".join(lines)


def python_version(venv: str) -> str:
    """``3.12.1`` for the venv's interpreter."""
    out = subprocess.run(
        [f"{venv}/bin/python", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run_once(venv: str, python: str, tests: list[str], seed: int) -> Run:
    """One pytest run of ``tests`` in ``venv`` with Hypothesis seed ``seed``.

    ``tests`` may carry pytest options too (after ``--`` on the command line).
    """
    env = {**os.environ, "WSSTATE_HYPOTHESIS_PROFILE": PROFILE}
    command = [
        f"{venv}/bin/python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-seed={seed}",
        *tests,
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=RUN_LIMIT, check=False
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        partial = exc.stdout or b""
        text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        output = f"timed out after {RUN_LIMIT:.0f} s\n{text}"
    options = tuple(a for a in tests if not Path(a.split("::")[0]).exists())
    return Run(python, seed, time.monotonic() - started, code, output, options)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module doc."""
    parser = argparse.ArgumentParser(prog="python -m wsstate_tools.flakecheck")
    parser.add_argument("--runs", type=int, default=10, help="runs per Python (default: 10)")
    parser.add_argument(
        "--venv", action="append", required=True, help="a venv to run in (repeat: one per Python)"
    )
    parser.add_argument("--seed", type=int, help="first seed (default: random); then +1 per run")
    parser.add_argument("tests", nargs="*", default=list(DEFAULT_TESTS))
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    tests = list(args.tests) or list(DEFAULT_TESTS)
    seeds = random.SystemRandom()
    summary: list[str] = []
    reports: list[str] = []
    for venv in args.venv:
        if not Path(venv, "bin", "python").exists():
            parser.error(f"no venv at {venv}")
        python = python_version(venv)
        failures = 0
        seconds = 0.0
        for n in range(1, args.runs + 1):
            seed = args.seed + n - 1 if args.seed is not None else seeds.randrange(2**32)
            run = run_once(venv, python, tests, seed)
            seconds += run.seconds
            verdict = "FAILED" if run.failed else "ok"
            print(
                f"flake-check: Python {python} run {n}/{args.runs} seed {seed}: "
                f"{verdict} ({run.seconds:.0f} s)",
                flush=True,
            )
            if run.failed:
                failures += 1
                report = run.report(venv)
                reports.append(report)
                print(report, flush=True)
        summary.append(
            f"Python {python} ({venv}): {failures} failed of {args.runs} runs "
            f"({seconds / args.runs:.0f} s a run)"
        )
    print("flake-check summary:")
    for line in summary:
        print(f"  {line}")
    if reports:
        print("failures (each replays with its command):")
        print("\n".join(reports))
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
