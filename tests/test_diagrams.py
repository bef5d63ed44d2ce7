"""The committed diagrams draw the whole table: every state, every possible row.

``diagrams/connection.mmd`` (Mermaid) and ``diagrams/connection.dot`` (Graphviz)
are parsed into nodes and labelled edges. Every row of the spec whose event can
occur must be an edge from its state to its next state, self-loops included,
labelled with its event (or the ``default:`` group listing it) and its effects,
in order; and every edge must be such a row. The initial arrow and the terminal
markers must be there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wsstate_tools.generate.diagrams import render_dot, render_mermaid
from wsstate_tools.spec import Spec, load

ROOT = Path(__file__).resolve().parents[1]
SPEC = load(ROOT / "spec" / "connection.toml")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass
class Edge:
    source: str
    target: str
    events: list[str]
    effects: list[str]
    default_group: bool


@dataclass
class Diagram:
    nodes: set[str] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)
    initial: list[tuple[str, str]] = field(default_factory=list)  # (state, label)
    terminals: set[str] = field(default_factory=set)


def parse_label(source: str, target: str, label: str) -> Edge:
    """``event / fx1, fx2`` or ``default: e1 e2 / fx1`` (no ``/`` when there is no effect)."""
    events_part, _, effects_part = label.partition(" / ")
    group = events_part.startswith("default:")
    events = events_part.removeprefix("default:").split() if group else [events_part.strip()]
    effects = [e.strip() for e in effects_part.split(",")] if effects_part else []
    return Edge(source, target, events, effects, group)


def parse_mermaid(text: str) -> Diagram:
    d = Diagram()
    # Colons in labels are written #58; (Mermaid's entity): a raw one is a syntax error.
    lines = [line.strip() for line in text.splitlines()]
    for line in lines:
        if "-->" in line:
            assert ":" not in line.split(":", 1)[-1], f"raw colon in a Mermaid label: {line!r}"
    lines = [line.replace("#58;", ":") for line in lines]
    assert "stateDiagram-v2" in lines
    for line in lines:
        if not line or line.startswith("%%") or line in {"stateDiagram-v2", "direction TB"}:
            continue
        if m := re.fullmatch(rf"\[\*\] --> ({_NAME})(?:: (.*))?", line):
            d.initial.append((m[1], m[2] or ""))
        elif m := re.fullmatch(rf"({_NAME}) --> \[\*\]", line):
            d.terminals.add(m[1])
        elif m := re.fullmatch(rf"({_NAME}) --> ({_NAME}): (.+)", line):
            d.edges.append(parse_label(m[1], m[2], m[3]))
        elif m := re.fullmatch(rf"({_NAME}): (.+)", line):
            d.nodes.add(m[1])
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    return d


def parse_dot(text: str) -> Diagram:
    d = Diagram()
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and not line.startswith("//")]
    assert body[0].startswith("digraph ")
    assert body[0].endswith("{")
    assert body[-1] == "}"
    for line in body[1:-1]:
        if line.startswith(("rankdir=", "node [", "__start [")):
            continue
        if m := re.fullmatch(rf'__start -> "({_NAME})" \[label="([^"]*)"\];', line):
            d.initial.append((m[1], m[2]))
        elif m := re.fullmatch(rf'"({_NAME})" -> "({_NAME})" \[label="([^"]*)"\];', line):
            d.edges.append(parse_label(m[1], m[2], m[3]))
        elif m := re.fullmatch(rf'"({_NAME})" \[label="([^"]*)"(, peripheries=2)?\];', line):
            assert m[2] == m[1], line
            d.nodes.add(m[1])
            if m[3]:
                d.terminals.add(m[1])
        else:
            raise AssertionError(f"unexpected DOT line: {line!r}")
    return d


PARSERS: dict[str, Callable[[str], Diagram]] = {"mmd": parse_mermaid, "dot": parse_dot}
RENDERERS: dict[str, Callable[[Spec], str]] = {"mmd": render_mermaid, "dot": render_dot}
FORMATS = sorted(PARSERS)


def committed(fmt: str) -> Diagram:
    return PARSERS[fmt]((ROOT / "diagrams" / f"connection.{fmt}").read_text(encoding="utf-8"))


# -- the checks, as functions so they can be shown to fail on broken diagrams ------------


def check_nodes(spec: Spec, d: Diagram) -> None:
    assert d.nodes == set(spec.state_names)


def check_every_row_is_an_edge(spec: Spec, d: Diagram) -> None:
    for row in spec.iter_rows():
        if row.next is None:
            continue
        matching = [
            e
            for e in d.edges
            if (e.source, e.target) == (row.state, row.next)
            and row.event in e.events
            and e.default_group == row.from_default
        ]
        where = f"({row.state}, {row.event}) -> {row.next}"
        assert len(matching) == 1, f"{where}: {len(matching)} edges"
        assert matching[0].effects == list(row.effects), where


def check_every_edge_is_a_row(spec: Spec, d: Diagram) -> None:
    drawn = []
    for e in d.edges:
        for event in e.events:
            row = spec.row(e.source, event)
            assert row.next == e.target, (e, row)
            assert list(row.effects) == e.effects, (e, row)
            drawn.append((e.source, event))
    possible = [(r.state, r.event) for r in spec.iter_rows() if r.next is not None]
    assert sorted(drawn) == sorted(possible)


def check_initial_and_terminals(spec: Spec, d: Diagram) -> None:
    assert [state for state, _ in d.initial] == [spec.initial]
    label = d.initial[0][1]
    for effect in spec.initial_effects:
        assert effect in label
    assert d.terminals == set(spec.terminal)


CHECKS = [
    check_nodes,
    check_every_row_is_an_edge,
    check_every_edge_is_a_row,
    check_initial_and_terminals,
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_committed_diagram(fmt: str, check: Callable[[Spec, Diagram], None]) -> None:
    check(SPEC, committed(fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_self_loops_and_default_group_are_drawn(fmt: str) -> None:
    d = committed(fmt)
    loops = {(e.source, ev) for e in d.edges if e.source == e.target for ev in e.events}
    expected = {(r.state, r.event) for r in SPEC.iter_rows() if r.is_self_loop}
    assert expected
    assert loops == expected
    groups = [e for e in d.edges if e.default_group]
    assert groups, "the shipped spec has a default row"
    for e in groups:
        assert all(SPEC.row(e.source, ev).from_default for ev in e.events)


# -- the checks catch broken diagrams ------------------------------------------------------

MMD = (ROOT / "diagrams" / "connection.mmd").read_text(encoding="utf-8")
DOT = (ROOT / "diagrams" / "connection.dot").read_text(encoding="utf-8")


def _replace_line(text: str, needle: str, new: str | None) -> str:
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if needle in line]
    assert len(hits) == 1, (needle, hits)
    if new is None:
        del lines[hits[0]]
    else:
        lines[hits[0]] = lines[hits[0]].replace(needle, new)
    return "".join(lines)


ROWS, ENDS, NODES = "check_every_row_is_an_edge", "check_initial_and_terminals", "check_nodes"
EDGES = "check_every_edge_is_a_row"

#: case -> (format, line fragment, replacement or None to delete the line, check that must fail)
BROKEN: dict[str, tuple[str, str, str | None, str]] = {
    "mmd-missing-self-loop": ("mmd", "OPEN --> OPEN: app_send / transmit", None, ROWS),
    "mmd-missing-effect": ("mmd", "app_ping / transmit_ping", "app_ping / drop", ROWS),
    "mmd-effects-reordered": (
        "mmd",
        "handshake_ok / cancel#58;open_timer, arm#58;keepalive",
        "handshake_ok / arm#58;keepalive, cancel#58;open_timer",
        ROWS,
    ),
    "mmd-wrong-target": (
        "mmd",
        "OPEN --> CLOSING: app_close /",
        "OPEN --> CLOSED: app_close /",
        ROWS,
    ),
    "mmd-default-event-dropped": ("mmd", "default#58; peer_data ", "default#58; ", ROWS),
    "mmd-no-terminal-marker": ("mmd", "CLOSED --> [*]", None, ENDS),
    "mmd-no-initial-arrow": ("mmd", "[*] --> CONNECTING", None, ENDS),
    "mmd-missing-node": ("mmd", "CLOSING: CLOSING", None, NODES),
    "dot-missing-self-loop": ("dot", '"OPEN" -> "OPEN" [label="app_send / transmit"];', None, ROWS),
    "dot-missing-edge": ("dot", '"CLOSING" -> "CLOSED" [label="close_timeout', None, ROWS),
    "dot-no-terminal-marker": ("dot", ", peripheries=2", "", ENDS),
    "dot-no-initial-arrow": ("dot", '__start -> "CONNECTING"', None, ENDS),
    "dot-extra-edge": (
        "dot",
        '"CLOSED" [label="CLOSED", peripheries=2];',
        '"CLOSED" [label="CLOSED", peripheries=2];\n'
        '    "CLOSED" -> "OPEN" [label="app_send / transmit"];',
        EDGES,
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_checks_reject_a_broken_diagram(case: str) -> None:
    fmt, needle, new, must_fail = BROKEN[case]
    broken = _replace_line(MMD if fmt == "mmd" else DOT, needle, new)
    d = PARSERS[fmt](broken)
    failures = []
    for check in CHECKS:
        try:
            check(SPEC, d)
        except AssertionError:
            failures.append(check.__name__)
    assert must_fail in failures, f"{must_fail} did not notice {case} (failed: {failures})"


@pytest.mark.parametrize("fmt", FORMATS)
def test_checks_accept_a_freshly_rendered_minimal_spec(fmt: str) -> None:
    spec = load(Path(__file__).resolve().parent / "fixtures" / "minimal.toml")
    d = PARSERS[fmt](RENDERERS[fmt](spec))
    for check in CHECKS:
        check(spec, d)
