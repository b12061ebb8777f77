"""The notebook's read models: exact keys, decoding, project filters, constant query counts."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from codeframe.core.models import TestCase
from codeframe.persistence.database import Database
from codeframe.persistence.read_models import (
    BlockerRow,
    CorrectionAttemptRow,
    LlmCallRow,
    OpenBlockerRow,
    PanelTaskRow,
    TaskRow,
    TestCaseRow,
    TestResultRow,
)

ROW_TYPES: dict[str, type] = {
    "task_rows": TaskRow,
    "test_result_rows": TestResultRow,
    "correction_attempt_rows": CorrectionAttemptRow,
    "blocker_rows": BlockerRow,
    "test_case_rows": TestCaseRow,
    "llm_call_rows": LlmCallRow,
}


def keys_of(row_type: type) -> list[str]:
    return list(row_type.__annotations__)


def rows_of(db: Database, method: str, project_id: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = getattr(db, method)(project_id)
    return rows


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement ``db``'s connection runs inside the block."""
    assert db.conn is not None
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        db.conn.set_trace_callback(None)


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    """Two projects; in the first a task that self-corrected, one blocked, one answered."""
    first = db.create_project("shop")
    other = db.create_project("other")
    fix, export, after = db.create_tasks(first, [
        {"title": "Fix ISBN check", "task_number": "1"},
        {"title": "Export CSV", "task_number": "2", "depends_on": ["1"]},
        {"title": "Export button", "task_number": "3", "depends_on": ["1", "2"]},
    ])  # fmt: skip
    lone = db.create_task(other, "Other project's task")
    failed_run = db.create_test_result(
        fix, "failed", passed=3, failed=1, errors=1, duration=0.5, output="1 failed",
        cases=[TestCase("tests/test_isbn.py::test_zero", "failed", "assert 10 == 0", 0.01)],
    )  # fmt: skip
    fixed_run = db.create_test_result(fix, "passed", passed=4, skipped=1, attempt=1)
    db.create_correction_attempt(
        fix, 1, "test_zero failed", "modulo 10",
        [{"path": "bookshelf/isbn.py", "action": "modify"}], test_result_id=fixed_run,
    )  # fmt: skip
    db.create_test_result(lone, "error", errors=1)
    db.update_task(fix, {"status": "completed", "assigned_to": "backend-1"})
    db.add_task_tokens(fix, 1350)
    db.update_task(export, {"status": "blocked", "error": "3 attempts"})
    open_blocker = db.create_blocker(export, "sync", "tests still failing", "Decimal prices?")
    answered = db.create_blocker(after, "async", "depends on #2", "resolve #2")
    db.resolve_blocker(answered, "run it after the export")
    lone_blocker = db.create_blocker(lone, "sync", "elsewhere", "not this project's")
    db.record_llm_call(
        task_id=fix, agent_id="backend-1", attempt=1, model="claude-x", request={},
        reply_text="{}", stop_reason="tool_use", input_tokens=900, output_tokens=450,
        latency_s=0.25,
    )  # fmt: skip
    db.record_llm_call(
        task_id=None, agent_id=None, attempt=0, model="claude-x", request={}, reply_text=None,
        stop_reason=None, input_tokens=0, output_tokens=0, latency_s=0.0, error="boom",
    )  # fmt: skip
    return {
        "first": first, "other": other, "fix": fix, "export": export, "after": after,
        "lone": lone, "failed_run": failed_run, "fixed_run": fixed_run,
        "open_blocker": open_blocker, "answered": answered, "lone_blocker": lone_blocker,
    }  # fmt: skip


# --- shape ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ROW_TYPES)
def test_each_row_has_exactly_the_keys_of_its_type_in_order(
    db: Database, shop: dict[str, int], method: str
) -> None:
    rows = rows_of(db, method)
    assert rows
    for row in rows:
        assert type(row) is dict
        assert list(row) == keys_of(ROW_TYPES[method])


@pytest.mark.parametrize("method", ROW_TYPES)
def test_an_empty_file_a_project_without_tasks_and_an_unknown_project_read_as_no_rows(
    db: Database, method: str
) -> None:
    assert rows_of(db, method) == []
    bare = db.create_project("bare")
    assert rows_of(db, method, bare) == []
    assert rows_of(db, method, bare + 1) == []
    assert rows_of(db, method) == []


@pytest.mark.parametrize("method", ROW_TYPES)
def test_rows_are_in_id_order_and_none_means_every_project(
    db: Database, shop: dict[str, int], method: str
) -> None:
    everything = rows_of(db, method)
    first, other = rows_of(db, method, shop["first"]), rows_of(db, method, shop["other"])
    id_key = keys_of(ROW_TYPES[method])[0]
    for rows in (everything, first, other):
        ids = [row[id_key] for row in rows]
        assert ids == sorted(ids)
    # Every row belongs to one project, except a call made outside any task.
    outside = [row for row in everything if row.get("task_id", 0) is None]
    assert len(first) + len(other) + len(outside) == len(everything)


# --- content ----------------------------------------------------------------------------------


def test_task_rows_count_attempts_take_the_newest_run_and_decode_dependencies(
    db: Database, shop: dict[str, int]
) -> None:
    fix, export, after = db.task_rows(shop["first"])
    assert fix == {
        "task_id": shop["fix"], "title": "Fix ISBN check", "status": "completed",
        "assigned_to": "backend-1", "depends_on": [], "priority": 2, "workflow_step": 1,
        "attempts": 1, "last_test_status": "passed", "actual_tokens": 1350, "cost_usd": 0.0,
        "budget_usd": None, "worker": None, "error": None,
        "created_at": fix["created_at"], "completed_at": fix["completed_at"],
    }  # fmt: skip
    assert fix["created_at"].endswith("Z") and fix["completed_at"] is not None
    assert export["depends_on"] == [shop["fix"]]
    assert after["depends_on"] == [shop["fix"], shop["export"]]
    assert (export["attempts"], export["last_test_status"], export["actual_tokens"]) == (
        0, None, None,
    )  # fmt: skip
    assert export["error"] == "3 attempts" and export["completed_at"] is None


def test_test_result_rows_carry_the_task_title_and_the_total(
    db: Database, shop: dict[str, int]
) -> None:
    failed, fixed = db.test_result_rows(shop["first"])
    assert failed["test_result_id"] == shop["failed_run"]
    assert (failed["task_title"], failed["attempt"], failed["status"]) == (
        "Fix ISBN check", 0, "failed",
    )  # fmt: skip
    assert (failed["total"], failed["duration_s"], failed["output"]) == (5, 0.5, "1 failed")
    assert (fixed["attempt"], fixed["total"], fixed["output"]) == (1, 5, None)


def test_correction_attempt_rows_name_the_run_after_the_fix(
    db: Database, shop: dict[str, int]
) -> None:
    (row,) = db.correction_attempt_rows(shop["first"])
    assert row["attempt_id"] > 0 and row["task_id"] == shop["fix"]
    assert (row["task_title"], row["attempt_number"]) == ("Fix ISBN check", 1)
    assert (row["error_analysis"], row["fix_description"]) == ("test_zero failed", "modulo 10")
    assert row["files"] == ["bookshelf/isbn.py"]
    assert (row["test_result_id"], row["test_status"]) == (shop["fixed_run"], "passed")


@pytest.mark.parametrize(
    ("code_changes", "files"),
    [
        ([{"path": "a.py", "content": "x"}, {"path": "b/c.py"}], ["a.py", "b/c.py"]),
        ({"files": [{"path": "a.py"}, "b.py"]}, ["a.py", "b.py"]),
        ({"path": "only.py", "action": "delete"}, ["only.py"]),
        (["a.py", 7, {"no": "path"}], ["a.py"]),
        ("changed isbn.py by hand", []),
        ("", []),
        (None, []),
    ],
)
def test_correction_files_are_read_from_each_stored_form(
    db: Database, project_id: int, code_changes: Any, files: list[str]
) -> None:
    task = db.create_task(project_id, "t")
    db.create_correction_attempt(task, 1, "why", "what", code_changes)
    (row,) = db.correction_attempt_rows(project_id)
    assert row["files"] == files
    assert (row["test_result_id"], row["test_status"]) == (None, None)


def test_correction_json_that_does_not_parse_lists_no_files_and_says_so(
    db: Database, project_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    task = db.create_task(project_id, "t")
    db.create_correction_attempt(task, 1, "why", "what", [{"path": "a.py"}])
    assert db.conn is not None
    db.conn.execute("UPDATE correction_attempts SET code_changes = '[{broken'")
    db.conn.commit()
    with caplog.at_level(logging.WARNING, logger="codeframe.persistence.read_models"):
        (row,) = db.correction_attempt_rows(project_id)
    assert row["files"] == []
    assert "does not parse" in caplog.text


def test_blocker_rows_keep_resolved_ones_with_their_resolution(
    db: Database, shop: dict[str, int]
) -> None:
    open_one, answered = db.blocker_rows(shop["first"])
    assert (open_one["blocker_id"], open_one["task_title"], open_one["severity"]) == (
        shop["open_blocker"], "Export CSV", "sync",
    )  # fmt: skip
    assert (open_one["reason"], open_one["question"]) == ("tests still failing", "Decimal prices?")
    assert open_one["resolution"] is None and open_one["resolved_at"] is None
    assert answered["resolution"] == "run it after the export"
    assert answered["resolved_at"] is not None and answered["resolved_at"].endswith("Z")


def test_test_case_rows_say_which_test_failed_on_which_attempt(
    db: Database, shop: dict[str, int]
) -> None:
    (case,) = db.test_case_rows(shop["first"])
    assert case == {
        "test_case_id": case["test_case_id"], "test_result_id": shop["failed_run"],
        "task_id": shop["fix"], "task_title": "Fix ISBN check", "attempt": 0,
        "node_id": "tests/test_isbn.py::test_zero", "outcome": "failed",
        "message": "assert 10 == 0", "duration_s": 0.01,
    }  # fmt: skip


def test_llm_calls_outside_any_task_appear_only_in_the_all_projects_view(
    db: Database, shop: dict[str, int]
) -> None:
    (call,) = db.llm_call_rows(shop["first"])
    assert (call["task_id"], call["task_title"], call["agent_id"], call["attempt"]) == (
        shop["fix"], "Fix ISBN check", "backend-1", 1,
    )  # fmt: skip
    assert (call["input_tokens"], call["output_tokens"], call["latency_s"]) == (900, 450, 0.25)
    taskless = db.llm_call_rows()[-1]
    assert (taskless["task_id"], taskless["task_title"], taskless["error"]) == (None, None, "boom")
    assert db.llm_call_rows(shop["other"]) == []


# --- the panel overview -----------------------------------------------------------------------


def test_panel_overview_holds_every_task_and_only_the_open_blockers_of_its_project(
    db: Database, shop: dict[str, int]
) -> None:
    overview = db.panel_overview(shop["first"])
    assert list(overview) == ["tasks", "blockers"]
    fix, export, after = overview["tasks"]
    assert fix == {
        "task_id": shop["fix"], "title": "Fix ISBN check", "status": "completed",
        "assigned_to": "backend-1", "actual_tokens": 1350, "cost_usd": 0.0, "attempts": 1,
        "last_test_status": "passed",
    }  # fmt: skip
    assert list(export) == keys_of(PanelTaskRow)
    assert (export["status"], export["attempts"], export["last_test_status"]) == (
        "blocked", 0, None,
    )  # fmt: skip
    # Resolving the only blocker returned the task to pending.
    assert after["status"] == "pending"
    assert overview["blockers"] == [
        {
            "blocker_id": shop["open_blocker"], "task_id": shop["export"],
            "blocker_type": "question", "reason": "tests still failing",
            "question": "Decimal prices?",
        }
    ]  # fmt: skip
    assert list(overview["blockers"][0]) == keys_of(OpenBlockerRow)


def test_panel_overview_of_a_project_without_tasks_or_unknown_is_empty(db: Database) -> None:
    bare = db.create_project("bare")
    assert db.panel_overview(bare) == {"tasks": [], "blockers": []}
    assert db.panel_overview(bare + 1) == {"tasks": [], "blockers": []}


def test_panel_overview_agrees_with_the_per_task_public_reads(
    db: Database, shop: dict[str, int]
) -> None:
    """The same answer the panel used to build from 2 + 2·N queries through public reads."""
    project_id = shop["first"]
    expected_tasks = []
    for task in db.get_project_tasks(project_id):
        runs = db.get_test_results_by_task(task["id"])
        expected_tasks.append({
            "task_id": task["id"], "title": task["title"], "status": task["status"],
            "assigned_to": task["assigned_to"], "actual_tokens": task["actual_tokens"],
            "cost_usd": task["cost_usd"],
            "attempts": db.count_correction_attempts(task["id"]),
            "last_test_status": runs[-1]["status"] if runs else None,
        })  # fmt: skip
    expected_blockers = [
        {"blocker_id": b["id"], "task_id": b["task_id"], "blocker_type": b["blocker_type"],
         "reason": b["reason"], "question": b["question"]}
        for b in sorted(db.get_blockers(project_id), key=lambda b: b["id"])
    ]  # fmt: skip
    assert db.panel_overview(project_id) == {
        "tasks": expected_tasks,
        "blockers": expected_blockers,
    }


def _project_of(db: Database, size: int) -> int:
    """A project of ``size`` tasks, each with two runs, a correction and a blocker."""
    project_id = db.create_project(f"{size} tasks")
    for task_id in db.create_tasks(project_id, [{"title": f"t{i}"} for i in range(size)]):
        db.create_test_result(task_id, "failed", failed=1)
        after = db.create_test_result(task_id, "passed", passed=1, attempt=1)
        db.create_correction_attempt(task_id, 1, "why", "what", "", test_result_id=after)
        db.create_blocker(task_id, "async", "r", "q")
    return project_id


def test_panel_overview_runs_the_same_two_selects_for_1_and_for_200_tasks(
    db: Database,
) -> None:
    small, large = _project_of(db, 1), _project_of(db, 200)
    with statements(db) as for_one:
        one = db.panel_overview(small)
    with statements(db) as for_many:
        many = db.panel_overview(large)
    assert (len(one["tasks"]), len(one["blockers"])) == (1, 1)
    assert (len(many["tasks"]), len(many["blockers"])) == (200, 200)
    assert {t["last_test_status"] for t in many["tasks"]} == {"passed"}
    assert {t["attempts"] for t in many["tasks"]} == {1}
    assert len(for_one) == len(for_many)
    selects = [sql for sql in for_many if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, for_many


@pytest.mark.parametrize("method", ROW_TYPES)
def test_each_frame_read_is_one_statement(db: Database, shop: dict[str, int], method: str) -> None:
    for project_id in (None, shop["first"]):
        with statements(db) as seen:
            rows_of(db, method, project_id)
        assert len(seen) == 1, seen


def test_panel_overview_reads_one_state_while_another_connection_writes(
    db_path: Path,
) -> None:
    """A blocker committed between the two reads shows up with its task's status, or not."""
    with Database(db_path) as reader, Database(db_path) as writer:
        project_id = reader.create_project("p")
        task_id = reader.create_task(project_id, "t")
        wrote: list[int] = []

        def write_between(sql: str) -> None:
            # Runs as the second read starts: the first has already seen the task pending.
            if "resolved_at IS NULL" in sql and not wrote:
                writer.update_task(task_id, {"status": "blocked"})
                wrote.append(writer.create_blocker(task_id, "sync", "stuck", "help?"))

        assert reader.conn is not None
        reader.conn.set_trace_callback(write_between)
        try:
            during = reader.panel_overview(project_id)
        finally:
            reader.conn.set_trace_callback(None)
        after = reader.panel_overview(project_id)
    assert wrote, "the writer never ran"
    assert [t["status"] for t in during["tasks"]] == ["pending"]
    assert during["blockers"] == []
    assert [t["status"] for t in after["tasks"]] == ["blocked"]
    assert [b["blocker_id"] for b in after["blockers"]] == wrote


def test_panel_overview_inside_a_callers_open_transaction_leaves_it_open(
    db: Database, project_id: int
) -> None:
    task_id = db.create_task(project_id, "t")
    assert db.conn is not None
    db.conn.execute("UPDATE tasks SET status = 'in_progress' WHERE id = ?", (task_id,))
    assert db.conn.in_transaction
    (task,) = db.panel_overview(project_id)["tasks"]
    assert task["status"] == "in_progress"  # the caller's own pending write is visible
    assert db.conn.in_transaction  # and still the caller's to commit or undo
    db.conn.rollback()
    assert [t["status"] for t in db.panel_overview(project_id)["tasks"]] == ["pending"]
    assert not db.conn.in_transaction


def test_panel_overview_ends_its_read_transaction_when_a_read_fails(
    db: Database, project_id: int
) -> None:
    db.create_task(project_id, "t")
    assert db.conn is not None
    db.conn.execute("ALTER TABLE blockers RENAME TO blockers_gone")  # the second read fails
    db.conn.commit()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.panel_overview(project_id)
    assert not db.conn.in_transaction
