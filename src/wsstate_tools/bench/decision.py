"""Figure 2: the cost of one decision, the table vs the python-statemachine model."""

from __future__ import annotations

import time

from .common import Figure, Settings, _interleave, _per_round


async def _decision_cost(s: Settings, notes: list[str]) -> list[Figure]:
    from wsstate.testing._extra import INSTALL, missing_testing_extra

    if missing_testing_extra():  # the reference chart is python-statemachine's
        notes.append(f"figure 2 skipped: {INSTALL}")
        return []
    from wsstate.core import Machine
    from wsstate.machines.connection import TABLE, Event, State
    from wsstate.testing.charts.connection import ConnectionChart

    send = Event.APP_SEND

    async def feed() -> float:
        m = Machine("bench")
        m.feed(Event.HANDSHAKE_OK)
        step = m.feed
        n = s.decision_feed
        started = time.perf_counter()
        for _ in range(n):
            step(send)
        return (time.perf_counter() - started) / n * 1e6

    async def lookup() -> float:
        table, state = TABLE, State.OPEN
        n = s.decision_feed
        started = time.perf_counter()
        for _ in range(n):
            table[(state, send)]  # the lookup is what is measured
        return (time.perf_counter() - started) / n * 1e6

    async def chart() -> float:
        c = ConnectionChart()
        c.handshake_ok()
        step = c.app_send
        n = s.decision_chart
        started = time.perf_counter()
        for _ in range(n):
            step()
        return (time.perf_counter() - started) / n * 1e6

    f, t, c = await _interleave(s.decision_rounds, [feed, lookup, chart])
    note = "app_send in OPEN, per event; the timing loop's own overhead is included"
    return [
        Figure(
            "2a",
            "one decision: Machine.feed vs ConnectionChart (x faster)",
            "Machine.feed",
            "chart event",
            "µs",
            "chart/feed",
            f,
            c,
            _per_round(c, f),
            note=note,
        ),
        Figure(
            "2b",
            "one decision: TABLE lookup vs ConnectionChart (x faster)",
            "TABLE[...]",
            "chart event",
            "µs",
            "chart/lookup",
            t,
            c,
            _per_round(c, t),
            note=note,
        ),
    ]


# -- 3. broadcast to many connections, half of them dead --------------------------------------
