"""The layout: the runtime package apart from the tooling, and no import cycle in either.

* ``import wsstate`` loads the runtime only: no python-statemachine, no
  hypothesis, no tooling module (checked in a fresh interpreter, with
  ``-X importtime`` as the issue measured it and with ``sys.modules``);
* the import graph of ``src/`` (every ``import`` statement, at module level or
  inside a function, except those under ``if TYPE_CHECKING:``) has no cycle and
  no edge from the runtime package ``wsstate`` into the tooling package
  ``wsstate_tools``;
* the generators and the spec loader reach no runtime module, so a broken
  generated module can never stop ``wsstate generate`` from repairing it.

The graph checker is tested on small synthetic trees first, so a checker that
stops seeing imports fails here too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
RUNTIME = "wsstate"
TOOLING = "wsstate_tools"
FORBIDDEN_IN_RUNTIME = ("statemachine", "hypothesis", TOOLING)


# -- the graph ------------------------------------------------------------------------


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for sub in ast.walk(child):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def _imports(module: str, is_package: bool, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import statement of ``module``."""
    skip = _type_checking_lines(tree)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, dict[str, int]]:
    """module -> {imported module of the tree: first line}, for the packages under ``root``.

    An import of ``a.b.c`` from outside ``a.b`` also runs ``a/__init__`` and
    ``a/b/__init__``: those packages are edges too.
    """
    files = {
        _module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for name, line in _imports(module, path.name == "__init__.py", tree):
            if name not in files:
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                inside = module == target or module.startswith(target + ".")
                if target in files and target != module and not inside:
                    edges.setdefault(target, line)
        graph[module] = edges
    return graph


def find_cycle(graph: Mapping[str, Mapping[str, int]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def back_imports(graph: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every import from the runtime package into the tooling package."""
    return [
        f"{module} imports {target} (line {line})"
        for module, edges in sorted(graph.items())
        for target, line in sorted(edges.items())
        if module.split(".")[0] == RUNTIME and target.split(".")[0] == TOOLING
    ]


def reachable(graph: Mapping[str, Mapping[str, int]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), {}):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# -- the checker on synthetic trees ----------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_sees_a_back_import_even_inside_a_function(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "wsstate/__init__.py": "",
            "wsstate/core.py": "def f():\n    from wsstate_tools import cli\n",
            "wsstate_tools/__init__.py": "",
            "wsstate_tools/cli.py": "import wsstate.core\n",
        },
    )
    graph = import_graph(root, [RUNTIME, TOOLING])
    assert "wsstate.core imports wsstate_tools.cli (line 2)" in back_imports(graph)
    assert not [b for b in back_imports(graph) if b.startswith("wsstate_tools")]


def test_checker_sees_a_cycle_through_a_package_init(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "t/__init__.py": "",
            "t/gen/__init__.py": "",
            "t/gen/promela.py": "from ..verify.model import X\n",
            "t/verify/__init__.py": "from .report import main\n",
            "t/verify/model.py": "X = 1\n",
            "t/verify/report.py": "def main():\n    from ..gen.promela import render\n",
        },
    )
    cycle = find_cycle(import_graph(root, ["t"]))
    assert cycle is not None
    assert {"t.gen.promela", "t.verify", "t.verify.report"} <= set(cycle)


def test_checker_ignores_type_checking_imports_and_accepts_a_dag(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "p/__init__.py": "from .a import A\n",
            "p/a.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
            ),
            "p/b.py": "from .a import A\nB = A\n",
        },
    )
    assert find_cycle(import_graph(root, ["p"])) is None


# -- the real tree -----------------------------------------------------------------------

GRAPH = import_graph(SRC, [RUNTIME, TOOLING])


def test_the_graph_sees_the_packages() -> None:
    assert "wsstate.connection" in GRAPH["wsstate"]
    assert "wsstate_tools.spec" in reachable(GRAPH, "wsstate_tools.generate")


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_runtime_never_imports_the_tooling() -> None:
    assert back_imports(GRAPH) == []


@pytest.mark.parametrize("start", ["wsstate_tools.generate", "wsstate_tools.spec"])
def test_generators_and_spec_loader_reach_no_runtime_module(start: str) -> None:
    runtime = sorted(m for m in reachable(GRAPH, start) if m.split(".")[0] == RUNTIME)
    assert runtime == [], f"{start} reaches {runtime}: a broken generated file would stop it"


def test_import_wsstate_loads_no_tooling_statemachine_or_hypothesis() -> None:
    code = (
        "import sys, wsstate\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_RUNTIME!r})\n"
        "print('\\n'.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "", f"import wsstate loaded: {result.stdout}"
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "wsstate" in imported, "-X importtime printed no wsstate line: the check saw nothing"
    bad = [name for name in imported if name.split(".")[0] in FORBIDDEN_IN_RUNTIME]
    assert bad == [], f"-X importtime shows {bad}"
