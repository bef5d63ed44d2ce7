"""The link composition (``wsstate verify link``) and its Promela model (SPIN).

The shipped spec/link.toml satisfies every property of
:data:`~wsstate_tools.verify.link.LINK_PROPERTIES`. Each file in
``tests/fixtures/mutants/link`` is spec/link.toml with one row changed (its
first line names the property it breaks); the Python checker reports exactly
that property with a shortest counterexample that replays, and SPIN, on the
generated Promela model, reports the same.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wsstate_tools.generate.promela import COMPOSED, render
from wsstate_tools.spec import Spec, load, load_unvalidated
from wsstate_tools.verify import COMPOSITIONS
from wsstate_tools.verify.link import LINK_PROPERTIES, check_link, replay_link

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "spec" / "link.toml"
MUTANTS_DIR = Path(__file__).parent / "fixtures" / "mutants" / "link"
MUTANTS = {
    "deliver_stale": "delivered_at_most_once",
    "silent_gap": "gap_always_reported",
    "no_local_in_backoff": "local_delivery_always",
    "own_echo_delivered": "local_delivered_once",
    "publish_in_backoff": "publish_only_connected",
    "lost_not_counted": "remote_accounted",
    "no_backoff": "backoff_between_attempts",
    "listener_dies": "no_dead_listener",
    "close_keeps_attempt": "link_released",
    "closed_left": "closed_absorbing",
    "second_link_on_start": "single_link",
}


def _mutant(name: str) -> Spec:
    spec, _ = load_unvalidated(MUTANTS_DIR / f"{name}.toml")
    return spec


def test_every_mutant_file_is_listed_and_names_its_property() -> None:
    assert {p.stem for p in MUTANTS_DIR.glob("*.toml")} == set(MUTANTS)
    for name, prop in MUTANTS.items():
        first = (MUTANTS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# Mutant of spec/link.toml: breaks {prop}.", first


def test_the_link_is_registered_with_its_named_properties() -> None:
    assert COMPOSITIONS["link"].properties is LINK_PROPERTIES
    assert "link" in COMPOSED
    # Every property but impossible_event has a mutant that breaks it alone.
    assert set(MUTANTS.values()) == set(LINK_PROPERTIES) - {"impossible_event"}


def test_the_shipped_link_satisfies_every_property() -> None:
    result = check_link(load(SHIPPED))
    assert result.ok, result.report()
    assert result.states > 3000
    assert result.seconds < 5
    # Every possible row is reached but CLOSED's absorbing default (nothing is in
    # flight once CLOSED: that is link_released).
    assert all(r.startswith("CLOSED/") for r in result.rows_unexercised), result.rows_unexercised


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_breaks_exactly_its_property(name: str) -> None:
    result = check_link(_mutant(name))
    assert result.violated() == (MUTANTS[name],), result.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_counterexample_replays_and_is_shortest(name: str) -> None:
    spec = _mutant(name)
    violation = check_link(spec).violations[0]
    run = replay_link(spec, violation.steps)
    assert MUTANTS[name] in run.violations, run.report()
    if MUTANTS[name] != "no_dead_listener":  # a state property: its last step reaches it
        shorter = replay_link(spec, violation.steps[:-1])
        assert not shorter.violations, shorter.report()
    assert len(violation.steps) <= 8, violation.report()


def test_the_silent_gap_counterexample_is_a_lost_message() -> None:
    v = check_link(_mutant("silent_gap")).violations[0]
    labels = " ".join(v.steps)
    assert "peer_message_gap" in labels, v.report()


def test_the_dead_listener_counterexample_is_a_lost_link() -> None:
    v = check_link(_mutant("listener_dies")).violations[0]
    assert "link_lost" in " ".join(v.steps), v.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_differs_from_the_shipped_spec_in_one_row(name: str) -> None:
    shipped, mutant = load(SHIPPED), _mutant(name)
    changed = [
        key
        for key, row in shipped.rows.items()
        if (row.next, row.effects) != (mutant.rows[key].next, mutant.rows[key].effects)
    ]
    assert len(changed) == 1, changed


def test_the_cli_verifies_the_link(capsys: pytest.CaptureFixture[str]) -> None:
    from wsstate_tools import cli

    assert cli.main(["verify", "link"]) == 0
    out = capsys.readouterr().out
    for prop in LINK_PROPERTIES:
        assert re.search(rf"{prop}\s+ok", out), out
    bad = str(MUTANTS_DIR / "silent_gap.toml")
    assert cli.main(["verify", "--spec", bad, "--unvalidated"]) == 1
    assert "VIOLATION gap_always_reported" in capsys.readouterr().out


# -- SPIN ----------------------------------------------------------------------------


def _spin(spec_path: Path, tmp: Path) -> str:
    spin, gcc = shutil.which("spin"), shutil.which("gcc") or shutil.which("cc")
    if not (spin and gcc):
        pytest.skip("spin or gcc is not installed")
    spec, _ = load_unvalidated(spec_path)
    (tmp / "model.pml").write_text(render(spec), encoding="utf-8")

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=120)
        return done.stdout + done.stderr

    run(spin, "-a", "model.pml")
    run(gcc, "-O1", "-w", "-o", "pan", "pan.c")
    return run("./pan", "-a", "-N", "safety", "-c0", "-m1000000")


def test_spin_finds_no_error_in_the_shipped_link(tmp_path: Path) -> None:
    out = _spin(SHIPPED, tmp_path)
    assert re.search(r"errors: 0\b", out), out
    stored = re.search(r"(\d+) states, stored", out)
    assert stored, out
    assert int(stored.group(1)) >= check_link(load(SHIPPED)).states, out


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_spin_agrees_on_each_link_mutant(name: str, tmp_path: Path) -> None:
    out = _spin(MUTANTS_DIR / f"{name}.toml", tmp_path)
    found = sorted(set(re.findall(r"assertion violated\s+!\(v_(\w+)\)", out)))
    assert found == [MUTANTS[name]], out
