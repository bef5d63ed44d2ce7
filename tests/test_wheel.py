"""The built wheel works outside a checkout.

The wheel is built from this checkout (hatchling, no build isolation: the
``dev`` extra installs it) and installed, without extras, into a fresh virtual
environment in a temporary directory. From a directory with no ``spec/`` above
it, ``wsstate table connection``, ``wsstate diagram connection`` and
``wsstate verify`` must work on the specs the wheel carries, and ``import
wsstate`` must work without python-statemachine or hypothesis installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert not [n for n in names if n.startswith("tests/")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("table", "connection"), "CLOSE_RECEIVED"),
        (("diagram", "connection"), "stateDiagram-v2"),
        (("diagram", "connection", "--format", "dot"), "digraph"),
        (("verify",), "properties hold"),
    ],
)
def test_installed_command_works_outside_a_checkout(
    installed: tuple[Path, Path], args: tuple[str, ...], expected: str
) -> None:
    bin_dir, work = installed
    result = _run(bin_dir / "wsstate", *args, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


def test_installed_unknown_machine_is_a_clear_error(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    result = _run(bin_dir / "wsstate", "table", "nosuchmachine", cwd=work)
    assert result.returncode == 2
    assert "no machine 'nosuchmachine'" in result.stderr
    assert "connection" in result.stderr


def test_installed_runtime_imports_without_the_testing_extra(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    code = (
        "import importlib.util, wsstate\n"
        "assert importlib.util.find_spec('statemachine') is None, 'extra installed'\n"
        "assert importlib.util.find_spec('hypothesis') is None, 'extra installed'\n"
        "print(wsstate.State.OPEN)\n"
    )
    result = _run(bin_dir / "python", "-c", code, cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OPEN"
