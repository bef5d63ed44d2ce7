"""Turn every machine spec into code and pictures: ``wsstate generate`` and ``wsstate check``.

Every ``spec/<name>.toml`` of a project is a machine. For each, the generators
registered in :data:`GENERATORS` write (paths relative to the project root):

* ``src/wsstate/machines/<name>.py``: the runtime's enums and frozen ``TABLE``
  (:mod:`.tables`; standard library only);
* ``src/wsstate/testing/charts/<name>.py``: the python-statemachine reference
  model (:mod:`.chart`);
* ``diagrams/<name>.mmd`` and ``diagrams/<name>.dot`` (:mod:`.diagrams`);
* ``spec/generated/<name>.pml``: the Promela model for SPIN (:mod:`.promela`);
* ``tests/generated/test_<name>_stateful.py`` for a machine that names a
  stateful harness (:mod:`.stateful`);
* ``src/wsstate/machines/<name>_retry.py`` for a machine with a retry
  classification table, ``spec/retry/<name>.toml`` (:mod:`wsstate_tools.retry`).

Nothing here imports the runtime package or a generated module: the generators
read the specs only, so ``wsstate generate`` repairs any generated file, however
broken. Output is deterministic: declaration order from the spec, no timestamps,
no ids, formatted as committed. :func:`check` renders everything in memory and
returns a unified diff for each committed file that differs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from ..paths import spec_paths
from ..retry import outputs as retry_outputs
from ..spec import Spec, load
from .chart import render_chart
from .common import REGENERATE, Output, header
from .diagrams import render_dot, render_mermaid
from .promela import render as render_promela
from .stateful import render_stateful_tests, stateful_tests_path
from .tables import render_table

__all__ = [
    "GENERATORS",
    "REGENERATE",
    "Generator",
    "Output",
    "check",
    "header",
    "relative",
    "render_all",
    "render_machine",
    "write",
]


@dataclass(frozen=True, slots=True)
class Generator:
    """One kind of generated file: where it goes for a machine, and how it is rendered."""

    path: Callable[[Spec], Path]
    render: Callable[[Spec], str]
    applies: Callable[[Spec], bool] = lambda spec: True


#: Every kind of generated file, for every machine.
GENERATORS: Final[tuple[Generator, ...]] = (
    Generator(lambda s: Path(f"src/wsstate/machines/{s.name}.py"), render_table),
    Generator(lambda s: Path(f"src/wsstate/testing/charts/{s.name}.py"), render_chart),
    Generator(lambda s: Path(f"diagrams/{s.name}.mmd"), render_mermaid),
    Generator(lambda s: Path(f"diagrams/{s.name}.dot"), render_dot),
    Generator(lambda s: Path(f"spec/generated/{s.name}.pml"), render_promela),
    Generator(stateful_tests_path, render_stateful_tests, lambda s: s.harness is not None),
)


def relative(spec: Spec, root: Path) -> Spec:
    """``spec`` with its path made relative to ``root`` (as generated headers show it)."""
    try:
        rel = Path(spec.path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return spec
    return replace(spec, path=rel)


def render_machine(spec: Spec) -> list[Output]:
    """Every generated file of one machine, in memory."""
    return [Output(g.path(spec), g.render(spec)) for g in GENERATORS if g.applies(spec)]


def render_all(root: Path) -> list[Output]:
    """Every generated file of every machine of the project at ``root``, in memory."""
    outputs: list[Output] = []
    for path in spec_paths(root):
        # Paths in headers are relative to the root, whatever the working directory.
        outputs.extend(render_machine(relative(load(path), root)))
    # Classification tables beside the machines (spec/retry/*.toml, wsstate_tools.retry).
    outputs.extend(Output(path, text) for path, text in retry_outputs(root))
    return sorted(outputs, key=lambda o: o.path.as_posix())


def write(root: Path) -> list[Path]:
    """Write every generated file under ``root``; return the paths that changed."""
    changed = []
    for out in render_all(root):
        target = root / out.path
        old = target.read_bytes() if target.exists() else None
        if old != out.text.encode("utf-8"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(out.text, encoding="utf-8", newline="\n")
            changed.append(out.path)
    return changed


def check(root: Path) -> list[str]:
    """Unified diffs (committed -> regenerated) of every stale generated file; empty if in sync.

    Files are compared byte for byte: a committed file that differs only in line
    endings is stale too.
    """
    diffs = []
    for out in render_all(root):
        target = root / out.path
        name = out.path.as_posix()
        if not target.exists():
            diffs.append(f"--- {name} is missing: run `{REGENERATE}`\n")
            continue
        raw = target.read_bytes()
        if raw == out.text.encode("utf-8"):
            continue
        old = raw.decode("utf-8", errors="replace")
        if old.replace("\r\n", "\n") == out.text:
            diffs.append(f"--- {name}: line endings differ from the rendered file (use LF)\n")
            continue
        diff = difflib.unified_diff(
            old.splitlines(keepends=True),
            out.text.splitlines(keepends=True),
            fromfile=f"{name} (committed)",
            tofile=f"{name} (regenerated)",
        )
        diffs.append("".join(diff))
    return diffs
