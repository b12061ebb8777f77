"""The storage split: SQLite's calls and each task's file are timed in a real run, the parts
add up to the run's CPU, and the wrapped hooks are put back whatever happens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from benchmarks.scenarios import run_scenario
from benchmarks.storage_split import per_task_us, timing_storage
from codeframe.core import file_create
from codeframe.persistence import group_commit

ORIGINAL_CREATE = file_create.create_alone


def _hooks_are_the_originals() -> bool:
    return (
        group_commit._execute is sqlite3.Connection.execute
        and group_commit._commit is sqlite3.Connection.commit
        and group_commit._rollback is sqlite3.Connection.rollback
        and file_create.create_alone is ORIGINAL_CREATE
    )


def test_a_run_is_split_into_sqlite_the_files_and_the_rest(tmp_path: Path) -> None:
    figures = run_scenario("storage_split", {"n": 12, "c": 4, "tmp_dir": str(tmp_path)})

    assert figures["completed"] == 12
    # Every task's file went through the timed create; every task wrote several rows.
    assert figures["file_calls"] == 12 and figures["file_s"] > 0
    assert figures["sqlite_calls"] >= 12 * 5 and figures["sqlite_s"] > 0
    split = per_task_us(figures)
    assert split["cpu"] == pytest.approx(split["sqlite"] + split["file"] + split["rest"])
    assert 0 <= split["kernel"] <= split["cpu"]
    assert _hooks_are_the_originals()


def test_the_hooks_are_put_back_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError, match="mid-run"), timing_storage() as spent:
        assert not _hooks_are_the_originals()
        connection = sqlite3.connect(":memory:")
        group_commit._execute(connection, "SELECT 1")
        raise RuntimeError("mid-run")
    assert _hooks_are_the_originals()
    assert spent.sqlite_calls == 1 and spent.sqlite_s > 0 and spent.file_calls == 0


def test_per_task_figures_divide_by_the_tasks() -> None:
    figures = {
        "tasks": 4, "user_s": 0.003, "system_s": 0.001, "sqlite_s": 0.001, "file_s": 0.0002,
    }  # fmt: skip
    assert per_task_us(figures) == pytest.approx(
        {"cpu": 1000.0, "kernel": 250.0, "sqlite": 250.0, "file": 50.0, "rest": 700.0}
    )
