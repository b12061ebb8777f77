"""The lead agent: runs a project's task list with a pool of workers on one event loop.

It coordinates and nothing more: the dependency graph, the assignment rules and the pool
live in their own modules, a run's queue and outcomes in :mod:`codeframe.agents.run`, task
statuses in the lifecycle, SQL in the database, prompts and pytest in the workers. Work is
event-driven — a run's lanes start each ready task as soon as a slot frees, and wake the run
through a queue when they end — so nothing polls for progress and no thread is started. (A
heartbeat does wake every 100 ms: that keeps a kernel interrupt landing promptly and marks
the run alive; it never looks at tasks.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from codeframe.agents.agent_pool_manager import AgentPoolManager
from codeframe.agents.budget import RunBudget
from codeframe.agents.dependency_resolver import DependencyResolver
from codeframe.agents.isolation import (
    ISOLATIONS,
    Isolation,
    Workspaces,
    cleanup_workspaces,
    open_workspaces,
)
from codeframe.agents.lifecycle import TaskLifecycle
from codeframe.agents.run import Run
from codeframe.agents.seams import LeadStore, SuiteRunner
from codeframe.agents.simple_assignment import SimpleAgentAssigner
from codeframe.agents.worker_options import WorkerFactory
from codeframe.core.models import FINAL_STATUSES, TaskStatus
from codeframe.errors import (
    CodeframeError,
    InvalidInputError,
    MissingProjectRootError,
    NotFoundError,
    RunInProgressError,
    RunTimeoutError,
    WorkspaceUnavailableError,
)
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.llm.messages import ClaudeClient, is_offline
from codeframe.llm.pricing import PriceTable
from codeframe.persistence.blockers import Answered
from codeframe.persistence.retry import retry_when_busy
from codeframe.redaction import redacted_traceback, register_secret
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastTarget, Emitter
from codeframe.workspaces import GitIdentity, RemovedWorkspace

logger = logging.getLogger(__name__)

# Keeps the loop waking so a kernel interrupt lands promptly: ipykernel delivers one during
# a top-level ``await`` only when the event loop next wakes.
_HEARTBEAT_TICK_S = 0.1
_HEARTBEAT_WRITE_S = 5.0
_CLOSE_BOUND_S = 30.0  # git removing worktrees at a run's end; a wedged git must not hang it

# (database, run id) of the runs a lead agent of this process is running: an interrupt while
# one lead claims a run must not close another's.
_LIVE_RUNS: set[tuple[int, int]] = set()


class LeadAgent:
    """Runs every pending task of a project with up to ``max_concurrent`` workers at once."""

    def __init__(
        self,
        project_id: int,
        db: LeadStore,
        api_key: str | None = None,
        ws_manager: BroadcastTarget | None = None,
        *,
        client: ClaudeClient | None = None,
        project_root: Path | str | None = None,
        codebase_index: CodebaseIndex | None = None,
        max_agents: int = 10,
        test_runner: SuiteRunner | None = None,
        model: str | None = None,
        worker_timeout: float = 300.0,
        frontend_dir: str = "frontend",
        worker_factory: WorkerFactory | None = None,
        prices: PriceTable | None = None,
        isolation: Isolation = "auto",
        commit_dirty: bool = False,
        git_identity: GitIdentity | None = None,
    ) -> None:
        if max_agents < 1:
            raise InvalidInputError(f"max_agents must be at least 1, got {max_agents}")
        if isolation not in ISOLATIONS:
            raise InvalidInputError(
                f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}"
            )
        register_secret(api_key)
        self.project_id = project_id
        self.db = db
        self.ws_manager = ws_manager
        if project_root is None:
            project = db.get_project(project_id) or {}
            project_root = project.get("workspace_path") or "."
        self.project_root = Path(project_root)
        #: Where tasks work: "worktree" (a git worktree each), "shared" (the project tree),
        #: or "auto" (worktrees inside a git repository with a commit, else shared).
        self.isolation = isolation
        self.commit_dirty = commit_dirty
        self.git_identity = git_identity
        self.test_runner = test_runner
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
            worker_factory=worker_factory,
            **({} if prices is None else {"prices": prices}),
        )
        #: Whether the workers' calls are simulated (an offline client): tokens cost nothing.
        self.simulated = is_offline(client) if client is not None else False
        self._custom_factory = worker_factory is not None
        self._run: Run | None = None  # the run under way, if any

    # -- the run ---------------------------------------------------------------------

    # The run's deadline is part of the seed API, hence a ``timeout`` parameter.
    async def start_multi_agent_execution(
        self,
        max_retries: int = 3,
        max_concurrent: int = 5,
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        task_timeout: float | None = 300,
        budget_usd: float | None = None,
        task_budget_usd: float | None = None,
    ) -> dict[str, Any]:
        """Run the project's pending tasks; returns the summary, or raises on timeout/cancel.

        ``timeout`` is a deadline for the whole run (``None``: none); ``task_timeout`` bounds
        one task's execution — a task past it fails (a retry may still mend it) and the run
        goes on. ``budget_usd`` caps what the run's model calls may cost: once it is spent no
        new task starts; ``task_budget_usd`` caps each task (a task's own ``budget_usd`` wins).
        A call that could pass either is not made: its task is blocked with a budget blocker.
        """
        if max_concurrent < 1:
            raise InvalidInputError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if max_retries < 0:
            raise InvalidInputError(f"max_retries must be 0 or more, got {max_retries}")
        for name, bound in (("timeout", timeout), ("task_timeout", task_timeout)):
            if bound is not None and not bound > 0:  # NaN is not a deadline either
                raise InvalidInputError(f"{name} must be positive seconds or None, got {bound}")
        for name, money in (("budget_usd", budget_usd), ("task_budget_usd", task_budget_usd)):
            if money is not None and not money >= 0:
                raise InvalidInputError(f"{name} must be 0 or more dollars, or None, got {money}")
        if not self.project_root.is_dir():
            raise MissingProjectRootError(
                f"the project folder {self.project_root} does not exist; nothing was run"
            )
        run_id = self._claim_run()
        try:
            return await self._run_with(
                run_id, max_retries, max_concurrent, timeout, task_timeout, budget_usd,
                task_budget_usd,
            )  # fmt: skip
        finally:
            _LIVE_RUNS.discard((id(self.db), run_id))

    def _claim_run(self) -> int:
        """Claim the project for a run; an interrupt landing just after the claim (before
        this run could close it) closes the claim again, so the project is not left locked."""
        try:
            run_id = self.db.start_run(self.project_id, workspace_path=self.project_root)
            _LIVE_RUNS.add((id(self.db), run_id))
            return run_id
        except BaseException as exc:
            if not isinstance(exc, CodeframeError):  # a refusal claimed nothing
                for stray in self.db.runs_claimed_here(self.project_id):
                    if (id(self.db), stray) not in _LIVE_RUNS:
                        with contextlib.suppress(Exception):
                            self.db.finish_run(stray, {"interrupted": "as the run started"})
            raise

    async def _run_with(
        self,
        run_id: int,
        max_retries: int,
        max_concurrent: int,
        run_deadline: float | None,
        task_timeout: float | None,
        budget_usd: float | None,
        task_budget_usd: float | None,
    ) -> dict[str, Any]:
        lifecycle = self._lifecycle(run_id)
        budget = RunBudget(budget_usd, task_budget_usd)
        run = Run(
            self,
            run_id,
            lifecycle,
            max_retries=max_retries,
            limit=min(max_concurrent, self.max_agents),
            budget=budget,
        )
        self._equip_workers(lifecycle, task_timeout, budget)
        self._run = run
        heartbeat = asyncio.create_task(self._heartbeat(run_id), name="codeframe-heartbeat")
        summary: dict[str, Any] = {}
        deadline = asyncio.timeout(run_deadline)
        try:
            try:
                async with deadline:
                    run.workspaces = await self._open_workspaces(run_id)
                    await run.execute()
            except TimeoutError as exc:
                await run.stop()
                summary = run.summary()
                if not deadline.expired():
                    raise  # a timeout from inside the run, not our deadline
                raise RunTimeoutError(
                    f"run passed its {run_deadline:g} s deadline; running tasks were cancelled",
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
            self._run = None
            heartbeat.cancel()
            try:
                await _bounded(run.workspaces.close(), "closing the run's workspaces")
            finally:
                # The first try runs before anything awaits, so a cancel landing later
                # cannot leave the project locked by a run that has ended; only a lock held
                # by another process makes it wait and try again.
                close = functools.partial(self.db.finish_run, run_id, summary or run.summary())
                try:
                    await retry_when_busy(close)
                except Exception as exc:  # the run's own outcome (or error) matters more
                    logger.error("could not close run %s:\n%s", run_id, redacted_traceback(exc))
                except BaseException:
                    # An interrupt (or a cancel) landed in the close itself: the run is over
                    # either way, so its row is closed at once before the interrupt goes on.
                    _close_now(close, run_id)
                    raise
                # gather, not a bare await: a cancel of this run landing here still propagates
                await asyncio.gather(heartbeat, return_exceptions=True)

    async def _open_workspaces(self, run_id: int) -> Workspaces:
        assert self.codebase_index is not None  # built by _equip_workers
        dead_run = self.db.dead_run_span(self.project_id, before=run_id)
        return await open_workspaces(
            self.isolation,
            self.project_root,
            self.db,
            run_id=run_id,
            index=self.codebase_index,
            runner=self.test_runner or TestRunner(self.project_root),
            commit_dirty=self.commit_dirty,
            identity=self.git_identity,
            stale_locks_between=dead_run,
        )

    async def cleanup_workspaces(self) -> list[RemovedWorkspace]:
        """Remove the worktrees and branches kept for this project's finished tasks.

        A blocked or failed task keeps its worktree and branch for inspection; this removes
        them (and any left by tasks that completed), never those of a run under way.
        """
        if self._run is not None:
            raise RunInProgressError(
                f"a run is in progress for project {self.project_id}; clean up after it"
            )
        self.db.ensure_no_live_run(self.project_id)  # a run of another process
        finished = [
            int(task["id"])
            for task in self.db.get_project_tasks(self.project_id)
            if task["status"] in FINAL_STATUSES
        ]
        try:
            return await cleanup_workspaces(self.project_root, finished, self.git_identity)
        except WorkspaceUnavailableError:
            return []  # not a git repository: there is nothing of ours to remove

    async def retry_failed(self, task_ids: Iterable[int] | None = None) -> list[int]:
        """Put failed tasks (all of the project's, or ``task_ids``) back to ``pending`` for
        the next run, which retries them; returns their ids. Not while a run is live."""
        if self._run is not None:
            raise RunInProgressError(f"a run is in progress for project {self.project_id}")
        self.db.ensure_no_live_run(self.project_id)  # a run of another process
        tasks = self.db.get_project_tasks(self.project_id)
        failed = {int(t["id"]) for t in tasks if t["status"] == TaskStatus.FAILED}
        chosen = failed if task_ids is None else {int(task_id) for task_id in task_ids}
        if unknown := sorted(chosen - {int(t["id"]) for t in tasks}):
            raise NotFoundError(
                f"project {self.project_id} has no task {', '.join(map(str, unknown))}"
            )
        if not_failed := sorted(chosen - failed):
            raise InvalidInputError(
                f"only failed tasks can be retried; not failed: {', '.join(map(str, not_failed))}"
            )
        lifecycle = self._lifecycle()
        for task_id in sorted(chosen):
            await lifecycle.requeue(task_id, note="failed; put back to pending to be retried")
        return sorted(chosen)

    async def answer_blocker(self, blocker_id: int, text: str) -> Answered | None:
        """Answer a blocker as a human: resolve it and, if it was its task's last, release
        the task — into the run under way, when there is one, else for the next run.

        A budget blocker is answered with the task's new budget in dollars. Returns what the
        answer did, or ``None`` if the blocker was already resolved.
        """
        run = self._run
        lifecycle = run.lifecycle if run is not None else self._lifecycle()
        answered = await lifecycle.answer(blocker_id, text)
        if answered is not None and answered.released and run is not None:
            run.take_back(answered.task_id)
        return answered

    def _lifecycle(self, run_id: int | None = None) -> TaskLifecycle:
        return TaskLifecycle(self.db, Emitter(self.ws_manager, self.project_id), run_id=run_id)

    def _equip_workers(
        self, lifecycle: TaskLifecycle, task_timeout: float | None, budget: RunBudget
    ) -> None:
        """One frozen set of worker dependencies for this run: its lifecycle and code index.

        The index is built once per run and shared (workers update it as they write).
        """
        if self.codebase_index is None:
            self.codebase_index = CodebaseIndex(self.project_root)
            self.codebase_index.build()
        pool = self.agent_pool_manager
        if not self._custom_factory:
            options = pool.worker_options.with_run(
                codebase_index=self.codebase_index,
                lifecycle=lifecycle,
                task_timeout=task_timeout,
                budget=budget,
            )
            pool.worker_factory = pool.default_factory(options)

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


def _close_now(close: Callable[[], None], run_id: int) -> None:
    try:
        close()
    except Exception as exc:
        logger.error("could not close run %s:\n%s", run_id, redacted_traceback(exc))


async def _bounded(step: Awaitable[None], what: str) -> None:
    """Run a clean-up step shielded from a second cancel and bounded in time; log a failure."""
    job = asyncio.ensure_future(step)
    try:
        async with asyncio.timeout(_CLOSE_BOUND_S):
            await asyncio.shield(job)
    except TimeoutError:
        logger.warning("%s took longer than %s s", what, _CLOSE_BOUND_S)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            async with asyncio.timeout(_CLOSE_BOUND_S):
                await asyncio.shield(job)
        raise
    except Exception as exc:
        logger.error("%s failed:\n%s", what, redacted_traceback(exc))


__all__ = ["LeadAgent"]
