"""A machine that is not a WebSocket machine goes through the whole pipeline unchanged.

``tests/fixtures/machines/door.toml`` is a four-state door (CLOSED, OPEN,
LOCKED, REMOVED terminal) with effects and a timer of its own. Copied as
``spec/door.toml`` into a temporary project root beside the connection spec, it
goes through every stage with no change to the tooling's code:

* **validate**: the spec loader accepts it (and the door mutants);
* **generate**: ``wsstate generate`` writes its runtime table, reference chart,
  diagrams and Promela model; ``wsstate check`` finds them in sync and a change
  to the door's spec stale; the table module, imported from the temporary tree,
  holds the spec's rows, and the chart agrees with it on every pair;
* **diagram**: ``wsstate diagram door`` prints the generated diagram, ``wsstate
  table door`` every row;
* **Promela**: the model of the door alone, which SPIN checks (when installed)
  with no error;
* **model checker**: ``wsstate verify door`` runs the well-formedness checks
  (the door has no composition) and they hold; each door mutant, which the
  validator accepts, breaks exactly the property it names, with a shortest
  counterexample that replays (``--emit-test`` writes it as a test).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wsstate_tools import cli
from wsstate_tools.generate import GENERATORS, write
from wsstate_tools.generate import promela as promela_module
from wsstate_tools.generate.promela import render
from wsstate_tools.paths import SPEC_DIR
from wsstate_tools.spec import Spec, load
from wsstate_tools.verify import (
    COMPOSITIONS,
    WELLFORMED,
    Config,
    MachineModel,
    Result,
    Violation,
    check_machine,
    replay_machine,
)

ROOT = Path(__file__).resolve().parents[1]
MACHINES = Path(__file__).parent / "fixtures" / "machines"
DOOR = MACHINES / "door.toml"
MUTANTS_DIR = MACHINES / "door_mutants"
#: Every door mutant breaks the property its file is named after.
MUTANTS = sorted(p.stem for p in MUTANTS_DIR.glob("*.toml"))
DOOR_FILES = (
    "src/wsstate/machines/door.py",
    "src/wsstate/testing/charts/door.py",
    "diagrams/door.mmd",
    "diagrams/door.dot",
    "spec/generated/door.pml",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root holding the connection's spec and the door's, generated once."""
    root = tmp_path_factory.mktemp("project")
    (root / SPEC_DIR).mkdir()
    shutil.copy(ROOT / SPEC_DIR / "connection.toml", root / SPEC_DIR / "connection.toml")
    shutil.copy(DOOR, root / SPEC_DIR / "door.toml")
    changed = write(root)
    assert {p.as_posix() for p in changed} >= set(DOOR_FILES)
    return root


def _tool(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- validate --------------------------------------------------------------------


def test_the_door_is_a_valid_machine_of_its_own() -> None:
    door = load(DOOR)
    assert door.name == "door"
    assert door.state_names == ("CLOSED", "OPEN", "LOCKED", "REMOVED")
    assert door.terminal == {"REMOVED"}
    assert dict(door.timers) == {"relock": "relock_timeout"}
    assert door.initial_effects == ("arm:relock",)
    # Its vocabulary is its own: not one WebSocket effect or event.
    connection = load(ROOT / SPEC_DIR / "connection.toml")
    assert not set(door.effects) & set(connection.effects)
    assert not set(door.event_names) & set(connection.event_names)
    assert door.harness is None
    assert "door" not in COMPOSITIONS


@pytest.mark.parametrize("name", MUTANTS)
def test_the_validator_accepts_every_door_mutant(name: str) -> None:
    path = MUTANTS_DIR / f"{name}.toml"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# Mutant of tests/fixtures/machines/door.toml: breaks {name}."
    load(path)


# -- generate and check ---------------------------------------------------------------


def test_generate_writes_every_file_of_the_door(project: Path) -> None:
    for name in DOOR_FILES:
        text = (project / name).read_text(encoding="utf-8")
        assert "spec/door.toml" in text.splitlines()[1], name
    # No harness: no stateful tests for the door.
    assert not (project / "tests/generated/test_door_stateful.py").exists()
    door = load(project / SPEC_DIR / "door.toml")
    assert sum(g.applies(door) for g in GENERATORS) == len(DOOR_FILES)


def test_generate_and_check_from_the_command_line(project: Path) -> None:
    run = _tool(project, "generate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "generated files are up to date" in run.stdout
    run = _tool(project, "check")
    assert run.returncode == 0, run.stdout + run.stderr


def test_check_finds_the_door_stale_after_a_change(tmp_path: Path, project: Path) -> None:
    root = tmp_path / "stale"
    shutil.copytree(project, root)
    spec = root / SPEC_DIR / "door.toml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace('note = "already shut" }', 'note = "shut already" }', 1))
    run = _tool(root, "check")
    assert run.returncode == 1
    stale = set(re.findall(r"^--- (\S+) \(committed\)", run.stdout, re.MULTILINE))
    # A note is in the table module (the diagrams draw self-loops without notes);
    # nothing of the connection is stale.
    assert "src/wsstate/machines/door.py" in stale, run.stdout
    assert all("door" in path for path in stale), run.stdout


@pytest.fixture(scope="module")
def table(project: Path) -> Iterator[ModuleType]:
    """The generated table module, imported from the temporary tree by file path."""
    name = "wsstate.machines.door"
    assert name not in sys.modules
    try:
        yield _module(name, project / "src/wsstate/machines/door.py")
    finally:
        sys.modules.pop(name, None)


def test_the_generated_table_is_the_spec(table: ModuleType) -> None:
    spec = load(DOOR)
    state, event = table.State, table.Event
    assert [s.value for s in state] == list(spec.state_names)
    assert [e.value for e in event] == list(spec.event_names)
    assert [e.value for e in table.Effect] == list(spec.effects)
    assert spec.initial == table.INITIAL
    assert spec.terminal == table.TERMINAL
    assert spec.initial_effects == table.INITIAL_EFFECTS
    assert dict(table.TIMERS) == dict(spec.timers)
    assert len(table.TABLE) == len(spec.rows)
    levels = {"debug": 10, "info": 20, "warning": 30, "error": 40}
    for row in spec.iter_rows():
        got = table.TABLE[(state(row.state), event(row.event))]
        assert got.next == row.next
        assert got.effects == row.effects
        assert got.note == row.note
        assert got.log == (40 if row.impossible else levels[row.log])


def test_the_generated_chart_agrees_with_the_table(project: Path, table: ModuleType) -> None:
    from statemachine.exceptions import TransitionNotAllowed  # the dev extra has it

    chart_module = _module("door_chart", project / "src/wsstate/testing/charts/door.py")
    try:
        chart_class: Any = chart_module.DoorChart
    finally:
        sys.modules.pop("door_chart", None)
    rows = table.TABLE
    paths: dict[Any, list[Any]] = {table.INITIAL: []}
    queue = deque([table.INITIAL])
    while queue:
        s = queue.popleft()
        for e in table.Event:
            nxt = rows[(s, e)].next
            if nxt is not None and nxt not in paths:
                paths[nxt] = [*paths[s], e]
                queue.append(nxt)
    assert set(paths) == set(table.State)
    for (s, e), row in rows.items():
        chart = chart_class()
        for step in paths[s]:
            chart.send(step.value)
        assert chart.current_state_value == s
        if row.next is None:
            with pytest.raises(TransitionNotAllowed):
                chart.send(e.value)
        else:
            chart.send(e.value)
            assert chart.current_state_value == row.next, (s, e)


# -- diagram and table ----------------------------------------------------------------


def test_diagram_and_table_commands(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(project), "diagram", "door"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid == (project / "diagrams/door.mmd").read_text(encoding="utf-8")
    assert cli.main(["--root", str(project), "diagram", "door", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot == (project / "diagrams/door.dot").read_text(encoding="utf-8")
    for state in ("CLOSED", "OPEN", "LOCKED", "REMOVED"):
        assert state in mermaid
        assert state in dot
    assert cli.main(["--root", str(project), "table", "door"]) == 0
    text = capsys.readouterr().out
    spec = load(DOOR)
    for row in spec.iter_rows():
        assert row.state in text
        assert row.event in text
    assert "relock_timeout" in text


# -- Promela --------------------------------------------------------------------------


def test_the_door_promela_is_the_machine_alone(project: Path) -> None:
    spec = load(project / SPEC_DIR / "door.toml")
    from wsstate_tools.generate import relative

    text = render(relative(spec, project))
    assert text == (project / "spec/generated/door.pml").read_text(encoding="utf-8")
    assert "proctype Machine()" in text
    assert "proctype Peer" not in text
    for prop in WELLFORMED:
        assert f"bool v_{prop};" in text
    assert "ltl safety { [] !violated }" in text
    # One line per row of the table, naming its source line.
    assert text.count(", line ") == len(spec.rows)
    # Composed models for exactly the machines the checker composes.
    assert set(promela_module.COMPOSED) == set(COMPOSITIONS)


def _spin(pml: str, workdir: Path) -> str:
    spin, gcc = shutil.which("spin"), shutil.which("gcc") or shutil.which("cc")
    if not (spin and gcc):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("spin or gcc is not installed: CI must install them (.ci/run)")
        pytest.skip("spin or gcc is not installed (apt-get install spin)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model.pml").write_text(pml, encoding="utf-8")

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=workdir, capture_output=True, text=True, timeout=300, check=False
        )
        return done.stdout + done.stderr

    out = run(spin, "-a", "model.pml")
    assert (workdir / "pan.c").exists(), out
    out = run(gcc, "-O1", "-w", "-o", "pan", "pan.c")
    assert (workdir / "pan").exists(), out
    return run("./pan", "-a", "-N", "safety", "-c0")


def test_spin_checks_the_door(project: Path) -> None:
    out = _spin((project / "spec/generated/door.pml").read_text(encoding="utf-8"), project / "pan")
    assert re.search(r"errors: 0\b", out), out
    stored = re.search(r"(\d+) states, stored", out)
    assert stored, out
    assert int(stored.group(1)) >= 4, out  # every configuration, and init's


@pytest.mark.parametrize("name", MUTANTS)
def test_spin_refuses_each_door_mutant(name: str, tmp_path: Path) -> None:
    out = _spin(render(load(MUTANTS_DIR / f"{name}.toml")), tmp_path)
    assert set(re.findall(r"assertion violated\s+!\(v_(\w+)\)", out)) == {name}, out


# -- the model checker ------------------------------------------------------------------


def test_verify_door_runs_the_well_formedness_checks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--root", str(project), "verify", "door"]) == 0
    out = capsys.readouterr().out
    assert "the door machine alone (well-formedness)" in out
    assert f"all {len(WELLFORMED)} properties hold" in out
    assert "no composition for the door machine" in out
    for prop in WELLFORMED:
        assert re.search(rf"^  {prop} +ok$", out, re.MULTILINE), out
    result = check_machine(load(DOOR))
    assert result.ok, result.report()
    assert result.states == 4  # CLOSED {relock}, OPEN, LOCKED, REMOVED
    assert result.rows_unexercised == ("REMOVED/relock_timeout",)


_results: dict[str, Result] = {}


def _result(name: str) -> Result:
    if name not in _results:
        _results[name] = check_machine(load(MUTANTS_DIR / f"{name}.toml"))
    return _results[name]


@pytest.mark.parametrize("name", MUTANTS)
def test_each_door_mutant_breaks_exactly_its_property(name: str) -> None:
    result = _result(name)
    assert result.violated() == (name,), result.report()
    (violation,) = result.violations
    assert violation.alone
    assert violation.trace
    assert f"VIOLATION {name}:" in result.report()
    # The counterexample replays; on the door itself the same steps break nothing.
    spec = load(MUTANTS_DIR / f"{name}.toml")
    run = replay_machine(spec, violation.steps)
    assert run.violations == (name,), run.report()
    assert replay_machine(load(DOOR), violation.steps).violations == (), violation.report()
    # No shorter sequence of events breaks it.
    assert not _breaks_within(spec, violation, len(violation.trace) - 1)


def _breaks_within(spec: Spec, violation: Violation, depth: int) -> bool:
    model = MachineModel(spec)
    layer: dict[Config, tuple[str, ...]] = {model.initial(): ()}
    seen = set(layer)
    for d in range(depth + 1):
        for labels in layer.values():
            if d and violation.name in replay_machine(spec, labels).violations:
                return True
        if d == depth:
            return False
        following: dict[Config, tuple[str, ...]] = {}
        for c, labels in layer.items():
            for label, _, out in model.successors(c):
                if isinstance(out, Config) and out not in seen:
                    seen.add(out)
                    following[out] = (*labels, label)
                elif out is not None and not isinstance(out, Config) and out.prop == violation.name:
                    return True
        layer = following
    return False


def test_emit_test_for_a_door_mutant(tmp_path: Path) -> None:
    mutant = MUTANTS_DIR / "timers_cleared.toml"
    out = tmp_path / "test_door.py"
    assert cli.main(["verify", "--spec", str(mutant), "--emit-test", str(out)]) == 1
    text = out.read_text(encoding="utf-8")
    assert "def test_machine_timers_cleared() -> None:" in text
    assert "replay_machine(spec, steps)" in text

    def pytest_run(path: Path) -> int:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
            capture_output=True,
            timeout=120,
            cwd=path.parent,
            check=False,
        ).returncode

    assert pytest_run(out) == 1
    fixed = tmp_path / "test_fixed.py"
    fixed.write_text(text.replace(str(mutant.resolve()), str(DOOR.resolve())), encoding="utf-8")
    assert pytest_run(fixed) == 0


@pytest.mark.parametrize(
    ("machine", "mutant"),
    [
        ("client", "client/retry_on_fatal.toml"),
        ("session", "session/detach_unfenced.toml"),
        ("link", "link/close_keeps_attempt.toml"),
    ],
)
def test_emit_test_replays_through_the_machines_own_composition(
    machine: str, mutant: str, tmp_path: Path
) -> None:
    """`--emit-test` on a client, session or link mutant writes tests that replay its steps
    through that machine's composition (not the connection's): they fail on the mutant and
    pass on the shipped spec."""
    path = Path(__file__).parent / "fixtures" / "mutants" / mutant
    out = tmp_path / f"test_{machine}.py"
    assert cli.main(["verify", "--spec", str(path), "--emit-test", str(out)]) == 1
    text = out.read_text(encoding="utf-8")
    assert f'COMPOSITIONS["{machine}"].replay(spec, steps, None)' in text
    assert "BOUNDS" not in text

    def pytest_run(module: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=module.parent,
            check=False,
        )

    failing = pytest_run(out)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "AssertionError" in failing.stdout
    fixed = tmp_path / "test_fixed.py"
    shipped = (SPEC_DIR / f"{machine}.toml").resolve()
    fixed.write_text(text.replace(str(path.resolve()), str(shipped)), encoding="utf-8")
    passing = pytest_run(fixed)
    assert passing.returncode == 0, passing.stdout + passing.stderr
