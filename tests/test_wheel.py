"""The built wheel works outside a checkout.

The wheel is built from this checkout (hatchling, no build isolation: the
``dev`` extra installs it) and installed, without extras, into a fresh virtual
environment in a temporary directory. From a directory with no ``spec/`` above
it, ``wsstate table connection``, ``wsstate diagram connection`` and
``wsstate verify`` must work on the specs the wheel carries, and ``import
wsstate`` must work without python-statemachine or hypothesis installed.

The same environment then gets the ``starlette`` and ``testing`` extras, FastAPI
and pytest (issue 16, acceptance 1; what ran without them ran first, see
``bare``): ``wsstate fuzz --target`` fuzzes the FastAPI tutorial app served by
uvicorn in another process (by URL) and in-process (``module:app``), and the
pytest plugin runs the plugin example (examples/test_fastapi_endpoint.py: this
is where CI runs it) in a project directory that is not this repository, with a
fixture test of the naive endpoint that fails and whose printed pytest replay
reproduces the failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh environment's bin directory, a working directory outside any checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        dist,
        ROOT,
        cwd=base,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("wsstate-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    install = _run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=base)
    assert install.returncode == 0, install.stdout + install.stderr
    work = base / "elsewhere"
    work.mkdir()
    return bin_dir, work


def test_wheel_carries_both_packages_and_the_specs(installed: tuple[Path, Path]) -> None:
    bin_dir, _ = installed
    [wheel] = (bin_dir.parents[1] / "dist").glob("wsstate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "wsstate_tools/specs/connection.toml" in names
    assert "wsstate/machines/connection.py" in names
    assert "wsstate/py.typed" in names
    assert [n for n in names if n.endswith(".dist-info/licenses/LICENSE")], "no LICENSE"
    assert not [n for n in names if n.startswith("tests/")]


COMMANDS: list[tuple[tuple[str, ...], str]] = [
    (("table", "connection"), "CLOSE_RECEIVED"),
    (("diagram", "connection"), "stateDiagram-v2"),
    (("diagram", "connection", "--format", "dot"), "digraph"),
    (("verify",), "properties hold"),
]
UNKNOWN: tuple[str, ...] = ("table", "nosuchmachine")
IMPORT_PROBE = (
    "import importlib.util, wsstate\n"
    "assert importlib.util.find_spec('statemachine') is None, 'extra installed'\n"
    "assert importlib.util.find_spec('hypothesis') is None, 'extra installed'\n"
    "print(wsstate.State.OPEN)\n"
)


@pytest.fixture(scope="module")
def bare(installed: tuple[Path, Path]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command run while the environment holds the wheel without extras, by name
    (``fuzz_env`` installs extras into the same environment and depends on this fixture,
    so these always ran before, whatever order the tests run in)."""
    bin_dir, work = installed
    results = {
        " ".join(args): _run(bin_dir / "wsstate", *args, cwd=work)
        for args in [a for a, _ in COMMANDS] + [UNKNOWN]
    }
    results["import"] = _run(bin_dir / "python", "-c", IMPORT_PROBE, cwd=work)
    results["fuzz"] = _run(bin_dir / "wsstate", "fuzz", "--minutes", "0.01", cwd=work)
    results["fuzz target"] = _run(
        bin_dir / "wsstate", "fuzz", "--target", "ws://127.0.0.1:1/", "--minutes", "0.01", cwd=work
    )
    return results


@pytest.mark.parametrize(("args", "expected"), COMMANDS)
def test_installed_command_works_outside_a_checkout(
    bare: dict[str, subprocess.CompletedProcess[str]], args: tuple[str, ...], expected: str
) -> None:
    result = bare[" ".join(args)]
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


def test_installed_unknown_machine_is_a_clear_error(
    bare: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = bare[" ".join(UNKNOWN)]
    assert result.returncode == 2
    assert "no machine 'nosuchmachine'" in result.stderr
    assert "connection" in result.stderr


def test_installed_runtime_imports_without_the_testing_extra(
    bare: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = bare["import"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OPEN"


@pytest.mark.parametrize("command", ["fuzz", "fuzz target"])
def test_installed_fuzz_without_the_testing_extra_names_it(
    bare: dict[str, subprocess.CompletedProcess[str]], command: str
) -> None:
    # It was a traceback (ModuleNotFoundError: statemachine), or workers dying one by one.
    result = bare[command]
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pip install 'wsstate[testing]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# --- issue 16, acceptance 1: the endpoint fuzzer and the pytest plugin, installed ----------


@pytest.fixture(scope="module")
def fuzz_env(
    installed: tuple[Path, Path], bare: dict[str, subprocess.CompletedProcess[str]]
) -> tuple[Path, Path]:
    """(bin directory of the fresh environment, now with the wheel's starlette and testing
    extras, FastAPI and pytest; a project directory outside any checkout holding the
    FastAPI tutorial app and the plugin example's test file). One environment for every
    check: the checks without extras ran before (``bare``)."""
    bin_dir, work = installed
    [wheel] = (bin_dir.parents[1] / "dist").glob("wsstate-*.whl")
    fuzz_bin = bin_dir
    install = _run(
        fuzz_bin / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{wheel}[starlette,testing]",
        "fastapi",
        "pytest",
        cwd=work,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    project = work / "project"
    project.mkdir()
    for name in ("tutorial_fastapi.py", "test_fastapi_endpoint.py", "naive_endpoint.py"):
        shutil.copy(ROOT / "examples" / name, project / name)
    (project / "test_naive.py").write_text(
        "from naive_endpoint import naive_app\n\n\n"
        "def test_naive(wsstate_fuzz):\n"
        "    wsstate_fuzz(naive_app, path='/ws')\n"
    )
    return fuzz_bin, project


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_installed_wsstate_fuzz_targets_a_running_server(fuzz_env: tuple[Path, Path]) -> None:
    bin_dir, project = fuzz_env
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    server = subprocess.Popen(
        [
            bin_dir / "python",
            "-m",
            "uvicorn",
            "tutorial_fastapi:app",
            "--port",
            str(port),
            "--ws",
            "websockets-sansio",
            "--log-level",
            "warning",
        ],
        cwd=project,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # the server runs in another process: poll until it listens
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert time.monotonic() < deadline, "uvicorn did not listen within 30 s"
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/ws"
        result = _run(
            bin_dir / "wsstate",
            "fuzz",
            "--target",
            url,
            "--minutes",
            "0.1",
            "--workers",
            "2",
            cwd=project,
        )
    finally:
        server.terminate()
        server.wait(10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"wsstate fuzz: {url} for 0.1 min on 2 worker(s)" in result.stdout
    assert "failures: 0" in result.stdout
    assert re.search(r"examples: [1-9]\d*, steps: [1-9]", result.stdout), result.stdout


def test_installed_wsstate_fuzz_serves_module_app(fuzz_env: tuple[Path, Path]) -> None:
    bin_dir, project = fuzz_env
    result = _run(
        bin_dir / "wsstate", "fuzz", "--target", "tutorial_fastapi:app", "--path", "/ws",
        "--minutes", "0.05", "--workers", "1", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failures: 0" in result.stdout
    assert re.search(r"examples: [1-9]\d*, steps: [1-9]", result.stdout), result.stdout


def test_installed_wsstate_fuzz_without_target_says_it_needs_a_checkout(
    fuzz_env: tuple[Path, Path],
) -> None:
    bin_dir, project = fuzz_env
    result = _run(bin_dir / "wsstate", "fuzz", "--minutes", "0.1", cwd=project)
    assert result.returncode == 2
    assert "only a checkout of wsstate has" in result.stderr


@pytest.fixture(scope="module")
def plugin_run(fuzz_env: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
    """pytest in the project: the plugin example (examples/test_fastapi_endpoint.py, its
    two tests on the FastAPI tutorial) and a fixture test of the naive endpoint."""
    bin_dir, project = fuzz_env
    return _run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)


def test_installed_pytest_plugin_fuzzes_in_another_project(
    plugin_run: subprocess.CompletedProcess[str],
) -> None:
    out = plugin_run.stdout
    assert plugin_run.returncode == 1, out + plugin_run.stderr
    assert "1 failed, 2 passed" in out  # the example passes; the naive endpoint does not
    assert "FAILED test_naive.py::test_naive" in out


def test_installed_pytest_plugin_prints_a_replay_that_reproduces_the_failure(
    fuzz_env: tuple[Path, Path], plugin_run: subprocess.CompletedProcess[str]
) -> None:
    bin_dir, project = fuzz_env
    out = plugin_run.stdout
    assert "EndpointFailure" in out
    # One command, printed once per failure found (Hypothesis may report several
    # distinct failures of one run, each with the run's replay line).
    [replay] = set(re.findall(r"replay: (python -m pytest test_naive.py::test_naive .*)$",
                              out, re.MULTILINE))  # fmt: skip
    assert "--wsstate-seed" in replay
    problems = set(re.findall(r"^E\s+- (.*)$", out, re.MULTILINE))
    assert problems, out
    words = shlex.split(replay)
    # The replay finds one of the failures the run reported. It runs the same
    # examples, but over real sockets the naive endpoint's 20 ms tick races a
    # client that leaves, so which failure shows first can differ between runs
    # (a CI run reported "Exception in ASGI application", its replay "tick
    # failed"): up to three replays, one of which must report one of them.
    replays = []
    for _ in range(3):
        again = _run(bin_dir / "python", *words[1:], "-p", "no:cacheprovider", cwd=project)
        assert again.returncode == 1, again.stdout + again.stderr
        replays.append(again.stdout)
        if problems & set(re.findall(r"^E\s+- (.*)$", again.stdout, re.MULTILINE)):
            break
    else:
        pytest.fail(f"no replay reported one of {sorted(problems)}:\n" + "\n".join(replays))
