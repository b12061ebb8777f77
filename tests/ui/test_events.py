"""Typed events: one class per documented kind, each building today's message shape."""

from __future__ import annotations

import re
from pathlib import Path
from unittest.mock import AsyncMock, Mock

import pytest

from codeframe.ui import events as ev
from codeframe.ui import websocket_broadcasts as wb

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"

SAMPLES: list[ev.Event] = [
    ev.TaskStatusChanged(1, 5, "completed", "backend-1", actual_tokens=300),
    ev.AgentStatusChanged(1, "backend-1", "busy", 5, "Add multiply"),
    ev.TestResultReported(1, 5, "failed", 2, 1, 0, 0, 0.5),
    ev.CommitCreated(1, 5, "abc123", "Add multiply", 2),
    ev.ActivityUpdate(1, "files_changed", "changed calc.py", 5, "backend-1"),
    ev.ProgressUpdate(1, 3, 9, 33),
    ev.CorrectionAttemptUpdate(1, 5, 2, 3, "failed", "still wrong"),
    ev.AgentCreated(1, "test-2", "test"),
    ev.AgentRetired(1, "test-2", 4),
    ev.TaskAssigned(1, 5, "backend-1", "Add multiply"),
    ev.TaskBlocked(1, 6, (5,), "Export"),
    ev.TaskUnblocked(1, 6, 5, "Export"),
    ev.BlockerCreated(1, 9, 6, "sync", "tests fail", "Decimal?"),
]


def test_every_documented_kind_has_exactly_one_class():
    documented = set(re.findall(r"^### `([a-z_]+)`", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == set(ev.EVENT_TYPES)
    assert {type(sample).kind for sample in SAMPLES} == documented


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).kind)
def test_a_message_reads_back_into_the_same_event(event: ev.Event):
    message = event.to_dict()
    assert list(message)[:2] == ["type", "project_id"]
    assert list(message)[-1] == "timestamp"
    assert message["timestamp"].endswith("Z")
    assert ev.event_from_message(message) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).kind)
async def test_each_broadcast_function_sends_its_events_dict(event: ev.Event):
    """The seed's coroutine and the typed event give one and the same message."""
    recorder = wb.BroadcastRecorder()
    await wb.deliver(recorder, event)
    assert recorder.messages == [event.to_dict()]


def test_events_are_frozen():
    event = ev.ProgressUpdate(1, 1, 2)
    with pytest.raises(AttributeError):
        event.completed = 2  # type: ignore[misc]


def test_an_unknown_kind_reads_as_none():
    assert ev.event_from_message({"type": "something_else", "project_id": 1}) is None


async def test_a_plain_async_mock_target_receives_every_broadcast():
    target = AsyncMock()
    await wb.broadcast_task_status(target, 1, 5, "in_progress", "backend-1")
    await wb.broadcast_progress_update(target, 1, 1, 2)
    emit = wb.Emitter(target, 1)
    await emit(ev.AgentCreated(1, "backend-1", "backend"))
    sent = [call.args[0]["type"] for call in target.broadcast.await_args_list]
    assert sent == ["task_status_changed", "progress_update", "agent_created"]


def test_only_a_real_number_or_none_is_a_targets_own_bound():
    class Quiet:
        broadcast_timeout = None

        async def broadcast(self, message: dict) -> None: ...

    class Patient:
        def __init__(self) -> None:
            self.broadcast_timeout = 2.5

        async def broadcast(self, message: dict) -> None: ...

    assert wb.send_bound(Quiet()) is None
    assert wb.send_bound(Patient()) == 2.5
    assert wb.send_bound(AsyncMock()) == wb.BROADCAST_TIMEOUT
    assert wb.send_bound(Mock(broadcast_timeout="soon")) == wb.BROADCAST_TIMEOUT
