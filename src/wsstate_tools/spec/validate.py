"""The rules a well-formed machine must follow, checked on a built :class:`~.model.Spec`.

Every rule is generic: what is particular to a machine is declared in its spec
(``[machine] on_terminal``, ``uses_code`` effects, an event's ``outcomes``), not
written here. :func:`check` returns the problems in no particular order.

- the graph: every state reachable from the initial one, a terminal state
  reachable from every state, no terminal state ever left;
- names: no state or event may take the name of an attribute of
  python-statemachine's ``StateChart`` (it would silently replace it in the
  generated class), a Python keyword, or each other's;
- rows: rows entering a terminal state carry the ``on_terminal`` effects and no
  other row does; a row with a ``code`` or ``reason`` carries an effect that
  uses them; a row of a local event with ``outcomes`` gives its caller one.
"""

from __future__ import annotations

import keyword

from .model import Problem, Row, Spec
from .parse import Lines
from .reserved import reserved_names

__all__ = ["check"]


class _Checker:
    def __init__(self, spec: Spec, lines: Lines) -> None:
        self.spec = spec
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str, hint: str) -> None:
        self.problems.append(Problem(self.spec.path, line, message, hint))

    def check_graph(self) -> None:
        spec = self.spec
        succ: dict[str, set[str]] = {s: set() for s in spec.state_names}
        for row in spec.iter_rows():
            if row.next is not None:
                succ[row.state].add(row.next)
        reached = {spec.initial}
        frontier = [spec.initial]
        while frontier:
            for nxt in succ[frontier.pop()]:
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        for s in spec.states:
            if s.name not in reached:
                self.problem(
                    s.line,
                    f"state {s.name} is unreachable from the initial state {spec.initial}",
                    f"add a row whose next is {s.name}, or remove the state",
                )
        can_end = set(spec.terminal)
        changed = True
        while changed:
            changed = False
            for name, nexts in succ.items():
                if name not in can_end and nexts & can_end:
                    can_end.add(name)
                    changed = True
        for s in spec.states:
            if s.name in reached and s.name not in can_end:
                self.problem(
                    s.line,
                    f"no terminal state ({', '.join(sorted(spec.terminal))}) "
                    f"can be reached from {s.name}",
                    f"add a row from {s.name} that leads towards a terminal state",
                )
        if not spec.terminal:
            self.problem(
                self.lines.key("machine", "terminal"),
                "the machine has no terminal state",
                'declare one: terminal = ["CLOSED"]',
            )
        for row in spec.iter_rows():
            if row.next is not None and row.state in spec.terminal and row.next != row.state:
                self.problem(
                    row.line,
                    f"terminal state {row.state} is left by {row.event} (to {row.next})",
                    f'a terminal state only absorbs events: write next = "{row.state}"',
                )

    def check_rows(self) -> None:
        spec = self.spec
        for row in spec.iter_rows():
            if row.next is None:
                continue
            self.check_on_terminal(row)
            self.check_code(row)
            self.check_outcome(row)

    def check_on_terminal(self, row: Row) -> None:
        spec = self.spec
        if not spec.on_terminal:
            return
        entering = row.state not in spec.terminal and row.next in spec.terminal
        if entering:
            missing = [e for e in spec.on_terminal if e not in row.effects]
            if missing:
                self.problem(
                    row.line,
                    f"row ({row.state}, {row.event}) enters terminal {row.next} "
                    f"without {', '.join(missing)}",
                    f"add {', '.join(missing)}: [machine] on_terminal lists the effects every "
                    "row entering a terminal state carries",
                )
        else:
            present = [e for e in spec.on_terminal if e in row.effects]
            if present:
                self.problem(
                    row.line,
                    f"row ({row.state}, {row.event}) has {', '.join(present)} but does not "
                    "enter a terminal state",
                    f"remove {', '.join(present)}: [machine] on_terminal reserves it for the "
                    "rows entering a terminal state (it happens exactly once)",
                )

    def check_code(self, row: Row) -> None:
        # A spec that declares no uses_code effect is not checked (older specs).
        code_effects = self.spec.code_effects
        if not code_effects or (row.code is None and row.reason is None):
            return
        if not code_effects & set(row.effects):
            self.problem(
                row.line,
                f"row ({row.state}, {row.event}) sets code/reason but none of its effects "
                "uses them",
                f"add one of {', '.join(sorted(code_effects))} (declared uses_code = true in "
                "[effects]), or remove code and reason",
            )

    def check_outcome(self, row: Row) -> None:
        outcomes = self.spec.event(row.event).outcomes
        if outcomes and not set(outcomes) & set(row.effects):
            self.problem(
                row.line,
                f"row ({row.state}, {row.event}) gives the caller of {row.event} no outcome",
                f"add one of {', '.join(outcomes)} (the event's outcomes in [events]), or "
                "write impossible = true if the call cannot happen here",
            )

    def check_names(self) -> None:
        spec = self.spec
        reserved = reserved_names()
        ids: dict[str, str] = {}
        for s in spec.states:
            ident = s.name.lower()
            if ident in reserved:
                self.problem(
                    s.line,
                    f"state {s.name} becomes attribute {ident!r}, which python-statemachine's "
                    "StateChart already defines",
                    "rename the state",
                )
            ids[ident] = f"state {s.name}"
        for e in spec.events:
            if e.name in reserved:
                self.problem(
                    e.line,
                    f"event {e.name!r} collides with python-statemachine's StateChart.{e.name}",
                    f"rename it (e.g. app_{e.name}); an event named like an attribute silently "
                    "replaces it",
                )
            elif keyword.iskeyword(e.name) or e.name == "default":
                self.problem(
                    e.line,
                    f"event {e.name!r} is a reserved word",
                    f"rename it (e.g. app_{e.name}): a Python keyword cannot name the generated "
                    "method, and `default` names a state's default row",
                )
            elif e.name in ids:
                self.problem(
                    e.line,
                    f"event {e.name!r} collides with {ids[e.name]}",
                    "rename the event or the state",
                )


def check(spec: Spec, lines: Lines) -> list[Problem]:
    """Every problem with the built, name-consistent ``spec`` (``lines`` maps its text)."""
    checker = _Checker(spec, lines)
    checker.check_graph()
    checker.check_rows()
    checker.check_names()
    # A default row expands to many pairs: report each of its problems once.
    return list(dict.fromkeys(checker.problems))
