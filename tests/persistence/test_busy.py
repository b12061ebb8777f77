"""Another connection's lock is a retryable ``DatabaseBusyError``, retried without blocking."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeframe.errors import CodeframeError, DatabaseBusyError, InvalidInputError, NotFoundError
from codeframe.persistence.database import Database
from codeframe.persistence.retry import retry_when_busy

_SHORT_WAIT_MS = 20  # the tests' busy timeout: a lock is met, not waited out for long


@pytest.fixture
def file_db(db_path: Path) -> Iterator[Database]:
    with Database(db_path) as database:
        assert database.conn is not None
        database.conn.execute(f"PRAGMA busy_timeout = {_SHORT_WAIT_MS}")
        yield database


@pytest.fixture
def holder(db_path: Path, file_db: Database) -> Iterator[sqlite3.Connection]:
    """Another connection that holds the write lock until the test releases it."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_a_lock_held_past_the_busy_timeout_is_a_retryable_busy_error(
    file_db: Database, holder: sqlite3.Connection
) -> None:
    with pytest.raises(DatabaseBusyError) as caught:
        file_db.create_project("p")
    error = caught.value
    assert isinstance(error, CodeframeError) and isinstance(error, sqlite3.OperationalError)
    assert error.retryable is True
    assert str(file_db.db_path) in str(error) and "locked" in str(error)
    holder.execute("ROLLBACK")
    assert file_db.list_projects() == []  # nothing half-written
    file_db.create_project("p")  # and the connection is usable again


async def test_retry_when_busy_outlasts_a_lock_that_the_busy_timeout_cannot(
    file_db: Database, holder: sqlite3.Connection
) -> None:
    # The holder lets go from the event loop: while SQLite's busy wait blocks the loop the
    # release cannot happen, so only an asyncio.sleep between tries lets it through.
    asyncio.get_running_loop().call_later(0.01, holder.execute, "ROLLBACK")
    project_id = await retry_when_busy(
        lambda: file_db.create_project("p"), attempts=20, first_delay=0.02
    )
    assert [p["id"] for p in file_db.list_projects()] == [project_id]


class _Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _busy_for(times: int, result: str = "done") -> tuple[list[int], object]:
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise DatabaseBusyError("x.db is locked")
        return result

    return calls, write


async def test_backoff_doubles_up_to_the_cap_and_returns_the_result() -> None:
    sleeps = _Sleeps()
    calls, write = _busy_for(4)
    result = await retry_when_busy(
        write,  # type: ignore[arg-type]
        attempts=5,
        first_delay=0.1,
        max_delay=0.3,
        sleep=sleeps,
    )
    assert result == "done" and len(calls) == 5
    assert sleeps.delays == [0.1, 0.2, 0.3, 0.3]


async def test_after_the_last_attempt_the_busy_error_is_raised() -> None:
    sleeps = _Sleeps()
    calls, write = _busy_for(10)
    with pytest.raises(DatabaseBusyError):
        await retry_when_busy(write, attempts=3, first_delay=0.0, sleep=sleeps)  # type: ignore[arg-type]
    assert len(calls) == 3 and len(sleeps.delays) == 2


async def test_sqlites_own_locked_error_from_raw_sql_is_retried_too() -> None:
    sleeps = _Sleeps()
    calls: list[int] = []

    def write() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return 7

    assert await retry_when_busy(write, sleep=sleeps) == 7
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize(
    "error",
    [NotFoundError("no task 9"), sqlite3.OperationalError("no such table: x"), ValueError("v")],
)
async def test_other_errors_are_not_retried(error: Exception) -> None:
    sleeps = _Sleeps()
    calls: list[int] = []

    def write() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        await retry_when_busy(write, sleep=sleeps)
    assert len(calls) == 1 and sleeps.delays == []


async def test_a_cancel_during_the_backoff_propagates() -> None:
    calls, write = _busy_for(100)
    task = asyncio.ensure_future(retry_when_busy(write, attempts=100, first_delay=10.0))  # type: ignore[arg-type]
    while not calls:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == 1


async def test_the_bounds_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="attempts"):
        await retry_when_busy(lambda: None, attempts=0)
    with pytest.raises(InvalidInputError, match="negative"):
        await retry_when_busy(lambda: None, first_delay=-1)
