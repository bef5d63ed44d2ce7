"""Check a transport adapter written outside wsstate against the connection table.

The guarded-connection checks this project runs on its own adapters (websockets,
Starlette on uvicorn, aiohttp, tornado; :mod:`wsstate.testing.stateful`), for
an adapter of yours: describe how to open a server or a client connection of
its kind with an :class:`~wsstate.testing.sites.AdapterRole`, and
:func:`check_adapter` drives it against a raw peer through the fault proxy:

1. a *tour*: every pair of the table the harness can drive on your role, each
   once, on a fresh connection (the same tour as the generated tests');
2. a *walk*: ``steps`` events drawn at random among those enabled (reopening a
   connection after CLOSED), from ``seed``.

After every step: the guarded connection's state equals the reference chart's
(the generated python-statemachine model), the API's outcome equals the row's
effects, the guarded side's wire has no data frame after its Close and no
reserved code, no log record at ERROR, no call of the loop's exception
handler; after every connection, descriptors and tasks back to what they were.
It returns the :class:`CoverageReport` (every possible pair: covered, not
reached, or not drivable with the reason) or raises :class:`AdapterCheckFailure`
with the counterexample and a one-line replay command::

    python -m wsstate.testing.adapter_replay module:ROLE --seed S --steps N
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

from ..machines.connection import TABLE, Event, State
from .sites import AdapterRole

__all__ = ["AdapterCheckFailure", "CoverageReport", "check_adapter", "main", "replay_command"]

Pair = tuple[State, Event]


def _stateful() -> ModuleType:
    """The harness (imported when a check runs: it needs the ``testing`` extra)."""
    try:
        from . import stateful
    except ImportError as exc:
        raise ImportError(
            f"check_adapter needs wsstate's testing extra (pip install 'wsstate[testing]'): {exc}"
        ) from exc
    return stateful


@dataclass(frozen=True)
class CoverageReport:
    """Which possible pairs of the table a check drove, and why the others were not."""

    role: str
    """The role's name."""
    covered: tuple[Pair, ...]
    """Drivable pairs the runtime was seen to take, in table order."""
    not_reached: tuple[Pair, ...]
    """Drivable pairs it was not seen to take (the tour takes each: empty after one)."""
    not_drivable: dict[Pair, str]
    """Every other possible pair, with the reason it cannot be driven on this role."""
    connections: int
    """Connections the check opened."""
    steps: int
    """Steps of the walk."""

    @property
    def drivable(self) -> int:
        """How many pairs can be driven on this role."""
        return len(self.covered) + len(self.not_reached)

    @property
    def complete(self) -> bool:
        """True if every drivable pair was covered."""
        return not self.not_reached

    def __str__(self) -> str:
        lines = [
            f"transition coverage ({self.role}): {len(self.covered)}/{self.drivable} drivable "
            f"pairs; {self.connections} connections, {self.steps} walk steps"
        ]
        if self.not_reached:
            lines.append("not reached: " + ", ".join(f"{s}/{e}" for s, e in self.not_reached))
        lines.append(f"not drivable ({len(self.not_drivable)}):")
        lines.extend(f"  {s}/{e}: {why}" for (s, e), why in self.not_drivable.items())
        return "\n".join(lines)


class AdapterCheckFailure(AssertionError):
    """A check of an adapter role failed: the counterexample, and how to replay it."""

    def __init__(self, message: str, *, role: str, seed: int, steps: int, replay: str) -> None:
        super().__init__(f"{message}\nreplay: {replay}")
        self.role = role
        """The role's name."""
        self.seed = seed
        """The walk's seed."""
        self.steps = steps
        """The walk's length."""
        self.replay = replay
        """The one-line command that runs the same check again."""


def _report(role: AdapterRole, seen: set[Pair], connections: int, steps: int) -> CoverageReport:
    stateful = _stateful()
    drivable = stateful.drivable_pairs(role.name)
    excluded = stateful.not_drivable(role.name)
    fed = stateful.fed_as(role.name)
    why: dict[Pair, str] = {}
    for key, row in TABLE.items():
        if row.next is None or key in drivable:
            continue
        if key in fed:
            why[key] = f"driven, but fed as {fed[key][0].value}: {fed[key][1]}"
        elif key in excluded:
            why[key] = excluded[key]
        else:
            why[key] = "the harness has no driver for this event"
    return CoverageReport(
        role=role.name,
        covered=tuple(p for p in drivable if p in seen),
        not_reached=tuple(p for p in drivable if p not in seen),
        not_drivable=why,
        connections=connections,
        steps=steps,
    )


def _where(role: AdapterRole) -> tuple[str, str | None] | None:
    """``module:attribute`` of a module holding ``role``, and the directory to import it from."""
    for name, module in list(sys.modules.items()):
        if name == "__main__" or module is None:
            continue
        try:
            members = list(vars(module).items())
        except TypeError:  # not a module: something a lazy importer left
            continue
        for attribute, value in members:
            if value is role:
                file = getattr(module, "__file__", None)
                directory = None
                if file is not None:
                    depth = name.count(".") + (Path(file).name == "__init__.py")
                    path = Path(file).resolve().parents[depth]
                    try:
                        directory = str(path.relative_to(Path.cwd()))
                    except ValueError:
                        directory = str(path)
                return f"{name}:{attribute}", directory
    return None


def replay_command(
    role: AdapterRole, *, seed: int, steps: int, tour: bool = True, settle: float = 5.0
) -> str:
    """The one-line command that runs ``check_adapter(role, seed=..., steps=..., ...)`` again.

    ``role`` must be held by a module-level name of an imported module; otherwise the
    line is the Python call to make.
    """
    where = _where(role)
    if where is None:
        return (
            f"check_adapter(<the AdapterRole {role.name!r}>, seed={seed}, steps={steps}"
            f"{'' if tour else ', tour=False'}{'' if settle == 5.0 else f', settle={settle:g}'})"
            "  (no module holds it at module level)"
        )
    target, directory = where
    words = ["python", "-m", "wsstate.testing.adapter_replay", target]
    if directory not in (None, "."):
        words += ["--app-dir", str(directory)]
    words += ["--seed", str(seed), "--steps", str(steps)]
    if not tour:
        words.append("--no-tour")
    if settle != 5.0:
        words += ["--settle", f"{settle!r}"]
    return shlex.join(words)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"check_adapter {name}: an int, not {value!r}")
    if value < low:
        raise ValueError(f"check_adapter {name}: at least {low}, not {value}")
    return value


def check_adapter(
    role: AdapterRole,
    *,
    steps: int = 200,
    seed: int = 0,
    tour: bool = True,
    settle: float = 5.0,
) -> CoverageReport:
    """Check ``role``'s adapter against the connection table; return the coverage.

    Runs the tour (every drivable pair once, unless ``tour`` is False), then a
    walk of ``steps`` steps from ``seed``, through one site (the role's server
    and a fault proxy) in an event loop of its own (call it from synchronous
    code, a plain pytest test for instance). Registers ``role`` with the harness
    (``wsstate.testing.stateful.register_adapter_role``). ``settle``: how long
    (seconds) a step may take to reach the model's state, and a connection to
    open; an upper bound only (the table's timers run on the harness's clock),
    so a shorter one makes a failing check fail sooner.

    It raises :class:`AdapterCheckFailure` on the first violation (the model's
    and the runtime's steps, and the replay command); TypeError or ValueError
    for a bad argument, at this call; RuntimeError from a running event loop.
    """
    if not isinstance(role, AdapterRole):
        raise TypeError(f"check_adapter takes an AdapterRole, not {role!r}")
    _check_int("steps", steps, 0)
    _check_int("seed", seed, 0)
    if not isinstance(tour, bool):
        raise TypeError(f"check_adapter tour: a bool, not {tour!r}")
    if isinstance(settle, bool) or not isinstance(settle, int | float):
        raise TypeError(f"check_adapter settle: seconds, not {settle!r}")
    if not math.isfinite(settle) or settle <= 0:
        raise ValueError(f"check_adapter settle: finite seconds above 0, not {settle}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("check_adapter runs its own event loop: call it outside one")
    _stateful().register_adapter_role(role)
    return asyncio.run(_check(role, steps, seed, tour, float(settle)))


async def _check(
    role: AdapterRole, steps: int, seed: int, tour: bool, settle: float
) -> CoverageReport:
    stateful = _stateful()
    name = role.name
    seen: set[Pair] = set()
    stateful.ADAPTER_COVERAGE[name] = seen
    replay = replay_command(role, seed=seed, steps=steps, tour=tour, settle=settle)
    timing = dataclasses.replace(stateful.TIMING, settle=settle)

    def failure(message: str) -> AdapterCheckFailure:
        return AdapterCheckFailure(message, role=name, seed=seed, steps=steps, replay=replay)

    connections = 0
    found = False
    site = stateful.open_site(name, timing)
    try:
        await site.open()
        if tour:
            for state, event, path in stateful.tour(name):
                connections += 1
                try:
                    taken = await stateful.run_tour_pair(name, state, event, path, site, timing)
                except Exception as exc:  # a failed check or a crash: both are findings
                    raise failure(
                        f"{name}: tour, {state}/{event} via "
                        f"{[e.value for e in path] or 'nothing'} (from OPEN): {exc}"
                    ) from exc
                if (state, event) not in taken:
                    raise failure(
                        f"{name}: tour, {state}/{event}: the runtime did not take this pair; "
                        f"it took {sorted(f'{s}/{e}' for s, e in taken)}"
                    )
        try:
            connections += await stateful.run_walk(name, steps, seed=seed, site=site, timing=timing)
        except Exception as exc:
            raise failure(f"{name}: walk, seed {seed}: {exc}") from exc
    except BaseException:
        found = True
        raise
    finally:
        try:
            await site.close()
        except AssertionError as exc:
            if not found:  # the first violation is the finding, not what follows it
                raise failure(f"{name}: at the site's close: {exc}") from exc
    return _report(role, seen, connections, steps)


DEFAULT_STEPS: Final = 200


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wsstate.testing.adapter_replay module:ROLE [--seed S] [--steps N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m wsstate.testing.adapter_replay",
        description="Check a transport adapter role (an AdapterRole held by module:attribute) "
        "against the connection table; the replay command of check_adapter().",
    )
    parser.add_argument("target", help="module:attribute of the AdapterRole")
    parser.add_argument("--app-dir", default=".", help="directory put first on sys.path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--no-tour", dest="tour", action="store_false")
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args(argv)
    module_name, _, attribute = args.target.partition(":")
    if not module_name or not attribute:
        parser.error(f"target must be module:attribute, not {args.target!r}")
    sys.path.insert(0, str(Path(args.app_dir).resolve()))
    role = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(role, AdapterRole):
        parser.error(f"{args.target} is not an AdapterRole: {role!r}")
    try:
        report = check_adapter(
            role, steps=args.steps, seed=args.seed, tour=args.tour, settle=args.settle
        )
    except AdapterCheckFailure as exc:
        print(f"FAILED {exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    print(report)
    return 0
