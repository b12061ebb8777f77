"""Retrying a database write that met another connection's lock, without blocking the loop.

SQLite's own busy wait (the connection's busy timeout) sleeps inside the call, so it holds
the event loop for as long as it waits; that is why the timeout is short. A write that still
finds the database locked raises ``DatabaseBusyError`` having changed nothing, and is tried
again here after an ``asyncio.sleep`` — heartbeats, other tasks and the Stop button keep
running meanwhile — a bounded number of times, then the error is raised for the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from codeframe.errors import InvalidInputError
from codeframe.persistence.sqlite_errors import is_busy

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Defaults: 6 tries over about 3 s of sleeping (0.1 + 0.2 + 0.4 + 0.8 + 1.6), on top of a
#: busy timeout per try — long enough to outlast another process's burst of writes or a
#: checkpoint, short enough that a database held for good fails the write within seconds.
DEFAULT_ATTEMPTS = 6
DEFAULT_FIRST_DELAY_S = 0.1
DEFAULT_MAX_DELAY_S = 2.0


async def retry_when_busy(
    write: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    first_delay: float = DEFAULT_FIRST_DELAY_S,
    max_delay: float = DEFAULT_MAX_DELAY_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Call ``write()`` until it does not fail for a lock; return what it returns.

    ``write`` is a synchronous database call (one transaction, so a failed try left nothing
    behind). A lock error — ``DatabaseBusyError``, or SQLite's own "database is locked" from
    raw SQL — is retried after ``first_delay`` seconds, doubling up to ``max_delay``, for at
    most ``attempts`` calls in all; the last one's error is raised. Any other error is
    raised at once. ``sleep`` is injectable for tests.
    """
    if attempts < 1:
        raise InvalidInputError(f"attempts must be at least 1, got {attempts}")
    if first_delay < 0 or max_delay < 0:
        raise InvalidInputError("delays must not be negative")
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as exc:
            if not is_busy(exc) or attempt == attempts:
                raise
            logger.warning(
                "database busy (try %d of %d), retrying in %.2f s: %s",
                attempt,
                attempts,
                delay,
                exc,
            )
        await sleep(delay)
        delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_FIRST_DELAY_S",
    "DEFAULT_MAX_DELAY_S",
    "retry_when_busy",
]
