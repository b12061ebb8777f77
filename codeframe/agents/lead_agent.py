"""The lead agent: runs a project's task list with a pool of workers on one event loop.

It coordinates and nothing more: the dependency graph, the assignment rules and the pool
live in their own modules, SQL in the database, prompts and pytest in the workers. Work is
event-driven — each finished task wakes the loop through a completion queue — so nothing
polls for progress and no thread is started. (A heartbeat does wake every 100 ms: that keeps
a kernel interrupt landing promptly and marks the run alive; it never looks at tasks.)
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from pathlib import Path
from typing import Any

from codeframe.agents.agent_pool_manager import AgentPoolManager
from codeframe.agents.dependency_resolver import DependencyResolver
from codeframe.agents.simple_assignment import SimpleAgentAssigner, normalize_agent_type
from codeframe.core.models import TaskStatus
from codeframe.errors import RunTimeoutError
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.redaction import redact, redacted_traceback
from codeframe.ui import websocket_broadcasts as bc

logger = logging.getLogger(__name__)

_CLEANUP_BOUND_S = 5.0  # cancelled workers get this long to kill pytest and write their status
_HEARTBEAT_TICK_S = 0.1  # keeps the loop waking so a kernel interrupt lands promptly (SPEC §7.8)
_HEARTBEAT_WRITE_S = 5.0
_FINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.BLOCKED)


class LeadAgent:
    """Runs every pending task of a project with up to ``max_concurrent`` workers at once."""

    def __init__(
        self,
        project_id: int,
        db: Any,
        api_key: str | None = None,
        ws_manager: Any = None,
        *,
        client: Any = None,
        project_root: Path | str | None = None,
        codebase_index: CodebaseIndex | None = None,
        max_agents: int = 10,
        test_runner: Any = None,
        model: str | None = None,
        worker_timeout: float = 300.0,
        frontend_dir: str = "frontend",
    ) -> None:
        if max_agents < 1:
            raise ValueError(f"max_agents must be at least 1, got {max_agents}")
        self.project_id = project_id
        self.db = db
        self.ws_manager = ws_manager
        if project_root is None:
            project = db.get_project(project_id) or {}
            project_root = project.get("workspace_path") or "."
        self.project_root = Path(project_root)
        self.codebase_index = codebase_index
        self.max_agents = max_agents
        self.agent_assigner = SimpleAgentAssigner()
        self.dependency_resolver = DependencyResolver()
        self.agent_pool_manager = AgentPoolManager(
            project_id,
            db,
            ws_manager=ws_manager,
            max_agents=max_agents,
            api_key=api_key,
            client=client,
            test_runner=test_runner,
            project_root=self.project_root,
            model=model,
            timeout=worker_timeout,
            frontend_dir=frontend_dir,
        )

    # -- the run ---------------------------------------------------------------------

    # The run's deadline is part of the seed API, hence a ``timeout`` parameter.
    async def start_multi_agent_execution(
        self,
        max_retries: int = 3,
        max_concurrent: int = 5,
        timeout: float | None = 300,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Run the project's pending tasks; returns the summary, or raises on timeout/cancel."""
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        run_id = self.db.start_run(self.project_id)
        run = _Run(self, run_id, max_retries, min(max_concurrent, self.max_agents))
        heartbeat = asyncio.create_task(self._heartbeat(run_id), name="codeframe-heartbeat")
        summary: dict[str, Any] = {}
        deadline = asyncio.timeout(timeout)
        try:
            try:
                async with deadline:
                    await run.execute()
            except TimeoutError as exc:
                await run.stop()
                summary = run.summary()
                if not deadline.expired():
                    raise  # a timeout from inside the run, not our deadline
                raise RunTimeoutError(
                    f"run passed its {timeout:g} s deadline; running tasks were cancelled",
                    summary,
                ) from exc
            except BaseException:
                await run.stop()
                summary = run.summary()
                raise
            summary = run.summary()
            await self.agent_pool_manager.retire_all()
            return summary
        finally:
            heartbeat.cancel()
            # Closed before the await below, so a cancel landing there cannot leave the
            # project locked by a run that has ended.
            try:
                self.db.finish_run(run_id, summary or run.summary())
            except Exception as exc:  # the run's own outcome (or error) matters more
                logger.error("could not close run %s:\n%s", run_id, redacted_traceback(exc))
            # gather, not a bare await: a cancel of this run that lands here still propagates
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _heartbeat(self, run_id: int) -> None:
        """Wake the loop every 100 ms (so a kernel interrupt lands) and mark the run alive."""
        last_write = time.monotonic()
        while True:
            await asyncio.sleep(_HEARTBEAT_TICK_S)
            if time.monotonic() - last_write >= _HEARTBEAT_WRITE_S:
                last_write = time.monotonic()
                try:
                    self.db.heartbeat_run(run_id)
                except Exception:  # e.g. "database is locked": the next beat tries again
                    logger.warning("run %s: heartbeat not written", run_id, exc_info=True)


class _Run:
    """One call of ``start_multi_agent_execution``: its ready queue, running set and counts."""

    def __init__(self, lead: LeadAgent, run_id: int, max_retries: int, limit: int) -> None:
        self.lead = lead
        self.db = lead.db
        self.pool = lead.agent_pool_manager
        self.resolver = lead.dependency_resolver
        self.project_id = lead.project_id
        self.run_id = run_id
        self.max_retries = max_retries
        self.limit = limit
        self.started = time.monotonic()
        self.retries = 0
        self.executions: dict[int, int] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.ready: list[tuple[int, int, int]] = []
        self.running: dict[asyncio.Task[dict[str, Any]], tuple[int, str]] = {}
        # Each task's done-callback lands here: O(1) per completion, where asyncio.wait
        # would re-register a callback on every running task each time one finishes.
        self.finished: asyncio.Queue[asyncio.Task[dict[str, Any]]] = asyncio.Queue()
        self.final_count = 0
        self.unblocked: set[int] = set()

    # -- set-up ----------------------------------------------------------------------

    def _prepare(self) -> None:
        """Check the graph (a cycle fails here, before anything changes), then recover."""
        self.resolver.build_dependency_graph(self.db.get_project_tasks(self.project_id))
        self.db.recover_interrupted(self.project_id)
        for task in self.db.get_project_tasks(self.project_id, status=TaskStatus.CANCELLED):
            self.db.update_task(
                task["id"], {"status": TaskStatus.PENDING.value, "assigned_to": None}
            )
            self.db.add_task_note(task["id"], "cancelled by a stopped run; pending again")
        tasks = self.db.get_project_tasks(self.project_id)
        self.tasks = {t["id"]: t for t in tasks}
        # Pending tasks a human unblocked (a resolved blocker): announced when they start.
        self.unblocked = {
            b["task_id"]
            for b in self.db.get_blockers(self.project_id, include_resolved=True)
            if b.get("resolved_at") and self.tasks[b["task_id"]]["status"] == TaskStatus.PENDING
        }
        self.final_count = sum(1 for t in tasks if t["status"] in _FINAL)
        if self.lead.codebase_index is None:
            self.lead.codebase_index = CodebaseIndex(self.lead.project_root)
            self.lead.codebase_index.build()
        self.pool.worker_kwargs["codebase_index"] = self.lead.codebase_index

    async def _block_unrunnable(self) -> None:
        """Tasks that can never run: missing dependencies, or an upstream already lost."""
        for task_id, missing in sorted(self.resolver.missing_dependencies().items()):
            if self.tasks[task_id]["status"] == TaskStatus.PENDING:
                names = ", ".join(f"#{m}" for m in missing)
                reason = f"Depends on task {names}, which is not a task of this project"
                await self._block(task_id, list(missing), reason)
                await self._block_dependents(task_id, TaskStatus.BLOCKED.value)
        for task_id, task in sorted(self.tasks.items()):
            if task["status"] in (TaskStatus.FAILED, TaskStatus.BLOCKED):
                await self._block_dependents(task_id, task["status"])

    # -- the loop --------------------------------------------------------------------

    async def execute(self) -> None:
        self._prepare()
        await self._block_unrunnable()
        for task_id in self.resolver.get_ready_tasks():
            if self.tasks[task_id]["status"] == TaskStatus.PENDING:
                self._push(task_id)
        while self.ready or self.running:
            while self.ready and len(self.running) < self.limit:
                await self._start(heapq.heappop(self.ready)[2])
            if not self.running:
                break
            finished = await self.finished.get()
            await self._finish(finished)

    def _push(self, task_id: int) -> None:
        task = self.tasks[task_id]
        heapq.heappush(self.ready, (task["priority"], task["workflow_step"], task_id))

    async def _start(self, task_id: int) -> None:
        task = self.tasks[task_id]
        if task_id in self.unblocked:
            self.unblocked.discard(task_id)
            await bc.broadcast_task_unblocked(
                self.lead.ws_manager, self.project_id, task_id, task_title=task["title"]
            )
        agent_type = normalize_agent_type(self.lead.agent_assigner.assign_agent_type(task))
        agent_id = await self.pool.acquire(agent_type)
        runs = self.executions.get(task_id, 0) + 1
        self.executions[task_id] = runs
        if runs > 1:
            self.retries += 1  # counted when the re-execution starts
        # From here the row says ``assigned``; a stop sweeps it to ``cancelled`` from the
        # database, so the awaits below cannot strand it.
        task["execution_count"] = self.db.assign_task(task_id, agent_id, run_id=self.run_id)
        task["status"] = TaskStatus.ASSIGNED.value
        task["assigned_to"] = agent_id
        try:
            await self.pool.assign(agent_id, task)
        except BaseException:
            await self.pool.release(agent_id)
            raise
        worker = self.pool.get_agent_instance(agent_id)
        running = asyncio.create_task(worker.execute_task(task), name=f"task-{task_id}")
        self.running[running] = (task_id, agent_id)
        running.add_done_callback(self.finished.put_nowait)

    def _result_of(
        self, task_id: int, agent_id: str, finished: asyncio.Task[Any]
    ) -> dict[str, Any] | None:
        """What a finished worker task ended with; ``None`` if it was cancelled before
        writing an outcome.

        A worker cancelled while reporting its outcome has already written it, and that
        result counts: a retryable failure must still go back to ``pending``.
        """
        if finished.cancelled():
            worker = self.pool.get_agent_instance(agent_id)
            return getattr(worker, "recorded_result", None)
        exc = finished.exception()
        if exc is None:
            result: dict[str, Any] = finished.result()
            return result
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return None  # an interrupt, as a cancel is: the stop's sweep marks it cancelled
        # execute_task reports failures itself: this is a bug, not a task's outcome.
        secrets = (self.pool.api_key,)
        logger.error("task %s: the worker raised:\n%s", task_id, redacted_traceback(exc, secrets))
        error = redact(f"{type(exc).__name__}: {exc}", secrets)
        self.db.update_task(task_id, {"status": TaskStatus.FAILED.value, "error": error})
        return {"status": TaskStatus.FAILED.value, "retryable": False, "raised": True}

    def _settle(self, task_id: int, result: dict[str, Any]) -> tuple[str, bool]:
        """A finished worker's outcome as ``(status, retry)``, the database written to match.

        Synchronous on purpose: a stop arriving at any await after this finds the row
        final, or ``pending`` for a retry — never a retryable ``failed`` left behind.
        """
        status = result["status"]
        retry = (
            status == TaskStatus.FAILED
            and result.get("retryable", True)
            and self.executions[task_id] <= self.max_retries
        )
        if retry:
            self.db.update_task(task_id, {"status": TaskStatus.PENDING.value})
        return status, retry

    async def _finish(self, finished: asyncio.Task[Any]) -> None:
        task_id, agent_id = self.running.pop(finished)
        result = self._result_of(task_id, agent_id, finished)
        if result is None:
            # Someone else cancelled this worker before it ended; it recorded ``cancelled``
            # itself. The task stays out of this run, as a stopped task does.
            self.tasks[task_id]["status"] = TaskStatus.CANCELLED.value
            await self.pool.release(agent_id)
            return
        raised = bool(result.get("raised"))
        status, retry = self._settle(task_id, result)
        ws = self.lead.ws_manager
        await self.pool.release(agent_id)
        if raised:
            await bc.broadcast_task_status(ws, self.project_id, task_id, status, agent_id=agent_id)
        if retry:
            await bc.broadcast_task_status(ws, self.project_id, task_id, TaskStatus.PENDING.value)
            await bc.broadcast_activity_update(
                ws, self.project_id, "task_retry",
                f"retrying task #{task_id} ({self.executions[task_id]} of "
                f"{1 + self.max_retries} runs done)", task_id=task_id,
            )  # fmt: skip
            self._push(task_id)
            return
        self.tasks[task_id]["status"] = status
        self.final_count += 1
        if status == TaskStatus.COMPLETED:
            for ready_id in self.resolver.unblock_dependent_tasks(task_id):
                if self.tasks[ready_id]["status"] == TaskStatus.PENDING:
                    self._push(ready_id)
        else:
            await self._block_dependents(task_id, status)
        await self._progress()

    # -- blocking --------------------------------------------------------------------

    async def _block_dependents(self, upstream_id: int, upstream_status: str) -> None:
        upstream = self.tasks[upstream_id]
        for task_id in self.resolver.dependents_closure(upstream_id):
            if self.tasks[task_id]["status"] != TaskStatus.PENDING:
                continue
            reason = (
                f"Depends on task #{upstream_id} ({upstream['title']}), "
                f"which ended {upstream_status}"
            )
            await self._block(task_id, [upstream_id], reason)

    async def _block(self, task_id: int, blocked_by: list[int], reason: str) -> None:
        ws = self.lead.ws_manager
        question = "Resolve the upstream problem, then resolve this blocker to run the task."
        blocker_id = self.db.create_blocker(
            task_id, severity="async", reason=reason, question=question
        )
        self.db.update_task(task_id, {"status": TaskStatus.BLOCKED.value, "error": reason})
        task = self.tasks[task_id]
        task["status"] = TaskStatus.BLOCKED.value
        self.final_count += 1
        await bc.broadcast_blocker_created(
            ws, self.project_id, blocker_id, task_id, "async", reason, question
        )
        await bc.broadcast_task_blocked(
            ws, self.project_id, task_id, blocked_by, task_title=task["title"]
        )
        await bc.broadcast_task_status(
            ws, self.project_id, task_id, TaskStatus.BLOCKED.value,
            actual_tokens=task.get("actual_tokens") or 0,
        )  # fmt: skip
        await self._progress()

    async def _progress(self) -> None:
        total = len(self.tasks)
        await bc.broadcast_progress_update(
            self.lead.ws_manager, self.project_id, self.final_count, total
        )

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
                async with asyncio.timeout(2 * _CLEANUP_BOUND_S):
                    await asyncio.shield(cleanup)
            raise

    async def _stop(self) -> None:
        for running in self.running:
            running.cancel()
        if self.running:
            _, late = await asyncio.wait(self.running, timeout=_CLEANUP_BOUND_S)
            for straggler in late:
                logger.warning(
                    "%s ignored cancellation for %s s", straggler.get_name(), _CLEANUP_BOUND_S
                )
        for finished, (task_id, agent_id) in self.running.items():
            if finished.done() and (result := self._result_of(task_id, agent_id, finished)):
                self._settle(task_id, result)  # a retryable failure goes back to pending
        self.running.clear()
        for task_id in self._sweep_cancelled():
            await bc.broadcast_task_status(
                self.lead.ws_manager, self.project_id, task_id, TaskStatus.CANCELLED.value
            )
        try:
            async with asyncio.timeout(_CLEANUP_BOUND_S):
                await self.pool.retire_all()
        except TimeoutError:
            logger.warning("retiring agents took longer than %s s", _CLEANUP_BOUND_S)

    def _sweep_cancelled(self) -> list[int]:
        """Tasks left ``assigned`` or ``in_progress`` become ``cancelled``; returns their ids.

        Read from the database, not from what this run thinks is running: a stop that lands
        between handing a task over and starting its worker is caught too. Only this run can
        have such rows, since a project runs once at a time.
        """
        stranded = self.db.get_project_tasks(
            self.project_id, status=[TaskStatus.ASSIGNED.value, TaskStatus.IN_PROGRESS.value]
        )
        for task in stranded:
            self.db.update_task(task["id"], {"status": TaskStatus.CANCELLED.value})
        return [task["id"] for task in stranded]

    def summary(self) -> dict[str, Any]:
        counts = {status.value: 0 for status in TaskStatus}
        for task in self.db.get_project_tasks(self.project_id):
            counts[task["status"]] += 1
        return {
            "total_tasks": sum(counts.values()),
            "completed": counts[TaskStatus.COMPLETED],
            "failed": counts[TaskStatus.FAILED],
            "blocked": counts[TaskStatus.BLOCKED],
            "cancelled": counts[TaskStatus.CANCELLED],
            "retries": self.retries,
            "execution_time": time.monotonic() - self.started,
        }


__all__ = ["LeadAgent"]
