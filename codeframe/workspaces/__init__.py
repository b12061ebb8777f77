"""Task isolation on git: a worktree per task, a commit per passing task, safe merges.

Everything goes through the ``git`` command line, run as asyncio subprocesses.
"""

from codeframe.workspaces.git import (
    MIN_GIT_VERSION,
    GitIdentity,
    GitResult,
    git_environment,
    require_git,
    run_git,
    run_git_uncancelled,
)
from codeframe.workspaces.models import (
    CommitInfo,
    Conflict,
    Integrated,
    RemovedWorkspace,
    RunBase,
    TaskWorktree,
)
from codeframe.workspaces.worktrees import WorktreeManager

__all__ = [
    "MIN_GIT_VERSION",
    "CommitInfo",
    "Conflict",
    "GitIdentity",
    "GitResult",
    "Integrated",
    "RemovedWorkspace",
    "RunBase",
    "TaskWorktree",
    "WorktreeManager",
    "git_environment",
    "require_git",
    "run_git",
    "run_git_uncancelled",
]
