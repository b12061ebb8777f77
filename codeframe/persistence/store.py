"""The connection plumbing every ``Database`` mixin builds on.

Opening and migrating the file, closing it, and the few helpers each query goes through
(one locked transaction per write, foreign-key errors translated to ``NotFoundError``,
one-row and all-row reads). The domain modules derive from :class:`Store`; ``Database``
combines them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from codeframe.errors import (
    CodeframeError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
)
from codeframe.persistence.codec import _Encoder, _Ref
from codeframe.persistence.migrations import migrate

logger = logging.getLogger(__name__)

#: Runs started by this process and not yet finished, as ``(database key, run id)``. A row
#: with our pid that is not in here belongs to a run that crashed in this same kernel.
_OPEN_RUNS: set[tuple[str, int]] = set()


class Store:
    """Connection, schema check and transaction helpers; the query methods live in mixins."""

    def __init__(self, db_path: str | Path) -> None:
        memory = str(db_path) == ":memory:"
        self.db_path: str | Path = ":memory:" if memory else Path(db_path).expanduser()
        self.conn: sqlite3.Connection | None = None
        self.schema_version = 0
        self._lock = threading.RLock()
        self._my_runs: set[int] = set()
        # Identifies the database in the process-wide registry of open runs.
        self._key = f":memory:{id(self)}" if memory else str(Path(self.db_path).resolve())
        self._open(memory)
        try:
            self.initialize()
        except BaseException:
            self.close()
            raise

    def _open(self, memory: bool) -> None:
        if not memory:
            Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.db_path), timeout=5.0, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            # Refuse a file we do not own before WAL would rewrite its header.
            migrate(conn, where=str(self.db_path), apply=False)
            if not memory:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    logger.warning("%s: WAL journal unavailable, using %s", self.db_path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SchemaError(f"{self.db_path} is not a SQLite database: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def initialize(self, run_migrations: bool = True) -> None:
        """Check the file and bring its schema up to date; safe to call any number of times.

        With ``run_migrations=False`` the file is only checked. Raises ``SchemaError`` for
        a file holding our tables without a version, or a version newer than ours.
        """
        conn = self._db()
        with self._lock:
            self.schema_version = migrate(conn, where=str(self.db_path), apply=run_migrations)

    def close(self) -> None:
        """Close the connection (a second call does nothing); runs left open are released."""
        for run_id in self._my_runs:
            _OPEN_RUNS.discard((self._key, run_id))
        self._my_runs.clear()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

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
        """One transaction: commit at the end, roll back and translate errors on failure.

        ``refs`` name the ids the statement references, so a foreign-key failure becomes
        a ``NotFoundError`` that says which one is unknown.
        """
        conn = self._db()
        with self._lock:
            try:
                if immediate and not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.commit()
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                translated = self._translate(exc, refs)
                if translated is exc:
                    raise
                raise translated from exc
            except BaseException:
                conn.rollback()
                raise

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
        row = self._db().execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone()
        return row is not None

    def _require(self, table: str, ident: object, what: str) -> None:
        if not self._exists(table, ident):
            raise NotFoundError(f"no {what} with id {ident!r}")

    def _one(self, sql: str, params: Iterable[object]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db().execute(sql, tuple(params)).fetchone()
        return row

    def _all(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        return self._db().execute(sql, tuple(params)).fetchall()

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
