"""The session composition (``wsstate verify session``): the spec passes, every mutant fails.

Each file in ``tests/fixtures/mutants/session`` is ``spec/session.toml`` with one
row changed so that one property of
:data:`~wsstate_tools.verify.session.SESSION_PROPERTIES` breaks; its first line
names it. The Python checker must report that property and nothing else, with
a shortest counterexample that :func:`replay_session` reproduces (and that
breaks nothing against the shipped spec); SPIN, on the Promela model of the
same composition, must find no error in the shipped spec and exactly the same
property in each mutant.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wsstate_tools import cli
from wsstate_tools.generate.promela import COMPOSED, render
from wsstate_tools.paths import SPEC_DIR
from wsstate_tools.spec import Spec, SpecError, load
from wsstate_tools.verify import COMPOSITIONS, Result, check_machine, load_spec
from wsstate_tools.verify.model import Bad
from wsstate_tools.verify.session import (
    SESSION_PROPERTIES,
    SessionBounds,
    SessionModel,
    SessionWorld,
    check_session,
    replay_session,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / SPEC_DIR / "session.toml"
MUTANTS_DIR = Path(__file__).parent / "fixtures" / "mutants" / "session"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: mutant file stem -> the one property it breaks.
MUTANTS = {
    "detach_unfenced": "stale_detach_ignored",
    "expire_twice": "expire_at_most_once",
    "grace_without_expire": "expire_when_ended",
    "expire_on_detach": "expire_only_when_due",
    "beacon_ignored_detached": "beacon_commutes",
    "replay_before_adopt": "no_send_to_superseded",
    "resume_without_replay": "replay_in_order",
    "detach_without_grace": "abandoned_expires",
}
#: Mutants the spec validator rejects too, with a fragment of its message.
REJECTED = {
    "expire_twice": "has expire but does not enter a terminal state",
    "grace_without_expire": "enters terminal CLOSED without expire",
    "expire_on_detach": "state DETACHED is unreachable",
}

_results: dict[str, Result] = {}


def result_for(name: str) -> Result:
    if name not in _results:
        path = SHIPPED if name == "shipped" else MUTANTS_DIR / f"{name}.toml"
        _results[name] = check_session(load_spec(path, validate=False))
    return _results[name]


def test_every_mutant_file_is_listed_and_every_property_has_one() -> None:
    assert sorted(p.stem for p in MUTANTS_DIR.glob("*.toml")) == sorted(MUTANTS)
    # impossible_event is the machine alone's too: its mutants are the connection's.
    assert set(MUTANTS.values()) == set(SESSION_PROPERTIES) - {"impossible_event"}


def test_the_session_is_registered_as_a_composition_with_a_promela_model() -> None:
    assert COMPOSITIONS["session"].properties is SESSION_PROPERTIES
    assert "session" in COMPOSED
    assert set(COMPOSITIONS) == set(COMPOSED)


def test_shipped_spec_satisfies_every_property() -> None:
    result = result_for("shipped")
    assert result.ok, result.report()
    assert result.seconds < 5, result.summary()
    # Not vacuous: both generations interleave; every possible row but the
    # CLOSED default for a timer that no longer runs is driven.
    assert result.states > 1000
    assert result.rows_unexercised == ("CLOSED/grace_timeout",), result.rows_unexercised
    assert f"all {len(SESSION_PROPERTIES)} properties hold" in result.report()
    assert check_machine(load(SHIPPED)).ok


def test_bigger_bounds_still_hold() -> None:
    spec = load(SHIPPED)
    big = check_session(spec, SessionBounds(sends=3, history=2, generations=2))
    assert big.ok, big.report()
    assert big.states > result_for("shipped").states


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_breaks_exactly_its_property(name: str) -> None:
    prop = MUTANTS[name]
    first = (MUTANTS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# Mutant of spec/session.toml: breaks {prop}."
    result = result_for(name)
    assert result.violated() == (prop,), result.report()
    (violation,) = result.violations
    assert violation.trace, "a counterexample has at least one step"
    assert f"VIOLATION {prop}:" in result.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_counterexample_replays_and_not_against_the_shipped_spec(name: str) -> None:
    spec = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    (violation,) = result_for(name).violations
    run = replay_session(spec, violation.steps)
    assert run.violations == (violation.name,), run.report()
    shipped = replay_session(load(SHIPPED), violation.steps)
    assert shipped.violations == (), shipped.report()


@pytest.mark.parametrize("name", sorted(set(MUTANTS) - {"detach_without_grace"}))
def test_mutant_counterexample_is_shortest(name: str) -> None:
    """No sequence of fewer steps breaks the property (a layer-by-layer search)."""
    spec = load_spec(MUTANTS_DIR / f"{name}.toml", validate=False)
    (violation,) = result_for(name).violations
    assert not _breaks_within(spec, violation.name, len(violation.trace) - 1)
    assert _breaks_within(spec, violation.name, len(violation.trace))


def _breaks_within(spec: Spec, prop: str, depth: int) -> bool:
    model = SessionModel(spec)
    layer: set[SessionWorld] = {model.initial()}
    seen = set(layer)
    for _ in range(depth):
        following: set[SessionWorld] = set()
        for w in layer:
            for _label, _kind, out in model.successors(w):
                if isinstance(out, Bad):
                    if out.prop == prop:
                        return True
                    continue
                if out is not None and out not in seen:
                    seen.add(out)
                    following.add(out)
        layer = following
    return False


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_validator_rejects_some_mutants_and_the_checker_flags_them(name: str) -> None:
    with pytest.raises(SpecError, match=REJECTED[name]):
        load(MUTANTS_DIR / f"{name}.toml")
    assert result_for(name).violated() == (MUTANTS[name],)


def test_stale_detach_counterexample_is_the_reconnect_race() -> None:
    (violation,) = result_for("detach_unfenced").violations
    assert violation.steps == (
        "gen1 attach fresh -> attach",
        "gen2 attach fresh -> attach",
        "gen1 closed -> detach_stale",
    )


def test_cli_verifies_the_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(ROOT), "verify", "session"]) == 0
    out = capsys.readouterr().out
    assert "the session machine alone (well-formedness)" in out
    assert "one session and 2 connection generations" in out
    assert f"all {len(SESSION_PROPERTIES)} properties hold" in out
    mutant = str(MUTANTS_DIR / "beacon_ignored_detached.toml")
    assert cli.main(["verify", "--spec", mutant]) == 1
    assert "VIOLATION beacon_commutes" in capsys.readouterr().out


# -- SPIN ----------------------------------------------------------------------------


def _tools() -> tuple[str, str]:
    spin, gcc = shutil.which("spin"), shutil.which("gcc") or shutil.which("cc")
    if spin and gcc:
        return spin, gcc
    missing = "spin" if not spin else "gcc"
    if IN_CI:
        pytest.fail(f"{missing} is not installed: CI must install it (.ci/run)")
    pytest.skip(f"{missing} is not installed (apt-get install spin)")


def _spin(name: str, path: Path, workdir: Path, spin: str, gcc: str) -> tuple[str, ...]:
    d = workdir / name
    d.mkdir()
    (d / "model.pml").write_text(render(load_spec(path, validate=False)), encoding="utf-8")

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=120, check=False)
        return done.stdout + done.stderr

    run(spin, "-a", "model.pml")
    out = run(gcc, "-O0", "-w", "-o", "pan", "pan.c")
    assert (d / "pan").exists(), out
    found: set[str] = set()
    for claim in ("safety", "abandoned_expires"):
        extra = ("-c0",) if claim == "safety" else ()
        output = run("./pan", "-a", "-N", claim, "-m1000000", *extra)
        assert "errors:" in output, output
        if re.search(r"errors: 0\b", output):
            assert "max search depth too small" not in output, output
            if name == "shipped" and claim == "safety":
                stored = re.search(r"(\d+) states, stored", output)
                assert stored, output
                assert int(stored.group(1)) > 1000, output
            continue
        flags = re.findall(r"assertion violated\s+!\(v_(\w+)\)", output)
        if flags:
            found.update(flags)
        elif "acceptance cycle" in output:
            found.add("abandoned_expires")
        else:
            raise AssertionError("unrecognised SPIN error:\n" + output)
    order = list(SESSION_PROPERTIES)
    return tuple(sorted(found, key=order.index))


@pytest.fixture(scope="module")
def spin_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, ...]]:
    spin, gcc = _tools()
    workdir = tmp_path_factory.mktemp("spin-session")
    models = {"shipped": SHIPPED} | {p.stem: p for p in sorted(MUTANTS_DIR.glob("*.toml"))}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(_spin, n, p, workdir, spin, gcc) for n, p in models.items()}
        return {n: f.result() for n, f in futures.items()}


def test_spin_finds_no_error_in_the_shipped_spec(spin_verdicts: dict[str, tuple[str, ...]]) -> None:
    assert spin_verdicts["shipped"] == ()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_spin_agrees_with_the_python_checker(
    name: str, spin_verdicts: dict[str, tuple[str, ...]]
) -> None:
    assert spin_verdicts[name] == result_for(name).violated() == (MUTANTS[name],)


def test_committed_promela_is_the_composition() -> None:
    committed = (ROOT / "spec" / "generated" / "session.pml").read_text(encoding="utf-8")
    assert "proctype World()" in committed
    assert "ltl abandoned_expires" in committed
