"""``wsstate bench``: what the guard costs, measured side by side (one module per figure).

Every figure is a ratio of two variants measured in the same run: several
rounds, the variants interleaved within each round (their order alternating
from one round to the next, so drift in the machine's speed hits both alike).
The table shows the median of each variant, the median of the per-round
ratios and their spread (min-max over the rounds). Nothing is a bare time.

The figures (DESIGN.md, section 6):

1. send throughput over loopback, ``GuardedConnection.send`` vs websockets'
   ``send``, server to client (a framework's push), 64 B and 16 KiB binary
   messages: a fixed count, then a text ``END`` that the client answers once
   it has read everything before it; the client is another process, so its
   work does not share the sender's CPU. With it, the sending process's CPU
   time per message (1c, 1d), which other load on the machine disturbs less,
   and against the guard's own write path without the table (1e, 1f: the
   websockets adapter writes frames through websockets' Sans-I/O protocol,
   as websockets' ``broadcast()`` does, which is cheaper than ``send()``; these
   rows show what the table's decisions cost on top of it);
2. the cost of one decision: ``Machine.feed`` (and a bare ``TABLE`` lookup) vs
   the python-statemachine model's event dispatch (``ConnectionChart``);
3. one broadcast to N real connections (2,000 by default) of which half are
   dead (a quarter closed by the peer, a quarter reset): ``Hub.broadcast`` vs a
   naive ``for ws in conns: try: await ws.send(m) except Exception: pass``
   over the bare websockets connections (all N; and, as a second row, over the
   live ones only, which is the guard's per-connection cost);
4. memory the guard adds per connection (tracemalloc), against the bare
   websockets connection's own;
5. connection churn (connect, one message, close) per second,
   :func:`wsstate.connect` vs websockets' ``connect``, and the client's CPU
   time per connection;
6. stateful fuzz steps per second against the real peer (a timed tour of the
   table's pairs without timers, :mod:`wsstate.testing.stateful`, guarded
   server vs guarded client) and verifier states per second
   (:func:`wsstate_tools.verify.check`);
7. ``import wsstate`` against ``import websockets.asyncio.server``, as whole
   processes and as the import alone (:mod:`.imports`);
8. sessions across reconnects (:mod:`.sessions`): the memory a
   :class:`wsstate.Sessions` session adds per connection, against the guard's,
   and ``Sessions.broadcast`` against ``Hub.broadcast`` over the same live
   connections;
9. reconnecting (:mod:`.reconnect`): :class:`wsstate.ReconnectingClient` vs
   websockets' ``async for connect()`` loop: the herd after a server restart
   (the busiest 100 ms window's share of a fleet's reconnects) and the
   attempts made against a server that accepts then closes;
10. aiohttp (:mod:`.aiohttp_figure`) and 11. tornado (:mod:`.tornado_figure`):
    guarded vs bare on each framework's own WebSockets (:mod:`.framework`): send
    throughput and the sender's CPU per message (a server in this process, its
    clients in the peer), churn and the client's CPU per connection (the
    framework's client against the peer's sink), and on Python 3.12+ the Python
    instructions per connection of that churn, guarded and bare, with wsstate's
    own share (:mod:`.instructions`: a count, which does not scatter with the
    machine's load). Skipped with a note when the framework is not installed.
12. broadcast across processes (:mod:`.redis_fanout`): the latency, p50 and
    p99, from one worker's broadcast to each of N connections spread over three
    worker processes, :class:`wsstate.RedisHub` vs the broadcaster library's
    Redis backend, through the same real redis-server. Skipped with a note when
    redis-server or broadcaster is missing.
13. ``Hub.broadcast`` against websockets' own ``broadcast()`` (:mod:`.hub_broadcast`)
    to N connections (2,000 by default) all live and half dead, and the Hub's
    broadcast with 1% of its members stalled (buffers full) against none.

All connections use ``compression=None``: compression would add the same cost
to both variants and hide the guard's. ``--quick`` runs everything scaled down
(a smoke run of a few seconds; its figures are noisy). ``--only 10,11`` runs
the figures named (by number) and no other.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from . import instructions
from .aiohttp_figure import _aiohttp_figures
from .broadcast import _broadcast
from .churn import _churn_against_sink
from .common import (
    BROADCAST_CONNECTIONS,
    Figure,
    Settings,
    _fmt,
    _median,
    _ratio_text,
    machine_info,
)
from .decision import _decision_cost
from .fuzz_verify import _fuzz_and_verify
from .hub_broadcast import _hub_broadcast
from .imports import _import_time
from .memory import _memory
from .reconnect import _reconnect
from .redis_fanout import _redis_fanout
from .send import _send_throughput
from .sessions import _sessions
from .tornado_figure import _tornado_figures

__all__ = ["Figure", "Settings", "add_arguments", "main", "run"]


def render(figures: Sequence[Figure], notes: Sequence[str], info: Sequence[tuple[str, str]]) -> str:
    """The table of figures, with the machine it ran on and the notes."""
    lines = ["wsstate bench: what the guard costs, measured side by side", ""]
    width = max(len(k) for k, _ in info)
    lines += [f"  {k:<{width}}  {v}" for k, v in info]
    lines.append("")
    header = (
        f"{'#':<3} {'figure':<64} {'A: median':>22} {'B: median':>22} "
        f"{'ratio':>8} {'min-max':>15} {'target':>8} {'':5}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for f in figures:
        ma = f"{f.a_name} {_fmt(_median(f.a), f.unit)}" if f.a else "-"
        mb = f"{f.b_name} {_fmt(_median(f.b), f.unit)}" if f.b else "-"
        if f.ratios:
            spread = f"{_ratio_text(min(f.ratios))}-{_ratio_text(max(f.ratios))}"
            ratio = _ratio_text(f.ratio)
        else:
            spread = ratio = "-"
        lines.append(
            f"{f.key:<3} {f.what:<64} {ma:>22} {mb:>22} {ratio:>8} {spread:>15} "
            f"{f.target:>8} {f.verdict:5}".rstrip()
        )
    lines.append("")
    lines.append(
        "ratio: median of the per-round ratios ("
        + "; ".join(f"{f.key} {f.ratio_name}" for f in figures if f.ratios)
        + "); min-max over the rounds"
    )
    for f in figures:
        if f.note:
            lines.append(f"  {f.key}: {f.note}")
    for note in notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


async def run(
    s: Settings,
    root: Path | None = None,
    progress: bool = True,
    only: frozenset[int] | None = None,
) -> tuple[str, bool]:
    """Measure every figure; return the rendered table, and whether every figure was measured.

    A figure that fails (its peer process could not start, say) is reported in
    the notes and the others still run. ``only``: the numbers of the figures to
    run (all when None).
    """
    figures: list[Figure] = []
    notes: list[str] = []
    complete = True
    steps: list[tuple[str, Callable[[], Awaitable[list[Figure]]]]] = [
        ("1. send throughput", lambda: _send_throughput(s)),
        ("2. decision cost", lambda: _decision_cost(s, notes)),
        (f"3. broadcast to {s.broadcast_connections:,} connections", lambda: _broadcast(s, notes)),
        ("4. memory per connection", lambda: _memory(s)),
        ("5. churn", lambda: _churn_against_sink(s)),
        ("6. fuzz steps and verifier states", lambda: _fuzz_and_verify(root, s, notes)),
        ("7. import time", lambda: _import_time(s)),
        ("8. sessions: memory and broadcast", lambda: _sessions(s)),
        ("9. reconnect: herd and accept-then-close", lambda: _reconnect(s)),
        ("10. aiohttp: send throughput and churn", lambda: _aiohttp_figures(s, notes)),
        ("11. tornado: send throughput and churn", lambda: _tornado_figures(s, notes)),
        ("12. broadcast across processes through Redis", lambda: _redis_fanout(s, notes)),
        ("13. Hub vs websockets.broadcast; stalled members", lambda: _hub_broadcast(s, notes)),
    ]
    if only is not None:
        steps = [step for step in steps if int(step[0].split(".", 1)[0]) in only]
    for title, measure in steps:
        if progress:
            print(f"  ... {title}", file=sys.stderr, flush=True)
        try:
            figures += await measure()
        except Exception as exc:
            complete = False
            notes.append(f"FAILED {title}: {type(exc).__name__}: {exc}")
    if not instructions.AVAILABLE and any(step[0].startswith(("10.", "11.")) for step in steps):
        notes.append(
            "10g and 11g (Python instructions per connection) not measured: they need "
            "sys.monitoring, Python 3.12+"
        )
    return render(figures, notes, machine_info()), complete


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds (noisy figures)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of figures 1, 2, 3 and 5 (default: 31, 11, 21 and 61; --quick: 3 or 4)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        help=f"connections of the broadcast figure (default: {BROADCAST_CONNECTIONS})",
    )
    parser.add_argument(
        "--only",
        type=_figure_numbers,
        metavar="N[,N...]",
        help="run only the figures of these numbers (say --only 10,11); default: all",
    )


def _figure_numbers(text: str) -> frozenset[int]:
    try:
        numbers = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"figure numbers, comma-separated: not {text!r}") from None
    if not numbers or not all(1 <= n <= FIGURE_COUNT for n in numbers):
        raise argparse.ArgumentTypeError(f"figure numbers are 1 to {FIGURE_COUNT}: not {text!r}")
    return numbers


#: The figures run() measures, numbered 1 to this.
FIGURE_COUNT = 13


def main(args: argparse.Namespace) -> int:
    """Run the benchmarks and print the table; exit 1 if a figure could not be measured.

    Figures short of their targets are marked BELOW in the table; they do not
    change the exit status (a benchmark is a measurement, not a test).
    """
    s = Settings.quick() if args.quick else Settings()
    changes: dict[str, Any] = {}
    if args.rounds:
        for name in ("send_rounds", "decision_rounds", "broadcast_rounds", "churn_rounds"):
            changes[name] = max(1, args.rounds)
    if args.connections:
        changes["broadcast_connections"] = max(2, args.connections)
    if changes:
        from dataclasses import replace

        s = replace(s, **changes)
    root = Path(args.root) if getattr(args, "root", None) else None
    table, complete = asyncio.run(run(s, root, only=getattr(args, "only", None)))
    print(table)
    return 0 if complete else 1
