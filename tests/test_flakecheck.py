"""make flake-check's report: a failing run names its test, its steps and its replay."""

from __future__ import annotations

from wsstate_tools.flakecheck import Run

OUTPUT = """\
F.......                                                                 [100%]
E       AssertionError: runtime is CLOSED, model is CLOSING; steps: ['app_close -> CLOSING', \
'app_send -> CLOSING']; runtime took: ['CONNECTING/handshake_ok -> OPEN', \
'OPEN/app_close -> CLOSING', 'CLOSING/close_timeout -> CLOSED']
E       Failing test case: <state machine>
E       state = ServerSide()
E       state.app_close(data=data(...))
E       state.app_send(data=data(...))
E       state.teardown()
E
E       You can reproduce this test case by temporarily adding @reproduce_failure('6.170.17', \
b'AAB') as a decorator on your test function
FAILED tests/generated/test_connection_stateful.py::TestServerSide::runTest - AssertionError
1 failed, 7 passed in 90.00s
"""


def test_a_failing_run_is_reported_with_steps_and_replay() -> None:
    run = Run("3.13.0", 1234, 90.0, 1, OUTPUT)
    assert run.failed
    test = "tests/generated/test_connection_stateful.py::TestServerSide::runTest"
    assert run.failing_tests() == [test]
    report = run.report(".venv-3.13")
    assert "seed 1234" in report
    assert "steps: ['app_close -> CLOSING', 'app_send -> CLOSING']" in report
    assert "CLOSING/close_timeout -> CLOSED" in report
    assert "state.app_close(data=data(...))" in report
    assert "@reproduce_failure('6.170.17'" in report
    assert (
        "replay: WSSTATE_HYPOTHESIS_PROFILE=seeded .venv-3.13/bin/python -m pytest "
        f"-p no:cacheprovider {test} --hypothesis-seed=1234"
    ) in report


def test_a_run_without_a_named_test_shows_its_tail() -> None:
    run = Run("3.11.7", 7, 1800.0, -1, "timed out after 1800 s\nlast line")
    assert run.failed
    assert "| last line" in run.report(".venv")


def test_a_passing_run_is_not_a_failure() -> None:
    assert not Run("3.12.1", 1, 80.0, 0, "8 passed").failed
