"""What agents depend on, as types: the store, the test runner, a task's workspace.

Agents talk to three seams (a store, a Claude client, a test runner) and one side channel
(an :class:`~codeframe.ui.websocket_broadcasts.Emitter`). Each is a ``Protocol`` here, so a
test or a benchmark can hand in any object of the right shape — a :class:`Database`, an
in-memory fake, a fixed-result runner — and a type checker says when one does not fit.
The Claude client's protocol lives with the clients: :class:`codeframe.llm.ClaudeClient`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from codeframe.core.models import TestCase, TestResult
from codeframe.persistence.blockers import Answered
from codeframe.persistence.codec import Row
from codeframe.persistence.task_status import StatusWrite, StatusWritten

if TYPE_CHECKING:
    from codeframe.indexing.codebase_index import CodebaseIndex


class SuiteRunner(Protocol):
    """Runs a project's tests: :class:`~codeframe.testing.test_runner.TestRunner` or a fake."""

    async def run_tests(self, test_paths: Sequence[str] | None = None) -> TestResult: ...


class StatusStore(Protocol):
    """The writes a task's lifecycle makes: status changes, answers and releases of blockers."""

    def write_status(self, task_id: int, change: StatusWrite) -> StatusWritten: ...

    def answer_blocker(
        self, blocker_id: int, resolution: str, *, resolved_by: str = ...
    ) -> Answered | None: ...

    def release_dependency_blockers(self, upstream_task_id: int) -> list[Answered]: ...


class WorkerStore(StatusStore, Protocol):
    """What a worker reads and writes while it runs a task (a :class:`Database` fits)."""

    def get_task(self, task_id: int) -> Row | None: ...

    def get_project_tasks(
        self, project_id: int, status: str | Iterable[str] | None = None
    ) -> list[Row]: ...

    def get_issue(self, issue_id: int) -> Row | None: ...

    def get_blockers_by_task(self, task_id: int) -> list[Row]: ...

    def get_test_result(self, test_result_id: int) -> Row | None: ...

    def get_test_cases(self, test_result_id: int) -> list[Row]: ...

    def update_task(self, task_id: int, updates: Mapping[str, Any]) -> int: ...

    def create_test_result(
        self,
        task_id: int,
        status: str,
        passed: int = 0,
        failed: int = 0,
        errors: int = 0,
        skipped: int = 0,
        duration: float = 0.0,
        output: str | None = None,
        *,
        attempt: int = 0,
        cases: Iterable[TestCase | Mapping[str, Any]] = (),
    ) -> int: ...

    def create_correction_attempt(
        self,
        task_id: int,
        attempt_number: int,
        error_analysis: str,
        fix_description: str,
        code_changes: str | list[Any] | dict[str, Any] | None = "",
        test_result_id: int | None = None,
    ) -> int: ...

    def record_llm_call(
        self,
        *,
        task_id: int | None,
        agent_id: str | None,
        attempt: int,
        model: str | None,
        request: Mapping[str, Any],
        reply_text: str | None,
        stop_reason: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        latency_s: float,
        error: str | None = None,
        count_tokens: bool = False,
        secrets: Iterable[str | None] = (),
        cache_write_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cost_usd: float | None = None,
    ) -> int: ...


class CommitStore(Protocol):
    """What worktree isolation reads and writes in the store: the tasks' commits."""

    def latest_commits(self, task_ids: Sequence[int]) -> dict[int, Row]: ...

    def record_commit(
        self,
        task_id: int,
        *,
        sha: str,
        branch: str,
        message: str,
        files: Sequence[str] = (),
        insertions: int = 0,
        deletions: int = 0,
        merge_sha: str | None = None,
        run_id: int | None = None,
    ) -> int: ...


class LeadStore(WorkerStore, CommitStore, Protocol):
    """What the lead agent needs on top of a worker's store: runs, recovery, blockers,
    commits."""

    def get_project(self, project_id: int) -> Row | None: ...

    def start_run(self, project_id: int, *, workspace_path: str | Path | None = None) -> int: ...

    def heartbeat_run(self, run_id: int) -> None: ...

    def finish_run(self, run_id: int, summary: Mapping[str, Any] | None = None) -> None: ...

    def recover_interrupted(self, project_id: int) -> list[int]: ...

    def status_counts(self, project_id: int) -> dict[str, int]: ...

    def dead_run_span(self, project_id: int, *, before: int) -> tuple[float, float] | None: ...

    def runs_claimed_here(self, project_id: int) -> list[int]: ...

    def ensure_no_live_run(self, project_id: int) -> None: ...

    def active_task_ids(self, project_id: int) -> list[int]: ...

    def get_blockers(self, project_id: int, *, include_resolved: bool = False) -> list[Row]: ...


@dataclass(frozen=True, slots=True)
class Delivered:
    """What committing a task's passing work and integrating it did.

    ``merge_sha`` is the integration branch's new head; on a conflict it is ``None`` and
    ``conflict_paths`` and ``conflicting_tasks`` say with what the change collided. When
    the user's own uncommitted changes were in the way instead, ``refused_by_checkout``
    says so in git's terms and ``conflict_paths`` names their files.
    """

    sha: str
    branch: str
    message: str
    files: tuple[str, ...] = ()
    merge_sha: str | None = None
    conflict_paths: tuple[str, ...] = ()
    conflicting_tasks: tuple[int, ...] = ()
    refused_by_checkout: str = ""

    @property
    def conflicted(self) -> bool:
        return self.merge_sha is None


class Deliver(Protocol):
    """Commits a task's work in its worktree and integrates it (worktree isolation)."""

    async def __call__(self, *, attempts: int, tokens: int) -> Delivered: ...


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where one task runs: the tree it writes, the runner of its tests, its code index.

    In worktree isolation ``branch`` is the task's branch and ``deliver`` commits and
    integrates its work once its tests pass; both are ``None`` when tasks share one tree.
    """

    root: Path
    test_runner: SuiteRunner
    index: CodebaseIndex
    branch: str | None = None
    deliver: Deliver | None = None


__all__ = [
    "Deliver",
    "Delivered",
    "LeadStore",
    "StatusStore",
    "SuiteRunner",
    "WorkerStore",
    "Workspace",
]
