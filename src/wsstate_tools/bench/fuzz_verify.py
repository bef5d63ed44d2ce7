"""Figure 6: stateful fuzz steps and verifier states per second."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from .common import Figure, Settings, _interleave, _per_round


async def _fuzz_and_verify(root: Path | None, s: Settings, notes: list[str]) -> list[Figure]:
    from wsstate.machines.connection import Event
    from wsstate.testing import stateful

    timers = {Event.KEEPALIVE_TIMEOUT, Event.CLOSE_TIMEOUT, Event.TRANSPORT_STALLED}
    pairs = [p for p in stateful.tour() if p[1] not in timers]
    position = {"server": 0, "client": 0}
    failures: list[str] = []

    async def timed_tour(role: stateful.Role) -> float:
        before = stateful.STATS["steps"]
        started = time.perf_counter()
        deadline = started + s.fuzz_seconds
        while True:
            state, event, path = pairs[position[role] % len(pairs)]
            position[role] += 1
            try:
                await stateful.run_tour_pair(role, state, event, path)
            except Exception as exc:  # a finding, reported; the steps still count
                failures.append(f"{role} {state}/{event}: {exc!r}")
            if time.perf_counter() >= deadline:
                break
        return (stateful.STATS["steps"] - before) / (time.perf_counter() - started)

    async def server() -> float:
        return await timed_tour("server")

    async def client() -> float:
        return await timed_tour("client")

    # The tour must not count towards the coverage of the generated tests when
    # the bench runs inside a test session: what it saw is forgotten afterwards.
    seen = {role: set(taken) for role, taken in stateful.coverage().items()}
    counts = dict(stateful.STATS)
    try:
        srv, cli = await _interleave(s.fuzz_rounds, [server, client])
    finally:
        for role, taken in stateful.coverage().items():
            taken.intersection_update(seen[role])
        stateful.STATS.update(counts)
    if failures:
        notes.append(f"figure 6a: {len(failures)} tour pair(s) failed, e.g. {failures[0]}")
    figures = [
        Figure(
            "6a",
            "stateful fuzz steps/s, real peer: guarded server/guarded client",
            "server role",
            "client role",
            "steps/s",
            "server/client",
            srv,
            cli,
            _per_round(srv, cli),
            note=f"timed tour of the {len(pairs)} drivable pairs without timers, "
            "each in a fresh harness (start and teardown checks included)",
        )
    ]

    from .. import verify
    from ..paths import spec_path
    from ..spec import load

    try:
        spec = load(spec_path("connection", root))
    except FileNotFoundError as exc:
        notes.append(f"figure 6b skipped: {exc}")
        figures.append(Figure("6b", "verifier states/s", "verify", "", "states/s", "-"))
        return figures
    bounds = verify.Bounds(sends=0) if s.verify_quick else verify.Bounds()
    rates: list[float] = []
    for _ in range(s.verify_rounds):
        gc.collect()
        result = verify.check(spec, bounds)
        rates.append(result.states / result.seconds)
    figures.append(
        Figure(
            "6b",
            "verifier states/s (wsstate verify, both searches)",
            "verify",
            "",
            "states/s",
            "-",
            rates,
            note=f"{result.states:,} states, {result.transitions:,} transitions "
            f"(+ {result.clean_states:,} states of the clean sub-model); bounds: {bounds}",
        )
    )
    return figures


# -- the table ------------------------------------------------------------------------------------
