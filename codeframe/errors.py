"""The exception tree of codeframe.

Every error we raise derives from :class:`CodeframeError`, so ``except CodeframeError``
catches all of ours and nothing else. Where an error is also a familiar built-in kind,
it derives from that too, so code that expects the built-in keeps working::

    CodeframeError
    ├── NotFoundError            (+ ValueError)    unknown project / issue / task / blocker id
    ├── InvalidInputError        (+ ValueError)    a value outside what the schema allows
    ├── DuplicateError           (+ sqlite3.IntegrityError)  e.g. an issue number used twice
    ├── SchemaError                                a database file we must not touch
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
    ├── RunTimeoutError          (+ TimeoutError)  a lead-agent run passed its deadline
    ├── ScriptMissError                            a scripted client has no reply
    ├── DemoWorkdirError         (+ FileExistsError)  a demo folder we will not wipe
    ├── ReplayMissError                            a cassette has no recording
    └── UnsupportedPlatformError                   e.g. the test runner on Windows
"""

from __future__ import annotations

import sqlite3
from typing import Any


class CodeframeError(Exception):
    """Root of every error codeframe raises."""


class NotFoundError(CodeframeError, ValueError):
    """An operation named a project, issue, task or blocker that does not exist."""


class InvalidInputError(CodeframeError, ValueError):
    """A value is outside what the data model allows (status, priority, ...)."""


class DuplicateError(CodeframeError, sqlite3.IntegrityError):
    """A row would break a uniqueness rule (e.g. an issue number used twice)."""


class SchemaError(CodeframeError):
    """A database file whose schema we do not recognise; we refuse to alter it."""


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


class RunTimeoutError(CodeframeError, TimeoutError):
    """A lead-agent run passed its deadline; ``summary`` holds what was done."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class DemoWorkdirError(CodeframeError, FileExistsError):
    """The demo's work folder exists, is not empty and is not one of ours; we will not wipe it."""


class ScriptMissError(CodeframeError):
    """A scripted client received a prompt that no rule matches and has no default."""


class ReplayMissError(CodeframeError):
    """A replay client received a request that its cassette does not hold."""


class UnsupportedPlatformError(CodeframeError):
    """A feature that needs POSIX (process groups, signals) was used elsewhere."""


__all__ = [
    "ClaudeTimeoutError",
    "CodeframeError",
    "ContentTooLargeError",
    "DemoWorkdirError",
    "DependencyCycleError",
    "DuplicateError",
    "FileChangeError",
    "FileRecoveryError",
    "InvalidInputError",
    "JUnitFormatError",
    "MissingAPIKeyError",
    "MissingFileError",
    "NotFoundError",
    "ReplayMissError",
    "ResponseFormatError",
    "RunTimeoutError",
    "RunnerUnavailableError",
    "SchemaError",
    "ScriptMissError",
    "UnsafePathError",
    "UnsupportedPlatformError",
]
