"""What the checker found, as data and as text: counterexamples, results, emitted tests.

:class:`Violation` is one property that does not hold, with its shortest
counterexample as :class:`Step` s; :class:`Result` is one search's verdict on
every property (:meth:`Result.report` is what ``wsstate verify`` prints);
:class:`Replay` is what following a counterexample again showed
(:func:`wsstate_tools.verify.search.replay`). :func:`render_test` writes the
pytest module of ``wsstate verify --emit-test``: one test per counterexample,
replaying it. Nothing here searches: this module only presents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .model import PROPERTIES, Bounds

__all__ = ["Replay", "Result", "Step", "Violation", "render_test"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a counterexample: the transition taken and the state it led to."""

    label: str
    """The transition, as :func:`replay` expects it: ``server recv Close(1000) -> peer_close``."""
    state: str
    """The resulting global state, described; the violation's message for a violating step."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A property that does not hold, with its shortest counterexample."""

    name: str
    """The property's name (a key of :data:`PROPERTIES`, or of ``WELLFORMED``)."""
    message: str
    start: str
    """The initial global state, described."""
    trace: tuple[Step, ...]
    """Steps from the initial state (for a safety property, the last step breaks it)."""
    loop: tuple[Step, ...] = ()
    """For ``termination``: deliveries and timers from the last state into a cycle."""
    cycle_start: int = 0
    """Index in ``loop`` of the cycle's first step (the last step returns to its source)."""
    clean: bool = False
    """True when found in the clean sub-model (``clean_handshake``)."""
    alone: bool = False
    """True when found in the machine alone (a well-formedness property), not a composition."""

    @property
    def steps(self) -> tuple[str, ...]:
        """The trace's transition labels, for :func:`replay`."""
        return tuple(s.label for s in self.trace)

    def report(self) -> str:
        """The violation and its counterexample as numbered lines."""
        if self.alone:
            model = "the machine alone"
        else:
            model = "clean sub-model" if self.clean else "full model"
        lines = [
            f"VIOLATION {self.name}: {self.message}",
            f"  shortest counterexample ({len(self.trace)} steps, {model}):",
            f"     0. start: {self.start}",
        ]
        width = max((len(s.label) for s in (*self.trace, *self.loop)), default=0)
        for i, step in enumerate(self.trace, start=1):
            lines.append(f"    {i:2d}. {step.label:<{width}}  => {step.state}")
        if self.loop:
            lines.append("      then, with no application call and no fault:")
            for n, step in enumerate(self.loop):
                if n == self.cycle_start:
                    lines.append("      and round this cycle forever:")
                lines.append(f"        . {step.label:<{width}}  => {step.state}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Result:
    """What one search found: :func:`check` (a composition) or :func:`check_machine` (alone)."""

    spec_path: str
    bounds: Bounds | None
    """The composition's bounds; None for the machine alone (nothing to bound)."""
    violations: tuple[Violation, ...]
    """At most one per property: the first found, with a shortest counterexample."""
    states: int
    """Reachable global states of the full model."""
    transitions: int
    """Transitions explored in the full model (self-loops included)."""
    clean_states: int
    """Reachable states of the clean sub-model (0 without one)."""
    clean_transitions: int
    seconds: float
    rows_exercised: int
    """Possible rows of the table the search fed an event through."""
    rows_unexercised: tuple[str, ...]
    """Possible rows it never reached, as ``STATE/event``."""
    properties: Mapping[str, str] = field(default_factory=lambda: PROPERTIES)
    """Every property checked, with what it means (verdicts are reported in this order)."""
    model: str = "two connection peers over a faulty channel"
    """What was explored, for the report's heading."""

    @property
    def ok(self) -> bool:
        """True when every property holds."""
        return not self.violations

    def violated(self) -> tuple[str, ...]:
        """The names of the properties that do not hold."""
        return tuple(v.name for v in self.violations)

    def summary(self) -> str:
        """States, transitions and time, on one line."""
        rate = self.states / self.seconds if self.seconds else 0.0
        clean = ""
        if self.clean_states:
            clean = (
                f" (clean sub-model: {self.clean_states} states, {self.clean_transitions} "
                "transitions)"
            )
        return (
            f"{self.states} states, {self.transitions} transitions{clean} "
            f"in {self.seconds:.2f} s ({rate:,.0f} states/s)"
        )

    def report(self) -> str:
        """Every property with its verdict, then each counterexample."""
        lines = [f"wsstate verify: {self.spec_path}", f"  model: {self.model}"]
        if self.bounds is not None:
            lines.append(f"  bounds: {self.bounds}")
        lines.append(f"  explored {self.summary()}")
        total = self.rows_exercised + len(self.rows_unexercised)
        lines.append(f"  table rows exercised: {self.rows_exercised} of {total} possible rows")
        if self.rows_unexercised:
            lines.append("    never reached: " + ", ".join(self.rows_unexercised))
        bad = {v.name for v in self.violations}
        for prop in self.properties:
            verdict = "VIOLATED" if prop in bad else "ok"
            lines.append(f"  {prop:<28} {verdict}")
        for v in self.violations:
            lines.append("")
            lines.append(v.report())
        lines.append("")
        if self.ok:
            lines.append(f"wsstate verify: all {len(self.properties)} properties hold")
        else:
            lines.append(
                f"wsstate verify: {len(self.violations)} propert"
                f"{'y' if len(self.violations) == 1 else 'ies'} violated: "
                + ", ".join(self.violated())
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Replay:
    """What following a counterexample's steps again showed."""

    steps: tuple[Step, ...]
    """The steps taken."""
    violations: tuple[str, ...]
    """Properties broken by a step, or by the state the steps led to."""
    messages: tuple[str, ...]
    """One line per violation, or why the replay stopped early."""

    def report(self) -> str:
        """The steps and what they showed."""
        lines = [f"{i:2d}. {s.label}  => {s.state}" for i, s in enumerate(self.steps, start=1)]
        lines.extend(self.messages)
        return "\n".join(lines)


def render_test(
    result: Result | Sequence[Result],
    spec_path: Path,
    *,
    validated: bool = True,
    machine: str = "connection",
) -> str:
    """A pytest module replaying every counterexample of ``result`` (no violation: no tests).

    ``result`` may be several results of one spec (the machine alone and its
    composition): a well-formedness counterexample becomes ``test_machine_<name>``
    and replays with :func:`replay_machine`, a composition's ``test_<name>`` with
    :func:`replay` for the connection and, for another ``machine``, with its own
    composition's replay (``COMPOSITIONS[machine].replay``: the client's, the
    session's, the link's model, each with its own bounds).
    """
    results = (result,) if isinstance(result, Result) else tuple(result)
    bounds = next((r.bounds for r in results if r.bounds is not None), None)
    loader = "load_spec(SPEC)" if validated else "load_spec(SPEC, validate=False)"
    violations = [v for r in results for v in r.violations]
    connection = machine == "connection"
    names = ["load_spec"]
    if any(v.alone for v in violations):
        names.append("replay_machine")
    if connection and any(not v.alone for v in violations):
        names.insert(0, "Bounds")
        names.append("replay")
    o = [
        f'"""Counterexamples found by `wsstate verify` in {spec_path.as_posix()}.\n\n',
        "Each test replays a shortest counterexample and fails while the spec still\n",
        "breaks the property; it passes once the spec is fixed (the scenario then\n",
        'breaks nothing, or can no longer happen).\n"""\n\n',
        "from __future__ import annotations\n\n",
        "from pathlib import Path\n\n",
        f"from wsstate_tools.verify import {', '.join(names)}\n",
        ""
        if connection or all(v.alone for v in violations)
        else "from wsstate_tools.verify.compositions import COMPOSITIONS\n",
        "\n",
        f"SPEC = Path({json.dumps(str(spec_path.resolve()))})\n",
    ]
    if "Bounds" in names and bounds is not None:
        b = bounds
        o.append(
            f"BOUNDS = Bounds(sends={b.sends}, pings={b.pings}, faults={b.faults}, "
            f"capacity={b.capacity})\n"
        )
    for v in violations:
        o.append("\n\n")
        o.append(f"def test_{'machine_' if v.alone else ''}{v.name}() -> None:\n")
        o.append(f'    """{v.name}: {v.message}"""\n'.replace("\\", "\\\\"))
        o.append(f"    spec = {loader}\n")
        o.append("    steps = [\n")
        for step in v.steps:
            o.append(f"        {json.dumps(step)},\n")
        o.append("    ]\n")
        if v.alone:
            o.append("    run = replay_machine(spec, steps)\n")
        elif connection:
            o.append(f"    run = replay(spec, steps, BOUNDS, clean={v.clean})\n")
        else:
            o.append(f"    run = COMPOSITIONS[{json.dumps(machine)}].replay(spec, steps, None)\n")
        o.append(f"    assert {json.dumps(v.name)} not in run.violations, run.report()\n")
    return "".join(o)
