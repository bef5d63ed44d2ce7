"""The endpoint-fuzzing examples (issue 16, acceptance 2) and ``wsstate fuzz --target``.

* examples/test_fastapi_endpoint.py, run by pytest in a subprocess with the
  plugin: the FastAPI tutorial's guarded endpoint passes.
* examples/naive_endpoint.py: the naive (Solara 1.44-style) endpoint fails
  with a readable counterexample (events, wire, the ERROR record, seed,
  replay command), the printed replay command reproduces the failure, and the
  guarded twin passes.
* ``wsstate fuzz --target``: a campaign finds the naive endpoint's failure and
  prints a replay command; a bad target or a campaign without a checkout is a
  clear error.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(
    args: list[str], *, cwd: Path = ROOT, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )


def _wsstate(command: str) -> list[str]:
    """A printed ``wsstate ...`` command line, run with this interpreter."""
    words = shlex.split(command)
    assert words[0] == "wsstate", command
    return [sys.executable, "-m", "wsstate_tools", *words[1:]]


def test_the_plugin_example_passes_on_the_fastapi_tutorial() -> None:
    result = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/test_fastapi_endpoint.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


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


def test_wsstate_fuzz_target_finds_the_naive_endpoint_failure() -> None:
    result = _run(
        _wsstate(
            "wsstate fuzz --target naive_endpoint:naive_app --app-dir examples --path /ws "
            "--minutes 0.05 --workers 1"
        )
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "fuzz summary after" in out
    assert re.search(r"failures: [1-9]", out)
    assert "replay: wsstate fuzz --target naive_endpoint:naive_app --app-dir examples" in out
    assert "first failure in full:" in out


def test_wsstate_fuzz_target_passes_the_guarded_endpoint_on_two_workers() -> None:
    result = _run(
        _wsstate(
            "wsstate fuzz --target naive_endpoint:guarded_app --app-dir examples --path /ws "
            "--minutes 0.1 --workers 2"
        )
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "on 2 worker(s)" in out
    assert "failures: 0" in out
    [steps] = re.findall(r"examples: \d+, steps: (\d+)", out)
    assert int(steps) > 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://127.0.0.1:1/", "not a ws:// URL"),
        ("wss://127.0.0.1:1/", "wss:// is not supported"),
        ("nosuchmodule_x:app", "cannot import 'nosuchmodule_x'"),
        ("just-a-word", "neither a ws:// URL nor 'module:attribute'"),
    ],
)
def test_wsstate_fuzz_refuses_a_bad_target(target: str, message: str) -> None:
    result = _run(_wsstate(f"wsstate fuzz --target {target} --minutes 0.1"))
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_wsstate_fuzz_refuses_bad_workers(workers: str) -> None:
    result = _run(_wsstate(f"wsstate fuzz --workers {workers}"))
    assert result.returncode == 2
    assert "--workers" in result.stderr


def test_wsstate_fuzz_without_target_outside_a_checkout_says_it_needs_one(
    tmp_path: Path,
) -> None:
    result = _run(_wsstate(f"wsstate --root {tmp_path} fuzz --minutes 0.1"), cwd=tmp_path)
    assert result.returncode == 2
    assert "only a checkout of wsstate has" in result.stderr
    assert "--target" in result.stderr


def test_the_plugin_prints_a_pytest_replay_that_reproduces_the_failure(tmp_path: Path) -> None:
    (tmp_path / "test_naive.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "from naive_endpoint import naive_app\n\n\n"
        "def test_naive(wsstate_fuzz):\n"
        "    wsstate_fuzz(naive_app, path='/ws')\n"
    )
    pytest_command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    first = _run([*pytest_command, "test_naive.py"], cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "EndpointFailure" in first.stdout
    [replay] = re.findall(r"replay: (python -m pytest test_naive.py::test_naive .*)$",
                          first.stdout, re.MULTILINE)  # fmt: skip
    assert "--wsstate-seed" in replay
    problem = re.findall(r"^E\s+- (.*)$", first.stdout, re.MULTILINE)[0]
    words = shlex.split(replay)
    again = _run([sys.executable, *words[1:], "-p", "no:cacheprovider"], cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert problem in again.stdout


def test_the_marker_needs_one_target(tmp_path: Path) -> None:
    (tmp_path / "test_marker.py").write_text(
        "import pytest\n\n\n@pytest.mark.wsstate_fuzz()\ndef test_nothing():\n    pass\n"
    )
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path)
    assert result.returncode != 0
    assert "@pytest.mark.wsstate_fuzz takes one target" in result.stdout + result.stderr
