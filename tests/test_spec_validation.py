"""The spec loader and validator: every check, on one small broken spec each.

Each ``fixtures/spec_errors/*.toml`` is a copy of ``fixtures/minimal.toml`` with
one thing broken; the line the validator must report ends with the marker
comment ``# <- error``. The tests find the expected line by searching for that
marker, never by a hard-coded number, so a fixture can be edited freely.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wsstate_tools.spec import SpecError, load, loads, reserved_names

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINIMAL = FIXTURES / "minimal.toml"
ERRORS = FIXTURES / "spec_errors"
MARKER = "# <- error"

#: fixture name -> a fragment the message of its problem must contain.
CASES: dict[str, str] = {
    "invalid_toml": "invalid TOML: Unclosed inline table",
    "invalid_toml_at_end": "invalid TOML: Unclosed array",
    "unknown_state_in_next": "row (START, begin) goes to unknown state 'RUNING'",
    "unknown_state_in_transitions": "unknown state 'STOPPED' in [transitions.STOPPED]",
    "unknown_state_in_initial": "unknown initial state 'BEGIN'",
    "unknown_state_in_terminal": "unknown terminal state 'END'",
    "unknown_event": "unknown event 'stop' in [transitions.RUNNING]",
    "missing_pair": "missing row for (START, tick)",
    "duplicate_pair": "duplicate row for (START, begin); first defined at line",
    "unreachable_state": "state ORPHAN is unreachable from the initial state START",
    "no_terminal_reachable": "no terminal state (DONE) can be reached from STUCK",
    "terminal_state_left": "terminal state DONE is left by finish (to RUNNING)",
    "unknown_effect": "unknown effect 'transmit_pong'",
    "reserved_event_send": "event 'send' collides with python-statemachine's StateChart.send",
    "reserved_event_model": "event 'model' collides with python-statemachine's StateChart.model",
    "reserved_event_configuration": "event 'configuration' collides with "
    "python-statemachine's StateChart.configuration",
    "reserved_event_final_states": "event 'final_states' collides with "
    "python-statemachine's StateChart.final_states",
    "reserved_state_states": "state STATES becomes attribute 'states'",
    "reserved_state_model": "state MODEL becomes attribute 'model'",
    "event_collides_with_state": "event 'running' collides with state RUNNING",
    "keyword_event": "event 'pass' is a reserved word",
    "default_event": "event 'default' is a reserved word",
    "bad_log_level": "row (RUNNING, tick) has log level 'fatal'",
    "close_code_not_sendable": "row (RUNNING, finish) has close code 1006, which may not be sent",
    "close_reason_too_long": "row (RUNNING, finish) has a reason that is not a string of at "
    "most 123 UTF-8 bytes",
    "close_code_without_close": "row (RUNNING, tick) sets code/reason but neither emits nor "
    "records a Close",
    "notify_closed_missing": "row (START, finish) enters terminal DONE without notify_closed",
    "notify_closed_elsewhere": "row (RUNNING, tick) has notify_closed but does not enter a "
    "terminal state",
    "impossible_with_next": "impossible row (START, tick) has next",
    "unknown_row_field": "row (RUNNING, tick) has unknown field(s) colour",
    "bad_state_name": "bad state name 'Running'",
    "bad_event_name": "bad event name 'tick-tock'",
    "multiline_array_comment": "state RUNNING needs a one-line description",
}


def marked_lines(path: Path) -> list[int]:
    """1-based numbers of the lines ending with the marker comment."""
    text = path.read_text(encoding="utf-8")
    return [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith(MARKER)]


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line of ``text`` containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def load_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load(path)
    return info.value


# -- one broken fixture per error ------------------------------------------------


def test_every_fixture_is_tested() -> None:
    on_disk = {p.stem for p in ERRORS.glob("*.toml")}
    assert on_disk - {"several_problems"} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_spec_is_rejected_at_its_line(name: str) -> None:
    path = ERRORS / f"{name}.toml"
    [expected_line] = marked_lines(path)
    error = load_error(path)
    message = str(error)

    assert [(p.path, p.line) for p in error.problems] == [(str(path), expected_line)], message
    assert f"{path}:{expected_line}: " in message
    assert CASES[name] in message
    assert error.problems[0].hint, "every problem says how to fix it"
    assert message.startswith("1 problem in spec:")
    assert "\n    fix: " in message


def test_duplicate_pair_names_the_first_definition() -> None:
    path = ERRORS / "duplicate_pair.toml"
    first = line_of(path.read_text(encoding="utf-8"), 'begin = { next = "RUNNING"')
    assert f"first defined at line {first}" in str(load_error(path))


def test_several_problems_are_reported_together_sorted_by_line() -> None:
    path = ERRORS / "several_problems.toml"
    expected = marked_lines(path)
    error = load_error(path)
    message = str(error)

    # The validator finds these in another order (states before machine.initial, a
    # table's rows before its missing pairs); the report is in file order.
    assert [p.line for p in error.problems] == expected
    assert [p.message.split(" ", 2)[:2] for p in error.problems] == [
        ["unknown", "initial"],
        ["state", "RUNNING"],
        ["missing", "row"],
        ["unknown", "effect"],
        ["row", "(RUNNING,"],
    ]
    assert message.startswith(f"{len(expected)} problems in spec:")
    positions = [message.index(f"{path}:{line}: ") for line in expected]
    assert positions == sorted(positions)


# -- boundaries of the close-code and reason checks --------------------------------

RUNNING_FINISH = 'finish = { next = "DONE", effects = ["emit_close_frame"'


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, True])
def test_row_close_code_that_may_not_be_sent(code: object) -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    literal = "true" if code is True else str(code)
    broken = text.replace("code = 1000,", f"code = {literal},")
    assert broken != text
    with pytest.raises(SpecError) as info:
        loads(broken, "mini.toml")
    [problem] = info.value.problems
    assert problem.line == line_of(broken, RUNNING_FINISH)
    assert "which may not be sent" in problem.message


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1014, 3000, 4999])
def test_row_close_code_that_may_be_sent(code: int) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("code = 1000,", f"code = {code},")
    assert loads(text).row("RUNNING", "finish").code == code


def test_row_reason_limit_counts_utf8_bytes() -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    fits = "\u00e9" * 61 + "x"  # 123 bytes
    assert loads(text.replace('"bye"', f'"{fits}"')).row("RUNNING", "finish").reason == fits
    with pytest.raises(SpecError, match="at most 123 UTF-8 bytes"):
        loads(text.replace('"bye"', f'"{fits}x"'))


# -- what loads -------------------------------------------------------------------


def test_minimal_fixture_loads() -> None:
    spec = load(MINIMAL)
    assert spec.path == str(MINIMAL)
    assert spec.name == "minimal"
    assert spec.state_names == ("START", "RUNNING", "DONE")
    assert spec.event_names == ("begin", "finish", "tick")
    assert spec.initial == "START"
    assert spec.terminal == frozenset({"DONE"})
    assert spec.initial_effects == ("arm:open_timer",)
    assert len(spec.rows) == 9
    finish = spec.row("RUNNING", "finish")
    assert (finish.next, finish.log, finish.code, finish.reason) == ("DONE", "info", 1000, "bye")
    assert finish.effects == ("emit_close_frame", "close_transport", "notify_closed")
    tick = spec.row("START", "tick")
    assert tick.impossible
    assert tick.next is None
    assert tick.effects == ()


def test_shipped_spec_loads_with_every_pair() -> None:
    spec = load(ROOT / "spec" / "connection.toml")
    assert len(spec.states) == 5
    assert spec.initial == "CONNECTING"
    assert spec.terminal == frozenset({"CLOSED"})
    assert len(spec.rows) == len(spec.states) * len(spec.events)
    for state in spec.state_names:
        for event in spec.event_names:
            row = spec.row(state, event)
            assert (row.state, row.event) == (state, event)
            assert (row.next is None) == row.impossible
    assert list(spec.iter_rows()) == [
        spec.row(s, e) for s in spec.state_names for e in spec.event_names
    ]


def test_default_row_expands_to_the_events_it_does_not_list() -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    default_line = line_of(text, 'default = { next = "DONE"')
    spec = load(MINIMAL)
    for event in ("begin", "tick"):
        row = spec.row("DONE", event)
        assert row.from_default
        assert (row.event, row.next, row.effects, row.log) == (event, "DONE", (), "debug")
        assert row.line == default_line
        assert row.note == "terminal: late events are absorbed"
    listed = spec.row("DONE", "finish")
    assert not listed.from_default
    assert listed.effects == ("return:false",)
    assert listed.line == line_of(text, 'finish = { next = "DONE", effects = ["return:false"]')
    assert not any(r.from_default for r in spec.iter_rows() if r.state != "DONE")


def test_shipped_default_row_covers_exactly_the_unlisted_events() -> None:
    path = ROOT / "spec" / "connection.toml"
    text = path.read_text(encoding="utf-8")
    section = text.split("[transitions.CLOSED]", 1)[1]
    listed = set(re.findall(r"^([a-z][a-z0-9_]*) = ", section, flags=re.MULTILINE)) - {"default"}
    spec = load(path)
    from_default = {r.event for r in spec.iter_rows() if r.state == "CLOSED" and r.from_default}
    assert from_default == set(spec.event_names) - listed
    assert from_default
    assert listed


def test_unreadable_spec_names_the_path() -> None:
    missing = FIXTURES / "no_such_spec.toml"
    with pytest.raises(SpecError, match=re.escape(f"{missing}:1: cannot read spec")):
        load(missing)


def test_reserved_names_cover_the_statechart_attributes() -> None:
    reserved = reserved_names()
    for name in ("send", "model", "configuration", "states", "final_states", "initial_state"):
        assert name in reserved
    assert "app_send" not in reserved
