"""The run guard never locks a project for good, and guards a folder as well as a project."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeframe.errors import CodeframeError, RunInProgressError
from codeframe.persistence.database import Database
from codeframe.persistence.runs import STALE_RUN_AFTER_S

_LONG_AGO = "2001-01-01T00:00:00.000000Z"


@pytest.fixture
def other_process() -> Iterator[int]:
    """The pid of a live process that is not codeframe: what a reused pid looks like."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def _insert_open_run(db: Database, project_id: int, pid: int, heartbeat_at: str | None) -> int:
    assert db.conn is not None
    cur = db.conn.execute(
        "INSERT INTO runs (project_id, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?)",
        (project_id, pid, heartbeat_at or _LONG_AGO, heartbeat_at),
    )
    db.conn.commit()
    return int(cur.lastrowid or 0)


def _point_at(db: Database, project_id: int, folder: str | Path) -> None:
    """Give a project a folder behind the API's back, as an older database may hold two
    projects for one folder (``create_project`` and ``update_project`` refuse that now)."""
    assert db.conn is not None
    db.conn.execute(
        "UPDATE projects SET workspace_path = ? WHERE id = ?", (str(folder), project_id)
    )
    db.conn.commit()


def _fill_the_disk(db: Database) -> None:
    """Make the next growth of the file fail as a full disk does (SQLITE_FULL)."""
    assert db.conn is not None
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    db.conn.execute(f"PRAGMA max_page_count = {pages}")


# --- a failed finish_run ----------------------------------------------------------------------


def test_a_failed_finish_run_does_not_keep_the_project_locked(db: Database) -> None:
    project_id = db.create_project("p")
    run_id = db.start_run(project_id)
    _fill_the_disk(db)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        db.finish_run(run_id, {"log": "x" * 200_000})
    assert db.conn is not None
    db.conn.execute("PRAGMA max_page_count = 1073741823")
    # The row is still open, but this process knows the run is over: the next run proceeds.
    second = db.start_run(project_id)
    old, new = db.get_runs(project_id)
    assert (old["id"], new["id"]) == (run_id, second)
    assert old["ended_at"] is not None and "no longer runs" in old["note"]


# --- pid reuse and stale heartbeats -----------------------------------------------------------


def test_a_live_pid_with_a_stale_heartbeat_is_taken_over(db: Database, other_process: int) -> None:
    project_id = db.create_project("p")
    stale = _insert_open_run(db, project_id, other_process, _LONG_AGO)
    run_id = db.start_run(project_id)
    old, new = db.get_runs(project_id)
    assert (old["id"], new["id"]) == (stale, run_id)
    assert old["ended_at"] is not None
    assert f"process {other_process}" in old["note"] and "heartbeat" in old["note"]


def test_a_live_pid_with_a_fresh_heartbeat_is_respected_and_named(
    db: Database, other_process: int
) -> None:
    project_id = db.create_project("p")
    run_id = _insert_open_run(db, project_id, other_process, None)
    db.heartbeat_run(run_id)
    with pytest.raises(RunInProgressError) as caught:
        db.start_run(project_id)
    message = str(caught.value)
    assert f"a run is already in progress for project {project_id}" in message
    assert f"process {other_process}" in message
    assert "heartbeat" in message and " s ago" in message
    assert f"finish_run({run_id})" in message  # how to take over
    assert (caught.value.project_id, caught.value.run_id) == (project_id, run_id)
    assert caught.value.pid == other_process
    assert isinstance(caught.value, CodeframeError) and isinstance(caught.value, RuntimeError)


def test_the_staleness_bound_is_many_heartbeats_long() -> None:
    from codeframe.agents import lead_agent

    # A live run that misses a few beats (a stalled loop, a locked write) must not be
    # taken over; the bound is a multiple of the lead's heartbeat interval.
    assert STALE_RUN_AFTER_S >= 10 * lead_agent._HEARTBEAT_WRITE_S


def test_our_own_open_run_is_refused_with_the_new_error(db: Database) -> None:
    project_id = db.create_project("p")
    run_id = db.start_run(project_id)
    with pytest.raises(RunInProgressError, match=f"in progress for project {project_id}") as c:
        db.start_run(project_id)
    assert c.value.run_id == run_id and c.value.pid == os.getpid()


# --- one run per folder -------------------------------------------------------------------------


def test_two_projects_in_one_folder_cannot_run_at_once(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    first = db.create_project("first", workspace_path=folder)
    second = db.create_project("second")
    # The same folder reached another way (a relative path with a detour).
    _point_at(db, second, folder / ".." / "work")
    run_id = db.start_run(first)
    with pytest.raises(RunInProgressError) as caught:
        db.start_run(second)
    message = str(caught.value)
    assert f"project {first}" in message and "'first'" in message
    assert str(folder.resolve()) in message
    assert caught.value.run_id == run_id
    db.finish_run(run_id)
    assert db.start_run(second) > run_id


def test_a_symlinked_folder_is_the_same_folder(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(folder)
    first = db.create_project("first", workspace_path=folder)
    db.start_run(first)
    other = db.create_project("other")
    with pytest.raises(RunInProgressError, match="'first'"):
        db.start_run(other, workspace_path=link)


def test_projects_in_different_folders_or_without_one_run_together(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = db.create_project("a", workspace_path=tmp_path / "a")
    b = db.create_project("b", workspace_path=tmp_path / "b")
    loose = [db.create_project("loose"), db.create_project("loose too")]
    runs = [db.start_run(p) for p in (a, b, *loose)]
    assert len(set(runs)) == 4


def test_the_run_records_its_folder_and_a_dead_neighbour_is_taken_over(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    first = db.create_project("first", workspace_path=folder)
    second = db.create_project("second")
    dead = _insert_open_run(db, first, os.getpid(), None)  # crashed earlier in this process
    _point_at(db, second, folder)
    run_id = db.start_run(second)
    runs = {r["id"]: r for r in db.get_runs(first) + db.get_runs(second)}
    assert runs[dead]["ended_at"] is not None
    assert runs[run_id]["workspace"] == str(folder.resolve())
