"""The storage split: every statement of a run is timed, the files created are counted, the
parts add up to the run's CPU, and the wrapped hooks are put back whatever happens."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from benchmarks.scenarios import run_codeframe, run_scenario
from benchmarks.storage_split import StorageTime, per_task_us, timing_storage
from benchmarks.workload import note_reply, workspace
from codeframe.core import file_create
from codeframe.llm import ScriptedClient
from codeframe.persistence import group_commit, store
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

ORIGINALS = {
    (group_commit, "_execute"): sqlite3.Connection.execute,
    (group_commit, "_commit"): sqlite3.Connection.commit,
    (group_commit, "_rollback"): sqlite3.Connection.rollback,
    (store, "_execute"): sqlite3.Connection.execute,
    (file_create, "create_alone"): file_create.create_alone,
}
OWN_EXECUTEMANY = vars(group_commit.LedgerConnection)["executemany"]


def _wrapped_hooks() -> list[str]:
    """The hooks that are not their originals right now."""
    changed = [
        f"{owner.__name__}.{name}"
        for (owner, name), original in ORIGINALS.items()
        if getattr(owner, name) is not original
    ]
    if vars(group_commit.LedgerConnection)["executemany"] is not OWN_EXECUTEMANY:
        changed.append("LedgerConnection.executemany")
    return changed


def test_every_statement_of_a_run_is_timed(tmp_path: Path) -> None:
    outside: list[str] = []
    with workspace(12, str(tmp_path)) as ws, timing_storage() as spent:
        assert ws.db.conn is not None
        ws.db.conn.set_trace_callback(
            lambda sql: None if spent.inside else outside.append(sql.split(None, 1)[0])
        )
        asyncio.run(
            run_codeframe(
                ws, 4, ScriptedClient(default=note_reply), FixedResultRunner(),
                BroadcastRecorder(),
            )
        )  # fmt: skip
        ws.db.conn.set_trace_callback(None)
    # Statements, savepoints, reads and commits alike ran inside a timed call.
    assert outside == []
    assert spent.sqlite_calls >= 12 * 5


def test_a_run_is_split_into_sqlite_the_files_and_the_rest(tmp_path: Path) -> None:
    figures = run_scenario("storage_split", {"n": 12, "c": 4, "tmp_dir": str(tmp_path)})

    assert figures["completed"] == 12
    # The first task also makes the folder (a journaled group); the others are created alone.
    assert figures["files_created"] == 11 and figures["file_calls"] == 12
    assert figures["file_s"] > 0 and figures["sqlite_s"] > 0
    split = per_task_us(figures)
    assert split["cpu"] == pytest.approx(split["sqlite"] + split["file"] + split["rest"])
    assert 0 <= split["kernel"] <= split["cpu"] and split["rest"] > 0
    assert _wrapped_hooks() == []


def test_every_hook_is_wrapped_while_timing_and_put_back_after_a_failure() -> None:
    with pytest.raises(RuntimeError, match="mid-run"), timing_storage() as spent:
        assert sorted(_wrapped_hooks()) == sorted(
            [f"{owner.__name__}.{name}" for owner, name in ORIGINALS]
            + ["LedgerConnection.executemany"]
        )
        connection = sqlite3.connect(":memory:")
        try:
            group_commit._execute(connection, "SELECT 1")
        finally:
            connection.close()
        raise RuntimeError("mid-run")
    assert _wrapped_hooks() == []
    assert spent.sqlite_calls == 1 and spent.file_calls == 0 and not spent.inside


def test_a_declined_create_is_timed_but_not_counted_as_a_file() -> None:
    spent = StorageTime()
    declined = spent.timed(lambda: False, "file")
    created = spent.timed(lambda: True, "file")
    assert declined() is False and created() is True
    assert spent.file_calls == 2 and spent.files_created == 1


def test_a_hook_inside_another_is_timed_once() -> None:
    spent = StorageTime()
    inner = spent.timed(lambda: "row", "sqlite")
    outer = spent.timed(lambda: inner(), "sqlite")
    assert outer() == "row"
    assert spent.sqlite_calls == 1


def test_per_task_figures_divide_by_the_tasks() -> None:
    figures = {
        "tasks": 4, "user_s": 0.003, "system_s": 0.001, "sqlite_s": 0.001, "file_s": 0.0002,
    }  # fmt: skip
    assert per_task_us(figures) == pytest.approx(
        {"cpu": 1000.0, "kernel": 250.0, "sqlite": 250.0, "file": 50.0, "rest": 700.0}
    )
