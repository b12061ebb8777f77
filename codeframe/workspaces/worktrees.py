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

Worktrees are reused: a released one goes to a pool and the next task re-points it to its
own branch with a forced checkout and ``git clean``, which on a 1,000-file project costs a
small fraction of a fresh ``git worktree add`` (see ``benchmarks/worktree_cost.py``).
Idle pooled worktrees have a detached HEAD; a worktree on a task's branch that no task is
using was kept for inspection (a blocked or failed task, or one a stopped run left).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeframe.errors import (
    DetachedHeadError,
    DirtyWorkingTreeError,
    GitError,
    GitTimeoutError,
    IntegrationRefusedError,
    InvalidInputError,
    NotAGitRepositoryError,
    WorkspaceError,
)
from codeframe.workspaces.bases import BaseBuilder
from codeframe.workspaces.git import (
    DEFAULT_TIMEOUT,
    GitIdentity,
    GitResult,
    PathArg,
    command_error,
    require_git,
    run_git,
    run_git_uncancelled,
)
from codeframe.workspaces.housekeeping import (
    Recovery,
    clear_task_locks,
    ensure_excluded,
    is_inside,
    make_folder,
    recover_our_locks,
    recover_user_locks,
    remove_empty_folder,
    resolved,
)
from codeframe.workspaces.locks import admin_lock, integration_lock
from codeframe.workspaces.models import (
    CommitInfo,
    Conflict,
    Integrated,
    RemovedWorkspace,
    RunBase,
    TaskWorktree,
)
from codeframe.workspaces.porcelain import (
    TRAILER_TASK,
    WorktreeEntry,
    exclude_pattern,
    is_task_id,
    parse_commit_stats,
    parse_merge_tree,
    parse_refused_paths,
    parse_status_paths,
    parse_trailer_values,
    parse_worktree_list,
    subject_line,
    task_commit_message,
)

logger = logging.getLogger(__name__)

DEFAULT_FOLDER = ".codeframe/worktrees"
DEFAULT_BRANCH_PREFIX = "codeframe/task-"
# A branch that keeps moving under us (someone committing in a loop) is given up on.
_INTEGRATION_ATTEMPTS = 3
_DIRTY_MESSAGE = (
    "codeframe: commit the uncommitted changes found at run start\n\n"
    "They were in the working tree when a codeframe run began (commit_dirty=True); "
    "every task's worktree starts from this commit.\n"
)
_NOT_FAST_FORWARD = ("Not possible to fast-forward", "not possible to fast-forward")
_REF_MOVED = ("but expected", "is at ")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where things are: the user's checkout, its git folders, the project, our folder."""

    toplevel: Path
    git_dir: Path
    common_dir: Path
    prefix: str
    folder: Path
    exclude_file: Path


@dataclass(slots=True)
class _Active:
    worktree: TaskWorktree
    head: str  # the task branch's commit: the base, then the task's commit


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
        self._env = self.identity.environment()
        self._layout: _Layout | None = None
        self._run: RunBase | None = None
        self._bases: BaseBuilder | None = None
        self._pool: list[Path] = []
        self._kept: dict[str, Path] = {}
        self._active: dict[str, _Active] = {}
        self._starting: set[str] = set()
        self._integrated: dict[str, str] = {}  # task branch -> its integrated commit
        self._slots = 0

    @property
    def run(self) -> RunBase | None:
        """The open run's base, or None between runs."""
        return self._run

    # -- opening a run -------------------------------------------------------------------

    async def open_run(
        self, *, commit_dirty: bool = False, stale_locks_before: float | None = None
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
        (seconds since the epoch, e.g. the dead run's last heartbeat; None: never).
        ``RunBase.recovered`` lists what was removed.
        """
        if self._run is not None:
            raise WorkspaceError("a run is already open; call close_run() first")
        await require_git(timeout=self.timeout)
        layout = await self._discover()
        head = await self._git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        if head.returncode != 0:
            raise NotAGitRepositoryError(
                f"the repository at {layout.toplevel} has no commit yet; make a first commit, "
                "or use isolation='shared'"
            )
        symbolic = await self._git("symbolic-ref", "-q", "HEAD", check=False)
        if symbolic.returncode != 0:
            raise DetachedHeadError(
                f"HEAD is detached at {head.stdout.strip()[:12]} in {layout.toplevel}: check out "
                "the branch the tasks should be integrated into, then start the run"
            )
        branch = symbolic.stdout.strip().removeprefix("refs/heads/")
        if layout.prefix:
            ignored = await self._git("check-ignore", "-q", "--", layout.prefix, check=False)
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
        recovery = await self._recover(layout, branch, stale_locks_before)
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

    async def _discover(self) -> _Layout:
        """Find the repository around the project root (cached for this manager)."""
        if self._layout is not None:
            return self._layout
        result = await run_git(
            "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir",
            "--git-common-dir", "--show-prefix",
            cwd=self.project_root, timeout=self.timeout, check=False,
        )  # fmt: skip
        lines = result.stdout.splitlines()
        if result.returncode != 0 or len(lines) < 3:
            said = result.stderr.strip() or "no work tree"
            raise NotAGitRepositoryError(
                f"{self.project_root} is not inside a git repository with a working tree "
                f"({said}); run `git init` and commit, or use isolation='shared'"
            )
        toplevel, git_dir, common_dir = (Path(line) for line in lines[:3])
        prefix = lines[3].strip("/") if len(lines) > 3 else ""
        root = toplevel / prefix if prefix else toplevel
        folder = resolved(self.folder if self.folder.is_absolute() else root / self.folder)
        exclude = await self._git("rev-parse", "--path-format=absolute", "--git-path",
                                  "info/exclude", cwd=toplevel)  # fmt: skip
        self._layout = _Layout(
            toplevel=toplevel,
            git_dir=git_dir,
            common_dir=common_dir,
            prefix=prefix,
            folder=folder,
            exclude_file=Path(exclude.stdout.strip()),
        )
        return self._layout

    async def _recover(
        self, layout: _Layout, branch: str, stale_locks_before: float | None
    ) -> Recovery:
        """Clear what a killed run left; adopt its idle worktrees and note its kept ones."""
        recovery = recover_our_locks(layout.common_dir, layout.folder, self.branch_prefix)
        user = recover_user_locks(layout.git_dir, layout.common_dir, branch, stale_locks_before)
        recovery.removed.extend(user.removed)
        recovery.left.extend(user.left)
        for path in recovery.half_made:
            async with admin_lock(layout.common_dir).exclusive():
                removal = await self._git("worktree", "remove", "--force", str(path),
                                          check=False, whole=True)  # fmt: skip
            if removal.returncode == 0:
                recovery.removed.append(f"{path}: a worktree whose creation was interrupted")
            else:
                logger.warning("could not remove half-made worktree %s: %s", path,
                               removal.stderr.strip())  # fmt: skip
        await self._prune()
        self._pool = []
        self._kept = {}
        for entry in await self._worktrees():
            path = Path(entry.path)
            if not self._is_ours(path, layout) or entry.prunable:
                continue
            task = self._task_of(entry.branch)
            if entry.branch is None:
                self._pool.append(path)
            elif task is not None:
                self._kept[task] = path
        for line in recovery.removed:
            logger.warning("recovered from an earlier run: removed %s", line)
        for line in recovery.left:
            logger.warning("found %s", line)
        return recovery

    async def _dirty_paths(self, layout: _Layout) -> tuple[str, ...]:
        status = await self._git(
            "--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all",
            "--", layout.prefix or ".",
        )  # fmt: skip
        return parse_status_paths(status.stdout)

    async def _commit_dirty(self, layout: _Layout) -> str:
        spec = layout.prefix or "."
        await self._git("--literal-pathspecs", "add", "-A", "--", spec, whole=True)
        await self._git("--literal-pathspecs", "commit", "-q", "--no-verify", "-m",
                        _DIRTY_MESSAGE, "--", spec, whole=True)  # fmt: skip
        head = await self._git("rev-parse", "--verify", "HEAD^{commit}")
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
        _, layout, bases = self._open()
        task = _task_id(task_id)
        if task in self._active or task in self._starting:
            raise WorkspaceError(f"task {task} already has a worktree in this run")
        self._starting.add(task)
        try:
            base = await bases.build(dependencies)
            branch = f"{self.branch_prefix}{task}"
            path = await self._check_out(task, branch, base, layout)
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
        self._active[task] = _Active(worktree, base)
        return worktree

    async def _check_out(self, task: str, branch: str, base: str, layout: _Layout) -> Path:
        """A worktree on ``branch`` at ``base`` with nothing else in it: reused, or new."""
        path = self._kept.pop(task, None)
        if path is None and self._pool:
            path = self._pool.pop()
        if path is None:
            path = self._new_slot(layout)
            try:
                # Only the registration is exclusive; the files are written after it.
                async with admin_lock(layout.common_dir).exclusive():
                    await self._git("worktree", "add", "-q", "--no-checkout", "-B", branch,
                                    str(path), base, whole=True)  # fmt: skip
            except GitError as exc:
                holder = await self._idle_holder(branch, exc)
                if holder is None:
                    raise
                path = holder
            else:
                try:
                    await self._task_git(path, branch, "reset", "-q", "--hard")
                except BaseException:
                    self._kept[task] = path  # registered, files incomplete: a reset repairs it
                    raise
                return path
        try:
            await self._reset(path, branch, base)
        except GitError as exc:
            holder = await self._idle_holder(branch, exc)
            if holder is None:
                self._kept[task] = path
                raise
            self._pool.append(path)
            path = holder
            await self._reset(path, branch, base)
        except BaseException:
            # Cancelled half way: it may be on the branch already; close_run judges it by
            # its HEAD (detached: removed; on a task branch: kept for the next run).
            self._kept[task] = path
            raise
        return path

    async def _reset(self, path: Path, branch: str, base: str) -> None:
        async with admin_lock(self._require_layout().common_dir).shared():
            await self._task_git(path, branch, "checkout", "-q", "-f", "-B", branch, base)
        # -x too: a previous task's ignored files (caches, build output) must not leak in.
        await self._task_git(path, branch, "clean", "-ffdxq")

    async def _idle_holder(self, branch: str, error: GitError) -> Path | None:
        """The idle worktree of ours that has ``branch`` checked out, when that blocked us.

        Our bookkeeping can lag git's (a task cancelled while its worktree was being set
        up); git's refusal names the holder, and an idle one of ours can simply be used.
        """
        if "already" not in error.stderr:
            return None
        layout = self._require_layout()
        busy = {active.worktree.path for active in self._active.values()}
        for entry in await self._worktrees():
            path = Path(entry.path)
            if entry.branch == f"refs/heads/{branch}" and self._is_ours(path, layout):
                if path in busy:
                    return None
                self._kept = {task: kept for task, kept in self._kept.items() if kept != path}
                if path in self._pool:
                    self._pool.remove(path)
                return path
        return None

    def _new_slot(self, layout: _Layout) -> Path:
        registered = {*self._pool, *self._kept.values()}
        registered.update(active.worktree.path for active in self._active.values())
        while True:
            self._slots += 1
            path = layout.folder / f"slot-{self._slots}"
            if path not in registered and not path.exists():
                return path

    # -- committing ----------------------------------------------------------------------

    async def commit(
        self, wt: TaskWorktree, *, attempts: int, tokens: int, title: str | None = None
    ) -> CommitInfo:
        """Commit everything in the task's worktree (``git add -A``), even an empty change.

        The message is the title (``wt.title`` unless given), a blank line, and the
        ``Codeframe-Task``/``Codeframe-Attempts``/``Codeframe-Tokens`` trailers.
        """
        active = self._active_entry(wt)
        message = task_commit_message(
            wt.title if title is None else title, wt.task_id, attempts=attempts, tokens=tokens
        )
        await self._task_git(wt.path, wt.branch, "add", "-A")
        # Porcelain commit: one process does what write-tree, commit-tree and update-ref do.
        await self._task_git(wt.path, wt.branch, "commit", "-q", "--allow-empty", "--no-verify",
                             "--cleanup=verbatim", "-F", "-", stdin=message)  # fmt: skip
        shown = await self._git("diff-tree", "-r", "--numstat", "-z", "--no-renames", "--always",
                                "--format=%H %P", "HEAD", cwd=wt.path)  # fmt: skip
        sha, parents, files, insertions, deletions = parse_commit_stats(shown.stdout)
        parent = parents[0] if parents else ""
        if parent != active.head:
            logger.warning("task %s: its branch had moved from %s to %s before the commit",
                           wt.task_id, active.head[:12], parent[:12])  # fmt: skip
        active.head = sha
        return CommitInfo(
            sha=sha,
            branch=wt.branch,
            message=message,
            files=files,
            insertions=insertions,
            deletions=deletions,
            task_id=wt.task_id,
            parent=parent,
        )

    # -- integrating ---------------------------------------------------------------------

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
        run, layout, _ = self._open()
        async with integration_lock(layout.common_dir):
            for _ in range(_INTEGRATION_ATTEMPTS):
                holder = next(
                    (entry for entry in await self._worktrees() if entry.branch == run.ref), None
                )
                if holder is not None and holder.head is not None:
                    tip = holder.head
                else:
                    tip = (await self._git("rev-parse", "--verify", run.ref)).stdout.strip()
                fast_forward = commit.parent == tip
                if fast_forward:
                    new = commit.sha
                else:
                    merged = await self._git(
                        "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages",
                        tip, commit.sha, check=False,
                    )  # fmt: skip
                    if merged.returncode not in (0, 1):
                        raise command_error(("merge-tree", tip, commit.sha), merged)
                    tree, conflicts = parse_merge_tree(merged.stdout)
                    if merged.returncode == 1:
                        others = await self._tasks_touching(conflicts, run.base, tip)
                        return Conflict(conflicts, tuple(t for t in others if t != wt.task_id))
                    subject = subject_line(wt.title, wt.task_id)
                    made = await self._git(
                        "commit-tree", tree, "-p", tip, "-p", commit.sha, "-F", "-",
                        stdin=f"Merge {wt.branch}: {subject}\n",
                    )  # fmt: skip
                    new = made.stdout.strip()
                if await self._move_branch(run, holder, tip, new):
                    self._integrated[wt.branch] = commit.sha
                    return Integrated(new, fast_forward=fast_forward)
                logger.info("%s moved while %s was integrated; trying again", run.branch, wt.branch)
        raise WorkspaceError(
            f"{run.branch} kept moving while {wt.branch} was integrated; "
            f"its commit {commit.sha[:12]} is on {wt.branch}"
        )

    async def _move_branch(
        self, run: RunBase, holder: WorktreeEntry | None, tip: str, new: str
    ) -> bool:
        """Point the integration branch at ``new``; False if it moved away from ``tip``."""
        if holder is None:
            moved = await self._git("update-ref", "-m", "codeframe: integrate", run.ref, new, tip,
                                    check=False, whole=True)  # fmt: skip
            if moved.returncode == 0:
                return True
            if any(text in moved.stderr for text in _REF_MOVED):
                return False
            raise command_error(("update-ref", run.ref, new, tip), moved)
        # Once git starts updating the user's files it must finish: a cancel waits for it.
        async with admin_lock(self._require_layout().common_dir).shared():
            merged = await self._git(
                "merge", "--ff-only", "-q", new, cwd=Path(holder.path), check=False, whole=True
            )
        if merged.returncode == 0:
            return True
        refused = parse_refused_paths(merged.stderr)
        if refused:
            raise IntegrationRefusedError(
                f"git would not update {holder.path}: local changes there touch "
                f"{', '.join(refused)}, which the task changed; commit or stash them. Nothing "
                f"was changed and {run.branch} is still at {tip[:12]}",
                branch=run.branch,
                paths=refused,
            )
        if any(text in merged.stderr for text in _NOT_FAST_FORWARD):
            return False
        raise command_error(("merge", "--ff-only", new), merged)

    async def _tasks_touching(self, paths: Sequence[str], since: str, tip: str) -> tuple[str, ...]:
        """Ids (oldest first) from the task trailers of commits in since..tip touching ``paths``."""
        log = await self._git(
            "--literal-pathspecs", "log", "--no-merges", "--full-history",
            f"--format=%(trailers:key={TRAILER_TASK},valueonly)", f"{since}..{tip}", "--",
            *paths,
        )  # fmt: skip
        return parse_trailer_values(log.stdout)

    # -- releasing and closing -----------------------------------------------------------

    async def release(self, wt: TaskWorktree, *, keep: bool) -> None:
        """Done with a task's worktree: ``keep`` leaves it and its branch for inspection.

        Otherwise it goes back to the pool for the next task (HEAD detached, so its branch
        is free); its branch stays until :meth:`close_run` (integrated) or :meth:`cleanup`.
        """
        active = self._active.pop(wt.task_id, None)
        if active is None:
            raise WorkspaceError(f"task {wt.task_id} has no worktree in use")
        if keep:
            self._kept[wt.task_id] = wt.path
            return
        if not self.reuse_worktrees:
            await self._remove_worktrees([wt.path])
            return
        try:
            await self._task_git(wt.path, wt.branch, "update-ref", "--no-deref", "-m",
                                 "codeframe: idle", "HEAD", active.head)  # fmt: skip
        except BaseException:
            self._kept[wt.task_id] = wt.path  # still on its branch; close_run judges it
            raise
        self._pool.append(wt.path)

    async def close_run(self) -> None:
        """End the run: remove idle worktrees and integrated tasks' branches, prune.

        Afterwards ``git worktree list`` shows the user's checkouts and the kept worktrees
        (blocked, failed, or still in use) only, and nothing of ours is locked.
        """
        if self._run is None:
            return
        run, layout, _ = self._open()
        busy = {active.worktree.path for active in self._active.values()}
        entries = await self._worktrees()
        idle = [
            Path(entry.path)
            for entry in entries
            if entry.branch is None
            and self._is_ours(Path(entry.path), layout)
            and Path(entry.path) not in busy
        ]
        await self._remove_worktrees(idle)
        held = {entry.branch for entry in entries if entry.branch is not None}
        integrated = {
            f"refs/heads/{branch}": sha
            for branch, sha in self._integrated.items()
            if f"refs/heads/{branch}" not in held
        }
        await self._delete_branches(integrated)
        await self._prune()
        remove_empty_folder(layout.folder)
        if self._active:
            # Their tasks never said they were done: keep them, like a blocked task's.
            logger.info("closing the run with %d worktrees still in use; they are kept",
                        len(self._active))  # fmt: skip
        logger.debug("closed the run on %s (base %s)", run.branch, run.base[:12])
        self._run = None
        self._bases = None
        self._pool = []
        self._kept = {}
        self._active = {}
        self._integrated = {}

    async def cleanup(self, task_ids: Iterable[int | str] | None = None) -> list[RemovedWorkspace]:
        """Remove the worktrees and branches of the given tasks, or of every task not in use.

        Worktrees locked by the user (``git worktree lock``) are left alone. Works with or
        without an open run.
        """
        layout = await self._discover()
        wanted = None if task_ids is None else {_task_id(task) for task in task_ids}
        busy = {active.worktree.path for active in self._active.values()}
        entries = await self._worktrees()
        removed: dict[str, RemovedWorkspace] = {}
        doomed: list[Path] = []
        held: set[str] = set()
        for entry in entries:
            path = Path(entry.path)
            task = self._task_of(entry.branch)
            chosen = wanted is None or task in wanted
            if not self._is_ours(path, layout) or path in busy or entry.locked is not None:
                chosen = False
            if not chosen:
                if entry.branch is not None:
                    held.add(entry.branch)
                continue
            doomed.append(path)
            key = task if task is not None else str(path)
            removed[key] = RemovedWorkspace(task, _short(entry.branch), path)
        await self._remove_worktrees(doomed)
        self._pool = [path for path in self._pool if path not in doomed]
        self._kept = {task: path for task, path in self._kept.items() if path not in doomed}
        refs = await self._git(
            "for-each-ref", "--format=%(refname) %(objectname)",
            f"refs/heads/{self.branch_prefix.rpartition('/')[0]}",
        )  # fmt: skip
        branches: dict[str, str] = {}
        for line in refs.stdout.splitlines():
            ref, _, sha = line.partition(" ")
            task = self._task_of(ref)
            if task is None or ref in held or (wanted is not None and task not in wanted):
                continue
            branches[ref] = sha
            if task not in removed:
                removed[task] = RemovedWorkspace(task, _short(ref), None)
        await self._delete_branches(branches)
        await self._prune()
        return list(removed.values())

    async def _remove_worktrees(self, paths: Sequence[Path]) -> None:
        for path in paths:
            async with admin_lock(self._require_layout().common_dir).exclusive():
                done = await self._git("worktree", "remove", "--force", str(path), check=False,
                                       whole=True)  # fmt: skip
            if done.returncode != 0:
                logger.warning("could not remove worktree %s: %s", path, done.stderr.strip())

    async def _delete_branches(self, refs: Mapping[str, str]) -> None:
        """Delete ``refs`` (guarded by the commit each should still be at) in one go."""
        if not refs:
            return
        commands = "".join(f"delete {ref} {sha}\n" for ref, sha in refs.items())
        done = await self._git("update-ref", "--stdin", stdin=commands, check=False, whole=True)
        if done.returncode == 0:
            return
        # One moved (the user committed on it?): delete the others, keep that one.
        for ref, sha in refs.items():
            one = await self._git("update-ref", "-d", ref, sha, check=False, whole=True)
            if one.returncode != 0:
                logger.warning("kept branch %s: %s", _short(ref), one.stderr.strip())

    # -- helpers -------------------------------------------------------------------------

    async def _prune(self) -> None:
        async with admin_lock(self._require_layout().common_dir).exclusive():
            await self._git("worktree", "prune", whole=True)

    async def _worktrees(self) -> list[WorktreeEntry]:
        async with admin_lock(self._require_layout().common_dir).shared():
            listing = await self._git("worktree", "list", "--porcelain", "-z")
        return parse_worktree_list(listing.stdout)

    def _is_ours(self, path: Path, layout: _Layout) -> bool:
        return path != layout.toplevel and is_inside(path, layout.folder)

    def _task_of(self, ref: str | None) -> str | None:
        """The task id in a task branch's ref name, or None for any other ref."""
        if ref is None:
            return None
        name = ref.removeprefix("refs/heads/")
        if not name.startswith(self.branch_prefix):
            return None
        task = name.removeprefix(self.branch_prefix)
        return task if is_task_id(task) else None

    def _active_entry(self, wt: TaskWorktree) -> _Active:
        active = self._active.get(wt.task_id)
        if active is None or active.worktree.path != wt.path:
            raise WorkspaceError(f"task {wt.task_id} has no worktree in use at {wt.path}")
        return active

    def _open(self) -> tuple[RunBase, _Layout, BaseBuilder]:
        if self._run is None or self._bases is None or self._layout is None:
            raise WorkspaceError("no run is open; call open_run() first")
        return self._run, self._layout, self._bases

    def _require_layout(self) -> _Layout:
        if self._layout is None:
            raise WorkspaceError("the repository has not been found yet")
        return self._layout

    async def _git(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        stdin: str | None = None,
        whole: bool = False,
    ) -> GitResult:
        """Run git with our identity, in the user's checkout unless ``cwd`` says otherwise.

        ``whole=True`` for commands on shared state: a cancel waits for them to finish.
        """
        where = cwd if cwd is not None else self._require_layout().toplevel
        run = run_git_uncancelled if whole else run_git
        return await run(
            *args, cwd=where, env=self._env, timeout=self.timeout, check=check, stdin=stdin
        )

    async def _task_git(
        self, worktree: Path, branch: str, *args: str, stdin: str | None = None
    ) -> GitResult:
        """Run git in a task's own worktree; if it is cut short, clear the locks it left.

        git removes its locks on SIGTERM, but not always; only this task works in this
        worktree and on this branch, and the command is dead by now, so its locks are stale.
        """
        try:
            return await self._git(*args, cwd=worktree, stdin=stdin)
        except (asyncio.CancelledError, GitTimeoutError):
            layout = self._require_layout()
            for line in clear_task_locks(worktree, layout.common_dir, branch):
                logger.info("cleared after an interrupted git %s: %s", args[0], line)
            raise


def _task_id(task_id: int | str) -> str:
    text = str(task_id)
    if not is_task_id(text):
        raise InvalidInputError(
            f"task id {text!r} cannot name a branch: use letters, digits, '_' and '-'"
        )
    return text


def _short(ref: str | None) -> str | None:
    return None if ref is None else ref.removeprefix("refs/heads/")


__all__ = ["DEFAULT_BRANCH_PREFIX", "DEFAULT_FOLDER", "WorktreeManager"]
