"""One run of a project's task list: the ready queue, the lanes that run it, outcomes, stopping.

Tasks run in *lanes*, up to the run's concurrency: a lane runs a task's worker, settles its
outcome, then starts the next ready task in the same step of the event loop. Handing a
finished task's slot straight to its successor keeps the lanes' waits for Claude spread
out; when a separate loop settled outcomes and started successors, every wave of tasks
finished, settled and restarted in lock-step, and at 50 tasks at once each wave paid all
50 tasks' CPU before any of them was waiting again. Nothing polls: a lane that ends, or a
task that becomes ready (an answered blocker), wakes the run through a queue.

The run keeps its own work list (which tasks it may still start, and what it needs to order
them) but no copy of task statuses: every status change is a
:class:`~codeframe.agents.lifecycle.TaskLifecycle` transition, and how a task ended is read
from the lifecycle — the one channel, whether the worker returned, was cancelled while
announcing its outcome, or raised.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeframe.agents.budget import RunBudget
from codeframe.agents.isolation import SharedTree, Workspaces
from codeframe.agents.lifecycle import Outcome, TaskLifecycle
from codeframe.agents.run_blocking import RunBlocking
from codeframe.agents.run_stopping import CLEANUP_BOUND_S, RunStopping
from codeframe.agents.simple_assignment import normalize_agent_type
from codeframe.core.file_changes import recover_file_changes
from codeframe.core.models import FINAL_STATUSES, TaskStatus
from codeframe.errors import BaseConflictError, GitError, IllegalTransitionError
from codeframe.persistence.codec import Row
from codeframe.redaction import redact, redacted_traceback
from codeframe.ui.events import ActivityUpdate, TaskUnblocked

if TYPE_CHECKING:
    from codeframe.agents.lead_agent import LeadAgent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerEnded:
    """How a worker's ``execute_task`` call ended: returned, raised, or was cancelled."""

    result: Any = None
    error: Exception | None = None
    cancelled: bool = False


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


class Run(RunBlocking, RunStopping):
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
        lifecycle.retry_policy = self._may_retry
        #: Where tasks work; the lead sets worktrees when the project is in a git repository.
        self.workspaces: Workspaces = SharedTree()
        self._topological: dict[int, int] | None = None
        self.started = time.monotonic()
        self.retries = 0
        self.executions: dict[int, int] = {}
        self.plan: dict[int, PlannedTask] = {}
        # Tasks this run may still start: pending when the run began, not yet started,
        # blocked or settled. A work list, not a record of statuses.
        self.waiting: set[int] = set()
        self.ready: list[tuple[tuple[int, int, int], int]] = []
        self.lanes: set[asyncio.Task[None]] = set()
        # The task running ``execute``: once a cancel is on its way to it (a stop, the run's
        # deadline) or ``execute`` has ended, no lane starts another task.
        self._owner: asyncio.Task[Any] | None = None
        self._accepting = True
        # The lanes running a task now, and which task (and agent) each runs.
        self.running: dict[asyncio.Task[Any], tuple[int, str]] = {}
        # Each lane's done-callback lands here (``None`` only wakes the run): O(1) per
        # lane, where asyncio.wait would re-register a callback on every lane each time.
        self.finished: asyncio.Queue[asyncio.Task[None] | None] = asyncio.Queue()
        self.final_count = 0
        self.unblocked: set[int] = set()

    # -- set-up ----------------------------------------------------------------------

    async def prepare(self) -> list[Row]:
        """Check the graph (a cycle fails here, before anything changes), then recover.

        Returns the project's tasks as they stand once recovered.
        """
        tasks = self.store.get_project_tasks(self.project_id)
        self.resolver.build_dependency_graph(tasks)
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
        recovered = self.store.recover_interrupted(self.project_id)
        cancelled = [int(t["id"]) for t in tasks if t["status"] == TaskStatus.CANCELLED]
        for task_id in cancelled:
            await self.lifecycle.requeue(task_id, note="cancelled by a stopped run; pending again")
        if recovered or cancelled:  # read once more only when recovery changed something
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

    # -- the loop --------------------------------------------------------------------

    async def execute(self) -> None:
        self._owner = asyncio.current_task()
        try:
            tasks = await self.prepare()
            await self._block_unrunnable(tasks)
            for task_id in self.resolver.get_ready_tasks():
                if task_id in self.waiting:
                    self._push(task_id)
            self._open_lanes()
            while self.lanes:
                ended = await self.finished.get()
                if ended is not None:  # None only wakes the run: a task came back
                    self.lanes.discard(ended)
                    self._raise_for(ended)
                self._open_lanes()
        finally:
            self._accepting = False

    @staticmethod
    def _raise_for(lane: asyncio.Task[None]) -> None:
        """End the run if the lane did: with its error (a bug), as before lanes."""
        if lane.cancelled():
            return  # only a stop cancels lanes, and it is already under way
        error = lane.exception()
        if isinstance(error, KeyboardInterrupt | SystemExit):
            # It already left the event loop from the lane's own step; raising it again
            # here would interrupt whatever the host runs next. The run stops as on a cancel.
            raise asyncio.CancelledError(f"interrupted: {type(error).__name__}")
        if error is not None:
            raise error

    def _open_lanes(self) -> None:
        """Start a lane for each ready task, up to the run's concurrency."""
        while len(self.lanes) < self.limit and (task_id := self._next_ready()) is not None:
            lane = asyncio.create_task(
                self._lane(task_id), name=f"codeframe-lane-{len(self.lanes) + 1}"
            )
            self.lanes.add(lane)
            lane.add_done_callback(self.finished.put_nowait)

    def _next_ready(self) -> int | None:
        """The next task to start, or ``None``: none is ready, the budget is spent, or the
        run is ending (a lane must not start work in the step before a stop reaches it)."""
        owner = self._owner
        if not self._accepting or (owner is not None and owner.cancelling()):
            return None
        if not self.ready or self._out_of_budget():
            return None
        return heapq.heappop(self.ready)[1]

    async def _lane(self, task_id: int | None) -> None:
        """Run ready tasks one after another until none is left for this lane."""
        lane = asyncio.current_task()
        assert lane is not None
        while task_id is not None:
            await self._run_one(lane, task_id)
            if lane.cancelling():
                return  # a stop is under way (its cancel was swallowed): start nothing more
            task_id = self._next_ready()
            self._open_lanes()  # tasks this one made ready, beyond the one taken here

    async def _run_one(self, lane: asyncio.Task[Any], task_id: int) -> None:
        started = await self._start(task_id)
        if started is None:
            return
        agent_id, job = started
        self.running[lane] = (task_id, agent_id)
        try:
            ended = WorkerEnded(result=await job)
        except asyncio.CancelledError:
            if lane.cancelling():
                raise  # the run is stopping: its clean-up settles this task
            ended = WorkerEnded(cancelled=True)  # the worker itself was cancelled
        except Exception as exc:
            ended = WorkerEnded(error=exc)
        if lane not in self.running:
            return  # it ignored a stop past its bound: the stop has settled the task already
        await self._finish(lane, ended)

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

    async def _start(self, task_id: int) -> tuple[str, Coroutine[Any, Any, Any]] | None:
        """Hand the task to an agent; its agent and the worker's call, or ``None`` when the
        task's workspace could not be opened (the task is blocked instead)."""
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
        try:
            workspace = await self.workspaces.open(
                task_id, planned.title, self._dependencies_in_order(task_id)
            )
        except (BaseConflictError, GitError) as exc:  # this task's worktree only; run goes on
            await self.pool.release(agent_id)
            await self._block_before_start(task_id, exc)
            return None
        except BaseException:
            await self.pool.release(agent_id)
            raise
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
        job = (
            worker.execute_task(task)
            if workspace is None  # stand-in workers need not know about workspaces
            else worker.execute_task(task, workspace=workspace)
        )
        return agent_id, job

    def _may_retry(self, task_id: int) -> bool:
        """Whether a retryable failure of this task still has a run left in this run."""
        return self.executions.get(task_id, 0) <= self.max_retries

    def _dependencies_in_order(self, task_id: int) -> list[int]:
        """The task's transitive dependencies, each before the tasks that depend on it."""
        if self._topological is None:
            order = self.resolver.topological_sort() or []
            self._topological = {tid: place for place, tid in enumerate(order)}
        needed: set[int] = set()
        stack = list(self.resolver.dependencies.get(task_id, ()))
        while stack:
            dep = stack.pop()
            if dep not in needed:
                needed.add(dep)
                stack.extend(self.resolver.dependencies.get(dep, ()))
        place = self._topological
        return sorted(needed, key=lambda dep: (place.get(dep, len(place)), dep))

    async def _outcome(self, task_id: int, agent_id: str, ended: WorkerEnded) -> Outcome | None:
        """How a finished worker's task ended; ``None`` if it was stopped before it ended.

        The lifecycle knows whenever the worker wrote a final status — even if it was then
        cancelled while announcing it. A worker that raised instead is a bug, not a task's
        outcome: the task fails without a retry. A worker that returned a result without
        using the run's lifecycle (a stand-in) has its result recorded here.
        """
        known = self.lifecycle.outcome(task_id)
        if known is not None or ended.cancelled:
            return known
        exc = ended.error
        secrets = (self.pool.api_key,)
        if exc is not None:
            logger.error(
                "task %s: the worker raised:\n%s", task_id, redacted_traceback(exc, secrets)
            )
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
            return await self.lifecycle.fail(task_id, error=error, retryable=False)
        return await self._record_reported(task_id, agent_id, ended.result)

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

    async def _finish(self, lane: asyncio.Task[Any], ended: WorkerEnded) -> None:
        task_id, agent_id = self.running[lane]
        outcome: Outcome | None = None
        try:
            outcome = await self._outcome(task_id, agent_id, ended)
            # Requeued before anything else awaits, so a stop arriving later finds the
            # task pending — never a retryable ``failed`` left behind.
            retry = outcome is not None and self._should_retry(task_id, outcome)
            if retry and outcome is not None and not outcome.requeued:
                await self.lifecycle.requeue(task_id)
        finally:
            # Settled, or given up on by a stop landing above (whose sweep then finds the
            # task in the database): either way it is no longer this lane's.
            self.running.pop(lane, None)
            await self.pool.release(agent_id)
            await self.workspaces.release(task_id, None if outcome is None else outcome.status)
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


__all__ = ["CLEANUP_BOUND_S", "PlannedTask", "Run", "WorkerEnded"]
