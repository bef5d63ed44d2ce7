"""``wsstate verify [NAME]``: check a machine alone, then its composition if it has one.

The Promela renderer imports :mod:`.model`, so this package never imports it
(not even inside a function: that would be an import cycle through
``wsstate_tools.verify``); the command line passes it to :func:`main` for
``--promela``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..spec import Spec, load, load_unvalidated
from .compositions import COMPOSITIONS
from .model import Bounds
from .report import Result, render_test
from .search import check_machine

__all__ = ["add_arguments", "load_spec", "main"]


def load_spec(path: str | Path, *, validate: bool = True) -> Spec:
    """Load a spec; with ``validate=False``, also one the validator rejects (a mutant)."""
    if validate:
        return load(path)
    spec, _ = load_unvalidated(path)
    return spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.description = (
        "Check a machine's well-formedness on its own (every machine), then, for a machine "
        "with a composition (connection: a client and a server over a channel with faults "
        "and timers), explore every reachable state of the composition; print each "
        "property's verdict and the shortest counterexample of any violation."
    )
    parser.add_argument(
        "machine",
        nargs="?",
        default="connection",
        help="machine name: spec/NAME.toml (default: connection)",
    )
    parser.add_argument("--spec", help="spec file (instead of a machine name)")
    parser.add_argument(
        "--unvalidated",
        action="store_true",
        help="check a spec the validator rejects (its problems are printed as warnings)",
    )
    d = Bounds()
    group = parser.add_argument_group("bounds of the connection's composition")
    group.add_argument(
        "--sends", type=int, default=d.sends, help="transmitting app_send calls per peer"
    )
    group.add_argument(
        "--pings", type=int, default=d.pings, help="transmitting app_ping calls per peer"
    )
    group.add_argument("--faults", type=int, default=d.faults, help="faults per run")
    group.add_argument(
        "--capacity", type=int, default=d.capacity, help="frames per pipe (0: sends+pings+2)"
    )
    parser.add_argument("--promela", metavar="PATH", help="also write the Promela model here")
    parser.add_argument(
        "--emit-test",
        metavar="PATH",
        help="write a pytest module replaying each counterexample found",
    )


def main(
    args: argparse.Namespace, render_promela: Callable[[Spec, Bounds], str] | None = None
) -> int:
    """Run the checks; exit 0 when every property holds, 1 on a violation.

    ``render_promela`` writes the model for ``--promela`` (the command line passes
    :func:`wsstate_tools.generate.promela.render`).
    """
    if args.spec:
        path = Path(args.spec)
    else:
        from ..paths import spec_path

        root = Path(args.root) if getattr(args, "root", None) else None
        path = spec_path(getattr(args, "machine", None) or "connection", root)
    if args.unvalidated:
        spec, problems = load_unvalidated(path)
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
    else:
        spec = load(path)
    bounds = Bounds(args.sends, args.pings, args.faults, args.capacity)
    if min(bounds.sends, bounds.pings, bounds.faults, bounds.capacity) < 0:
        print("wsstate verify: bounds must not be negative", file=sys.stderr)
        return 2
    if args.promela:
        if render_promela is None:
            print("wsstate verify: --promela needs a Promela renderer", file=sys.stderr)
            return 2
        Path(args.promela).write_text(render_promela(spec, bounds), encoding="utf-8")
        print(f"wrote {args.promela}")
    results: list[Result] = [check_machine(spec)]
    print(results[0].report())
    composition = COMPOSITIONS.get(spec.name)
    if composition is None:
        print(f"\n(no composition for the {spec.name} machine: well-formedness checks only)")
    else:
        results.append(composition.check(spec, bounds))
        print()
        print(results[-1].report())
    ok = all(r.ok for r in results)
    if args.emit_test:
        if ok:
            print("no counterexample: no test written")
        else:
            text = render_test(results, path, validated=not args.unvalidated, machine=spec.name)
            Path(args.emit_test).write_text(text, encoding="utf-8")
            print(f"wrote {args.emit_test}")
    return 0 if ok else 1
