"""Where the tasks of a run work: a git worktree each, or the project tree they all share.

``worktree`` isolation (the default inside a git repository with a commit) gives every task
its own worktree on a branch named after it, based on the run's starting commit plus the
commits of the task's own dependencies — so a task sees exactly what it depends on, and a
prompt never depends on which unrelated task happened to finish first. A task whose tests
pass is committed there and merged into the run's branch without touching the user's
uncommitted work; a conflict blocks it and keeps its branch. ``shared`` is the design
before worktrees: every task writes the project tree itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from codeframe.agents.seams import CommitStore, Delivered, SuiteRunner, Workspace
from codeframe.core.file_changes import JOURNAL_DIR, STATE_DIR
from codeframe.core.models import TaskStatus
from codeframe.errors import (
    GitError,
    IntegrationRefusedError,
    InvalidInputError,
    WorkspaceUnavailableError,
)
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.workspaces import (
    CommitInfo,
    Conflict,
    GitIdentity,
    RemovedWorkspace,
    TaskWorktree,
    WorktreeManager,
    run_git,
)
from codeframe.workspaces.housekeeping import ensure_excluded

logger = logging.getLogger(__name__)

Isolation = Literal["auto", "worktree", "shared"]
ISOLATIONS: tuple[str, ...] = ("auto", "worktree", "shared")


class Workspaces(Protocol):
    """How a run gives its tasks somewhere to work, and takes it back."""

    mode: str

    async def open(
        self, task_id: int, title: str, dependencies: Sequence[int]
    ) -> Workspace | None: ...

    async def release(self, task_id: int, status: TaskStatus | None) -> None: ...

    async def close(self) -> None: ...


class SharedTree:
    """Every task works in the project tree itself (``isolation="shared"``)."""

    mode = "shared"

    async def open(self, task_id: int, title: str, dependencies: Sequence[int]) -> None:
        return None  # the worker's own project root, runner and index

    async def release(self, task_id: int, status: TaskStatus | None) -> None:
        return None

    async def close(self) -> None:
        return None


RunnerFor = Callable[[Path], SuiteRunner]


class TaskWorktrees:
    """Each task in a worktree of its own; passing work committed and integrated."""

    mode = "worktree"

    def __init__(
        self,
        manager: WorktreeManager,
        store: CommitStore,
        *,
        index: CodebaseIndex,
        runner_for: RunnerFor,
        run_id: int | None,
        project_prefix: str,
    ) -> None:
        self.manager = manager
        self.store = store
        self.index = index
        self.runner_for = runner_for
        self.run_id = run_id
        self.prefix = project_prefix
        self._open: dict[int, TaskWorktree] = {}
        self._in_base: dict[str, bool] = {}
        # One runner per worktree folder: worktrees are reused, and so are their warm pytests.
        self._runners: dict[Path, SuiteRunner] = {}

    def _runner(self, root: Path) -> SuiteRunner:
        runner = self._runners.get(root)
        if runner is None:
            runner = self._runners[root] = self.runner_for(root)
        return runner

    def _in_project(self, repo_path: str) -> str | None:
        """A repository-relative path as the project sees it (None: outside the project)."""
        if not self.prefix:
            return repo_path
        path = PurePosixPath(repo_path)
        try:
            return path.relative_to(self.prefix).as_posix()
        except ValueError:
            return None

    async def open(self, task_id: int, title: str, dependencies: Sequence[int]) -> Workspace:
        """The task's worktree, based on the run's start plus its dependencies' commits."""
        commits = self.store.latest_commits(list(dependencies))
        # A dependency integrated before this run began is in the run's base already.
        ordered = [
            commits[dep]
            for dep in dependencies
            if dep in commits and not await self._in_run_base(commits[dep]["sha"])
        ]
        worktree = await self.manager.workspace(task_id, title, [c["sha"] for c in ordered])
        self._open[task_id] = worktree
        changed = {
            relative
            for commit in ordered
            for path in commit["files"]
            if (relative := self._in_project(path)) is not None
        }
        return Workspace(
            worktree.project_root,
            self._runner(worktree.project_root),
            self.index.rooted_at(worktree.project_root, sorted(changed)),
            branch=worktree.branch,
            deliver=_Delivery(self, task_id, worktree),
        )

    async def _in_run_base(self, sha: str) -> bool:
        """Whether a commit is already part of the commit this run started from."""
        known = self._in_base.get(sha)
        if known is None:
            run = self.manager.run
            if run is None:
                return False
            found = await run_git(
                "merge-base", "--is-ancestor", sha, run.base, cwd=run.repo_root, check=False
            )
            known = self._in_base[sha] = found.returncode == 0
        return known

    async def deliver(
        self, task_id: int, worktree: TaskWorktree, *, attempts: int, tokens: int
    ) -> Delivered:
        """Commit the task's worktree and merge it into the run's branch; record the commit."""
        info: CommitInfo = await self.manager.commit(worktree, attempts=attempts, tokens=tokens)
        delivered = Delivered(info.sha, info.branch, info.message, info.files)
        try:
            merged = await self.manager.integrate(worktree, info)
        except IntegrationRefusedError as refused:
            # The user's own edits are in the way: no retry can mend that, a human can.
            why = "git would not update your checkout: uncommitted changes there touch its files"
            return replace(delivered, conflict_paths=refused.paths, refused_by_checkout=why)
        if isinstance(merged, Conflict):
            others = tuple(int(t) for t in merged.other_task_ids if t.isdigit())
            return replace(delivered, conflict_paths=merged.paths, conflicting_tasks=others)
        self.store.record_commit(
            task_id,
            sha=info.sha,
            branch=info.branch,
            message=info.message,
            files=info.files,
            insertions=info.insertions,
            deletions=info.deletions,
            merge_sha=merged.sha,
            run_id=self.run_id,
        )
        return replace(delivered, merge_sha=merged.sha)

    async def release(self, task_id: int, status: TaskStatus | None) -> None:
        """A blocked or failed task's worktree is kept for inspection; others are reused."""
        worktree = self._open.pop(task_id, None)
        if worktree is not None:
            keep = status in (TaskStatus.BLOCKED, TaskStatus.FAILED)
            await self.manager.release(worktree, keep=keep)

    async def close(self) -> None:
        """Release what is still open (a stopped run's tasks) and close the manager's run."""
        try:
            for task_id in list(self._open):
                await self.release(task_id, None)
            await self.manager.close_run()
        finally:
            for runner in self._runners.values():
                aclose = getattr(runner, "aclose", None)
                if callable(aclose):
                    await aclose()
            self._runners.clear()


class _Delivery:
    """The ``deliver`` of one task's workspace."""

    __slots__ = ("task_id", "workspaces", "worktree")

    def __init__(self, workspaces: TaskWorktrees, task_id: int, worktree: TaskWorktree) -> None:
        self.workspaces, self.task_id, self.worktree = workspaces, task_id, worktree

    async def __call__(self, *, attempts: int, tokens: int) -> Delivered:
        return await self.workspaces.deliver(
            self.task_id, self.worktree, attempts=attempts, tokens=tokens
        )


def runner_for(template: SuiteRunner) -> RunnerFor:
    """Runners for worktree roots with ``template``'s settings (a stand-in is shared as is)."""
    for_root = getattr(template, "for_root", None)
    if not callable(for_root):
        return lambda _root: template
    return lambda root: for_root(root)


async def open_workspaces(
    mode: str,
    project_root: Path,
    store: CommitStore,
    *,
    run_id: int | None,
    index: CodebaseIndex,
    runner: SuiteRunner,
    commit_dirty: bool = False,
    identity: GitIdentity | None = None,
    stale_locks_between: tuple[float, float] | None = None,
) -> Workspaces:
    """The run's workspaces for ``mode`` ("auto", "worktree" or "shared").

    ``auto`` is worktree isolation when the project is inside a git repository with a
    commit and git is installed, else the shared tree (said once at INFO). A dirty working
    tree is refused in worktree mode (``DirtyWorkingTreeError`` naming the paths) unless
    ``commit_dirty``.
    """
    if mode not in ISOLATIONS:
        raise InvalidInputError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {mode!r}")
    if mode == "shared":
        return SharedTree()
    manager = WorktreeManager(project_root, identity=identity)
    try:
        await ignore_our_folders(project_root)
        after, before = stale_locks_between or (None, None)
        base = await manager.open_run(
            commit_dirty=commit_dirty, stale_locks_before=before, stale_locks_after=after
        )
    except WorkspaceUnavailableError as exc:
        if mode == "worktree":
            raise
        logger.info("tasks share the project tree (isolation='shared'): %s", exc)
        return SharedTree()
    if base.recovered:
        logger.info("recovered after an earlier run: %s", "; ".join(base.recovered))
    return TaskWorktrees(
        manager,
        store,
        index=index,
        runner_for=runner_for(runner),
        run_id=run_id,
        project_prefix=base.project_prefix,
    )


async def ignore_our_folders(project_root: Path) -> None:
    """Make git ignore codeframe's own folders before the working tree is judged clean.

    The state folder holds the database (``codeframe run`` keeps it there) and the task
    worktrees; a file-change group's journal folder exists only while a group is written, or
    after a crash until recovery. None of them is the user's work, and a task commit must never
    hold one. Outside a git repository this does nothing: opening the run says why.
    """
    try:
        found = await run_git("rev-parse", "--git-path", "info/exclude", cwd=project_root)
    except GitError:
        return
    exclude = Path(found.stdout.strip())
    if not exclude.is_absolute():
        exclude = project_root / exclude
    for folder in (STATE_DIR, JOURNAL_DIR):
        ensure_excluded(exclude, f"{folder}/")


async def cleanup_workspaces(
    project_root: Path, task_ids: Sequence[int] | None, identity: GitIdentity | None = None
) -> list[RemovedWorkspace]:
    """Remove the worktrees and branches codeframe made for these tasks (or all not in use)."""
    return await WorktreeManager(project_root, identity=identity).cleanup(task_ids)


__all__ = [
    "ISOLATIONS",
    "Isolation",
    "SharedTree",
    "TaskWorktrees",
    "Workspaces",
    "cleanup_workspaces",
    "ignore_our_folders",
    "open_workspaces",
    "runner_for",
]
