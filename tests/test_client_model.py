"""The client composition (``wsstate verify client``) and its Promela model (SPIN).

The shipped spec/client.toml satisfies every property of
:data:`~wsstate_tools.verify.client_model.CLIENT_PROPERTIES`. Each file in
``tests/fixtures/mutants/client`` is spec/client.toml with one row changed (its
first line names the property it breaks); the Python checker reports exactly
that property with a shortest counterexample that replays, and SPIN, on the
generated Promela model, reports the same. The retry classification table
(spec/retry/client.toml) is validated by wsstate_tools.retry, every problem at
its line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import wsstate
from wsstate_tools.generate.promela import COMPOSED, render
from wsstate_tools.retry import CLOSERS
from wsstate_tools.retry import load as load_retry
from wsstate_tools.retry import loads as loads_retry
from wsstate_tools.spec import SpecError, load, load_unvalidated
from wsstate_tools.verify import COMPOSITIONS
from wsstate_tools.verify.client_model import CLIENT_PROPERTIES, check_client, replay_client

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "spec" / "client.toml"
MUTANTS_DIR = Path(__file__).parent / "fixtures" / "mutants" / "client"
MUTANTS = {
    "reset_on_open": "backoff_resets_only_after_min_uptime",
    "no_delay_after_close": "backoff_between_attempts",
    "retry_on_fatal": "fatal_stops",
    "close_ignored_in_backoff": "no_attempt_after_close",
    "unbounded_buffer": "buffer_bounded",
    "send_and_keep": "sent_at_most_once",
}


def _mutant(name: str):  # type: ignore[no-untyped-def]
    spec, _ = load_unvalidated(MUTANTS_DIR / f"{name}.toml")
    return spec


def test_every_mutant_file_is_listed_and_names_its_property() -> None:
    assert {p.stem for p in MUTANTS_DIR.glob("*.toml")} == set(MUTANTS)
    for name, prop in MUTANTS.items():
        first = (MUTANTS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# Mutant of spec/client.toml: breaks {prop}.", first


def test_the_client_is_registered_with_its_named_properties() -> None:
    assert COMPOSITIONS["client"].properties is CLIENT_PROPERTIES
    assert "client" in COMPOSED
    for prop in (
        "stopped_absorbing",
        "no_attempt_when_stopping",
        "no_attempt_after_close",
        "backoff_between_attempts",
        "buffer_bounded",
        "sent_at_most_once",
    ):
        assert prop in CLIENT_PROPERTIES


def test_the_shipped_client_satisfies_every_property() -> None:
    result = check_client(load(SHIPPED))
    assert result.ok, result.report()
    assert result.states > 500
    assert result.seconds < 5
    # Every possible row but one is reached (STOPPED/app_send_full needs max_buffered=0).
    assert result.rows_unexercised == ("STOPPED/app_send_full",)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_breaks_exactly_its_property(name: str) -> None:
    result = check_client(_mutant(name))
    assert result.violated() == (MUTANTS[name],), result.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_counterexample_replays_and_is_shortest(name: str) -> None:
    spec = _mutant(name)
    violation = check_client(spec).violations[0]
    run = replay_client(spec, violation.steps)
    assert MUTANTS[name] in run.violations, run.report()
    # One step fewer breaks nothing: the last step is the violating one.
    shorter = replay_client(spec, violation.steps[:-1])
    assert not shorter.violations, shorter.report()
    # Shortest: no trace of the same property is shorter (breadth-first search); the
    # known minimal lengths of the scenarios the mutants stand for.
    assert len(violation.steps) <= 7, violation.report()


def test_the_reset_on_open_counterexample_is_an_accept_then_close_server() -> None:
    v = check_client(_mutant("reset_on_open")).violations[0]
    labels = " ".join(v.steps)
    assert "server connected" in labels, v.report()
    assert "closed_retryable" in labels, v.report()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_differs_from_the_shipped_spec_in_one_row(name: str) -> None:
    shipped, mutant = load(SHIPPED), _mutant(name)
    changed = [
        key
        for key, row in shipped.rows.items()
        if (row.next, row.effects) != (mutant.rows[key].next, mutant.rows[key].effects)
    ]
    assert len(changed) == 1, changed


def test_the_cli_verifies_the_client(capsys: pytest.CaptureFixture[str]) -> None:
    from wsstate_tools import cli

    assert cli.main(["verify", "client"]) == 0
    out = capsys.readouterr().out
    for prop in CLIENT_PROPERTIES:
        assert re.search(rf"{prop}\s+ok", out), out
    bad = str(MUTANTS_DIR / "retry_on_fatal.toml")
    assert cli.main(["verify", "--spec", bad, "--unvalidated"]) == 1
    assert "VIOLATION fatal_stops" in capsys.readouterr().out


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


def test_spin_finds_no_error_in_the_shipped_client(tmp_path: Path) -> None:
    out = _spin(SHIPPED, tmp_path)
    assert re.search(r"errors: 0\b", out), out
    stored = re.search(r"(\d+) states, stored", out)
    assert stored, out
    assert int(stored.group(1)) >= check_client(load(SHIPPED)).states, out


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_spin_agrees_on_each_client_mutant(name: str, tmp_path: Path) -> None:
    out = _spin(MUTANTS_DIR / f"{name}.toml", tmp_path)
    found = sorted(set(re.findall(r"assertion violated\s+!\(v_(\w+)\)", out)))
    assert found == [MUTANTS[name]], out


# -- the retry classification table -----------------------------------------------------


def test_the_shipped_retry_table_has_the_issue_defaults() -> None:
    t = load_retry(ROOT / "spec" / "retry" / "client.toml")
    assert t.machine == "client"
    for status in (408, 429, 500, 502, 503, 504):
        assert t.decide_http(status) in ("retry", "retry_after"), status
    for status in (400, 401, 403, 404):
        assert t.decide_http(status) == "fatal", status
    assert t.decide_http(429) == t.decide_http(503) == "retry_after"
    for code in (1001, 1006, 1011, 1012, 1014, 1000):
        assert t.decide_close(code) == "retry", code
    assert t.decide_close(1013) == "retry_after"
    for code in (1002, 1003, 1007, 1008, 1009, 1010, 4000, 4401, 4999):
        assert t.decide_close(code) == "fatal", code
    assert set(CLOSERS) == {c.value for c in wsstate.ClosedBy}  # the runtime's, all
    assert dict(t.closed_by) == {  # only the server's Close is its verdict
        "remote": "by_code",
        "local": "retry",
        "timeout": "retry",
        "transport": "retry",
    }
    assert dict(t.failures) == {
        "os_error": "retry",
        "timeout": "retry",
        "handshake_eof": "retry",
        "invalid_uri": "fatal",
        "tls_verification": "fatal",
        "invalid_handshake": "fatal",
    }


_GOOD = (ROOT / "spec" / "retry" / "client.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"408" = "retry"', '"408" = "maybe"', "decision 'maybe' for 408"),
        ('"408" = "retry"', "", "[http] does not classify 408"),
        ('"409-428" = "fatal"', '"405-428" = "fatal"', "overlaps an earlier key"),
        ('"4000-4999" = "fatal"', '"4000-4998" = "fatal"', "[close] does not classify 4999"),
        (
            'handshake_eof = "retry"',
            'handshake_eof = "retry"\nflaky = "retry"',
            "unknown failure kind",
        ),
        ('os_error = "retry"', "", "does not classify os_error"),
        ('"500" = "retry"', '"5x0" = "retry"', "is not N or lo-hi"),
        ('local = "retry"', 'local = "by_reason"', "decision 'by_reason' for local"),
        ('local = "retry"', 'local = "retry"\npeer = "retry"', "unknown closer 'peer'"),
        ('timeout = "retry"   ', "", "[closed_by] does not decide for timeout"),
        ("\n[closed_by]", "\n[closed_by_whom]", "unknown table [closed_by_whom]"),
    ],
)
def test_the_retry_loader_reports_each_problem_at_its_line(
    old: str, new: str, message: str
) -> None:
    text = _GOOD.replace(old, new, 1)
    assert text != _GOOD
    with pytest.raises(SpecError) as info:
        loads_retry(text, "t.toml")
    problems = info.value.problems
    assert any(message in p.message for p in problems), problems
    if new:
        line = next(n for n, x in enumerate(text.splitlines(), 1) if new.split("\n")[-1] in x)
        assert any(p.line == line for p in problems if message in p.message), problems


def test_the_classification_module_is_the_table() -> None:
    from wsstate.machines import client_retry

    t = load_retry(ROOT / "spec" / "retry" / "client.toml")
    assert (t.http, t.close, t.failures, t.closed_by) == (
        client_retry.HTTP,
        client_retry.CLOSE,
        client_retry.FAILURES,
        client_retry.CLOSED_BY,
    )


@pytest.mark.parametrize(
    ("code", "reason", "closed_by", "retry_on_1000", "decision", "floor"),
    [
        # The server's Close: its code decides.
        (1000, "", "remote", True, "retry", None),
        (1000, "", "remote", False, "fatal", None),
        (1001, "", "remote", False, "retry", None),
        (1008, "policy", "remote", True, "fatal", None),
        (4001, "", "remote", True, "fatal", None),
        (1013, "2.5", "remote", True, "retry_after", 2.5),
        (1013, "soon", "remote", True, "retry_after", None),
        (1013, "inf", "remote", True, "retry_after", None),  # no number of seconds
        (1013, "nan", "remote", True, "retry_after", None),
        (1013, "-4", "remote", True, "retry_after", 0.0),
        (None, "", "remote", True, "retry", None),  # no code recorded: 1006
        # This side's own closes are not the server's verdict: the next generation.
        (1000, "", "local", False, "retry", None),  # reconnect()'s loop body returned
        (4001, "", "local", True, "retry", None),
        (1008, "slow reader", "timeout", True, "retry", None),
        (1011, "keepalive ping timeout", "timeout", True, "retry", None),
        (1006, "", "transport", False, "retry", None),
    ],
)
def test_a_closure_is_classified_by_who_ended_it_then_by_its_code(
    code: int | None,
    reason: str,
    closed_by: str,
    retry_on_1000: bool,
    decision: str,
    floor: float | None,
) -> None:
    from wsstate.retry import classify_close

    refusal = classify_close(code, reason, closed_by=closed_by, retry_on_1000=retry_on_1000)
    assert (refusal.kind, refusal.value) == ("close", 1006 if code is None else code)
    assert (refusal.decision, refusal.floor) == (decision, floor)
    assert (closed_by in refusal.reason) is (closed_by != "remote")


@pytest.mark.parametrize(
    ("value", "floor"),
    [
        (None, None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("\u00b2", None),  # a digit to str.isdigit(), no number (ISO-8859-1 byte 0xb2)
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE
        ("1.5", None),
        ("-1", None),
        ("", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: at once
        ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0),
        ("9" * 400, None),  # too large for a float
        ("Mon, 21 Oct 2115 07:28:00 GMT", 36524 * 86400.0),  # far, and honoured
        ("Mon, 99 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_a_retry_after_value_is_seconds_a_date_or_none_never_an_error(
    value: str | None, floor: float | None
) -> None:
    from wsstate.retry import parse_retry_after

    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now) == floor
