"""Group commits: inside an event loop, one COMMIT per loop iteration for all its writes.

Each write still runs at once (this connection reads it back before any await); another
connection sees it at the latest one iteration later; a failing write undoes only itself;
and nothing a method wrote is ever lost or undone by raw SQL, another loop, a lock or exit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeframe.errors import (
    DatabaseBusyError,
    DatabaseCommitError,
    IllegalTransitionError,
    NotFoundError,
)
from codeframe.persistence import group_commit
from codeframe.persistence.database import Database
from codeframe.persistence.retry import retry_when_busy
from codeframe.persistence.task_status import NewBlocker, StatusWrite


@pytest.fixture
def file_db(db_path: Path) -> Iterator[Database]:
    with Database(db_path) as database:
        yield database


@pytest.fixture
def other(db_path: Path, file_db: Database) -> Iterator[sqlite3.Connection]:
    """A second connection to the same file, as another process would have."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    conn.close()


def titles(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT title FROM tasks ORDER BY id")]


def count_commits(db: Database) -> list[str]:
    """Every COMMIT statement the database's connection runs from now on."""
    seen: list[str] = []
    assert db.conn is not None
    db.conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def test_outside_a_loop_every_write_commits_before_it_returns(
    file_db: Database, other: sqlite3.Connection
) -> None:
    commits = count_commits(file_db)
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "a")
    assert file_db.pending_writes == 0
    assert titles(other) == ["a"]
    assert len(commits) == 2


async def test_the_writes_of_one_iteration_share_one_commit(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")  # immediate: committed at once
    await asyncio.sleep(0)
    commits = count_commits(file_db)
    ids = [file_db.create_task(project_id, title) for title in ("a", "b", "c")]
    file_db.update_task(ids[0], {"status": "in_progress"})
    # Written at once: this connection reads every write back before any await ...
    assert [t["title"] for t in file_db.get_project_tasks(project_id)] == ["a", "b", "c"]
    assert file_db.get_task(ids[0])["status"] == "in_progress"  # type: ignore[index]
    assert file_db.pending_writes == 4
    # ... others see them once the iteration ends, all from one commit.
    assert titles(other) == []
    await asyncio.sleep(0)
    assert titles(other) == ["a", "b", "c"]
    assert commits == ["COMMIT"]
    assert file_db.pending_writes == 0


async def test_writes_of_many_tasks_in_one_iteration_are_one_commit(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    commits = count_commits(file_db)
    gate = asyncio.Event()

    async def worker(n: int) -> None:
        await gate.wait()
        file_db.create_task(project_id, f"t{n}")

    workers = [asyncio.create_task(worker(n)) for n in range(20)]
    await asyncio.sleep(0)
    gate.set()  # every worker wakes in the same iteration
    await asyncio.gather(*workers)
    await asyncio.sleep(0)
    assert sorted(titles(other)) == sorted(f"t{n}" for n in range(20))
    assert len(commits) == 1


async def test_a_failing_write_undoes_only_itself(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    first = file_db.create_task(project_id, "first")
    with pytest.raises(NotFoundError, match="no project with id 999"):
        file_db.create_task(999, "orphan")
    second = file_db.create_task(project_id, "second")
    file_db.update_task(second, {"status": "in_progress"})
    # Two statements, the second failing: the status UPDATE that ran first is undone too.
    with pytest.raises(NotFoundError):
        file_db.write_status(
            second,
            StatusWrite("blocked", blocker=NewBlocker("why", "what?", upstream_task_id=999)),
        )
    with pytest.raises(IllegalTransitionError):
        file_db.write_status(first, StatusWrite("completed", expected=("in_progress",)))
    third = file_db.create_task(project_id, "third")
    await asyncio.sleep(0)
    assert titles(other) == ["first", "second", "third"]
    statuses = dict(other.execute("SELECT id, status FROM tasks").fetchall())
    assert statuses == {first: "pending", second: "in_progress", third: "pending"}
    assert other.execute("SELECT COUNT(*) FROM blockers").fetchone() == (0,)


async def test_an_interrupt_inside_a_write_undoes_that_write_alone(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "kept")
    with pytest.raises(KeyboardInterrupt), file_db._write() as conn:
        conn.execute(
            "INSERT INTO tasks (project_id, title, created_at) VALUES (?, 'lost', 'now')",
            (project_id,),
        )
        raise KeyboardInterrupt
    file_db.create_task(project_id, "also kept")
    await asyncio.sleep(0)
    assert titles(other) == ["kept", "also kept"]


async def test_a_task_cancelled_after_writing_keeps_its_write(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    started = asyncio.Event()

    async def writer() -> None:
        file_db.create_task(project_id, "written")
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(writer())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert titles(other) == ["written"]


async def test_raw_sql_rollback_never_undoes_a_method_write(
    file_db: Database, other: sqlite3.Connection
) -> None:
    """``conn`` keeps sqlite3's default handling: a rollback undoes the raw SQL only."""
    assert file_db.conn is not None
    project_id = file_db.create_project("p")
    kept = file_db.create_task(project_id, "method")
    file_db.conn.execute("UPDATE tasks SET title = 'raw' WHERE id = ?", (kept,))
    file_db.conn.rollback()
    file_db.create_task(project_id, "method 2")
    cursor = file_db.conn.cursor()
    cursor.execute("UPDATE tasks SET title = 'raw'")
    file_db.conn.rollback()
    file_db.create_task(project_id, "method 3")
    assert titles(other) == ["method", "method 2"]  # the third waits for its iteration
    file_db.conn.executemany("UPDATE tasks SET title = ? WHERE id = ?", [("raw", kept)])
    file_db.conn.rollback()
    file_db.create_task(project_id, "method 4")
    file_db.conn.executescript("UPDATE tasks SET title = 'raw';")  # commits as it always did
    # Each raw statement first committed the method writes before it; only raw SQL undone.
    assert titles(other) == ["raw"] * 4
    file_db.conn.execute("UPDATE tasks SET title = 'again'")
    file_db.conn.rollback()
    assert [t["title"] for t in file_db.get_project_tasks(project_id)] == ["raw"] * 4


async def test_raw_sql_sees_the_method_writes_committed_before_it(
    file_db: Database, other: sqlite3.Connection
) -> None:
    assert file_db.conn is not None
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "method")
    file_db.conn.execute("UPDATE tasks SET title = 'raw'")
    assert titles(other) == ["method"]  # the method's write, committed; the raw one open
    file_db.conn.rollback()
    file_db.create_task(project_id, "method 2")
    file_db.conn.cursor().execute("UPDATE tasks SET title = 'raw'")
    file_db.conn.rollback()
    file_db.create_task(project_id, "method 3")
    file_db.conn.executemany("UPDATE tasks SET title = ?", [("raw",)])
    file_db.conn.rollback()
    assert titles(other) == ["method", "method 2", "method 3"]


async def test_a_transaction_opened_by_raw_sql_is_committed_by_the_next_method(
    file_db: Database, other: sqlite3.Connection
) -> None:
    """As always: raw SQL left uncommitted is committed by the next method call, at once."""
    assert file_db.conn is not None
    project_id = file_db.create_project("p")
    file_db.conn.execute(
        "INSERT INTO tasks (project_id, title, created_at) VALUES (?, 'raw', 'now')",
        (project_id,),
    )
    file_db.create_task(project_id, "method")
    assert titles(other) == ["raw", "method"]  # before any await
    file_db.conn.rollback()  # nothing left to undo
    assert titles(other) == ["raw", "method"]


async def test_immediate_writes_commit_at_once(
    file_db: Database, other: sqlite3.Connection
) -> None:
    """The run guard's claim must be seen by other processes before the call returns."""
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "pending write")
    run_id = file_db.start_run(project_id)
    assert other.execute("SELECT id FROM runs").fetchall() == [(run_id,)]
    assert titles(other) == ["pending write"]  # committed first, with the claim
    file_db.finish_run(run_id)


def test_a_write_from_a_second_loop_commits_what_the_first_left(
    file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    first = asyncio.new_event_loop()
    first.call_soon(file_db.create_task, project_id, "first loop")
    first.call_soon(first.stop)  # stops before the commit's turn comes
    first.run_forever()
    first.close()
    assert file_db.pending_writes == 1 and titles(other) == []

    async def second() -> None:
        file_db.create_task(project_id, "second loop")
        assert titles(other) == ["first loop"]  # committed before this write began

    asyncio.run(second())
    assert titles(other) == ["first loop", "second loop"]


async def test_close_and_with_commit_what_is_pending(db_path: Path) -> None:
    with Database(db_path) as db:
        project_id = db.create_project("p")
        db.create_task(project_id, "in the with block")
        assert db.pending_writes == 1
    db = Database(db_path)
    db.create_task(project_id, "before close")
    db.close()
    with Database(db_path) as db:
        titles_now = [t["title"] for t in db.get_project_tasks(project_id)]
    assert titles_now == ["in the with block", "before close"]


def test_interpreter_exit_commits_what_is_pending(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from codeframe.persistence.database import Database
        db = Database({str(db_path)!r})
        pid = db.create_project("p")
        loop = asyncio.new_event_loop()
        loop.call_soon(db.create_task, pid, "written just before exit")
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.close()
        assert db.pending_writes == 1
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    with Database(db_path) as db:
        assert [t["title"] for t in db.get_project_tasks(1)] == ["written just before exit"]


async def test_flush_commits_now(file_db: Database, other: sqlite3.Connection) -> None:
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "a")
    file_db.flush()
    assert file_db.pending_writes == 0
    assert titles(other) == ["a"]


async def test_a_checkpoint_by_raw_sql_is_not_held_back_by_pending_writes(
    file_db: Database, other: sqlite3.Connection, db_path: Path
) -> None:
    assert file_db.conn is not None
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "a")
    busy, _, _ = file_db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    assert Path(f"{db_path}-wal").stat().st_size == 0
    assert titles(other) == ["a"]


# -- a commit that fails ---------------------------------------------------------------


@pytest.fixture
def journal_db(file_db: Database) -> Database:
    """A rollback-journal database: there, a COMMIT itself can meet a reader's lock."""
    assert file_db.conn is not None
    assert file_db.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    file_db.conn.execute("PRAGMA busy_timeout = 10")
    assert file_db._group is not None
    file_db._group.first_delay = file_db._group.max_delay = 0.01
    file_db._group._delay = 0.01
    return file_db


async def test_a_commit_that_meets_a_lock_keeps_its_writes_and_retries(
    journal_db: Database, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project_id = journal_db.create_project("p")
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM tasks").fetchone()  # holds a shared lock
    try:
        with caplog.at_level(logging.WARNING, logger=group_commit.__name__):
            journal_db.create_task(project_id, "waits for the lock")
            await asyncio.sleep(0)  # the commit meets the reader's lock
        assert journal_db.pending_writes == 1
        assert "could not commit 1 write(s), retrying" in caplog.text
        # Until it is saved, a new write first tries to commit it, and fails as busy:
        with pytest.raises(DatabaseBusyError):
            journal_db.create_task(project_id, "not made yet")
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    # retry_when_busy makes the write once the pending commit gets through.
    await retry_when_busy(
        lambda: journal_db.create_task(project_id, "made"), attempts=50, first_delay=0.01
    )
    await asyncio.sleep(0)
    assert journal_db.pending_writes == 0
    check = sqlite3.connect(db_path)
    try:
        assert titles(check) == ["waits for the lock", "made"]
    finally:
        check.close()


async def test_writes_a_failed_commit_lost_are_reported_by_the_next_write(
    file_db: Database, other: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = file_db.create_project("p")

    def failing_commit(conn: sqlite3.Connection) -> None:
        sqlite3.Connection.rollback(conn)  # as SQLite does after an I/O error or a full disk
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(group_commit, "_commit", failing_commit)
    file_db.create_task(project_id, "lost 1")
    file_db.create_task(project_id, "lost 2")
    await asyncio.sleep(0)
    monkeypatch.undo()
    with pytest.raises(DatabaseCommitError, match=r"2 write\(s\) .* not saved .*disk I/O error"):
        file_db.create_task(project_id, "refused: the loss is reported first")
    file_db.create_task(project_id, "made")  # reported once; writing goes on
    await asyncio.sleep(0)
    assert titles(other) == ["made"]


async def test_close_reports_writes_it_could_not_save(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_path)
    project_id = db.create_project("p")
    db.create_task(project_id, "pending at close")

    def failing_commit(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(group_commit, "_commit", failing_commit)
    with pytest.raises(DatabaseCommitError, match=r"1 write\(s\) not saved when .* closed"):
        db.close()
    assert db.conn is None


async def test_in_memory_and_file_databases_group_alike(db: Database, project_id: int) -> None:
    ids = [db.create_task(project_id, f"t{n}") for n in range(3)]
    assert db.pending_writes == 3
    assert [t["id"] for t in db.get_project_tasks(project_id)] == ids
    await asyncio.sleep(0)
    assert db.pending_writes == 0
    assert db.conn is not None and not db.conn.in_transaction


async def test_a_second_database_on_the_file_commits_the_first_ones_writes_first(
    db_path: Path, file_db: Database, other: sqlite3.Connection
) -> None:
    """Two connections of one thread: the second never waits for the first one's lock."""
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "first connection")
    with Database(db_path) as second:
        second.conn.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
        second.create_task(project_id, "second connection")  # would be busy at once
        second.conn.execute("UPDATE tasks SET priority = 1")  # type: ignore[union-attr]
        second.conn.commit()  # type: ignore[union-attr]
        file_db.create_task(project_id, "first again")
        await asyncio.sleep(0)
    assert titles(other) == ["first connection", "second connection", "first again"]


async def test_an_interrupted_commit_callback_is_scheduled_again_by_the_next_write(
    file_db: Database, other: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = file_db.create_project("p")
    real_commit = group_commit._commit

    def interrupted(conn: sqlite3.Connection) -> None:
        monkeypatch.setattr(group_commit, "_commit", real_commit)
        raise KeyboardInterrupt  # Ctrl-C inside the loop's commit callback, before COMMIT

    monkeypatch.setattr(group_commit, "_commit", interrupted)
    file_db.create_task(project_id, "a")
    group = file_db._group
    assert group is not None and group._handle is not None
    group._handle.cancel()  # the loop runs it now, by hand:
    with pytest.raises(KeyboardInterrupt):
        group._commit_later()
    assert file_db.pending_writes == 1
    file_db.create_task(project_id, "b")
    await asyncio.sleep(0)
    assert titles(other) == ["a", "b"]


class PlainDatabase(Database):
    """A Database on a plain sqlite3 connection (no group commits), as the thread rebuild's."""

    def _connect(self, target: str) -> sqlite3.Connection:
        return sqlite3.connect(target, timeout=0)


async def test_a_plain_connection_on_the_file_commits_the_groups_first(
    db_path: Path, file_db: Database, other: sqlite3.Connection
) -> None:
    project_id = file_db.create_project("p")
    file_db.create_task(project_id, "grouped")
    with PlainDatabase(db_path) as plain:
        assert plain._group is None
        plain.create_task(project_id, "plain")  # would be busy at once (timeout 0)
        assert titles(other) == ["grouped", "plain"]


def test_another_threads_group_is_left_to_its_own_loop(
    db_path: Path, file_db: Database, other: sqlite3.Connection
) -> None:
    """A connection is its thread's: another thread never commits (uses) it."""
    project_id = file_db.create_project("p")
    loop = asyncio.new_event_loop()
    loop.call_soon(file_db.create_task, project_id, "pending in this thread's loop")
    loop.call_soon(loop.stop)
    loop.run_forever()
    errors: list[BaseException] = []

    def write_elsewhere() -> None:
        try:
            with PlainDatabase(db_path) as plain:
                plain.create_project("q")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=write_elsewhere)
    worker.start()
    worker.join(timeout=30)
    # It met our lock (timeout 0) and said so; it never touched our connection.
    assert [type(e) for e in errors] == [DatabaseBusyError]
    assert file_db.pending_writes == 1
    loop.close()
    file_db.flush()
    assert titles(other) == ["pending in this thread's loop"]


async def test_releasing_dependents_sees_pending_writes_and_writes_nothing_when_none_wait(
    file_db: Database,
) -> None:
    """The release after a completion reads first: a blocker written earlier in the same loop
    iteration (not committed yet) is found, and a task nobody waits for opens no write."""
    project_id = file_db.create_project("p")
    upstream, waiting, unrelated = (file_db.create_task(project_id, t) for t in "abc")
    await asyncio.sleep(0)  # the tasks committed: the writes below share one pending group
    blocker = NewBlocker("a first", "wait", blocker_type="dependency", upstream_task_id=upstream)
    file_db.write_status(waiting, StatusWrite("blocked", blocker=blocker))
    assert file_db.pending_writes == 1

    statements: list[str] = []
    assert file_db.conn is not None
    file_db.conn.set_trace_callback(statements.append)
    assert file_db.release_dependency_blockers(unrelated) == []
    assert file_db.pending_writes == 1
    assert not [s for s in statements if not s.lstrip().upper().startswith("SELECT")]

    released = file_db.release_dependency_blockers(upstream)
    file_db.conn.set_trace_callback(None)
    assert [(a.task_id, a.released) for a in released] == [(waiting, True)]
    assert file_db.pending_writes == 2
    assert file_db.get_task(waiting)["status"] == "pending"


async def test_releasing_dependents_sees_another_connections_pending_blocker(
    db_path: Path, file_db: Database
) -> None:
    """As a write would: the read first commits what another codeframe connection to the
    file holds pending in this loop iteration, so its dependency blocker is released."""
    project_id = file_db.create_project("p")
    upstream, waiting = (file_db.create_task(project_id, t) for t in "ab")
    await asyncio.sleep(0)
    with Database(db_path) as second:
        blocker = NewBlocker("first", "wait", blocker_type="dependency", upstream_task_id=upstream)
        second.write_status(waiting, StatusWrite("blocked", blocker=blocker))
        assert second.pending_writes == 1
        released = file_db.release_dependency_blockers(upstream)
        assert [(a.task_id, a.released) for a in released] == [(waiting, True)]
    await asyncio.sleep(0)
    assert file_db.get_task(waiting)["status"] == "pending"
