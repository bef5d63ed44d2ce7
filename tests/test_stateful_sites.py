"""A site (server and proxy kept for many connections) still catches what a fresh one did.

The stateful harness keeps a role's server and proxy for every connection of a
tour, a Hypothesis example or a walk (``wsstate.testing.sites``), freezes what
existed before the site opened (``gc.freeze``) and collects garbage once, when
the site closes. These tests break the hygiene on purpose and require the
site's or the connection's check to fail.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from wsstate.machines.connection import Event
from wsstate.testing.stateful import FirstChoices, Harness, open_site


async def _fail() -> None:
    raise RuntimeError("nobody awaits me")


def test_site_close_reports_a_failed_task_in_a_reference_cycle() -> None:
    """Reported only when collected: the site's one collection at close finds it."""

    async def main() -> None:
        site = open_site("server")
        await site.open()
        h = Harness("server", site=site)
        await h.start()
        await h.step(Event.APP_SEND, FirstChoices())
        await h.stop()
        task = asyncio.get_running_loop().create_task(_fail())
        await asyncio.sleep(0)
        cycle: list[object] = [task]
        cycle.append(cycle)  # the task is kept by a cycle: refcounting never frees it
        del task, cycle
        with pytest.raises(AssertionError, match="never retrieved"):
            await site.close()

    asyncio.run(main())


def test_a_connection_s_error_record_fails_its_stop() -> None:
    """An ERROR record during a connection fails that connection's stop, the site goes on."""

    async def main() -> None:
        site = open_site("server")
        await site.open()
        try:
            h = Harness("server", site=site)
            await h.start()
            logging.getLogger("some.library").error("a record at ERROR")
            with pytest.raises(AssertionError, match="a record at ERROR"):
                await h.stop()
            h = Harness("server", site=site)  # the next connection is checked afresh
            await h.start()
            await h.step(Event.APP_CLOSE, FirstChoices())
            await h.stop()
        finally:
            site.errors.records.clear()  # the deliberate record, seen above
            await site.close()

    asyncio.run(main())


def test_sites_leave_the_collector_unfrozen() -> None:
    async def main() -> None:
        site = open_site("client")
        await site.open()
        assert gc.get_freeze_count() > 0
        await site.close()

    before = gc.get_freeze_count()
    asyncio.run(main())
    assert gc.get_freeze_count() == before
