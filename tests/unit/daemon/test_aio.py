"""``minke.aio.cancel``: a stop that cancels a task ends even if the task lost the cancel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from minke.aio import cancel


async def test_a_task_that_lost_its_cancel_is_cancelled_again(
        caplog: pytest.LogCaptureFixture) -> None:
    ticks = 0

    async def loses_the_first_cancel() -> None:
        nonlocal ticks
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # as 3.11's wait_for does when its inner await completed meanwhile
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loses_the_first_cancel(), name="loop-that-lost-it")
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel(task, again_after=0.1)
    assert task.cancelled() and ticks > 0
    assert any("loop-that-lost-it" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


async def test_an_error_of_the_task_reaches_the_caller() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("cleanup failed")

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel(task)


async def test_the_callers_own_cancel_is_not_swallowed() -> None:
    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.5)

    inner = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    outer = asyncio.create_task(cancel(inner))
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
