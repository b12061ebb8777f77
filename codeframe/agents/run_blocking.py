"""How a run blocks the tasks that cannot run: bad or missing dependencies, an upstream task
lost, dependencies whose work does not combine. Part of :class:`~codeframe.agents.run.Run`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from codeframe.core.models import BlockerType, TaskStatus
from codeframe.errors import BaseConflictError, IllegalTransitionError, WorkspaceError
from codeframe.persistence.codec import Row
from codeframe.ui.events import ProgressUpdate

if TYPE_CHECKING:
    from codeframe.agents.dependency_resolver import DependencyResolver
    from codeframe.agents.lifecycle import TaskLifecycle
    from codeframe.agents.run import PlannedTask
    from codeframe.ui.websocket_broadcasts import Emitter

logger = logging.getLogger(__name__)

_UPSTREAM_QUESTION = (
    "This task runs once the task it depends on completes: answer that task's blocker and "
    "resume, and this one is released on its own."
)
_MISSING_QUESTION = "Fix the task's depends_on (or create the missing task), then answer this."


class RunBlocking:
    """The blocking half of a run (it reads the run's work list and lifecycle)."""

    project_id: int
    lifecycle: TaskLifecycle
    emit: Emitter
    resolver: DependencyResolver
    plan: dict[int, PlannedTask]
    waiting: set[int]
    final_count: int

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

    async def _block_before_start(self, task_id: int, exc: WorkspaceError) -> None:
        """The task's worktree cannot be made (its dependencies do not combine into one
        base, or git failed on it): it cannot start, and only it is held back."""
        self.waiting.discard(task_id)
        if isinstance(exc, BaseConflictError):
            reason = f"The work of the tasks it depends on does not combine: {exc}"
            question = "Merge the dependencies' branches by hand, then answer this blocker."
            kind = BlockerType.CONFLICT
        else:
            reason = f"Its git worktree could not be made: {exc}"
            question = "Mend what git reports above, then answer this blocker to run it again."
            kind = BlockerType.QUESTION
        await self.lifecycle.block(task_id, reason=reason, question=question, blocker_type=kind)
        self.final_count += 1
        await self._block_dependents(task_id, TaskStatus.BLOCKED)
        await self._progress()

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


__all__ = ["RunBlocking"]
