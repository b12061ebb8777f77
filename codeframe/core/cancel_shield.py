"""Finish work that must not stop half way, then let a cancel that came meanwhile go on.

A git command that updates a checkout, or a task whose commit has been merged but whose
status is not written yet, is worse stopped than finished: the first leaves files between
two states, the second a branch that holds a task the database calls cancelled. Such work
is bounded by its own timeouts (git's, SQLite's), so waiting for it is safe; the cancel is
not lost, only deferred until the work is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def finish_then_reraise(work: Coroutine[Any, Any, T], *, what: str) -> T:
    """Run ``work`` to its end; a cancel meanwhile (or several) is re-raised once it has.

    When both happen, the cancel wins and ``work``'s own failure is logged, naming ``what``.
    """
    job = asyncio.ensure_future(work)
    cancelled = False
    while not job.done():
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            if job.cancelled():
                raise  # the work itself was cancelled: there is no result to wait for
            cancelled = True  # our caller was: finish first (the work may be done already)
        except Exception:
            break  # the work's own failure: raised below, unless a cancel came first
    if cancelled:
        if not job.cancelled() and job.exception() is not None:
            logger.warning("%s failed while its caller was being cancelled: %s",
                           what, job.exception())  # fmt: skip
        raise asyncio.CancelledError
    return job.result()


__all__ = ["finish_then_reraise"]
