"""The exception tree of codeframe.

Every error we raise derives from :class:`CodeframeError`, so ``except CodeframeError``
catches all of ours and nothing else. Where an error is also a familiar built-in kind,
it derives from that too, so code that expects the built-in keeps working::

    CodeframeError
    ├── NotFoundError            (+ ValueError)    unknown project / issue / task / blocker id
    ├── InvalidInputError        (+ ValueError)    a value outside what the schema allows
    ├── DuplicateError           (+ sqlite3.IntegrityError)  e.g. an issue number used twice
    ├── SchemaError                                a database file we must not touch
    ├── DatabaseReadOnlyError (+ sqlite3.OperationalError)  a database we cannot write to
    ├── DatabaseBusyError    (+ sqlite3.OperationalError)  locked by another connection; retry
    ├── DatabaseCommitError  (+ sqlite3.OperationalError)  writes made but lost: their commit failed
    ├── RunInProgressError   (+ RuntimeError)      a live run holds the project or its folder
    ├── FileChangeError                            a change set that cannot be applied
    │   ├── UnsafePathError      (+ ValueError)    absolute path, traversal, .git/, outside area
    │   ├── MissingFileError     (+ FileNotFoundError)  modify/delete of a missing file
    │   ├── ContentTooLargeError (+ ValueError)    content over the size cap
    │   └── FileRecoveryError                      a crashed group's journal we could not finish
    ├── ResponseFormatError      (+ ValueError)    a model reply we cannot use
    ├── JUnitFormatError         (+ ValueError)    a JUnit report we cannot read
    ├── ClaudeTimeoutError       (+ TimeoutError)  a Claude call passed the worker's timeout
    ├── MissingAPIKeyError                         live Claude asked for with no key
    ├── RunnerUnavailableError                     the test runner could not run pytest at all
    ├── DependencyCycleError     (+ ValueError)    circular task dependencies
    ├── IllegalTransitionError                     a task status change its lifecycle forbids
    ├── UnknownAgentTypeError    (+ ValueError)    a worker type that does not exist
    ├── PoolCapacityError        (+ RuntimeError)  the agent pool is full
    ├── UnknownAgentError        (+ KeyError)      an agent id that is not in the pool
    ├── RunTimeoutError          (+ TimeoutError)  a lead-agent run passed its deadline
    ├── TaskTimeoutError         (+ TimeoutError)  one task ran past its run's task_timeout
    ├── MissingProjectRootError  (+ FileNotFoundError)  the project folder does not exist
    ├── BudgetExceededError                        the next call could pass a task's or run's budget
    ├── ScriptMissError                            a scripted client has no reply
    ├── DemoWorkdirError         (+ FileExistsError)  a demo folder we will not wipe
    ├── DemoScriptError          (+ ValueError)    a malformed folder of demo replies
    ├── ReplayMissError                            a cassette has no recording
    ├── InputFileError           (+ ValueError)    a task list or prices file we cannot use
    ├── CommandLineError                           a command that cannot run as given (exit 2)
    ├── UnsupportedPlatformError                   e.g. the test runner on Windows
    └── WorkspaceError                             worktree isolation could not do what was asked
        ├── GitError                               a git command failed: .command, .stderr
        │   └── GitTimeoutError  (+ TimeoutError)  ...ran past its timeout and was killed
        ├── WorkspaceUnavailableError              no isolation here: use isolation='shared'
        │   ├── GitNotFoundError                   git is not installed or not on PATH
        │   ├── GitVersionError                    git older than 2.38 (no merge-tree --write-tree)
        │   └── NotAGitRepositoryError             outside a repository, or no commit yet
        ├── DetachedHeadError                      no branch checked out to integrate into
        ├── DirtyWorkingTreeError                  uncommitted changes at run start: .paths
        ├── BaseConflictError                      dependency commits do not combine: .paths
        └── IntegrationRefusedError                local changes block the checkout's update: .paths

The root lives in :mod:`.base` and the worktree-isolation branch in :mod:`.workspace`;
every class is importable from here.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from codeframe.errors.base import CodeframeError
from codeframe.errors.workspace import (
    BaseConflictError,
    DetachedHeadError,
    DirtyWorkingTreeError,
    GitError,
    GitNotFoundError,
    GitTimeoutError,
    GitVersionError,
    IntegrationRefusedError,
    NotAGitRepositoryError,
    WorkspaceError,
    WorkspaceUnavailableError,
)


class NotFoundError(CodeframeError, ValueError):
    """An operation named a project, issue, task or blocker that does not exist."""


class InvalidInputError(CodeframeError, ValueError):
    """A value is outside what the data model allows (status, priority, ...)."""


class DuplicateError(CodeframeError, sqlite3.IntegrityError):
    """A row would break a uniqueness rule (e.g. an issue number used twice)."""


class SchemaError(CodeframeError):
    """A database file whose schema we do not recognise; we refuse to alter it."""


class DatabaseReadOnlyError(CodeframeError, sqlite3.OperationalError):
    """The database file, its folder or its file system cannot be written; nothing was changed.

    Distinct from "not a SQLite database": the file may be perfectly good, so a user must not
    be led to delete it.
    """

    retryable = False


class DatabaseBusyError(CodeframeError, sqlite3.OperationalError):
    """Another connection held SQLite's lock past the busy timeout; the write did not happen.

    Transient by nature: the same write usually succeeds a moment later, which is what
    :func:`codeframe.persistence.retry.retry_when_busy` does without blocking the event loop.
    """

    retryable = True


class DatabaseCommitError(CodeframeError, sqlite3.OperationalError):
    """Writes that had been made (their methods returned) were rolled back: their commit failed.

    Inside an event loop the writes of one loop iteration are committed together at its
    end; when SQLite rolls that transaction back instead (a full disk, an I/O error), the
    next write, ``flush()`` or ``close()`` raises this, so the loss is never silent.
    """

    retryable = False


class RunInProgressError(CodeframeError, RuntimeError):
    """A live run already holds the project (or another project using the same folder).

    The message names the holding process, the age of its last heartbeat and how to take
    over; ``project_id``, ``run_id`` and ``pid`` identify the holder when known.
    """

    def __init__(
        self,
        message: str,
        *,
        project_id: int | None = None,
        run_id: int | None = None,
        pid: int | None = None,
    ) -> None:
        super().__init__(message)
        self.project_id = project_id
        self.run_id = run_id
        self.pid = pid


class FileChangeError(CodeframeError):
    """A group of file changes that cannot be applied; nothing was written."""


class UnsafePathError(FileChangeError, ValueError):
    """A path that is absolute, escapes the project, touches .git/ or leaves the allowed area."""


class MissingFileError(FileChangeError, FileNotFoundError):
    """``modify`` or ``delete`` of a file that does not exist."""


class ContentTooLargeError(FileChangeError, ValueError):
    """File content over the configured size cap."""


class FileRecoveryError(FileChangeError):
    """An interrupted group left by a crash could not be fully undone; its journal is kept.

    ``report`` is the :class:`~codeframe.core.file_journal.RecoveryReport` of what was done.
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ResponseFormatError(CodeframeError, ValueError):
    """A model reply that cannot be turned into file changes (truncated, not JSON, wrong shape)."""


class JUnitFormatError(CodeframeError, ValueError):
    """A JUnit XML report that cannot be read; the runner reports it as a runner error."""


class ClaudeTimeoutError(CodeframeError, TimeoutError):
    """A Claude call did not answer within the worker's ``timeout``."""


class MissingAPIKeyError(CodeframeError):
    """A worker needs the live Claude client but no key was given or set."""

    retryable = False


class RunnerUnavailableError(CodeframeError):
    """pytest could not run at all (missing interpreter or plugin); the model cannot mend that."""

    retryable = False


class DependencyCycleError(CodeframeError, ValueError):
    """Task dependencies that form a cycle; the message names it."""


class IllegalTransitionError(CodeframeError):
    """A task status change its lifecycle does not allow from the task's current status."""

    def __init__(self, task_id: int, current: str, target: str, transition: str = "") -> None:
        how = f" ({transition})" if transition else ""
        super().__init__(f"task {task_id} cannot go from {current} to {target}{how}")
        self.task_id = task_id
        self.current = current
        self.target = target
        self.transition = transition


class UnknownAgentTypeError(CodeframeError, ValueError):
    """A worker type other than backend, frontend or test (or their seed aliases)."""


class PoolCapacityError(CodeframeError, RuntimeError):
    """The agent pool holds ``max_agents`` agents and none can make room."""


class UnknownAgentError(CodeframeError, KeyError):
    """An agent id that is not in the pool."""

    def __str__(self) -> str:
        # KeyError would show the message in quotes.
        return str(self.args[0]) if self.args else ""


class RunTimeoutError(CodeframeError, TimeoutError):
    """A lead-agent run passed its deadline; ``summary`` holds what was done."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class TaskTimeoutError(CodeframeError, TimeoutError):
    """One task ran past its run's ``task_timeout``; a retry may still finish it."""


class MissingProjectRootError(CodeframeError, FileNotFoundError):
    """The project folder agents would work in does not exist (checked before any model call)."""

    retryable = False


class BudgetExceededError(CodeframeError):
    """The next model call could take a task (``scope="task"``) or a run past its budget.

    The call is not made; the task is blocked with a budget blocker asking ``question``.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        spent: float,
        limit: float,
        estimate: float,
        question: str = "",
    ) -> None:
        super().__init__(message)
        self.scope, self.spent, self.limit, self.estimate = scope, spent, limit, estimate
        self.question = question


class DemoWorkdirError(CodeframeError, FileExistsError):
    """The demo's work folder exists, is not empty and is not one of ours; we will not wipe it."""


class DemoScriptError(CodeframeError, ValueError):
    """The demo's reply folder does not say which files a scripted reply sends, or how."""


class ScriptMissError(CodeframeError):
    """A scripted client received a prompt that no rule matches and has no default."""


class ReplayMissError(CodeframeError):
    """A replay client received a request that its cassette does not hold."""


class InputFileError(CodeframeError, ValueError):
    """A task list or prices file that cannot be used; nothing was created or run.

    ``problems`` lists every problem found, each naming the entry and the field, so a user
    fixes the whole file in one go rather than one error per attempt.
    """

    def __init__(self, path: str, problems: list[str] | tuple[str, ...]) -> None:
        self.path = path
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"{path}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{path}: {len(self.problems)} problems:\n{listed}"
        super().__init__(message)


class CommandLineError(CodeframeError):
    """A ``codeframe`` command that cannot run as given: a missing folder, file or key.

    The command line reports it and exits with status 2, the usage-error status.
    """


class UnsupportedPlatformError(CodeframeError):
    """A feature that needs POSIX (process groups, signals) was used elsewhere."""


__all__ = [
    "BaseConflictError",
    "BudgetExceededError",
    "ClaudeTimeoutError",
    "CodeframeError",
    "CommandLineError",
    "ContentTooLargeError",
    "DatabaseBusyError",
    "DatabaseCommitError",
    "DatabaseReadOnlyError",
    "DemoScriptError",
    "DemoWorkdirError",
    "DependencyCycleError",
    "DetachedHeadError",
    "DirtyWorkingTreeError",
    "DuplicateError",
    "FileChangeError",
    "FileRecoveryError",
    "GitError",
    "GitNotFoundError",
    "GitTimeoutError",
    "GitVersionError",
    "IllegalTransitionError",
    "InputFileError",
    "IntegrationRefusedError",
    "InvalidInputError",
    "JUnitFormatError",
    "MissingAPIKeyError",
    "MissingFileError",
    "MissingProjectRootError",
    "NotAGitRepositoryError",
    "NotFoundError",
    "PoolCapacityError",
    "ReplayMissError",
    "ResponseFormatError",
    "RunInProgressError",
    "RunTimeoutError",
    "RunnerUnavailableError",
    "SchemaError",
    "ScriptMissError",
    "TaskTimeoutError",
    "UnknownAgentError",
    "UnknownAgentTypeError",
    "UnsafePathError",
    "UnsupportedPlatformError",
    "WorkspaceError",
    "WorkspaceUnavailableError",
]
