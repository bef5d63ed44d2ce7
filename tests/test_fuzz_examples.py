"""The endpoint-fuzzing examples (issue 16, acceptance 2) and ``wsstate fuzz --target``.

* examples/test_fastapi_endpoint.py runs in tests/test_wheel.py: with the
  installed wheel, in a project outside the checkout, next to a fixture test of
  the naive endpoint whose printed pytest replay reproduces its failure; here,
  the marker without a target is a usage error.
* examples/naive_endpoint.py: the naive (Solara 1.44-style) endpoint fails
  with a readable counterexample (events, wire, the ERROR record, seed,
  replay command), the printed replay command reproduces the failure, and the
  guarded twin passes.
* ``wsstate fuzz --target``: a campaign on two workers finds the naive
  endpoint's failure, with one display and one summary, and prints a replay
  command; a bad option or a campaign without a checkout is a clear error.
* ``wsstate fuzz --machine NAME``: a campaign of each machine's generated
  stateful tests, its coverage per role in the summary; a bug seeded into the
  Redis link is reported with a replay command naming the machine, and the
  replay reproduces it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.coverage import counted_apart, uncounted

from wsstate import RedisHub

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(
    args: list[str], *, cwd: Path = ROOT, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def _wsstate(command: str) -> list[str]:
    """A printed ``wsstate ...`` command line, run with this interpreter."""
    words = shlex.split(command)
    assert words[0] == "wsstate", command
    return [sys.executable, "-m", "wsstate_tools", *words[1:]]


def test_the_naive_endpoint_fails_readably_and_its_replay_reproduces_it() -> None:
    result = _run([sys.executable, str(EXAMPLES / "naive_endpoint.py"), "5"])
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "naive endpoint: FAILED (as expected)" in out
    counterexample = out.split("naive endpoint: FAILED (as expected)")[1].split("guarded")[0]
    assert "events:\n  1. c1: open" in counterexample
    assert "wire when the problem was seen" in counterexample
    assert re.search(r"c\d: client sent .*; server sent .*; client TCP .*, server TCP ", out)
    assert "ERROR uvicorn.error: Exception in ASGI application" in counterexample
    # the application's line that raised, not only the library's
    assert re.search(r"called from naive_endpoint\.py:\d+ in naive_\w+: ", counterexample)
    assert "seed: 5" in counterexample
    assert "guarded endpoint: passed, 20 examples" in out
    [replay] = re.findall(r"^replay: (.*)$", counterexample, re.MULTILINE)
    assert replay.startswith("wsstate fuzz --target naive_endpoint:naive_app --app-dir ")
    assert "--replay 5" in replay
    again = _run(_wsstate(replay), cwd=Path("/"))  # from anywhere: --app-dir finds it
    assert again.returncode == 1, again.stdout + again.stderr
    assert "replay seed 5: FAILED" in again.stdout
    first_problem = counterexample.split("\n  - ")[1].splitlines()[0]
    assert first_problem in again.stdout


def test_wsstate_fuzz_target_on_two_workers_finds_the_naive_endpoint_failure() -> None:
    """One campaign on two processes: one display fed by both, one summary, the failure
    with its replay command. (That a correct endpoint passes a campaign on two workers:
    tests/test_wheel.py, with the installed package; the guarded twin passes the same
    programs in the naive example above.)"""
    result = _run(
        _wsstate(
            "wsstate fuzz --target naive_endpoint:naive_app --app-dir examples --path /ws "
            "--minutes 0.1 --workers 2"
        )
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "for 0.1 min on 2 worker(s)" in out
    progress = re.findall(r"^\[ *[\d.]+s\] workers (\d) ", out, re.MULTILINE)
    assert "2" in progress, out  # both workers' progress in one line
    assert out.count("fuzz summary after") == 1
    [by_worker] = re.findall(r"^  steps per second by worker: (.*)$", out, re.MULTILINE)
    assert re.fullmatch(r"worker 0: [\d.]+, worker 1: [\d.]+", by_worker), by_worker
    assert re.search(r"failures: [1-9]", out)
    assert "replay: wsstate fuzz --target naive_endpoint:naive_app --app-dir examples" in out
    assert "first failure in full:" in out


def _cli(command: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """A ``wsstate ...`` command line run in this process: (exit status, stderr). Usage
    errors are found before anything is served, so no subprocess is needed."""
    from wsstate_tools.cli import main

    words = shlex.split(command)
    assert words[0] == "wsstate", command
    capsys.readouterr()
    try:
        status = main(words[1:])
    except SystemExit as exit:  # argparse's own errors
        status = int(exit.code or 0)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--target http://127.0.0.1:1/", "not a ws:// URL"),
        ("--target wss://127.0.0.1:1/", "wss:// is not supported"),
        ("--target nosuchmodule_x:app", "cannot import 'nosuchmodule_x'"),
        ("--target just-a-word", "neither a ws:// URL nor 'module:attribute'"),
        ("--target ws://127.0.0.1:1/ --path /ws", "--path is for module:attribute targets"),
        ("--target wsstate:guard --path ws", "--path must start with '/', not 'ws'"),
        ("--target wsstate:guard --settle nan", "--settle: must be a finite number"),
        ("--target wsstate:guard --connections 0", "--connections: must be at least 1"),
        ("--target wsstate:guard --kind http", "--kind: invalid choice"),
        ("--workers 0", "--workers: must be at least 1"),
        ("--workers -1", "--workers: must be at least 1"),
        ("--workers two", "--workers: not an integer"),
        ("--minutes inf", "--minutes: must be a finite number above 0, not inf"),
        ("--machine bogus", "--machine: no machine 'bogus' with generated stateful tests"),
        ("--machine link --role server", "--role: unknown role 'server' of the link machine"),
        ("--role bogus", "--role: unknown role 'bogus' of the connection machine"),
        ("--machine link --role both", "--role both: the link machine's harness has no server"),
        ("--target ws://127.0.0.1:1/ --machine link", "--machine: for the generated stateful"),
        ("--target ws://127.0.0.1:1/ --role client", "--role: for the generated stateful"),
    ],
)
def test_wsstate_fuzz_refuses_bad_options_before_anything_runs(
    options: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = _cli(f"wsstate fuzz --minutes 0.1 {options}", capsys)
    assert status == 2
    assert message in err


def _machines_with_tests() -> list[str]:
    from wsstate_tools.paths import spec_paths
    from wsstate_tools.spec import loader

    return [p.stem for p in spec_paths(ROOT) if loader.load(p).harness is not None]


def test_every_machine_with_a_harness_has_a_campaign() -> None:
    assert set(_machines_with_tests()) == {"connection", "client", "session", "link"}


@pytest.mark.parametrize("machine", _machines_with_tests())
def test_wsstate_fuzz_runs_each_machines_generated_tests(
    machine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    from wsstate_tools.cli import main
    from wsstate_tools.paths import spec_path
    from wsstate_tools.spec import loader

    harness = importlib.import_module(str(loader.load(spec_path(machine, ROOT)).harness))
    roles = ("server", "client") if machine == "connection" else tuple(harness.ROLES)
    capsys.readouterr()
    with counted_apart():  # the counts the summary prints are this campaign's own
        status = main(
            shlex.split(
                f"--root {ROOT} fuzz --machine {machine} --minutes 0.03 --workers 1 "
                "--examples 2 --steps 4"
            )
        )
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"generated stateful tests of the {machine} machine ({', '.join(roles)})" in out
    assert re.search(r"examples: [1-9]\d*, steps: [1-9]", out), out
    coverage = re.search(r"transition coverage: (.*)", out)
    assert coverage is not None, out
    for role in roles:  # each role's pairs seen, out of its drivable ones
        drivable = len(harness.drivable_pairs(role))
        assert re.search(rf"\b{re.escape(role)} [1-9]\d*/{drivable}\b", coverage[1]), out
    assert "failures: 0" in out


def test_a_failing_link_campaign_names_the_machine_in_its_replay(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    start = RedisHub.start

    def start_says_no(self: RedisHub) -> bool:  # seeded: the call that started it says False
        start(self)
        return False

    monkeypatch.setattr(RedisHub, "start", start_says_no)
    capsys.readouterr()
    with uncounted():  # a seeded bug's run: not the link's coverage
        _failing_campaign_and_replay(capsys, monkeypatch, start)


def _failing_campaign_and_replay(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    start: Callable[[RedisHub], bool],
) -> None:
    from wsstate_tools.cli import main

    status = main(shlex.split(f"--root {ROOT} fuzz --machine link --minutes 0.02 --workers 1"))
    out = capsys.readouterr().out
    assert status == 1, out
    replay = re.search(r"replay: (wsstate fuzz --machine link --replay \d+ --role redis .*)", out)
    assert replay is not None, out
    # The replay command runs the same chunk again and fails the same way, ...
    status = main(["--root", str(ROOT), *shlex.split(replay[1])[1:]])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "FAILED" in out
    # ... and passes once the bug is gone.
    monkeypatch.setattr(RedisHub, "start", start)
    assert main(["--root", str(ROOT), *shlex.split(replay[1])[1:]]) == 0


def test_wsstate_fuzz_without_target_outside_a_checkout_says_it_needs_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, err = _cli(f"wsstate --root {tmp_path} fuzz --minutes 0.1", capsys)
    assert status == 2
    assert "only a checkout of wsstate has" in err
    assert "--target" in err


def test_the_marker_needs_one_target(tmp_path: Path) -> None:
    (tmp_path / "test_marker.py").write_text(
        "import pytest\n\n\n@pytest.mark.wsstate_fuzz()\ndef test_nothing():\n    pass\n"
    )
    result = _run(PYTEST, cwd=tmp_path)
    assert result.returncode != 0
    assert "@pytest.mark.wsstate_fuzz takes one target" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--wsstate-examples", "0", "must be at least 1 (0 would run nothing), got 0"),
        ("--wsstate-steps", "-2", "must be at least 1 (0 would run nothing), got -2"),
        ("--wsstate-examples", "many", "expected a whole number, got 'many'"),
    ],
)
def test_the_plugins_sizes_are_refused_when_pytest_reads_them(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    """A size that would fuzz nothing is a usage error of the command line (exit 4), not a
    failure of each test at its fuzz() call."""
    (tmp_path / "test_plain.py").write_text("def test_nothing():\n    pass\n")
    result = _run([*PYTEST, option, value], cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"argument {option}: {message}" in result.stderr
