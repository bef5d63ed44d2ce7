"""The demo's claim, as a test: the naive handler logs ERRORs in the storm, wsstate none."""

from __future__ import annotations

import asyncio

from wsstate_tools.demo import DemoResult, GuardedApp, NaiveApp, format_results, run_variant


def test_demo_storm_naive_vs_guarded() -> None:
    async def both() -> tuple[DemoResult, DemoResult]:
        naive = await run_variant("naive", NaiveApp())
        guarded = await run_variant("wsstate", GuardedApp())
        return naive, guarded

    naive, guarded = asyncio.run(both())
    table = format_results([naive, guarded])
    # The naive column shows the bug class (so this test can fail if the storm stops biting) ...
    assert naive.errors > 0, table
    assert naive.tracebacks > 0, table
    # ... and the guarded one is clean.
    assert guarded.errors == 0, (table, guarded.first_error)
    assert guarded.tracebacks == 0, table
    assert guarded.unretrieved == 0, table
    assert guarded.delivered > 100, table
