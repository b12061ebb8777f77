"""What runs leave behind: found when a run opens, removed when it closes or on request.

A killed run leaves locks, half-made worktrees and worktrees still on task branches; the
next run clears the first two and takes over the rest (idle ones into its pool, those on a
task branch kept for inspection). A run that ends removes its idle worktrees and the
branches of the tasks it integrated; :func:`remove_task_workspaces` removes the rest when
the user asks. The worktree list comes from git each time, as ours can lag it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from pathlib import Path

from codeframe.workspaces.housekeeping import (
    Recovery,
    recover_our_locks,
    recover_user_locks,
    remove_empty_folder,
)
from codeframe.workspaces.locks import admin_lock
from codeframe.workspaces.models import RemovedWorkspace
from codeframe.workspaces.pool import WorktreePool
from codeframe.workspaces.repository import Repository, short_ref

logger = logging.getLogger(__name__)


async def recover(
    repo: Repository,
    pool: WorktreePool,
    branch: str,
    stale_locks_before: float | None,
    *,
    made_after: float | None = None,
) -> Recovery:
    """Clear what a killed run left; adopt its idle worktrees and note its kept ones."""
    layout = repo.layout
    recovery = recover_our_locks(layout.common_dir, layout.folder, repo.branch_prefix)
    user = recover_user_locks(
        layout.git_dir, layout.common_dir, branch, stale_locks_before, made_after=made_after
    )
    recovery.removed.extend(user.removed)
    recovery.left.extend(user.left)
    for path in recovery.half_made:
        async with admin_lock(layout.common_dir).exclusive():
            removal = await repo.git("worktree", "remove", "--force", str(path),
                                     check=False, whole=True)  # fmt: skip
        if removal.returncode == 0:
            recovery.removed.append(f"{path}: a worktree whose creation was interrupted")
        else:
            logger.warning("could not remove half-made worktree %s: %s", path,
                           removal.stderr.strip())  # fmt: skip
    await repo.prune()
    pool.idle = []
    pool.kept = {}
    for entry in await repo.worktrees():
        path = Path(entry.path)
        if not repo.is_ours(path) or entry.prunable:
            continue
        task = repo.task_of(entry.branch)
        if entry.branch is None:
            pool.idle.append(path)
        elif task is not None:
            pool.kept[task] = path
    for line in recovery.removed:
        logger.warning("recovered from an earlier run: removed %s", line)
    for line in recovery.left:
        logger.warning("found %s", line)
    return recovery


async def remove_run_leftovers(
    repo: Repository, busy: Set[Path], integrated: Mapping[str, str]
) -> None:
    """At the end of a run: remove idle worktrees and integrated tasks' branches, prune.

    ``integrated`` maps each integrated task branch (short name) to the commit it should
    still be at; a branch some worktree still has checked out stays.
    """
    layout = repo.layout
    entries = await repo.worktrees()
    idle = [
        Path(entry.path)
        for entry in entries
        if entry.branch is None and repo.is_ours(Path(entry.path)) and Path(entry.path) not in busy
    ]
    await repo.remove_worktrees(idle)
    held = {entry.branch for entry in entries if entry.branch is not None}
    refs = {
        f"refs/heads/{branch}": sha
        for branch, sha in integrated.items()
        if f"refs/heads/{branch}" not in held
    }
    await repo.delete_branches(refs)
    await repo.prune()
    remove_empty_folder(layout.folder)


async def remove_task_workspaces(
    repo: Repository, pool: WorktreePool, wanted: Set[str] | None
) -> list[RemovedWorkspace]:
    """Remove the worktrees and branches of the ``wanted`` tasks (None: every task not in use).

    Worktrees in use, and those locked by the user (``git worktree lock``), are left alone.
    """
    busy = pool.busy()
    entries = await repo.worktrees()
    removed: dict[str, RemovedWorkspace] = {}
    doomed: list[Path] = []
    held: set[str] = set()
    for entry in entries:
        path = Path(entry.path)
        task = repo.task_of(entry.branch)
        chosen = wanted is None or task in wanted
        if not repo.is_ours(path) or path in busy or entry.locked is not None:
            chosen = False
        if not chosen:
            if entry.branch is not None:
                held.add(entry.branch)
            continue
        doomed.append(path)
        key = task if task is not None else str(path)
        removed[key] = RemovedWorkspace(task, short_ref(entry.branch), path)
    await repo.remove_worktrees(doomed)
    pool.forget(doomed)
    refs = await repo.git(
        "for-each-ref", "--format=%(refname) %(objectname)",
        f"refs/heads/{repo.branch_prefix.rpartition('/')[0]}",
    )  # fmt: skip
    branches: dict[str, str] = {}
    for line in refs.stdout.splitlines():
        ref, _, sha = line.partition(" ")
        task = repo.task_of(ref)
        if task is None or ref in held or (wanted is not None and task not in wanted):
            continue
        branches[ref] = sha
        if task not in removed:
            removed[task] = RemovedWorkspace(task, short_ref(ref), None)
    await repo.delete_branches(branches)
    await repo.prune()
    return list(removed.values())


__all__ = ["recover", "remove_run_leftovers", "remove_task_workspaces"]
