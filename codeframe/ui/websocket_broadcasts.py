"""The events agents send: one coroutine per event type, each only building its message.

A *manager* (broadcast target) is any object with ``async broadcast(message)`` - the notebook
panel, a websocket hub, or :class:`BroadcastRecorder`. Events are a side channel: a target
that raises is logged and ignored, so a broken display never fails a task. This is the one
place in codeframe where errors are swallowed; cancellation still propagates.
``docs/events.md`` lists every event and its keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from enum import Enum
from typing import Any, Protocol

from codeframe.core.models import FINAL_STATUSES, utc_now

logger = logging.getLogger(__name__)

Message = dict[str, Any]

# A target that stops reading (a stalled websocket) must not hold a worker for ever.
BROADCAST_TIMEOUT = 10.0


class BroadcastTarget(Protocol):
    """Anything events can be sent to.

    Each send is bounded by :data:`BROADCAST_TIMEOUT`, or by the target's own
    ``broadcast_timeout`` attribute; ``None`` there means "my broadcast never waits" (it only
    updates memory), and saves a timer per event.
    """

    async def broadcast(self, message: Message) -> None: ...


def _plain(value: Any) -> Any:
    # TaskStatus.COMPLETED -> "completed": messages hold plain JSON values only.
    return value.value if isinstance(value, Enum) else value


async def _send(
    manager: BroadcastTarget | None,
    what: str,
    event_type: str,
    project_id: int,
    fields: Message,
) -> None:
    """Stamp and deliver one message; log, never raise, when the target fails."""
    if manager is None:
        return
    message: Message = {"type": event_type, "project_id": project_id}
    message.update(fields)
    message["timestamp"] = utc_now()
    # A target that only updates memory (the panel, a recorder) says so with
    # ``broadcast_timeout = None`` and skips the timer; any other target gets one.
    bound = getattr(manager, "broadcast_timeout", BROADCAST_TIMEOUT)
    try:
        if bound is None:
            await manager.broadcast(message)
        else:
            async with asyncio.timeout(bound):
                await manager.broadcast(message)
    except Exception as exc:  # CancelledError is a BaseException: it passes through
        logger.error("Failed to broadcast %s: %s: %s", what, type(exc).__name__, exc)


async def broadcast_task_status(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    status: str,
    agent_id: str | None = None,
    progress: int | None = None,
    *,
    actual_tokens: int | None = None,
) -> None:
    """``task_status_changed``; a final status always carries ``actual_tokens`` (maybe None)."""
    status = _plain(status)
    fields: Message = {"task_id": task_id, "status": status}
    if agent_id:
        fields["agent_id"] = agent_id
    if progress is not None:
        fields["progress"] = progress
    if actual_tokens is not None or status in FINAL_STATUSES:
        fields["actual_tokens"] = actual_tokens
    await _send(manager, "task status", "task_status_changed", project_id, fields)


async def broadcast_agent_status(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    status: str,
    current_task_id: int | None = None,
    current_task_title: str | None = None,
    progress: int | None = None,
) -> None:
    fields: Message = {"agent_id": agent_id, "status": _plain(status)}
    if current_task_id:
        fields["current_task"] = {
            "id": current_task_id,
            "title": current_task_title or f"Task #{current_task_id}",
        }
    if progress is not None:
        fields["progress"] = progress
    await _send(manager, "agent status", "agent_status_changed", project_id, fields)


async def broadcast_test_result(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    status: str,
    passed: int = 0,
    failed: int = 0,
    errors: int = 0,
    skipped: int = 0,
    duration: float = 0.0,
) -> None:
    fields: Message = {
        "task_id": task_id,
        "status": _plain(status),
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "duration": duration,
    }
    await _send(manager, "test result", "test_result", project_id, fields)


async def broadcast_commit_created(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    commit_hash: str,
    commit_message: str,
    files_changed: int | None = None,
) -> None:
    fields: Message = {
        "task_id": task_id,
        "commit_hash": commit_hash,
        "commit_message": commit_message,
    }
    if files_changed is not None:
        fields["files_changed"] = files_changed
    await _send(manager, "commit", "commit_created", project_id, fields)


async def broadcast_activity_update(
    manager: BroadcastTarget | None,
    project_id: int,
    activity_type: str,
    message_text: str,
    task_id: int | None = None,
    agent_id: str | None = None,
) -> None:
    """``activity_update``: one human-readable line for the activity log (key ``message``)."""
    fields: Message = {"activity_type": activity_type, "message": message_text}
    if task_id:
        fields["task_id"] = task_id
    if agent_id:
        fields["agent_id"] = agent_id
    await _send(manager, "activity", "activity_update", project_id, fields)


async def broadcast_progress_update(
    manager: BroadcastTarget | None,
    project_id: int,
    completed: int,
    total: int,
    percentage: int | None = None,
) -> None:
    """``progress_update``; ``percentage`` is worked out (0-100, an int) when not given."""
    if percentage is None:
        percentage = int(completed / total * 100) if total else 0
    fields: Message = {"completed": completed, "total": total, "percentage": int(percentage)}
    await _send(manager, "progress", "progress_update", project_id, fields)


async def broadcast_correction_attempt(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    attempt_number: int,
    max_attempts: int,
    status: str,
    error_summary: str | None = None,
) -> None:
    """``correction_attempt``; ``status`` is ``in_progress``, ``success`` or ``failed``."""
    fields: Message = {
        "task_id": task_id,
        "attempt_number": attempt_number,
        "max_attempts": max_attempts,
        "status": _plain(status),
    }
    if error_summary:
        fields["error_summary"] = error_summary
    await _send(manager, "correction attempt", "correction_attempt", project_id, fields)


async def broadcast_agent_created(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    agent_type: str,
    tasks_completed: int = 0,
) -> None:
    fields: Message = {
        "agent_id": agent_id,
        "agent_type": agent_type,
        "status": "idle",
        "tasks_completed": tasks_completed,
    }
    await _send(manager, "agent creation", "agent_created", project_id, fields)


async def broadcast_agent_retired(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    tasks_completed: int = 0,
) -> None:
    fields: Message = {"agent_id": agent_id, "tasks_completed": tasks_completed}
    await _send(manager, "agent retirement", "agent_retired", project_id, fields)


async def broadcast_task_assigned(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    agent_id: str,
    task_title: str | None = None,
) -> None:
    fields: Message = {"task_id": task_id, "agent_id": agent_id}
    if task_title:
        fields["task_title"] = task_title
    await _send(manager, "task assignment", "task_assigned", project_id, fields)


async def broadcast_task_blocked(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    blocked_by: Sequence[int],
    task_title: str | None = None,
) -> None:
    """``task_blocked``: ``blocked_by`` names the upstream tasks, ``[]`` for its own blocker."""
    upstream = list(blocked_by)
    fields: Message = {"task_id": task_id, "blocked_by": upstream, "blocked_count": len(upstream)}
    if task_title:
        fields["task_title"] = task_title
    await _send(manager, "task blocked", "task_blocked", project_id, fields)


async def broadcast_task_unblocked(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    unblocked_by: int | None = None,
    task_title: str | None = None,
) -> None:
    fields: Message = {"task_id": task_id}
    if unblocked_by:
        fields["unblocked_by"] = unblocked_by
    if task_title:
        fields["task_title"] = task_title
    await _send(manager, "task unblocked", "task_unblocked", project_id, fields)


async def broadcast_blocker_created(
    manager: BroadcastTarget | None,
    project_id: int,
    blocker_id: int,
    task_id: int,
    severity: str,
    reason: str,
    question: str,
) -> None:
    """``blocker_created``: sent with every blocker row, so a human sees the question at once."""
    fields: Message = {
        "blocker_id": blocker_id,
        "task_id": task_id,
        "severity": _plain(severity),
        "reason": reason,
        "question": question,
    }
    await _send(manager, "blocker", "blocker_created", project_id, fields)


class BroadcastRecorder:
    """A broadcast target that keeps every message, in order: the offline seam for tests."""

    broadcast_timeout = None  # appending to a list never waits

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def broadcast(self, message: Message) -> None:
        self.messages.append(message)

    def types(self) -> list[str]:
        """The ``type`` of each message received, in order."""
        return [message["type"] for message in self.messages]

    def of_type(self, event_type: str) -> list[Message]:
        return [message for message in self.messages if message["type"] == event_type]

    def clear(self) -> None:
        self.messages.clear()


__all__ = [
    "BROADCAST_TIMEOUT",
    "BroadcastRecorder",
    "BroadcastTarget",
    "Message",
    "broadcast_activity_update",
    "broadcast_agent_created",
    "broadcast_agent_retired",
    "broadcast_agent_status",
    "broadcast_blocker_created",
    "broadcast_commit_created",
    "broadcast_correction_attempt",
    "broadcast_progress_update",
    "broadcast_task_assigned",
    "broadcast_task_blocked",
    "broadcast_task_status",
    "broadcast_task_unblocked",
    "broadcast_test_result",
]
