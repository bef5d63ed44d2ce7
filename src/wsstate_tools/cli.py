"""The ``wsstate`` command line (also ``python -m wsstate_tools``).

Each subcommand lives in the module named for what it does and is imported only
when it runs, so ``wsstate --help`` stays fast and the runtime never imports the
tooling.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import Spec

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _root(args: argparse.Namespace) -> Path:
    from .paths import find_root

    return Path(args.root) if args.root else find_root()


def _cmd_generate(args: argparse.Namespace) -> int:
    from .generate import write

    root = _root(args)
    changed = write(root)
    for path in changed:
        print(f"wrote {path.as_posix()}")
    if not changed:
        print("generated files are up to date")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .generate import check

    diffs = check(_root(args))
    if diffs:
        for diff in diffs:
            sys.stdout.write(diff)
        print(
            f"\nwsstate check: {len(diffs)} generated file(s) differ from the spec; "
            "run `wsstate generate` and commit the result",
            file=sys.stderr,
        )
        return 1
    print("wsstate check: every generated file matches the spec")
    return 0


def _spec_of(args: argparse.Namespace) -> Spec:
    """The spec a ``table`` or ``diagram`` command prints: ``--spec FILE`` or machine NAME."""
    from .generate import relative
    from .paths import spec_path
    from .spec import load

    if args.spec:
        return load(Path(args.spec))
    root = Path(args.root) if args.root else None
    path = spec_path(args.machine, root)
    return relative(load(path), path.parents[1])


def _cmd_diagram(args: argparse.Namespace) -> int:
    from .generate.diagrams import render_dot, render_mermaid

    spec = _spec_of(args)
    sys.stdout.write(render_dot(spec) if args.format == "dot" else render_mermaid(spec))
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    from .tableview import format_table

    sys.stdout.write(format_table(_spec_of(args)))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from . import verify
    from .generate.promela import render

    return verify.main(args, render_promela=render)


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from . import fuzz

    return fuzz.main(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.main(args)


def _cmd_soak(args: argparse.Namespace) -> int:
    from . import soak

    return soak.main(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo_run

    return demo_run.main(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per tool."""
    parser = argparse.ArgumentParser(
        prog="wsstate",
        description="A formally modelled WebSocket connection lifecycle: tools over its spec.",
    )
    parser.add_argument(
        "--root",
        help="project root holding spec/*.toml (default: search upwards from here, then the "
        "specs installed with the package)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "generate",
        help="regenerate the code, diagrams and models from spec/",
        description="For every spec/*.toml: write the runtime table, the reference chart, the "
        "diagrams, the Promela model and the stateful tests.",
    )
    p.set_defaults(handler=_cmd_generate)

    p = sub.add_parser(
        "check",
        help="fail with a diff if a committed generated file is stale",
        description="Regenerate in memory and compare with the committed files; exit 1 with "
        "a unified diff for each one that differs.",
    )
    p.set_defaults(handler=_cmd_check)

    p = sub.add_parser(
        "diagram",
        help="print the state diagram (Mermaid or DOT)",
        description="Print the diagram of a machine to standard output.",
    )
    p.add_argument("machine", nargs="?", default="connection", help="machine name")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    p.add_argument("--spec", help="spec file (instead of a machine name)")
    p.set_defaults(handler=_cmd_diagram)

    p = sub.add_parser(
        "table",
        help="print the transition table",
        description="Print every (state, event) row of a machine as a text table.",
    )
    p.add_argument("machine", nargs="?", default="connection", help="machine name")
    p.add_argument("--spec", help="spec file (instead of a machine name)")
    p.set_defaults(handler=_cmd_table)

    p = sub.add_parser(
        "verify",
        help="model-check a machine alone, then composed with its peers",
        description="Explore every reachable state of a client and a server built from the "
        "spec, talking over a channel with faults and timers; check the safety and "
        "termination properties and print the shortest counterexample of any violation.",
    )
    from . import verify

    verify.add_arguments(p)
    p.set_defaults(handler=_cmd_verify)

    p = sub.add_parser(
        "fuzz",
        help="fuzz an endpoint (--target), or run a campaign of the generated stateful tests",
        description="With --target URL|module:app|module:handler: fuzz that WebSocket endpoint "
        "with real clients through the fault proxy against the connection table (works on an "
        "installed package). Without: run this checkout's generated Hypothesis state machines "
        "against real sockets. Either until the time is up, on --workers processes sharing one "
        "example database, with one progress display, then a summary with replay commands.",
    )
    from . import fuzz

    fuzz.add_arguments(p)
    p.set_defaults(handler=_cmd_fuzz)

    p = sub.add_parser(
        "bench",
        help="measure what the guard costs, side by side with bare websockets",
        description="Measure send throughput, decision cost, broadcast, memory, churn, fuzz "
        "and verifier speed; print each figure as a ratio of two variants measured in "
        "interleaved rounds of the same run.",
    )
    from . import bench

    bench.add_arguments(p)
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser(
        "soak",
        help="hold N guarded connections under churn and faults; check nothing leaks",
        description="Hold N guarded connections (default 10,000) on a websockets server in this "
        "process, churned by real clients in another process with random faults (clean close, "
        "reset, FIN, half-open, slow reader) and broadcasts running, for --minutes; report fds, "
        "tasks, RSS, Python heap, ERROR records, loop exception-handler calls and broadcast "
        "durations at the start and end of each phase. Exit 1 on an ERROR record, a handler "
        "call, or fds, tasks or heap not back within 2%% of the baseline.",
    )
    from . import soak

    soak.add_arguments(p)
    p.set_defaults(handler=_cmd_soak)

    p = sub.add_parser(
        "demo",
        help="run the side-by-side demo (naive handler vs wsstate)",
        description="Start a real websockets server on loopback and a storm of real clients, "
        "once with a naive handler and once with wsstate; print a side-by-side table.",
    )
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from .spec import SpecError

    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except SpecError as exc:
        print(f"wsstate: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"wsstate: {exc}", file=sys.stderr)
        return 2
