"""Every event's type and keys, and a broken target that never breaks the sender."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codeframe.core.models import TaskStatus
from codeframe.ui import BroadcastRecorder
from codeframe.ui import websocket_broadcasts as wb

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def one(call: Callable[..., Awaitable[None]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Send one event to a fresh recorder (project 7) and return the message it got."""
    recorder = BroadcastRecorder()
    await call(recorder, 7, *args, **kwargs)
    assert len(recorder.messages) == 1
    message = recorder.messages[0]
    assert message["project_id"] == 7
    assert TIMESTAMP.match(message["timestamp"]), message["timestamp"]
    json.dumps(message)  # every message is plain JSON, ready for a websocket
    return message


def body(message: dict[str, Any]) -> dict[str, Any]:
    """The message without the keys every event has."""
    return {k: v for k, v in message.items() if k not in ("project_id", "timestamp")}


async def test_task_status() -> None:
    full = await one(wb.broadcast_task_status, 3, "in_progress", "backend-1", 40)
    assert body(full) == {
        "type": "task_status_changed",
        "task_id": 3,
        "status": "in_progress",
        "agent_id": "backend-1",
        "progress": 40,
    }
    bare = await one(wb.broadcast_task_status, 3, TaskStatus.PENDING, agent_id="", progress=None)
    assert body(bare) == {"type": "task_status_changed", "task_id": 3, "status": "pending"}
    assert type(bare["status"]) is str
    # progress 0 is a value, not "no progress".
    assert (await one(wb.broadcast_task_status, 3, "in_progress", progress=0))["progress"] == 0


async def test_task_status_carries_actual_tokens_on_final_statuses() -> None:
    done = await one(wb.broadcast_task_status, 3, TaskStatus.COMPLETED, actual_tokens=1234)
    assert done["actual_tokens"] == 1234
    for final in ("completed", "failed", "blocked"):
        message = await one(wb.broadcast_task_status, 3, final)
        assert "actual_tokens" in message
        assert message["actual_tokens"] is None
    assert "actual_tokens" not in await one(wb.broadcast_task_status, 3, "in_progress")
    given = await one(wb.broadcast_task_status, 3, "in_progress", actual_tokens=10)
    assert given["actual_tokens"] == 10


async def test_agent_status() -> None:
    full = await one(wb.broadcast_agent_status, "test-2", "busy", 5, "Write tests", 10)
    assert body(full) == {
        "type": "agent_status_changed",
        "agent_id": "test-2",
        "status": "busy",
        "current_task": {"id": 5, "title": "Write tests"},
        "progress": 10,
    }
    untitled = await one(wb.broadcast_agent_status, "test-2", "busy", current_task_id=5)
    assert untitled["current_task"] == {"id": 5, "title": "Task #5"}
    idle = await one(wb.broadcast_agent_status, "test-2", "idle")
    assert body(idle) == {"type": "agent_status_changed", "agent_id": "test-2", "status": "idle"}


async def test_test_result() -> None:
    message = await one(wb.broadcast_test_result, 4, "failed", 3, 1, 0, 2, 0.5)
    assert body(message) == {
        "type": "test_result",
        "task_id": 4,
        "status": "failed",
        "passed": 3,
        "failed": 1,
        "errors": 0,
        "skipped": 2,
        "duration": 0.5,
    }
    defaults = await one(wb.broadcast_test_result, 4, "no_tests")
    assert (defaults["passed"], defaults["failed"], defaults["duration"]) == (0, 0, 0.0)


async def test_commit_created() -> None:
    message = await one(wb.broadcast_commit_created, 4, "abc1234", "Add api", 0)
    assert body(message) == {
        "type": "commit_created",
        "task_id": 4,
        "commit_hash": "abc1234",
        "commit_message": "Add api",
        "files_changed": 0,
    }
    assert "files_changed" not in await one(wb.broadcast_commit_created, 4, "abc", "m")


async def test_activity_update() -> None:
    message = await one(wb.broadcast_activity_update, "test", "3 passed", 4, "backend-1")
    assert body(message) == {
        "type": "activity_update",
        "activity_type": "test",
        "message": "3 passed",
        "task_id": 4,
        "agent_id": "backend-1",
    }
    bare = await one(wb.broadcast_activity_update, "run", "started", task_id=0, agent_id=None)
    assert body(bare) == {"type": "activity_update", "activity_type": "run", "message": "started"}


async def test_progress_update() -> None:
    message = await one(wb.broadcast_progress_update, 1, 3)
    assert body(message) == {
        "type": "progress_update",
        "completed": 1,
        "total": 3,
        "percentage": 33,
    }
    assert (await one(wb.broadcast_progress_update, 0, 0))["percentage"] == 0
    assert (await one(wb.broadcast_progress_update, 3, 3))["percentage"] == 100
    given = await one(wb.broadcast_progress_update, 1, 3, 50.7)
    assert given["percentage"] == 50
    assert type(given["percentage"]) is int


async def test_correction_attempt() -> None:
    message = await one(wb.broadcast_correction_attempt, 4, 2, 3, "failed", "1 test failed")
    assert body(message) == {
        "type": "correction_attempt",
        "task_id": 4,
        "attempt_number": 2,
        "max_attempts": 3,
        "status": "failed",
        "error_summary": "1 test failed",
    }
    started = await one(wb.broadcast_correction_attempt, 4, 1, 3, "in_progress", "")
    assert "error_summary" not in started


async def test_agent_created_and_retired() -> None:
    created = await one(wb.broadcast_agent_created, "frontend-3", "frontend")
    assert body(created) == {
        "type": "agent_created",
        "agent_id": "frontend-3",
        "agent_type": "frontend",
        "status": "idle",
        "tasks_completed": 0,
    }
    retired = await one(wb.broadcast_agent_retired, "frontend-3", 5)
    assert body(retired) == {
        "type": "agent_retired",
        "agent_id": "frontend-3",
        "tasks_completed": 5,
    }


async def test_task_assigned() -> None:
    message = await one(wb.broadcast_task_assigned, 4, "backend-1", "Build API")
    assert body(message) == {
        "type": "task_assigned",
        "task_id": 4,
        "agent_id": "backend-1",
        "task_title": "Build API",
    }
    assert "task_title" not in await one(wb.broadcast_task_assigned, 4, "backend-1")


async def test_task_blocked_and_unblocked() -> None:
    blocked = await one(wb.broadcast_task_blocked, 6, (2, 3), "Deploy")
    assert body(blocked) == {
        "type": "task_blocked",
        "task_id": 6,
        "blocked_by": [2, 3],
        "blocked_count": 2,
        "task_title": "Deploy",
    }
    own = await one(wb.broadcast_task_blocked, 6, [])
    assert body(own) == {"type": "task_blocked", "task_id": 6, "blocked_by": [], "blocked_count": 0}

    unblocked = await one(wb.broadcast_task_unblocked, 6, 2, "Deploy")
    assert body(unblocked) == {
        "type": "task_unblocked",
        "task_id": 6,
        "unblocked_by": 2,
        "task_title": "Deploy",
    }
    assert body(await one(wb.broadcast_task_unblocked, 6)) == {
        "type": "task_unblocked",
        "task_id": 6,
    }


async def test_blocker_created() -> None:
    message = await one(wb.broadcast_blocker_created, 9, 6, "sync", "3 attempts failed", "Why?")
    assert body(message) == {
        "type": "blocker_created",
        "blocker_id": 9,
        "task_id": 6,
        "severity": "sync",
        "reason": "3 attempts failed",
        "question": "Why?",
    }


async def test_timestamp_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    message = await one(wb.broadcast_progress_update, 0, 1)
    stamp = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    # Generous: the point is "this is the current time", not how fast the call is.
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)


ALL_EVENTS: list[tuple[Callable[..., Awaitable[None]], tuple[Any, ...], str, str]] = [
    (wb.broadcast_task_status, (1, "completed"), "task_status_changed", "task status"),
    (wb.broadcast_agent_status, ("backend-1", "idle"), "agent_status_changed", "agent status"),
    (wb.broadcast_test_result, (1, "passed"), "test_result", "test result"),
    (wb.broadcast_commit_created, (1, "abc", "msg"), "commit_created", "commit"),
    (wb.broadcast_activity_update, ("run", "text"), "activity_update", "activity"),
    (wb.broadcast_progress_update, (1, 2), "progress_update", "progress"),
    (
        wb.broadcast_correction_attempt,
        (1, 1, 3, "failed"),
        "correction_attempt",
        "correction attempt",
    ),
    (wb.broadcast_agent_created, ("test-1", "test"), "agent_created", "agent creation"),
    (wb.broadcast_agent_retired, ("test-1",), "agent_retired", "agent retirement"),
    (wb.broadcast_task_assigned, (1, "test-1"), "task_assigned", "task assignment"),
    (wb.broadcast_task_blocked, (1, [2]), "task_blocked", "task blocked"),
    (wb.broadcast_task_unblocked, (1,), "task_unblocked", "task unblocked"),
    (wb.broadcast_blocker_created, (1, 1, "sync", "r", "q"), "blocker_created", "blocker"),
]
EVENT_IDS = [event_type for _, _, event_type, _ in ALL_EVENTS]


def test_thirteen_events_all_exported() -> None:
    assert len(ALL_EVENTS) == 13
    public = {name for name in wb.__all__ if name.startswith("broadcast_")}
    assert public == {call.__name__ for call, *_ in ALL_EVENTS}


@pytest.mark.parametrize(("call", "args", "event_type", "what"), ALL_EVENTS, ids=EVENT_IDS)
async def test_each_event_type(
    call: Any, args: tuple[Any, ...], event_type: str, what: str
) -> None:
    assert (await one(call, *args))["type"] == event_type


@pytest.mark.parametrize(("call", "args", "event_type", "what"), ALL_EVENTS, ids=EVENT_IDS)
async def test_none_manager_does_nothing(
    call: Any, args: tuple[Any, ...], event_type: str, what: str
) -> None:
    assert await call(None, 7, *args) is None


class Exploding:
    async def broadcast(self, message: dict[str, Any]) -> None:
        raise ConnectionResetError("socket closed")


@pytest.mark.parametrize(("call", "args", "event_type", "what"), ALL_EVENTS, ids=EVENT_IDS)
async def test_failing_manager_is_logged_and_swallowed(
    caplog: pytest.LogCaptureFixture, call: Any, args: tuple[Any, ...], event_type: str, what: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="codeframe.ui.websocket_broadcasts"):
        await call(Exploding(), 7, *args)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(f"Failed to broadcast {what}")
    assert "socket closed" in record.getMessage()


async def test_task_status_failure_message_matches_the_seed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="codeframe.ui.websocket_broadcasts"):
        await wb.broadcast_task_status(Exploding(), 1, 2, "completed")
    assert caplog.records[0].getMessage().startswith("Failed to broadcast task status: ")


async def test_cancellation_from_the_manager_propagates() -> None:
    class Cancelling:
        async def broadcast(self, message: dict[str, Any]) -> None:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await wb.broadcast_task_status(Cancelling(), 1, 2, "in_progress")


async def test_cancelling_a_sender_stuck_in_broadcast_propagates() -> None:
    entered = asyncio.Event()

    class Stuck:
        async def broadcast(self, message: dict[str, Any]) -> None:
            entered.set()
            await asyncio.Event().wait()

    sender = asyncio.create_task(wb.broadcast_progress_update(Stuck(), 1, 0, 1))
    async with asyncio.timeout(5):
        await entered.wait()
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    assert sender.cancelled()


async def test_a_target_that_never_returns_times_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Stuck:
        async def broadcast(self, message: dict[str, Any]) -> None:
            await asyncio.Event().wait()

    monkeypatch.setattr(wb, "BROADCAST_TIMEOUT", 0.01)
    with caplog.at_level(logging.ERROR, logger="codeframe.ui.websocket_broadcasts"):
        async with asyncio.timeout(5):  # generous: the point is that it does not hang
            await wb.broadcast_agent_retired(Stuck(), 1, "backend-1")
    assert "Failed to broadcast agent retirement: TimeoutError" in caplog.records[0].getMessage()


async def test_recorder_keeps_messages_in_order() -> None:
    recorder = BroadcastRecorder()
    await wb.broadcast_agent_created(recorder, 1, "backend-1", "backend")
    await wb.broadcast_task_assigned(recorder, 1, 5, "backend-1")
    await wb.broadcast_task_status(recorder, 1, 5, "in_progress", "backend-1")
    assert recorder.types() == ["agent_created", "task_assigned", "task_status_changed"]
    assert [m["task_id"] for m in recorder.of_type("task_assigned")] == [5]
    recorder.clear()
    assert recorder.messages == []
    assert recorder.types() == []


async def test_a_target_that_never_waits_skips_the_timer(monkeypatch):
    import codeframe.ui.websocket_broadcasts as wb

    opened = []
    real_timeout = wb.asyncio.timeout
    monkeypatch.setattr(wb.asyncio, "timeout", lambda s: opened.append(s) or real_timeout(s))

    class Slowish:
        def __init__(self):
            self.messages = []

        async def broadcast(self, message):
            self.messages.append(message)

    recorder, other = wb.BroadcastRecorder(), Slowish()
    await wb.broadcast_progress_update(recorder, 1, 1, 2)
    assert opened == []
    await wb.broadcast_progress_update(other, 1, 1, 2)
    assert opened == [wb.BROADCAST_TIMEOUT]
    assert len(recorder.messages) == len(other.messages) == 1
