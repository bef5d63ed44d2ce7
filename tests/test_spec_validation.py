"""The spec loader and validator: every check, on one small broken spec each.

Each ``fixtures/spec_errors/*.toml`` is a copy of ``fixtures/minimal.toml`` with
one thing broken; the line the validator must report ends with the marker
comment ``# <- error``. The tests find the expected line by searching for that
marker, never by a hard-coded number, so a fixture can be edited freely.
"""

from __future__ import annotations

import re
import subprocess
import sys
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
    "close_code_without_close": "row (RUNNING, tick) sets code/reason but none of its effects "
    "uses them",
    "notify_closed_missing": "row (START, finish) enters terminal DONE without notify_closed",
    "notify_closed_elsewhere": "row (RUNNING, tick) has notify_closed but does not enter a "
    "terminal state",
    "impossible_with_next": "impossible row (START, tick) has next",
    "unknown_row_field": "row (RUNNING, tick) has unknown field(s) colour",
    "bad_state_name": "bad state name 'Running'",
    "bad_event_name": "bad event name 'tick-tock'",
    "multiline_array_comment": "state RUNNING needs a one-line description",
    # unknown tables and keys, section by section
    "unknown_top_level_table": "unknown table [[transition]]",
    "unknown_top_level_table_typo": "unknown table [transitons.DONE]",
    "unknown_top_level_key": "unknown top-level key 'version'",
    "unknown_machine_field": "unknown field machine.initial_state",
    "bad_machine_name": "machine.name 'mini-mal' is not a lower_snake_case identifier",
    "bad_harness": "machine.harness must be a module name, not 'wsstate testing'",
    "state_not_string": "state RUNNING must be a string (its one-line description), not a table",
    "unknown_event_field": "event tick has unknown field(s) every",
    "effect_not_string": "effect transmit_ping must be a string (what the runtime does) or an "
    "inline table, not a number",
    "bad_effect_name": "bad effect name 'send pong'",
    "unknown_effect_field": "effect emit_close_frame has unknown field(s) uses_reason",
    "effect_uses_code_not_bool": "effect emit_close_frame: uses_code must be true or false",
    # timers
    "timer_effect_unknown_timer": "effect arm:close_timer names timer 'close_timer', which "
    "[timers] does not declare",
    "timer_unknown_event": "timer open_timer fires unknown event 'tock'",
    "timer_not_timer_event": "timer open_timer fires begin, a remote event",
    # an operation's outcome
    "outcome_missing": "row (RUNNING, finish) gives the caller of finish no outcome",
    "outcomes_not_local": "event tick is a timer event but declares outcomes",
    "outcomes_unknown_effect": "unknown effect 'return:maybe' in event finish's outcomes",
    "outcomes_not_list": "event finish: outcomes must be a non-empty list of effects",
    "on_terminal_unknown_effect": "unknown effect 'notify_close' in machine.on_terminal",
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
    assert {"CONNECTING", "OPEN", "CLOSING", "CLOSE_RECEIVED", "CLOSED"} <= set(spec.state_names)
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


def test_reserved_names_match_the_installed_statemachine() -> None:
    """The kept list is python-statemachine's: an upgrade that adds an attribute fails here."""
    import statemachine

    from wsstate_tools.spec.reserved import STATEMACHINE_SERIES, probe_reserved_names

    assert statemachine.__version__.startswith(STATEMACHINE_SERIES + "."), (
        f"python-statemachine {statemachine.__version__}: re-check RESERVED_NAMES"
    )
    probed = probe_reserved_names()
    assert probed == reserved_names(), (
        f"missing: {sorted(probed - reserved_names())}, stale: {sorted(reserved_names() - probed)}"
    )


# -- the declarations a machine makes about itself -----------------------------------

SHIPPED = ROOT / "spec" / "connection.toml"


def test_shipped_spec_declares_its_rules() -> None:
    spec = load(SHIPPED)
    assert spec.on_terminal == ("notify_closed",)
    assert spec.code_effects == frozenset({"emit_close_frame", "record_close:timeout"})
    # An effect declared as a table still maps to its doc string.
    assert spec.effects["emit_close_frame"].startswith("Send a Close frame")
    local = {e.name for e in spec.events if e.kind == "local"}
    assert {e.name for e in spec.events if e.outcomes} == local
    assert spec.event("app_send").outcomes == ("transmit", "drop", "raise:InvalidState")
    assert spec.event("app_close").outcomes == ("return:true", "return:false")
    assert all(not e.outcomes for e in spec.events if e.kind != "local")


def _shipped_broken(old: str, new: str) -> tuple[str, int]:
    """The shipped spec's text with ``old`` (on one line) replaced, and that line's number."""
    text = SHIPPED.read_text(encoding="utf-8")
    line = line_of(text, old)
    broken = text.replace(old, new)
    assert broken != text
    return broken, line


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # an operation with no outcome: abort() after close would return nothing
        (
            'app_abort = { next = "CLOSED", effects = ["return:false"]',
            'app_abort = { next = "CLOSED", effects = []',
            "row (CLOSED, app_abort) gives the caller of app_abort no outcome",
        ),
        # entering CLOSED without the closed notification
        (
            'close_timeout = { next = "CLOSED", effects = ["abort_transport", "notify_closed"], '
            'log = "info"',
            'close_timeout = { next = "CLOSED", effects = ["abort_transport"], log = "info"',
            "row (CLOSING, close_timeout) enters terminal CLOSED without notify_closed",
        ),
        # a row code nothing uses
        (
            '"emit_close_frame", "arm:close_timer", "record_close:timeout"], log = "warning", '
            "code = 1011",
            '"arm:close_timer"], log = "warning", code = 1011',
            "row (OPEN, keepalive_timeout) sets code/reason but none of its effects uses them",
        ),
    ],
)
def test_shipped_spec_declarations_are_enforced(old: str, new: str, message: str) -> None:
    broken, line = _shipped_broken(old, new)
    with pytest.raises(SpecError) as info:
        loads(broken, "connection.toml")
    [problem] = info.value.problems
    assert (problem.line, problem.message) == (line, message)


def test_rules_apply_only_when_declared() -> None:
    """Without on_terminal or a uses_code effect, a machine has no such rule to break."""
    text = MINIMAL.read_text(encoding="utf-8")
    undeclared = (
        text.replace('on_terminal = ["notify_closed"]\n', "")
        .replace(", uses_code = true", "")
        .replace('"abort_transport", "notify_closed"]', '"abort_transport"]')
        .replace('"emit_close_frame", "close_transport"', '"close_transport"')
    )
    spec = loads(undeclared)
    assert spec.on_terminal == ()
    assert spec.code_effects == frozenset()
    with pytest.raises(SpecError, match="enters terminal DONE without notify_closed"):
        loads(undeclared.replace("[machine]\n", '[machine]\non_terminal = ["notify_closed"]\n'))


@pytest.mark.parametrize("name", ["class", "Minimal", "2fa", "mini.mal", "mini mal"])
def test_machine_name_must_be_a_module_name(name: str) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace('name = "minimal"', f'name = "{name}"')
    with pytest.raises(SpecError) as info:
        loads(text)
    [problem] = info.value.problems
    assert problem.message == f"machine.name {name!r} is not a lower_snake_case identifier"
    assert problem.line == line_of(text, "name = ")


def test_the_loader_imports_neither_the_runtime_nor_its_generated_tables() -> None:
    code = (
        "import sys; from wsstate_tools.spec import load; "
        f"load({str(SHIPPED)!r}); "
        "print(sorted(m for m in sys.modules if m == 'wsstate' or m.startswith('wsstate.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_spec_modules_import_in_layer_order() -> None:
    """model and reserved import nothing of the package; parse only model; validate model,
    parse and reserved."""
    package = ROOT / "src" / "wsstate_tools" / "spec"
    allowed = {
        "model": set(),
        "reserved": set(),
        "parse": {"model"},
        "validate": {"model", "parse", "reserved"},
        "loader": {"model", "parse", "validate"},
    }
    for module, deps in allowed.items():
        source = (package / f"{module}.py").read_text(encoding="utf-8")
        imported = set(re.findall(r"^from \.(\w+) import", source, flags=re.MULTILINE))
        assert imported <= deps, (module, imported - deps)
