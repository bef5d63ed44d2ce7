"""The explicit-state search: breadth-first exploration, shortest counterexamples, termination.

:func:`explore` walks every state reachable from a model's initial state, in
breadth-first order, recording for each state its parent (so a path back to the
start is a shortest one), the edges the liveness checks follow and the first
transition that breaks each safety property. A transition that breaks one is
not followed further (its edge is *cut*, and counts as an end for the liveness
checks: what follows a violation is not reported again).

* :func:`check` searches a composition (:mod:`.model`, the connection's two
  peers): the safety properties on every transition, ``no_deadlock`` and
  ``termination`` on the explored graph, then ``clean_handshake`` in a second
  search of the clean sub-model.
* :func:`check_machine` searches one machine alone (:mod:`.machine`): the
  well-formedness properties every machine must have.
* :func:`replay` and :func:`replay_machine` follow a counterexample's steps
  again, which is what the tests written by ``--emit-test`` call.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

from ..spec import Spec
from .machine import WELLFORMED, MachineModel
from .model import PROPERTIES, ROLES, Bad, Bounds, Kind, Model
from .report import Replay, Result, Step, Violation

__all__ = [
    "Composed",
    "check",
    "check_composed",
    "check_machine",
    "explore",
    "replay",
    "replay_composed",
    "replay_machine",
]

S = TypeVar("S", bound=Hashable)


class System(Protocol[S]):
    """What the search needs of a model: a start, successors and a description."""

    def initial(self) -> S: ...

    def successors(
        self, w: S, *, clean: bool = False
    ) -> Iterator[tuple[str, Kind, S | Bad | None]]: ...

    def describe(self, w: S) -> str: ...


class Composed(System[S], Protocol[S]):
    """A composition whose runs can get stuck: the client and link models."""

    fired: set[tuple[str, str]]
    """Every (state, event) pair fed to the machine so far."""

    def stuck(self, w: S) -> bool:
        """True when ``w`` waits for nothing: no step of the machine can ever come."""
        ...


_CUT: Final = -1  # an edge to a violating transition, not followed


@dataclass(slots=True)
class Graph(Generic[S]):
    """The explored state space."""

    worlds: list[S] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    succ: list[list[int]] = field(default_factory=list)
    """Successors by the edges the liveness checks follow (env in full, all in clean)."""
    progress: list[bool] = field(default_factory=list)
    """Some env transition is enabled (self-loops and violating ones included)."""
    bad: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """property -> (source state, label, message) of its first violating transition."""
    transitions: int = 0


def explore(model: System[S], *, clean: bool = False) -> Graph[S]:
    """Every state reachable from ``model.initial()``, breadth first.

    Liveness edges are the ``env`` transitions (all of them with ``clean``).
    """
    g: Graph[S] = Graph()
    init = model.initial()
    index = {init: 0}
    g.worlds.append(init)
    g.parent.append(-1)
    g.label.append("start")
    g.succ.append([])
    g.progress.append(False)
    i = 0
    while i < len(g.worlds):
        w = g.worlds[i]
        succ = g.succ[i]
        progress = False
        for label, kind, outcome in model.successors(w, clean=clean):
            if outcome is None:
                continue
            g.transitions += 1
            follows = clean or kind == "env"
            if kind == "env":
                progress = True
            if isinstance(outcome, Bad):
                if outcome.prop not in g.bad:
                    g.bad[outcome.prop] = (i, label, outcome.message)
                if follows:
                    succ.append(_CUT)
                continue
            j = index.get(outcome)
            if j is None:
                j = len(g.worlds)
                index[outcome] = j
                g.worlds.append(outcome)
                g.parent.append(i)
                g.label.append(label)
                g.succ.append([])
                g.progress.append(False)
            if follows and j != i:
                succ.append(j)
        g.progress[i] = progress
        i += 1
    return g


def _reaching(g: Graph[S], good: list[bool]) -> list[bool]:
    """States from which a good state (or a cut edge) is reachable along ``succ``."""
    rev: list[list[int]] = [[] for _ in g.worlds]
    ok = list(good)
    queue: deque[int] = deque()
    for i, succ in enumerate(g.succ):
        for j in succ:
            if j == _CUT:
                ok[i] = True
            else:
                rev[j].append(i)
    queue.extend(i for i, v in enumerate(ok) if v)
    while queue:
        j = queue.popleft()
        for i in rev[j]:
            if not ok[i]:
                ok[i] = True
                queue.append(i)
    return ok


def _trace(model: System[S], g: Graph[S], i: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    while g.parent[i] >= 0:
        steps.append(Step(g.label[i], model.describe(g.worlds[i])))
        i = g.parent[i]
    return tuple(reversed(steps))


def _loop(
    model: System[S], g: Graph[S], start: int, trapped: list[bool]
) -> tuple[tuple[Step, ...], int]:
    """A lasso from ``start``: follow successors inside the trapped set until one repeats.

    Returns the steps and the index of the step that starts the cycle.
    """
    seen: dict[int, int] = {}
    path: list[int] = []
    i = start
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        # No trapped successor but itself: the trap is a self-loop (e.g. a timer re-armed).
        i = next((j for j in g.succ[i] if j != _CUT and trapped[j]), i)
    path.append(i)
    steps = []
    for a, b in itertools.pairwise(path):
        label = next(
            lab
            for lab, kind, out in model.successors(g.worlds[a])
            if kind == "env" and out == g.worlds[b]
        )
        steps.append(Step(label, model.describe(g.worlds[b])))
    return tuple(steps), seen[i]


def _violation(
    model: System[S],
    g: Graph[S],
    prop: str,
    message: str,
    i: int,
    *,
    clean: bool = False,
    alone: bool = False,
    last: Step | None = None,
    loop: tuple[tuple[Step, ...], int] = ((), 0),
) -> Violation:
    trace = _trace(model, g, i)
    if last is not None:
        trace = (*trace, last)
    start = model.describe(g.worlds[0])
    return Violation(prop, message, start, trace, loop[0], loop[1], clean, alone)


def _safety(model: System[S], g: Graph[S], *, clean: bool, alone: bool) -> dict[str, Violation]:
    return {
        prop: _violation(
            model,
            g,
            prop,
            message,
            i,
            clean=clean,
            alone=alone,
            last=Step(label, "VIOLATION: " + message),
        )
        for prop, (i, label, message) in g.bad.items()
    }


def _unexercised(spec: Spec, fired: set[tuple[str, str]]) -> tuple[int, tuple[str, ...]]:
    possible = [row for row in spec.iter_rows() if not row.impossible]
    unexercised = tuple(f"{r.state}/{r.event}" for r in possible if (r.state, r.event) not in fired)
    return len(possible) - len(unexercised), unexercised


def _ordered(found: dict[str, Violation], properties: Iterable[str]) -> tuple[Violation, ...]:
    order = list(properties)
    return tuple(sorted(found.values(), key=lambda v: order.index(v.name)))


def _unbounded_result(
    spec: Spec,
    fired: set[tuple[str, str]],
    g: Graph[Any],
    found: dict[str, Violation],
    properties: Mapping[str, str],
    *,
    model: str,
    started: float,
) -> Result:
    """The result of a search with no bounds of the connection's and no clean sub-model
    (the machine alone, and the compositions with bounds of their own)."""
    exercised, unexercised = _unexercised(spec, fired)
    return Result(
        spec_path=spec.path,
        bounds=None,
        violations=_ordered(found, properties),
        states=len(g.worlds),
        transitions=g.transitions,
        clean_states=0,
        clean_transitions=0,
        seconds=time.perf_counter() - started,
        rows_exercised=exercised,
        rows_unexercised=unexercised,
        properties=properties,
        model=model,
    )


# -- a composition: the connection's two peers -------------------------------------


def check(spec: Spec, bounds: Bounds | None = None) -> Result:
    """Explore every reachable state of two peers built from ``spec``; check :data:`PROPERTIES`."""
    started = time.perf_counter()
    model = Model(spec, bounds)

    g = explore(model, clean=False)
    found = _safety(model, g, clean=False, alone=False)
    closed = [model.all_closed(w) for w in g.worlds]
    stuck = [not closed[i] and not g.progress[i] for i in range(len(g.worlds))]
    first_stuck = next((i for i, s in enumerate(stuck) if s), None)
    if first_stuck is not None:
        w = g.worlds[first_stuck]
        waiting = [ROLES[k] for k in (0, 1) if w.peers[k].state not in model.terminal]
        found["no_deadlock"] = _violation(
            model,
            g,
            "no_deadlock",
            f"{' and '.join(waiting)} wait(s) for nothing: no frame, end of stream or timer is due",
            first_stuck,
        )
    ends = _reaching(g, [c or s for c, s in zip(closed, stuck, strict=True)])
    first_trapped = next((i for i, v in enumerate(ends) if not v), None)
    if first_trapped is not None:
        trapped = [not v for v in ends]
        found["termination"] = _violation(
            model,
            g,
            "termination",
            "from this state, deliveries and timers alone never lead to both peers CLOSED",
            first_trapped,
            loop=_loop(model, g, first_trapped, trapped),
        )

    c = explore(model, clean=True)
    clean_closed = [model.all_closed(w) for w in c.worlds]
    unclean = None
    for i, w in enumerate(c.worlds):
        if not clean_closed[i]:
            continue
        a, b = w.peers
        if not (a.clean and b.clean) or a.code != b.code:
            unclean = i
            break
    if unclean is not None:
        a, b = c.worlds[unclean].peers
        found["clean_handshake"] = _violation(
            model,
            c,
            "clean_handshake",
            "with no fault and no timer, both peers ended CLOSED but "
            f"client {'clean' if a.clean else 'NOT clean'} code {a.code}, "
            f"server {'clean' if b.clean else 'NOT clean'} code {b.code}",
            unclean,
            clean=True,
        )
    else:
        can_end = _reaching(c, clean_closed)
        first = next((i for i, v in enumerate(can_end) if not v), None)
        if first is not None:
            found["clean_handshake"] = _violation(
                model,
                c,
                "clean_handshake",
                "with no fault and no timer, no run from this state ends with both peers CLOSED",
                first,
                clean=True,
            )

    exercised, unexercised = _unexercised(spec, model.fired)
    return Result(
        spec_path=spec.path,
        bounds=model.bounds,
        violations=_ordered(found, PROPERTIES),
        states=len(g.worlds),
        transitions=g.transitions,
        clean_states=len(c.worlds),
        clean_transitions=c.transitions,
        seconds=time.perf_counter() - started,
        rows_exercised=exercised,
        rows_unexercised=unexercised,
    )


def replay(
    spec: Spec, steps: Sequence[str], bounds: Bounds | None = None, *, clean: bool = False
) -> Replay:
    """Follow transition labels ``steps`` from the initial state and check what they lead to.

    Each label must name a transition enabled at that point (else the replay
    stops and reports no violation: the scenario cannot happen with this spec).
    A step that breaks a safety property stops the replay. At the end, the
    state reached is checked for ``no_deadlock`` and ``termination`` (or, with
    ``clean``, for ``clean_handshake``).
    """
    model = Model(spec, bounds)
    w, taken, stop = _follow(model, steps, clean=clean)
    if stop is not None:
        return stop
    found: list[tuple[str, str]] = []
    if clean:
        if model.all_closed(w):
            a, b = w.peers
            if not (a.clean and b.clean) or a.code != b.code:
                found.append(("clean_handshake", "both CLOSED but not both clean with one code"))
        elif not _can_reach(model, w, model.all_closed, clean=True):
            found.append(("clean_handshake", "no clean run from here ends with both CLOSED"))
    else:
        if not model.all_closed(w) and not model.env_enabled(w):
            found.append(("no_deadlock", "a peer is not CLOSED and nothing is due"))
        elif not _can_reach(model, w, lambda x: model.all_closed(x) or not model.env_enabled(x)):
            found.append(("termination", "deliveries and timers never end both peers"))
    return Replay(tuple(taken), tuple(p for p, _ in found), tuple(f"{p}: {m}" for p, m in found))


def _follow(
    model: System[S], steps: Sequence[str], *, clean: bool = False
) -> tuple[S, list[Step], Replay | None]:
    """Take ``steps``; a Replay when they stop early (not possible, or a violation)."""
    w = model.initial()
    taken: list[Step] = []
    for n, label in enumerate(steps, start=1):
        outcome = next(
            (out for lab, _, out in model.successors(w, clean=clean) if lab == label), None
        )
        if outcome is None:
            return w, taken, Replay(tuple(taken), (), (f"step {n} ({label}) is not possible here",))
        if isinstance(outcome, Bad):
            taken.append(Step(label, "VIOLATION: " + outcome.message))
            stop = Replay(tuple(taken), (outcome.prop,), (f"{outcome.prop}: {outcome.message}",))
            return w, taken, stop
        w = outcome
        taken.append(Step(label, model.describe(w)))
    return w, taken, None


def check_composed(
    spec: Spec,
    model: Composed[S],
    properties: Mapping[str, str],
    *,
    stuck: str,
    stuck_message: Callable[[S], str],
    describe: str,
    started: float,
) -> Result:
    """Explore a :class:`Composed` model; check the safety ``properties`` and ``stuck``.

    ``stuck`` names the property a state that waits for nothing breaks;
    ``stuck_message(state)`` says why; ``describe`` is the model, for the report.
    """
    g = explore(model)
    found = _safety(model, g, clean=False, alone=False)
    first = next((i for i, w in enumerate(g.worlds) if model.stuck(w)), None)
    if first is not None:
        found[stuck] = _violation(model, g, stuck, stuck_message(g.worlds[first]), first)
    return _unbounded_result(
        spec, model.fired, g, found, properties, model=describe, started=started
    )


def replay_composed(model: Composed[S], steps: Sequence[str], *, stuck: str, why: str) -> Replay:
    """Follow labels ``steps`` through a :class:`Composed` model; report what breaks."""
    w, taken, stop = _follow(model, steps)
    if stop is not None:
        return stop
    if model.stuck(w):
        return Replay(tuple(taken), (stuck,), (f"{stuck}: {why}",))
    return Replay(tuple(taken), (), ())


def _can_reach(
    model: System[S], start: S, goal: Callable[[S], bool], *, clean: bool = False
) -> bool:
    """Whether a ``goal`` state (or a violating transition) is reachable from ``start``.

    Outside ``clean``, along ``env`` transitions only.
    """
    seen = {start}
    queue = deque([start])
    while queue:
        w = queue.popleft()
        if goal(w):
            return True
        for _, kind, out in model.successors(w, clean=clean):
            if out is None or (not clean and kind != "env"):
                continue
            if isinstance(out, Bad):
                return True
            if out not in seen:
                seen.add(out)
                queue.append(out)
    return False


# -- the machine alone ------------------------------------------------------------


def check_machine(spec: Spec) -> Result:
    """Explore every reachable configuration of ``spec`` alone; check :data:`WELLFORMED`."""
    started = time.perf_counter()
    model = MachineModel(spec)
    g = explore(model)
    found = _safety(model, g, clean=False, alone=True)
    init = g.worlds[0]
    for event, mask in model.ambiguous.items():
        both = init.timers & mask
        if both & (both - 1) and "deterministic" not in found:
            found["deterministic"] = _violation(
                model,
                g,
                "deterministic",
                f"the initial effects arm {model.timer_names(both)}, which all fire {event}",
                0,
                alone=True,
            )
    can_end = _reaching(g, [model.done(c) for c in g.worlds])
    first = next((i for i, v in enumerate(can_end) if not v), None)
    if first is not None:
        trapped = {g.worlds[i].state for i, v in enumerate(can_end) if not v}
        here = g.worlds[first]
        found["termination"] = _violation(
            model,
            g,
            "termination",
            f"from {model.describe(here)}, no sequence of events leads to a terminal state "
            f"({', '.join(sorted(spec.terminal))}): it stays among {', '.join(sorted(trapped))}",
            first,
            alone=True,
        )
    return _unbounded_result(
        spec,
        model.fired,
        g,
        found,
        WELLFORMED,
        model=f"the {spec.name} machine alone (well-formedness)",
        started=started,
    )


def replay_machine(spec: Spec, steps: Sequence[str]) -> Replay:
    """Follow labels ``steps`` through ``spec`` alone; check what they lead to.

    As :func:`replay`: a step that is not possible stops the replay with no
    violation, a step that breaks a property stops it with that property; at
    the end, the configuration reached is checked for ``termination``.
    """
    model = MachineModel(spec)
    c, taken, stop = _follow(model, steps)
    if stop is not None:
        return stop
    if _can_reach(model, c, model.done):
        return Replay(tuple(taken), (), ())
    message = f"termination: no sequence of events leads from {model.describe(c)} to an end"
    return Replay(tuple(taken), ("termination",), (message,))
