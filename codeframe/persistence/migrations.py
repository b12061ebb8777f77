"""The SQLite schema as named, ordered migrations, recorded in ``schema_migrations``.

A file is only ever changed by appending migrations: version *n* is the *n*-th entry of
:data:`MIGRATIONS`, applied once in its own transaction together with its record. Each
migration's SQL is fixed text (:mod:`.migration_sql`): once released it is never edited,
because files in the wild applied exactly that text. A file that holds tables but no record
(ours or anyone's), or records a version this code does not know, is refused with
:class:`~codeframe.errors.SchemaError` instead of being altered.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from codeframe.core.models import utc_now
from codeframe.errors import SchemaError
from codeframe.persistence import migration_sql as sql

logger = logging.getLogger(__name__)

#: The agent statuses the ``agents.status`` CHECK allows (written out in migration 4).
AGENT_STATUSES = ("idle", "busy", "blocked", "retired")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its 1-based place in :data:`MIGRATIONS`, its name and its SQL.

    The SQL is fixed text, never built from Python values: files in the wild applied
    exactly these statements, and a later change to an enum must come as a new migration.
    """

    version: int
    name: str
    statements: tuple[str, ...]

    def apply(self, conn: sqlite3.Connection) -> None:
        """Run the statements on ``conn``; the caller owns the transaction."""
        for statement in self.statements:
            conn.execute(statement)


#: Append only: never edit or reorder a released entry, files in the wild recorded it.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create_core_tables", sql.CORE_TABLES),
    Migration(2, "create_test_tables", sql.TEST_TABLES),
    Migration(3, "create_llm_calls", sql.LLM_CALLS),
    Migration(4, "create_runs_and_agents", sql.RUNS_AND_AGENTS),
    Migration(5, "add_run_workspace", sql.RUN_WORKSPACE),
    Migration(6, "add_blocker_types", sql.BLOCKER_TYPES),
    Migration(7, "add_task_worker_and_cost", sql.TASK_WORKER_AND_COST),
    Migration(8, "add_llm_call_costs", sql.LLM_CALL_COSTS),
    Migration(9, "create_commits", sql.COMMITS),
)

LATEST_VERSION = MIGRATIONS[-1].version

#: Tables whose presence without a version record marks a file we must not touch.
OUR_TABLES = frozenset(
    {
        "projects", "issues", "tasks", "test_results", "test_cases", "correction_attempts",
        "blockers", "llm_calls", "runs", "agents", "task_assignments", "commits",
    }
)  # fmt: skip

_CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def _table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def applied_migrations(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """``(version, name)`` of every recorded migration, in order; empty for a new file."""
    if "schema_migrations" not in _table_names(conn):
        return []
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    return [(int(row[0]), str(row[1])) for row in rows]


def _check(conn: sqlite3.Connection, where: str) -> list[tuple[int, str]]:
    """Raise ``SchemaError`` for a file we do not own; return what it has applied."""
    tables = _table_names(conn)
    if "schema_migrations" not in tables:
        ours = sorted(tables & OUR_TABLES)
        if ours:
            raise SchemaError(
                f"{where} has codeframe-like tables ({', '.join(ours)}) but no schema version; "
                "refusing to alter it — use a new database file"
            )
        foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
        if foreign:
            # Only a file with no schema at all may receive ours.
            raise SchemaError(
                f"{where} holds tables codeframe did not create ({', '.join(foreign[:8])}) "
                "and no schema version; refusing to add ours — use a new database file"
            )
        return []
    applied = applied_migrations(conn)
    for version, name in applied:
        if version > LATEST_VERSION:
            raise SchemaError(
                f"{where} has schema version {version} ({name!r}), newer than this codeframe "
                f"knows ({LATEST_VERSION}); upgrade codeframe to open it"
            )
        expected = MIGRATIONS[version - 1].name if version >= 1 else None
        if name != expected:
            raise SchemaError(
                f"{where} records migration {version} as {name!r}, expected {expected!r}; "
                "refusing to alter it"
            )
    return applied


def migrate(conn: sqlite3.Connection, *, where: str = "database", apply: bool = True) -> int:
    """Check the file and apply pending migrations; return the resulting schema version.

    With ``apply=False`` only the check runs. The pending migrations and their records
    commit as one transaction, under ``BEGIN IMMEDIATE`` so two processes opening a new
    file at once do not both create it.
    """
    applied = _check(conn, where)
    if not apply or len(applied) == LATEST_VERSION:
        return len(applied)
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another connection may have migrated meanwhile.
        applied = _check(conn, where)
        conn.execute(_CREATE_VERSION_TABLE)
        for migration in MIGRATIONS[len(applied) :]:
            migration.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, utc_now()),
            )
            logger.debug("applied migration %d %s to %s", migration.version, migration.name, where)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return LATEST_VERSION


__all__ = [
    "AGENT_STATUSES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "OUR_TABLES",
    "Migration",
    "applied_migrations",
    "migrate",
]
