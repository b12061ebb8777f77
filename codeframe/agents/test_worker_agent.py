"""The test worker: writes only test files and runs the ones it wrote."""

from __future__ import annotations

from pathlib import PurePosixPath

from codeframe.agents.worker_agent import WorkerAgent
from codeframe.core.file_changes import WriteArea
from codeframe.core.models import TestResult


class TestWorkerAgent(WorkerAgent):
    """Writes pytest tests (tests/**, test_*.py, *_test.py); runs the test files it wrote."""

    __test__ = False
    worker_type = "test"

    @property
    def write_area(self) -> WriteArea:
        return WriteArea.test_files()

    def _written_test_files(self) -> list[str]:
        if self._execution is None:
            return []
        written = []
        root = self._root()
        for path in self._execution.files_modified:
            name = PurePosixPath(path).name
            is_test = name.startswith("test_") or name.endswith("_test.py")
            if is_test and name.endswith(".py") and (root / path).is_file():
                written.append(path)
        return written

    async def _run_tests(self) -> TestResult:
        # Only conftest or helpers written: run the whole suite, so breakage still shows.
        return await self._test_runner().run_tests(self._written_test_files() or None)


__all__ = ["TestWorkerAgent"]
