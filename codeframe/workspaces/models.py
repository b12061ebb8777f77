"""The values the worktree layer hands back: a run's base, a task's worktree, a commit, a merge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RunBase:
    """Where a run starts: the integration branch and the commit every task's base builds on."""

    repo_root: Path  # top level of the user's checkout
    project_root: Path
    project_prefix: str  # the project root inside the repository, POSIX, "" at the top
    branch: str  # the integration branch, e.g. "main"
    base: str  # the commit the run started from
    worktrees_folder: Path
    dirty_commit: str | None = None  # the commit made of uncommitted work (commit_dirty=True)
    recovered: tuple[str, ...] = ()  # leftovers of an earlier run removed, one line each

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


@dataclass(frozen=True, slots=True)
class TaskWorktree:
    """A task's own checkout: its project root is where the task's files and tests live."""

    task_id: str
    title: str
    path: Path  # the worktree's top level
    project_root: Path  # the project root inside the worktree
    branch: str  # short name, e.g. "codeframe/task-7"
    base: str  # the commit the worktree was reset to: run base plus dependencies


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """A task's commit. ``files`` are repository-relative POSIX paths."""

    sha: str
    branch: str
    message: str
    files: tuple[str, ...]
    insertions: int
    deletions: int
    task_id: str = ""
    parent: str = ""


@dataclass(frozen=True, slots=True)
class Integrated:
    """The task's commit is in the integration branch, which now points at ``sha``.

    ``fast_forward`` is true when the branch moved straight to the task's commit (nothing
    else had been integrated since its base); otherwise ``sha`` is a merge commit.
    """

    sha: str
    fast_forward: bool = False


@dataclass(frozen=True, slots=True)
class Conflict:
    """The task's commit conflicts with the integration branch; nothing was changed.

    ``other_task_ids`` are the tasks whose integrated commits (since the run's base) touched
    the conflicting ``paths``; it is empty when only non-task commits did.
    """

    paths: tuple[str, ...]
    other_task_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemovedWorkspace:
    """What :meth:`WorktreeManager.cleanup` removed: a worktree, a branch, or both."""

    task_id: str | None  # None for an idle pooled worktree
    branch: str | None
    path: Path | None


__all__ = ["CommitInfo", "Conflict", "Integrated", "RemovedWorkspace", "RunBase", "TaskWorktree"]
