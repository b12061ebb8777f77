"""A passing task's commit, and its merge into the run's branch without touching user work.

The commit is made in the task's own worktree. The merge is computed with ``git
merge-tree --write-tree`` (no working tree), so a conflict changes nothing; the branch
then moves by ``git merge --ff-only`` in the checkout that has it (which refuses rather
than overwrite local changes) or by a guarded ``git update-ref`` elsewhere. Integrations
into one repository go one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from codeframe.errors import IntegrationRefusedError, WorkspaceError
from codeframe.workspaces.git import command_error
from codeframe.workspaces.locks import admin_lock, integration_lock
from codeframe.workspaces.models import CommitInfo, Conflict, Integrated, RunBase, TaskWorktree
from codeframe.workspaces.pool import ActiveWorktree
from codeframe.workspaces.porcelain import (
    TRAILER_TASK,
    WorktreeEntry,
    parse_commit_stats,
    parse_merge_tree,
    parse_refused_paths,
    parse_trailer_values,
    subject_line,
    task_commit_message,
)
from codeframe.workspaces.repository import Repository

logger = logging.getLogger(__name__)

# A branch that keeps moving under us (someone committing in a loop) is given up on.
_INTEGRATION_ATTEMPTS = 3
_NOT_FAST_FORWARD = ("Not possible to fast-forward", "not possible to fast-forward")
_REF_MOVED = ("but expected", "is at ")


async def commit_task(
    repo: Repository,
    wt: TaskWorktree,
    active: ActiveWorktree,
    *,
    attempts: int,
    tokens: int,
    title: str | None,
) -> CommitInfo:
    """Commit everything in the task's worktree (``git add -A``), even an empty change.

    ``active`` is the pool's record of the worktree: its head moves to the new commit.
    """
    message = task_commit_message(
        wt.title if title is None else title, wt.task_id, attempts=attempts, tokens=tokens
    )
    await repo.task_git(wt.path, wt.branch, "add", "-A")
    # Porcelain commit: one process does what write-tree, commit-tree and update-ref do.
    await repo.task_git(wt.path, wt.branch, "commit", "-q", "--allow-empty", "--no-verify",
                        "--cleanup=verbatim", "-F", "-", stdin=message)  # fmt: skip
    shown = await repo.git("diff-tree", "-r", "--numstat", "-z", "--no-renames", "--always",
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


async def integrate(
    repo: Repository, run: RunBase, wt: TaskWorktree, commit: CommitInfo
) -> Integrated | Conflict:
    """Move the run's branch to include ``commit``, or name the conflict and change nothing."""
    async with integration_lock(repo.layout.common_dir):
        for _ in range(_INTEGRATION_ATTEMPTS):
            holder = next(
                (entry for entry in await repo.worktrees() if entry.branch == run.ref), None
            )
            if holder is not None and holder.head is not None:
                tip = holder.head
            else:
                tip = (await repo.git("rev-parse", "--verify", run.ref)).stdout.strip()
            fast_forward = commit.parent == tip
            if fast_forward:
                new = commit.sha
            else:
                merged = await repo.git(
                    "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages",
                    tip, commit.sha, check=False,
                )  # fmt: skip
                if merged.returncode not in (0, 1):
                    raise command_error(("merge-tree", tip, commit.sha), merged)
                tree, conflicts = parse_merge_tree(merged.stdout)
                if merged.returncode == 1:
                    others = await _tasks_touching(repo, conflicts, run.base, tip)
                    return Conflict(conflicts, tuple(t for t in others if t != wt.task_id))
                subject = subject_line(wt.title, wt.task_id)
                made = await repo.git(
                    "commit-tree", tree, "-p", tip, "-p", commit.sha, "-F", "-",
                    stdin=f"Merge {wt.branch}: {subject}\n",
                )  # fmt: skip
                new = made.stdout.strip()
            if await _move_branch(repo, run, holder, tip, new):
                return Integrated(new, fast_forward=fast_forward)
            logger.info("%s moved while %s was integrated; trying again", run.branch, wt.branch)
    raise WorkspaceError(
        f"{run.branch} kept moving while {wt.branch} was integrated; "
        f"its commit {commit.sha[:12]} is on {wt.branch}"
    )


async def _move_branch(
    repo: Repository, run: RunBase, holder: WorktreeEntry | None, tip: str, new: str
) -> bool:
    """Point the integration branch at ``new``; False if it moved away from ``tip``."""
    if holder is None:
        moved = await repo.git("update-ref", "-m", "codeframe: integrate", run.ref, new, tip,
                               check=False, whole=True)  # fmt: skip
        if moved.returncode == 0:
            return True
        if any(text in moved.stderr for text in _REF_MOVED):
            return False
        raise command_error(("update-ref", run.ref, new, tip), moved)
    # Once git starts updating the user's files it must finish: a cancel waits for it.
    async with admin_lock(repo.layout.common_dir).shared():
        merged = await repo.git(
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


async def _tasks_touching(
    repo: Repository, paths: Sequence[str], since: str, tip: str
) -> tuple[str, ...]:
    """Ids (oldest first) from the task trailers of commits in since..tip touching ``paths``."""
    log = await repo.git(
        "--literal-pathspecs", "log", "--no-merges", "--full-history",
        f"--format=%(trailers:key={TRAILER_TASK},valueonly)", f"{since}..{tip}", "--",
        *paths,
    )  # fmt: skip
    return parse_trailer_values(log.stdout)


__all__ = ["commit_task", "integrate"]
