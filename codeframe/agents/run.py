"""One run of a project's task list: the ready queue, the running set, outcomes, stopping.

Event-driven: each finished worker wakes the loop through a completion queue, so nothing
polls. The run keeps its own work list (which tasks it may still start, and what it needs
to order them) but no copy of task statuses: every status change is a
:class:`~codeframe.agents.lifecycle.TaskLifecycle` transition, and how a task ended is read
from the lifecycle — the one channel, whether the worker returned, was cancelled while
announcing its outcome, or raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeframe.agents.budget import RunBudget
from codeframe.agents.lifecycle import Outcome, TaskLifecycle
from codeframe.agents.simple_assignment import normalize_agent_type
from codeframe.core.file_changes import recover_file_changes
from codeframe.core.models import FINAL_STATUSES, BlockerType, TaskStatus
from codeframe.errors import IllegalTransitionError
from codeframe.persistence.codec import Row
from codeframe.persistence.task_status import count_statuses
from codeframe.redaction import redact, redacted_traceback
from codeframe.ui.events import ActivityUpdate, ProgressUpdate, TaskUnblocked

if TYPE_CHECKING:
    from codeframe.agents.lead_agent import LeadAgent

logger = logging.getLogger(__name__)

CLEANUP_BOUND_S = 5.0  # cancelled workers get this long to kill pytest and write their status
_UPSTREAM_QUESTION = (
    "This task runs once the task it depends on completes: answer that task's blocker and "
    "resume, and this one is released on its own."
)
_MISSING_QUESTION = "Fix the task's depends_on (or create the missing task), then answer this."


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """What the run needs to order and describe a task; never its status."""

    task_id: int
    title: str
    description: str
    priority: int
    workflow_step: int
    worker: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PlannedTask:
        return cls(
            int(row["id"]),
            str(row["title"]),
            str(row.get("description") or ""),
            int(row["priority"]),
            int(row["workflow_step"]),
            row.get("worker"),
        )

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.priority, self.workflow_step, self.task_id)


class Run:
    """One call of ``start_multi_agent_execution``."""

    def __init__(
        self,
        lead: LeadAgent,
        run_id: int,
        lifecycle: TaskLifecycle,
        *,
        max_retries: int,
        limit: int,
        budget: RunBudget | None = None,
    ) -> None:
        self.lead = lead
        self.store = lead.db
        self.pool = lead.agent_pool_manager
        self.resolver = lead.dependency_resolver
        self.lifecycle = lifecycle
        self.emit = lifecycle.emit
        self.project_id = lead.project_id
        self.run_id = run_id
        self.max_retries = max_retries
        self.limit = limit
        self.budget = budget or RunBudget()
        self.started = time.monotonic()
        self.retries = 0
        self.executions: dict[int, int] = {}
        self.plan: dict[int, PlannedTask] = {}
        # Tasks this run may still start: pending when the run began, not yet started,
        # blocked or settled. A work list, not a record of statuses.
        self.waiting: set[int] = set()
        self.ready: list[tuple[tuple[int, int, int], int]] = []
        self.running: dict[asyncio.Task[Any], tuple[int, str]] = {}
        # Each task's done-callback lands here: O(1) per completion, where asyncio.wait
        # would re-register a callback on every running task each time one finishes.
        self.finished: asyncio.Queue[asyncio.Task[Any] | None] = asyncio.Queue()
        self.final_count = 0
        self.unblocked: set[int] = set()

    # -- set-up ----------------------------------------------------------------------

    async def prepare(self) -> list[Row]:
        """Check the graph (a cycle fails here, before anything changes), then recover.

        Returns the project's tasks as they stand once recovered.
        """
        self.resolver.build_dependency_graph(self.store.get_project_tasks(self.project_id))
        # A run killed in the middle of writing a task's changes left a journal: the tree is
        # put back as it was before that group, before anything else touches it.
        report = recover_file_changes(self.lead.project_root)
        if report.rolled_back or report.completed:
            logger.info(
                "recovered %d unfinished and %d finished file-change group(s) in %s",
                report.rolled_back,
                report.completed,
                self.lead.project_root,
            )
        self.store.recover_interrupted(self.project_id)
        for row in self.store.get_project_tasks(self.project_id, status=TaskStatus.CANCELLED):
            await self.lifecycle.requeue(
                int(row["id"]), note="cancelled by a stopped run; pending again"
            )
        tasks = self.store.get_project_tasks(self.project_id)
        self.plan = {int(t["id"]): PlannedTask.of(t) for t in tasks}
        self.waiting = {int(t["id"]) for t in tasks if t["status"] == TaskStatus.PENDING}
        # Pending tasks a human unblocked (a resolved blocker): announced when they start.
        self.unblocked = {
            int(b["task_id"])
            for b in self.store.get_blockers(self.project_id, include_resolved=True)
            if b.get("resolved_at") and b["task_id"] in self.waiting
        }
        self.final_count = sum(1 for t in tasks if t["status"] in FINAL_STATUSES)
        return tasks

    async def _block_unrunnable(self, tasks: list[Row]) -> None:
        """Tasks that can never run: unreadable or missing dependencies, or an upstream
        already lost."""
        for task in tasks:
            raw = task.get("depends_on_invalid")
            if raw is not None and int(task["id"]) in self.waiting:
                task_id = int(task["id"])
                self.waiting.discard(task_id)
                await self.lifecycle.block(
                    task_id,
                    reason=f"depends_on holds {raw!r}, which is not a list of task ids",
                    question=(
                        "Fix the task's depends_on (db.update_task(task_id, {'depends_on': "
                        "[ids]})), then answer this blocker."
                    ),
                    severity="async",
                    blocker_type=BlockerType.DEPENDENCY,
                )
                self.final_count += 1
                await self._block_dependents(task_id, TaskStatus.BLOCKED)
        for task_id, missing in sorted(self.resolver.missing_dependencies().items()):
            if task_id in self.waiting:
                names = ", ".join(f"#{m}" for m in missing)
                reason = f"Depends on task {names}, which is not a task of this project"
                await self._block(task_id, list(missing), reason, upstream=None)
                await self._block_dependents(task_id, TaskStatus.BLOCKED)
        for task in tasks:
            if task["status"] in (TaskStatus.FAILED, TaskStatus.BLOCKED):
                await self._block_dependents(int(task["id"]), str(task["status"]))

    # -- the loop --------------------------------------------------------------------

    async def execute(self) -> None:
        tasks = await self.prepare()
        await self._block_unrunnable(tasks)
        for task_id in self.resolver.get_ready_tasks():
            if task_id in self.waiting:
                self._push(task_id)
        while self.ready or self.running:
            while self.ready and len(self.running) < self.limit and not self._out_of_budget():
                await self._start(heapq.heappop(self.ready)[1])
            if not self.running:
                break
            finished = await self.finished.get()
            if finished is not None:  # None only wakes the loop: a task came back
                await self._finish(finished)

    def take_back(self, task_id: int, *, schedule: bool = True) -> None:
        """A blocked task is ``pending`` again (answered, or released): it runs in this run.

        With ``schedule`` it is queued at once if its dependencies are done, and the loop is
        woken (it may be waiting for a running task to finish).
        """
        if task_id not in self.plan or task_id in self.waiting:
            return
        self.waiting.add(task_id)
        self.final_count -= 1
        if not schedule:
            return
        needed = self.resolver.dependencies.get(task_id, set())
        if needed <= self.resolver.completed_tasks:
            self._push(task_id)
            self.finished.put_nowait(None)

    def _out_of_budget(self) -> bool:
        """Whether the run's budget is spent: then it starts no new task (running ones go on
        to their next call, which their own check refuses)."""
        if not self.budget.reached:
            return False
        if self.ready:
            logger.info(
                "run %s reached its budget: %d ready task(s) stay pending",
                self.run_id,
                len(self.ready),
            )
            self.ready.clear()
        return True

    def _push(self, task_id: int) -> None:
        heapq.heappush(self.ready, (self.plan[task_id].order, task_id))

    async def _start(self, task_id: int) -> None:
        planned = self.plan[task_id]
        if task_id in self.unblocked:
            self.unblocked.discard(task_id)
            await self.emit(TaskUnblocked(self.project_id, task_id, None, planned.title))
        described = {
            "id": task_id,
            "title": planned.title,
            "description": planned.description,
            "worker": planned.worker,
        }
        agent_type = normalize_agent_type(self.lead.agent_assigner.assign_agent_type(described))
        agent_id = await self.pool.acquire(agent_type)
        runs = self.executions.get(task_id, 0) + 1
        self.executions[task_id] = runs
        if runs > 1:
            self.retries += 1  # counted when the re-execution starts
        self.waiting.discard(task_id)
        try:
            # From its write on, the row says ``assigned``; a stop sweeps it to ``cancelled``
            # from the database, so the awaits below cannot strand it.
            task = await self.lifecycle.assign(task_id, agent_id)
            await self.pool.occupy(agent_id, task_id, planned.title)
        except BaseException:
            await self.pool.release(agent_id)
            raise
        worker = self.pool.get_agent_instance(agent_id)
        running = asyncio.create_task(worker.execute_task(task), name=f"task-{task_id}")
        self.running[running] = (task_id, agent_id)
        running.add_done_callback(self.finished.put_nowait)

    async def _outcome(
        self, task_id: int, agent_id: str, finished: asyncio.Task[Any]
    ) -> Outcome | None:
        """How a finished worker's task ended; ``None`` if it was stopped before it ended.

        The lifecycle knows whenever the worker wrote a final status — even if it was then
        cancelled while announcing it. A worker that raised instead is a bug, not a task's
        outcome: the task fails without a retry. A worker that returned a result without
        using the run's lifecycle (a stand-in) has its result recorded here.
        """
        known = self.lifecycle.outcome(task_id)
        if known is not None or finished.cancelled():
            return known
        exc = finished.exception()
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return None  # an interrupt, as a cancel is: the stop's sweep marks it cancelled
        secrets = (self.pool.api_key,)
        if exc is not None:
            logger.error(
                "task %s: the worker raised:\n%s", task_id, redacted_traceback(exc, secrets)
            )
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
            return await self.lifecycle.fail(task_id, error=error, retryable=False)
        return await self._record_reported(task_id, agent_id, finished.result())

    async def _record_reported(
        self, task_id: int, agent_id: str, result: Mapping[str, Any]
    ) -> Outcome:
        """Write the outcome a worker only returned: it ran the task, then ended it so."""
        try:
            await self.lifecycle.start(task_id, agent_id)
        except IllegalTransitionError as exc:
            if exc.current != TaskStatus.IN_PROGRESS:
                raise
        status = result.get("status")
        error = result.get("error")
        output = str(result.get("output") or "")
        if status == TaskStatus.COMPLETED:
            return await self.lifecycle.complete(task_id, agent_id=agent_id, output=output)
        if status == TaskStatus.BLOCKED:
            reason = str(error or "the worker reported the task blocked")
            return await self.lifecycle.block(task_id, reason=reason, question=reason)
        message = str(error or f"the worker reported status {status!r}")
        return await self.lifecycle.fail(
            task_id, error=message, retryable=bool(result.get("retryable", True)), output=output
        )

    def _should_retry(self, task_id: int, outcome: Outcome) -> bool:
        return (
            outcome.status is TaskStatus.FAILED
            and outcome.retryable
            and self.executions.get(task_id, 0) <= self.max_retries
        )

    async def _finish(self, finished: asyncio.Task[Any]) -> None:
        task_id, agent_id = self.running.pop(finished)
        try:
            outcome = await self._outcome(task_id, agent_id, finished)
            # Requeued before anything else awaits, so a stop arriving later finds the
            # task pending — never a retryable ``failed`` left behind.
            retry = outcome is not None and self._should_retry(task_id, outcome)
            if retry:
                await self.lifecycle.requeue(task_id)
        finally:
            await self.pool.release(agent_id)
        if outcome is None:
            # Someone else cancelled this worker before it ended; it recorded ``cancelled``
            # itself. The task stays out of this run, as a stopped task does.
            return
        if retry:
            runs = self.executions[task_id]
            await self.emit(
                ActivityUpdate(
                    self.project_id,
                    "task_retry",
                    f"retrying task #{task_id} ({runs} of {1 + self.max_retries} runs done)",
                    task_id,
                )
            )
            self.waiting.add(task_id)
            self._push(task_id)
            return
        self.final_count += 1
        if outcome.status is TaskStatus.COMPLETED:
            # Tasks blocked only because this one could not finish run after all.
            for released in await self.lifecycle.release_dependents(task_id):
                self.take_back(released, schedule=False)
            for ready_id in self.resolver.unblock_dependent_tasks(task_id):
                if ready_id in self.waiting:
                    self._push(ready_id)
        else:
            await self._block_dependents(task_id, outcome.status)
        await self._progress()

    # -- blocking --------------------------------------------------------------------

    async def _block_dependents(self, upstream_id: int, upstream_status: str) -> None:
        upstream = self.plan[upstream_id]
        for task_id in self.resolver.dependents_closure(upstream_id):
            if task_id not in self.waiting:
                continue
            reason = (
                f"Depends on task #{upstream_id} ({upstream.title}), which ended {upstream_status}"
            )
            await self._block(task_id, [upstream_id], reason, upstream=upstream_id)

    async def _block(
        self, task_id: int, blocked_by: list[int], reason: str, *, upstream: int | None
    ) -> None:
        self.waiting.discard(task_id)
        try:
            await self.lifecycle.block(
                task_id,
                reason=reason,
                question=_UPSTREAM_QUESTION if upstream else _MISSING_QUESTION,
                severity="async",
                blocker_type=BlockerType.DEPENDENCY,
                blocked_by=blocked_by,
                upstream_task_id=upstream,
            )
        except IllegalTransitionError as exc:  # someone else moved it meanwhile
            logger.info("not blocking task %s: %s", task_id, exc)
            return
        self.final_count += 1
        await self._progress()

    async def _progress(self) -> None:
        await self.emit(ProgressUpdate(self.project_id, self.final_count, len(self.plan)))

    # -- stopping --------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel running work, mark it ``cancelled`` and retire the agents, within a bound.

        The clean-up runs shielded: a second interrupt while it runs does not cut it short
        (it still ends within its bound) and is passed on once it is done.
        """
        cleanup = asyncio.ensure_future(self._stop())
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2 * CLEANUP_BOUND_S):
                    await asyncio.shield(cleanup)
            raise

    async def _stop(self) -> None:
        for running in self.running:
            running.cancel()
        if self.running:
            _, late = await asyncio.wait(self.running, timeout=CLEANUP_BOUND_S)
            for straggler in late:
                logger.warning(
                    "%s ignored cancellation for %s s", straggler.get_name(), CLEANUP_BOUND_S
                )
        for finished, (task_id, _agent_id) in self.running.items():
            outcome = self.lifecycle.outcome(task_id) if finished.done() else None
            if outcome is not None and self._should_retry(task_id, outcome):
                # A retryable failure goes back to pending, not to a final ``failed``.
                await self.lifecycle.requeue(task_id)
        self.running.clear()
        # Read from the store, not from what this run thinks is running: a stop that lands
        # between handing a task over and starting its worker is caught too.
        await self.lifecycle.cancel_many(self.store.active_task_ids(self.project_id))
        try:
            async with asyncio.timeout(CLEANUP_BOUND_S):
                await self.pool.retire_all()
        except TimeoutError:
            logger.warning("retiring agents took longer than %s s", CLEANUP_BOUND_S)

    def summary(self) -> dict[str, Any]:
        counts = count_statuses(self.store.get_project_tasks(self.project_id))
        return {
            "total_tasks": sum(counts.values()),
            "completed": counts[TaskStatus.COMPLETED],
            "failed": counts[TaskStatus.FAILED],
            "blocked": counts[TaskStatus.BLOCKED],
            "cancelled": counts[TaskStatus.CANCELLED],
            "retries": self.retries,
            "execution_time": time.monotonic() - self.started,
            "cost_usd": round(self.budget.spent, 6),
            "simulated": self.lead.simulated,
            "budget_usd": self.budget.limit,
            "budget_reached": self.budget.reached,
        }


__all__ = ["CLEANUP_BOUND_S", "PlannedTask", "Run"]
