"""The file itself: pragmas, migrations, refusing files we do not own, raw SQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from codeframe.errors import CodeframeError, SchemaError
from codeframe.persistence import Database
from codeframe.persistence.migrations import LATEST_VERSION, MIGRATIONS
from codeframe.persistence.store import BUSY_TIMEOUT_MS


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    return {row[0] for row in rows}


def test_file_database_creates_parent_folders_and_uses_wal(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with Database(db_path) as db:
        assert db_path.exists()
        assert db.conn is not None
        pragma = db.conn.execute
        assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
        assert pragma("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
        assert pragma("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert isinstance(db.conn.execute("SELECT 1 AS x").fetchone(), sqlite3.Row)


def test_memory_database_works_without_wal() -> None:
    with Database(":memory:") as db:
        assert db.conn is not None
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
        assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.get_project(db.create_project("p"))["name"] == "p"


def test_foreign_keys_are_enforced(db: Database) -> None:
    assert db.conn is not None
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.conn.execute("INSERT INTO tasks (project_id, title) VALUES (999, 't')")
    db.conn.rollback()


def test_migrations_are_recorded_by_name_in_order(db: Database) -> None:
    assert db.conn is not None
    rows = db.conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert db.schema_version == LATEST_VERSION


def test_reopening_keeps_data_and_does_not_migrate_twice(db_path: Path) -> None:
    with Database(db_path) as db:
        project_id = db.create_project("keep me")
        task_id = db.create_task(project_id, "t", depends_on=[1])
        db.initialize()  # idempotent on an open database too
    with Database(db_path) as db:
        assert db.get_project(project_id)["name"] == "keep me"
        assert db.get_task(task_id)["depends_on"] == [1]
        assert db.conn is not None
        count = db.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
        assert count == LATEST_VERSION


def test_an_older_file_is_migrated_forward_keeping_its_rows(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
    )
    MIGRATIONS[0].apply(conn)
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?, 'then')", (MIGRATIONS[0].name,))
    conn.execute("INSERT INTO projects (name) VALUES ('old')")
    conn.commit()
    conn.close()
    with Database(db_path) as db:
        assert db.schema_version == LATEST_VERSION
        project = db.list_projects()[0]
        assert project["name"] == "old"
        task_id = db.create_task(project["id"], "new task")
        assert db.create_test_result(task_id, "passed", passed=1) > 0


def test_initialize_without_migrations_only_checks(db_path: Path) -> None:
    with Database(db_path) as db:
        db.initialize(run_migrations=False)
        assert db.schema_version == LATEST_VERSION


def test_a_file_with_our_tables_but_no_version_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="no schema version"):
        Database(db_path)
    assert _tables(db_path) == {"tasks"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        assert db.conn is not None
        db.conn.execute("INSERT INTO schema_migrations VALUES (?, 'from_the_future', 'x')",
                        (LATEST_VERSION + 1,))  # fmt: skip
        db.conn.commit()
    with pytest.raises(SchemaError, match="newer"):
        Database(db_path)


def test_a_renamed_migration_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        assert db.conn is not None
        db.conn.execute("UPDATE schema_migrations SET name = 'something_else' WHERE version = 1")
        db.conn.commit()
    with pytest.raises(SchemaError, match="something_else"):
        Database(db_path)


def test_a_file_that_is_not_sqlite_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("definitely not a database " * 100)
    with pytest.raises(SchemaError, match="not a SQLite database"):
        Database(db_path)
    assert db_path.read_text().startswith("definitely")


def test_close_twice_is_harmless_and_context_manager_closes(db_path: Path) -> None:
    with Database(db_path) as db:
        pass
    assert db.conn is None
    db.close()
    with pytest.raises(CodeframeError, match="closed"):
        db.get_task(1)


def test_raw_minimal_task_insert_from_seed_reads_back(db: Database, project_id: int) -> None:
    assert db.conn is not None
    cur = db.conn.execute(
        "INSERT INTO tasks (project_id, title, description, status, priority, workflow_step)"
        " VALUES (?, 'raw', 'd', 'pending', 1, 2)",
        (project_id,),
    )
    db.conn.commit()
    task = db.get_task(int(cur.lastrowid or 0))
    assert task is not None
    assert (task["title"], task["status"], task["priority"]) == ("raw", "pending", 1)
    assert task["depends_on"] == []
    assert task["notes"] == []
    assert task["can_parallelize"] is False and task["requires_mcp"] is False
    created = datetime.fromisoformat(task["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == UTC.utcoffset(None)


def test_rollback_undoes_an_uncommitted_raw_update(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    assert db.conn is not None
    db.conn.execute("UPDATE tasks SET title = 'changed' WHERE id = ?", (task_id,))
    db.conn.rollback()
    assert db.get_task(task_id)["title"] == "t"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO tasks (project_id, title, status) VALUES (:p, 't', 'bogus')",
        "INSERT INTO tasks (project_id, title, priority) VALUES (:p, 't', 5)",
        "INSERT INTO tasks (project_id, title, notes) VALUES (:p, 't', 'not json')",
        "INSERT INTO projects (name, status) VALUES ('p', 'sleeping')",
        "INSERT INTO issues (project_id, issue_number, title, priority) VALUES (:p, '1', 't', -1)",
    ],
)
def test_check_constraints_stop_raw_nonsense(db: Database, project_id: int, sql: str) -> None:
    assert db.conn is not None
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.conn.execute(sql, {"p": project_id})
    db.conn.rollback()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO test_results (task_id, status) VALUES (:t, 'maybe')",
        "INSERT INTO correction_attempts (task_id, attempt_number) VALUES (:t, 4)",
        "INSERT INTO blockers (task_id, severity) VALUES (:t, 'later')",
        "INSERT INTO agents (agent_id, project_id, agent_type, status) VALUES ('a', 1, 'b', 'x')",
    ],
)
def test_check_constraints_on_result_tables(db: Database, project_id: int, sql: str) -> None:
    task_id = db.create_task(project_id, "t")
    assert db.conn is not None
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.conn.execute(sql, {"t": task_id})
    db.conn.rollback()
