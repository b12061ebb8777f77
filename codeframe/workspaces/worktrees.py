"""A git worktree per task, a commit per passing task, and merges that never touch the user's work.

One :class:`WorktreeManager` serves one project for one run at a time::

    manager = WorktreeManager(project_root)
    run = await manager.open_run()                       # base = HEAD of the current branch
    wt = await manager.workspace("7", "Add search", dependencies=[commit_of_task_3])
    ...                                                  # the task works in wt.project_root
    info = await manager.commit(wt, attempts=2, tokens=5400)
    outcome = await manager.integrate(wt, info)          # Integrated(sha) or Conflict(...)
    await manager.release(wt, keep=isinstance(outcome, Conflict))
    await manager.close_run()

This module is the public face and the run's state; the work is done by the helpers it
owns: :mod:`~codeframe.workspaces.repository` (where things are, git run there),
:mod:`~codeframe.workspaces.pool` (worktrees handed out, pooled and kept),
:mod:`~codeframe.workspaces.integration` (commit and merge) and
:mod:`~codeframe.workspaces.leftovers` (recovery at run start, removal at the end).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from codeframe.errors import (
    DetachedHeadError,
    DirtyWorkingTreeError,
    InvalidInputError,
    NotAGitRepositoryError,
    WorkspaceError,
)
from codeframe.workspaces.bases import BaseBuilder
from codeframe.workspaces.git import DEFAULT_TIMEOUT, GitIdentity, PathArg, require_git
from codeframe.workspaces.housekeeping import ensure_excluded, is_inside, make_folder
from codeframe.workspaces.integration import commit_task, integrate
from codeframe.workspaces.leftovers import recover, remove_run_leftovers, remove_task_workspaces
from codeframe.workspaces.models import (
    CommitInfo,
    Conflict,
    Integrated,
    RemovedWorkspace,
    RunBase,
    TaskWorktree,
)
from codeframe.workspaces.pool import WorktreePool
from codeframe.workspaces.porcelain import exclude_pattern, parse_status_paths
from codeframe.workspaces.repository import Layout, Repository, task_id_text

logger = logging.getLogger(__name__)

DEFAULT_FOLDER = ".codeframe/worktrees"
DEFAULT_BRANCH_PREFIX = "codeframe/task-"
_DIRTY_MESSAGE = (
    "codeframe: commit the uncommitted changes found at run start\n\n"
    "They were in the working tree when a codeframe run began (commit_dirty=True); "
    "every task's worktree starts from this commit.\n"
)


class WorktreeManager:
    """Gives each task its own git worktree and integrates passing tasks into one branch.

    ``folder`` (relative to the project root, or absolute) holds the worktrees and is
    ignored through ``.git/info/exclude``; task branches are ``<branch_prefix><task id>``;
    ``identity`` authors codeframe's commits; ``timeout`` bounds every git command.
    ``reuse_worktrees=False`` removes a released worktree instead of pooling it (slower:
    every task then checks out the whole project afresh).
    """

    def __init__(
        self,
        project_root: PathArg,
        *,
        folder: PathArg = DEFAULT_FOLDER,
        branch_prefix: str = DEFAULT_BRANCH_PREFIX,
        identity: GitIdentity | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        reuse_worktrees: bool = True,
    ) -> None:
        if not branch_prefix or any(part in branch_prefix for part in ("..", "@{", " ", "\\")):
            raise InvalidInputError(f"not a usable branch prefix: {branch_prefix!r}")
        self.project_root = Path(project_root)
        self.folder = Path(folder)
        self.branch_prefix = branch_prefix
        self.identity = identity or GitIdentity()
        self.timeout = timeout
        self.reuse_worktrees = reuse_worktrees
        self._repo = Repository(
            self.project_root,
            self.folder,
            branch_prefix=branch_prefix,
            env=self.identity.environment(),
            timeout=timeout,
        )
        self._pool = WorktreePool(self._repo)
        self._run: RunBase | None = None
        self._bases: BaseBuilder | None = None
        self._integrated: dict[str, str] = {}  # task branch -> its integrated commit

    @property
    def run(self) -> RunBase | None:
        """The open run's base, or None between runs."""
        return self._run

    # -- opening a run -------------------------------------------------------------------

    async def open_run(
        self,
        *,
        commit_dirty: bool = False,
        stale_locks_before: float | None = None,
        stale_locks_after: float | None = None,
    ) -> RunBase:
        """Start a run on the branch checked out now, at its current commit.

        Raises :class:`~codeframe.errors.WorkspaceUnavailableError` (git missing or too
        old, no repository, no commit: use shared mode), :class:`DetachedHeadError`, or
        :class:`DirtyWorkingTreeError` naming the uncommitted paths under the project root
        (with ``commit_dirty=True`` they are committed on the branch first instead).

        A killed earlier run is recovered first: worktrees whose folders are gone are
        pruned, half-made ones removed, every lock file in our worktrees and on our
        branches removed, and the user's locks that an interrupted integration leaves
        (``index.lock`` and friends) removed only if older than ``stale_locks_before``
        (seconds since the epoch, e.g. the dead run's last heartbeat; None: never) and not
        older than ``stale_locks_after`` (the dead run's start: an older lock is not its).
        ``RunBase.recovered`` lists what was removed.
        """
        if self._run is not None:
            raise WorkspaceError("a run is already open; call close_run() first")
        await require_git(timeout=self.timeout)
        repo = self._repo
        layout = await repo.discover()
        head = await repo.git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        if head.returncode != 0:
            raise NotAGitRepositoryError(
                f"the repository at {layout.toplevel} has no commit yet; make a first commit, "
                "or use isolation='shared'"
            )
        symbolic = await repo.git("symbolic-ref", "-q", "HEAD", check=False)
        if symbolic.returncode != 0:
            raise DetachedHeadError(
                f"HEAD is detached at {head.stdout.strip()[:12]} in {layout.toplevel}: check out "
                "the branch the tasks should be integrated into, then start the run"
            )
        branch = symbolic.stdout.strip().removeprefix("refs/heads/")
        if layout.prefix:
            ignored = await repo.git("check-ignore", "-q", "--", layout.prefix, check=False)
            if ignored.returncode == 0:
                raise NotAGitRepositoryError(
                    f"{self.project_root} is ignored by the repository at {layout.toplevel}, "
                    "so a worktree would not contain it; make it a repository of its own, "
                    "or use isolation='shared'"
                )
        make_folder(layout.folder)
        if is_inside(layout.folder, layout.toplevel):
            relative = layout.folder.relative_to(layout.toplevel).as_posix()
            if ensure_excluded(layout.exclude_file, exclude_pattern(relative)):
                logger.info("ignoring %s through %s", layout.folder, layout.exclude_file)
        recovery = await recover(
            repo, self._pool, branch, stale_locks_before, made_after=stale_locks_after
        )
        base = head.stdout.strip()
        dirty_commit = None
        dirty = await self._dirty_paths(layout)
        if dirty and not commit_dirty:
            shown = ", ".join(dirty[:20]) + (
                f" and {len(dirty) - 20} more" if len(dirty) > 20 else ""
            )
            raise DirtyWorkingTreeError(
                f"uncommitted changes in {self.project_root}: {shown}; commit or stash them, "
                "or start the run with commit_dirty=True to commit them first",
                paths=dirty,
            )
        if dirty:
            base = dirty_commit = await self._commit_dirty(layout)
            logger.info("committed %d uncommitted paths as %s", len(dirty), base[:12])
        self._run = RunBase(
            repo_root=layout.toplevel,
            project_root=layout.toplevel / layout.prefix if layout.prefix else layout.toplevel,
            project_prefix=layout.prefix,
            branch=branch,
            base=base,
            worktrees_folder=layout.folder,
            dirty_commit=dirty_commit,
            recovered=tuple(recovery.removed),
        )
        self._bases = BaseBuilder(
            layout.toplevel, base, identity=self.identity, timeout=self.timeout
        )
        self._integrated = {}
        return self._run

    async def _dirty_paths(self, layout: Layout) -> tuple[str, ...]:
        status = await self._repo.git(
            "--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all",
            "--", layout.prefix or ".",
        )  # fmt: skip
        return parse_status_paths(status.stdout)

    async def _commit_dirty(self, layout: Layout) -> str:
        spec = layout.prefix or "."
        await self._repo.git("--literal-pathspecs", "add", "-A", "--", spec, whole=True)
        await self._repo.git("--literal-pathspecs", "commit", "-q", "--no-verify", "-m",
                             _DIRTY_MESSAGE, "--", spec, whole=True)  # fmt: skip
        head = await self._repo.git("rev-parse", "--verify", "HEAD^{commit}")
        return head.stdout.strip()

    # -- a task's worktree ---------------------------------------------------------------

    async def workspace(
        self, task_id: int | str, title: str, dependencies: Sequence[str] = ()
    ) -> TaskWorktree:
        """The task's own worktree on ``<branch_prefix><task_id>``, reset to its base.

        The base is the run's base plus ``dependencies`` (the commits of the task's
        transitive dependencies, in dependency order) applied in that order; the same
        dependencies always give the same base, whatever has been integrated meanwhile.
        Raises :class:`~codeframe.errors.BaseConflictError` if they do not combine.
        """
        _, bases = self._open()
        return await self._pool.take(task_id_text(task_id), title, bases, dependencies)

    async def commit(
        self, wt: TaskWorktree, *, attempts: int, tokens: int, title: str | None = None
    ) -> CommitInfo:
        """Commit everything in the task's worktree (``git add -A``), even an empty change.

        The message is the title (``wt.title`` unless given), a blank line, and the
        ``Codeframe-Task``/``Codeframe-Attempts``/``Codeframe-Tokens`` trailers.
        """
        active = self._pool.active_entry(wt)
        return await commit_task(
            self._repo, wt, active, attempts=attempts, tokens=tokens, title=title
        )

    async def integrate(self, wt: TaskWorktree, commit: CommitInfo) -> Integrated | Conflict:
        """Merge the task's commit into the run's branch without touching uncommitted work.

        The merge is computed with ``git merge-tree --write-tree`` (no working tree). On a
        conflict nothing changes and :class:`Conflict` names the paths and the tasks whose
        integrated commits touched them. Otherwise the branch moves to the merge commit (or
        straight to the task's commit when nothing was integrated since its base): in the
        checkout that has it checked out by ``git merge --ff-only``, which refuses rather
        than overwrite local changes (:class:`~codeframe.errors.IntegrationRefusedError`),
        elsewhere by ``git update-ref`` guarded by the old value. One at a time per repository.
        """
        run, _ = self._open()
        outcome = await integrate(self._repo, run, wt, commit)
        if isinstance(outcome, Integrated):
            # Its branch can go when the run closes: its commit is on the run's branch now.
            self._integrated[wt.branch] = commit.sha
        return outcome

    # -- releasing and closing -----------------------------------------------------------

    async def release(self, wt: TaskWorktree, *, keep: bool) -> None:
        """Done with a task's worktree: ``keep`` leaves it and its branch for inspection.

        Otherwise it goes back to the pool for the next task (HEAD detached, so its branch
        is free); its branch stays until :meth:`close_run` (integrated) or :meth:`cleanup`.
        """
        await self._pool.release(wt, keep=keep, reuse=self.reuse_worktrees)

    async def close_run(self) -> None:
        """End the run: remove idle worktrees and integrated tasks' branches, prune.

        Afterwards ``git worktree list`` shows the user's checkouts and the kept worktrees
        (blocked, failed, or still in use) only, and nothing of ours is locked.
        """
        if self._run is None:
            return
        run, _ = self._open()
        await remove_run_leftovers(self._repo, self._pool.busy(), self._integrated)
        if self._pool.active:
            # Their tasks never said they were done: keep them, like a blocked task's.
            logger.info("closing the run with %d worktrees still in use; they are kept",
                        len(self._pool.active))  # fmt: skip
        logger.debug("closed the run on %s (base %s)", run.branch, run.base[:12])
        self._run = None
        self._bases = None
        self._pool.clear()
        self._integrated = {}

    async def cleanup(self, task_ids: Iterable[int | str] | None = None) -> list[RemovedWorkspace]:
        """Remove the worktrees and branches of the given tasks, or of every task not in use.

        Worktrees locked by the user (``git worktree lock``) are left alone. Works with or
        without an open run.
        """
        await self._repo.discover()
        wanted = None if task_ids is None else {task_id_text(task) for task in task_ids}
        return await remove_task_workspaces(self._repo, self._pool, wanted)

    def _open(self) -> tuple[RunBase, BaseBuilder]:
        if self._run is None or self._bases is None:
            raise WorkspaceError("no run is open; call open_run() first")
        return self._run, self._bases


__all__ = ["DEFAULT_BRANCH_PREFIX", "DEFAULT_FOLDER", "WorktreeManager"]
