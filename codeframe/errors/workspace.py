"""The errors of git worktree isolation: git itself, and what isolation cannot do here."""

from __future__ import annotations

from codeframe.errors.base import CodeframeError


class WorkspaceError(CodeframeError):
    """Git worktree isolation could not do what was asked; nothing was half done."""


class GitError(WorkspaceError):
    """A git command failed; ``command``, ``returncode`` and ``stderr`` say how."""

    def __init__(
        self,
        message: str,
        *,
        command: tuple[str, ...] = (),
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


class GitTimeoutError(GitError, TimeoutError):
    """A git command ran past its timeout; it was killed and reaped."""


class WorkspaceUnavailableError(WorkspaceError):
    """Worktree isolation is impossible for this project; run it with ``isolation='shared'``."""


class GitNotFoundError(WorkspaceUnavailableError):
    """No ``git`` executable on PATH."""


class GitVersionError(WorkspaceUnavailableError):
    """The installed git is too old for the commands isolation needs."""


class NotAGitRepositoryError(WorkspaceUnavailableError):
    """The project root is not inside a git repository, or the repository has no commit yet."""


class DetachedHeadError(WorkspaceError):
    """The checkout has a detached HEAD, so there is no branch to integrate tasks into."""


class DirtyWorkingTreeError(WorkspaceError):
    """Uncommitted changes at run start; ``paths`` lists them (repository-relative)."""

    def __init__(self, message: str, *, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.paths = paths


class BaseConflictError(WorkspaceError):
    """A task's dependency commits do not apply cleanly on top of each other.

    ``commit`` is the dependency commit that failed to apply, ``paths`` the files in conflict.
    """

    def __init__(self, message: str, *, commit: str = "", paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.commit = commit
        self.paths = paths


class IntegrationRefusedError(WorkspaceError):
    """Git refused to update the checkout: local changes there touch files the task changed.

    Nothing was changed: the checkout, its index and the integration branch are as they were,
    and the task's commit stays on its branch. ``paths`` names the files in the way.
    """

    def __init__(self, message: str, *, branch: str = "", paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.branch = branch
        self.paths = paths


__all__ = [
    "BaseConflictError",
    "DetachedHeadError",
    "DirtyWorkingTreeError",
    "GitError",
    "GitNotFoundError",
    "GitTimeoutError",
    "GitVersionError",
    "IntegrationRefusedError",
    "NotAGitRepositoryError",
    "WorkspaceError",
    "WorkspaceUnavailableError",
]
