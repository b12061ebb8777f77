"""The shapes shared by every layer: task statuses, tasks, file changes, results."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NotRequired, TypedDict

_second: list[object] = [None, ""]  # the last whole second formatted, and its text


def utc_now() -> str:
    """The current time as ISO-8601 UTC text, the form every table stores.

    ``2025-11-08T14:30:45.123456Z``. Every event and row is stamped (13 times a task), so
    the date part is formatted once per second and only the microseconds each time, taken
    from integer nanoseconds (no float rounding).
    """
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    if _second[0] != second:
        _second[0], _second[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
    return f"{_second[1]}{micro:06d}Z"


class TaskStatus(StrEnum):
    """Where a task is in its life; a ``str`` so ``TaskStatus.COMPLETED == "completed"``."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.BLOCKED})


class ProjectStatus(StrEnum):
    INIT = "init"
    PLANNING = "planning"
    RUNNING = "running"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class BlockerSeverity(StrEnum):
    """``sync`` needs a human before work goes on; ``async`` can wait."""

    SYNC = "sync"
    ASYNC = "async"


class BlockerType(StrEnum):
    """Why a task is blocked, which decides what answering it does."""

    TESTS = "tests"  # its tests still fail after the self-correction attempts
    DEPENDENCY = "dependency"  # a task it depends on cannot finish; released when that one does
    BUDGET = "budget"  # the next model call would pass its budget; answered with a new figure
    CONFLICT = "conflict"  # its change conflicts with work already integrated
    QUESTION = "question"  # anything else a human is asked


class Resolver(StrEnum):
    """Who resolved a blocker: a human's answer, or codeframe releasing it on its own."""

    HUMAN = "human"
    SYSTEM = "system"


class WorkerType(StrEnum):
    """The kinds of worker agent; a task may name the one it needs."""

    BACKEND = "backend"
    FRONTEND = "frontend"
    TEST = "test"


class TestStatus(StrEnum):
    """Outcome of one test run."""

    __test__ = False

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    NO_TESTS = "no_tests"


class CaseOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test's outcome in one run, read from the JUnit XML."""

    __test__ = False

    node_id: str
    outcome: str
    message: str = ""
    duration: float = 0.0


@dataclass(slots=True)
class TestResult:
    """What one pytest run produced. ``runner_error`` says why a run could not happen at all."""

    __test__ = False

    status: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float = 0.0
    output: str = ""
    cases: tuple[TestCase, ...] = ()
    runner_error: str | None = None

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def is_failure(self) -> bool:
        """Failed, errored or timed out: the states self-correction tries to mend."""
        return self.status in (TestStatus.FAILED, TestStatus.ERROR, TestStatus.TIMEOUT)


def _task_id(value: object) -> int:
    # bool is an int subclass, and True is no task id.
    if isinstance(value, bool):
        raise ValueError(f"not a task id: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value)  # ValueError for anything but digits
    raise ValueError(f"not a task id: {value!r}")


def parse_depends_on(value: object) -> list[int]:
    """Read ``depends_on`` in any stored form: ids list, ``"[1, 2]"``, ``"1,2"``, empty/None.

    Raises ``ValueError`` for anything else, so each caller decides how loud to be.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if value == "[]":  # what the database stores for most tasks: no JSON parse
            return []
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            items = json.loads(text)  # JSONDecodeError is a ValueError
            if not isinstance(items, list):
                raise ValueError(f"depends_on is not a list: {value!r}")
            return [_task_id(item) for item in items]
        return [_task_id(part) for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        return [_task_id(item) for item in value]
    return [_task_id(value)]


@dataclass(slots=True)
class Task:
    """A task as the seed design modelled it; the database hands out plain dicts instead."""

    id: int | None = None
    project_id: int | None = None
    issue_id: int | None = None
    task_number: str = ""
    parent_issue_number: str = ""
    title: str = ""
    description: str = ""
    status: TaskStatus = TaskStatus.PENDING
    assigned_to: str | None = None
    depends_on: list[int] | str = ""
    can_parallelize: bool = False
    priority: int = 2
    workflow_step: int = 1
    requires_mcp: bool = False
    estimated_tokens: int = 0
    actual_tokens: int | None = None
    created_at: str = field(default_factory=utc_now)
    completed_at: str | None = None

    @property
    def dependency_ids(self) -> list[int]:
        return parse_depends_on(self.depends_on)


FileAction = Literal["create", "modify", "delete"]


class FileChange(TypedDict):
    """One change in the model's reply: ``content`` is absent for ``delete``."""

    path: str
    action: FileAction
    content: NotRequired[str]


class GenerationResult(TypedDict):
    """The response contract: what the model asks us to change and why."""

    files: list[FileChange]
    explanation: str


class ExecutionResult(TypedDict):
    """What ``execute_task`` returns; ``retryable`` is set on every ``failed`` result."""

    status: Literal["completed", "failed", "blocked"]
    files_modified: list[str]
    output: str
    error: str | None
    retryable: NotRequired[bool]


__all__ = [
    "FINAL_STATUSES",
    "BlockerSeverity",
    "BlockerType",
    "CaseOutcome",
    "ExecutionResult",
    "FileAction",
    "FileChange",
    "GenerationResult",
    "ProjectStatus",
    "Resolver",
    "Task",
    "TaskStatus",
    "TestCase",
    "TestResult",
    "TestStatus",
    "WorkerType",
    "parse_depends_on",
    "utc_now",
]
