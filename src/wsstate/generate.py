"""Turn a spec into code and pictures: ``wsstate generate`` and ``wsstate check``.

Outputs (paths relative to the project root):

* ``src/wsstate/_generated.py``: the ``State``, ``Event`` and ``Effect`` enums,
  the frozen ``TABLE`` and the python-statemachine reference class;
* ``diagrams/connection.mmd`` and ``diagrams/connection.dot``: every state and
  every transition, self-loops and their effects included;
* every other renderer registered in :data:`RENDERERS` (the Promela model, the
  generated stateful tests).

Output is deterministic: declaration order from the spec, no timestamps, no ids,
formatted as committed. :func:`check` renders everything in memory and returns a
unified diff for each committed file that differs.
"""

from __future__ import annotations

import difflib
import keyword
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .spec import EFFECTS, Row, Spec, load

__all__ = [
    "RENDERERS",
    "SPEC_PATH",
    "Output",
    "check",
    "effect_member",
    "find_root",
    "render_all",
    "render_dot",
    "render_mermaid",
    "render_python",
    "write",
]

#: The connection spec, relative to the project root.
SPEC_PATH: Final = Path("spec/connection.toml")
REGENERATE: Final = "wsstate generate"


@dataclass(frozen=True, slots=True)
class Output:
    """One generated file: where it goes and what it holds."""

    path: Path
    text: str


def header(spec: Spec, comment: str) -> str:
    """The banner every generated file starts with."""
    lines = [
        "GENERATED FILE - DO NOT EDIT.",
        f"Source: {Path(spec.path).as_posix()}",
        f"Regenerate with `{REGENERATE}`; `wsstate check` fails if this file is stale.",
    ]
    return "".join(f"{comment} {line}\n" for line in lines)


def effect_member(effect: str) -> str:
    """The ``Effect`` enum member name for an effect: ``arm:close_timer`` -> ``ARM_CLOSE_TIMER``."""
    out: list[str] = []
    for ch in effect.replace(":", "_"):
        if ch.isupper() and out and out[-1] != "_":
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


def _state_id(name: str) -> str:
    ident = name.lower()
    return ident + "_" if keyword.iskeyword(ident) else ident


def _doc(text: str) -> str:
    """A docstring literal for ``text`` (escapes backslashes and quotes)."""
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def _py(value: object) -> str:
    """A Python literal for a str/int/None, with double quotes as ruff formats them."""
    if isinstance(value, str):
        r = repr(value)
        if r.startswith("'") and '"' not in value:
            r = '"' + r[1:-1].replace("\\'", "'") + '"'
        return r
    return repr(value)


_LEVELS: Final = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR"}


def render_python(spec: Spec) -> str:
    """The typed module ``wsstate._generated``."""
    o: list[str] = []
    w = o.append
    w(header(spec, "#"))
    w(f'"""The {spec.name} machine, generated from {Path(spec.path).as_posix()}.\n\n')
    w(spec.doc.replace("\\", "\\\\").replace('"', '\\"') + "\n\n")
    w("``TABLE`` is the runtime's engine: one dict lookup per event. ``ConnectionChart``\n")
    w("is the python-statemachine reference model of the same table, used as the oracle\n")
    w("in tests; it raises ``TransitionNotAllowed`` where the table says an event is\n")
    w("impossible. Do not create one per connection: it is ~1000x slower than the table.\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("import enum\n")
    w("import logging\n")
    w("from collections.abc import Mapping\n")
    w("from types import MappingProxyType\n")
    w("from typing import Any, Final, NamedTuple\n\n")
    w("from statemachine import State as _S\n")
    w("from statemachine import StateChart\n\n")
    w("__all__ = [\n")
    names = [
        "EFFECT_DOCS",
        "EVENT_KINDS",
        "INITIAL",
        "INITIAL_EFFECTS",
        "TABLE",
        "TERMINAL",
        "ConnectionChart",
        "Effect",
        "Event",
        "Row",
        "State",
    ]
    # isort-style order (constants, classes), as ruff's RUF022 wants it.
    for n in sorted(names, key=lambda n: (not n.isupper(), n)):
        w(f'    "{n}",\n')
    w("]\n\n\n")

    w("class State(enum.StrEnum):\n")
    w('    """States of a connection."""\n\n')
    for s in spec.states:
        w(f"    {s.name} = {_py(s.name)}\n")
        w(f"    {_doc(s.doc)}\n")
    w("\n\n")

    w("class Event(enum.StrEnum):\n")
    w('    """Events the machine reacts to (the adapters classify native calls into these)."""\n\n')
    for e in spec.events:
        w(f"    {e.name.upper()} = {_py(e.name)}\n")
        w(f"    {_doc(e.kind + ': ' + e.doc)}\n")
    w("\n\n")

    w("class Effect(enum.StrEnum):\n")
    w('    """The closed effect vocabulary (spec/README.md)."""\n\n')
    for effect, doc in EFFECTS.items():
        w(f"    {effect_member(effect)} = {_py(effect)}\n")
        w(f"    {_doc(doc)}\n")
    w("\n\n")

    w("class Row(NamedTuple):\n")
    w('    """What the machine does for one (state, event) pair."""\n\n')
    w("    next: State | None\n")
    w('    """The next state; None when the event is impossible in this state."""\n')
    w("    effects: tuple[Effect, ...]\n")
    w('    """Effects to perform, in order."""\n')
    w("    log: int\n")
    w('    """The ``logging`` level to log the event at."""\n')
    w("    note: str\n")
    w('    """Why the row is what it is."""\n')
    w("    code: int | None = None\n")
    w('    """Close code the row emits or records, when not the application\'s or peer\'s."""\n')
    w("    reason: str | None = None\n")
    w('    """Close reason that goes with ``code``."""\n\n\n')

    w(f"INITIAL: Final = State.{spec.initial}\n")
    terminal = ", ".join(f"State.{s}" for s in spec.state_names if s in spec.terminal)
    w(f"TERMINAL: Final[frozenset[State]] = frozenset({{{terminal}}})\n")
    init_fx = "".join(f"Effect.{effect_member(e)}, " for e in spec.initial_effects).rstrip(" ")
    w(f"INITIAL_EFFECTS: Final[tuple[Effect, ...]] = ({init_fx})\n")
    w("EVENT_KINDS: Final[Mapping[Event, str]] = MappingProxyType(\n    {\n")
    for e in spec.events:
        w(f"        Event.{e.name.upper()}: {_py(e.kind)},\n")
    w("    }\n)\n")
    w("EFFECT_DOCS: Final[Mapping[Effect, str]] = MappingProxyType(\n    {\n")
    for effect, doc in EFFECTS.items():
        w(f"        Effect.{effect_member(effect)}: {_py(doc)},\n")
    w("    }\n)\n\n")

    w("_D, _I, _W, _E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR\n\n")
    w("TABLE: Final[Mapping[tuple[State, Event], Row]] = MappingProxyType(\n    {\n")
    for row in spec.iter_rows():
        w(_render_row(row))
    w("    }\n)\n")
    w('"""The total transition table: every (state, event) pair has a row."""\n\n\n')

    w(_render_chart(spec))
    return "".join(o)


def _render_row(row: Row) -> str:
    key = f"(State.{row.state}, Event.{row.event.upper()})"
    nxt = f"State.{row.next}" if row.next is not None else "None"
    fx = "".join(f"Effect.{effect_member(e)}, " for e in row.effects).rstrip(" ")
    level = "_" + _LEVELS[row.log][0]
    if row.impossible:
        level = "_E"
    src = f"line {row.line}" + (", default row" if row.from_default else "")
    lines = [
        f"        # {src}\n",
        f"        {key}: Row(\n",
        f"            {nxt},\n",
        f"            ({fx}),\n",
        f"            {level},\n",
        f"            {_py(row.note)},\n",
    ]
    if row.code is not None or row.reason is not None:
        lines.append(f"            {_py(row.code)},\n")
        lines.append(f"            {_py(row.reason)},\n")
    lines.append("        ),\n")
    return "".join(lines)


def _render_chart(spec: Spec) -> str:
    o: list[str] = []
    w = o.append
    w("class ConnectionChart(StateChart[Any]):\n")
    w('    """The reference model of the table, as a python-statemachine ``StateChart``.\n\n')
    w("    Strict: an event the table calls impossible raises ``TransitionNotAllowed``,\n")
    w("    and errors in callbacks propagate. Each event is a method named after it\n")
    w("    (``chart.app_close()``). The terminal state is not declared ``final``:\n")
    w("    python-statemachine forbids transitions out of a final state, and ours\n")
    w("    absorbs late events as self-loops; ``TERMINAL`` names it instead.\n")
    w('    """\n\n')
    w("    allow_event_without_transition = False\n")
    w("    catch_errors_as_events = False\n")
    w("    enable_self_transition_entries = False\n")
    w("    atomic_configuration_update = True\n\n")
    for s in spec.states:
        initial = ", initial=True" if s.name == spec.initial else ""
        w(f"    {_state_id(s.name)} = _S({_py(s.name)}, value=State.{s.name}{initial})\n")
    w("\n")
    for e in spec.events:
        transitions = []
        for s in spec.states:
            row = spec.row(s.name, e.name)
            if row.next is None:
                continue
            src, dst = _state_id(row.state), _state_id(row.next)
            internal = ", internal=True" if row.next == row.state else ""
            transitions.append(f"{src}.to({dst}{internal})")
        w(f"    {e.name} = (\n")
        for i, t in enumerate(transitions):
            w(f"        {'| ' if i else ''}{t}\n")
        w("    )\n")
    return "".join(o)


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


def render_mermaid(spec: Spec) -> str:
    """A Mermaid ``stateDiagram-v2`` of every state and every transition."""
    o = [header(spec, "%%"), "stateDiagram-v2\n", "    direction TB\n"]
    for s in spec.states:
        o.append(f"    {s.name}: {s.name}\n")
    init = ", ".join(spec.initial_effects)
    o.append(f"    [*] --> {spec.initial}" + (f": start / {init}" if init else "") + "\n")
    for src, dst, label in _edges(spec):
        o.append(f"    {src} --> {dst}: {label}\n")
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


Renderer = Callable[[Spec], str]


def _render_promela(spec: Spec) -> str:
    """The Promela model (:mod:`wsstate.promela` imports this module: import it late)."""
    from .promela import render

    return render(spec)


#: Every generated file: path relative to the project root -> renderer of the connection spec.
RENDERERS: dict[str, Renderer] = {
    "src/wsstate/_generated.py": render_python,
    "diagrams/connection.mmd": render_mermaid,
    "diagrams/connection.dot": render_dot,
    "spec/generated/connection.pml": _render_promela,
}


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest directory at or above ``start`` holding the spec."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / SPEC_PATH).is_file():
            return candidate
    raise FileNotFoundError(
        f"no {SPEC_PATH} found in {here} or above: run from a wsstate checkout or pass --root"
    )


def render_all(root: Path) -> list[Output]:
    """Render every generated file of the project at ``root``, in memory."""
    spec = load(root / SPEC_PATH)
    # Paths in headers are relative to the root, whatever the working directory.
    spec = _relative(spec, root)
    return [Output(Path(path), render(spec)) for path, render in sorted(RENDERERS.items())]


def relative(spec: Spec, root: Path) -> Spec:
    """``spec`` with its path made relative to ``root`` (as generated headers show it)."""
    return _relative(spec, root)


def _relative(spec: Spec, root: Path) -> Spec:
    from dataclasses import replace

    try:
        rel = Path(spec.path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return spec
    return replace(spec, path=rel)


def write(root: Path) -> list[Path]:
    """Write every generated file under ``root``; return the paths that changed."""
    changed = []
    for out in render_all(root):
        target = root / out.path
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old != out.text:
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


def _machine_name(role: str) -> str:
    """The generated machine class of ``role``: ServerSide, ClientSide, AsgiWsprotoSide..."""
    return "".join(part.capitalize() for part in role.split("-")) + "Side"


def render_stateful_tests(spec: Spec) -> str:
    """The generated Hypothesis stateful tests: one rule per drivable event of the spec."""
    from .testing.stateful import ASGI_IMPLS, CONCURRENT_PAIRS, DRIVERS, ROLES

    events = [e for e in spec.events if any(d.value == e.name for d in DRIVERS)]
    skipped = [e.name for e in spec.events if e not in events]
    o: list[str] = [header(spec, "#")]
    w = o.append
    w('"""Hypothesis stateful tests of the connection machine against real sockets.\n\n')
    w("One rule per event of the table that a test can drive; the python-statemachine\n")
    w("model is the oracle; every check is in wsstate.testing.stateful.Harness. One\n")
    w("machine per role: the guarded side as a websockets server, as a websockets\n")
    w("client, and as a Starlette endpoint on a real uvicorn per ASGI implementation.\n")
    w("Profile: WSSTATE_HYPOTHESIS_PROFILE=ci (default) or long.\n")
    if skipped:
        note = f"Events with no driver (listed in the coverage report): {', '.join(skipped)}."
        w("\n".join(textwrap.wrap(note, 88)) + "\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("import asyncio\n")
    w("import os\n")
    w("from typing import Any, ClassVar\n\n")
    w("import pytest\n")
    w("from hypothesis import settings\n")
    w("from hypothesis import strategies as st\n")
    w("from hypothesis.stateful import RuleBasedStateMachine, precondition, rule\n\n")
    w("from wsstate._generated import Event, State\n")
    w("from wsstate.testing.stateful import (\n")
    w("    ROLES,\n    Harness,\n    HypothesisChoices,\n    Role,\n    asgi_settings,\n")
    w("    drivable_pairs,\n    register_profiles,\n    run_tour,\n)\n\n")
    w("register_profiles()\n")
    w('PROFILE = settings.get_profile(os.environ.get("WSSTATE_HYPOTHESIS_PROFILE", "ci"))\n')
    w("#: The ASGI roles start a uvicorn per connection: fewer examples (asgi_settings).\n")
    w("ASGI_PROFILE = asgi_settings(PROFILE)\n\n\n")
    w("class ConnectionMachine(RuleBasedStateMachine):\n")
    w('    """Drives one guarded connection; subclasses pick the role."""\n\n')
    w('    role: ClassVar[Role] = "server"\n\n')
    w("    def __init__(self) -> None:\n")
    w("        super().__init__()\n")
    w("        self.loop = asyncio.new_event_loop()\n")
    w("        self.h = Harness(self.role)\n")
    w("        self.loop.run_until_complete(self.h.start())\n\n")
    w("    def teardown(self) -> None:\n")
    w("        try:\n")
    w("            self.loop.run_until_complete(self.h.stop())\n")
    w("        finally:\n")
    w("            self.loop.close()\n\n")
    w("    def _step(self, event: Event, data: Any) -> None:\n")
    w("        self.loop.run_until_complete(self.h.step(event, HypothesisChoices(data)))\n\n")
    w("    @precondition(lambda self: self.h.model_state is State.CLOSED)\n")
    w("    @rule()\n")
    w("    def reopen(self) -> None:\n")
    w('        """Check and tear down the closed connection, then open a new one."""\n')
    w("        self.loop.run_until_complete(self.h.stop())\n")
    w("        self.h = Harness(self.role)\n")
    w("        self.loop.run_until_complete(self.h.start())\n\n")
    w("    def _together(self, a: Event, b: Event, data: Any) -> None:\n")
    w("        coro = self.h.step_concurrently(a, b, HypothesisChoices(data))\n")
    w("        self.loop.run_until_complete(coro)\n")
    for e in events:
        member = e.name.upper()
        w("\n")
        w(f"    @precondition(lambda self: self.h.enabled(Event.{member}))\n")
        w("    @rule(data=st.data())\n")
        w(f"    def {e.name}(self, data: Any) -> None:\n")
        w(f'        """{e.kind}: {e.doc}"""\n')
        w(f"        self._step(Event.{member}, data)\n")
    for a, b in CONCURRENT_PAIRS:
        ma, mb = a.value.upper(), b.value.upper()
        w("\n")
        w(
            "    @precondition(\n"
            f"        lambda self: self.h.enabled_concurrently(Event.{ma}, Event.{mb})\n"
            "    )\n"
        )
        w("    @rule(data=st.data())\n")
        w(f"    def together_{a.value}__{b.value}(self, data: Any) -> None:\n")
        w(f'        """{a.value} and {b.value} started together."""\n')
        w(f"        self._together(Event.{ma}, Event.{mb}, data)\n")
    for role in ROLES:
        name = _machine_name(role)
        impl = ASGI_IMPLS.get(role)
        doc = (
            f"The guarded side is a Starlette endpoint on uvicorn (ws={impl!r})."
            if impl is not None
            else f"The guarded side is a websockets {role}."
        )
        w("\n\n")
        w(f"class {name}(ConnectionMachine):\n")
        w(f'    """{doc}"""\n\n')
        w(f'    role: ClassVar[Role] = "{role}"\n')
    w("\n\n")
    for role in ROLES:
        name = _machine_name(role)
        w(f"Test{name} = {name}.TestCase\n")
        w(f"Test{name}.settings = {'ASGI_PROFILE' if role in ASGI_IMPLS else 'PROFILE'}\n")
    w("\n\n")
    w('@pytest.mark.parametrize("role", ROLES)\n')
    w("def test_every_drivable_pair(role: Role) -> None:\n")
    w('    """Deterministic tour: each drivable pair once, checked as in the rules."""\n')
    w('    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"\n')
    w("    failures = asyncio.run(run_tour(role))\n")
    w('    assert not failures, "\\n".join(failures)\n')
    return "".join(o)


RENDERERS["tests/generated/test_connection_stateful.py"] = render_stateful_tests
