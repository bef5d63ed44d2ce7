"""Generated Hypothesis stateful tests of a machine: ``tests/generated/test_<name>_stateful.py``.

Only for a machine whose spec names a harness (``[machine] harness = "module"``).
One rule per event of the spec, enabled when the harness can drive it in the
model's state; one rule for two operations started together, over the
harness's ``CONCURRENT_PAIRS``; one test class per role of the harness
(``ROLES``). The generator reads the spec only: it imports neither the harness
nor the runtime, so it can regenerate any file, broken or not.

The harness module provides ``ROLES``, ``CONCURRENT_PAIRS``, ``Harness``,
``HypothesisChoices``, ``Role``, ``class_name``, ``role_doc``, ``role_settings``,
``drivable_pairs``, ``open_site`` (a site whose ``open()`` and ``close()`` bracket
an example; ``Harness(role, site=site)``), ``register_profiles`` and ``run_tour``.
"""

from __future__ import annotations

from pathlib import Path

from ..spec import Spec
from .common import class_prefix, header

__all__ = ["render_stateful_tests", "stateful_tests_path"]


def stateful_tests_path(spec: Spec) -> Path:
    """Where the generated stateful tests of ``spec`` go."""
    return Path(f"tests/generated/test_{spec.name}_stateful.py")


def render_stateful_tests(spec: Spec) -> str:
    """The generated Hypothesis stateful tests of ``spec`` (which must name a harness)."""
    if spec.harness is None:
        raise ValueError(f"machine {spec.name} names no harness: it has no stateful tests")
    machine = class_prefix(spec) + "Machine"
    o: list[str] = [header(spec, "#")]
    w = o.append
    w(f'"""Hypothesis stateful tests of the {spec.name} machine against real sockets.\n\n')
    w(f"One rule per event of the table; a rule is enabled when {spec.harness}\n")
    w("can drive its event in the model's state. The python-statemachine model is the\n")
    w("oracle; every check is in the harness. One test class per role of the harness.\n")
    w("Profile: WSSTATE_HYPOTHESIS_PROFILE=ci (default) or long.\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("import asyncio\n")
    w("import contextlib\n")
    w("import os\n")
    w("from typing import Any, ClassVar\n\n")
    w("import pytest\n")
    w("from hypothesis import settings\n")
    w("from hypothesis import strategies as st\n")
    w("from hypothesis.stateful import RuleBasedStateMachine, precondition, rule\n\n")
    w(f"from wsstate.machines.{spec.name} import TERMINAL, Event\n")
    w(f"from {spec.harness} import (\n")
    w("    CONCURRENT_PAIRS,\n    ROLES,\n    Harness,\n    HypothesisChoices,\n    Role,\n")
    w("    class_name,\n    drivable_pairs,\n    open_site,\n")
    w("    register_profiles,\n    role_doc,\n")
    w("    role_settings,\n    run_tour,\n)\n\n")
    w("register_profiles()\n")
    w('PROFILE = settings.get_profile(os.environ.get("WSSTATE_HYPOTHESIS_PROFILE", "ci"))\n\n\n')
    w(f"class {machine}(RuleBasedStateMachine):\n")
    w('    """Drives one guarded endpoint; one subclass per role."""\n\n')
    w("    role: ClassVar[Role]\n\n")
    w("    def __init__(self) -> None:\n")
    w("        super().__init__()\n")
    w("        self.loop = asyncio.new_event_loop()\n")
    w("        # One server and proxy for the example; each (re)opened endpoint is a\n")
    w("        # fresh connection through them, checked on its own at its stop().\n")
    w("        self.site = open_site(self.role)\n")
    w("        try:\n")
    w("            self.loop.run_until_complete(self.site.open())\n")
    w("            self.h = Harness(self.role, site=self.site)\n")
    w("            self.loop.run_until_complete(self.h.start())\n")
    w("        except BaseException:\n")
    w("            # Hypothesis runs no teardown after a failed __init__: undo it here\n")
    w("            # (the failure to start is the error, not what closing then finds).\n")
    w("            with contextlib.suppress(Exception):\n")
    w("                self.loop.run_until_complete(self.site.close())\n")
    w("            self.loop.close()\n")
    w("            raise\n\n")
    w("    def teardown(self) -> None:\n")
    w("        try:\n")
    w("            self.loop.run_until_complete(self.h.stop())\n")
    w("        finally:\n")
    w("            try:\n")
    w("                self.loop.run_until_complete(self.site.close())\n")
    w("            finally:\n")
    w("                self.loop.close()\n\n")
    w("    def _step(self, event: Event, data: Any) -> None:\n")
    w("        self.loop.run_until_complete(self.h.step(event, HypothesisChoices(data)))\n\n")
    w("    @precondition(lambda self: self.h.model_state in TERMINAL)\n")
    w("    @rule()\n")
    w("    def reopen(self) -> None:\n")
    w('        """Check and tear down the finished endpoint, then open a new one."""\n')
    w("        self.loop.run_until_complete(self.h.stop())\n")
    w("        self.h = Harness(self.role, site=self.site)\n")
    w("        self.loop.run_until_complete(self.h.start())\n\n")
    w("    @precondition(\n")
    w("        lambda self: any(self.h.enabled_concurrently(a, b) for a, b in CONCURRENT_PAIRS)\n")
    w("    )\n")
    w("    @rule(data=st.data())\n")
    w("    def together(self, data: Any) -> None:\n")
    w('        """Two operations started together (a pair of CONCURRENT_PAIRS)."""\n')
    w("        pairs = [p for p in CONCURRENT_PAIRS if self.h.enabled_concurrently(*p)]\n")
    w('        a, b = data.draw(st.sampled_from(pairs), label="pair")\n')
    w("        coro = self.h.step_concurrently(a, b, HypothesisChoices(data))\n")
    w("        self.loop.run_until_complete(coro)\n")
    for e in spec.events:
        member = e.name.upper()
        w("\n")
        w(f"    @precondition(lambda self: self.h.enabled(Event.{member}))\n")
        w("    @rule(data=st.data())\n")
        w(f"    def {e.name}(self, data: Any) -> None:\n")
        w(f'        """{e.kind}: {e.doc}"""\n')
        w(f"        self._step(Event.{member}, data)\n")
    w("\n\n")
    w("for _role in ROLES:\n")
    w(f"    _cls: type[{machine}] = type(\n")
    w(f'        class_name(_role), ({machine},), {{"role": _role, "__doc__": role_doc(_role)}}\n')
    w("    )\n")
    w("    _cls.TestCase.settings = role_settings(_role, PROFILE)\n")
    w('    globals()[f"Test{_cls.__name__}"] = _cls.TestCase\n\n\n')
    w('@pytest.mark.parametrize("role", ROLES)\n')
    w("def test_every_drivable_pair(role: Role) -> None:\n")
    w('    """Deterministic tour: each drivable pair once, checked as in the rules."""\n')
    w('    assert drivable_pairs(role), "no drivable pair: the harness lost its drivers"\n')
    w("    failures = asyncio.run(run_tour(role))\n")
    w('    assert not failures, "\\n".join(failures)\n')
    return "".join(o)
