"""``adapters._steps``: a coroutine stepped once in the caller's turn, finished by a task.

The aiohttp adapter steps aiohttp's ``receive()`` this way and the reading task
takes the message the continuation returns; the aiohttp and tornado adapters
step their writes.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from wsstate.adapters._steps import Continuation, step


async def _now(value: str) -> str:
    return value


async def _after(future: asyncio.Future[str], log: list[str]) -> str:
    try:
        got = await future
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        log.append("finally")
    return got + "!"


def test_a_coroutine_that_never_waits_is_done_in_the_step() -> None:
    assert step(_now("x")) is None


async def test_the_continuation_returns_what_the_coroutine_returns() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    pending = step(_after(future, log))
    assert isinstance(pending, Continuation)

    async def finish() -> str:
        result: str = await pending
        return result

    task = asyncio.ensure_future(finish())
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result("msg")
    assert await task == "msg!"
    assert log == ["finally"]


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    pending = step(_after(future, log))
    assert pending is not None

    async def finish() -> str:
        result: str = await pending
        return result

    task = asyncio.ensure_future(finish())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled", "finally"]


async def test_a_failure_after_the_wait_reaches_the_task() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    pending = step(_after(future, []))
    assert pending is not None

    async def finish() -> str:
        result: str = await pending
        return result

    task = asyncio.ensure_future(finish())
    await asyncio.sleep(0)
    future.set_exception(OSError("reset"))
    with pytest.raises(OSError, match="reset"):
        await task


async def test_a_continuation_never_awaited_closes_its_coroutine() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    pending = step(_after(future, log))
    assert pending is not None
    del pending
    gc.collect()
    assert log == ["finally"]  # closed: no "coroutine was never awaited"
