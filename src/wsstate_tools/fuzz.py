"""``wsstate fuzz --minutes N``: a long campaign of the generated stateful tests.

Runs the generated Hypothesis state machines (tests/generated/) in chunks of a
few examples each, alternating the server and client roles, each chunk with its
own seed, until the time is up. Shows progress after each chunk and ends with a
summary: steps, examples, transition coverage, and every failure with the
command that replays it (``wsstate fuzz --replay SEED --role ROLE``).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["add_arguments", "main"]

GENERATED: Final = Path("tests/generated/test_connection_stateful.py")
CHUNK: Final = 5
STEPS: Final = 20


@dataclass
class Failure:
    """One failing chunk."""

    role: str
    seed: int
    error: str


def _minutes(text: str) -> float:
    """``--minutes``: a finite number above 0 (0, a negative, NaN would run nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--minutes",
        type=_minutes,
        default=1.0,
        help="how long to run, a positive number (default: 1)",
    )
    parser.add_argument(
        "--role",
        choices=("server", "client", "asgi-sansio", "asgi-wsproto", "both", "all"),
        default="both",
        help=(
            "which side is guarded (default: both websockets roles, alternating; "
            "all: the ASGI roles too)"
        ),
    )
    parser.add_argument(
        "--replay", type=int, metavar="SEED", help="run one chunk with this seed and stop"
    )
    parser.add_argument(
        "--examples", type=int, default=CHUNK, help=f"examples per chunk (default: {CHUNK})"
    )
    parser.add_argument(
        "--steps", type=int, default=STEPS, help=f"steps per example (default: {STEPS})"
    )


def _load(root: Path) -> ModuleType:
    path = root / GENERATED
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `wsstate generate` in a checkout")
    spec = importlib.util.spec_from_file_location("wsstate_generated_stateful", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _chunk(module: ModuleType, role: str, seed: int, examples: int, steps: int) -> str | None:
    """Run one chunk; return the failure text, or None."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import seed as with_seed
    from hypothesis.stateful import run_state_machine_as_test

    name = "".join(part.capitalize() for part in role.split("-")) + "Side"
    machine = getattr(module, name)  # the generated machine of the role (ServerSide...)
    chunk_settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # shrinking real-socket runs is slow; replay by seed
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        report_multiple_bugs=False,
    )
    seeded = with_seed(seed)(machine)
    try:
        run_state_machine_as_test(seeded, settings=chunk_settings)
    except Exception as exc:
        return _describe(exc)
    finally:
        seeded._hypothesis_internal_use_seed = None
    return None


def _describe(exc: BaseException) -> str:
    """The failure, with the first underlying error of an exception group."""
    text = f"{type(exc).__name__}: {exc}"
    inner = getattr(exc, "exceptions", None)
    if inner:
        text += "\n" + _describe(inner[0])
    return text


def main(args: argparse.Namespace) -> int:
    """Run the campaign (or one replay); exit 1 if anything failed."""
    from wsstate.testing import stateful

    from .paths import find_root

    root = Path(args.root) if getattr(args, "root", None) else find_root()
    module = _load(root)
    if args.role == "both":
        roles = ["server", "client"]
    elif args.role == "all":
        roles = list(stateful.ROLES)
    else:
        roles = [args.role]
    failures: list[Failure] = []
    started = time.monotonic()
    if args.replay is not None:
        for role in roles:
            error = _chunk(module, role, args.replay, args.examples, args.steps)
            print(f"replay seed {args.replay} ({role}): {'FAILED' if error else 'passed'}")
            if error:
                print(error)
                failures.append(Failure(role, args.replay, error))
        return 1 if failures else 0
    deadline = started + args.minutes * 60
    rng = random.Random()
    chunks = 0
    while time.monotonic() < deadline:
        role = roles[chunks % len(roles)]
        seed = rng.randrange(2**32)
        error = _chunk(module, role, seed, args.examples, args.steps)
        chunks += 1
        if error:
            failures.append(Failure(role, seed, error))
        elapsed = time.monotonic() - started
        counts = stateful.STATS
        seen = stateful.coverage()
        cov = "  ".join(
            f"{r} {len(seen[r] & set(stateful.drivable_pairs(r)))}/"  # type: ignore[arg-type]
            f"{len(stateful.drivable_pairs(r))}"  # type: ignore[arg-type]
            for r in roles
        )
        print(
            f"[{elapsed:6.1f}s] chunks {chunks:4d}  examples {counts['examples']:6d}  "
            f"steps {counts['steps']:7d}  coverage {cov}  failures {len(failures)}",
            flush=True,
        )
    elapsed = time.monotonic() - started
    counts = stateful.STATS
    print()
    print(f"fuzz summary after {elapsed:.0f} s")
    print(f"  examples: {counts['examples']}, steps: {counts['steps']}, chunks: {chunks}")
    print(f"  steps per second: {counts['steps'] / elapsed:.1f}")
    print("  " + stateful.coverage_report().replace("\n", "\n  "))
    print(f"  failures: {len(failures)}")
    for failure in failures:
        first = failure.error.splitlines()[0] if failure.error else ""
        print(f"    {failure.role} seed {failure.seed}: {first}")
        print(
            f"      replay: wsstate fuzz --replay {failure.seed} --role {failure.role} "
            f"--examples {args.examples} --steps {args.steps}"
        )
    return 1 if failures else 0
