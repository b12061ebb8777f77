"""Group commits: the writes made in one event-loop iteration share one COMMIT.

A task's lifecycle writes its status, its call, its test run and its status again, each
a method call of its own; committing each costs more than the statements themselves, and
on a busy loop dozens of tasks write in the same iteration. So, inside a running event
loop, a write runs at once (its statements execute before the method returns, and this
connection's next read sees them) inside a SAVEPOINT of one open transaction, and the
COMMIT is made by a callback the loop runs at its next iteration — one commit for every
write made meanwhile. Another connection sees a write at the latest one iteration later.

What keeps this safe:

* a failing write rolls back to its own savepoint: only it is undone;
* outside a running loop (scripts, sync tests), for ``immediate`` writes (the run guard's
  claim, which other processes must see at once) and while a transaction opened by raw SQL
  is pending, a write commits at once as before;
* raw SQL on ``Database.conn`` first commits what is pending (:class:`LedgerConnection`),
  so ``conn.rollback()`` never undoes a method's write, as before;
* a write from another event loop (``run_sync`` makes one per call) first commits what
  the previous loop left pending, and a write through another codeframe connection to the
  same file first commits this thread's pending groups on it (it would wait for their
  lock otherwise); ``close()`` and interpreter exit commit what is pending;
* a deferred commit that fails never drops writes silently. If the transaction is still
  open (a lock met: "database is locked"), the writes stay in it, the commit is retried
  later from the loop, and every write until then first tries to commit them — raising
  ``DatabaseBusyError`` while the lock lasts, which ``retry_when_busy`` retries. If SQLite
  rolled the transaction back (a full disk, an I/O error), the loss is logged and raised
  as :class:`~codeframe.errors.DatabaseCommitError` by the next write, ``flush()`` or
  ``close()``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any, Self

from codeframe.errors import DatabaseCommitError
from codeframe.persistence.retry import DEFAULT_FIRST_DELAY_S, DEFAULT_MAX_DELAY_S
from codeframe.persistence.sqlite_errors import translate

logger = logging.getLogger(__name__)

_SAVEPOINT = "SAVEPOINT codeframe_write"
_RELEASE = "RELEASE codeframe_write"
_ROLLBACK_TO = "ROLLBACK TO codeframe_write"

# Groups holding uncommitted writes, committed at interpreter exit. Strong references on
# purpose: a group must outlive its Database object until its writes are committed.
_PENDING: set[GroupCommit] = set()

_execute = sqlite3.Connection.execute
_commit = sqlite3.Connection.commit
_rollback = sqlite3.Connection.rollback

# sqlite3's own parameter types (a sequence or a mapping of SQL values), passed through.
Parameters = Any


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, ``None`` outside one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LedgerConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` on which raw SQL behaves as if every method had committed.

    A statement, cursor, ``commit``, ``rollback`` or ``close`` that does not come from
    codeframe first commits the writes codeframe made in this loop iteration; otherwise it
    is plain sqlite3 (default transaction handling). Cursors from ``cursor(factory=...)``
    with a factory of your own are not watched.
    """

    group: GroupCommit | None = None

    def _settle(self) -> None:
        group = self.group
        if group is not None and not group.inside:
            group.flush_file()

    def execute(self, sql: str, parameters: Parameters = (), /) -> sqlite3.Cursor:
        self._settle()
        return _execute(self, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Parameters], /) -> sqlite3.Cursor:
        self._settle()
        return sqlite3.Connection.executemany(self, sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        self._settle()
        return sqlite3.Connection.executescript(self, script)

    def cursor(self, factory: Any = None) -> Any:
        if factory is None:
            return sqlite3.Connection.cursor(self, _LedgerCursor)
        return sqlite3.Connection.cursor(self, factory)

    def commit(self) -> None:
        self._settle()
        _commit(self)

    def rollback(self) -> None:
        self._settle()
        _rollback(self)

    def close(self) -> None:
        self._settle()
        sqlite3.Connection.close(self)


class _LedgerCursor(sqlite3.Cursor):
    """A cursor of :class:`LedgerConnection`: its statements commit pending writes first."""

    def _settle(self) -> None:
        connection = self.connection
        if isinstance(connection, LedgerConnection):
            connection._settle()

    def execute(self, sql: str, parameters: Parameters = (), /) -> Self:
        self._settle()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Parameters], /) -> Self:
        self._settle()
        return super().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        self._settle()
        return super().executescript(sql_script)


class GroupCommit:
    """The open transaction of one connection's deferred writes, and its commit.

    ``inside`` is raised while codeframe itself runs statements, so they never trigger
    the raw-SQL commit. ``first_delay``/``max_delay`` pace the retries of a failed commit.
    """

    def __init__(
        self,
        conn: LedgerConnection,
        where: str,
        *,
        key: str | None = None,
        first_delay: float = DEFAULT_FIRST_DELAY_S,
        max_delay: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self.conn = conn
        self.where = where
        # Which file: groups of other connections to it are committed before we write.
        self.key = where if key is None else key
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.pending = False  # the open transaction holds writes of ours (or is about to)
        self.writes = 0  # writes in the open transaction
        self.inside = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stalled = False  # a commit failed with the writes kept: retried, writes wait
        self.commits = 0  # commits made, for benchmarks and tests
        self._handle: asyncio.Handle | None = None
        self._delay = first_delay
        self._lost: DatabaseCommitError | None = None
        self._pid = os.getpid()
        self.thread = threading.get_ident()  # whose loop's writes are pending
        conn.group = self

    # -- writing ---------------------------------------------------------------------

    def begin_write(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Open a savepoint for one write in ``loop``'s group; ``False``: commit it at once.

        At once when an earlier commit is being retried (the write must not pile onto
        writes that may not be saved) or a transaction that raw SQL opened is pending (the
        write commits it, as every method always has).
        """
        if self.stalled:
            return False
        if self.pending and not self.conn.in_transaction:
            self._reset()  # committed behind our back (a base-class call): nothing pending
        if self.pending and self.loop is not loop:
            self.flush()  # what another loop left pending; it may never run again
        if not self.pending:
            if self.conn.in_transaction:
                return False
            _execute(self.conn, "BEGIN")
            self.pending, self.loop, self.writes = True, loop, 0
            self._pid, self.thread = os.getpid(), threading.get_ident()
            _PENDING.add(self)
        if self._handle is None:
            # Also when an interrupt cut the commit callback short before it committed.
            self._handle = loop.call_soon(self._commit_later)
        _execute(self.conn, _SAVEPOINT)
        return True

    def end_write(self) -> None:
        """The write succeeded: keep it in the group."""
        _execute(self.conn, _RELEASE)
        self.writes += 1

    def undo_write(self) -> None:
        """The write failed: undo it alone (and end a group that holds nothing else)."""
        if not self.conn.in_transaction:
            # SQLite rolled the whole transaction back (a full disk, an I/O error): the
            # group's earlier writes went with it.
            lost = self.writes
            self._reset()
            if lost:
                self._lose(lost, "SQLite rolled the transaction back after a failed write")
            return
        _execute(self.conn, _ROLLBACK_TO)
        _execute(self.conn, _RELEASE)
        if self.writes == 0:
            # Nothing of ours is in it: end it now, so no read snapshot outlives this write.
            _rollback(self.conn)
            self._reset()

    # -- committing ------------------------------------------------------------------

    def before_write(self) -> None:
        """Raise a loss not yet reported; commit other connections' groups on this file."""
        self.raise_lost()
        if _PENDING and (len(_PENDING) > 1 or self not in _PENDING):
            commit_pending(self.key, besides=self)

    def flush_file(self) -> None:
        """Commit what this thread's connections hold pending for this file, ours included."""
        commit_pending(self.key)

    def flush(self) -> None:
        """Commit the pending writes now; raise the error if they cannot be (see module)."""
        self.raise_lost()
        if not self.pending:
            return
        try:
            self._commit()
        except sqlite3.Error as exc:
            self._failed(exc)
            self.raise_lost()
            raise translate(exc, self.where) from exc

    def raise_lost(self) -> None:
        """Raise (once) the error of writes a failed commit lost, if any."""
        lost, self._lost = self._lost, None
        if lost is not None:
            raise lost

    def discard(self) -> int:
        """Forget the pending writes without committing (the connection is going away)."""
        lost = self.writes if self.pending else 0
        self._reset()
        return lost

    def _commit_later(self) -> None:
        self._handle = None
        if not self.pending:
            return
        try:
            self._commit()
        except sqlite3.Error as exc:
            self._failed(exc)

    def _commit(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.conn.in_transaction:
            _commit(self.conn)
            self.commits += 1
        self._reset()

    def _failed(self, exc: sqlite3.Error) -> None:
        if not self.conn.in_transaction:
            lost = self.writes
            self._reset()
            self._lose(lost, f"the commit failed: {exc}")
            return
        # The transaction is still open (a lock met): the writes wait in it for a retry.
        self.stalled = True
        delay, self._delay = self._delay, min(self._delay * 2, self.max_delay)
        loop = self.loop
        if loop is not None and not loop.is_closed():
            logger.warning(
                "%s: could not commit %d write(s), retrying in %.2f s: %s",
                self.where, self.writes, delay, exc,
            )  # fmt: skip
            self._handle = loop.call_later(delay, self._commit_later)
        else:
            logger.warning(
                "%s: could not commit %d write(s); the next write, flush() or close() "
                "tries again: %s", self.where, self.writes, exc,
            )  # fmt: skip

    def _lose(self, count: int, why: str) -> None:
        self._lost = DatabaseCommitError(
            f"{self.where}: {count} write(s) made in one event-loop iteration were not "
            f"saved ({why}); the run's rows may be missing them"
        )
        logger.error("%s", self._lost)

    def _reset(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.pending, self.loop, self.writes, self.stalled = False, None, 0, False
        self._delay = self.first_delay
        _PENDING.discard(self)


def commit_pending(key: str, *, besides: GroupCommit | None = None) -> None:
    """Commit what this thread's connections hold pending for the database file ``key``.

    Any other connection of this thread to the file — a second ``Database``, or one of a
    subclass that opens a plain ``sqlite3`` connection — would otherwise wait for the write
    lock an open group holds, a lock only this loop's next iteration releases: its wait
    could only end in its busy timeout. (A connection opened with ``sqlite3.connect`` by
    hand knows nothing of this: call ``Database.flush()`` before writing through it in the
    same loop iteration.)
    """
    if not _PENDING:
        return
    me = threading.get_ident()
    for group in list(_PENDING):
        if group.key == key and group is not besides and group.thread == me:
            group.flush()


@atexit.register
def _commit_at_exit() -> None:
    """Commit what open databases still hold; a forked child leaves its parent's alone."""
    for group in list(_PENDING):
        if group._pid != os.getpid():
            continue
        try:
            group.flush()
        except Exception as exc:
            logger.error("%s: pending writes not saved at exit: %s", group.where, exc)


__all__ = ["GroupCommit", "LedgerConnection", "commit_pending", "running_loop"]
