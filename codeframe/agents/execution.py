"""One execution of one task by one worker: the pipeline from ``start`` to a final status.

start → build context → ask Claude → apply the changes → run and record the tests → if they
fail, the correction loop → ``complete``, or ``block`` with a blocker; an exception on the
way → ``fail`` (with whether a retry could help); a cancellation → ``cancel``. Every status
change is a :class:`~codeframe.agents.lifecycle.TaskLifecycle` transition. What the
execution has done so far (files written, the model's explanation, one line per test run,
the last run) is kept here, in memory: the database is written, not read back.

The pipeline calls the worker's seed-named steps (``build_context``, ``generate_code``,
``apply_file_changes``, ``_run_and_record_tests``, ``_self_correction_loop``), so code
that replaces one of them on a worker still changes what ``execute_task`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from codeframe.agents.context import resolved_blockers
from codeframe.agents.correction import MAX_CORRECTION_ATTEMPTS, RecordedRun, failure_summary
from codeframe.agents.lifecycle import Outcome, Transition
from codeframe.agents.seams import Deliver, Delivered, Workspace
from codeframe.core.cancel_shield import finish_then_reraise
from codeframe.core.file_changes import normalise_path
from codeframe.core.models import BlockerType, ExecutionResult, TaskStatus
from codeframe.errors import (
    BudgetExceededError,
    IllegalTransitionError,
    InvalidInputError,
    MissingProjectRootError,
    TaskTimeoutError,
)
from codeframe.llm.failures import describe_failure
from codeframe.redaction import redacted_traceback
from codeframe.ui.events import CommitCreated

if TYPE_CHECKING:
    from codeframe.agents.worker_agent import WorkerAgent

logger = logging.getLogger(__name__)

_ANNOUNCE_BOUND_S = 2.0  # a cancelled task still reports, but never waits long to do so
_BLOCK_QUESTION = (
    "The agent could not make the tests pass. Is the task or the test wrong, "
    "or what should the implementation do differently?"
)


#: Failures that mean the model's reply was refused: a retry should say why.
_REFUSALS = (
    "ResponseFormatError",
    "UnsafePathError",
    "MissingFileError",
    "ContentTooLargeError",
    "FileChangeError",
)


def refused_reply(error: object) -> str | None:
    """The reason the task's last reply was refused, from its ``error`` ("<Class>: why")."""
    if not isinstance(error, str):
        return None
    name, _, why = error.partition(": ")
    return why if name in _REFUSALS and why else None


class TaskExecution:
    """The state and the pipeline of one ``execute_task`` call (a worker runs one at a time)."""

    def __init__(
        self, worker: WorkerAgent, task: Mapping[str, Any], workspace: Workspace | None = None
    ) -> None:
        self.worker = worker
        self.task = dict(task)
        self.task_id = int(task["id"]) if task.get("id") is not None else None
        self._workspace = workspace
        self.files_modified: list[str] = []
        self.explanation = ""
        self.run_lines: list[str] = []
        self.last_run: RecordedRun | None = None
        #: What the task's calls have cost, this execution's included, and its own limit
        #: (the task's ``budget_usd``, else its run's per-task budget).
        self.task_spent = float(task.get("cost_usd") or 0.0)
        self.task_tokens = int(task.get("actual_tokens") or 0)
        budget = worker.budget
        own = task.get("budget_usd")
        self.task_budget: float | None = (
            float(own) if own is not None else (budget.task_limit if budget else None)
        )
        #: What ``execute_task`` returns, kept from the moment the final status is written:
        #: a cancel or a fault after that must not overwrite it.
        self.result: ExecutionResult | None = None

    @property
    def workspace(self) -> Workspace:
        """The task's tree, test runner and index (the worker's own unless one was given)."""
        if self._workspace is None:
            self._workspace = self.worker.default_workspace()
        return self._workspace

    def note_files(self, paths: Sequence[str]) -> None:
        for path in paths:
            if path not in self.files_modified:
                self.files_modified.append(path)

    def note_run(self, attempt: int, run: RecordedRun, line: str) -> None:
        self.last_run = run
        self.run_lines.append(line)

    def output(self) -> str:
        """The model's explanation, then one line per test run."""
        return "\n".join([self.explanation, *self.run_lines]).strip()

    # -- the pipeline ------------------------------------------------------------------

    async def run(self) -> ExecutionResult:
        """Run the task to ``completed``, ``failed`` or ``blocked``; cancellation is re-raised."""
        task_id = self._id()
        limit = self.worker.task_timeout
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                return await self._pipeline(task_id)
        except asyncio.CancelledError:
            await self._cancelled(task_id)
            raise
        except BudgetExceededError as exc:
            return await self._over_budget(task_id, exc)
        except Exception as exc:
            if isinstance(exc, IllegalTransitionError) and exc.transition == Transition.START:
                raise  # not a task this worker may run now (e.g. one already completed)
            if isinstance(exc, TimeoutError) and deadline.expired():
                exc = TaskTimeoutError(f"the task ran past its {limit:g} s limit and was stopped")
            return await self._fault(task_id, exc)

    async def _fault(self, task_id: int, exc: Exception) -> ExecutionResult:
        """An exception ended the pipeline: the task fails, unless its outcome was written."""
        written = self.written_result()
        if written is None:
            return await self._fail(task_id, exc)
        # The outcome is written; a fault while reporting it must not turn a completed task
        # into a failed one (and so into a retry).
        logger.error(
            "task %s: error after its %s status was written:\n%s",
            task_id,
            written["status"],
            redacted_traceback(exc, (self.worker.api_key,)),
        )
        return written

    def written_result(self) -> ExecutionResult | None:
        """The result, once a final status is written (even if announcing it was cut short)."""
        if self.result is None and self.task_id is not None:
            outcome = self.worker.lifecycle.outcome(self.task_id)
            if outcome is not None:
                self._keep(outcome)
        return self.result

    def _id(self) -> int:
        if self.task_id is None:
            raise InvalidInputError("a task to execute needs its id")
        return self.task_id

    async def _pipeline(self, task_id: int) -> ExecutionResult:
        worker = self.worker
        await worker.lifecycle.start(task_id, worker.agent_id)
        root = self.workspace.root
        if not root.is_dir():  # found now, before a model call is paid for
            raise MissingProjectRootError(f"the project folder {root} does not exist")
        await worker._activity(
            "task_started", f"started task #{task_id}: {self.task.get('title')}", task_id
        )
        context = worker.build_context(self.task)
        context["resolved_blockers"] = resolved_blockers(worker.db.get_blockers_by_task(task_id))
        refused = refused_reply(self.task.get("error"))
        if refused:
            context["refused_reply"] = refused
        changes = await worker.generate_code(context)
        self.explanation = changes.get("explanation", "")
        written = worker.apply_file_changes(changes["files"])
        self.note_files([normalise_path(p).as_posix() for p in written])
        await worker._activity(
            "files_changed", f"changed {', '.join(written) or 'no files'}", task_id
        )
        first = await worker._run_and_record_tests(task_id, attempt=0)
        if first.result.is_failure and not await worker._self_correction_loop(
            self.task, first.test_result_id, failing=first
        ):
            return await self._block(task_id)
        return await self._complete(task_id)

    # -- final statuses ----------------------------------------------------------------

    def _keep(self, outcome: Outcome) -> ExecutionResult:
        result: ExecutionResult = {
            "status": outcome.status.value,  # type: ignore[typeddict-item]
            "files_modified": list(self.files_modified),
            "output": self.output(),
            "error": outcome.error,
        }
        if outcome.status is TaskStatus.FAILED:
            result["retryable"] = outcome.retryable
        self.result = result
        return result

    async def _complete(self, task_id: int) -> ExecutionResult:
        deliver = self.workspace.deliver
        if deliver is None:
            outcome = await self.worker.lifecycle.complete(
                task_id, agent_id=self.worker.agent_id, output=self.output()
            )
            return self._keep(outcome)
        # Worktree isolation: the passing work is committed and integrated first. Once git
        # may move the run's branch, the task's status must follow it, so a cancel (a stop,
        # the task's deadline) waits for the commit, the merge, the status and its events;
        # a stopping run waits for deliveries under way (``TaskLifecycle.delivering``).
        delivering = self.worker.lifecycle.delivering
        delivering.add(task_id)
        try:
            return await finish_then_reraise(
                self._deliver(task_id, deliver), what=f"delivering task {task_id}"
            )
        finally:
            delivering.discard(task_id)

    async def _deliver(self, task_id: int, deliver: Deliver) -> ExecutionResult:
        """Commit and integrate, then complete; a conflict blocks the task instead."""
        corrections = max(len(self.run_lines) - 1, 0)
        delivered = await deliver(attempts=corrections, tokens=self.task_tokens)
        if delivered.conflicted:
            return await self._conflict(task_id, delivered)
        outcome = await self.worker.lifecycle.complete(
            task_id, agent_id=self.worker.agent_id, output=self.output()
        )
        result = self._keep(outcome)
        await self.worker.emit(
            CommitCreated(
                self.worker.project_id, task_id, delivered.sha, delivered.message,
                len(delivered.files),
            )
        )  # fmt: skip
        return result

    async def _conflict(self, task_id: int, delivered: Delivered) -> ExecutionResult:
        paths = ", ".join(delivered.conflict_paths) or "the same lines"
        kept = f"Nothing was integrated; its work is kept on branch {delivered.branch}"
        if delivered.refused_by_checkout:
            reason = f"Its tests passed, but {delivered.refused_by_checkout}. {kept}"
            question = (
                f"Commit or stash your changes to {paths}, then answer this blocker to run "
                "the task again."
            )
        else:
            others = ", ".join(f"#{t}" for t in delivered.conflicting_tasks)
            by = f" (integrated by task {others})" if others else ""
            reason = f"Its change conflicts with work already integrated: {paths}{by}. {kept}"
            question = (
                f"Merge branch {delivered.branch} by hand (or change the task so it no longer "
                "collides), then answer this blocker to run it again."
            )
        outcome = await self.worker.lifecycle.block(
            task_id,
            reason=reason,
            question=question,
            blocker_type=BlockerType.CONFLICT,
            agent_id=self.worker.agent_id,
            output=self.output(),
        )
        return self._keep(outcome)

    def _kept_on(self) -> str:
        """Where a blocked task's work can be inspected, for its blocker (worktree mode)."""
        branch = self.workspace.branch
        return f"; its work is kept on branch {branch}" if branch else ""

    async def _block(self, task_id: int) -> ExecutionResult:
        last = self.last_run
        summary = failure_summary(last.result) if last is not None else "the tests failed"
        reason = (
            f"Tests still failing after {MAX_CORRECTION_ATTEMPTS} self-correction attempts: "
            f"{summary}{self._kept_on()}"
        )
        outcome = await self.worker.lifecycle.block(
            task_id,
            reason=reason,
            question=_BLOCK_QUESTION,
            blocker_type=BlockerType.TESTS,
            error=f"Blocked after {MAX_CORRECTION_ATTEMPTS} correction attempts: {reason}",
            agent_id=self.worker.agent_id,
            output=self.output(),
        )
        return self._keep(outcome)

    async def _over_budget(self, task_id: int, exc: BudgetExceededError) -> ExecutionResult:
        """The next call would pass a budget: block the task (no call is cut short)."""
        logger.info("task %s blocked on its budget: %s", task_id, exc)
        outcome = await self.worker.lifecycle.block(
            task_id,
            reason=str(exc),
            question=exc.question,
            blocker_type=BlockerType.BUDGET,
            agent_id=self.worker.agent_id,
            output=self.output(),
        )
        return self._keep(outcome)

    async def _fail(self, task_id: int, exc: Exception) -> ExecutionResult:
        failure = describe_failure(exc, api_key=self.worker.api_key)
        logger.warning("task %s failed: %s", task_id, failure.message)
        outcome = await self.worker.lifecycle.fail(
            task_id,
            error=failure.message,
            retryable=failure.retryable,
            agent_id=self.worker.agent_id,
            output=self.output(),
        )
        result = self._keep(outcome)
        await self.worker._activity("task_failed", failure.message, task_id)
        return result

    async def _cancelled(self, task_id: int) -> None:
        """Write ``cancelled`` unless the task already ended; never raise over the cancel."""
        if self.written_result() is not None:
            return  # cancelled while reporting a final status: that status stands
        try:
            async with asyncio.timeout(_ANNOUNCE_BOUND_S):
                await self.worker.lifecycle.cancel(
                    task_id, agent_id=self.worker.agent_id, output=self.output()
                )
        except TimeoutError:
            logger.warning("task %s: the cancelled broadcast timed out", task_id)
        except Exception:
            logger.exception("task %s: could not record the cancellation", task_id)


__all__ = ["TaskExecution"]
