"""Work that must not stop half way finishes, and the cancel that came meanwhile goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from codeframe.core.cancel_shield import finish_then_reraise


async def test_the_result_comes_back_when_nothing_is_cancelled() -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    assert await finish_then_reraise(work(), what="w") == 7


async def test_a_cancel_waits_for_the_work_then_is_raised_even_when_repeated() -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append("done")

    outer = asyncio.create_task(finish_then_reraise(work(), what="w"))
    await started.wait()
    outer.cancel()
    await asyncio.sleep(0.05)
    outer.cancel()  # a second stop while the first still waits
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert finished == ["done"]


async def test_the_works_failure_is_raised_and_under_a_cancel_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing() -> None:
        await asyncio.sleep(0.1)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await finish_then_reraise(failing(), what="w")

    outer = asyncio.create_task(finish_then_reraise(failing(), what="writing the row"))
    await asyncio.sleep(0.02)
    outer.cancel()
    with caplog.at_level(logging.WARNING), pytest.raises(asyncio.CancelledError):
        await outer
    assert "writing the row failed while its caller was being cancelled: disk full" in caplog.text


async def test_a_cancel_that_lands_as_the_work_finishes_is_not_lost() -> None:
    """Found in review: a cancel arriving after the work's last step, before the caller
    resumed, returned the result and dropped the cancel."""

    async def quick() -> str:
        return "done"

    async def caller() -> str:
        return await finish_then_reraise(quick(), what="w")

    outer = asyncio.create_task(caller())
    await asyncio.sleep(0)  # the caller is now waiting on the shielded work
    await asyncio.sleep(0)  # ...which has finished; the caller has not resumed yet
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


async def test_work_cancelled_from_inside_is_a_cancel() -> None:
    async def cancels_itself() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await finish_then_reraise(cancels_itself(), what="w")
