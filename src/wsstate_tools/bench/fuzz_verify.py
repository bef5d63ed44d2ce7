"""Figure 6: stateful fuzz steps and verifier states per second."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from .common import Figure, Settings, _interleave, _per_round

#: Steps of one seeded walk of figure 6a (each walk a new seed, through the same site).
WALK_STEPS = 100


async def _fuzz_and_verify(root: Path | None, s: Settings, notes: list[str]) -> list[Figure]:
    from wsstate.testing._extra import INSTALL, missing_testing_extra

    if missing_testing_extra():  # the stateful harness: python-statemachine, Hypothesis
        notes.append(f"figure 6 skipped: {INSTALL}")
        return []
    from wsstate.machines.connection import Event
    from wsstate.testing import stateful

    failures: list[str] = []
    seeds: dict[str, int] = {}

    async def walk(role: stateful.Role, seconds: float) -> float:
        """Steps/s of seeded walks (stateful.run_walk) through one site for ``seconds``."""
        site = stateful.open_site(role)
        await site.open()
        before = stateful.STATS["steps"]
        started = time.perf_counter()
        try:
            while time.perf_counter() - started < seconds:
                seed = seeds[role] = seeds.get(role, 0) + 1
                try:
                    await stateful.run_walk(role, WALK_STEPS, seed=seed, site=site)
                except Exception as exc:  # a finding, reported; the steps still count
                    failures.append(f"{role} walk seed {seed}: {exc!r}")
            elapsed = time.perf_counter() - started
        finally:
            try:
                await site.close()
            except AssertionError as exc:
                failures.append(f"{role} site: {exc}")
        return (stateful.STATS["steps"] - before) / elapsed

    timers = {Event.KEEPALIVE_TIMEOUT, Event.CLOSE_TIMEOUT, Event.TRANSPORT_STALLED}

    async def timed_tour(role: stateful.Role, seconds: float) -> float:
        """The former figure: tour pairs without timers, each a fresh connection."""
        pairs = [p for p in stateful.tour(role) if p[1] not in timers]
        site = stateful.open_site(role)
        await site.open()
        before = stateful.STATS["steps"]
        started = time.perf_counter()
        n = 0
        try:
            while time.perf_counter() - started < seconds:
                state, event, path = pairs[n % len(pairs)]
                n += 1
                try:
                    await stateful.run_tour_pair(role, state, event, path, site)
                except Exception as exc:
                    failures.append(f"{role} {state}/{event}: {exc!r}")
            elapsed = time.perf_counter() - started
        finally:
            await site.close()
        return (stateful.STATS["steps"] - before) / elapsed

    async def server() -> float:
        return await walk("server", s.fuzz_seconds)

    async def client() -> float:
        return await walk("client", s.fuzz_seconds)

    # The bench must not count towards the coverage of the generated tests when it
    # runs inside a test session: what it saw is forgotten afterwards.
    seen = {role: set(taken) for role, taken in stateful.coverage().items()}
    counts = dict(stateful.STATS)
    try:
        srv, cli = await _interleave(s.fuzz_rounds, [server, client])
        others = {
            role: await walk(role, s.fuzz_seconds) for role in ("aiohttp-server", "tornado-server")
        }
        tours = {role: await timed_tour(role, s.fuzz_seconds) for role in ("server", "client")}
    finally:
        for role, taken in stateful.coverage().items():
            taken.intersection_update(seen[role])
        stateful.STATS.update(counts)
    notes.append(
        "figure 6a, one round each: walk "
        + ", ".join(f"{role} {rate:,.0f} steps/s" for role, rate in others.items())
        + "; the former 6a (tour pairs without timers, a fresh connection per pair): "
        + ", ".join(f"{role} {rate:,.0f} steps/s" for role, rate in tours.items())
    )
    if failures:
        notes.append(f"figure 6a: {len(failures)} finding(s), e.g. {failures[0]}")
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
            note=f"seeded walks of {WALK_STEPS} steps (stateful.run_walk): each step an enabled "
            "event drawn at random, timers included, driven and checked as the generated "
            "rules do; a fresh connection after CLOSED, all through one server and proxy per "
            "role and round (teardown checks per connection included)",
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
