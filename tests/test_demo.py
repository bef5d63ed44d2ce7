"""The demo's claim, as a test: the naive handler logs ERRORs in the storm, wsstate none
(on websockets, and on aiohttp and tornado with each framework's own naive handler)."""

from __future__ import annotations

import asyncio

import pytest

from wsstate_tools.demo import DemoResult, GuardedApp, NaiveApp, format_results, run_variant
from wsstate_tools.demo_frameworks import FRAMEWORKS, format_framework_results, make_apps


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


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_demo_storm_on_each_framework(framework: str) -> None:
    """The naive aiohttp / tornado handler shows the bug class; the guarded one is clean."""

    async def both() -> tuple[DemoResult, DemoResult]:
        naive_app, guarded_app = make_apps(framework)
        naive = await run_variant(f"{framework} naive", naive_app)
        guarded = await run_variant(f"{framework} wsstate", guarded_app)
        return naive, guarded

    naive, guarded = asyncio.run(both())
    table = format_framework_results([naive, guarded])
    assert naive.errors > 0, table
    assert naive.tracebacks > 0, table
    if framework == "tornado":
        # Bokeh-style on_close sees code=None after an abrupt drop; the guarded one 1006.
        # (Its write_message() futures nobody awaits fail only when a write races the
        # reset: unretrieved task exceptions on the naive side vary from run to run.)
        assert naive.no_code, table
        assert guarded.no_code == 0, table
    assert guarded.errors == 0, (table, guarded.first_error)
    assert guarded.tracebacks == 0, table
    assert guarded.unretrieved == 0, table
    assert guarded.delivered > 100, table
