"""The events agents send, as types: one frozen dataclass per event kind.

Each class builds its own message dict (:meth:`Event.to_dict`) — the plain-JSON shape a
broadcast target receives and ``docs/events.md`` lists — so that shape is written once per
kind. The fields follow the arguments of the matching ``broadcast_*`` function, in order,
starting with ``project_id``. :func:`event_from_message` reads a message back into its type,
so consumers (the notebook panel, the console printer) ``match`` on classes, not on strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Self

from codeframe.core.models import FINAL_STATUSES
from codeframe.ui.event_base import Event, Message, plain


@dataclass(frozen=True, slots=True)
class TaskStatusChanged(Event):
    """A task's status changed; a final status carries the task's tokens (maybe ``None``).

    ``task_title`` travels on a task's first status event, so a target that knows nothing
    else (no database) can still name the task.
    """

    kind: ClassVar[str] = "task_status_changed"
    what: ClassVar[str] = "task status"

    task_id: int
    status: str
    agent_id: str | None = None
    progress: int | None = None
    _: KW_ONLY
    actual_tokens: int | None = None
    task_title: str | None = None
    cost_usd: float | None = None

    def payload(self) -> Message:
        status = plain(self.status)
        out: Message = {"task_id": self.task_id, "status": status}
        if self.agent_id:
            out["agent_id"] = self.agent_id
        if self.progress is not None:
            out["progress"] = self.progress
        if self.actual_tokens is not None or status in FINAL_STATUSES:
            out["actual_tokens"] = self.actual_tokens
        if self.task_title:
            out["task_title"] = self.task_title
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        return out


@dataclass(frozen=True, slots=True)
class AgentStatusChanged(Event):
    """A worker became busy with a task, idle again, or blocked."""

    kind: ClassVar[str] = "agent_status_changed"
    what: ClassVar[str] = "agent status"

    agent_id: str
    status: str
    current_task_id: int | None = None
    current_task_title: str | None = None
    progress: int | None = None

    def payload(self) -> Message:
        out: Message = {"agent_id": self.agent_id, "status": plain(self.status)}
        if self.current_task_id:
            out["current_task"] = {
                "id": self.current_task_id,
                "title": self.current_task_title or f"Task #{self.current_task_id}",
            }
        if self.progress is not None:
            out["progress"] = self.progress
        return out

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Self:
        current = message.get("current_task") or {}
        return cls(
            message["project_id"],
            message["agent_id"],
            message["status"],
            current.get("id"),
            current.get("title"),
            message.get("progress"),
            timestamp=str(message.get("timestamp") or ""),
        )


@dataclass(frozen=True, slots=True)
class TestResultReported(Event):
    """A test run of a task finished: the first run, or the run after a correction."""

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_result"
    what: ClassVar[str] = "test result"

    task_id: int
    status: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float = 0.0

    def payload(self) -> Message:
        return {
            "task_id": self.task_id,
            "status": plain(self.status),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "duration": self.duration,
        }


@dataclass(frozen=True, slots=True)
class CommitCreated(Event):
    """A task's passing work was committed."""

    kind: ClassVar[str] = "commit_created"
    what: ClassVar[str] = "commit"

    task_id: int
    commit_hash: str
    commit_message: str
    files_changed: int | None = None

    def payload(self) -> Message:
        out: Message = {
            "task_id": self.task_id,
            "commit_hash": self.commit_hash,
            "commit_message": self.commit_message,
        }
        if self.files_changed is not None:
            out["files_changed"] = self.files_changed
        return out


@dataclass(frozen=True, slots=True)
class ActivityUpdate(Event):
    """One human-readable line for the activity log."""

    kind: ClassVar[str] = "activity_update"
    what: ClassVar[str] = "activity"

    activity_type: str
    message: str
    task_id: int | None = None
    agent_id: str | None = None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Self:
        # A free-form log line: other producers on a shared hub may send just a message.
        return cls(
            message["project_id"],
            str(message.get("activity_type") or ""),
            str(message.get("message") or ""),
            message.get("task_id"),
            message.get("agent_id"),
            timestamp=str(message.get("timestamp") or ""),
        )

    def payload(self) -> Message:
        out: Message = {"activity_type": self.activity_type, "message": self.message}
        if self.task_id:
            out["task_id"] = self.task_id
        if self.agent_id:
            out["agent_id"] = self.agent_id
        return out


@dataclass(frozen=True, slots=True)
class ProgressUpdate(Event):
    """How many of the project's tasks are done; ``percentage`` is worked out if not given."""

    kind: ClassVar[str] = "progress_update"
    what: ClassVar[str] = "progress"

    completed: int
    total: int
    percentage: int | None = None

    def payload(self) -> Message:
        percentage = self.percentage
        if percentage is None:
            percentage = int(self.completed / self.total * 100) if self.total else 0
        return {"completed": self.completed, "total": self.total, "percentage": int(percentage)}


@dataclass(frozen=True, slots=True)
class CorrectionAttemptUpdate(Event):
    """A self-correction attempt began (``in_progress``) or ended (``success``, ``failed``)."""

    kind: ClassVar[str] = "correction_attempt"
    what: ClassVar[str] = "correction attempt"

    task_id: int
    attempt_number: int
    max_attempts: int
    status: str
    error_summary: str | None = None

    def payload(self) -> Message:
        out: Message = {
            "task_id": self.task_id,
            "attempt_number": self.attempt_number,
            "max_attempts": self.max_attempts,
            "status": plain(self.status),
        }
        if self.error_summary:
            out["error_summary"] = self.error_summary
        return out


@dataclass(frozen=True, slots=True)
class AgentCreated(Event):
    """A worker agent joined the pool (always idle at first)."""

    kind: ClassVar[str] = "agent_created"
    what: ClassVar[str] = "agent creation"

    agent_id: str
    agent_type: str
    tasks_completed: int = 0

    def payload(self) -> Message:
        return {
            "agent_id": self.agent_id,
            "agent_type": self.agent_type,
            "status": "idle",
            "tasks_completed": self.tasks_completed,
        }


@dataclass(frozen=True, slots=True)
class AgentRetired(Event):
    """A worker agent left the pool."""

    kind: ClassVar[str] = "agent_retired"
    what: ClassVar[str] = "agent retirement"

    agent_id: str
    tasks_completed: int = 0

    def payload(self) -> Message:
        return {"agent_id": self.agent_id, "tasks_completed": self.tasks_completed}


@dataclass(frozen=True, slots=True)
class TaskAssigned(Event):
    """A task was handed to a worker agent (its status is now ``assigned``)."""

    kind: ClassVar[str] = "task_assigned"
    what: ClassVar[str] = "task assignment"

    task_id: int
    agent_id: str
    task_title: str | None = None

    def payload(self) -> Message:
        out: Message = {"task_id": self.task_id, "agent_id": self.agent_id}
        if self.task_title:
            out["task_title"] = self.task_title
        return out


@dataclass(frozen=True, slots=True)
class TaskBlocked(Event):
    """A task became ``blocked``: ``blocked_by`` names upstream tasks, ``()`` its own blocker."""

    kind: ClassVar[str] = "task_blocked"
    what: ClassVar[str] = "task blocked"

    task_id: int
    blocked_by: Sequence[int] = ()
    task_title: str | None = None

    def __post_init__(self) -> None:
        # Any sequence in (a message carries a list), a tuple kept: the event stays hashable.
        object.__setattr__(self, "blocked_by", tuple(self.blocked_by))

    def payload(self) -> Message:
        upstream = list(self.blocked_by)
        out: Message = {
            "task_id": self.task_id,
            "blocked_by": upstream,
            "blocked_count": len(upstream),
        }
        if self.task_title:
            out["task_title"] = self.task_title
        return out


@dataclass(frozen=True, slots=True)
class TaskUnblocked(Event):
    """A blocked task's blockers are all resolved: it is ``pending`` again."""

    kind: ClassVar[str] = "task_unblocked"
    what: ClassVar[str] = "task unblocked"

    task_id: int
    unblocked_by: int | None = None
    task_title: str | None = None

    def payload(self) -> Message:
        out: Message = {"task_id": self.task_id}
        if self.unblocked_by:
            out["unblocked_by"] = self.unblocked_by
        if self.task_title:
            out["task_title"] = self.task_title
        return out


@dataclass(frozen=True, slots=True)
class BlockerCreated(Event):
    """A blocker row was written: a question for a human."""

    kind: ClassVar[str] = "blocker_created"
    what: ClassVar[str] = "blocker"

    blocker_id: int
    task_id: int
    severity: str
    reason: str
    question: str
    _: KW_ONLY
    blocker_type: str | None = None

    def payload(self) -> Message:
        out: Message = {
            "blocker_id": self.blocker_id,
            "task_id": self.task_id,
            "severity": plain(self.severity),
            "reason": self.reason,
            "question": self.question,
        }
        if self.blocker_type:
            out["blocker_type"] = plain(self.blocker_type)
        return out


#: Every event kind, by its message ``type``.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        TaskStatusChanged, AgentStatusChanged, TestResultReported, CommitCreated, ActivityUpdate,
        ProgressUpdate, CorrectionAttemptUpdate, AgentCreated, AgentRetired, TaskAssigned,
        TaskBlocked, TaskUnblocked, BlockerCreated,
    )
}  # fmt: skip


def event_from_message(message: Mapping[str, Any]) -> Event | None:
    """The typed event a message describes; ``None`` for a kind codeframe does not send.

    A message without a project is read as project 0; one of a known kind that lacks a
    required key raises ``TypeError`` or ``KeyError``.
    """
    cls = EVENT_TYPES.get(str(message.get("type", "")))
    if cls is None:
        return None
    if not isinstance(message.get("project_id"), int):
        message = {**message, "project_id": 0}  # a message for no project in particular
    return cls.from_message(message)


__all__ = [
    "EVENT_TYPES",
    "ActivityUpdate",
    "AgentCreated",
    "AgentRetired",
    "AgentStatusChanged",
    "BlockerCreated",
    "CommitCreated",
    "CorrectionAttemptUpdate",
    "Event",
    "Message",
    "ProgressUpdate",
    "TaskAssigned",
    "TaskBlocked",
    "TaskStatusChanged",
    "TaskUnblocked",
    "TestResultReported",
    "event_from_message",
]
