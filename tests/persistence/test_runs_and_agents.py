"""Lead-agent runs (one live run per project) and the agent / assignment history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeframe.errors import CodeframeError, InvalidInputError, NotFoundError
from codeframe.persistence.database import Database


def _dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def _insert_open_run(db: Database, project_id: int, pid: int) -> int:
    assert db.conn is not None
    cur = db.conn.execute("INSERT INTO runs (project_id, pid) VALUES (?, ?)", (project_id, pid))
    db.conn.commit()
    return int(cur.lastrowid or 0)


def test_one_live_run_per_project(db: Database, project_id: int) -> None:
    run_id = db.start_run(project_id)
    with pytest.raises(
        CodeframeError, match=f"a run is already in progress for project {project_id}"
    ):
        db.start_run(project_id)
    other = db.create_project("other")
    assert db.start_run(other) != run_id  # projects do not block each other
    db.heartbeat_run(run_id)
    db.finish_run(run_id, {"total_tasks": 3, "completed": 3, "execution_time": 1.5})
    second = db.start_run(project_id)
    runs = db.get_runs(project_id)
    assert [r["id"] for r in runs] == [run_id, second]
    assert runs[0]["summary"] == {"total_tasks": 3, "completed": 3, "execution_time": 1.5}
    assert runs[0]["ended_at"] is not None and runs[0]["pid"] == os.getpid()
    assert runs[1]["ended_at"] is None and runs[1]["summary"] is None


def test_run_of_a_dead_process_is_taken_over(db: Database, project_id: int) -> None:
    stale = _insert_open_run(db, project_id, _dead_pid())
    run_id = db.start_run(project_id)
    old, new = db.get_runs(project_id)
    assert (old["id"], new["id"]) == (stale, run_id)
    assert old["ended_at"] is not None and "no longer runs" in old["note"]


def test_stale_run_of_this_process_is_taken_over(db: Database, project_id: int) -> None:
    # Our pid but not open here: a run that crashed earlier in this same kernel.
    stale = _insert_open_run(db, project_id, os.getpid())
    db.start_run(project_id)
    assert db.get_runs(project_id)[0]["id"] == stale
    assert db.get_runs(project_id)[0]["ended_at"] is not None


def test_run_of_another_live_process_is_respected(db: Database, project_id: int) -> None:
    _insert_open_run(db, project_id, os.getppid())
    with pytest.raises(CodeframeError, match="already in progress"):
        db.start_run(project_id)


def test_claim_is_visible_to_another_connection(db_path: Path) -> None:
    with Database(db_path) as first:
        project_id = first.create_project("p")
        run_id = first.start_run(project_id)
        with Database(db_path) as second:
            with pytest.raises(CodeframeError, match="already in progress"):
                second.start_run(project_id)
            first.finish_run(run_id, {})
            assert second.start_run(project_id) > run_id


def test_closing_releases_the_runs_it_opened(db_path: Path) -> None:
    with Database(db_path) as db:
        project_id = db.create_project("p")
        db.start_run(project_id)
    with Database(db_path) as db:
        db.start_run(project_id)  # the closed database's run counts as crashed
        assert len(db.get_runs(project_id)) == 2


def test_run_errors(db: Database, project_id: int) -> None:
    with pytest.raises(NotFoundError, match="project"):
        db.start_run(9999)
    with pytest.raises(NotFoundError, match="run"):
        db.heartbeat_run(9999)
    with pytest.raises(NotFoundError, match="run"):
        db.finish_run(9999, {})
    assert db.get_runs(project_id) == []


def test_agents_and_assignments(db: Database, project_id: int) -> None:
    run_id = db.start_run(project_id)
    task_id = db.create_task(project_id, "t")
    row = db.record_agent(project_id, "backend-1", "backend", run_id=run_id)
    db.record_agent(project_id, "test-2", "test")
    assert (
        db.update_agent(project_id, "backend-1", {"status": "busy", "current_task_id": task_id})
        == 1
    )
    agent = db.get_agents(project_id, run_id=run_id)[0]
    assert (agent["id"], agent["status"], agent["current_task_id"]) == (row, "busy", task_id)
    db.update_agent(project_id, "backend-1", status="idle", current_task_id=None, tasks_completed=1)
    db.update_agent(project_id, "backend-1", run_id=run_id, status="retired")
    agent = db.get_agents(project_id)[0]
    assert agent["status"] == "retired" and agent["tasks_completed"] == 1
    assert agent["retired_at"] is not None and agent["current_task_id"] is None
    assert [a["agent_id"] for a in db.get_agents(project_id)] == ["backend-1", "test-2"]

    first = db.record_assignment(task_id, "backend-1", run_id)
    second = db.record_assignment(task_id, "backend-3")
    history = db.get_task_assignments(task_id)
    assert [(h["id"], h["agent_id"], h["run_id"]) for h in history] == [
        (first, "backend-1", run_id),
        (second, "backend-3", None),
    ]


def test_agent_errors(db: Database, project_id: int) -> None:
    db.record_agent(project_id, "backend-1", "backend")
    with pytest.raises(NotFoundError, match="frontend-9"):
        db.update_agent(project_id, "frontend-9", status="busy")
    with pytest.raises(NotFoundError, match="frontend-9"):
        db.update_agent(project_id, "frontend-9")
    assert db.update_agent(project_id, "backend-1") == 0
    with pytest.raises(InvalidInputError, match="agent status"):
        db.update_agent(project_id, "backend-1", status="sleeping")
    with pytest.raises(InvalidInputError, match="agent status"):
        db.record_agent(project_id, "backend-2", "backend", status="sleeping")
    with pytest.raises(InvalidInputError, match="'name'"):
        db.update_agent(project_id, "backend-1", name="x")
    with pytest.raises(NotFoundError, match="task"):
        db.update_agent(project_id, "backend-1", current_task_id=9999)
    with pytest.raises(NotFoundError, match="project"):
        db.record_agent(9999, "backend-1", "backend")
    with pytest.raises(NotFoundError, match="task"):
        db.record_assignment(9999, "backend-1")


def test_assign_task_writes_status_count_and_history_at_once(db, project_id):
    task_id = db.create_task(project_id, "Assigned")
    run_id = db.start_run(project_id)
    assert db.assign_task(task_id, "backend-1", run_id=run_id) == 1
    assert db.assign_task(task_id, "backend-2", run_id=run_id) == 2
    task = db.get_task(task_id)
    assert (task["status"], task["assigned_to"], task["execution_count"]) == (
        "assigned",
        "backend-2",
        2,
    )
    assert [a["agent_id"] for a in db.get_task_assignments(task_id)] == ["backend-1", "backend-2"]
    with pytest.raises(NotFoundError):
        db.assign_task(9999, "backend-1")
    db.finish_run(run_id, {})


def test_llm_call_can_count_its_tokens_in_the_same_write(db, project_id):
    task_id = db.create_task(project_id, "Tokens")
    common = dict(
        task_id=task_id,
        agent_id="backend-1",
        attempt=0,
        model="m",
        request={"system": "s", "messages": []},
        reply_text="{}",
        stop_reason="tool_use",
        input_tokens=120,
        output_tokens=80,
        latency_s=0.1,
    )
    db.record_llm_call(**common)
    assert not db.get_task(task_id)["actual_tokens"]
    db.record_llm_call(**common, count_tokens=True)
    db.record_llm_call(**common, count_tokens=True)
    assert db.get_task(task_id)["actual_tokens"] == 400
