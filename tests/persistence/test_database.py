"""Database behaviour through its public methods, on a WAL file and on ``:memory:``."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codeframe.core.models import TaskStatus, TestCase
from codeframe.errors import (
    CodeframeError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
)
from codeframe.persistence.database import Database

# --- projects -------------------------------------------------------------------------------


def test_create_project_second_positional_is_description(db: Database) -> None:
    project_id = db.create_project("name", "the description", workspace_path=Path("/tmp/w"))
    project = db.get_project(project_id)
    assert project is not None
    assert project["description"] == "the description"
    assert project["status"] == "init"
    assert project["workspace_path"] == "/tmp/w"
    assert project["config"] is None
    assert project["created_at"].endswith("Z")


def test_project_config_round_trips_and_fields_are_checked(db: Database) -> None:
    project_id = db.create_project("p", config={"model": "m", "n": [1, 2]}, status="planning")
    project = db.get_project(project_id)
    assert project is not None
    assert project["config"] == {"model": "m", "n": [1, 2]}
    assert project["status"] == "planning"
    with pytest.raises(InvalidInputError, match="project status"):
        db.create_project("p", status="sleeping")
    with pytest.raises(InvalidInputError, match="colour"):
        db.create_project("p", colour="red")
    assert db.get_project(9999) is None


def test_list_projects_newest_first_with_progress(db: Database) -> None:
    first = db.create_project("first")
    second = db.create_project("second")
    ids = [db.create_task(second, f"t{i}") for i in range(3)]
    db.update_task(ids[0], {"status": "completed"})
    projects = db.list_projects()
    assert [p["id"] for p in projects] == [second, first]
    assert projects[0]["progress"] == {"completed_tasks": 1, "total_tasks": 3, "percentage": 33.3}
    assert projects[1]["progress"] == {"completed_tasks": 0, "total_tasks": 0, "percentage": 0.0}


def test_update_project(db: Database, project_id: int) -> None:
    assert db.update_project(project_id, {"status": "running", "config": {"a": 1}}) == 1
    project = db.get_project(project_id)
    assert project is not None
    assert (project["status"], project["config"]) == ("running", {"a": 1})
    assert db.update_project(9999, {"status": "paused"}) == 0
    with pytest.raises(InvalidInputError, match="column 'nope'"):
        db.update_project(project_id, {"nope": 1})
    with pytest.raises(InvalidInputError):
        db.update_project(project_id, {"status": "sleeping"})


# --- issues ---------------------------------------------------------------------------------


def test_create_issue_from_dict_or_keywords(db: Database, project_id: int) -> None:
    a = db.create_issue({"project_id": project_id, "issue_number": "1.0", "title": "First"})
    b = db.create_issue(project_id=project_id, issue_number=2, title="Second", priority=0)
    issue = db.get_issue(b)
    assert issue is not None
    assert (issue["issue_number"], issue["priority"], issue["status"]) == ("2", 0, "pending")
    assert [i["id"] for i in db.get_project_issues(project_id)] == [a, b]
    assert db.get_issue(9999) is None


def test_duplicate_issue_number_is_a_duplicate_error(db: Database, project_id: int) -> None:
    db.create_issue(project_id=project_id, issue_number="1.0", title="a")
    with pytest.raises(DuplicateError, match=r"1\.0") as info:
        db.create_issue(project_id=project_id, issue_number="1.0", title="b")
    assert isinstance(info.value, sqlite3.IntegrityError)
    assert isinstance(info.value, CodeframeError)
    other = db.create_project("other")
    assert db.create_issue(project_id=other, issue_number="1.0", title="same number elsewhere")


def test_issue_validation(db: Database, project_id: int) -> None:
    with pytest.raises(NotFoundError, match="project"):
        db.create_issue(project_id=9999, issue_number="1", title="x")
    with pytest.raises(InvalidInputError, match="priority"):
        db.create_issue(project_id=project_id, issue_number="1", title="x", priority=5)
    with pytest.raises(InvalidInputError, match="title"):
        db.create_issue(project_id=project_id, issue_number="1")
    with pytest.raises(InvalidInputError, match="owner"):
        db.create_issue(project_id=project_id, issue_number="1", title="x", owner="me")


# --- tasks ----------------------------------------------------------------------------------


def test_create_task_defaults(db: Database, project_id: int) -> None:
    task = db.get_task(db.create_task(project_id, "Build API"))
    assert task is not None
    assert task["title"] == "Build API"
    assert task["description"] == ""
    assert task["status"] == "pending"
    assert (task["priority"], task["workflow_step"]) == (2, 1)
    assert task["depends_on"] == [] and task["notes"] == []
    assert task["execution_count"] == 0
    assert task["actual_tokens"] is None and task["completed_at"] is None
    assert db.get_task(9999) is None


@pytest.mark.parametrize("given", [[1, 2], (1, 2), "[1, 2]", "1,2", " 1, 2 "])
def test_depends_on_round_trips_as_list(db: Database, project_id: int, given: object) -> None:
    task_id = db.create_task(project_id, "t", depends_on=given)  # type: ignore[arg-type]
    assert db.get_task(task_id)["depends_on"] == [1, 2]
    db.update_task(task_id, {"depends_on": []})
    assert db.get_task(task_id)["depends_on"] == []
    db.update_task(task_id, {"depends_on": given})
    assert db.get_task(task_id)["depends_on"] == [1, 2]
    assert db.conn is not None
    stored = db.conn.execute("SELECT depends_on FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert stored[0] == "[1, 2]"


def test_create_task_with_issue_and_flags(db: Database, project_id: int) -> None:
    issue_id = db.create_issue(project_id=project_id, issue_number="1.0", title="Issue")
    task_id = db.create_task_with_issue(
        project_id, issue_id, "1.1", "1.0", "Title", "Desc", "pending", 1, 3, True
    )
    task = db.get_task(task_id)
    assert task is not None
    assert (task["issue_id"], task["task_number"], task["parent_issue_number"]) == (
        issue_id,
        "1.1",
        "1.0",
    )
    assert task["can_parallelize"] is True and task["requires_mcp"] is False
    assert (task["priority"], task["workflow_step"]) == (1, 3)


@pytest.mark.parametrize("priority", [-1, 5, True, "2", 2.5, None])
def test_priority_outside_0_to_4_is_invalid(
    db: Database, project_id: int, priority: object
) -> None:
    with pytest.raises(InvalidInputError, match="priority"):
        db.create_task(project_id, "t", priority=priority)  # type: ignore[arg-type]
    task_id = db.create_task(project_id, "t")
    with pytest.raises(ValueError, match="priority"):
        db.update_task(task_id, {"priority": priority})


def test_task_validation_errors(db: Database, project_id: int) -> None:
    with pytest.raises(InvalidInputError, match="task status"):
        db.create_task(project_id, "t", status="done")
    with pytest.raises(InvalidInputError, match="title"):
        db.create_task(project_id, "  ")
    with pytest.raises(InvalidInputError, match="depends_on"):
        db.create_task(project_id, "t", depends_on="one, two")
    with pytest.raises(NotFoundError, match="project"):
        db.create_task(9999, "t")
    with pytest.raises(NotFoundError, match="issue"):
        db.create_task(project_id, "t", issue_id=9999)
    assert db.get_project_tasks(project_id) == []


def test_get_project_tasks_ordered_by_id_and_filtered(db: Database, project_id: int) -> None:
    ids = [db.create_task(project_id, f"t{i}", priority=4 - i) for i in range(4)]
    db.update_task(ids[1], {"status": TaskStatus.COMPLETED})
    db.update_task(ids[3], {"status": "failed"})
    other = db.create_project("other")
    db.create_task(other, "not mine")
    assert [t["id"] for t in db.get_project_tasks(project_id)] == ids
    assert [t["id"] for t in db.get_project_tasks(project_id, "completed")] == [ids[1]]
    both = db.get_project_tasks(project_id, ["failed", TaskStatus.PENDING])
    assert [t["id"] for t in both] == [ids[0], ids[2], ids[3]]
    with pytest.raises(InvalidInputError):
        db.get_project_tasks(project_id, "done")


def test_update_task(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    update = {"status": "in_progress", "assigned_to": "backend-1", "execution_count": 1}
    assert db.update_task(task_id, update) == 1
    task = db.get_task(task_id)
    assert task is not None
    assert (task["status"], task["assigned_to"], task["execution_count"]) == (
        "in_progress",
        "backend-1",
        1,
    )
    db.update_task(task_id, {"status": "completed", "output": "done", "can_parallelize": 1})
    task = db.get_task(task_id)
    assert task is not None
    assert task["completed_at"] is not None and task["output"] == "done"
    assert task["can_parallelize"] is True
    db.update_task(task_id, {"status": "pending", "error": None})
    assert db.get_task(task_id)["completed_at"] is None
    db.update_task(task_id, {"status": "in_progress"})
    assert db.get_task(task_id)["execution_count"] == 1  # counting is the caller's
    with pytest.raises(InvalidInputError, match="execution_count"):
        db.update_task(task_id, {"execution_count": -1})
    assert db.update_task(task_id, {}) == 0


def test_update_task_errors(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    with pytest.raises(NotFoundError, match="9999"):
        db.update_task(9999, {"status": "completed"})
    with pytest.raises(NotFoundError):
        db.update_task(9999, {})
    with pytest.raises(InvalidInputError, match="'colour'"):
        db.update_task(task_id, {"colour": "red"})
    with pytest.raises(InvalidInputError, match="'id'"):
        db.update_task(task_id, {"id": 5})
    with pytest.raises(InvalidInputError, match="task status"):
        db.update_task(task_id, {"status": "done"})
    with pytest.raises(NotFoundError, match="issue"):
        db.update_task(task_id, {"issue_id": 9999})
    assert db.get_task(task_id)["status"] == "pending"


def test_create_tasks_resolves_task_numbers(db: Database, project_id: int) -> None:
    existing = db.create_task(project_id, "setup", task_number="0")
    ids = db.create_tasks(
        project_id,
        [
            {"title": "a", "task_number": 1, "depends_on": ["0"]},
            {"title": "b", "task_number": 2, "depends_on": [1, 3]},  # 3 is a forward reference
            {"title": "c", "task_number": "3", "depends_on": "1"},
            {"title": "d", "depends_on": "[2, 3]", "priority": 0},
        ],
    )
    tasks = {t["id"]: t for t in db.get_project_tasks(project_id)}
    assert ids == sorted(ids) and len(ids) == 4
    assert tasks[ids[0]]["depends_on"] == [existing]
    assert tasks[ids[1]]["depends_on"] == [ids[0], ids[2]]
    assert tasks[ids[2]]["depends_on"] == [ids[0]]
    assert tasks[ids[3]]["depends_on"] == [ids[1], ids[2]]
    assert tasks[ids[3]]["priority"] == 0 and tasks[ids[3]]["task_number"] is None


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([{"title": "a", "task_number": 1}, {"title": "b", "depends_on": [7]}], "task_number '7'"),
        ([{"title": "a", "task_number": 1}, {"title": "b", "task_number": 1}], "twice"),
        ([{"title": "a"}, {"title": "b", "priority": 9}], "priority"),
        ([{"title": "a"}, {"title": "b", "colour": "red"}], "colour"),
        ([{"title": "a"}, {"description": "no title"}], "title"),
        ([{"title": "a", "depends_on": "[1,"}], "depends_on"),
    ],
)
def test_create_tasks_rejects_bad_batches_whole(
    db: Database, project_id: int, specs: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        db.create_tasks(project_id, specs)
    assert db.get_project_tasks(project_id) == []


def test_create_tasks_unknown_project_inserts_nothing(db: Database) -> None:
    with pytest.raises(NotFoundError, match="project"):
        db.create_tasks(9999, [{"title": "a"}])
    assert db.conn is not None
    assert db.conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0


def test_add_task_note_and_tokens(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    db.add_task_note(task_id, "first")
    db.add_task_note(task_id, "second")
    notes = db.get_task(task_id)["notes"]
    assert [n["text"] for n in notes] == ["first", "second"]
    assert all(n["at"].endswith("Z") for n in notes)
    assert db.add_task_tokens(task_id, 200) == 200
    assert db.add_task_tokens(task_id, 50) == 250
    assert db.get_task(task_id)["actual_tokens"] == 250
    with pytest.raises(NotFoundError):
        db.add_task_note(9999, "x")
    with pytest.raises(NotFoundError):
        db.add_task_tokens(9999, 1)
    with pytest.raises(InvalidInputError):
        db.add_task_tokens(task_id, -5)


def test_recover_interrupted(db: Database, project_id: int) -> None:
    ids = [db.create_task(project_id, f"t{i}") for i in range(4)]
    db.update_task(ids[0], {"status": "in_progress", "assigned_to": "backend-1"})
    db.update_task(ids[1], {"status": "assigned", "assigned_to": "test-2"})
    db.update_task(ids[2], {"status": "completed"})
    other = db.create_project("other")
    elsewhere = db.create_task(other, "elsewhere", status="in_progress")
    assert db.recover_interrupted(project_id) == [ids[0], ids[1]]
    tasks = db.get_project_tasks(project_id)
    assert [t["status"] for t in tasks] == ["pending", "pending", "completed", "pending"]
    assert tasks[0]["assigned_to"] is None
    assert "in_progress" in tasks[0]["notes"][0]["text"]
    assert "backend-1" in tasks[0]["notes"][0]["text"]
    assert "assigned" in tasks[1]["notes"][0]["text"]
    assert tasks[2]["notes"] == [] and tasks[3]["notes"] == []
    assert db.get_task(elsewhere)["status"] == "in_progress"
    assert db.recover_interrupted(project_id) == []
    with pytest.raises(NotFoundError):
        db.recover_interrupted(9999)


# --- test results -----------------------------------------------------------------------------


def test_test_results_with_cases(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    first = db.create_test_result(
        task_id,
        "failed",
        passed=1,
        failed=1,
        duration=0.5,
        output='{"looks": "like json"}',
        cases=[
            TestCase("tests/test_a.py::test_ok", "passed", duration=0.1),
            {"node_id": "tests/test_a.py::test_bad", "outcome": "failed", "message": "boom"},
        ],
    )
    second = db.create_test_result(
        task_id,
        "passed",
        passed=2,
        attempt=1,
        cases=[TestCase("tests/test_a.py::test_bad", "passed")],
    )
    results = db.get_test_results_by_task(task_id)
    assert [r["id"] for r in results] == [first, second]
    assert results[0]["output"] == '{"looks": "like json"}'
    assert (results[0]["attempt"], results[1]["attempt"]) == (0, 1)
    assert results[0]["duration"] == 0.5
    assert db.get_test_result(first)["status"] == "failed"
    assert db.get_test_result(9999) is None
    cases = db.get_test_cases(first)
    assert [(c["outcome"], c["message"]) for c in cases] == [("passed", ""), ("failed", "boom")]
    by_task = db.get_test_cases_by_task(task_id)
    assert [(c["attempt"], c["outcome"]) for c in by_task] == [
        (0, "passed"),
        (0, "failed"),
        (1, "passed"),
    ]
    assert all(c["task_id"] == task_id for c in by_task)


def test_test_result_validation(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    with pytest.raises(InvalidInputError, match="test status"):
        db.create_test_result(task_id, "flaky")
    with pytest.raises(InvalidInputError, match="outcome"):
        db.create_test_result(task_id, "passed", cases=[{"node_id": "x", "outcome": "xfail"}])
    with pytest.raises(InvalidInputError, match="attempt"):
        db.create_test_result(task_id, "passed", attempt=-1)
    with pytest.raises(InvalidInputError, match="CHECK"):  # the schema's own guard
        db.create_test_result(task_id, "passed", duration=-1.0)
    with pytest.raises(NotFoundError, match="task"):
        db.create_test_result(9999, "passed")
    assert db.get_test_results_by_task(task_id) == []


# --- correction attempts ------------------------------------------------------------------------


def test_correction_attempts_round_trip(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    run = db.create_test_result(task_id, "failed", failed=1)
    changes = [{"path": "a.py", "action": "modify", "content": "x = 1\n"}]
    one = db.create_correction_attempt(task_id, 1, "analysis", "fix", changes, run)
    two = db.create_correction_attempt(task_id, 2, "a2", "f2", "plain text, not JSON")
    three = db.create_correction_attempt(task_id, 3, "a3", "f3", {"files": ["a.py"]})
    empty = db.create_task(project_id, "untouched")
    attempts = db.get_correction_attempts_by_task(task_id)
    assert [a["id"] for a in attempts] == [one, two, three]
    assert attempts[0]["code_changes"] == changes
    assert attempts[0]["test_result_id"] == run
    assert attempts[1]["code_changes"] == "plain text, not JSON"
    assert attempts[2]["code_changes"] == {"files": ["a.py"]}
    assert "code_changes_format" not in attempts[0]
    latest = db.get_latest_correction_attempt(task_id)
    assert latest is not None and latest["id"] == three
    assert db.count_correction_attempts(task_id) == 3
    assert db.get_latest_correction_attempt(empty) is None
    assert db.count_correction_attempts(empty) == 0


@pytest.mark.parametrize("number", [0, 4, -1, "2"])
def test_attempt_number_outside_1_to_3_is_a_value_error(
    db: Database, project_id: int, number: object
) -> None:
    task_id = db.create_task(project_id, "t")
    with pytest.raises(ValueError, match="attempt_number") as info:
        db.create_correction_attempt(task_id, number, "a", "f")  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidInputError)


def test_correction_attempt_unknown_references(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    with pytest.raises(NotFoundError, match="task"):
        db.create_correction_attempt(9999, 1, "a", "f")
    with pytest.raises(NotFoundError, match="test result"):
        db.create_correction_attempt(task_id, 1, "a", "f", test_result_id=9999)
    with pytest.raises(InvalidInputError, match="code_changes"):
        db.create_correction_attempt(task_id, 1, "a", "f", code_changes=42)  # type: ignore[arg-type]


# --- blockers -----------------------------------------------------------------------------------


def test_blockers_listed_newest_first_and_by_task(db: Database, project_id: int) -> None:
    t1, t2 = db.create_task(project_id, "t1"), db.create_task(project_id, "t2")
    b1 = db.create_blocker(t1, "sync", "3 self-correction attempts failed", "What now?")
    b2 = db.create_blocker(t2, severity="async", reason="r", question="q")
    assert [b["id"] for b in db.get_blockers(project_id)] == [b2, b1]
    assert db.get_blockers_by_task(t1)[0]["question"] == "What now?"
    blocker = db.get_blocker(b2)
    assert blocker is not None and blocker["severity"] == "async"
    assert db.get_blocker(9999) is None
    with pytest.raises(InvalidInputError, match="severity"):
        db.create_blocker(t1, "urgent")
    with pytest.raises(NotFoundError, match="task"):
        db.create_blocker(9999)


def test_resolve_blocker_returns_task_to_pending(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    db.update_task(task_id, {"status": "blocked"})
    blocker_id = db.create_blocker(task_id, "sync", "stuck", "Which database?")
    assert db.resolve_blocker(blocker_id, "Use SQLite") is True
    task = db.get_task(task_id)
    assert task is not None and task["status"] == "pending"
    assert "Use SQLite" in task["notes"][-1]["text"]
    blocker = db.get_blockers_by_task(task_id)[0]
    assert blocker["resolution"] == "Use SQLite" and blocker["resolved_at"] is not None
    assert db.get_blockers(project_id) == []
    assert [b["id"] for b in db.get_blockers(project_id, include_resolved=True)] == [blocker_id]
    assert db.resolve_blocker(blocker_id, "again") is False
    assert db.get_blocker(blocker_id)["resolution"] == "Use SQLite"
    with pytest.raises(NotFoundError, match="blocker"):
        db.resolve_blocker(9999, "x")


def test_task_stays_blocked_while_another_blocker_is_open(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t", status="blocked")
    first = db.create_blocker(task_id, reason="one")
    second = db.create_blocker(task_id, reason="two")
    db.resolve_blocker(first, "ok")
    assert db.get_task(task_id)["status"] == "blocked"
    db.resolve_blocker(second, "ok too")
    assert db.get_task(task_id)["status"] == "pending"


# --- LLM calls ----------------------------------------------------------------------------------


def _call(db: Database, task_id: int | None, **overrides: object) -> int:
    fields: dict[str, object] = {
        "task_id": task_id,
        "agent_id": "backend-1",
        "attempt": 0,
        "model": "claude-sonnet-4-20250514",
        "request": {"system": "You write code.", "messages": [{"role": "user", "content": "hi"}]},
        "reply_text": '{"files": [], "explanation": "ok"}',
        "stop_reason": "end_turn",
        "input_tokens": 120,
        "output_tokens": 80,
        "latency_s": 0.25,
    }
    fields.update(overrides)
    return db.record_llm_call(**fields)  # type: ignore[arg-type]


def test_llm_calls_recorded_and_filtered(db: Database, project_id: int) -> None:
    t1, t2 = db.create_task(project_id, "t1"), db.create_task(project_id, "t2")
    other_task = db.create_task(db.create_project("other"), "x")
    c1 = _call(db, t1)
    c2 = _call(db, t1, attempt=2, error="APIStatusError: overloaded", reply_text=None)
    c3 = _call(db, t2)
    _call(db, other_task)
    calls = db.get_llm_calls(task_id=t1)
    assert [c["id"] for c in calls] == [c1, c2]
    assert calls[0]["request"]["system"] == "You write code."
    assert calls[1]["attempt"] == 2 and calls[1]["error"].startswith("APIStatusError")
    assert [c["id"] for c in db.get_llm_calls(project_id=project_id)] == [c1, c2, c3]
    assert len(db.get_llm_calls()) == 4
    assert db.get_llm_calls(task_id=t2, project_id=project_id)[0]["id"] == c3
    with pytest.raises(NotFoundError, match="task"):
        _call(db, 9999)


def test_llm_call_never_stores_headers_or_keys(
    db: Database, project_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-ant-test-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    task_id = db.create_task(project_id, "t")
    request = {
        "system": "s",
        "messages": [{"role": "user", "content": f"my key is {secret}"}],
        "max_tokens": 4096,
        "extra_headers": {"x-api-key": secret},
        "api_key": secret,
    }
    call_id = _call(db, task_id, request=request)
    assert db.conn is not None
    stored = db.conn.execute("SELECT request FROM llm_calls WHERE id = ?", (call_id,)).fetchone()
    assert secret not in stored[0]
    decoded = db.get_llm_calls(task_id=task_id)[0]["request"]
    assert set(decoded) == {"system", "messages", "max_tokens"}
    assert "<redacted>" in decoded["messages"][0]["content"]


def test_llm_call_redacts_keys_in_reply_error_and_explicit_secrets(
    db: Database, project_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env, in_code = "sk-ant-env-0123456789abcdef", "sk-ant-code-fedcba9876543210"
    monkeypatch.setenv("ANTHROPIC_API_KEY", from_env)
    task_id = db.create_task(project_id, "t")
    call_id = _call(
        db,
        task_id,
        request={"system": "s", "messages": [{"role": "user", "content": f"use {in_code}"}]},
        reply_text=f"the key is {from_env}",
        error=f"rejected {in_code}",
        secrets=(in_code,),
    )
    assert db.conn is not None
    row = db.conn.execute("SELECT * FROM llm_calls WHERE id = ?", (call_id,)).fetchone()
    stored = " ".join(str(value) for value in tuple(row))
    assert from_env not in stored and in_code not in stored
    assert stored.count("<redacted>") == 3


# --- threads ---------------------------------------------------------------------------------


def test_the_connection_belongs_to_the_thread_that_opened_it(db_path: Path) -> None:
    # The library takes no thread lock; only the thread-pool benchmark shares a database
    # across threads (benchmarks.thread_baseline.ThreadSharedDatabase).
    with Database(db_path) as db, ThreadPoolExecutor(max_workers=1) as pool:
        project_id = db.create_project("p")
        with pytest.raises(sqlite3.ProgrammingError, match="thread"):
            pool.submit(db.get_project, project_id).result()
        assert db.get_project(project_id) is not None


def test_a_task_names_its_worker_and_an_unknown_one_is_refused(db, project_id):
    from codeframe.errors import InvalidInputError

    task_id = db.create_task(project_id, "Style it", worker="frontend")
    assert db.get_task(task_id)["worker"] == "frontend"
    [batch] = db.create_tasks(project_id, [{"title": "Test it", "worker": "test-engineer"}])
    assert db.get_task(batch)["worker"] == "test"
    with pytest.raises(InvalidInputError, match="unknown worker type 'designer'"):
        db.create_task(project_id, "Draw it", worker="designer")
    with pytest.raises(InvalidInputError, match="unknown worker type"):
        db.create_tasks(project_id, [{"title": "Draw it", "worker": "designer"}])
    with pytest.raises(InvalidInputError, match="unknown worker type"):
        db.update_task(task_id, {"worker": "designer"})
    assert db.get_task(task_id)["worker"] == "frontend"
