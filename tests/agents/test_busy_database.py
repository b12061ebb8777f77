"""A database another process holds for a moment: the task still ends as its tests say."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.core.models import TaskStatus, TestResult, TestStatus
from codeframe.llm import ScriptedClient
from codeframe.persistence.store import BUSY_TIMEOUT_MS

from .test_lead_agent import note_reply

HOLD_S = 3 * BUSY_TIMEOUT_MS / 1000  # well past one try's busy wait


class LockingRunner:
    """Passes, and at that moment another connection takes the write lock for ``HOLD_S``."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.released = asyncio.Event()

    async def run_tests(self, test_paths: object = None) -> TestResult:
        # Another process takes the lock while the tests run, i.e. between two turns of the
        # loop: within one, this process's own writes hold it until their group commit.
        await asyncio.sleep(0)
        other = sqlite3.connect(self.db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # as another process writing would

        def release() -> None:
            other.execute("COMMIT")
            other.close()
            self.released.set()

        asyncio.get_running_loop().call_later(HOLD_S, release)
        return TestResult(TestStatus.PASSED, passed=1)


async def test_a_lock_held_past_the_busy_timeout_does_not_fail_a_passing_task(
    db, project_id, project, tmp_path
):
    task_id = db.create_task(project_id, "Write the notes")
    runner = LockingRunner(tmp_path / "codeframe.db")
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        client=ScriptedClient(default=note_reply),
        test_runner=runner,
    )
    result = await worker.execute_task(db.get_task(task_id))

    assert runner.released.is_set()
    assert result["status"] == "completed", result
    assert db.get_task(task_id)["status"] == TaskStatus.COMPLETED
    assert [r["status"] for r in db.get_test_results_by_task(task_id)] == ["passed"]
