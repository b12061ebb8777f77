"""The thread-pool baseline's shared database: whole transactions from many threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.thread_baseline import ThreadSharedDatabase, run_threaded
from codeframe.core.models import TestCase
from codeframe.persistence.database import Database


def test_writes_from_threads_stay_whole(tmp_path: Path) -> None:
    with ThreadSharedDatabase(tmp_path / "shared.db") as db:
        project_id = db.create_project("p")
        task_ids = [db.create_task(project_id, f"t{i}") for i in range(4)]

        def work(task_id: int) -> None:
            for i in range(50):
                db.update_task(task_id, {"status": "in_progress", "output": str(i)})
                db.add_task_tokens(task_id, 1)
                db.create_test_result(task_id, "passed", passed=1, cases=[TestCase("t", "passed")])

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(work, task_ids))
        for task_id in task_ids:
            task = db.get_task(task_id)
            assert task is not None
            assert (task["output"], task["actual_tokens"]) == ("49", 50)
            assert len(db.get_test_cases_by_task(task_id)) == 50


def test_the_baseline_refuses_a_memory_database() -> None:
    with Database(":memory:") as db:
        project_id = db.create_project("p")
        with pytest.raises(ValueError, match="file database"):
            asyncio.run(run_threaded(db, project_id, Path("."), client=None, runner=None))
