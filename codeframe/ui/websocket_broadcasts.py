"""Sending events: the emitter agents hold, and the seed's ``broadcast_*`` coroutines.

A *target* (manager) is any object with ``async broadcast(message)`` - the notebook panel, a
websocket hub, or :class:`BroadcastRecorder`. Events are a side channel: a target that
raises is logged and ignored, so a broken display never fails a task. This is the one place
in codeframe where errors are swallowed; cancellation still propagates. The event types and
their message shapes live in :mod:`codeframe.ui.events`; ``docs/events.md`` lists them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from codeframe.ui.events import (
    ActivityUpdate,
    AgentCreated,
    AgentRetired,
    AgentStatusChanged,
    BlockerCreated,
    CommitCreated,
    CorrectionAttemptUpdate,
    Event,
    Message,
    ProgressUpdate,
    TaskAssigned,
    TaskBlocked,
    TaskStatusChanged,
    TaskUnblocked,
    TestResultReported,
)

logger = logging.getLogger(__name__)

# A target that stops reading (a stalled websocket) must not hold a worker for ever.
BROADCAST_TIMEOUT = 10.0

_UNSET = object()


class BroadcastTarget(Protocol):
    """Anything events can be sent to.

    Each send is bounded by :data:`BROADCAST_TIMEOUT`, or by the target's own
    ``broadcast_timeout`` (a number, or ``None`` meaning "my broadcast never waits": it only
    updates memory, and saves a timer per event) set on its class or instance.
    """

    async def broadcast(self, message: Message) -> None: ...


def send_bound(target: object) -> float | None:
    """How long one send to ``target`` may take; ``None`` for no timer.

    Only a real number or ``None`` set on the class or the instance counts: a mock target
    answers any attribute with another mock, which is no timeout.
    """
    own = inspect.getattr_static(target, "broadcast_timeout", _UNSET)
    if own is None:
        return None
    if type(own) in (int, float) and own > 0:
        return float(own)
    return BROADCAST_TIMEOUT


async def deliver(target: BroadcastTarget | None, event: Event, bound: Any = _UNSET) -> None:
    """Send one event; log, never raise, when the target fails (cancellation propagates)."""
    if target is None:
        return
    if bound is _UNSET:
        bound = send_bound(target)
    message = event.to_dict()
    try:
        if bound is None:
            await target.broadcast(message)
        else:
            async with asyncio.timeout(bound):
                await target.broadcast(message)
    except Exception as exc:  # CancelledError is a BaseException: it passes through
        logger.error("Failed to broadcast %s: %s: %s", event.what, type(exc).__name__, exc)


class Emitter:
    """Sends events to one target on behalf of one project: what agents are handed."""

    __slots__ = ("_bound", "project_id", "target")

    def __init__(self, target: BroadcastTarget | None, project_id: int) -> None:
        self.target = target
        self.project_id = project_id
        self._bound = None if target is None else send_bound(target)

    async def __call__(self, event: Event) -> None:
        if self.target is not None:
            await deliver(self.target, event, self._bound)

    def __repr__(self) -> str:
        return f"Emitter(target={self.target!r}, project_id={self.project_id})"


# -- the seed's coroutines: one typed event each ------------------------------------------


async def broadcast_task_status(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    status: str,
    agent_id: str | None = None,
    progress: int | None = None,
    *,
    actual_tokens: int | None = None,
    task_title: str | None = None,
    cost_usd: float | None = None,
) -> None:
    """``task_status_changed``; a final status always carries ``actual_tokens`` (maybe None)."""
    event = TaskStatusChanged(
        project_id,
        task_id,
        status,
        agent_id,
        progress,
        actual_tokens=actual_tokens,
        task_title=task_title,
        cost_usd=cost_usd,
    )
    await deliver(manager, event)


async def broadcast_agent_status(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    status: str,
    current_task_id: int | None = None,
    current_task_title: str | None = None,
    progress: int | None = None,
) -> None:
    event = AgentStatusChanged(
        project_id, agent_id, status, current_task_id, current_task_title, progress
    )
    await deliver(manager, event)


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
    event = TestResultReported(
        project_id, task_id, status, passed, failed, errors, skipped, duration
    )
    await deliver(manager, event)


async def broadcast_commit_created(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    commit_hash: str,
    commit_message: str,
    files_changed: int | None = None,
) -> None:
    event = CommitCreated(project_id, task_id, commit_hash, commit_message, files_changed)
    await deliver(manager, event)


async def broadcast_activity_update(
    manager: BroadcastTarget | None,
    project_id: int,
    activity_type: str,
    message_text: str,
    task_id: int | None = None,
    agent_id: str | None = None,
) -> None:
    """``activity_update``: one human-readable line for the activity log (key ``message``)."""
    event = ActivityUpdate(project_id, activity_type, message_text, task_id, agent_id)
    await deliver(manager, event)


async def broadcast_progress_update(
    manager: BroadcastTarget | None,
    project_id: int,
    completed: int,
    total: int,
    percentage: int | None = None,
) -> None:
    """``progress_update``; ``percentage`` is worked out (0-100, an int) when not given."""
    await deliver(manager, ProgressUpdate(project_id, completed, total, percentage))


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
    event = CorrectionAttemptUpdate(
        project_id, task_id, attempt_number, max_attempts, status, error_summary
    )
    await deliver(manager, event)


async def broadcast_agent_created(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    agent_type: str,
    tasks_completed: int = 0,
) -> None:
    await deliver(manager, AgentCreated(project_id, agent_id, agent_type, tasks_completed))


async def broadcast_agent_retired(
    manager: BroadcastTarget | None,
    project_id: int,
    agent_id: str,
    tasks_completed: int = 0,
) -> None:
    await deliver(manager, AgentRetired(project_id, agent_id, tasks_completed))


async def broadcast_task_assigned(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    agent_id: str,
    task_title: str | None = None,
) -> None:
    await deliver(manager, TaskAssigned(project_id, task_id, agent_id, task_title))


async def broadcast_task_blocked(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    blocked_by: Sequence[int],
    task_title: str | None = None,
) -> None:
    """``task_blocked``: ``blocked_by`` names the upstream tasks, ``[]`` for its own blocker."""
    await deliver(manager, TaskBlocked(project_id, task_id, tuple(blocked_by), task_title))


async def broadcast_task_unblocked(
    manager: BroadcastTarget | None,
    project_id: int,
    task_id: int,
    unblocked_by: int | None = None,
    task_title: str | None = None,
) -> None:
    await deliver(manager, TaskUnblocked(project_id, task_id, unblocked_by, task_title))


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
    event = BlockerCreated(project_id, blocker_id, task_id, severity, reason, question)
    await deliver(manager, event)


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
    "Emitter",
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
    "deliver",
    "send_bound",
]
