"""A database damaged after it was written: reading it fails with a clear error, never a raw one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from codeframe.errors import CodeframeError, SchemaError
from codeframe.persistence.database import Database


def written(path: Path) -> Path:
    with Database(path) as db:
        for n in range(3):
            project_id = db.create_project(f"p{n}", workspace_path=f"/tmp/p{n}")
            for t in range(20):
                task_id = db.create_task(project_id, f"task {t}", description="x" * 300)
                db.create_blocker(task_id, reason="why", question="what now?")
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return path


def read_everything(path: Path) -> BaseException | None:
    try:
        with Database(path) as db:
            for project in db.list_projects():
                db.get_project_tasks(project["id"])
                db.get_blockers(project["id"])
                db.get_runs(project["id"])
    except Exception as exc:
        return exc
    return None


def test_text_that_is_not_utf8_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    path = written(tmp_path / "codeframe.db")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE tasks SET description = CAST(X'FFFE41' AS TEXT)")
    raw.close()
    error = read_everything(path)
    assert isinstance(error, SchemaError), repr(error)
    assert str(path) in str(error) and "not UTF-8" in str(error)


def test_every_damaged_page_is_a_clear_error_or_no_error(tmp_path: Path) -> None:
    data = written(tmp_path / "good.db").read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    raw = []
    for page in range(1, len(data) // page_size):
        target = tmp_path / f"page{page}.db"
        start = page * page_size
        target.write_bytes(data[:start] + b"\xff" * 8 + data[start + 8 :])
        error = read_everything(target)
        if error is not None and not (
            isinstance(error, CodeframeError) and str(target) in str(error)
        ):
            raw.append(f"page {page}: {type(error).__name__}: {error}")
    assert raw == []


def test_a_schema_name_that_is_not_utf8_is_a_clear_error_naming_the_file(
    tmp_path: Path,
) -> None:
    """Found by the fault suite (bytes overwritten in the schema page): the file is
    inspected before it is opened for use, and that read must not fail raw either."""
    path = written(tmp_path / "codeframe.db")
    data = path.read_bytes()
    # A schema row stores type, name and table name side by side: "tableblockersblockers".
    name_at = data.index(b"tableblockersblockers") + len(b"table")
    path.write_bytes(data[:name_at] + b"\xc5" + data[name_at + 1 :])

    error = read_everything(path)
    assert isinstance(error, SchemaError), repr(error)
    assert str(path) in str(error) and "not UTF-8" in str(error)
