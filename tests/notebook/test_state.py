"""PanelState: real broadcast messages folded into the snapshot, and a re-read of the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codeframe.core.models import TaskStatus
from codeframe.notebook.state import ACTIVITY_LINES, PanelState
from codeframe.persistence.database import Database
from codeframe.ui import websocket_broadcasts as wb

SNAPSHOT_KEYS = {
    "project_id", "mode", "progress", "elapsed_s", "tokens", "cost_usd", "agents", "tasks",
    "blockers", "activity", "events", "running",
}  # fmt: skip


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Target:
    """Sends real broadcast messages straight into a state."""

    def __init__(self, state: PanelState) -> None:
        self.state = state

    async def broadcast(self, message: dict[str, Any]) -> None:
        self.state.apply(message)


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "state.db")
    yield database
    database.close()


async def test_a_run_of_events_becomes_the_snapshot() -> None:
    clock = FakeClock()
    state = PanelState(7, mode="offline", clock=clock)
    t = Target(state)
    await wb.broadcast_agent_created(t, 7, "backend-1", "backend")
    await wb.broadcast_task_assigned(t, 7, 3, "backend-1", task_title="Add multiply")
    await wb.broadcast_agent_status(t, 7, "backend-1", "busy", 3, "Add multiply")
    await wb.broadcast_task_status(t, 7, 3, "in_progress", agent_id="backend-1")
    clock.now += 1.5
    await wb.broadcast_test_result(t, 7, 3, "failed", passed=1, failed=1)
    await wb.broadcast_correction_attempt(t, 7, 3, 1, 3, "in_progress")
    mid = state.snapshot()
    assert mid["tasks"][3]["status"] == "in_progress"
    assert mid["tasks"][3]["attempts"] == 0  # an attempt counts once its result is known
    assert mid["agents"]["backend-1"]["task_id"] == 3
    await wb.broadcast_correction_attempt(t, 7, 3, 1, 3, "success")
    await wb.broadcast_test_result(t, 7, 3, "passed", passed=2)
    await wb.broadcast_task_status(t, 7, 3, "completed", "backend-1", actual_tokens=400)
    await wb.broadcast_agent_status(t, 7, "backend-1", "idle")
    await wb.broadcast_progress_update(t, 7, 1, 2)
    clock.now += 1.0
    await wb.broadcast_agent_retired(t, 7, "backend-1", tasks_completed=1)

    snap = state.snapshot()
    assert set(snap) == SNAPSHOT_KEYS
    assert snap["project_id"] == 7
    assert snap["mode"] == "offline"
    assert snap["tasks"][3] == {
        "title": "Add multiply", "status": "completed", "agent": "backend-1",
        "last_test_status": "passed", "attempts": 1,
    }  # fmt: skip
    assert snap["agents"]["backend-1"] == {
        "type": "backend", "status": "retired", "task_id": None, "task_title": None,
        "tasks_completed": 1,
    }  # fmt: skip
    assert snap["tokens"] == 400
    # Task 3 is the only one the panel has seen, but the lead said the run has two.
    assert snap["progress"]["done"] == 1
    assert snap["progress"]["total"] == 2
    assert snap["progress"]["by_status"]["completed"] == 1
    assert set(snap["progress"]["by_status"]) == {s.value for s in TaskStatus}
    assert snap["elapsed_s"] == pytest.approx(2.5)
    assert snap["events"] == 12
    assert snap["running"] is False
    assert any("task #3 tests failed: 1 passed, 1 failed" in line for line in snap["activity"])
    assert snap["activity"][-1].endswith("backend-1 retired after 1 task(s)")
    json.dumps(snap)


async def test_blockers_retries_and_unblocking() -> None:
    state = PanelState(1, clock=FakeClock())
    t = Target(state)
    await wb.broadcast_blocker_created(t, 1, 11, 5, "sync", "tests still failing", "what now?")
    await wb.broadcast_task_blocked(t, 1, 5, [], task_title="Parser")
    await wb.broadcast_task_status(t, 1, 5, "blocked")
    await wb.broadcast_blocker_created(t, 1, 12, 6, "async", "upstream #5 blocked", "resolve #5")
    snap = state.snapshot()
    assert snap["blockers"] == [
        {"task_id": 5, "reason": "tests still failing", "question": "what now?"},
        {"task_id": 6, "reason": "upstream #5 blocked", "question": "resolve #5"},
    ]
    assert snap["tasks"][5]["title"] == "Parser"
    assert snap["tasks"][6]["title"] == "Task #6"  # no title seen yet
    assert snap["progress"]["done"] == 1

    await wb.broadcast_task_unblocked(t, 1, 5, task_title="Parser")
    await wb.broadcast_task_status(t, 1, 7, "failed", actual_tokens=None)
    await wb.broadcast_activity_update(t, 1, "task_retry", "retrying task #7", task_id=7)
    # A placeholder title gives way to the real one; the broadcast default does not.
    await wb.broadcast_agent_status(t, 1, "test-2", "busy", 6)
    await wb.broadcast_task_assigned(t, 1, 6, "test-2", task_title="Use the parser")
    snap = state.snapshot()
    assert [b["task_id"] for b in snap["blockers"]] == [6]
    assert snap["tasks"][7]["status"] == "pending"  # the lead reset it without a status event
    assert snap["tasks"][6]["title"] == "Use the parser"
    assert snap["tasks"][6]["status"] == "assigned"
    assert snap["agents"]["test-2"]["type"] == "test"  # from the id, no agent_created seen


async def test_activity_keeps_the_last_lines_newest_last() -> None:
    state = PanelState(1, clock=FakeClock())
    t = Target(state)
    for n in range(ACTIVITY_LINES + 50):
        await wb.broadcast_activity_update(t, 1, "note", f"line {n}\nwith a second line")
    activity = state.snapshot()["activity"]
    assert len(activity) == ACTIVITY_LINES
    assert activity[0].endswith("line 50 with a second line")
    assert activity[-1].endswith(f"line {ACTIVITY_LINES + 49} with a second line")


def test_events_of_another_project_are_not_folded() -> None:
    state = PanelState(clock=FakeClock())
    assert state.apply(
        {"type": "task_status_changed", "project_id": 4, "task_id": 1, "status": "in_progress"}
    )
    assert not state.apply(
        {"type": "task_status_changed", "project_id": 5, "task_id": 2, "status": "in_progress"}
    )
    snap = state.snapshot()
    assert snap["project_id"] == 4  # taken from the first event
    assert list(snap["tasks"]) == [1]
    assert snap["events"] == 1


def test_elapsed_follows_the_run() -> None:
    clock = FakeClock(50.0)
    state = PanelState(1, clock=clock)
    assert state.snapshot()["elapsed_s"] == 0.0
    state.mark_started()
    clock.now = 53.0
    assert state.snapshot()["elapsed_s"] == pytest.approx(3.0)
    assert state.snapshot()["running"] is True
    state.mark_finished()
    clock.now = 90.0
    assert state.snapshot()["elapsed_s"] == pytest.approx(3.0)  # frozen once the run ended
    assert state.snapshot()["running"] is False


def test_mode_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert PanelState().snapshot()["mode"] == "offline"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-key")
    assert PanelState().snapshot()["mode"] == "live"
    assert PanelState(mode="offline").snapshot()["mode"] == "offline"
    with pytest.raises(ValueError, match="mode"):
        PanelState(mode="remote")  # type: ignore[arg-type]


def test_refresh_makes_the_snapshot_equal_the_database(db: Database) -> None:
    project_id = db.create_project("p")
    done, blocked, waiting = db.create_tasks(project_id, [
        {"title": "Done <b>well</b>", "task_number": "1"},
        {"title": "Stuck", "task_number": "2"},
        {"title": "Waiting", "task_number": "3", "depends_on": ["2"]},
    ])  # fmt: skip
    db.update_task(done, {"status": "completed", "assigned_to": "backend-1"})
    db.add_task_tokens(done, 250)
    db.create_test_result(done, "passed", passed=3)
    first = db.create_test_result(blocked, "failed", failed=1)
    db.create_correction_attempt(blocked, 1, "failing", "tried", test_result_id=first)
    db.create_correction_attempt(blocked, 2, "failing", "tried again", test_result_id=first)
    db.update_task(blocked, {"status": "blocked"})
    db.add_task_tokens(blocked, 90)
    db.create_blocker(blocked, "sync", "tests still failing", "help?")
    resolved = db.create_blocker(waiting, "async", "old", "old?")
    db.resolve_blocker(resolved, "fixed")

    state = PanelState(project_id, clock=FakeClock())
    # Stale event knowledge is replaced by the rows.
    state.apply(
        {
            "type": "task_status_changed",
            "project_id": project_id,
            "task_id": done,
            "status": "in_progress",
        }
    )
    state.refresh(db)
    snap = state.snapshot()
    rows = {t["id"]: t for t in db.get_project_tasks(project_id)}
    assert {i: t["status"] for i, t in snap["tasks"].items()} == {
        i: t["status"] for i, t in rows.items()
    }
    assert snap["tasks"][done] == {
        "title": "Done <b>well</b>", "status": "completed", "agent": "backend-1",
        "last_test_status": "passed", "attempts": 0,
    }  # fmt: skip
    assert snap["tasks"][blocked]["attempts"] == 2
    assert snap["tasks"][blocked]["last_test_status"] == "failed"
    assert snap["tasks"][waiting]["status"] == "pending"  # resolve_blocker returned it
    assert snap["tokens"] == 340
    assert snap["progress"] == {
        "done": 2, "total": 3,
        "by_status": {**{s.value: 0 for s in TaskStatus}, "completed": 1, "blocked": 1,
                      "pending": 1},
    }  # fmt: skip
    assert snap["blockers"] == [
        {"task_id": blocked, "reason": "tests still failing", "question": "help?"}
    ]


def test_refresh_without_a_project_reads_nothing(db: Database) -> None:
    db.create_task(db.create_project("p"), "Something")
    state = PanelState(clock=FakeClock())
    state.refresh(db)
    assert state.snapshot()["tasks"] == {}
