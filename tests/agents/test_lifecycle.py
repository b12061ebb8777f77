"""A task's lifecycle through its public API: each transition checked, written once, announced."""

from __future__ import annotations

import itertools
import logging

import pytest

from codeframe.agents.lifecycle import RULES, TaskLifecycle, Transition
from codeframe.core.models import TaskStatus
from codeframe.errors import CodeframeError, IllegalTransitionError
from codeframe.ui.websocket_broadcasts import BroadcastRecorder, Emitter


@pytest.fixture
def recorder() -> BroadcastRecorder:
    return BroadcastRecorder()


@pytest.fixture
def lifecycle(db, project_id, recorder) -> TaskLifecycle:
    return TaskLifecycle(db, Emitter(recorder, project_id), run_id=db.start_run(project_id))


async def _do(lifecycle: TaskLifecycle, transition: Transition, task_id: int) -> object:
    """Make ``transition`` with plausible arguments."""
    match transition:
        case Transition.ASSIGN:
            return await lifecycle.assign(task_id, "backend-1")
        case Transition.START:
            return await lifecycle.start(task_id, "backend-1")
        case Transition.COMPLETE:
            return await lifecycle.complete(task_id, agent_id="backend-1", output="done")
        case Transition.BLOCK:
            return await lifecycle.block(task_id, reason="stuck", question="why?")
        case Transition.FAIL:
            return await lifecycle.fail(task_id, error="boom", retryable=True)
        case Transition.CANCEL:
            return await lifecycle.cancel(task_id)
        case Transition.REQUEUE:
            return await lifecycle.requeue(task_id)
        case Transition.RELEASE:
            return await lifecycle.release(task_id)


CASES = list(itertools.product(Transition, TaskStatus))


@pytest.mark.parametrize(("transition", "status"), CASES, ids=[f"{t}-from-{s}" for t, s in CASES])
async def test_every_transition_from_every_status(
    db, project_id, lifecycle, recorder, transition, status
):
    task_id = db.create_task(project_id, "Subject", status=status)
    sources, target = RULES[transition]
    if status in sources:
        await _do(lifecycle, transition, task_id)
        assert db.get_task(task_id)["status"] == target
        assert recorder.messages, "a transition is announced"
        assert all(m["task_id"] == task_id for m in recorder.messages)
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            await _do(lifecycle, transition, task_id)
        assert isinstance(caught.value, CodeframeError)
        message = str(caught.value)
        assert f"from {status.value} to {target.value}" in message
        assert transition.value in message
        assert db.get_task(task_id)["status"] == status  # nothing written
        assert recorder.messages == []  # nothing announced


async def test_a_happy_life_writes_each_step_once_and_says_so(db, project_id, lifecycle, recorder):
    task_id = db.create_task(project_id, "Add multiply")
    row = await lifecycle.assign(task_id, "backend-1")
    assert (row["status"], row["assigned_to"], row["execution_count"]) == (
        "assigned",
        "backend-1",
        1,
    )
    assert [a["agent_id"] for a in db.get_task_assignments(task_id)] == ["backend-1"]
    await lifecycle.start(task_id, "backend-1")
    db.add_task_tokens(task_id, 321)
    outcome = await lifecycle.complete(task_id, agent_id="backend-1", output="multiply, tested")

    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tokens == 321
    assert lifecycle.outcome(task_id) == outcome
    final = db.get_task(task_id)
    assert (final["status"], final["output"], final["error"]) == (
        "completed",
        "multiply, tested",
        None,
    )
    assert final["completed_at"]
    assert [(m["type"], m.get("status")) for m in recorder.messages] == [
        ("task_assigned", None),
        ("task_status_changed", "in_progress"),
        ("task_status_changed", "completed"),
    ]
    started, done = recorder.messages[1:]
    assert started["task_title"] == "Add multiply"  # the first status event names the task
    assert done["actual_tokens"] == 321


async def test_block_writes_the_blocker_with_the_status(db, project_id, lifecycle, recorder):
    task_id = db.create_task(project_id, "Export CSV", status="in_progress")
    outcome = await lifecycle.block(task_id, reason="tests fail", question="Decimal prices?")
    assert outcome.status is TaskStatus.BLOCKED
    [blocker] = db.get_blockers(project_id)
    assert (blocker["task_id"], blocker["reason"], blocker["question"]) == (
        task_id,
        "tests fail",
        "Decimal prices?",
    )
    created, blocked, status = recorder.messages
    assert created["type"] == "blocker_created"
    assert created["blocker_id"] == blocker["id"]
    assert (blocked["type"], blocked["blocked_by"]) == ("task_blocked", [])
    assert (status["type"], status["status"]) == ("task_status_changed", "blocked")


async def test_a_failed_task_is_requeued_and_its_old_outcome_forgotten(db, project_id, lifecycle):
    task_id = db.create_task(project_id, "Flaky", status="in_progress")
    outcome = await lifecycle.fail(task_id, error="connection reset", retryable=True)
    assert (outcome.status, outcome.retryable, outcome.error) == (
        TaskStatus.FAILED,
        True,
        "connection reset",
    )
    await lifecycle.requeue(task_id, note="retrying")
    assert lifecycle.outcome(task_id) is None
    row = db.get_task(task_id)
    assert row["status"] == "pending"
    assert row["notes"][-1]["text"] == "retrying"


async def test_cancelling_logs_one_info_line_naming_the_task(db, project_id, lifecycle, caplog):
    task_id = db.create_task(project_id, "Long job", status="in_progress")
    with caplog.at_level(logging.INFO, logger="codeframe"):
        await lifecycle.cancel(task_id)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [f"task {task_id} cancelled"]


async def test_two_writers_cannot_both_win(db, project_id, recorder):
    """The check is part of the write: a second lifecycle on the same task loses cleanly."""
    task_id = db.create_task(project_id, "Contested")
    first = TaskLifecycle(db, Emitter(recorder, project_id))
    second = TaskLifecycle(db, Emitter(recorder, project_id))
    await first.assign(task_id, "backend-1")
    with pytest.raises(IllegalTransitionError, match="from assigned to assigned"):
        await second.assign(task_id, "backend-2")
    assert db.get_task(task_id)["assigned_to"] == "backend-1"


async def test_an_unknown_task_is_not_found(lifecycle):
    with pytest.raises(CodeframeError, match="no task with id 999"):
        await lifecycle.start(999, None)
