"""The worktrees of one manager: in use, idle in the pool, or kept for inspection.

A task gets a worktree from here and gives it back when done. A returned one goes to the
pool and the next task re-points it to its own branch with a forced checkout and ``git
clean``, which on a 1,000-file project costs a small fraction of a fresh ``git worktree
add`` (see ``benchmarks/worktree_cost.py``). Idle pooled worktrees have a detached HEAD; a
worktree on a task's branch that no task is using was kept for inspection (a blocked or
failed task, or one a stopped run left). This bookkeeping can lag git's when a task is
cancelled half way, so every step leaves a worktree where the next run can judge it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeframe.errors import GitError, WorkspaceError
from codeframe.workspaces.bases import BaseBuilder
from codeframe.workspaces.locks import admin_lock
from codeframe.workspaces.models import TaskWorktree
from codeframe.workspaces.repository import Repository

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ActiveWorktree:
    """A worktree a task is using, and where its branch is."""

    worktree: TaskWorktree
    head: str  # the task branch's commit: the base, then the task's commit


class WorktreePool:
    """Hands out a worktree per task, reusing idle ones, and takes them back."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.idle: list[Path] = []
        self.kept: dict[str, Path] = {}  # task id -> its worktree, left on its branch
        self.active: dict[str, ActiveWorktree] = {}
        self._starting: set[str] = set()
        self._slots = 0

    def busy(self) -> set[Path]:
        """The paths of the worktrees tasks are using now."""
        return {active.worktree.path for active in self.active.values()}

    def active_entry(self, wt: TaskWorktree) -> ActiveWorktree:
        """The task's worktree in use; refuses one the task is not using."""
        active = self.active.get(wt.task_id)
        if active is None or active.worktree.path != wt.path:
            raise WorkspaceError(f"task {wt.task_id} has no worktree in use at {wt.path}")
        return active

    def clear(self) -> None:
        """Forget every worktree (the run is over; git's list is the record now)."""
        self.idle = []
        self.kept = {}
        self.active = {}

    def forget(self, removed: Collection[Path]) -> None:
        """Drop worktrees that were removed from the idle and kept ones."""
        self.idle = [path for path in self.idle if path not in removed]
        self.kept = {task: path for task, path in self.kept.items() if path not in removed}

    # -- taking a worktree ---------------------------------------------------------------

    async def take(
        self, task: str, title: str, bases: BaseBuilder, dependencies: Sequence[str]
    ) -> TaskWorktree:
        """The task's own worktree on its branch, reset to the base of ``dependencies``."""
        if task in self.active or task in self._starting:
            raise WorkspaceError(f"task {task} already has a worktree in this run")
        layout = self.repo.layout
        self._starting.add(task)
        try:
            base = await bases.build(dependencies)
            branch = f"{self.repo.branch_prefix}{task}"
            path = await self._check_out(task, branch, base)
        finally:
            self._starting.discard(task)
        worktree = TaskWorktree(
            task_id=task,
            title=title,
            path=path,
            project_root=path / layout.prefix if layout.prefix else path,
            branch=branch,
            base=base,
        )
        self.active[task] = ActiveWorktree(worktree, base)
        return worktree

    async def _check_out(self, task: str, branch: str, base: str) -> Path:
        """A worktree on ``branch`` at ``base`` with nothing else in it: reused, or new."""
        repo = self.repo
        path = self.kept.pop(task, None)
        if path is None and self.idle:
            path = self.idle.pop()
        if path is None:
            path = self._new_slot()
            try:
                # Only the registration is exclusive; the files are written after it.
                async with admin_lock(repo.layout.common_dir).exclusive():
                    await repo.git("worktree", "add", "-q", "--no-checkout", "-B", branch,
                                   str(path), base, whole=True)  # fmt: skip
            except GitError as exc:
                holder = await self._idle_holder(branch, exc)
                if holder is None:
                    raise
                path = holder
            else:
                try:
                    await repo.task_git(path, branch, "reset", "-q", "--hard")
                except BaseException:
                    self.kept[task] = path  # registered, files incomplete: a reset repairs it
                    raise
                return path
        try:
            await self._reset(path, branch, base)
        except GitError as exc:
            holder = await self._idle_holder(branch, exc)
            if holder is None:
                self.kept[task] = path
                raise
            self.idle.append(path)
            path = holder
            await self._reset(path, branch, base)
        except BaseException:
            # Cancelled half way: it may be on the branch already; close_run judges it by
            # its HEAD (detached: removed; on a task branch: kept for the next run).
            self.kept[task] = path
            raise
        return path

    async def _reset(self, path: Path, branch: str, base: str) -> None:
        async with admin_lock(self.repo.layout.common_dir).shared():
            await self.repo.task_git(path, branch, "checkout", "-q", "-f", "-B", branch, base)
        # -x too: a previous task's ignored files (caches, build output) must not leak in.
        await self.repo.task_git(path, branch, "clean", "-ffdxq")

    async def _idle_holder(self, branch: str, error: GitError) -> Path | None:
        """The idle worktree of ours that has ``branch`` checked out, when that blocked us.

        Our bookkeeping can lag git's (a task cancelled while its worktree was being set
        up); git's refusal names the holder, and an idle one of ours can simply be used.
        """
        if "already" not in error.stderr:
            return None
        busy = self.busy()
        for entry in await self.repo.worktrees():
            path = Path(entry.path)
            if entry.branch == f"refs/heads/{branch}" and self.repo.is_ours(path):
                if path in busy:
                    return None
                self.kept = {task: kept for task, kept in self.kept.items() if kept != path}
                if path in self.idle:
                    self.idle.remove(path)
                return path
        return None

    def _new_slot(self) -> Path:
        registered = {*self.idle, *self.kept.values()}
        registered.update(active.worktree.path for active in self.active.values())
        while True:
            self._slots += 1
            path = self.repo.layout.folder / f"slot-{self._slots}"
            if path not in registered and not path.exists():
                return path

    # -- giving it back ------------------------------------------------------------------

    async def release(self, wt: TaskWorktree, *, keep: bool, reuse: bool) -> None:
        """Take back a task's worktree: kept on its branch, pooled idle, or removed."""
        active = self.active.pop(wt.task_id, None)
        if active is None:
            raise WorkspaceError(f"task {wt.task_id} has no worktree in use")
        if keep:
            self.kept[wt.task_id] = wt.path
            return
        if not reuse:
            await self.repo.remove_worktrees([wt.path])
            return
        try:
            await self.repo.task_git(wt.path, wt.branch, "update-ref", "--no-deref", "-m",
                                     "codeframe: idle", "HEAD", active.head)  # fmt: skip
        except BaseException:
            self.kept[wt.task_id] = wt.path  # still on its branch; close_run judges it
            raise
        self.idle.append(wt.path)


__all__ = ["ActiveWorktree", "WorktreePool"]
