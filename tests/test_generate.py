"""The generator and the command line: deterministic output, ``wsstate check``, headers, help.

``wsstate check`` and ``wsstate generate`` run as real subprocesses
(``python -m wsstate_tools``) against a temporary copy of the project, so the tests
never touch the checkout's files.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wsstate_tools import cli
from wsstate_tools.generate import check, render_all, write
from wsstate_tools.spec import load

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = Path("spec/connection.toml")
GENERATED = sorted(o.path.as_posix() for o in render_all(ROOT))


def wsstate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wsstate_tools --root ROOT ARGS...``."""
    return subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's spec, sources, diagrams and every generated file."""
    root = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("spec", "src", "diagrams"):
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    for path in GENERATED:  # renderers may write outside the directories above
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, root / path)
    # Start in sync whatever the checkout's state (test_check_passes_on_the_committed_tree
    # covers that), so each test sees only the change it makes.
    write(root)
    assert check(root) == []
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {path: (root / path).read_bytes() for path in GENERATED}


# -- determinism ------------------------------------------------------------------


def test_render_all_is_deterministic() -> None:
    first = render_all(ROOT)
    second = render_all(ROOT)
    assert [o.path.as_posix() for o in first] == GENERATED
    assert [(o.path, o.text.encode()) for o in first] == [(o.path, o.text.encode()) for o in second]


def test_render_all_does_not_depend_on_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = render_all(ROOT)
    monkeypatch.chdir(tmp_path)
    assert render_all(ROOT) == expected


def test_generate_twice_gives_identical_files(project: Path) -> None:
    (project / "diagrams" / "connection.mmd").unlink()
    (project / "src" / "wsstate" / "machines" / "connection.py").write_text(
        "# stale\n", encoding="utf-8"
    )

    first = wsstate(project, "generate")
    assert first.returncode == 0, first.stderr
    assert "wrote diagrams/connection.mmd" in first.stdout
    assert "wrote src/wsstate/machines/connection.py" in first.stdout
    after_first = snapshot(project)

    second = wsstate(project, "generate")
    assert second.returncode == 0, second.stderr
    assert "generated files are up to date" in second.stdout
    assert snapshot(project) == after_first


def test_committed_files_are_the_rendered_bytes() -> None:
    for out in render_all(ROOT):
        assert (ROOT / out.path).read_bytes() == out.text.encode("utf-8"), out.path


# -- wsstate check ----------------------------------------------------------------


def test_check_passes_on_the_committed_tree() -> None:
    result = wsstate(ROOT, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every generated file matches the spec" in result.stdout
    assert check(ROOT) == []


def test_check_fails_with_a_diff_when_a_generated_file_is_edited(project: Path) -> None:
    target = project / "src" / "wsstate" / "machines" / "connection.py"
    text = target.read_text(encoding="utf-8")
    edited = text.replace('"the hot path: the message goes out"', '"hand-edited"')
    assert edited != text
    target.write_text(edited, encoding="utf-8")

    result = wsstate(project, "check")
    assert result.returncode == 1
    assert "--- src/wsstate/machines/connection.py (committed)\n" in result.stdout
    assert "+++ src/wsstate/machines/connection.py (regenerated)\n" in result.stdout
    assert "\n@@ " in result.stdout
    assert '\n-            "hand-edited",\n' in result.stdout
    assert '\n+            "the hot path: the message goes out",\n' in result.stdout
    assert "1 generated file(s) differ" in result.stderr


def test_check_fails_with_a_diff_when_the_spec_changes(project: Path) -> None:
    spec = project / SPEC_PATH
    text = spec.read_text(encoding="utf-8")
    changed = text.replace('note = "ping goes out"', 'note = "a ping goes out"')
    assert changed != text
    spec.write_text(changed, encoding="utf-8")

    result = wsstate(project, "check")
    assert result.returncode == 1
    assert "--- src/wsstate/machines/connection.py (committed)\n" in result.stdout
    assert '\n-            "ping goes out",\n' in result.stdout
    assert '\n+            "a ping goes out",\n' in result.stdout
    assert "run `wsstate generate`" in result.stderr


def test_check_fails_when_a_spec_change_reaches_the_diagrams(project: Path) -> None:
    spec = project / SPEC_PATH
    text = spec.read_text(encoding="utf-8")
    changed = text.replace('effects = ["transmit_ping"]', 'effects = ["transmit_ping", "read"]')
    assert changed != text
    spec.write_text(changed, encoding="utf-8")

    result = wsstate(project, "check")
    assert result.returncode == 1
    for path in (
        "src/wsstate/machines/connection.py",
        "diagrams/connection.mmd",
        "diagrams/connection.dot",
    ):
        assert f"--- {path} (committed)\n" in result.stdout
    assert "+    OPEN --> OPEN: app_ping / transmit_ping, read\n" in result.stdout


@pytest.mark.parametrize("path", GENERATED)
def test_check_fails_when_a_generated_file_is_deleted(project: Path, path: str) -> None:
    (project / path).unlink()
    result = wsstate(project, "check")
    assert result.returncode == 1
    assert f"--- {path} is missing" in result.stdout
    assert "1 generated file(s) differ" in result.stderr


def test_check_reports_a_broken_spec_with_exit_2(project: Path) -> None:
    spec = project / SPEC_PATH
    spec.write_text(
        spec.read_text(encoding="utf-8").replace('"transmit_ping"', '"transmit_pong"'),
        encoding="utf-8",
    )
    result = wsstate(project, "check")
    assert result.returncode == 2
    assert "unknown effect 'transmit_pong'" in result.stderr
    assert "spec/connection.toml:" in result.stderr


@pytest.mark.parametrize("path", GENERATED)
def test_generate_repairs_a_generated_file_with_garbage_appended(project: Path, path: str) -> None:
    """The tooling never imports a generated module: a broken one cannot stop its repair."""
    target = project / path
    target.write_text(target.read_text(encoding="utf-8") + "\n)]} garbage (((\n")
    assert wsstate(project, "check").returncode == 1
    repaired = wsstate(project, "generate")
    assert repaired.returncode == 0, repaired.stderr
    assert f"wrote {path}" in repaired.stdout
    after = wsstate(project, "check")
    assert after.returncode == 0, after.stdout + after.stderr


def test_generate_repairs_a_module_the_runtime_imports_when_the_runtime_is_the_copy(
    project: Path,
) -> None:
    # The command line loaded the bench, which imported wsstate, which imported the
    # broken module: a spec change that adds a name the runtime needs could not be
    # generated (ImportError before any work).
    target = project / "src/wsstate/machines/client_retry.py"
    target.write_text("raise SystemExit('broken')\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "--root", str(project), "generate"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
        check=False,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )
    assert result.returncode == 0, result.stderr
    assert "wrote src/wsstate/machines/client_retry.py" in result.stdout


def test_generate_repairs_every_generated_file_broken_at_once(project: Path) -> None:
    for path in GENERATED:
        (project / path).write_text("raise SystemExit('broken')\n(((\n", encoding="utf-8")
    repaired = wsstate(project, "generate")
    assert repaired.returncode == 0, repaired.stderr
    assert sorted(line.removeprefix("wrote ") for line in repaired.stdout.splitlines()) == GENERATED
    assert wsstate(project, "check").returncode == 0


# -- headers ------------------------------------------------------------------------


def _assert_header(path: str, text: str) -> None:
    lines = text.splitlines()[:3]
    prefix = lines[0].split("GENERATED FILE", 1)[0]
    assert prefix.strip() in {"#", "//", "%%"}, (path, lines[0])
    # Every machine's files name their own spec (spec/<name>.toml, or a table beside it).
    source = re.fullmatch(rf"{re.escape(prefix)}Source: (spec/[\w/]+\.toml)", lines[1])
    assert source, (path, lines[1])
    assert lines == [
        f"{prefix}GENERATED FILE - DO NOT EDIT.",
        f"{prefix}Source: {source.group(1)}",
        f"{prefix}Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.",
    ], path


@pytest.mark.parametrize("path", GENERATED)
def test_committed_generated_file_starts_with_the_header(path: str) -> None:
    _assert_header(path, (ROOT / path).read_text(encoding="utf-8"))


def test_rendered_files_start_with_the_header() -> None:
    for out in render_all(ROOT):
        _assert_header(out.path.as_posix(), out.text)


# -- the command line ----------------------------------------------------------------


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def test_the_subcommands_are_the_documented_ones() -> None:
    assert {"generate", "check", "diagram", "table", "verify", "demo"} <= set(_subcommands())


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: wsstate")
    for name in _subcommands():
        assert name in out


@pytest.mark.parametrize("command", _subcommands())
def test_subcommand_help_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: wsstate {command}")


def test_python_m_wsstate_tools_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: wsstate")


def test_console_script_help() -> None:
    script = Path(sys.executable).with_name("wsstate")
    assert script.exists(), "the wsstate console script is not installed (pip install -e .)"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: wsstate")


def test_table_prints_every_state_and_event(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(ROOT), "table"]) == 0
    out = capsys.readouterr().out
    spec = load(ROOT / SPEC_PATH)
    for state in spec.state_names:  # one block per state, headed by its name
        assert re.search(rf"^{state}\b", out, flags=re.MULTILINE), state
    for event in spec.event_names:
        assert re.search(rf"\b{event}\b", out), event


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_diagram_prints_every_state(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(ROOT), "diagram", "--format", fmt]) == 0
    out = capsys.readouterr().out
    for name in load(ROOT / SPEC_PATH).state_names:
        assert name in out
    committed = {"dot": "diagrams/connection.dot", "mermaid": "diagrams/connection.mmd"}[fmt]
    # The body is the committed diagram's. (The header's Source line is not compared:
    # the command names the spec by the path it loaded, which is absolute under --root.)
    body = (ROOT / committed).read_text(encoding="utf-8").splitlines()[3:]
    assert out.splitlines()[3:] == body
