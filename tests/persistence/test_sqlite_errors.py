"""SQLite's errors are named by their result code, not by their wording."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from codeframe.errors import DatabaseBusyError, DatabaseReadOnlyError, SchemaError
from codeframe.persistence.sqlite_errors import is_busy, is_read_only, translate


def _error_of(action: object) -> sqlite3.Error:
    assert callable(action)
    with pytest.raises(sqlite3.Error) as caught:
        action()
    return caught.value


@pytest.fixture
def plain_db(tmp_path: Path) -> Path:
    path = tmp_path / "plain.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return path


def test_a_write_through_a_read_only_connection_is_read_only(plain_db: Path) -> None:
    conn = sqlite3.connect(f"file:{plain_db}?mode=ro", uri=True)
    try:
        error = _error_of(lambda: conn.execute("INSERT INTO t VALUES (1)"))
    finally:
        conn.close()
    assert is_read_only(error) and not is_busy(error)
    translated = translate(error, "plain.db")
    assert isinstance(translated, DatabaseReadOnlyError)
    assert "plain.db is read-only" in str(translated)


def test_a_held_lock_is_busy(plain_db: Path) -> None:
    holder = sqlite3.connect(plain_db, isolation_level=None)
    waiter = sqlite3.connect(plain_db, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        error = _error_of(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
    finally:
        holder.close()
        waiter.close()
    assert is_busy(error) and not is_read_only(error)
    assert isinstance(translate(error, "plain.db"), DatabaseBusyError)


def test_a_file_that_is_not_sqlite_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "text.db"
    path.write_text("not a database " * 100)
    conn = sqlite3.connect(path)
    try:
        error = _error_of(lambda: conn.execute("SELECT * FROM sqlite_master"))
    finally:
        conn.close()
    translated = translate(error, "text.db")
    assert isinstance(translated, SchemaError) and "not a SQLite database" in str(translated)


def test_other_errors_come_back_unchanged() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        error = _error_of(lambda: conn.execute("SELECT * FROM missing"))
    finally:
        conn.close()
    assert not is_busy(error) and not is_read_only(error)
    assert translate(error, "x") is error
    assert not is_busy(ValueError("database is locked"))
