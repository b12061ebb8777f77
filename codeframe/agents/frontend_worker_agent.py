"""The frontend worker: writes only inside the frontend folder; runs tests/frontend if any."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeframe.agents import prompts
from codeframe.agents.seams import WorkerStore
from codeframe.agents.worker_agent import WorkerAgent
from codeframe.core.file_changes import WriteArea
from codeframe.core.models import TestResult, TestStatus
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.ui.websocket_broadcasts import BroadcastTarget

FRONTEND_TESTS = "tests/frontend"


class FrontendWorkerAgent(WorkerAgent):
    """Writes UI code under ``frontend_dir``; its tests are the pytest tests in tests/frontend."""

    worker_type = "frontend"

    def __init__(
        self,
        project_id: int,
        db: WorkerStore,
        codebase_index: CodebaseIndex | None = None,
        api_key: str | None = None,
        project_root: Path | str = Path("."),
        ws_manager: BroadcastTarget | None = None,
        *,
        frontend_dir: str = "frontend",
        **options: Any,
    ) -> None:
        super().__init__(
            project_id, db, codebase_index, api_key, project_root, ws_manager, **options
        )
        self.frontend_dir = frontend_dir

    @property
    def write_area(self) -> WriteArea:
        return WriteArea.under(self.frontend_dir)

    def system_prompt(self) -> str:
        return prompts.system_prompt(self.worker_type, area=self.frontend_dir)

    async def _run_tests(self) -> TestResult:
        if not (self._root() / FRONTEND_TESTS).is_dir():
            # Nothing to run is an honest outcome, not a failure: the task can still complete.
            return TestResult(TestStatus.NO_TESTS, output=f"no tests under {FRONTEND_TESTS}/")
        return await self._test_runner().run_tests([FRONTEND_TESTS])


__all__ = ["FrontendWorkerAgent"]
