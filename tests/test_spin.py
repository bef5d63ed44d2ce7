"""SPIN checks the Promela model and agrees with the Python checker.

For the shipped spec and every mutant in ``tests/fixtures/mutants``, the
Promela model of the composition (:func:`wsstate_tools.generate.promela.render`)
is compiled with ``spin -a`` and ``gcc`` and verified twice: ``./pan -a -N
safety -c0`` (the assertions and invariants, every error reported rather than
the first) and ``./pan -a -N termination`` (the LTL claim). SPIN must find no
error in the shipped spec, and for each mutant exactly the properties the
Python checker reports (usually one; ``keepalive_not_cancelled`` breaks two):
an assertion on ``v_<property>``, or an acceptance cycle of the termination
claim.

The Promela model of a machine alone (the well-formedness checks,
:func:`~wsstate_tools.generate.promela.render_machine`) is checked here for the
connection, and in ``tests/test_pipeline.py`` for the door and its mutants.

Every search's size is bounded (:data:`MAX_STORED` states stored,
:data:`MAX_DEPTH` steps deep): what a state-space blow-up (a variable the
model forgets to reset, a bound raised by mistake) breaks, whatever the
machine's speed. The seconds each model took are printed, not asserted.

SPIN is installed in CI (``.ci/run``); there a missing ``spin`` fails the test.
Elsewhere the test is skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from wsstate_tools.generate.promela import render, render_machine
from wsstate_tools.paths import SPEC_DIR
from wsstate_tools.verify import PROPERTIES, check, check_machine, load_spec

ROOT = Path(__file__).resolve().parents[1]
MUTANTS_DIR = Path(__file__).parent / "fixtures" / "mutants"
MODELS = {"shipped": ROOT / SPEC_DIR / "connection.toml"} | {
    p.stem: p for p in sorted(MUTANTS_DIR.glob("*.toml"))
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: States one pan search may store: about 1.7 times the largest search of the
#: shipped model (238,675 states stored, its termination search, default bounds,
#: November 2026). pan's counts do not depend on the machine; two sends per peer
#: instead of one store 622,656 and 937,475 (the check fails on that model).
MAX_STORED = 400_000
#: Depth one pan search may reach (67 and 60 for the shipped model).
MAX_DEPTH = 100


def _tools() -> tuple[str, str]:
    spin, gcc = shutil.which("spin"), shutil.which("gcc") or shutil.which("cc")
    if spin and gcc:
        return spin, gcc
    missing = "spin" if not spin else "gcc"
    if IN_CI:
        pytest.fail(f"{missing} is not installed: CI must install it (.ci/run)")
    pytest.skip(f"{missing} is not installed (apt-get install spin)")


@dataclass(frozen=True)
class SpinRun:
    """What SPIN said about one model."""

    safety: str
    termination: str
    seconds: float

    def verdict(self) -> tuple[str, ...]:
        """The properties SPIN found broken (empty when both searches found no error)."""
        found: list[str] = []
        for output in (self.safety, self.termination):
            assert "errors:" in output, output
            if re.search(r"errors: 0\b", output):
                assert "max search depth too small" not in output, output
                continue
            # The safety search runs on past errors (-c0): every property broken, each once.
            flags = re.findall(r"assertion violated\s+!\(v_(\w+)\)", output)
            if flags:
                found.extend(flags)
            elif "acceptance cycle" in output:
                found.append("termination")
            else:
                raise AssertionError("unrecognised SPIN error:\n" + output)
        order = list(PROPERTIES)
        return tuple(sorted(set(found), key=order.index))

    def sizes(self) -> dict[str, tuple[int, int]]:
        """Per search, the states pan stored and the depth it reached."""
        found = {}
        for search, output in (("safety", self.safety), ("termination", self.termination)):
            stored = re.search(r"(\d+) states, stored", output)
            depth = re.search(r"depth reached (\d+)", output)
            assert stored, output
            assert depth, output
            found[search] = (int(stored.group(1)), int(depth.group(1)))
        return found


def _spin(name: str, spec_path: Path, workdir: Path, spin: str, gcc: str) -> SpinRun:
    started = time.perf_counter()
    d = workdir / name
    d.mkdir()
    (d / "model.pml").write_text(render(load_spec(spec_path, validate=False)), encoding="utf-8")

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=300, check=False)
        return done.stdout + done.stderr

    out = run(spin, "-a", "model.pml")
    assert (d / "pan.c").exists(), out
    out = run(gcc, "-O1", "-w", "-o", "pan", "pan.c")
    assert (d / "pan").exists(), out
    # -c0: do not stop at the first error, so a spec that breaks several safety
    # properties has each reported (the model cuts every run at its first violation,
    # as the Python checker does, so nothing is reported that follows another one).
    safety = run("./pan", "-a", "-N", "safety", "-m1000000", "-c0")
    termination = run("./pan", "-a", "-N", "termination", "-m1000000")
    return SpinRun(safety, termination, time.perf_counter() - started)


@pytest.fixture(scope="module")
def spin_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SpinRun]:
    """SPIN's runs on every model, two at a time."""
    spin, gcc = _tools()
    workdir = tmp_path_factory.mktemp("spin")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {
            name: pool.submit(_spin, name, path, workdir, spin, gcc)
            for name, path in MODELS.items()
        }
        return {name: f.result() for name, f in futures.items()}


def test_spin_finds_no_error_in_the_shipped_spec(spin_runs: dict[str, SpinRun]) -> None:
    run = spin_runs["shipped"]
    assert run.verdict() == (), run.safety + run.termination
    # The search really explored the model.
    stored = re.search(r"(\d+) states, stored", run.safety)
    assert stored, run.safety
    assert int(stored.group(1)) > 10_000, run.safety


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"shipped"}))
def test_spin_agrees_with_the_python_checker(name: str, spin_runs: dict[str, SpinRun]) -> None:
    python = check(load_spec(MODELS[name], validate=False)).violated()
    assert python, f"the Python checker accepts mutant {name}"
    assert spin_runs[name].verdict() == python, spin_runs[name].safety + spin_runs[name].termination


def test_spin_state_space_is_bounded(spin_runs: dict[str, SpinRun]) -> None:
    for name, run in sorted(spin_runs.items()):
        sizes = run.sizes()
        print(
            f"{name}: {run.seconds:.1f} s, "
            + ", ".join(
                f"{search} {stored} states stored, depth {depth}"
                for search, (stored, depth) in sizes.items()
            )
        )
        for search, (stored, depth) in sizes.items():
            assert stored <= MAX_STORED, (name, search, stored, run.safety + run.termination)
            assert depth <= MAX_DEPTH, (name, search, depth, run.safety + run.termination)


def test_spin_checks_the_connection_alone(tmp_path: Path) -> None:
    """The well-formedness model of the connection: no error, as the Python checker says."""
    spin, gcc = _tools()
    spec = load_spec(MODELS["shipped"])
    assert check_machine(spec).ok
    (tmp_path / "model.pml").write_text(render_machine(spec), encoding="utf-8")

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
        return done.stdout + done.stderr

    run(spin, "-a", "model.pml")
    run(gcc, "-O1", "-w", "-o", "pan", "pan.c")
    out = run("./pan", "-a", "-N", "safety", "-c0")
    assert re.search(r"errors: 0\b", out), out
    stored = re.search(r"(\d+) states, stored", out)
    assert stored, out
    # init, then every configuration the Python checker explores.
    assert int(stored.group(1)) >= check_machine(spec).states, out
