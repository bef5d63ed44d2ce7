"""The model checker (``wsstate verify``): the shipped spec passes, every mutant fails.

Each file in ``tests/fixtures/mutants`` is spec/connection.toml with one row
changed so that one property breaks; its first line names it. The checker must
report that property and nothing else (one mutant legitimately breaks a second
one too: see ``ALSO_BROKEN``), each with a shortest counterexample that
:func:`wsstate_tools.verify.replay` reproduces. Two mutants are
also rejected by the spec validator (a terminal state left, a reserved code in
a row): the tests assert the validator rejects them *and* the checker, run on
the unvalidated spec, flags them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wsstate_tools import cli
from wsstate_tools.generate import header
from wsstate_tools.generate.promela import render
from wsstate_tools.paths import SPEC_DIR
from wsstate_tools.spec import Spec, SpecError, load
from wsstate_tools.verify import (
    PROPERTIES,
    WELLFORMED,
    Bounds,
    Model,
    Result,
    Violation,
    World,
    check,
    check_machine,
    load_spec,
    replay,
    replay_machine,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / SPEC_DIR / "connection.toml"
MUTANTS_DIR = Path(__file__).parent / "fixtures" / "mutants"

#: mutant file stem -> the one property it breaks.
MUTANTS = {
    "data_after_close": "no_data_after_close",
    "double_close": "single_close_per_direction",
    "reserved_code": "no_reserved_code_on_wire",
    "keepalive_not_cancelled": "impossible_event",
    "terminal_left": "terminal_left",
    "no_close_timer": "no_deadlock",
    "close_retry_forever": "termination",
    "no_echo": "clean_handshake",
    "timers_cleared": "timers_cleared",
}
#: Mutants that also break another property, legitimately.
ALSO_BROKEN = {
    # Keepalive left armed into CLOSING fires there (impossible_event), and the rows
    # leaving CLOSING for CLOSED cancel only the close timer: the peer enters CLOSED
    # with keepalive still armed (timers_cleared, e.g. on app_abort).
    "keepalive_not_cancelled": ("timers_cleared",),
}
#: Mutants the spec validator rejects, with a fragment of its message.
REJECTED = {
    "reserved_code": "which may not be sent",
    "terminal_left": "terminal state CLOSED is left",
}

_results: dict[str, Result] = {}


def expected(name: str) -> tuple[str, ...]:
    """The properties mutant ``name`` breaks, in the order of PROPERTIES."""
    broken = {MUTANTS[name], *ALSO_BROKEN.get(name, ())}
    return tuple(p for p in PROPERTIES if p in broken)


def result_for(name: str) -> Result:
    """The checker's result for the shipped spec ("shipped") or a mutant, computed once."""
    if name not in _results:
        path = SHIPPED if name == "shipped" else MUTANTS_DIR / f"{name}.toml"
        _results[name] = check(load_spec(path, validate=False))
    return _results[name]


def test_every_mutant_file_is_listed() -> None:
    assert sorted(p.stem for p in MUTANTS_DIR.glob("*.toml")) == sorted(MUTANTS)
    # Every property a spec can break has a mutant (channel_bound is a model bound).
    assert set(MUTANTS.values()) == set(PROPERTIES) - {"channel_bound"}


# -- the shipped spec ------------------------------------------------------------


def test_shipped_spec_satisfies_every_property_in_under_ten_seconds() -> None:
    result = check(load(SHIPPED))
    assert result.ok, result.report()
    assert result.seconds < 10, result.summary()
    # The search is not vacuous: thousands of states, and it drives nearly every
    # possible row of the table (the rest cannot happen: see docs/verification.md).
    assert result.states > 10_000
    assert result.transitions > result.states
    assert result.clean_states > 100
    assert result.rows_exercised >= 60, result.rows_unexercised
    assert "all 10 properties hold" in result.report()


def test_bounds_grow_the_state_space() -> None:
    small = check(load(SHIPPED), Bounds(sends=0, pings=0, faults=0))
    assert small.ok, small.report()
    assert small.states < result_for("shipped").states


# -- the mutants -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_breaks_exactly_its_property(name: str) -> None:
    prop = MUTANTS[name]
    first_line = (MUTANTS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == f"# Mutant of spec/connection.toml: breaks {prop}."
    result = result_for(name)
    assert not result.ok
    assert result.violated() == expected(name), result.report()
    for violation in result.violations:
        assert violation.trace, "a counterexample has at least one step"
        assert f"VIOLATION {violation.name}:" in result.report()
        assert f"{violation.name:<28} VIOLATED" in result.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_counterexample_replays(name: str) -> None:
    spec = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    for violation in result_for(name).violations:
        run = replay(spec, violation.steps, clean=violation.clean)
        assert run.violations == (violation.name,), run.report()
        # The same steps against the shipped spec break nothing (or cannot happen).
        shipped = replay(load(SHIPPED), violation.steps, clean=violation.clean)
        assert shipped.violations == (), shipped.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_counterexample_is_shortest(name: str) -> None:
    """A separate breadth-first search finds no shorter counterexample, and one this long."""
    spec = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    for violation in result_for(name).violations:
        assert not _violated_within(spec, violation, len(violation.trace) - 1)
        assert _violated_within(spec, violation, len(violation.trace))


def _violated_within(spec: Spec, violation: Violation, depth: int) -> bool:
    """Whether ``violation.name`` breaks within ``depth`` steps, layer by layer."""
    model = Model(spec)
    layer: dict[World, tuple[str, ...]] = {model.initial(): ()}
    seen = set(layer)
    for d in range(depth + 1):
        for w, labels in layer.items():
            if d and _state_violates(spec, model, violation, w, labels):
                return True
        if d == depth:
            return False
        following: dict[World, tuple[str, ...]] = {}
        for w, labels in layer.items():
            for label, _, outcome in model.successors(w, clean=violation.clean):
                if outcome is None:
                    continue
                if not isinstance(outcome, World):
                    if getattr(outcome, "prop", None) == violation.name:
                        return True
                    continue
                if outcome not in seen:
                    seen.add(outcome)
                    following[outcome] = (*labels, label)
        layer = following
    return False


def _state_violates(
    spec: Spec, model: Model, violation: Violation, w: World, labels: tuple[str, ...]
) -> bool:
    if violation.name == "no_deadlock":
        return not model.all_closed(w) and not model.env_enabled(w)
    if violation.name in ("termination", "clean_handshake"):
        return violation.name in replay(spec, labels, clean=violation.clean).violations
    return False


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_differs_from_shipped_spec_in_one_row(name: str) -> None:
    shipped = load(SHIPPED)
    mutant = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    changed = [key for key in shipped.rows if _row(shipped, key) != _row(mutant, key)]
    assert len(changed) == 1, changed


def _row(spec: Spec, key: tuple[str, str]) -> tuple[object, ...]:
    r = spec.rows[key]
    return (r.next, r.effects, r.log, r.code, r.reason, r.impossible)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_validator_rejects_the_invalid_mutants_and_the_checker_flags_them(name: str) -> None:
    path = MUTANTS_DIR / f"{name}.toml"
    with pytest.raises(SpecError, match=REJECTED[name]):
        load(path)
    assert result_for(name).violated() == (MUTANTS[name],)


def test_termination_counterexample_ends_in_a_cycle() -> None:
    (violation,) = result_for("close_retry_forever").violations
    assert violation.loop
    assert violation.loop[-1].state == violation.loop[violation.cycle_start - 1].state or (
        violation.cycle_start == 0 and violation.loop[-1].state == violation.trace[-1].state
    )
    assert "round this cycle forever" in violation.report()


def test_clean_handshake_counterexample_is_in_the_clean_sub_model() -> None:
    (violation,) = result_for("no_echo").violations
    assert violation.clean
    labels = " ".join(violation.steps)
    assert "fault" not in labels
    assert "timer" not in labels
    assert "app_abort" not in labels


def test_timers_cleared_counterexample_enters_closed_with_a_timer_armed() -> None:
    (violation,) = result_for("timers_cleared").violations
    # The mutated row: CLOSING/peer_close no longer cancels the close timer.
    assert violation.steps[-1].endswith("recv Close(1000) -> peer_close")
    assert "entered CLOSED from CLOSING on peer_close with close_timer still armed" in (
        violation.message
    )
    # A timer that fires to cause the entry is not armed any more: the shipped
    # spec's timeout rows (CONNECTING/open_timeout, CLOSING/close_timeout, ...)
    # cancel nothing, and the shipped spec passes.
    assert "timers_cleared" not in result_for("shipped").violated()


def test_replay_stops_at_an_impossible_step() -> None:
    run = replay(load(SHIPPED), ["client app_send", "server recv Close(1000) -> peer_close"])
    assert run.violations == ()
    assert run.messages == ("step 2 (server recv Close(1000) -> peer_close) is not possible here",)


# -- the connection machine alone -------------------------------------------------------

#: Mutants the well-formedness checks (the machine alone, no peer) refuse too: those
#: whose fault is in the table itself. The others need the composition to show.
ALONE = {
    "keepalive_not_cancelled": ("impossible_event", "timers_cleared"),
    "terminal_left": ("terminal_left",),
    "timers_cleared": ("timers_cleared",),
}


def test_the_connection_alone_is_well_formed() -> None:
    result = check_machine(load(SHIPPED))
    assert result.ok, result.report()
    assert result.bounds is None
    assert result.states >= len(load(SHIPPED).states) - 1
    assert f"all {len(WELLFORMED)} properties hold" in result.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_machine_alone_refuses_the_mutants_of_the_table(name: str) -> None:
    spec = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    result = check_machine(spec)
    assert result.violated() == ALONE.get(name, ()), result.report()
    for violation in result.violations:
        assert violation.alone
        assert replay_machine(spec, violation.steps).violations == (violation.name,)


# -- --emit-test and the command line -------------------------------------------------


def _pytest(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
        check=False,
    )


def test_emit_test_writes_a_replayable_pytest_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutant = MUTANTS_DIR / "data_after_close.toml"
    out = tmp_path / "test_counterexample.py"
    status = cli.main(["verify", "--spec", str(mutant), "--emit-test", str(out)])
    assert status == 1
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    compile(text, str(out), "exec")
    assert "def test_no_data_after_close() -> None:" in text
    # Run it: it fails, replaying the violation...
    failing = _pytest(out)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "no_data_after_close" in failing.stdout
    # ...and passes once the spec is fixed (here: pointed at the shipped spec).
    fixed = tmp_path / "test_fixed.py"
    fixed.write_text(text.replace(str(mutant.resolve()), str(SHIPPED)), encoding="utf-8")
    passing = _pytest(fixed)
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_emit_test_for_an_unvalidated_mutant(tmp_path: Path) -> None:
    out = tmp_path / "test_terminal.py"
    mutant = MUTANTS_DIR / "terminal_left.toml"
    args = ["verify", "--spec", str(mutant), "--unvalidated", "--emit-test", str(out)]
    assert cli.main(args) == 1
    assert "validate=False" in out.read_text(encoding="utf-8")
    run = _pytest(out)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "terminal_left" in run.stdout


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(ROOT), "verify"]) == 0
    out = capsys.readouterr().out
    # The machine alone first, then its composition.
    assert "the connection machine alone (well-formedness)" in out
    assert f"all {len(WELLFORMED)} properties hold" in out
    assert out.index("(well-formedness)") < out.index("two connection peers")
    assert "all 10 properties hold" in out
    assert "states" in out
    assert "transitions" in out
    assert " s (" in out
    mutant = str(MUTANTS_DIR / "no_echo.toml")
    assert cli.main(["verify", "--spec", mutant]) == 1
    assert "VIOLATION clean_handshake" in capsys.readouterr().out
    # A mutant the validator rejects: 2 unless --unvalidated asks to check it anyway.
    invalid = str(MUTANTS_DIR / "reserved_code.toml")
    assert cli.main(["verify", "--spec", invalid]) == 2
    assert cli.main(["verify", "--spec", invalid, "--unvalidated"]) == 1
    captured = capsys.readouterr()
    assert "warning:" in captured.err
    assert "VIOLATION no_reserved_code_on_wire" in captured.out


def test_cli_writes_promela(tmp_path: Path) -> None:
    out = tmp_path / "model.pml"
    assert cli.main(["--root", str(ROOT), "verify", "--promela", str(out), "--faults", "0"]) == 0
    assert out.read_text(encoding="utf-8") == render(load(SHIPPED), Bounds(faults=0))


# -- the Promela renderer -----------------------------------------------------------


def test_promela_is_deterministic_and_starts_with_the_header() -> None:
    spec = load(SHIPPED)
    text = render(spec)
    assert text == render(load(SHIPPED))
    assert text.startswith(header(spec, "//"))
    for prop in PROPERTIES:
        if prop != "termination":
            assert f"bool v_{prop};" in text
    assert "ltl termination {" in text
    assert "ltl safety {" in text
    # One branch per row of the table.
    assert text.count("// line ") == len(spec.rows)
