"""Diagrams of a machine: ``diagrams/<name>.mmd`` (Mermaid) and ``diagrams/<name>.dot``.

Every state and every transition, self-loops and their effects included; a
state's default rows are merged into one edge. Deterministic (declaration order).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..spec import Row, Spec
from .common import header

__all__ = ["mermaid_label", "render_dot", "render_mermaid"]


def _edge_label(events: Iterable[str], effects: tuple[str, ...]) -> str:
    label = ", ".join(events)
    if effects:
        label += " / " + ", ".join(effects)
    return label


def _edges(spec: Spec) -> list[tuple[str, str, str]]:
    """(source, target, label) for every possible row; default rows merged into one edge."""
    edges: list[tuple[str, str, str]] = []
    for s in spec.states:
        defaults: list[Row] = []
        for e in spec.events:
            row = spec.row(s.name, e.name)
            if row.next is None:
                continue
            if row.from_default:
                defaults.append(row)
                continue
            edges.append((row.state, row.next, _edge_label([row.event], row.effects)))
        if defaults:
            first = defaults[0]
            assert first.next is not None
            events = "default: " + " ".join(r.event for r in defaults)
            edges.append((first.state, first.next, _edge_label([events], first.effects)))
    return edges


def mermaid_label(label: str) -> str:
    """``label`` as a Mermaid transition label: each colon written ``#58;``.

    Mermaid 11 refuses a colon in a state diagram's transition label
    (``A --> B: x / arm:timer`` is a syntax error), and effects are named with
    colons; ``#58;`` is Mermaid's entity for it, so the label still reads
    ``arm:timer``.
    """
    return label.replace(":", "#58;")


def render_mermaid(spec: Spec) -> str:
    """A Mermaid ``stateDiagram-v2`` of every state and every transition."""
    o = [header(spec, "%%"), "stateDiagram-v2\n", "    direction TB\n"]
    for s in spec.states:
        o.append(f"    {s.name}: {s.name}\n")
    init = ", ".join(spec.initial_effects)
    start = f": {mermaid_label('start / ' + init)}" if init else ""
    o.append(f"    [*] --> {spec.initial}{start}\n")
    for src, dst, label in _edges(spec):
        o.append(f"    {src} --> {dst}: {mermaid_label(label)}\n")
    for t in spec.state_names:
        if t in spec.terminal:
            o.append(f"    {t} --> [*]\n")
    return "".join(o)


def render_dot(spec: Spec) -> str:
    """A Graphviz digraph of every state and every transition."""
    o = [header(spec, "//"), f'digraph "{spec.name}" {{\n']
    o.append('    rankdir="TB";\n    node [shape=box, style=rounded];\n')
    o.append('    __start [shape=point, label=""];\n')
    for s in spec.states:
        shape = ", peripheries=2" if s.name in spec.terminal else ""
        o.append(f'    "{s.name}" [label="{s.name}"{shape}];\n')
    init = ", ".join(spec.initial_effects)
    o.append(f'    __start -> "{spec.initial}" [label="{init}"];\n')
    for src, dst, label in _edges(spec):
        o.append(f'    "{src}" -> "{dst}" [label="{label}"];\n')
    o.append("}\n")
    return "".join(o)
