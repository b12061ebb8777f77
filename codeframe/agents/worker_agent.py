"""The worker agent every worker type is: the seed's methods over one shared pipeline.

The three worker classes only choose a system prompt, the part of the tree they may write
and which tests they run. The pipeline itself lives in :mod:`~codeframe.agents.execution`
(one task, start to final status), the correction loop in :mod:`~codeframe.agents.correction`,
context building in :mod:`~codeframe.agents.context`, the Claude call in
:mod:`codeframe.llm.call` and what it costs in :mod:`~codeframe.agents.metering`. Status
changes are :class:`~codeframe.agents.lifecycle.TaskLifecycle` transitions; every other step
is announced through the worker's emitter.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from codeframe.agents import prompts
from codeframe.agents.budget import RunBudget
from codeframe.agents.context import task_context
from codeframe.agents.correction import (
    RecordedRun,
    attempt_correction,
    correction_loop,
    run_line,
    stored_run,
)
from codeframe.agents.execution import TaskExecution
from codeframe.agents.lifecycle import TaskLifecycle
from codeframe.agents.metering import check_budget, record_call
from codeframe.agents.seams import SuiteRunner, WorkerStore, Workspace
from codeframe.core.file_changes import WriteArea
from codeframe.core.file_changes import apply_file_changes as apply_changes_to_tree
from codeframe.core.models import (
    ExecutionResult,
    GenerationResult,
    TaskStatus,
    TestResult,
)
from codeframe.errors import MissingAPIKeyError, RunnerUnavailableError
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.llm import (
    DEFAULT_MAX_TOKENS,
    default_model,
)
from codeframe.llm.call import CallRecord, ChangeRequest, ask_for_changes
from codeframe.llm.live import live_client
from codeframe.llm.messages import ClaudeClient
from codeframe.llm.pricing import PriceTable
from codeframe.persistence.retry import retry_when_busy
from codeframe.redaction import clean_result, register_secret
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.events import ActivityUpdate, TestResultReported
from codeframe.ui.websocket_broadcasts import BroadcastTarget, Emitter


class WorkerAgent:
    """A worker agent: turns one task into tested file changes, or a clear failure or blocker."""

    worker_type: ClassVar[str] = "backend"

    def __init__(
        self,
        project_id: int,
        db: WorkerStore,
        codebase_index: CodebaseIndex | None = None,
        api_key: str | None = None,
        project_root: Path | str = Path("."),
        ws_manager: BroadcastTarget | None = None,
        *,
        client: ClaudeClient | None = None,
        model: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        test_runner: SuiteRunner | None = None,
        timeout: float = 300.0,
        agent_id: str | None = None,
        max_file_bytes: int = 1_000_000,
        lifecycle: TaskLifecycle | None = None,
        task_timeout: float | None = None,
        prices: PriceTable | None = None,
        budget: RunBudget | None = None,
    ) -> None:
        self.project_id = project_id
        self.db = db
        self.codebase_index = codebase_index
        self.api_key = api_key
        register_secret(api_key)
        self.project_root = Path(project_root)
        self.ws_manager = ws_manager
        self.client = client
        self.model = default_model(model)
        self.max_tokens = max_tokens
        self.test_runner = test_runner
        self.timeout = timeout
        self.agent_id = agent_id
        self.max_file_bytes = max_file_bytes
        #: Bounds one ``execute_task`` (a run's ``task_timeout``); ``timeout`` bounds one call.
        self.task_timeout = task_timeout
        #: What calls cost (``PriceTable.default()`` unless given) and the run's budget.
        self.prices = prices or PriceTable.default()
        self.budget = budget
        self._given_lifecycle = lifecycle
        self._own_lifecycle: TaskLifecycle | None = None
        self._owns_client = False
        self._execution: TaskExecution | None = None

    # -- what differs between workers -------------------------------------------------

    @property
    def write_area(self) -> WriteArea | None:
        """The part of the tree this worker may write; ``None`` means anywhere in the project."""
        return None

    def system_prompt(self) -> str:
        return prompts.system_prompt(self.worker_type)

    async def _run_tests(self) -> TestResult:
        """Run the tests this worker is responsible for (the backend: the whole suite)."""
        return await self._test_runner().run_tests(None)

    # -- seams -----------------------------------------------------------------------

    @property
    def lifecycle(self) -> TaskLifecycle:
        """The owner of task statuses: the run's (when a lead made this worker) or our own."""
        if self._given_lifecycle is not None:
            return self._given_lifecycle
        own = self._own_lifecycle
        if own is None or own.emit.target is not self.ws_manager:
            # Built on first use, and again if ``ws_manager`` was swapped since.
            own = TaskLifecycle(self.db, Emitter(self.ws_manager, self.project_id))
            self._own_lifecycle = own
        return own

    @property
    def emit(self) -> Emitter:
        return self.lifecycle.emit

    def _claude(self) -> ClaudeClient:
        """The client, created once on first use (construction itself needs no key)."""
        if self.client is None:
            key = self.api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise MissingAPIKeyError(
                    "no Claude client: pass client= (e.g. codeframe.llm.ScriptedClient) "
                    "or set ANTHROPIC_API_KEY"
                )
            self.client = live_client(key)
            self._owns_client = True
        return self.client

    def _test_runner(self) -> SuiteRunner:
        if self._execution is not None:
            return self._execution.workspace.test_runner
        if self.test_runner is None:
            self.test_runner = TestRunner(self.project_root)
        return self.test_runner

    def _index(self) -> CodebaseIndex:
        if self._execution is not None:
            return self._execution.workspace.index
        if self.codebase_index is None:
            self.codebase_index = CodebaseIndex(self.project_root)
            self.codebase_index.build()
        return self.codebase_index

    def _root(self) -> Path:
        return self.project_root if self._execution is None else self._execution.workspace.root

    def default_workspace(self) -> Workspace:
        """The worker's own tree, runner and index (built on first use)."""
        if self.test_runner is None:
            self.test_runner = TestRunner(self.project_root)
        if self.codebase_index is None:
            self.codebase_index = CodebaseIndex(self.project_root)
            self.codebase_index.build()
        return Workspace(self.project_root, self.test_runner, self.codebase_index)

    @property
    def execution(self) -> TaskExecution | None:
        """The task execution under way, if any."""
        return self._execution

    def current_execution(self, task: Mapping[str, Any]) -> TaskExecution:
        """The execution under way, or a fresh one for a step called on its own."""
        if self._execution is None or self._execution.task_id != task.get("id"):
            self._execution = TaskExecution(self, task)
        return self._execution

    async def aclose(self) -> None:
        """Close the API client if this worker created it (a client passed in is the caller's)."""
        if self._owns_client and self.client is not None:
            await self.client.close()  # type: ignore[attr-defined]
            self.client = None
            self._owns_client = False

    # -- sync steps (seed API) -------------------------------------------------------

    def fetch_next_task(self) -> dict[str, Any] | None:
        """This project's next pending task: highest priority, then workflow step, then id."""
        pending = self.db.get_project_tasks(self.project_id, status=TaskStatus.PENDING)
        if not pending:
            return None
        return min(pending, key=lambda t: (t["priority"], t["workflow_step"], t["id"]))

    def build_context(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """Task, related symbols and files from the index, and the parent issue."""
        issue = self.db.get_issue(task["issue_id"]) if task.get("issue_id") else None
        return task_context(task, index=self._index(), issue=issue, root=self._root())

    def apply_file_changes(self, files: Sequence[Mapping[str, Any]]) -> list[str]:
        """Validate the whole group, then write it atomically; returns the paths as given."""
        written = apply_changes_to_tree(
            self._root(), files, area=self.write_area, max_bytes=self.max_file_bytes
        )
        index = self.codebase_index if self._execution is None else self._index()
        if written and index is not None:
            index.update_files(written)
        return written

    def update_task_status(self, task_id: int, status: str, output: str | None = None) -> None:
        """Write a status (and output) by hand; ``completed_at`` is set on completion.

        A manual override for code written against the seed design; the pipeline itself
        moves a task only through its lifecycle.
        """
        fields: dict[str, Any] = {"status": TaskStatus(status).value}
        if output is not None:
            fields["output"] = output
        self.db.update_task(task_id, fields)

    # -- Claude ----------------------------------------------------------------------

    async def generate_code(self, context: Mapping[str, Any]) -> GenerationResult:
        """One Claude call for the task's changes; raises on unusable replies and API errors."""
        task = context.get("task", {})
        return await self._ask(prompts.generation_prompt(context), task.get("id"), attempt=0)

    async def _ask(self, prompt: str, task_id: int | None, *, attempt: int) -> GenerationResult:
        """Ask for changes once, inside the timeout; the call is recorded in the ledger."""
        request = ChangeRequest.of_prompt(self.model, self.max_tokens, self.system_prompt(), prompt)
        client = self._claude()
        reserved = await check_budget(self, request, client)

        def record(call: CallRecord) -> None:
            if task_id is not None:
                record_call(self, task_id, attempt, call)

        try:
            return await ask_for_changes(
                client, request, timeout=self.timeout, record=record, secrets=(self.api_key,)
            )
        finally:  # the call's real cost is in the run's spend by now (recorded first)
            if reserved and self.budget is not None:
                self.budget.release(reserved)

    # -- tests -----------------------------------------------------------------------

    async def _run_and_record_tests(self, task_id: int, *, attempt: int = 0) -> RecordedRun:
        """Run this worker's tests, store the run and its cases, announce the outcome."""
        result = await self._run_tests()
        if result.runner_error:
            raise RunnerUnavailableError(f"the tests could not run: {result.runner_error}")
        # Test output is where a key leaks (a test can read its parents' environment): masked
        # here, it is masked in the ledger, the blocker, the events and the next prompt alike.
        result = clean_result(result, (self.api_key,))
        record = functools.partial(
            self.db.create_test_result,
            task_id,
            result.status,
            passed=result.passed,
            failed=result.failed,
            errors=result.errors,
            skipped=result.skipped,
            duration=result.duration,
            output=result.output,
            attempt=attempt,
            cases=result.cases,
        )
        # Another process holding the database a moment must not fail a task whose tests ran.
        result_id = await retry_when_busy(record)
        run = RecordedRun(result_id, result)
        if self._execution is not None:
            self._execution.note_run(attempt, run, run_line(attempt, result))
        await self.emit(
            TestResultReported(
                self.project_id,
                task_id,
                result.status,
                result.passed,
                result.failed,
                result.errors,
                result.skipped,
                result.duration,
            )
        )
        return run

    # -- self-correction ---------------------------------------------------------------

    async def _self_correction_loop(
        self,
        task: Mapping[str, Any],
        test_result_id: int,
        *,
        failing: RecordedRun | None = None,
    ) -> bool:
        """Up to three attempts to make failing tests pass; True when one succeeds.

        ``failing`` is the run in memory; called on its own with only an id, the run is
        read once from the database.
        """
        return await correction_loop(
            self, task, failing or stored_run(self.db, task, test_result_id)
        )

    async def _attempt_self_correction(
        self,
        task: Mapping[str, Any],
        test_result_id: int,
        attempt: int,
        *,
        failing: TestResult | None = None,
        refused: str | None = None,
    ) -> dict[str, Any]:
        """One correction: the failure and the files in play to Claude, its fix applied.

        Returns ``{"error_analysis", "fix_description", "code_changes"}``. ``refused`` tells
        the model why its previous reply could not be used.
        """
        run = failing or stored_run(self.db, task, test_result_id).result
        return await attempt_correction(self, task, run, attempt, refused=refused)

    # -- the whole task --------------------------------------------------------------

    async def execute_task(
        self, task: Mapping[str, Any], *, workspace: Workspace | None = None
    ) -> ExecutionResult:
        """Run one task to ``completed``, ``failed`` or ``blocked``; cancellation is re-raised.

        ``workspace`` is where the task runs (its tree, runner and index); the worker's own
        project root by default.
        """
        execution = self._execution = TaskExecution(self, task, workspace)
        try:
            return await execution.run()
        finally:
            self._execution = None

    async def _activity(self, kind: str, text: str, task_id: int | None = None) -> None:
        await self.emit(ActivityUpdate(self.project_id, kind, text, task_id, self.agent_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agent_id={self.agent_id!r}, project_id={self.project_id})"


__all__ = ["RecordedRun", "WorkerAgent"]
