"""The connection plumbing every ``Database`` mixin builds on.

Opening and migrating the file (after :mod:`~codeframe.persistence.opening` has decided it
is ours to open), closing it, and the few helpers each query goes through (one savepoint or
transaction per write, committed with the rest of its loop iteration's writes inside an
event loop — see :mod:`~codeframe.persistence.group_commit`; foreign-key, lock and read-only
errors translated into codeframe errors; one-row and all-row reads). The domain modules
derive from :class:`Store`; ``Database`` combines them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from codeframe.errors import (
    CodeframeError,
    DatabaseCommitError,
    DatabaseReadOnlyError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
)
from codeframe.persistence.codec import _Encoder, _Ref
from codeframe.persistence.group_commit import (
    GroupCommit,
    LedgerConnection,
    commit_pending,
    running_loop,
)
from codeframe.persistence.migrations import migrate
from codeframe.persistence.opening import (
    check_writable,
    create_file,
    describe_foreign,
    inspect_file,
)
from codeframe.persistence.sqlite_errors import translate

logger = logging.getLogger(__name__)

#: How long one statement waits for another connection's write lock before it fails with
#: ``DatabaseBusyError`` (having changed nothing). SQLite's wait sleeps inside the call, so
#: it is loop lag: it was 5 s, and a lock held 2 s froze the loop for 2,031 ms. codeframe's
#: own write transactions take 0.06 ms (median; p99 4 ms). With two other processes writing
#: without pause on two cores, the longest wait seen was 65–131 ms and no write of 6,000
#: failed at 250 ms, while 100 ms let 1 in 6,000 fail. So 250 ms: peers' bursts are waited
#: out, and a longer holder (a shell left inside ``BEGIN``, a bulk import) costs at most
#: 250 ms of loop per try, the rest waited with ``asyncio.sleep`` by ``retry_when_busy``.
#: Figures: ``python -m benchmarks.db_contention``.
BUSY_TIMEOUT_MS = 250

#: Runs started by this process and not yet finished, as ``(database key, run id)``. A row
#: with our pid that is not in here belongs to a run that crashed in this same kernel.
_OPEN_RUNS: set[tuple[str, int]] = set()

# codeframe's own reads: sqlite3's execute itself, so they never count as raw SQL (which
# would commit the loop iteration's writes early).
_execute = sqlite3.Connection.execute


class Store:
    """Connection, schema check and transaction helpers; the query methods live in mixins.

    A path that does not exist gets a new database. An existing file is opened only if it
    is ours (it records our schema versions); anything else raises ``SchemaError`` and is
    left byte-for-byte as it was. An existing *empty* file — zero bytes, or SQLite with no
    schema — is taken only with ``adopt_empty=True``: such a file is often a placeholder
    another tool created and means to fill (``touch app.db``, a mounted volume's first
    file), and nothing in it can tell us otherwise, so the caller has to say it is ours to
    use. A file we cannot write raises ``DatabaseReadOnlyError`` saying why.
    """

    def __init__(self, db_path: str | Path, *, adopt_empty: bool = False) -> None:
        memory = str(db_path) == ":memory:"
        self.db_path: str | Path = ":memory:" if memory else Path(db_path).expanduser()
        self.conn: sqlite3.Connection | None = None
        # Set when the connection is ours (a LedgerConnection): writes made inside an event
        # loop then share one commit per loop iteration.
        self._group: GroupCommit | None = None
        self.schema_version = 0
        self._my_runs: set[int] = set()
        # Identifies the database in the process-wide registry of open runs.
        self._key = f":memory:{id(self)}" if memory else str(Path(self.db_path).resolve())
        if memory:
            self.conn = self._configured(self._connect(":memory:"), wal=False)
        else:
            self._open_file(Path(self.db_path), adopt_empty)
        try:
            self.initialize()
        except BaseException:
            self.close()
            raise
        if isinstance(self.conn, LedgerConnection):
            self._group = GroupCommit(self.conn, str(self.db_path), key=self._key)

    def _connect(self, target: str) -> sqlite3.Connection:
        """Open the one connection this object uses; a subclass may open it differently.

        Group commits need the :class:`LedgerConnection` this returns; any other connection
        gets a commit per write.
        """
        return sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, factory=LedgerConnection)

    def _open_file(self, path: Path, adopt_empty: bool) -> None:
        where = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except PermissionError as exc:
            raise DatabaseReadOnlyError(f"cannot create the folder for {where}: {exc}") from exc
        state = inspect_file(path, where)
        if state.kind == "missing" and not create_file(path, where):
            state = inspect_file(path, where)  # another process created it first
        if state.kind == "foreign":
            raise SchemaError(
                f"{where} is a SQLite database that codeframe did not create (it holds "
                f"{describe_foreign(state)}); refusing to add our tables to it — "
                "use a new file"
            )
        if state.kind == "empty" and not adopt_empty:
            raise SchemaError(
                f"{where} exists but is empty; it may be another program's placeholder, so "
                "codeframe will not take it over unless you say so: "
                "Database(path, adopt_empty=True), or give a path that does not exist"
            )
        check_writable(path, where)
        try:
            conn = self._connect(where)
        except sqlite3.Error as exc:
            raise translate(exc, where) from exc
        self.conn = self._configured(conn, wal=True)

    def _configured(self, conn: sqlite3.Connection, *, wal: bool) -> sqlite3.Connection:
        where = str(self.db_path)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # The file was inspected, but it may have been swapped since: check again
            # before WAL would rewrite its header.
            migrate(conn, where=where, apply=False)
            if wal:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    logger.warning("%s: WAL journal unavailable, using %s", where, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise translate(exc, where) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def initialize(self, run_migrations: bool = True) -> None:
        """Check the file and bring its schema up to date; safe to call any number of times.

        With ``run_migrations=False`` the file is only checked. Raises ``SchemaError`` for
        a file holding our tables without a version, or a version newer than ours.
        """
        conn = self._db()
        self.flush()
        try:
            self.schema_version = migrate(conn, where=str(self.db_path), apply=run_migrations)
        except sqlite3.Error as exc:
            raise translate(exc, str(self.db_path)) from exc

    def close(self) -> None:
        """Commit what is pending and close the connection (a second call does nothing);
        runs left open are released.

        The connection is closed even if that commit fails; the error is raised then, as a
        ``DatabaseCommitError`` saying how many writes were not saved.
        """
        for run_id in self._my_runs:
            _OPEN_RUNS.discard((self._key, run_id))
        self._my_runs.clear()
        conn, group = self.conn, self._group
        if conn is None:
            return
        error: BaseException | None = None
        if group is not None:
            pending = group.writes
            try:
                group.flush()
            except Exception as exc:
                error = exc
                lost = group.discard() or pending
                if not isinstance(exc, DatabaseCommitError):
                    error = DatabaseCommitError(
                        f"{self.db_path}: {lost} write(s) not saved when the database was "
                        f"closed: the commit failed ({exc})"
                    )
                    error.__cause__ = exc
        self.conn = None
        sqlite3.Connection.close(conn)
        if error is not None:
            raise error

    def flush(self) -> None:
        """Commit now the writes this event-loop iteration made (they are otherwise committed
        when the loop gets to its next iteration); nothing to do outside a loop.

        Raises ``DatabaseBusyError`` (the writes stay pending and are retried) or
        ``DatabaseCommitError`` (they were lost) if the commit fails.
        """
        if self._group is not None:
            self._group.flush()

    @property
    def pending_writes(self) -> int:
        """How many writes wait for their loop iteration's commit (0 outside a loop)."""
        group = self._group
        return group.writes if group is not None and group.pending else 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.conn is None else f"schema v{self.schema_version}"
        return f"Database({str(self.db_path)!r}, {state})"

    # --- plumbing ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        conn = self.conn
        if conn is None:
            raise CodeframeError(f"database {str(self.db_path)!r} is closed")
        return conn

    @contextmanager
    def _write(self, *refs: _Ref, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One write: its statements run at once; a failure undoes it alone and is translated.

        Inside a running event loop the write is a savepoint of the loop iteration's group,
        committed at the iteration's end; otherwise (and for ``immediate`` writes, which
        take the write lock first and must be seen by other processes at once) it is its
        own transaction, committed before this returns. ``refs`` name the ids the
        statement references, so a foreign-key failure becomes a ``NotFoundError`` that
        says which one is unknown.
        """
        conn = self._db()
        self._before_write()
        group = self._group
        if group is None:
            with self._transaction(conn, refs, immediate):
                yield conn
            return
        loop = None if immediate else running_loop()
        group.inside += 1
        try:
            if loop is None or not group.begin_write(loop):
                group.flush()  # first, so a failure below cannot roll back pending writes
                with self._transaction(conn, refs, immediate):
                    yield conn
                return
            try:
                yield conn
                group.end_write()
            except BaseException as exc:
                group.undo_write()
                translated = self._translated_write(exc, refs)
                if translated is exc:
                    raise
                raise translated from exc
        finally:
            group.inside -= 1

    def _before_write(self) -> None:
        """What a write does first, also before a read that decides whether to write:
        commit other codeframe connections' pending writes to this file (their rows must be
        seen, and their open group would hold us off) and raise a lost commit not yet told."""
        group = self._group
        if group is None:
            commit_pending(self._key)
        else:
            group.before_write()

    @contextmanager
    def _transaction(
        self, conn: sqlite3.Connection, refs: tuple[_Ref, ...], immediate: bool
    ) -> Iterator[None]:
        """A write as its own transaction: commit at the end, roll back on failure."""
        try:
            if immediate and not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            yield
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            translated = self._translated_write(exc, refs)
            if translated is exc:
                raise
            raise translated from exc

    def _translated_write(self, exc: BaseException, refs: tuple[_Ref, ...]) -> BaseException:
        """The codeframe error for a failed write's ``exc``; ``exc`` itself if none fits."""
        if isinstance(exc, sqlite3.IntegrityError):
            return self._translate(exc, refs)
        if isinstance(exc, sqlite3.OperationalError):
            return translate(exc, str(self.db_path))
        return exc

    def _translate(self, exc: sqlite3.IntegrityError, refs: tuple[_Ref, ...]) -> Exception:
        message = str(exc)
        if isinstance(exc, CodeframeError):
            return exc
        if "FOREIGN KEY" in message:
            for what, table, ident in refs:
                if ident is not None and not self._exists(table, ident):
                    return NotFoundError(f"no {what} with id {ident!r}")
            return NotFoundError(f"a referenced row does not exist ({message})")
        if "UNIQUE" in message:
            return DuplicateError(message)
        if "CHECK" in message or "NOT NULL" in message:
            return InvalidInputError(f"value rejected by the schema: {message}")
        return exc

    def _exists(self, table: str, ident: object) -> bool:
        return self._one(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)) is not None

    def _require(self, table: str, ident: object, what: str) -> None:
        if not self._exists(table, ident):
            raise NotFoundError(f"no {what} with id {ident!r}")

    def _one(self, sql: str, params: Iterable[object]) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = _execute(self._db(), sql, tuple(params)).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._translated_read(exc) from exc
        return row

    def _all(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        try:
            return _execute(self._db(), sql, tuple(params)).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._translated_read(exc) from exc

    def _translated_read(self, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> Exception:
        # A read inside no transaction needs no rollback; only the error needs a name. A
        # file damaged after it opened shows it only here: a bad page, text not in UTF-8.
        return translate(exc, str(self.db_path))

    @staticmethod
    def _assignments(
        updates: Mapping[str, object], encoders: Mapping[str, _Encoder], what: str
    ) -> tuple[list[str], list[object]]:
        columns: list[str] = []
        params: list[object] = []
        for key, value in updates.items():
            encode = encoders.get(key)
            if encode is None:
                allowed = ", ".join(sorted(encoders))
                raise InvalidInputError(f"cannot update {what} column {key!r}; allowed: {allowed}")
            columns.append(f"{key} = ?")
            params.append(encode(value))
        return columns, params
